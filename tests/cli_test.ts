/**
 * `./joyride` commands without a running system: a bad configuration is refused with the
 * field named, and status/stop/restart of an instance that is not running say so.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import type { Status } from "../servers/supervisor/supervisor.ts";
import { repoRoot, systemTest, TestInstance, uniqueInstance, until } from "./_system.ts";

const jr = new TestInstance(uniqueInstance("cli"));

Deno.test("cli: an unknown option or an extra argument is refused with exit status 2", async () => {
  for (
    const [args, says] of [
      [["status", "--bogus"], "status: unknown option --bogus"],
      [["start", "--detach", "--bogus"], "start: unknown option --bogus"],
      [["restart", "tcp", "nic"], "restart: unexpected argument nic"],
    ] as const
  ) {
    const r = await jr.cli([...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert(r.stderr.includes(says), r.stderr);
  }
});

Deno.test("cli: a bad configuration file names the field", async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify({ topology: { mtu: 70000 } }));
    const r = await jr.cli(["status", "--config", file]);
    assertEquals(r.code, 2, r.stderr);
    assert(r.stderr.includes(`Cannot load configuration ${file}: topology.mtu must be`), r.stderr);
    await Deno.writeTextFile(file, JSON.stringify({ tcp: { servics: {} } }));
    const u = await jr.cli(["start", "--detach", "--config", file]);
    assertEquals(u.code, 2);
    assert(u.stderr.includes("tcp.servics is not a known field"), u.stderr);
    const i = await jr.cli(["status", "--instance", "No Such"]);
    assert(i.code !== 0, "a bad instance name is refused");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("cli: status, stop and restart of an instance that is not running", async () => {
  const s = await jr.cli(["status", "--json"]);
  assertEquals(s.code, 3);
  assertEquals(JSON.parse(s.stdout), { instance: jr.name, running: false, servers: [] });
  const st = await jr.cli(["stop"]);
  assertEquals(st.code, 0);
  assert(st.stdout.includes("not running; nothing to remove"), st.stdout);
  const r = await jr.cli(["restart", "tcp"]);
  assertEquals(r.code, 1);
  assert(r.stderr.includes("not running"), r.stderr);
  assertEquals(await jr.leftovers(), []);
});

Deno.test("cli: run passes SIGTERM on to its program and exits with the program's status", async () => {
  // Through the launcher as a user runs it (./joyride → deno task → cli.ts → the program): a
  // `kill` of the launcher used to end only the npm package's node wrapper, and the program
  // kept running without its parent.
  const dir = await Deno.makeTempDir();
  const pidFile = `${dir}/pid`;
  let pid = 0;
  const alive = () => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("sleep");
    } catch {
      return false;
    }
  };
  const launcher = new Deno.Command(`${repoRoot}/joyride`, {
    args: ["run", "--instance", jr.name, "--", "sh", "-c", `echo $$ > ${pidFile}; exec sleep 60`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await until("the program runs", () => {
      try {
        return Deno.readTextFileSync(pidFile).trim() !== "";
      } catch {
        return false;
      }
    });
    pid = Number(Deno.readTextFileSync(pidFile).trim());
    assert(Number.isInteger(pid) && pid > 1, `pid ${pid}`);
    launcher.kill("SIGTERM");
    // The program is ended by the signal, not by its 60 s running out.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 10_000));
    const ended = await Promise.race([launcher.output(), late]);
    clearTimeout(timer);
    assert(ended !== "late", "the launcher was still running 10 s after SIGTERM");
    assertEquals(ended.code, 143, new TextDecoder().decode(ended.stderr));
    await until("the program is gone", () => !alive(), 5000);
  } finally {
    if (pid > 1 && alive()) Deno.kill(pid, "SIGKILL");
    try {
      launcher.kill("SIGKILL");
    } catch {
      // ended
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: run starts its program in the directory the user ran ./joyride in", async () => {
  // The launcher runs deno task from the repository: programs ran there, and `wget -r` under
  // `./joyride run` wrote its tree into the repository.
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const r = await new Deno.Command(`${repoRoot}/joyride`, {
      args: ["run", "--instance", jr.name, "--", "pwd"],
      cwd: dir,
      stdin: "null",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assertEquals(r.code, 0, err);
    assertEquals(new TextDecoder().decode(r.stdout).trim(), dir, err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

systemTest("cli: start in the foreground, SIGTERM stops everything cleanly", async () => {
  const fg = new TestInstance(uniqueInstance("fg"));
  await fg.cli(["stop"]);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repoRoot}/scripts/cli.ts`, "start", "--instance", fg.name],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await until("the foreground instance to run", async () => {
      const r = await fg.cli(["status", "--json"]);
      return r.code === 0 &&
        (JSON.parse(r.stdout) as Status).servers.every((s) => s.state === "running");
    });
    const p = await fg.peer(["ping", "-c", "1", "-W", "2", fg.config.topology.joyrideAddress]);
    assertEquals(p.code, 0, p.stdout);
    child.kill("SIGTERM");
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, text);
    assert(text.includes("stopped, everything removed"), text);
    assertEquals(await fg.leftovers(), []);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await fg.cli(["stop"]);
  }
});

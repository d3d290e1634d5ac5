/**
 * Two Joyride instances joined by DPDK memif (issue 9's Joyride↔Joyride, config.ts
 * `memifPair`): A is the memif server at 198.18.0.2, B the client at 198.18.0.1, no kernel
 * between them. Unmodified nc through the shim on both ends moves a seeded 2 MB file each way,
 * byte-exact; iperf3 runs on both ends for a second; B (the client) may start first; stopping
 * both leaves nothing (namespaces,
 * processes, runtime directories, shared memory, the memif socket).
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { memifPair } from "../servers/supervisor/config.ts";
import { type Run, run, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { seededBytes } from "./_apps.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sha256(b: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));
  return Array.from(h, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** `./joyride run --instance … -- CMD` as an argv (to start in the background), no fallback. */
function shimArgv(i: TestInstance, cmd: string[]): string[] {
  return [
    // refuse, not fall back to the kernel: an instance that is gone must not send the test's
    // traffic out of the root namespace
    "env",
    "JOYRIDE_POLICY=refuse",
    Deno.execPath(),
    "run",
    "-A",
    new URL("../scripts/cli.ts", import.meta.url).pathname,
    "run",
    "--instance",
    i.name,
    "--config",
    i.configFile!,
    "--",
    ...cmd,
  ];
}

/**
 * `to` listens with nc (through its shim) and writes what it receives to a file; `from` sends
 * `data` with nc -N (through its shim) to `addr`. Returns what arrived.
 */
async function transfer(
  from: TestInstance,
  to: TestInstance,
  addr: string,
  port: number,
  data: Uint8Array,
): Promise<Uint8Array> {
  const out = Deno.makeTempFileSync({ prefix: "jr-two-" });
  const listener = new Deno.Command("sh", {
    args: ["-c", 'exec "$@" > "$OUT"', "sh", ...shimArgv(to, ["nc", "-l", "-p", String(port)])],
    env: { OUT: out },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    let sent: Run | undefined;
    // The listener is ready once its socket is in the TCP/IP server; until then a connect is
    // refused (nc exits 1 with nothing sent), so try again.
    for (let attempt = 0; attempt < 40; attempt++) {
      sent = await run(shimArgv(from, ["nc", "-N", addr, String(port)]), {
        stdin: data,
        timeoutMs: 30_000,
      });
      if (sent.code === 0) break;
      await sleep(250);
    }
    assertEquals(sent?.code, 0, `nc ${from.name} → ${to.name}: ${sent?.stderr}`);
    const st = await Promise.race([listener.status, sleep(20_000).then(() => undefined)]);
    assert(st !== undefined, `nc -l in ${to.name} did not end after the sender closed`);
    return Deno.readFileSync(out);
  } finally {
    try {
      listener.kill("SIGKILL");
    } catch {
      // ended
    }
    await listener.output().catch(() => {});
    Deno.removeSync(out);
  }
}

systemTest(
  "two instances over memif: nc byte-exact both ways, iperf3 both ends, stop leaves nothing",
  async () => {
    const socket = `/run/joyride/memif-t${Deno.pid}.sock`;
    const [ca, cb] = memifPair("a", "b", socket);
    const a = new TestInstance(uniqueInstance("twoa"), ca);
    const b = new TestInstance(uniqueInstance("twob"), cb);
    try {
      // The client first: its NIC server waits for the memif server's socket (either order).
      const startingB = b.cli(["start", "--detach"]);
      const sa = await a.cli(["start", "--detach"]);
      const sb = await startingB;
      assertEquals(sa.code, 0, `start A: ${sa.stderr}`);
      assertEquals(sb.code, 0, `start B: ${sb.stderr}`);
      const st = await a.status();
      assertEquals(st.topology.link, "memif");
      assertEquals(st.topology.memif?.role, "server");
      // No kernel peer: `peer` says so.
      const p = await a.cli(["peer", "--", "true"]);
      assert(p.code !== 0 && p.stderr.includes("memif"), p.stderr);

      const data = seededBytes(2 << 20, 9);
      const ab = await transfer(a, b, "198.18.0.1", 5401, data);
      assertEquals(ab.length, data.length, "A → B length");
      assertEquals(await sha256(ab), await sha256(data), "A → B bytes");
      const back = seededBytes(2 << 20, 10);
      const ba = await transfer(b, a, "198.18.0.2", 5402, back);
      assertEquals(ba.length, back.length, "B → A length");
      assertEquals(await sha256(ba), await sha256(back), "B → A bytes");

      // iperf3 through the shim on both ends (server in A, client in B), one second.
      const srv = new Deno.Command(shimArgv(a, [])[0], {
        args: shimArgv(a, ["iperf3", "-s", "-1", "-p", "5403"]).slice(1),
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        let ip: Run | undefined;
        for (let attempt = 0; attempt < 40; attempt++) {
          ip = await run(
            shimArgv(b, ["iperf3", "-c", "198.18.0.2", "-p", "5403", "-t", "1", "-J"]),
            {
              timeoutMs: 30_000,
            },
          );
          // Refused until the server's listener is in the TCP/IP server (iperf3 -J may still
          // exit 0 then, with the error in its JSON): try again.
          if (!/unable to connect|Connection refused/.test(ip.stdout + ip.stderr)) break;
          await sleep(250);
        }
        assertEquals(ip?.code, 0, `iperf3: ${ip?.stdout.slice(-400)} ${ip?.stderr}`);
        const bits = JSON.parse(ip!.stdout).end?.sum_received?.bytes as number;
        assert(bits > 0, `iperf3 moved no bytes: ${ip!.stdout.slice(-600)}`);
      } finally {
        try {
          srv.kill("SIGKILL");
        } catch {
          // ended
        }
        await srv.status;
      }
    } finally {
      const xb = await b.cli(["stop"]);
      const xa = await a.cli(["stop"]);
      a.dispose();
      b.dispose();
      assertEquals(xb.code, 0, `stop B: ${xb.stderr}`);
      assertEquals(xa.code, 0, `stop A: ${xa.stderr}`);
    }
    assertEquals(await a.leftovers(), []);
    assertEquals(await b.leftovers(), []);
    let sock = true;
    try {
      Deno.statSync(socket);
    } catch {
      sock = false;
    }
    assert(!sock, `memif socket ${socket} left behind`);
  },
);

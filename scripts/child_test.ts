import { assertEquals } from "../servers/supervisor/_assert.ts";
import { runForeground } from "./child.ts";

Deno.test("child: SIGTERM to the launcher reaches the command; its status comes back", async () => {
  // A launcher of its own (not this process: test files share it under --parallel).
  const mod = new URL("./child.ts", import.meta.url).href;
  const launcher = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { runForeground } from "${mod}";
       Deno.exit(await runForeground(new Deno.Command("sh", {
         args: ["-c", "echo $$; exec sleep 30"],
       })));`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = launcher.stdout.getReader();
  const { value } = await reader.read(); // the command's pid: it runs, the listeners are set
  reader.releaseLock();
  const pid = Number(new TextDecoder().decode(value).trim());
  const alive = () => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("sleep");
    } catch {
      return false;
    }
  };
  try {
    launcher.kill("SIGTERM");
    const { code } = await launcher.status;
    assertEquals(code, 143);
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    assertEquals(alive(), false, `the command (pid ${pid}) outlived the launcher`);
  } finally {
    await launcher.stdout.cancel();
    if (pid > 1 && alive()) Deno.kill(pid, "SIGKILL");
  }
});

Deno.test("child: a command that cannot be started gives 127 or 126, as shells do", async () => {
  assertEquals(await runForeground(new Deno.Command("/nonexistent/joyride-test")), 127);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/x`, "#!/bin/sh\n"); // not executable
    assertEquals(await runForeground(new Deno.Command(`${dir}/x`)), 126);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(await runForeground(new Deno.Command("sh", { args: ["-c", "exit 3"] })), 3);
});

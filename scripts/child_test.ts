import { assertEquals } from "../servers/supervisor/_assert.ts";
import { runForeground } from "./child.ts";

Deno.test("child: SIGTERM to the launcher reaches the command; its status comes back", async () => {
  const run = runForeground(
    new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }),
  );
  await new Promise((r) => setTimeout(r, 300));
  // To this process: the listener passes it on instead of ending the test run.
  Deno.kill(Deno.pid, "SIGTERM");
  assertEquals(await run, 143);
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

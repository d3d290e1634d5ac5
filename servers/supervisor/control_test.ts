import { assert, assertRejects } from "./_assert.ts";
import { controlRequest, ControlTimeoutError, NotRunningError } from "./control.ts";

Deno.test("control: nothing listening is NotRunning; a supervisor that never answers times out", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "jr-control-" });
  const path = `${dir}/supervisor.sock`;
  try {
    await assertRejects(() => controlRequest(path, { op: "status" }), NotRunningError);
    const listener = Deno.listen({ transport: "unix", path });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const c of listener) held.push(c); // accepts, never answers
    })();
    const t0 = Date.now();
    const e = await assertRejects(
      () => controlRequest(path, { op: "stop" }, 300),
      ControlTimeoutError,
      'did not answer "stop"',
    );
    assert(Date.now() - t0 >= 290, e.message);
    listener.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

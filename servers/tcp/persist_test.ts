import assert from "node:assert/strict";
import { FakeContext } from "./engine/context.ts";
import { Stack } from "./engine/stack.ts";
import { Sockets } from "./engine/socket/sockets.ts";
import {
  AF_INET,
  IPPROTO_TCP,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  type SocketApi,
} from "./engine/socket/api.ts";
import { installStore } from "./engine/store/shm_store.ts";
import { EPROTONOSUPPORT } from "./engine/errno.ts";
import { Persistence } from "./persist.ts";
import type { FrameLink } from "./loop.ts";

const g = { records: 8, ringBytes: 4096 };

function engine(p: Persistence, ctx: FakeContext) {
  const stack = new Stack(ctx);
  stack.addInterface({
    kind: "ip",
    mtu: 1500,
    caps: { txChecksum: false, rxChecksum: false, tso: false },
    transmit: (f) => p.hold(f),
  }, { addrs: ["198.18.0.2/24"], defaultRoute: true });
  const api = new Sockets(stack);
  installStore(api.tcp, p.store);
  return { stack, api };
}

function listen(api: SocketApi, port: number): number {
  const fd = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP).value!;
  api.bind(fd, { family: AF_INET, addr: "198.18.0.2", port });
  assert.equal(api.listen(fd, 4).errno, undefined);
  return fd;
}

Deno.test("persist: a new incarnation finds its listeners under their old descriptors", () => {
  const path = Deno.makeTempFileSync({ prefix: "jr-persist-" });
  try {
    const ctx = new FakeContext(1, 5_000_000);
    const p1 = Persistence.open(path, g);
    assert.equal(p1.resumed, false);
    const e1 = engine(p1, ctx);
    const gap = listen(e1.api, 1000); // fd 3, closed below: a gap to keep
    const a = listen(e1.api, 7);
    const b = listen(e1.api, 9);
    const d = listen(e1.api, 2000); // nobody takes it back after the restart
    e1.api.close(gap);
    p1.store.commit(e1.api.tcp, ctx.now());
    p1.close();

    ctx.advance(1000);
    const p2 = Persistence.open(path, g);
    assert.equal(p2.resumed, true);
    assert.equal(p2.clockOrigin, 5_000_001);
    const e2 = engine(p2, ctx);
    const restored = p2.restore(e2.api);
    assert.deepEqual(
      restored.map((r) => [r.fd, r.conn.lport]).sort(),
      [[a, 7], [b, 9], [d, 2000]],
    );
    assert.deepEqual(e2.api.fds(), [a, b, d]);
    const adopted: [number, number, boolean][] = [];
    p2.adoptServices({
      adopt: (fd, port, l) => (adopted.push([fd, port, l]), port !== 2000),
    });
    assert.deepEqual(adopted.sort(), [[a, 7, true], [b, 9, true], [d, 2000, true]]);
    // What nobody claimed is closed; the rest stays.
    assert.equal(p2.reapUnclaimed(e2.api), 1);
    assert.deepEqual(e2.api.fds(), [a, b]);
    assert.equal(p2.counters().reaped, 1);
    // The port is taken again: a second bind fails, a fresh socket gets the gap's number.
    const c = e2.api.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP).value!;
    assert.equal(c, gap);
    assert.notEqual(
      e2.api.bind(c, { family: AF_INET, addr: "198.18.0.2", port: 7 }).errno,
      undefined,
    );
    // The restore's descriptor allocator is gone once the restore is done.
    assert.equal(e2.api.socket(AF_INET, SOCK_STREAM, 253).errno, EPROTONOSUPPORT);
    p2.close();
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("persist: held frames leave after the commit, at the link's flush", () => {
  const path = Deno.makeTempFileSync({ prefix: "jr-persist-" });
  try {
    const p = Persistence.open(path, g);
    const log: string[] = [];
    const inner: FrameLink = {
      receive: () => 0,
      flush: () => log.push("flush"),
      pending: false,
      wait: () => Promise.resolve(),
    };
    const link = p.wrap(inner, () => log.push("commit"), (f) => log.push(`tx ${f[0]}`));
    p.afterCommit(() => log.push("after"));
    const f = new Uint8Array([1, 2, 3]);
    p.hold(f);
    assert.deepEqual(log, []);
    link.flush();
    assert.deepEqual(log, ["commit", "after", "tx 1", "flush"]);
    assert.equal(p.counters().heldFrames, 1);
    // A quiet turn (nothing changed) skips the commit, unless a frame waits for one.
    log.length = 0;
    link.flush(true);
    assert.deepEqual(log, ["flush"]);
    p.hold(Uint8Array.of(2));
    link.flush(true);
    assert.deepEqual(log, ["flush", "commit", "after", "tx 2", "flush"]);
    p.close();
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("persist: one incarnation at a time holds the state file", async () => {
  const path = Deno.makeTempFileSync({ prefix: "jr-persist-" });
  try {
    const p1 = Persistence.open(path, g);
    // Another process trying to open it waits until the first lets go.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { Persistence } from "${new URL("./persist.ts", import.meta.url).href}";
         const p = Persistence.open(${JSON.stringify(path)}, ${JSON.stringify(g)});
         console.log(p.resumed); p.close();`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const early = await Promise.race([
      child.status.then(() => "exited"),
      new Promise((r) => setTimeout(() => r("waiting"), 1500)),
    ]);
    assert.equal(early, "waiting");
    p1.close();
    const out = await child.output();
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      "true",
      new TextDecoder().decode(out.stderr),
    );
  } finally {
    Deno.removeSync(path);
  }
});

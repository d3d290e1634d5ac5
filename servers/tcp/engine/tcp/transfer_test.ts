import assert from "node:assert/strict";
import fc from "fast-check";
import { TwoHosts, value } from "./_testpeer.ts";
import { AF_INET, F_SETFL, IPPROTO_TCP, O_NONBLOCK, SOCK_STREAM } from "../socket/api.ts";

/** Sends `total` bytes a→b over a link, returns what b read and the end states. */
function transfer(
  seed: number,
  total: number,
  link: ConstructorParameters<typeof TwoHosts>[1],
  cc = "newreno",
) {
  const net = new TwoHosts(seed, link);
  net.a.sysctl.set("net.inet.tcp.cc.algorithm", cc);
  const l = value(net.sb.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  value(net.sb.fcntl(l, F_SETFL, O_NONBLOCK));
  value(net.sb.bind(l, { family: AF_INET, addr: "198.18.0.2", port: 5001 }));
  value(net.sb.listen(l, 4));
  const c = value(net.sa.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  value(net.sa.fcntl(c, F_SETFL, O_NONBLOCK));
  assert.equal(net.sa.connect(c, { family: AF_INET, addr: "198.18.0.2", port: 5001 }).errno, 115);
  const src = new Uint8Array(total);
  for (let i = 0; i < total; i++) src[i] = (i * 7 + (i >> 8)) & 0xff;
  let sent = 0;
  let closedA = false;
  let srv = -1;
  const got: Uint8Array[] = [];
  let gotLen = 0;
  let eof = false;
  const ok = net.run(() => eof && closedA, () => {
    if (srv < 0) {
      const a = net.sb.accept(l);
      if (a.value) srv = a.value.fd;
    }
    if (sent < total) {
      const r = net.sa.send(c, src.subarray(sent, Math.min(total, sent + 16384)));
      if (r.value) sent += r.value;
    } else if (!closedA) {
      value(net.sa.close(c));
      closedA = true;
    }
    if (srv >= 0 && !eof) {
      for (;;) {
        const r = net.sb.recv(srv, 65536);
        if (r.errno !== undefined) break;
        if (r.value.data.length === 0) {
          eof = true;
          net.sb.close(srv);
          break;
        }
        got.push(r.value.data);
        gotLen += r.value.data.length;
      }
    }
  });
  const out = new Uint8Array(gotLen);
  let o = 0;
  for (const g of got) {
    out.set(g, o);
    o += g.length;
  }
  return { ok, src, out, net };
}

Deno.test("transfer: 256 KiB over a clean link arrives intact and both sides close", () => {
  const { ok, src, out, net } = transfer(1, 256 * 1024, { delayMs: 5 });
  assert.ok(ok, "transfer did not finish");
  assert.deepEqual(out, src);
  // Let TIME_WAIT expire: no connection state left behind.
  net.run(() => false, () => {}, 10000);
  assert.equal(net.sa.tcp.conns.size + net.sb.tcp.conns.size, 0);
});

Deno.test("transfer: stream delivered exactly once and in order under loss, reordering and duplication (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 0x7fffffff }),
      fc.double({ min: 0, max: 0.3, noNaN: true }),
      fc.double({ min: 0, max: 0.1, noNaN: true }),
      (seed, loss, dup) => {
        const { ok, src, out } = transfer(seed, 48 * 1024, {
          delayMs: 3,
          jitterMs: 4,
          loss,
          dup,
        });
        assert.ok(ok, `seed ${seed} loss ${loss}: did not finish`);
        assert.deepEqual(out, src);
      },
    ),
    { seed: 1234, numRuns: 25 },
  );
});

Deno.test("transfer: CUBIC sender recovers from loss with fast retransmit", () => {
  const { ok, src, out, net } = transfer(99, 128 * 1024, { delayMs: 10, loss: 0.02 }, "cubic");
  assert.ok(ok);
  assert.deepEqual(out, src);
  assert.ok(net.dropped > 0);
  assert.ok(
    net.a.counters.get("tcp.fastRetransmit") + net.a.counters.get("tcp.rexmt.timeout") > 0,
  );
});

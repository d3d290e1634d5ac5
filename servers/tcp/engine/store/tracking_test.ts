// The store's change tracking (Tcp.changed): a commit stores the connections the engine marked
// (plus a few swept), not the whole table. Checked against the full commit: after any seeded
// run of sends, reads, closes, options and time passing (timers) on a dozen connections, with
// the sweep off, a commit of the whole table finds nothing the marked commits missed. And a
// busy turn's commit beside many idle connections looks at a bounded number of them.
import assert from "node:assert/strict";
import fc from "fast-check";
import { FakeContext } from "../context.ts";
import { type LinkEndpoint, Stack } from "../stack.ts";
import { Sockets } from "../socket/sockets.ts";
import {
  AF_INET,
  SHUT_WR,
  SO_KEEPALIVE,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "../socket/api.ts";
import { ShmTcbStore, SWEEP_PER_COMMIT } from "./shm_store.ts";
import { Tcp } from "../tcp/tcp.ts";

/** Stacks a (client) and b (server, its TCP in a ShmTcbStore) joined by two frame queues. */
function net(conns: number) {
  const ctx = new FakeContext(11);
  const a = new Stack(ctx), b = new Stack(ctx);
  const g = { records: conns + 8, ringBytes: 1 << 16 };
  const store = ShmTcbStore.format(new Uint8Array(ShmTcbStore.bytes(g)), g);
  const tcp = new Tcp(b, store);
  const sa = new Sockets(a), sb = new Sockets(b);
  const qa: Uint8Array[] = [], qb: Uint8Array[] = [];
  const ep = (q: Uint8Array[], n: number): LinkEndpoint => ({
    kind: "ethernet",
    mtu: 1500,
    mac: new Uint8Array([2, 0, 0, 0, 0, n]),
    caps: { txChecksum: true, rxChecksum: true, tso: false },
    transmit: (f) => q.push(f.slice()),
  });
  const ai = a.addInterface(ep(qa, 1), { addrs: ["198.18.0.1/24"] });
  const bi = b.addInterface(ep(qb, 2), { addrs: ["198.18.0.2/24"] });
  const l = sb.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  sb.bind(l, { family: AF_INET, addr: "198.18.0.2", port: 9 });
  sb.listen(l, 1024);
  /** Delivers frames both ways until quiet, committing b's store after each round. */
  const pump = () => {
    for (let k = 0; k < 200 && (qa.length > 0 || qb.length > 0); k++) {
      while (qa.length > 0) b.receive(bi, qa.shift()!, true);
      while (qb.length > 0) a.receive(ai, qb.shift()!, true);
      store.commit(tcp, ctx.time);
    }
  };
  const cfd: number[] = [], sfd: number[] = [];
  for (let i = 0; i < conns; i++) {
    const c = sa.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
    sa.connect(c, { family: AF_INET, addr: "198.18.0.2", port: 9 });
    pump();
    cfd.push(c);
    sfd.push(sb.accept(l).value!.fd);
    store.commit(tcp, ctx.time);
  }
  /** Time passes: both stacks' timers run, b's store commits what they changed. */
  const tick = (us: number) => {
    ctx.time += us;
    a.poll(ctx.time);
    b.poll(ctx.time);
    store.commit(tcp, ctx.time);
    pump();
  };
  return { store, tcp, sa, sb, cfd, sfd, pump, tick, now: () => ctx.time };
}

type Op =
  | { t: "a2b" | "b2a"; i: number; n: number }
  | { t: "readA" | "readB" | "closeA" | "closeB" | "shutB" | "keepalive"; i: number }
  | { t: "time"; us: number };

const N = 12;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constantFrom("a2b", "b2a"),
      i: fc.nat(N - 1),
      n: fc.integer({ min: 1, max: 9000 }),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constantFrom("readA", "readB"),
      i: fc.nat(N - 1),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constantFrom("closeA", "closeB", "shutB", "keepalive"),
      i: fc.nat(N - 1),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("time"),
      us: fc.integer({ min: 1, max: 3_000_000 }),
    }) as fc.Arbitrary<Op>,
  },
);

Deno.test("store tracking: the marked connections alone hold every change a full commit finds", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
      const n = net(N);
      n.store.sweepPerCommit = 0; // the marks alone
      const buf = new Uint8Array(16384);
      for (const op of ops) {
        if (op.t === "a2b") n.sa.send(n.cfd[op.i], buf.subarray(0, op.n), 0);
        else if (op.t === "b2a") n.sb.send(n.sfd[op.i], buf.subarray(0, op.n), 0);
        else if (op.t === "readA") n.sa.recvInto(n.cfd[op.i], buf, 0);
        else if (op.t === "readB") n.sb.recvInto(n.sfd[op.i], buf, 0);
        else if (op.t === "closeA") n.sa.close(n.cfd[op.i]);
        else if (op.t === "closeB") n.sb.close(n.sfd[op.i]);
        else if (op.t === "shutB") n.sb.shutdown(n.sfd[op.i], SHUT_WR);
        else if (op.t === "keepalive") n.sb.setsockopt(n.sfd[op.i], SOL_SOCKET, SO_KEEPALIVE, 1);
        if (op.t === "time") n.tick(op.us);
        else {
          n.store.commit(n.tcp, n.now()); // the call's own changes
          n.pump();
        }
        // A commit of the whole table now must find nothing new.
        const marks = n.tcp.changed;
        n.tcp.changed = undefined;
        const before = n.store.counters.commits;
        n.store.commit(n.tcp, n.now());
        n.tcp.changed = marks;
        assert.equal(n.store.counters.commits, before, `after ${JSON.stringify(op)}`);
      }
    }),
    { seed: 0x5eed7, numRuns: 25 },
  );
});

Deno.test("store tracking: a busy commit beside 2,000 idle connections looks at a few of them", () => {
  const n = net(2000);
  n.tick(10);
  const seen = () => n.store.counters.commits + n.store.counters.unchanged;
  const s0 = seen();
  n.sa.send(n.cfd[7], new Uint8Array(100), 0);
  n.pump();
  // One round: the connection's segment and its ACK; each commit takes the listener, the marked
  // connection and at most SWEEP_PER_COMMIT swept ones.
  const perCommit = 1 + 1 + SWEEP_PER_COMMIT;
  assert.ok(seen() - s0 <= 4 * perCommit, `${seen() - s0} records looked at`);
  assert.equal(n.sb.recvInto(n.sfd[7], new Uint8Array(200), 0).value, 100);
});

/**
 * RACK-TLP in the simulator (net.inet.tcp.functions_default=rack; default off): the stream
 * still arrives exactly once under random impairments, and a lost tail is repaired by a
 * tail-loss probe long before the RTO would have fired.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Sim, type SimNode } from "./sim.ts";
import { cleanLink, type LinkParams } from "./link.ts";
import { Transfer } from "./transfer.ts";
import { installInvariants } from "./invariants.ts";

const RACK = { "net.inet.tcp.functions_default": "rack" };

function prob(max: number): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 1000 }).map((x) => (x / 1000) * max);
}

const impairments: fc.Arbitrary<LinkParams> = fc.noBias(fc.record({
  delayUs: fc.integer({ min: 50, max: 20_000 }),
  loss: prob(0.2),
  duplicate: prob(0.05),
  reorder: prob(0.2),
  reorderUs: fc.integer({ min: 1, max: 20_000 }),
  corrupt: prob(0.02),
  rateBps: fc.constant(0),
  queueUs: fc.constant(100_000),
}));

function counter(n: SimNode, name: string): number {
  return n.stack.counters.get(name) ?? 0;
}

Deno.test("RACK: off by default; the sysctl refuses unknown stacks", () => {
  const sim = new Sim(1);
  const a = sim.addNode("a");
  assert.equal(a.stack.sysctl.get("net.inet.tcp.functions_default"), "freebsd");
  assert.throws(() => a.stack.sysctl.set("net.inet.tcp.functions_default", "bbr"));
  const b = sim.addNode("b"), c = sim.addNode("c", RACK);
  sim.link(b, c);
  const t = new Transfer(sim, b, c, { bytes: 20_000 });
  t.start();
  sim.runUntil(() => b.tcp.conns.size > 0 && c.tcp.conns.size > 0, 10_000);
  for (const conn of b.tcp.conns.values()) assert.equal(conn.rack, undefined);
  for (const conn of c.tcp.conns.values()) assert.ok(conn.rack !== undefined);
  sim.runUntil(() => t.done, 50_000);
  assert.ok(t.complete);
});

Deno.test("RACK property: the stream arrives exactly once, in order, with RACK-TLP on both ends", () => {
  let completed = 0, runs = 0, lost = 0, tlp = 0;
  fc.assert(
    fc.property(
      fc.nat(),
      fc.noBias(fc.integer({ min: 1, max: 60_000 })),
      impairments,
      impairments,
      (seed, bytes, ab, ba) => {
        runs++;
        const sim = new Sim(seed);
        const a = sim.addNode("a", RACK), b = sim.addNode("b", RACK);
        sim.link(a, b, ab, ba);
        installInvariants(sim);
        const t = new Transfer(sim, a, b, { bytes });
        t.start();
        sim.runUntil(() => t.done, 200_000);
        assert.ok(t.prefixOk(), `seed ${seed}: bytes that were never sent`);
        if (t.errors.length === 0) {
          assert.ok(t.complete, `seed ${seed}: closed without the whole stream`);
          completed++;
        } else {
          assert.ok(t.errors.every((e) => /ETIMEDOUT|ECONNRESET|EPIPE/.test(e)), t.errors.join());
        }
        lost += counter(a, "tcp.rack.lost");
        tlp += counter(a, "tcp.rack.tlp");
        sim.runUntilIdle(200_000);
        for (const n of sim.nodes) assert.equal(n.tcp.conns.size, 0, `seed ${seed}: state left`);
      },
    ),
    { seed: 0x8985, numRuns: 60 },
  );
  console.log(`RACK exactly-once: ${completed}/${runs} completed, rack.lost ${lost}, tlp ${tlp}`);
  assert.ok(completed >= runs * 0.8, `${completed}/${runs} completed`);
  assert.ok(lost + tlp > 0, "RACK never acted: the property is vacuous");
});

/** Time for a transfer whose last data segment is dropped once (index found by size). */
function tailLossRun(sysctls: Record<string, string>): { us: number; a: SimNode } {
  const sim = new Sim(7);
  const a = sim.addNode("a", sysctls), b = sim.addNode("b", sysctls);
  let dropped = false;
  const ab = cleanLink({
    delayUs: 5_000,
    filter: (f) => {
      // The stream's last data segment (the only one of 1000 + 52 bytes: 20 IP + 32 TCP).
      if (!dropped && f.length === 20 + 32 + 1000) {
        dropped = true;
        return true;
      }
      return false;
    },
  });
  sim.link(a, b, ab, cleanLink({ delayUs: 5_000 }));
  installInvariants(sim);
  const t = new Transfer(sim, a, b, { bytes: 10 * 1448 + 1000 });
  t.start();
  sim.runUntil(() => t.complete, 100_000);
  assert.ok(dropped, "the tail segment was not seen");
  assert.ok(t.complete);
  return { us: sim.now, a };
}

Deno.test("RACK: a lost tail segment is repaired by a TLP, before the RTO would fire", () => {
  const base = tailLossRun({});
  const rack = tailLossRun(RACK);
  assert.equal(counter(base.a, "tcp.rack.tlp"), 0);
  assert.ok(counter(rack.a, "tcp.rack.tlp") >= 1, "no probe sent");
  assert.equal(counter(rack.a, "tcp.rexmt.timeout"), 0, "the RTO fired anyway");
  assert.ok(counter(base.a, "tcp.rexmt.timeout") >= 1, "without RACK the RTO repairs it");
  // 10 ms RTT: PTO = 2·SRTT + 2 ms ≈ 22 ms; the RTO is at least 200 ms of slop + RTT.
  assert.ok(rack.us + 100_000 < base.us, `RACK ${rack.us} µs vs RTO ${base.us} µs`);
});

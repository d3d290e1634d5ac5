import assert from "node:assert/strict";
import fc from "fast-check";
import { Rack } from "./rack.ts";
import { seqAdd } from "./seq.ts";

const BASE = 0xfffffc00;
const at = (n: number) => seqAdd(BASE, n);
const MSS = 100;

/** Sends segments 0..n-1 one ms apart starting at t0 (µs). */
function send(r: Rack, n: number, t0 = 0): void {
  for (let i = 0; i < n; i++) r.onTransmit(at(i * MSS), MSS, t0 + i * 1000, false);
}

Deno.test("rack: in-order cumulative ACKs lose nothing and give RTT samples", () => {
  const r = new Rack();
  send(r, 5);
  assert.equal(r.onAck(at(300), [], 50_000, false, at(500)), 48_000);
  assert.equal(r.reorderingSeen, false);
  assert.deepEqual(r.detectLoss(51_000, 48_000, false), { lost: [], timeout: 0 });
  assert.equal(r.count, 2);
});

Deno.test("rack: a segment sent before a delivered one is lost after RACK.rtt (RFC 8985 §6.2)", () => {
  const r = new Rack();
  send(r, 6);
  // Segments 2..5 SACKed at 100 ms; 0 and 1 missing. DupThresh SACKed, no reordering: reo_wnd = 0.
  r.onAck(at(0), [[at(200), at(600)]], 100_000, false, at(600));
  assert.equal(r.rtt, 95_000);
  const l = r.detectLoss(100_000, 95_000, false);
  assert.deepEqual(l.lost, [[at(0), at(200)]]);
  assert.ok(r.isLost(at(150)));
  // Retransmitting clears the mark; it is not lost again until a later send is delivered.
  r.onTransmit(at(0), 200, 101_000, true);
  assert.equal(r.isLost(at(0)), false);
  assert.deepEqual(r.detectLoss(300_000, 95_000, false).lost, []);
});

Deno.test("rack: after reordering is seen the window delays the verdict (reo_wnd = min_RTT/4)", () => {
  const r = new Rack();
  send(r, 4);
  r.onAck(at(0), [[at(300), at(400)]], 40_000, false, at(400)); // seg 3 first
  r.onAck(at(0), [[at(100), at(200)], [at(300), at(400)]], 41_000, false, at(400)); // seg 1: reordered
  assert.equal(r.reorderingSeen, true);
  assert.equal(r.reoWnd(40_000, false), Math.floor(r.minRtt / 4));
  const l = r.detectLoss(41_000, 40_000, false);
  assert.deepEqual(l.lost, []);
  assert.ok(l.timeout > 0);
  const l2 = r.detectLoss(41_000 + l.timeout, 40_000, false);
  assert.deepEqual(l2.lost, [[at(0), at(100)]]);
});

Deno.test("rack: D-SACK widens the window once per round, it decays after 16 recoveries", () => {
  const r = new Rack();
  send(r, 2);
  r.onAck(at(100), [], 10_000, true, at(200));
  assert.equal(r.reoWndMult, 2);
  r.onAck(at(100), [], 10_500, true, at(200)); // same round: unchanged
  assert.equal(r.reoWndMult, 2);
  r.onTransmit(at(200), MSS, 11_000, false);
  r.onAck(at(300), [], 20_000, true, at(300)); // next round
  assert.equal(r.reoWndMult, 3);
  for (let i = 0; i < 15; i++) r.onRecoveryExit();
  assert.equal(r.reoWndMult, 3);
  r.onRecoveryExit();
  assert.equal(r.reoWndMult, 1);
});

Deno.test("rack: TLP timeout is 2·SRTT (+WCDelAckT for one segment), capped by the RTO", () => {
  const r = new Rack();
  assert.equal(r.pto(0, 3, 5_000_000), 1_000_000);
  assert.equal(r.pto(50_000, 3, 5_000_000), 102_000);
  assert.equal(r.pto(50_000, 1, 5_000_000), 300_000);
  assert.equal(r.pto(50_000, 1, 120_000), 120_000);
  assert.equal(r.canProbe(), true);
  r.onProbe(at(500), true);
  assert.equal(r.canProbe(), false);
  r.onAck(at(500), [], 1, true, at(500));
  assert.equal(r.canProbe(), true);
  assert.equal(r.counters.tlpRecovered, 1);
});

Deno.test("rack: the transmit log is bounded", () => {
  const r = new Rack(undefined, 8);
  send(r, 20);
  assert.equal(r.count, 8);
  assert.equal(r.counters.logOverflow, 12);
});

Deno.test("rack: nothing delivered is ever marked lost; lost ones were sent earlier (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.boolean(), { minLength: 2, maxLength: 40 }),
      fc.integer({ min: 1000, max: 200_000 }),
      (delivered, later) => {
        const r = new Rack();
        const n = delivered.length;
        send(r, n);
        const blocks: Array<[number, number]> = [];
        delivered.forEach((d, i) => d && blocks.push([at(i * MSS), at(i * MSS + MSS)]));
        r.onAck(at(0), blocks, 50_000, false, at(n * MSS));
        const { lost } = r.detectLoss(50_000 + later, 40_000, false);
        const lastDelivered = delivered.lastIndexOf(true);
        for (const [s, e] of lost) {
          for (let q = seqAdd(s, -BASE); q < seqAdd(e, -BASE); q += MSS) {
            const i = q / MSS;
            if (delivered[i] || i > lastDelivered) return false;
          }
        }
        return true;
      },
    ),
    { seed: 8985, numRuns: 200 },
  );
});

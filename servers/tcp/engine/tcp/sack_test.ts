import assert from "node:assert/strict";
import fc from "fast-check";
import { type SackBlock, SackReceiver, SackScoreboard } from "./sack.ts";
import { seqAdd } from "./seq.ts";

const BASE = 0xfffff000; // wraps inside the tests' range
const at = (n: number) => seqAdd(BASE, n);
const blk = (a: number, b: number): SackBlock => [at(a), at(b)];
const MSS = 100;

Deno.test("sack scoreboard: blocks merge, ack trims, holes are the gaps", () => {
  const sb = new SackScoreboard();
  sb.update(at(0), at(1000), [blk(300, 400)]);
  sb.update(at(0), at(1000), [blk(500, 600), blk(300, 400)]);
  sb.update(at(0), at(1000), [blk(400, 500)]);
  assert.deepEqual(sb.holes(at(0)), [blk(0, 300)]);
  assert.equal(sb.sackedBytes, 300);
  sb.update(at(350), at(1000), []);
  assert.equal(sb.sackedBytes, 250);
  assert.equal(sb.fack(at(350)), at(600));
});

Deno.test("sack scoreboard: IsLost needs DupThresh ranges or > 2·SMSS bytes above (RFC 6675 §4)", () => {
  const sb = new SackScoreboard();
  sb.update(at(0), at(1000), [blk(100, 200), blk(300, 400)]);
  assert.equal(sb.isLost(at(0), MSS), false); // 200 bytes, 2 ranges
  sb.update(at(0), at(1000), [blk(500, 501)]);
  assert.equal(sb.isLost(at(0), MSS), true); // 3 ranges
  assert.equal(sb.isLost(at(250), MSS), false);
  const sb2 = new SackScoreboard();
  sb2.update(at(0), at(1000), [blk(100, 301)]);
  assert.equal(sb2.isLost(at(0), MSS), true); // 201 > 200 bytes
});

Deno.test("sack scoreboard: NextSeg prefers lost holes, then new data, then holes, then rescue", () => {
  const sb = new SackScoreboard();
  sb.enterRecovery(at(0), at(1000));
  sb.update(at(0), at(1000), [blk(100, 400)]);
  let s = sb.nextSeg(at(0), at(1000), MSS, true);
  assert.deepEqual(s, { kind: "lost", seq: at(0), len: 100 });
  sb.sent(s);
  assert.deepEqual(sb.nextSeg(at(0), at(1000), MSS, true), { kind: "new" });
  sb.update(at(0), at(1000), [blk(500, 600)]);
  s = sb.nextSeg(at(0), at(1000), MSS, false);
  assert.deepEqual(s, { kind: "hole", seq: at(400), len: 100 });
  sb.sent(s);
  s = sb.nextSeg(at(0), at(1000), MSS, false);
  assert.deepEqual(s, { kind: "rescue", seq: at(900), len: 100 });
  sb.sent(s);
  assert.deepEqual(sb.nextSeg(at(0), at(1000), MSS, false), { kind: "none" });
});

Deno.test("sack scoreboard: D-SACK detected below the ACK and inside the second block (RFC 2883)", () => {
  const sb = new SackScoreboard();
  assert.equal(sb.update(at(500), at(1000), [blk(100, 200)]).dsack, true);
  const r = sb.update(at(500), at(1000), [blk(650, 700), blk(600, 800)]);
  assert.equal(r.dsack, true);
  assert.equal(sb.sackedBytes, 200);
  assert.equal(sb.update(at(500), at(1000), [blk(900, 1100)]).invalid, 1);
});

Deno.test("sack scoreboard: the number of ranges is bounded, overflow is counted", () => {
  const sb = new SackScoreboard(4);
  for (let i = 0; i < 10; i++) sb.update(at(0), at(10000), [blk(100 + i * 200, 150 + i * 200)]);
  assert.equal(sb.count, 4);
  assert.equal(sb.counters.overflow, 6);
  // A block that merges with an existing range is still accepted.
  assert.equal(sb.update(at(0), at(10000), [blk(150, 180)]).newlySacked, 30);
});

/** Octet-by-octet model of RFC 6675's definitions. */
function model(sacked: boolean[], highRxt: number, smss: number) {
  const lost = (o: number) => {
    let bytes = 0, runs = 0;
    for (let i = o + 1; i < sacked.length; i++) {
      if (sacked[i]) {
        bytes++;
        if (!sacked[i - 1] || i === o + 1) runs++;
      }
    }
    return runs >= 3 || bytes > 2 * smss;
  };
  let pipe = 0;
  for (let o = 0; o < sacked.length; o++) {
    if (sacked[o]) continue;
    if (!lost(o)) pipe++;
    if (o < highRxt) pipe++;
  }
  return { pipe, lost };
}

Deno.test("sack scoreboard: matches an octet model of RFC 6675 (property)", () => {
  const N = 600;
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.integer({ min: 0, max: N - 1 }), fc.integer({ min: 1, max: 120 })),
        { maxLength: 12 },
      ),
      fc.integer({ min: 0, max: N }),
      fc.integer({ min: 0, max: 200 }),
      (bs, highRxt, ack) => {
        const sb = new SackScoreboard();
        const sacked = new Array<boolean>(N).fill(false);
        sb.enterRecovery(at(0), at(N));
        for (const [s, l] of bs) {
          const e = Math.min(N, s + l);
          sb.update(at(0), at(N), [blk(s, e)]);
          for (let i = s; i < e; i++) sacked[i] = true;
        }
        sb.highRxt = at(highRxt);
        let ref = model(sacked, highRxt, 40);
        if (sb.pipe(at(0), at(N), 40) !== ref.pipe) return false;
        for (let o = 0; o < N; o += 7) {
          if (sb.isSacked(at(o)) !== sacked[o]) return false;
          if (!sacked[o] && sb.isLost(at(o), 40) !== ref.lost(o)) return false;
        }
        // After a cumulative ACK the model shifts.
        sb.update(at(ack), at(N), []);
        const rest = sacked.slice(ack);
        ref = model(rest, Math.max(0, highRxt - ack), 40);
        const sum = rest.filter((x) => x).length;
        if (sb.sackedBytes !== sum) return false;
        if (sb.pipe(at(ack), at(N), 40) !== ref.pipe) return false;
        const ns = sb.nextSeg(at(ack), at(N), 40, false);
        if (ns.kind === "lost" || ns.kind === "hole") {
          const o = seqAdd(ns.seq, -BASE) - ack;
          if (rest[o] || o < Math.max(0, highRxt - ack)) return false;
          if ((ns.kind === "lost") !== ref.lost(o)) return false;
        }
        return true;
      },
    ),
    { seed: 6675, numRuns: 300 },
  );
});

Deno.test("sack receiver: most recent block first, D-SACK once first (RFC 2018, RFC 2883)", () => {
  const r = new SackReceiver();
  r.received(at(100), at(200), at(0));
  r.received(at(300), at(400), at(0));
  r.received(at(500), at(600), at(0));
  assert.deepEqual(r.blocks(4), [blk(500, 600), blk(300, 400), blk(100, 200)]);
  r.received(at(200), at(300), at(0)); // joins 100..400
  assert.deepEqual(r.blocks(4), [blk(100, 400), blk(500, 600)]);
  r.duplicate(at(520), at(540));
  assert.deepEqual(r.blocks(3), [blk(520, 540), blk(500, 600), blk(100, 400)]);
  assert.deepEqual(r.blocks(3), [blk(100, 400), blk(500, 600)]);
  r.advance(at(150));
  assert.deepEqual(r.blocks(4), [blk(150, 400), blk(500, 600)]);
  r.advance(at(600));
  assert.deepEqual(r.blocks(4), []);
});

Deno.test("sack receiver: blocks stay disjoint, above RCV.NXT and bounded (property)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.tuple(
            fc.constant("rx"),
            fc.integer({ min: 0, max: 2000 }),
            fc.integer({ min: 1, max: 300 }),
          ),
          fc.tuple(fc.constant("adv"), fc.integer({ min: 0, max: 200 }), fc.constant(0)),
        ),
        { maxLength: 40 },
      ),
      (ops) => {
        const r = new SackReceiver(6);
        let nxt = 0;
        for (const [op, a, b] of ops) {
          if (op === "rx") {
            r.received(at(nxt + a + 1), at(nxt + a + 1 + b), at(nxt));
            const [s, e] = r.list[0];
            if (seqAdd(s, -BASE) > nxt + a + 1 || seqAdd(e, -BASE) < nxt + a + 1 + b) return false;
          } else {
            nxt += a;
            r.advance(at(nxt));
          }
          if (r.list.length > 6) return false;
          const xs = r.list.map(([s, e]) => [seqAdd(s, -BASE), seqAdd(e, -BASE)]).sort((x, y) =>
            x[0] - y[0]
          );
          for (let i = 0; i < xs.length; i++) {
            if (xs[i][0] < nxt || xs[i][0] >= xs[i][1]) return false;
            if (i > 0 && xs[i][0] <= xs[i - 1][1]) return false;
          }
          if (r.blocks(3).length > 3) return false;
        }
        return true;
      },
    ),
    { seed: 2018, numRuns: 300 },
  );
});

Deno.test("sack scoreboard: a lost retransmission is found by later SACKs and offered again", () => {
  const sb = new SackScoreboard();
  // 0..1000 sent; 0..100 lost, the rest SACKed: recovery resends [0, 100) when SND.MAX = 1000.
  sb.enterRecovery(at(0), at(1000));
  sb.update(at(0), at(1000), [blk(100, 1000)]);
  const s = sb.nextSeg(at(0), at(1000), MSS, true);
  assert.deepEqual(s, { kind: "lost", seq: at(0), len: 100 });
  sb.sent(s, at(1000));
  assert.equal(sb.pipe(at(0), at(1000), MSS), 100); // the retransmission is in flight
  // New data 1000..1200 goes out; its SACK alone (2 segments) is not yet proof.
  sb.update(at(0), at(1300), [blk(100, 1200)]);
  assert.equal(sb.counters.lostRexmit, 0);
  assert.deepEqual(sb.nextSeg(at(0), at(1300), MSS, true), { kind: "new" });
  // More than DupThresh−1 segments sent after it arrived: the retransmission was lost.
  sb.update(at(0), at(1300), [blk(100, 1300)]);
  assert.equal(sb.counters.lostRexmit, 1);
  assert.equal(sb.pipe(at(0), at(1300), MSS), 0); // no longer counted in flight
  const again = sb.nextSeg(at(0), at(1300), MSS, true);
  assert.deepEqual(again, { kind: "relost", seq: at(0), len: 100 });
  sb.sent(again, at(1300));
  assert.equal(sb.pipe(at(0), at(1300), MSS), 100);
  assert.deepEqual(sb.nextSeg(at(0), at(1300), MSS, true), { kind: "new" });
  // The cumulative ACK covers it: nothing is remembered.
  sb.update(at(1300), at(1300), []);
  assert.equal(sb.rxStart.length, 0);
});

Deno.test("sack scoreboard: only the un-SACKed part of a lost retransmission is resent", () => {
  const sb = new SackScoreboard();
  sb.enterRecovery(at(0), at(1000));
  sb.update(at(0), at(1000), [blk(200, 1000)]);
  assert.deepEqual(sb.nextSeg(at(0), at(1000), 200, false), { kind: "lost", seq: at(0), len: 200 });
  sb.sent({ kind: "lost", seq: at(0), len: 200 }, at(1000));
  sb.update(at(0), at(1500), [blk(100, 150), blk(200, 1500)]);
  assert.equal(sb.counters.lostRexmit, 1);
  assert.deepEqual(sb.nextSeg(at(0), at(1500), MSS, false), {
    kind: "relost",
    seq: at(0),
    len: 100,
  });
  sb.sent({ kind: "relost", seq: at(0), len: 100 }, at(1500));
  assert.deepEqual(sb.nextSeg(at(0), at(1500), MSS, false), {
    kind: "relost",
    seq: at(150),
    len: 50,
  });
});

Deno.test("sack scoreboard: the retransmission records are bounded", () => {
  const sb = new SackScoreboard(4);
  sb.enterRecovery(at(0), at(10_000));
  for (let i = 0; i < 10; i++) sb.sent({ kind: "hole", seq: at(i * 100), len: 100 }, at(10_000));
  assert.equal(sb.rxStart.length, 4);
  assert.equal(sb.counters.rxmitOverflow, 6);
  sb.reset();
  assert.equal(sb.rxStart.length, 0);
});

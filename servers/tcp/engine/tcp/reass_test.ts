import assert from "node:assert/strict";
import fc from "fast-check";
import { ReassQueue } from "./reass.ts";
import { seqAdd, seqDiff } from "./seq.ts";

const BASE = 0xffffff80;
const at = (n: number) => seqAdd(BASE, n);
const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

Deno.test("reass: out-of-order segments are held and delivered in order", () => {
  const q = new ReassQueue();
  assert.equal(q.insert(at(0), at(200), bytes(100, 200)).queued, true);
  assert.equal(q.insert(at(0), at(100), bytes(100, 100)).queued, true);
  assert.equal(q.pop(at(0)), undefined);
  assert.deepEqual(q.blocks(), [[at(100), at(300)]]);
  q.insert(at(0), at(0), bytes(100));
  let nxt = at(0);
  const got: number[] = [];
  for (let g = q.pop(nxt); g; g = q.pop(nxt)) {
    got.push(...g.data);
    nxt = seqAdd(nxt, g.data.length);
  }
  assert.deepEqual(got, [...bytes(300)]);
  assert.equal(q.bytes, 0);
  assert.equal(q.counters.rcvoopack, 2);
});

Deno.test("reass: overlaps keep the old bytes and report the duplicate range", () => {
  const q = new ReassQueue();
  q.insert(at(0), at(100), bytes(100, 100));
  const r = q.insert(at(0), at(50), bytes(100, 50));
  assert.equal(r.queued, true);
  assert.deepEqual([r.dupStart, r.dupEnd], [at(100), at(150)]);
  assert.deepEqual(q.blocks(), [[at(50), at(200)]]);
  const d = q.insert(at(0), at(120), bytes(10, 120));
  assert.equal(d.queued, false);
  assert.deepEqual([d.dupStart, d.dupEnd], [at(120), at(130)]);
  assert.equal(q.counters.rcvduppack, 1);
  const old = q.insert(at(500), at(400), bytes(50));
  assert.deepEqual([old.queued, old.dupStart, old.dupEnd], [false, at(400), at(450)]);
});

Deno.test("reass: bounded by segments and bytes, overflow counted, in-order always taken", () => {
  const q = new ReassQueue({ maxSegments: 3, maxBytes: 1000 });
  for (let i = 1; i <= 5; i++) q.insert(at(0), at(i * 100), bytes(10));
  assert.equal(q.count, 3);
  assert.equal(q.counters.overflow, 2);
  assert.equal(q.insert(at(0), at(0), bytes(10)).queued, true);
  const b = new ReassQueue({ maxSegments: 10, maxBytes: 50 });
  assert.equal(b.insert(at(0), at(100), bytes(60)).overflow, true);
  assert.equal(b.counters.overflowBytes, 60);
});

Deno.test("reass: a FIN is delivered after the last byte", () => {
  const q = new ReassQueue();
  q.insert(at(0), at(10), bytes(10, 10), true);
  q.insert(at(0), at(0), bytes(10));
  const a = q.pop(at(0))!;
  assert.equal(a.fin, false);
  const b = q.pop(at(10))!;
  assert.equal(b.fin, true);
  assert.equal(b.data.length, 10);
  const f = new ReassQueue();
  f.insert(at(0), at(20), new Uint8Array(0), true);
  f.insert(at(0), at(0), bytes(20));
  const g = f.pop(at(0))!; // the data segment absorbs the queued bare FIN
  assert.deepEqual([g.data.length, g.fin], [20, true]);
  assert.equal(f.pop(at(21)), undefined);
});

Deno.test("reass: any arrival order of overlapping segments rebuilds the stream exactly (property)", () => {
  const N = 1500;
  const stream = Uint8Array.from({ length: N }, (_, i) => (i * 31 + 7) & 0xff);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat({ max: N - 1 }), fc.integer({ min: 1, max: 400 })), {
        maxLength: 30,
      }),
      fc.integer({ min: 50, max: 400 }),
      fc.nat(),
      (extra, chunk, shuffleSeed) => {
        const segs: Array<[number, number]> = [];
        for (let s = 0; s < N; s += chunk) segs.push([s, Math.min(N, s + chunk)]);
        for (const [s, l] of extra) segs.push([s, Math.min(N, s + l)]);
        // Deterministic shuffle.
        let x = shuffleSeed | 1;
        for (let i = segs.length - 1; i > 0; i--) {
          x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
          const j = x % (i + 1);
          [segs[i], segs[j]] = [segs[j], segs[i]];
        }
        const q = new ReassQueue({ maxSegments: 1000, maxBytes: 1 << 20 });
        let nxt = at(0);
        const out: number[] = [];
        let fins = 0;
        for (const [s, e] of segs) {
          q.insert(nxt, at(s), stream.subarray(s, e), e === N);
          for (let g = q.pop(nxt); g; g = q.pop(nxt)) {
            for (const b of g.data) out.push(b);
            nxt = seqAdd(nxt, g.data.length);
            if (g.fin) {
              fins++;
              nxt = seqAdd(nxt, 1); // FIN occupies one sequence number
            }
          }
          // Queue is sorted, disjoint and above RCV.NXT.
          let prev = nxt;
          for (const g of q.segs) {
            if (seqDiff(g.seq, prev) < 0) return false;
            prev = seqAdd(g.seq, g.data.length);
          }
        }
        return out.length === N && out.every((b, i) => b === stream[i]) && fins === 1 &&
          q.count === 0 && q.bytes === 0;
      },
    ),
    { seed: 9293, numRuns: 200 },
  );
});

Deno.test("reass: a queued segment the new one covers whole is reported as the duplicate", () => {
  // RFC 2883 §4.1.3 (FreeBSD's D-SACK for 100:300 over a queued 200:300).
  const q = new ReassQueue();
  q.insert(at(0), at(200), bytes(100, 200));
  const r = q.insert(at(0), at(100), bytes(200, 100));
  assert.equal(r.queued, true);
  assert.deepEqual([r.dupStart, r.dupEnd], [at(200), at(300)]);
  assert.deepEqual(q.blocks(), [[at(100), at(300)]]);
  assert.equal(q.bytes, 200);
});

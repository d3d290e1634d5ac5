import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteQueue } from "./buffer.ts";

/** Operations on a queue, checked against a plain array of numbers. */
type Op =
  | { op: "push"; n: number }
  | { op: "drop"; n: number }
  | { op: "view" | "copy" | "copyInto"; off: number; len: number }
  | { op: "clear" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("push" as const), n: fc.nat(9000) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("drop" as const), n: fc.nat(9000) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constantFrom("view" as const, "copy" as const, "copyInto" as const),
      off: fc.nat(12000),
      len: fc.nat(12000),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const) }) },
);

Deno.test("ByteQueue: pushes, drops and reads match a plain array, across the ring's end (property)", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const q = new ByteQueue();
      let model: number[] = [];
      let next = 0;
      for (const o of ops) {
        if (o.op === "push") {
          const d = new Uint8Array(o.n).map(() => next++ & 0xff);
          q.push(d);
          model = model.concat(Array.from(d));
        } else if (o.op === "drop") {
          q.drop(o.n);
          model = model.slice(Math.min(o.n, model.length));
        } else if (o.op === "clear") {
          q.clear();
          model = [];
        } else {
          const off = Math.min(o.off, model.length);
          const want = model.slice(off, off + o.len);
          let got: Uint8Array;
          if (o.op === "view") got = q.view(o.off, o.len);
          else if (o.op === "copy") got = q.copy(o.off, o.len);
          else {
            got = new Uint8Array(want.length + 2).fill(0xee);
            q.copyInto(off, want.length, got, 1);
            assert.equal(got[0], 0xee);
            assert.equal(got[want.length + 1], 0xee);
            got = got.subarray(1, want.length + 1);
          }
          assert.deepEqual(Array.from(got), want);
        }
        assert.equal(q.length, model.length);
      }
    }),
    { seed: 7, numRuns: 300 },
  );
});

Deno.test("ByteQueue: a flow held near its high-water mark moves no queued byte (no compaction)", () => {
  const q = new ByteQueue();
  let moved = 0;
  const orig = Uint8Array.prototype.copyWithin;
  Uint8Array.prototype.copyWithin = function (t, s, e) {
    moved += (e ?? this.length) - s;
    return orig.call(this, t, s, e);
  };
  try {
    const chunk = new Uint8Array(128 << 10);
    const hiwat = 512 << 10;
    let pushed = 0, sets = 0;
    for (let i = 0; i < 2000; i++) {
      const n = Math.min(hiwat - q.length, chunk.length);
      if (n > 0) {
        q.push(chunk.subarray(0, n));
        pushed += n;
        sets++;
      }
      q.drop(65160 * (1 + (i % 3)));
    }
    assert.ok(pushed > 100 * hiwat && sets > 0);
    assert.equal(moved, 0);
    // The ring stopped growing at the power of two that holds the high-water mark.
    q.push(new Uint8Array(hiwat - q.length));
    assert.equal(q.length, hiwat);
  } finally {
    Uint8Array.prototype.copyWithin = orig;
  }
});

Deno.test("ByteQueue: a view that wraps is contiguous and right; one that does not is in place", () => {
  const q = new ByteQueue();
  q.push(new Uint8Array(4000).fill(1));
  q.drop(3000);
  q.push(Uint8Array.from({ length: 2000 }, (_, i) => i & 0xff)); // wraps past 4096
  const v = q.view(900, 300); // 100 ones, then 0..199
  assert.deepEqual(Array.from(v.subarray(0, 100)), new Array(100).fill(1));
  assert.deepEqual(Array.from(v.subarray(100)), Array.from({ length: 200 }, (_, i) => i));
  const inPlace = q.view(0, 100);
  inPlace[0] = 9; // a view of the ring itself
  assert.equal(q.copy(0, 1)[0], 9);
});

Deno.test("ByteQueue: in an owner's ring it keeps the bytes dropped since settle, and leaves the ring rather than write over them (property)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          {
            weight: 4,
            arbitrary: fc.record({ op: fc.constant("push" as const), n: fc.nat(3000) }),
          },
          {
            weight: 3,
            arbitrary: fc.record({ op: fc.constant("drop" as const), n: fc.nat(3000) }),
          },
          { weight: 2, arbitrary: fc.record({ op: fc.constant("settle" as const) }) },
        ),
        { maxLength: 80 },
      ),
      fc.nat(4095),
      (ops, head) => {
        const ring = new Uint8Array(4096);
        const q = new ByteQueue();
        q.useRing(ring, head);
        // Absolute stream offsets: the ring holds byte `abs` at (head + abs) % 4096.
        let headAbs = 0, tailAbs = 0, settledAbs = 0;
        // Not periodic in the ring's size: a byte written over by a later one is seen.
        const byteAt = (abs: number) => (Math.floor(abs / 4096) * 31 + abs * 7 + 1) & 0xff;
        for (const o of ops) {
          if (o.op === "push") {
            const d = Uint8Array.from({ length: o.n }, (_, k) => byteAt(tailAbs + k));
            q.push(d);
            tailAbs += o.n;
          } else if (o.op === "drop") {
            const k = Math.min(o.n, tailAbs - headAbs);
            q.drop(o.n);
            headAbs += k;
          } else {
            q.settle();
            settledAbs = headAbs;
          }
          assert.equal(q.length, tailAbs - headAbs);
          const held = q.copy(0, q.length);
          for (let k = 0; k < held.length; k++) assert.equal(held[k], byteAt(headAbs + k));
          if (q.ring !== ring) break; // it left: the owner takes it for lost
          // Still in the ring: every byte from the last settle on is where the owner expects.
          for (let abs = settledAbs; abs < tailAbs; abs++) {
            assert.equal(ring[(head + abs) % 4096], byteAt(abs), `abs ${abs}`);
          }
        }
      },
    ),
    { seed: 11, numRuns: 300 },
  );
});

Deno.test("ByteQueue: useRing takes bytes already in the ring; leaveRing keeps them in an array of its own", () => {
  const ring = new Uint8Array(4096);
  [ring[4094], ring[4095], ring[0]] = [1, 2, 3]; // wraps: 1, 2 at the end, 3 at the start
  const q = new ByteQueue();
  q.useRing(ring, 4094, 3);
  assert.deepEqual(Array.from(q.copy(0, 3)), [1, 2, 3]);
  q.leaveRing();
  assert.equal(q.ring, undefined);
  ring.fill(0);
  assert.deepEqual(Array.from(q.copy(0, 3)), [1, 2, 3]);
  q.push(new Uint8Array([4]));
  assert.deepEqual(Array.from(q.copy(0, 4)), [1, 2, 3, 4]);
});

Deno.test("ByteQueue: an empty queue leaving its ring holds no array until it is pushed to", () => {
  const ring = new Uint8Array(4096);
  const q = new ByteQueue();
  q.useRing(ring, 100);
  q.push(new Uint8Array([7, 8]));
  q.drop(2);
  q.leaveRing();
  assert.equal(q.ring, undefined);
  assert.equal(q.leftRing, true);
  assert.equal(q.length, 0);
  ring.fill(9); // the ring's next owner writes: nothing of it shows
  q.push(new Uint8Array([1, 2, 3]));
  assert.deepEqual(Array.from(q.copy(0, 3)), [1, 2, 3]);
  assert.equal(ring[100], 9);
});

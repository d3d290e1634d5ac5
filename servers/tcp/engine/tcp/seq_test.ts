import assert from "node:assert/strict";
import fc from "fast-check";
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin } from "./seq.ts";

Deno.test("seq: comparisons wrap around 2^32", () => {
  assert.equal(seqLt(0xffffff00, 0x10), true);
  assert.equal(seqGt(0x10, 0xffffff00), true);
  assert.equal(seqLeq(5, 5), true);
  assert.equal(seqGeq(5, 6), false);
  assert.equal(seqAdd(0xffffffff, 1), 0);
  assert.equal(seqDiff(0x10, 0xfffffff0), 0x20);
  assert.equal(seqMax(0xfffffff0, 3), 3);
  assert.equal(seqMin(0xfffffff0, 3), 0xfffffff0);
});

Deno.test("seq: a + n is after a for 0 < n < 2^31 (property)", () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 0x7fffffff }), (a, n) => {
      const b = seqAdd(a, n);
      return seqLt(a, b) && seqGt(b, a) && seqDiff(b, a) === n && b >= 0 && b <= 0xffffffff;
    }),
    { seed: 42 },
  );
});

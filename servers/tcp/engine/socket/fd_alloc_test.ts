import assert from "node:assert/strict";
import fc from "fast-check";
import { LowestFree } from "./fd_alloc.ts";

Deno.test("fd alloc: always the lowest free number, as a linear probe finds it (property)", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 400 }), (ops) => {
      const a = new LowestFree(3, 40);
      const taken = new Set<number>();
      for (const op of ops) {
        if (op % 3 !== 0 || taken.size === 0) {
          let want: number | undefined = 3;
          while (taken.has(want)) want++;
          if (want - 3 >= 40) want = undefined;
          const got = a.take();
          assert.equal(got, want);
          if (got !== undefined) taken.add(got);
        } else {
          const n = [...taken][op % taken.size];
          taken.delete(n);
          a.release(n);
        }
        assert.equal(a.inUse, taken.size);
      }
    }),
    { seed: 7, numRuns: 200 },
  );
});

Deno.test("fd alloc: past 10,000 taken, given-back numbers come first, lowest first", () => {
  const a = new LowestFree(3, 10_003);
  for (let i = 0; i < 10_000; i++) a.take();
  a.release(7000);
  a.release(5000);
  a.release(10_002); // the highest: the mark moves down
  assert.deepEqual([a.take(), a.take(), a.take(), a.take()], [5000, 7000, 10_002, 10_003]);
  assert.deepEqual([a.take(), a.take(), a.inUse], [10_004, 10_005, 10_003]);
  assert.equal(a.take(), undefined, "max reached");
});

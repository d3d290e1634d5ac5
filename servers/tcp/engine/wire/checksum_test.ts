import assert from "node:assert/strict";
import fc from "fast-check";
import { checksumUpdate16, finishSum, internetChecksum, sumBytes } from "./checksum.ts";
import { SEED } from "./_arb_test_helpers.ts";

function reference(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

Deno.test("checksum: RFC 1071 example and a reference implementation", () => {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
  assert.equal(
    internetChecksum(new Uint8Array([0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0xf7])),
    ~0xddf2 & 0xffff,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), (b, cut) => {
      assert.equal(internetChecksum(b), reference(b));
      const c = (cut % (b.length + 1)) & ~1; // split at an even offset
      assert.equal(internetChecksum(b.subarray(0, c), b.subarray(c)), reference(b));
    }),
    SEED,
  );
});

Deno.test("checksum: a buffer with its checksum inserted sums to zero; incremental update agrees", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 200 }),
      fc.integer({ min: 0, max: 0xffff }),
      (b0, nw) => {
        const b = b0.slice(0, b0.length & ~1);
        if (b.length < 4) return;
        b[0] = 0;
        b[1] = 0;
        const c = internetChecksum(b);
        b[0] = c >> 8;
        b[1] = c & 0xff;
        assert.equal(finishSum(sumBytes(0, b)), 0);
        const old = (b[2] << 8) | b[3];
        b[2] = nw >> 8;
        b[3] = nw & 0xff;
        const upd = checksumUpdate16(c, old, nw);
        b[0] = 0;
        b[1] = 0;
        const fresh = internetChecksum(b);
        // Both represent the same ones'-complement value (0x0000 and 0xffff are equivalent).
        assert.ok(
          upd === fresh || (upd === 0xffff && fresh === 0) || (upd === 0 && fresh === 0xffff),
        );
      },
    ),
    SEED,
  );
});

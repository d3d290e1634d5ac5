import assert from "node:assert/strict";
import fc from "fast-check";
import { isnOffset, newIsnKey, tcpNewIsn } from "./isn.ts";
import { seqDiff } from "./seq.ts";

let w = 7;
const key = newIsnKey(() => (w = (Math.imul(w, 1103515245) + 12345) >>> 0));

Deno.test("isn: same tuple advances with the 4 µs clock (RFC 6528 §3)", () => {
  const a = tcpNewIsn(key, 1_000_000, "198.18.0.2", 80, "198.18.0.1", 40000);
  const b = tcpNewIsn(key, 1_000_400, "198.18.0.2", 80, "198.18.0.1", 40000);
  assert.equal(seqDiff(b, a), 100);
});

Deno.test("isn: different tuples and keys give unrelated offsets", () => {
  const base = isnOffset(key, "198.18.0.2", 80, "198.18.0.1", 40000);
  assert.notEqual(isnOffset(key, "198.18.0.2", 80, "198.18.0.1", 40001), base);
  assert.notEqual(isnOffset(key, "198.18.0.2", 81, "198.18.0.1", 40000), base);
  assert.notEqual(isnOffset(key, "198.18.0.3", 80, "198.18.0.1", 40000), base);
  assert.notEqual(isnOffset(key, "fd00:198:18::2", 80, "fd00:198:18::1", 40000), base);
  const other = newIsnKey(() => 0x12345678);
  assert.notEqual(isnOffset(other, "198.18.0.2", 80, "198.18.0.1", 40000), base);
});

Deno.test("isn: results are unsigned 32-bit and wrap (property)", () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 2 ** 45 }),
      fc.nat({ max: 65535 }),
      fc.nat({ max: 65535 }),
      (t, lp, fp) => {
        const x = tcpNewIsn(key, t, "198.18.0.2", lp, "198.18.0.1", fp);
        return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
      },
    ),
    { seed: 6528, numRuns: 200 },
  );
});

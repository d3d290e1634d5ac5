import assert from "node:assert/strict";
import fc from "fast-check";
import { emitIpv4, ipv4HeaderLength, Ipv4View, parseIpv4 } from "./ipv4.ts";
import { arbV4, SEED, u16 } from "./_arb_test_helpers.ts";

Deno.test("ipv4: round trip with options, checksum verifies", () => {
  fc.assert(
    fc.property(
      fc.record({
        src: arbV4,
        dst: arbV4,
        proto: fc.integer({ min: 0, max: 255 }),
        ttl: fc.integer({ min: 0, max: 255 }),
        dscp: fc.integer({ min: 0, max: 63 }),
        ecn: fc.integer({ min: 0, max: 3 }),
        ident: u16,
        dontFragment: fc.boolean(),
        moreFragments: fc.boolean(),
        fragOffset: fc.integer({ min: 0, max: 0x1fff }).map((x) => x * 8),
        payloadLength: fc.integer({ min: 0, max: 100 }),
        options: fc.integer({ min: 0, max: 10 }).map((n) => new Uint8Array(n * 4).fill(1)),
      }),
      (r) => {
        const hl = ipv4HeaderLength(r);
        const buf = new Uint8Array(hl + r.payloadLength).fill(0xee);
        assert.equal(emitIpv4(r, buf), hl);
        assert.deepEqual(parseIpv4(buf), structuredClone(r));
        assert.ok(new Ipv4View(buf).checksumOk());
        buf[8] ^= 1;
        assert.ok(!new Ipv4View(buf).checksumOk());
      },
    ),
    SEED,
  );
});

Deno.test("ipv4: hostile headers are refused, never thrown", () => {
  const ok = new Uint8Array(28);
  emitIpv4({
    src: "198.18.0.1",
    dst: "198.18.0.2",
    proto: 17,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: 1,
    dontFragment: false,
    moreFragments: false,
    fragOffset: 0,
    payloadLength: 8,
    options: new Uint8Array(),
  }, ok);
  const bad = (f: (b: Uint8Array) => void) => {
    const b = ok.slice();
    f(b);
    return parseIpv4(b);
  };
  assert.equal(bad((b) => (b[0] = 0x65)), "bad-version");
  assert.equal(bad((b) => (b[0] = 0x44)), "bad-header-length");
  assert.equal(bad((b) => (b[0] = 0x48)), "bad-header-length"); // 32 > 28 present
  assert.equal(bad((b) => (b[3] = 29)), "bad-total-length");
  assert.equal(bad((b) => (b[3] = 19)), "bad-total-length");
  assert.equal(parseIpv4(ok.subarray(0, 19)), "truncated");
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      parseIpv4(b);
    }),
    SEED,
  );
});

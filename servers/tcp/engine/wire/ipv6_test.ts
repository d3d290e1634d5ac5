import assert from "node:assert/strict";
import fc from "fast-check";
import {
  emitIpv6,
  emitIpv6Frag,
  NH_DSTOPTS,
  NH_FRAGMENT,
  NH_HOPOPTS,
  NH_ROUTING,
  parseIpv6,
  parseIpv6Frag,
  walkIpv6,
} from "./ipv6.ts";
import { arbV6, SEED, u32 } from "./_arb_test_helpers.ts";

Deno.test("ipv6: fixed header and fragment header round trip", () => {
  fc.assert(
    fc.property(
      fc.record({
        src: arbV6,
        dst: arbV6,
        nextHeader: fc.integer({ min: 0, max: 255 }),
        hopLimit: fc.integer({ min: 0, max: 255 }),
        dscp: fc.integer({ min: 0, max: 63 }),
        ecn: fc.integer({ min: 0, max: 3 }),
        flowLabel: fc.integer({ min: 0, max: 0xfffff }),
        payloadLength: fc.integer({ min: 0, max: 64 }),
      }),
      fc.record({
        nextHeader: fc.integer({ min: 0, max: 255 }),
        offset: fc.integer({ min: 0, max: 0x1fff }).map((x) => x * 8),
        more: fc.boolean(),
        ident: u32,
      }),
      (r, f) => {
        const buf = new Uint8Array(40 + r.payloadLength).fill(0xcc);
        emitIpv6(r, buf);
        assert.deepEqual(parseIpv6(buf), structuredClone(r));
        const fb = new Uint8Array(8).fill(0xff);
        emitIpv6Frag(f, fb);
        assert.deepEqual(parseIpv6Frag(fb), structuredClone(f));
      },
    ),
    SEED,
  );
  assert.equal(parseIpv6(new Uint8Array(39)), "truncated");
  const b = new Uint8Array(40);
  b[0] = 0x60;
  b[5] = 1;
  assert.equal(parseIpv6(b), "bad-payload-length");
});

Deno.test("ipv6: extension header walk", () => {
  // HBH (PadN) → DstOpts (Pad1 ×6) → Fragment(offset 0) → TCP
  const p = new Uint8Array(8 + 8 + 8 + 20);
  p.set([NH_DSTOPTS, 0, 1, 4, 0, 0, 0, 0], 0);
  p.set([NH_FRAGMENT, 0, 0, 0, 0, 0, 0, 0], 8);
  emitIpv6Frag({ nextHeader: 6, offset: 0, more: true, ident: 7 }, p, 16);
  const w = walkIpv6(p, NH_HOPOPTS);
  assert.ok(typeof w !== "string");
  assert.equal(w.proto, 6);
  assert.equal(w.offset, 24);
  assert.equal(w.fragOffset, 16);
  assert.equal(w.fragNextHeaderAt, 8);
  assert.equal(w.protoAt, 16);
  assert.deepEqual(w.frag, { nextHeader: 6, offset: 0, more: true, ident: 7 });
  // HBH after another header is refused.
  const q = new Uint8Array(16);
  q[0] = NH_HOPOPTS;
  assert.equal(walkIpv6(q, NH_DSTOPTS), "hbh-not-first");
  // Unknown option whose type says "discard".
  const r = new Uint8Array([6, 0, 0x80, 4, 0, 0, 0, 0]);
  assert.equal(walkIpv6(r, NH_DSTOPTS), "bad-option");
  // Routing header with segments left.
  assert.equal(walkIpv6(new Uint8Array([6, 0, 0, 1, 0, 0, 0, 0]), NH_ROUTING), "routing-header");
  assert.equal(walkIpv6(new Uint8Array([6, 5]), NH_DSTOPTS), "truncated-ext");
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(0, 43, 44, 60, 6), (b, nh) => {
      walkIpv6(b, nh);
    }),
    SEED,
  );
});

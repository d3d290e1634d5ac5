import assert from "node:assert/strict";
import fc from "fast-check";
import { emitIcmp, icmpLength, IcmpView, parseIcmp } from "./icmp.ts";
import {
  emitIcmpv6,
  emitNd,
  icmpv6Length,
  Icmpv6View,
  ndLength,
  type NdRepr,
  parseIcmpv6,
  parseNd,
} from "./icmpv6.ts";
import { ipToBytes } from "../ip/addr.ts";
import { arbMac, arbV6, SEED, u32 } from "./_arb_test_helpers.ts";

Deno.test("icmp: round trip and checksum", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      u32,
      fc.uint8Array({ maxLength: 100 }),
      (type, code, restOfHeader, data) => {
        const r = { type, code, restOfHeader, data };
        const buf = new Uint8Array(icmpLength(r));
        emitIcmp(r, buf);
        assert.deepEqual(parseIcmp(buf), r);
        assert.ok(new IcmpView(buf).checksumOk());
      },
    ),
    SEED,
  );
  assert.equal(parseIcmp(new Uint8Array(7)), "truncated");
});

Deno.test("icmpv6: round trip and pseudo-header checksum", () => {
  const src = ipToBytes("fd00:198:18::1"), dst = ipToBytes("fd00:198:18::2");
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      u32,
      fc.uint8Array({ maxLength: 100 }),
      (type, code, restOfHeader, data) => {
        const r = { type, code, restOfHeader, data };
        const buf = new Uint8Array(icmpv6Length(r));
        emitIcmpv6(r, src, dst, buf);
        assert.deepEqual(parseIcmpv6(buf), r);
        assert.ok(new Icmpv6View(buf).checksumOk(src, dst));
        assert.ok(!new Icmpv6View(buf).checksumOk(dst, ipToBytes("fd00:198:18::3")));
      },
    ),
    SEED,
  );
});

Deno.test("ndp: NS/NA/RS/RA with options round trip", () => {
  const src = ipToBytes("fe80::1"), dst = ipToBytes("ff02::1");
  const arbOpt = fc.oneof(
    arbMac.map((mac) => ({ kind: "sourceLinkAddr" as const, mac })),
    arbMac.map((mac) => ({ kind: "targetLinkAddr" as const, mac })),
    u32.map((mtu) => ({ kind: "mtu" as const, mtu })),
    fc.record({
      kind: fc.constant("prefix" as const),
      prefixLength: fc.integer({ min: 0, max: 128 }),
      onLink: fc.boolean(),
      autonomous: fc.boolean(),
      validLifetime: u32,
      preferredLifetime: u32,
      prefix: arbV6,
    }),
    fc.record({
      kind: fc.constant("unknown" as const),
      type: fc.integer({ min: 6, max: 255 }),
      data: fc.integer({ min: 0, max: 3 }).map((n) => new Uint8Array(6 + n * 8).fill(9)),
    }),
  );
  const arbNd: fc.Arbitrary<NdRepr> = fc.oneof(
    fc.record({ type: fc.constant(133 as const), options: fc.array(arbOpt, { maxLength: 3 }) }),
    fc.record({
      type: fc.constant(134 as const),
      curHopLimit: fc.integer({ min: 0, max: 255 }),
      managed: fc.boolean(),
      other: fc.boolean(),
      routerLifetime: fc.integer({ min: 0, max: 0xffff }),
      reachableTime: u32,
      retransTimer: u32,
      options: fc.array(arbOpt, { maxLength: 3 }),
    }),
    fc.record({
      type: fc.constant(135 as const),
      target: arbV6,
      options: fc.array(arbOpt, { maxLength: 3 }),
    }),
    fc.record({
      type: fc.constant(136 as const),
      router: fc.boolean(),
      solicited: fc.boolean(),
      override: fc.boolean(),
      target: arbV6,
      options: fc.array(arbOpt, { maxLength: 3 }),
    }),
  );
  fc.assert(
    fc.property(arbNd, (r) => {
      const buf = new Uint8Array(ndLength(r)).fill(0x77);
      emitNd(r, src, dst, buf);
      assert.deepEqual(parseNd(buf), structuredClone(r));
      assert.ok(new Icmpv6View(buf).checksumOk(src, dst));
    }),
    SEED,
  );
  // A zero-length option refuses the message (RFC 4861 §4.6).
  const ns = new Uint8Array(32);
  ns[0] = 135;
  ns[24] = 1;
  assert.equal(parseNd(ns), "bad-nd-option");
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(133, 134, 135, 136), (b, t) => {
      if (b.length > 0) b[0] = t;
      parseNd(b);
    }),
    SEED,
  );
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { emitEthernet, ETH_HEADER_LEN, macToString, parseEthernet, parseMac } from "./ethernet.ts";
import { emitArp, parseArp } from "./arp.ts";
import { arbMac, arbV4, SEED, u16 } from "./_arb_test_helpers.ts";

Deno.test("ethernet: round trip, truncated frames refused", () => {
  fc.assert(
    fc.property(arbMac, arbMac, u16, (dst, src, etherType) => {
      const buf = new Uint8Array(ETH_HEADER_LEN).fill(0xaa);
      assert.equal(emitEthernet({ dst, src, etherType }, buf), ETH_HEADER_LEN);
      assert.deepEqual(parseEthernet(buf), { dst, src, etherType });
    }),
    SEED,
  );
  assert.equal(parseEthernet(new Uint8Array(13)), "truncated");
  assert.equal(macToString(parseMac("02:00:0a:0b:0c:ff")!), "02:00:0a:0b:0c:ff");
  assert.equal(parseMac("02:00:0a:0b:0c"), undefined);
});

Deno.test("arp: round trip; wrong sizes and ops refused", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(1, 2),
      arbMac,
      arbV4,
      arbMac,
      arbV4,
      (op, senderMac, senderIp, targetMac, targetIp) => {
        const buf = new Uint8Array(28).fill(0x55);
        emitArp({ op, senderMac, senderIp, targetMac, targetIp }, buf);
        assert.deepEqual(parseArp(buf), { op, senderMac, senderIp, targetMac, targetIp });
      },
    ),
    SEED,
  );
  const buf = new Uint8Array(28);
  emitArp({
    op: 1,
    senderMac: new Uint8Array(6),
    senderIp: "198.18.0.4",
    targetMac: new Uint8Array(6),
    targetIp: "198.18.0.5",
  }, buf);
  assert.equal(parseArp(buf.subarray(0, 27)), "truncated");
  buf[7] = 9;
  assert.equal(parseArp(buf), "bad-op");
  buf[4] = 8;
  assert.equal(parseArp(buf), "unsupported-hardware");
});

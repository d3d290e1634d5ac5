import assert from "node:assert/strict";
import fc from "fast-check";
import { emitUdp, parseUdp, udpChecksum, UdpView } from "./udp.ts";
import { ipToBytes } from "../ip/addr.ts";
import { SEED, u16 } from "./_arb_test_helpers.ts";

Deno.test("udp: round trip and checksum (v4 and v6 pseudo-headers)", () => {
  fc.assert(
    fc.property(
      u16,
      u16,
      fc.uint8Array({ maxLength: 200 }),
      fc.boolean(),
      (srcPort, dstPort, payload, v6) => {
        const src = ipToBytes(v6 ? "fd00:198:18::1" : "198.18.0.1");
        const dst = ipToBytes(v6 ? "fd00:198:18::2" : "198.18.0.2");
        const d = new Uint8Array(8 + payload.length).fill(0x11);
        emitUdp({ srcPort, dstPort, payloadLength: payload.length }, d);
        d.set(payload, 8);
        assert.deepEqual(parseUdp(d), { srcPort, dstPort, payloadLength: payload.length });
        const c = udpChecksum(src, dst, d);
        d[6] = c >> 8;
        d[7] = c & 0xff;
        assert.ok(new UdpView(d).checksumOk(src, dst));
        assert.deepEqual(new UdpView(d).payload, payload);
      },
    ),
    SEED,
  );
  assert.equal(parseUdp(new Uint8Array(7)), "truncated");
  assert.equal(parseUdp(new Uint8Array([0, 1, 0, 2, 0, 7, 0, 0])), "bad-length");
  assert.equal(parseUdp(new Uint8Array([0, 1, 0, 2, 0, 9, 0, 0])), "bad-length");
});

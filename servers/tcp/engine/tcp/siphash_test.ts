import assert from "node:assert/strict";
import { siphash24 } from "./siphash.ts";

const key = Uint8Array.from({ length: 16 }, (_, i) => i);

function hex(out: Uint32Array): string {
  return out[1].toString(16).padStart(8, "0") + out[0].toString(16).padStart(8, "0");
}

Deno.test("siphash: reference vectors of the SipHash paper (key 00..0f, message 00..n-1)", () => {
  // From the reference implementation's vector table (little-endian output bytes, read as u64).
  assert.equal(hex(siphash24(key, new Uint8Array(0))), "726fdb47dd0e0e31");
  const m15 = Uint8Array.from({ length: 15 }, (_, i) => i);
  assert.equal(hex(siphash24(key, m15)), "a129ca6149be45e5");
});

Deno.test("siphash: depends on every key and message byte", () => {
  const msg = Uint8Array.from({ length: 21 }, (_, i) => i * 7);
  const base = hex(siphash24(key, msg));
  for (let i = 0; i < msg.length; i++) {
    const m = msg.slice();
    m[i] ^= 1;
    assert.notEqual(hex(siphash24(key, m)), base);
  }
  for (let i = 0; i < 16; i++) {
    const k = key.slice();
    k[i] ^= 0x80;
    assert.notEqual(hex(siphash24(k, msg)), base);
  }
  assert.notEqual(hex(siphash24(key, msg, 20)), base);
});

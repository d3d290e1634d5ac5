import assert from "node:assert/strict";
import fc from "fast-check";
import {
  SYNCOOKIE_MSSTAB,
  SYNCOOKIE_WINDOW_US,
  synCookieDecode,
  synCookieEncode,
  type SynCookieTuple,
} from "./syncookie.ts";

const key = Uint8Array.from({ length: 16 }, (_, i) => i * 13 + 1);
const t: SynCookieTuple = { laddr: "198.18.0.2", lport: 80, faddr: "198.18.0.1", fport: 40000 };
const T0 = 100 * SYNCOOKIE_WINDOW_US + 1234;

Deno.test("syncookie: round trip keeps MSS (rounded down), wscale and SACK", () => {
  const iss = synCookieEncode(key, T0, t, 0x11223344, { mss: 1460, wscale: 7, sackOk: true });
  assert.deepEqual(synCookieDecode(key, T0 + 1000, t, 0x11223344, iss), {
    mss: 1460,
    wscale: 7,
    sackOk: true,
  });
  const iss2 = synCookieEncode(key, T0, t, 5, { mss: 1300, sackOk: false });
  assert.deepEqual(synCookieDecode(key, T0, t, 5, iss2), {
    mss: 1200,
    wscale: undefined,
    sackOk: false,
  });
  const iss3 = synCookieEncode(key, T0, t, 5, { mss: 100, wscale: 14, sackOk: false });
  assert.deepEqual(synCookieDecode(key, T0, t, 5, iss3), { mss: 216, wscale: 8, sackOk: false });
});

Deno.test("syncookie: valid in the next window, expired after two (RFC 4987 §3.6)", () => {
  const iss = synCookieEncode(key, T0, t, 9, { mss: 1460, sackOk: true });
  assert.ok(synCookieDecode(key, T0 + SYNCOOKIE_WINDOW_US, t, 9, iss));
  assert.equal(synCookieDecode(key, T0 + 2 * SYNCOOKIE_WINDOW_US, t, 9, iss), undefined);
  assert.equal(synCookieDecode(key, T0 - SYNCOOKIE_WINDOW_US, t, 9, iss), undefined);
});

Deno.test("syncookie: wrong tuple, irs, key or tampered bits are rejected", () => {
  const iss = synCookieEncode(key, T0, t, 9, { mss: 1460, wscale: 6, sackOk: true });
  assert.equal(synCookieDecode(key, T0, { ...t, fport: 40001 }, 9, iss), undefined);
  assert.equal(synCookieDecode(key, T0, { ...t, faddr: "198.18.0.3" }, 9, iss), undefined);
  assert.equal(synCookieDecode(key, T0, t, 10, iss), undefined);
  assert.equal(synCookieDecode(new Uint8Array(16), T0, t, 9, iss), undefined);
  assert.equal(synCookieDecode(key, T0, t, 9, (iss ^ 0x04) >>> 0), undefined);
});

Deno.test("syncookie: encode/decode round trip (property)", () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 0xffffffff }),
      fc.integer({ min: 1, max: 65535 }),
      fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
      fc.boolean(),
      fc.nat({ max: 2 ** 40 }),
      (irs, mss, wscale, sackOk, now) => {
        const iss = synCookieEncode(key, now, t, irs, { mss, wscale, sackOk });
        const d = synCookieDecode(key, now + SYNCOOKIE_WINDOW_US - 1, t, irs, iss);
        if (!d) return false;
        return d.sackOk === sackOk && d.mss <= Math.max(mss, SYNCOOKIE_MSSTAB[0]) &&
          (wscale === undefined
            ? d.wscale === undefined
            : d.wscale !== undefined && d.wscale <= wscale);
      },
    ),
    { seed: 4987, numRuns: 300 },
  );
});

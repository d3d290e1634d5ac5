/**
 * SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed hash
 * with a 128-bit key and a 64-bit output, the PRF behind {@link ./isn.ts} (RFC 6528) and
 * {@link ./syncookie.ts} (RFC 4987). Written with 32-bit halves so no BigInt is needed.
 *
 * @example
 * ```ts
 * const out = siphash24(new Uint8Array(16), new TextEncoder().encode("abc"));
 * out[0]; // low 32 bits, out[1]: high 32 bits
 * ```
 *
 * @module
 */

// State: v0..v3 as (hi, lo) pairs: s[0]=v0h s[1]=v0l s[2]=v1h s[3]=v1l s[4]=v2h s[5]=v2l s[6]=v3h s[7]=v3l
const s = new Uint32Array(8);

function add(a: number, b: number): void {
  const lo = (s[a + 1] + s[b + 1]) >>> 0;
  s[a] = (s[a] + s[b] + (lo < s[a + 1] ? 1 : 0)) >>> 0;
  s[a + 1] = lo;
}

function rotl(a: number, n: number): void {
  const hi = s[a], lo = s[a + 1];
  if (n === 32) {
    s[a] = lo;
    s[a + 1] = hi;
  } else if (n < 32) {
    s[a] = (hi << n) | (lo >>> (32 - n));
    s[a + 1] = (lo << n) | (hi >>> (32 - n));
  } else {
    const m = n - 32;
    s[a] = (lo << m) | (hi >>> (32 - m));
    s[a + 1] = (hi << m) | (lo >>> (32 - m));
  }
}

function xor(a: number, b: number): void {
  s[a] ^= s[b];
  s[a + 1] ^= s[b + 1];
}

const V0 = 0, V1 = 2, V2 = 4, V3 = 6;

function round(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  rotl(V0, 32);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  rotl(V2, 32);
}

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function compress(mHi: number, mLo: number): void {
  s[V3] ^= mHi;
  s[V3 + 1] ^= mLo;
  round();
  round();
  s[V0] ^= mHi;
  s[V0 + 1] ^= mLo;
}

/**
 * SipHash-2-4 of `msg[0..len)` under the 16-byte `key`. Returns `out` (allocated when not
 * given) holding the 64-bit result as [low 32 bits, high 32 bits].
 */
export function siphash24(
  key: Uint8Array,
  msg: Uint8Array,
  len: number = msg.length,
  out: Uint32Array = new Uint32Array(2),
): Uint32Array {
  if (key.length < 16) {
    throw new RangeError(`Cannot run SipHash: key is ${key.length} bytes, not 16`);
  }
  const k0l = le32(key, 0), k0h = le32(key, 4), k1l = le32(key, 8), k1h = le32(key, 12);
  s[0] = k0h ^ 0x736f6d65;
  s[1] = k0l ^ 0x70736575;
  s[2] = k1h ^ 0x646f7261;
  s[3] = k1l ^ 0x6e646f6d;
  s[4] = k0h ^ 0x6c796765;
  s[5] = k0l ^ 0x6e657261;
  s[6] = k1h ^ 0x74656462;
  s[7] = k1l ^ 0x79746573;
  const full = len - (len & 7);
  for (let o = 0; o < full; o += 8) compress(le32(msg, o + 4), le32(msg, o));
  // Last block: the remaining bytes little-endian, the length's low byte in the top byte.
  let lo = 0, hi = (len & 0xff) << 24;
  for (let i = 0; i < (len & 7); i++) {
    const b = msg[full + i];
    if (i < 4) lo |= b << (8 * i);
    else hi |= b << (8 * (i - 4));
  }
  compress(hi >>> 0, lo >>> 0);
  s[V2 + 1] ^= 0xff;
  round();
  round();
  round();
  round();
  out[0] = (s[1] ^ s[3] ^ s[5] ^ s[7]) >>> 0;
  out[1] = (s[0] ^ s[2] ^ s[4] ^ s[6]) >>> 0;
  return out;
}

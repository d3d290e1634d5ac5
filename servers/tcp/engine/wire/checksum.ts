/**
 * The internet checksum (RFC 1071) over one or more byte ranges, and the RFC 1624
 * incremental update.
 *
 * @module
 */

/**
 * Adds the 16-bit big-endian words of `b[off, off+len)` to `sum` and returns the (unfolded)
 * sum. `len` may be odd only for the last part of a checksummed whole (the final byte is
 * padded with zero, RFC 1071).
 */
let dvBuf: ArrayBufferLike | undefined;
let dvAll: DataView | undefined;
let dvBuf2: ArrayBufferLike | undefined;
let dvAll2: DataView | undefined;

export function sumBytes(sum: number, b: Uint8Array, off = 0, len = b.length - off): number {
  if (len <= 0) return sum;
  if (len <= 64) {
    // Headers, pseudo-headers and small payloads: bytes directly, no DataView to allocate.
    let acc = 0;
    const end = off + (len & ~1);
    for (let i = off; i < end; i += 2) acc += (b[i] << 8) | b[i + 1];
    if (len & 1) acc += b[end] << 8; // pad with zero
    return sum + acc;
  }
  // Sum big-endian 32-bit words (3× faster than 16-bit ones in V8); a double holds the sum
  // exactly up to 2^53, i.e. for buffers up to 8 MiB. Ones'-complement addition commutes
  // with the 16-bit halves, so folding the 32-bit total gives the 16-bit sum.
  // One DataView per underlying buffer, not per call (this runs for every packet).
  // Two slots: a packet's header and payload often live in two buffers.
  let dv: DataView;
  if (b.buffer === dvBuf) dv = dvAll!;
  else if (b.buffer === dvBuf2) dv = dvAll2!;
  else {
    dvBuf2 = dvBuf;
    dvAll2 = dvAll;
    dvBuf = b.buffer;
    dv = dvAll = new DataView(b.buffer);
  }
  const base = b.byteOffset + off;
  const n4 = len & ~3;
  let acc = 0;
  let i = 0;
  for (; i < n4; i += 4) acc += dv.getUint32(base + i);
  if (i + 1 < len) {
    acc += dv.getUint16(base + i) * 0x10000;
    i += 2;
  }
  if (i < len) acc += b[off + i] * ((i & 3) === 0 ? 0x1000000 : 0x100); // pad with zero
  return sum + Math.floor(acc / 0x10000) + (acc % 0x10000);
}

/** Folds a sum to 16 bits (end-around carry). */
export function foldSum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum (ones' complement of the folded sum) of `sum`. */
export function finishSum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** The internet checksum of the concatenation of `parts` (each an even length but the last). */
export function internetChecksum(...parts: Uint8Array[]): number {
  let s = 0;
  for (const p of parts) s = sumBytes(s, p);
  return finishSum(s);
}

/**
 * The sum of a transport pseudo-header (RFC 793/768 for IPv4, RFC 8200 §8.1 for IPv6) for
 * addresses `src`, `dst` (4 or 16 bytes each), protocol `proto` and transport length `len`.
 */
export function pseudoHeaderSum(
  src: Uint8Array,
  dst: Uint8Array,
  proto: number,
  len: number,
): number {
  let s = sumBytes(0, src) + sumBytes(0, dst);
  s += proto;
  s += (len >>> 16) + (len & 0xffff);
  return s;
}

/**
 * RFC 1624 eqn. 3: the new checksum after a 16-bit field changed from `oldWord` to `newWord`
 * in data whose checksum was `oldCsum`.
 */
export function checksumUpdate16(oldCsum: number, oldWord: number, newWord: number): number {
  const s = (~oldCsum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(s) & 0xffff;
}

/**
 * TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982 serial numbers).
 *
 * Every comparison between sequence numbers in the engine goes through these helpers; a bare
 * `<` between two sequence numbers anywhere else is a bug. Values are unsigned 32-bit integers
 * (`>>> 0`).
 *
 * @example
 * ```ts
 * seqLt(0xffffff00, 0x10); // true: 0x10 is 0x110 bytes "after" 0xffffff00
 * ```
 */

/** Signed distance a − b in sequence space, in (−2^31, 2^31]. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a ≤ b in sequence space. */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a ≥ b in sequence space. */
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n, wrapped to 32 bits (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** a − n, wrapped to 32 bits. */
export function seqSub(a: number, n: number): number {
  return (a - n) >>> 0;
}

/** The later of a and b in sequence space. */
export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

/** The earlier of a and b in sequence space. */
export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/** lo ≤ x < hi in sequence space. */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLeq(lo, x) && seqLt(x, hi);
}

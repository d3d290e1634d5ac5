/** Helpers shared by the ring tests (not part of the public API). */
import { RING } from "./layout.ts";
import type { Region } from "./region.ts";

/** Seed for every property test: deterministic runs. */
export const SEED = 0x10ad;

/** Sets a ring's head and tail to `index` (call before attaching the ring objects). */
export function setIndices(region: Region, offset: number, index: number): void {
  region.u32[(offset + RING.OFF_HEAD) >> 2] = index >>> 0;
  region.u32[(offset + RING.OFF_TAIL) >> 2] = index >>> 0;
}

/** Raw view of a ring's header words, for hostile writes and flag checks. */
export function headerWord(region: Region, offset: number, field: number): number {
  return region.u32[(offset + field) >> 2];
}

/** Writes a ring header word, as a hostile peer would. */
export function poke(region: Region, offset: number, field: number, value: number): void {
  region.u32[(offset + field) >> 2] = value >>> 0;
}

/** Deterministic bytes for message `seq` of length `len` (ipc_peer.c computes the same). */
export function pattern(seq: number, len: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(len);
  fillPattern(b, seq);
  return b;
}

/** Fills `b` with the bytes of message `seq`. */
export function fillPattern(b: Uint8Array, seq: number): void {
  let x = Math.imul(seq, 2654435761 | 0) >>> 0;
  for (let i = 0; i < b.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
}

/** Length of message `seq` in the cross-process tests, at most `max`. */
export function patternLength(seq: number, max: number): number {
  return (Math.imul(seq, 37) >>> 0) % (max + 1);
}

/** Asserts two byte arrays are equal; returns false instead of throwing for use in loops. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

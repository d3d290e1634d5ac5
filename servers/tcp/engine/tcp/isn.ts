/**
 * Initial sequence numbers per RFC 6528 §3: `ISN = M + F(localip, localport, remoteip,
 * remoteport, secretkey)`, where M is a timer ticking every 4 µs and F a keyed PRF (here
 * SipHash-2-4, {@link siphash24}). Sans-I/O: the key and the time are passed in.
 *
 * Addresses are the engine's canonical text form (`IpAddr`, e.g. "198.18.0.2",
 * "fd00:198:18::2"), which is unique per address, so hashing the text is as good as hashing
 * the bytes.
 *
 * @example
 * ```ts
 * const key = newIsnKey(() => ctx.random32());
 * const iss = tcpNewIsn(key, ctx.now(), "198.18.0.2", 80, "198.18.0.1", 40000);
 * ```
 *
 * @module
 */
import { siphash24 } from "./siphash.ts";

/** A 16-byte secret key from 32-bit random words (RFC 6528 §3: chosen at boot, kept secret). */
export function newIsnKey(random32: () => number): Uint8Array {
  const k = new Uint8Array(16);
  const dv = new DataView(k.buffer);
  for (let i = 0; i < 16; i += 4) dv.setUint32(i, random32() >>> 0, true);
  return k;
}

const scratch = new Uint8Array(128);
const out = new Uint32Array(2);
const enc = new TextEncoder();

/**
 * Writes the connection's identity into a scratch buffer: ports, then the two addresses'
 * text, each terminated by a 0 byte. Returns the length. Shared with the SYN-cookie MAC.
 * @internal
 */
export function tupleBytes(
  buf: Uint8Array,
  off: number,
  laddr: string,
  lport: number,
  faddr: string,
  fport: number,
): number {
  let o = off;
  buf[o++] = lport >>> 8;
  buf[o++] = lport & 0xff;
  buf[o++] = fport >>> 8;
  buf[o++] = fport & 0xff;
  o += enc.encodeInto(laddr.slice(0, 45), buf.subarray(o, o + 45)).written;
  buf[o++] = 0;
  o += enc.encodeInto(faddr.slice(0, 45), buf.subarray(o, o + 45)).written;
  buf[o++] = 0;
  return o - off;
}

/** Low 32 bits of SipHash-2-4 under `key` of the 4-tuple, then `tag` bytes (domain separation). */
function tupleHash(
  key: Uint8Array,
  laddr: string,
  lport: number,
  faddr: string,
  fport: number,
  tag: readonly number[] = [],
): number {
  const n = tupleBytes(scratch, 0, laddr, lport, faddr, fport);
  scratch.set(tag, n);
  return siphash24(key, scratch, n + tag.length, out)[0];
}

/** F of RFC 6528: the keyed hash of the 4-tuple (low 32 bits of SipHash-2-4). */
export function isnOffset(
  key: Uint8Array,
  laddr: string,
  lport: number,
  faddr: string,
  fport: number,
): number {
  return tupleHash(key, laddr, lport, faddr, fport);
}

/**
 * RFC 6528 ISN for a new connection at time `nowUs` (µs): M = nowUs / 4 (a 4 µs clock, §3)
 * plus F(4-tuple, key), modulo 2^32.
 */
export function tcpNewIsn(
  key: Uint8Array,
  nowUs: number,
  laddr: string,
  lport: number,
  faddr: string,
  fport: number,
): number {
  const m = Math.floor(nowUs / 4) % 0x100000000;
  return (m + isnOffset(key, laddr, lport, faddr, fport)) >>> 0;
}

/** Appended to the 4-tuple for {@link tsOffset}: "T". */
const TS_TAG = [0x54];

/**
 * The timestamp clock's offset for a connection (RFC 7323 §5.4): a keyed hash of the 4-tuple,
 * so that TSval grows across incarnations of one 4-tuple and a peer still holding the last one
 * in TIME-WAIT accepts the new SYN (Linux refuses one whose TSval is older, PAWS, and answers
 * with an ACK: the client then waits a SYN retransmission). Random per connection, as before,
 * about half of all reused ports cost that wait. Domain-separated from {@link isnOffset} by a
 * tag byte, so the two values say nothing of each other.
 */
export function tsOffset(
  key: Uint8Array,
  laddr: string,
  lport: number,
  faddr: string,
  fport: number,
): number {
  return tupleHash(key, laddr, lport, faddr, fport, TS_TAG);
}

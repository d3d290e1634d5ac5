/**
 * Hostile-but-valid TCP segments for the simulator: rewrites one header field (flags, seq,
 * ack, window, urgent pointer, data offset or an option byte) of a TCP segment in flight and
 * recomputes the TCP checksum, so the segment reaches TCP input instead of being dropped by
 * the checksum check. Models an on-path attacker or a buggy middlebox.
 *
 * @module
 */
import { finishSum, pseudoHeaderSum, sumBytes } from "../wire/checksum.ts";
import type { Rng } from "./rng.ts";

/** Locates the TCP header in a bare IPv4/IPv6 packet: [tcpOffset, src, dst] or undefined. */
function tcpOf(f: Uint8Array): [number, Uint8Array, Uint8Array] | undefined {
  const v = f[0] >> 4;
  if (v === 4 && f.length >= 40) {
    const ihl = (f[0] & 0xf) * 4;
    if (f[9] !== 6 || ihl < 20 || f.length < ihl + 20) return undefined;
    if ((((f[6] << 8) | f[7]) & 0x3fff) !== 0) return undefined; // fragments: leave alone
    return [ihl, f.subarray(12, 16), f.subarray(16, 20)];
  }
  if (v === 6 && f.length >= 60 && f[6] === 6) {
    return [40, f.subarray(8, 24), f.subarray(24, 40)];
  }
  return undefined;
}

/** Mutates one TCP header field of `f` in place; returns what it did, or undefined. */
export function mutateTcp(f: Uint8Array, rng: Rng): string | undefined {
  const t = tcpOf(f);
  if (!t) return undefined;
  const [off, src, dst] = t;
  const tcp = f.subarray(off);
  const doff = (tcp[12] >> 4) * 4;
  const set32 = (o: number, x: number) => {
    tcp[o] = x >>> 24;
    tcp[o + 1] = (x >>> 16) & 0xff;
    tcp[o + 2] = (x >>> 8) & 0xff;
    tcp[o + 3] = x & 0xff;
  };
  const get32 = (o: number) =>
    ((tcp[o] << 24) | (tcp[o + 1] << 16) | (tcp[o + 2] << 8) | tcp[o + 3]) >>> 0;
  const delta = () => (rng.chance(0.5) ? rng.int(0x20000) - 0x10000 : rng.u32());
  let what: string;
  switch (rng.int(8)) {
    case 0:
      tcp[13] = rng.int(256);
      what = "flags";
      break;
    case 1:
      set32(4, (get32(4) + delta()) >>> 0);
      what = "seq";
      break;
    case 2:
      set32(8, (get32(8) + delta()) >>> 0);
      what = "ack";
      break;
    case 3:
      tcp[14] = rng.int(256);
      tcp[15] = rng.int(256);
      what = "window";
      break;
    case 4:
      tcp[13] |= 0x20;
      tcp[18] = rng.int(256);
      tcp[19] = rng.int(256);
      what = "urgent";
      break;
    case 5:
      tcp[12] = (rng.int(16) << 4) | (tcp[12] & 0xf);
      what = "dataOffset";
      break;
    default:
      if (doff > 20 && doff <= tcp.length) {
        tcp[20 + rng.int(doff - 20)] = rng.int(256);
        what = "option";
      } else {
        tcp[13] ^= 1 << rng.int(8);
        what = "flagBit";
      }
  }
  tcp[16] = 0;
  tcp[17] = 0;
  const sum = finishSum(sumBytes(pseudoHeaderSum(src, dst, 6, tcp.length), tcp));
  tcp[16] = sum >> 8;
  tcp[17] = sum & 0xff;
  return what;
}

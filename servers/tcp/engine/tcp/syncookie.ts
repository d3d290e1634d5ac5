/**
 * SYN cookies (RFC 4987 §3.6): when the SYN cache is full, the listener answers with a
 * SYN-ACK whose ISS encodes what it must remember, and keeps no state; the final ACK
 * (ack = ISS + 1) is validated and the connection rebuilt from it.
 *
 * Layout of the 32-bit ISS, as FreeBSD lays it out (MAC in the high bits, parameters low):
 *
 * ```
 *  31                              8 7   5 4   2 1 0
 * +---------------------------------+-----+-----+-+-+
 * |     MAC (24 bits, truncated)    | WWW | MMM |S|P|
 * +---------------------------------+-----+-----+-+-+
 *  W: index into {@link SYNCOOKIE_WSTAB} of the peer's window scale (0 = no option)
 *  M: index into {@link SYNCOOKIE_MSSTAB} of the peer's MSS (rounded down)
 *  S: the peer offered SACK-permitted
 *  P: parity of the time window whose secret made the MAC
 * ```
 *
 * The MAC is SipHash-2-4 under the listener's key over (time window, the 4-tuple, the peer's
 * ISN, the low 8 bits), so a cookie is valid only for its connection and for two windows of
 * {@link SYNCOOKIE_WINDOW_US} (15–30 s). Key and time are passed in (sans-I/O). Options not
 * encoded (timestamps, the exact MSS) are lost, the price RFC 4987 §3.6 names.
 *
 * @module
 */
import { siphash24 } from "./siphash.ts";
import { tupleBytes } from "./isn.ts";

/** MSS values a cookie can carry (the peer's MSS is rounded down to one of these). */
export const SYNCOOKIE_MSSTAB: readonly number[] = [216, 536, 1200, 1360, 1400, 1440, 1452, 1460];

/**
 * Window-scale shifts a cookie can carry (index 0: the peer sent no window-scale option).
 * The peer's shift is rounded down, which only makes us under-estimate its window.
 */
export const SYNCOOKIE_WSTAB: readonly (number | undefined)[] = [undefined, 0, 1, 2, 4, 6, 7, 8];

/** Length of one secret's time window: a cookie is valid 15 s to 30 s after it was made. */
export const SYNCOOKIE_WINDOW_US = 15_000_000;

/** What a cookie remembers of the peer's SYN. */
export interface SynCookieParams {
  /** The peer's MSS option (RFC 9293 default 536 when absent; pass what the SYN said). */
  mss: number;
  /** The peer's window-scale shift, or undefined when it sent none. */
  wscale?: number;
  /** The peer sent SACK-permitted. */
  sackOk: boolean;
}

/** The connection a cookie belongs to (local = the listener's side). */
export interface SynCookieTuple {
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
}

const scratch = new Uint8Array(160);
const out = new Uint32Array(2);

function mac(key: Uint8Array, window: number, t: SynCookieTuple, irs: number, low: number): number {
  const dv = new DataView(scratch.buffer);
  dv.setUint32(0, window >>> 0, true);
  dv.setUint32(4, irs >>> 0, true);
  scratch[8] = low & 0xff;
  const n = 9 + tupleBytes(scratch, 9, t.laddr, t.lport, t.faddr, t.fport);
  return siphash24(key, scratch, n, out)[0] >>> 8;
}

function windowOf(nowUs: number): number {
  return Math.floor(nowUs / SYNCOOKIE_WINDOW_US);
}

/** Largest table index whose MSS is ≤ mss (index 0 when mss is below the table). */
function mssIndex(mss: number): number {
  let i = SYNCOOKIE_MSSTAB.length - 1;
  while (i > 0 && SYNCOOKIE_MSSTAB[i] > mss) i--;
  return i;
}

function wsIndex(ws: number | undefined): number {
  if (ws === undefined) return 0;
  let i = SYNCOOKIE_WSTAB.length - 1;
  while (i > 1 && (SYNCOOKIE_WSTAB[i] as number) > ws) i--;
  return i;
}

/**
 * The ISS to put in a SYN-ACK for the SYN `(tuple, irs)` with the given options, at `nowUs`.
 * `irs` is the peer's ISN (the SYN's sequence number).
 */
export function synCookieEncode(
  key: Uint8Array,
  nowUs: number,
  tuple: SynCookieTuple,
  irs: number,
  p: SynCookieParams,
): number {
  const w = windowOf(nowUs);
  const low = (wsIndex(p.wscale) << 5) | (mssIndex(p.mss) << 2) | (p.sackOk ? 2 : 0) | (w & 1);
  return ((mac(key, w, tuple, irs, low) << 8) | low) >>> 0;
}

/**
 * Validates the ACK that completes a cookie handshake: `irs` = the ACK's seq − 1, `iss` = its
 * ack − 1. Returns the parameters the cookie carried, or undefined when the MAC does not match
 * the current or the previous time window (forged, wrong connection, or expired).
 */
export function synCookieDecode(
  key: Uint8Array,
  nowUs: number,
  tuple: SynCookieTuple,
  irs: number,
  iss: number,
): SynCookieParams | undefined {
  const low = iss & 0xff;
  const now = windowOf(nowUs);
  // The parity bit says which of the two live windows made the cookie.
  const w = (now & 1) === (low & 1) ? now : now - 1;
  if (w < 0) return undefined;
  if (mac(key, w, tuple, irs, low) !== iss >>> 8) return undefined;
  const wsi = low >>> 5;
  return {
    mss: SYNCOOKIE_MSSTAB[(low >>> 2) & 7],
    wscale: SYNCOOKIE_WSTAB[wsi],
    sackOk: (low & 2) !== 0,
  };
}

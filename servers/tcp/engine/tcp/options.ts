/**
 * Building the option list of an outgoing segment in FreeBSD's order and alignment
 * (tcp_addoptions): MSS; NOPs until the length is odd, window scale; NOPs until even,
 * SACK-permitted; NOPs until ≡ 2 mod 4, timestamps; NOPs until ≡ 2 mod 4, SACK blocks; then
 * EOL padding to a multiple of 4 (done by the emitter).
 *
 * @module
 */
import { TCP_MAX_OPTION_SPACE, type TcpOption } from "../wire/tcp.ts";

/** What to put in a segment's options. */
export interface OutOptions {
  mss?: number;
  wscale?: number;
  sackOk?: boolean;
  ts?: { val: number; ecr: number };
  sack?: Array<[number, number]>;
}

/** The ordered option list (without trailing EOL padding). */
export function buildOptions(o: OutOptions): TcpOption[] {
  const out: TcpOption[] = [];
  let len = 0;
  const nop = () => {
    out.push({ kind: "nop" });
    len++;
  };
  if (o.mss !== undefined) {
    out.push({ kind: "mss", mss: o.mss });
    len += 4;
  }
  if (o.wscale !== undefined) {
    while (len === 0 || len % 2 !== 1) nop();
    out.push({ kind: "wscale", shift: o.wscale });
    len += 3;
  }
  if (o.sackOk) {
    while (len % 2 !== 0) nop();
    out.push({ kind: "sackOk" });
    len += 2;
  }
  if (o.ts !== undefined) {
    while (len === 0 || len % 4 !== 2) nop();
    out.push({ kind: "ts", val: o.ts.val, ecr: o.ts.ecr });
    len += 10;
  }
  if (o.sack !== undefined && o.sack.length > 0) {
    let pad = 0;
    let l = len;
    while (l === 0 || l % 4 !== 2) {
      l++;
      pad++;
    }
    const room = Math.floor((TCP_MAX_OPTION_SPACE - len - pad - 2) / 8);
    if (room > 0) {
      for (let i = 0; i < pad; i++) nop();
      out.push({ kind: "sack", blocks: o.sack.slice(0, room) });
      len += 2 + 8 * Math.min(room, o.sack.length);
    }
  }
  return out;
}

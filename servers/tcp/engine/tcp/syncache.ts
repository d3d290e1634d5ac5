/**
 * The stateless side of passive opens: SYN cookies (RFC 4987 §3.6) used when a listener's
 * embryonic-connection table is full (net.inet.tcp.syncache.bucketlimit) or always
 * (net.inet.tcp.syncookies_only). The SYN-ACK's ISS encodes the peer's MSS, window scale and
 * SACK-permitted under a keyed MAC (tcp/syncookie.ts); the ACK that echoes it back creates the
 * connection. Timestamps are not offered with a cookie (nothing would remember them).
 *
 * @module
 */
import type { ConnAddrs, TcpConn, TcpHost } from "./conn.ts";
import { synCookieDecode, synCookieEncode } from "./syncookie.ts";
import { buildOptions } from "./options.ts";
import { seqAdd, seqSub } from "./seq.ts";
import { type TcpOptionSummary, type TcpRepr, TH_ACK, TH_SYN } from "../wire/tcp.ts";
import { offeredMss } from "./subr.ts";
import { TCPS_SYN_RECEIVED, TF_RCVD_SCALE, TF_REQ_SCALE, TF_SACK_PERMIT } from "./tcpcb.ts";

/** Sends a cookie SYN-ACK for `th` (no state is kept). */
export function cookieRespond(
  host: TcpHost,
  key: Uint8Array,
  a: ConnAddrs,
  th: TcpRepr,
  to: TcpOptionSummary,
  requestRScale: number,
  window: number,
  userMss = 0,
): void {
  const rfc1323 = host.num("net.inet.tcp.rfc1323");
  const wscale = (rfc1323 & 1) && to.wscale !== undefined ? Math.min(to.wscale, 14) : undefined;
  const sackOk = to.sackOk && host.num("net.inet.tcp.sack.enable") === 1;
  const iss = synCookieEncode(key, host.now(), a, th.seq, {
    mss: to.mss ?? 536,
    wscale,
    sackOk,
  });
  const options = buildOptions({
    mss: offeredMss(host, a, userMss),
    wscale: wscale !== undefined ? requestRScale : undefined,
    sackOk,
  });
  host.send(a, {
    srcPort: a.lport,
    dstPort: a.fport,
    seq: iss,
    ack: seqAdd(th.seq, 1),
    flags: TH_SYN | TH_ACK,
    window: Math.min(window, 65535),
    urgent: 0,
    options,
    payload: new Uint8Array(0),
  }, 0);
  host.count("tcp.syncookie.sent");
}

/**
 * Checks the ACK `th` against a cookie; when valid, fills the embryonic connection `c`
 * (SYN-RECEIVED, our SYN sent) so that ordinary input processing completes the handshake,
 * and returns the peer's MSS the cookie carried (undefined when the cookie is bad).
 */
export function cookieExpand(
  host: TcpHost,
  key: Uint8Array,
  c: TcpConn,
  th: TcpRepr,
  requestRScale: number,
): number | undefined {
  const irs = seqSub(th.seq, 1);
  const iss = seqSub(th.ack, 1);
  const p = synCookieDecode(key, host.now(), c, irs, iss);
  if (p === undefined) {
    host.count("tcp.syncookie.bad");
    return undefined;
  }
  const tp = c.tp;
  tp.state = TCPS_SYN_RECEIVED;
  tp.irs = irs;
  tp.rcvNxt = th.seq;
  tp.rcvAdv = seqAdd(tp.rcvNxt, Math.min(c.rcvHiwat, 65535)); // what the SYN-ACK offered
  tp.rcvUp = tp.rcvNxt;
  tp.lastAckSent = tp.rcvNxt;
  tp.iss = iss;
  tp.sndUna = iss;
  tp.sndNxt =
    tp.sndMax =
    tp.sndUp =
    tp.sndRecover =
      seqAdd(iss, 1);
  tp.sndWl1 = irs;
  tp.sndWl2 = iss;
  if (p.wscale !== undefined) {
    tp.tFlags |= TF_REQ_SCALE | TF_RCVD_SCALE;
    tp.requestedSScale = p.wscale;
    tp.requestRScale = requestRScale;
  }
  if (p.sackOk) tp.tFlags |= TF_SACK_PERMIT;
  tp.tMaxopd = offeredMss(host, c, c.userMss);
  host.count("tcp.syncookie.accepted");
  return p.mss;
}

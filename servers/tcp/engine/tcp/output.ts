/**
 * tcp_output: decides what to send now (data, FIN, SYN, a window update, an ACK), builds the
 * segment with FreeBSD's option layout, and advances the send sequence space. Also the
 * persist-timer arming (tcp_setpersist) and the receive-window calculation.
 *
 * @module
 */
import { type TcpConn, timerActivate, timerActive } from "./conn.ts";
import { seqAdd, seqDiff, seqGt, seqLt, seqMax, seqSub } from "./seq.ts";
import {
  TCPS_CLOSED,
  TCPS_ESTABLISHED,
  TCPS_LISTEN,
  TCPS_SYN_RECEIVED,
  TCPS_SYN_SENT,
  TF2_PLPMTU_MAXSEGSNT,
  TF_ACKNOW,
  TF_DELACK,
  TF_FORCEDATA,
  TF_NEEDFIN,
  TF_NEEDSYN,
  TF_NODELAY,
  TF_NOOPT,
  TF_NOPUSH,
  TF_RCVD_SCALE,
  TF_RCVD_TSTMP,
  TF_REQ_SCALE,
  TF_REQ_TSTMP,
  TF_RXWIN0SENT,
  TF_SACK_PERMIT,
  TF_SENTFIN,
  TT_DELACK,
  TT_PERSIST,
  TT_RACK,
  TT_REXMT,
} from "./tcpcb.ts";
import {
  type TcpOption,
  type TcpRepr,
  TH_ACK,
  TH_FIN,
  TH_PUSH,
  TH_RST,
  TH_SYN,
  TH_URG,
} from "../wire/tcp.ts";
import { buildOptions, type OutOptions } from "./options.ts";
import { ccAfterIdle } from "./cc/builtin.ts";
import { rttSrtt, TCP_BACKOFF, TCP_MAXRXTSHIFT } from "./rtt.ts";
import { ecnCodepoint, ecnOutputFlags, ecnSynAckFlags, ecnSynFlags } from "./ecn.ts";

export const TCP_MAXWIN = 65535;
const EMPTY = new Uint8Array(0);
const MS = 1000;
/** RFC 6429 / FreeBSD persist bounds. */
const TCPTV_PERSMIN = 5000 * MS;
const TCPTV_PERSMAX = 60000 * MS;

/** FreeBSD's tcp_outflags[state]. */
const OUTFLAGS = [
  TH_RST | TH_ACK, // CLOSED
  0, // LISTEN
  TH_SYN, // SYN_SENT
  TH_SYN | TH_ACK, // SYN_RECEIVED
  TH_ACK, // ESTABLISHED
  TH_ACK, // CLOSE_WAIT
  TH_FIN | TH_ACK, // FIN_WAIT_1
  TH_FIN | TH_ACK, // CLOSING
  TH_FIN | TH_ACK, // LAST_ACK
  TH_ACK, // FIN_WAIT_2
  TH_ACK, // TIME_WAIT
];

/** Our timestamp clock: milliseconds, offset per connection (RFC 7323 §5.4). */
export function tsNow(c: TcpConn): number {
  return (Math.floor(c.host.now() / 1000) + c.tp.tsOffset) >>> 0;
}

/** Free space in the receive buffer (sbspace). */
export function rcvSpace(c: TcpConn): number {
  return Math.max(0, c.rcvHiwat - c.rcv.length);
}

/** The window we would advertise now, in bytes (before scaling), never shrinking. */
export function recvWindow(c: TcpConn): number {
  const tp = c.tp;
  let recwin = rcvSpace(c);
  // Silly window avoidance (RFC 1122 §4.2.3.3): no small windows.
  if (recwin < c.rcvHiwat / 4 && recwin < tp.tMaxseg) recwin = 0;
  if (recwin > (TCP_MAXWIN << tp.rcvScale)) recwin = TCP_MAXWIN << tp.rcvScale;
  const adv = seqDiff(tp.rcvAdv, tp.rcvNxt);
  if (tp.state >= TCPS_ESTABLISHED && recwin < adv) recwin = adv; // never shrink (RFC 9293 §3.8.6)
  // Round up to the scale's granularity so the advertised window never falls short of it.
  if (tp.rcvScale > 0 && recwin > 0) {
    const g = 1 << tp.rcvScale;
    recwin = Math.min(Math.ceil(recwin / g) * g, TCP_MAXWIN << tp.rcvScale);
  }
  return recwin;
}

/** Arms the persist timer (tcp_setpersist): backoff over the RTO, within [5 s, 60 s]. */
export function setPersist(c: TcpConn): void {
  const tp = c.tp;
  // (srtt + 4·rttvar) / 2 (tcp/rtt.ts scaling); rexmit_initial / 2 before any sample.
  const t = ((tp.tSrtt >> 3) + tp.tRttvar) / 2 || c.host.num("net.inet.tcp.rexmit_initial") * MS;
  let tt = t * TCP_BACKOFF[tp.tPersistShift] + c.host.num("net.inet.tcp.rexmit_slop") * MS;
  tt = Math.min(Math.max(tt, TCPTV_PERSMIN), TCPTV_PERSMAX);
  timerActivate(c, TT_PERSIST, tt);
  if (tp.tPersistShift < TCP_MAXRXTSHIFT) tp.tPersistShift++;
}

/** Bytes of the send buffer that are data (the SYN is not in the buffer). */
function synOffset(c: TcpConn): number {
  const tp = c.tp;
  return (tp.state === TCPS_SYN_SENT || tp.state === TCPS_SYN_RECEIVED) &&
      tp.sndUna === tp.iss
    ? 1
    : 0;
}

/** tcp_output. Sends as many segments as the windows and rules allow. */
export function tcpOutput(c: TcpConn): void {
  const tp = c.tp;
  if (tp.state === TCPS_LISTEN) return;
  // "idle" is decided once per call (FreeBSD computes it before its "again" loop), so the
  // tail of a burst is not held back by Nagle.
  const idle = tp.sndMax === tp.sndUna;
  if (
    idle && tp.state >= TCPS_ESTABLISHED && c.snd.length > 0 &&
    c.host.now() - tp.tRcvtime >= tp.tRxtcur
  ) {
    ccAfterIdle(c.ccv, c.host.now()); // RFC 5681 §4.1 restart window
  }
  for (let guard = 0; guard < 10000; guard++) {
    if (!outputOnce(c, idle)) return;
  }
}

/** One pass; true when another segment should be tried (sendalot). */
function outputOnce(c: TcpConn, idle: boolean): boolean {
  const tp = c.tp;
  const host = c.host;
  let sendalot = false;
  const synoff = synOffset(c);
  let off = seqDiff(tp.sndNxt, tp.sndUna) - synoff;
  if (off < 0) off = 0;
  let sendwin = Math.min(tp.sndWnd, tp.sndCwnd);
  let flags = OUTFLAGS[tp.state];
  if (tp.tFlags & TF_NEEDFIN) flags |= TH_FIN;
  if (tp.tFlags & TF_NEEDSYN) flags |= TH_SYN;
  const avail = c.snd.length;

  if (tp.tFlags & TF_FORCEDATA) {
    // Window probe (persist): send one byte into a zero window.
    if (sendwin === 0) {
      if (off < avail) sendwin = 1;
      else {
        timerActivate(c, TT_PERSIST, 0);
        tp.tPersistShift = 0;
      }
    }
  }

  let len = Math.min(avail, sendwin) - off;
  if (flags & TH_SYN) {
    if (seqGt(tp.sndNxt, tp.sndUna) && tp.state !== TCPS_SYN_RECEIVED) flags &= ~TH_SYN;
  }
  // Only a TFO SYN with a cached cookie carries data (RFC 7413 §3); otherwise the SYN alone.
  const tfoData = (flags & TH_SYN) && tp.state === TCPS_SYN_SENT && c.tfoConnect &&
    tp.tRxtshift === 0 && c.host.tfoCache.get(c.faddr) instanceof Uint8Array;
  if (
    !tfoData && (flags & TH_SYN || tp.state === TCPS_SYN_SENT || tp.state === TCPS_SYN_RECEIVED)
  ) {
    len = 0;
  } else if (tfoData) len = avail;
  // A reset carries no data: an abortive close (SO_LINGER 0) with unsent data sent its RST with
  // up to a segment of it (a helper's capture: 120-152 bytes), which Linux never does.
  if (flags & TH_RST) len = 0;

  if (len < 0) {
    // The window shrank past what we sent (or FIN sent): retract (RFC 9293 §3.8.6.2.1).
    len = 0;
    if (sendwin === 0) {
      timerActivate(c, TT_REXMT, 0);
      tp.tRxtshift = 0;
      tp.sndNxt = tp.sndUna;
      if (!timerActive(c, TT_PERSIST)) setPersist(c);
    }
  }

  const maxseg = tp.tMaxseg;
  // Options take room from the payload (FreeBSD: t_maxseg excludes options).
  const opts = segmentOptions(c, flags);
  const optlen = optionBytes(opts);
  const room = maxseg - optlen;
  if (len > room) {
    // TSO: one large segment the link cuts into MSS-sized ones (never for retransmissions
    // or when SACK blocks ride along), a whole number of segments unless it is the tail.
    // The link cuts at its MTU, so TSO only when our segment size is exactly what fits it.
    const linkSeg = host.stack.pathMtu(c.faddr) - (c.version === 6 ? 40 : 20) - 20 - optlen;
    const tso = seqLt(tp.sndNxt, tp.sndMax) || (flags & (TH_SYN | TH_RST)) ||
        c.sackBlocks.length || linkSeg !== room
      ? 0
      : host.tsoMax(c) - 20 - optlen;
    if (tso > room) {
      const cap = tso - (tso % room);
      if (len > cap) {
        len = cap;
        sendalot = true;
      } else if (len + off < avail) {
        len -= len % room;
        sendalot = true;
      }
      host.count("tcp.tx.tso");
    } else {
      len = room;
      sendalot = true;
    }
  }
  if (seqLt(seqAdd(tp.sndNxt, len), seqAdd(seqAdd(tp.sndUna, synoff), avail))) flags &= ~TH_FIN;

  const recwin = recvWindow(c);

  let send = false;
  if (len > 0) {
    if (len >= room) send = true;
    else if (
      (idle || (tp.tFlags & TF_NODELAY)) && len + off >= avail && !(tp.tFlags & TF_NOPUSH)
    ) send = true; // Nagle (RFC 896 / RFC 1122 §4.2.3.4)
    else if (tp.tFlags & TF_FORCEDATA) send = true;
    else if (tp.maxSndWnd > 0 && len >= tp.maxSndWnd / 2) send = true;
    else if (seqLt(tp.sndNxt, tp.sndMax)) send = true;
  }
  if (!send && recwin > 0 && tp.state >= TCPS_ESTABLISHED && !c.cantRcvMore) {
    // Window update (receiver-side silly window avoidance, RFC 9293 and RFC 1122): tell the
    // peer when the window opened by 2 segments and by a quarter of the buffer (or the window
    // was nearly shut, or the buffer is small), or by half the buffer. As FreeBSD does: with a large buffer, an
    // update per application read (every 2 segments) doubled the segments a bulk receiver
    // sends (issue 9).
    const adv = Math.min(recwin, TCP_MAXWIN << tp.rcvScale) - seqDiff(tp.rcvAdv, tp.rcvNxt);
    const hiwat = c.rcvHiwat;
    if (
      (adv >= 2 * maxseg &&
        (4 * adv >= hiwat || 8 * recwin <= hiwat || hiwat <= 8 * maxseg ||
          adv >= TCP_MAXWIN << tp.rcvScale)) || 2 * adv >= hiwat
    ) {
      if ((recwin >> tp.rcvScale) > (seqDiff(tp.rcvAdv, tp.rcvNxt) >> tp.rcvScale)) send = true;
    }
  }
  if (tp.tFlags & TF_ACKNOW) send = true;
  if (flags & (TH_SYN | TH_RST)) send = true;
  if (seqGt(tp.sndUp, tp.sndUna) && tp.state >= TCPS_ESTABLISHED) send = true;
  if ((flags & TH_FIN) && (!(tp.tFlags & TF_SENTFIN) || tp.sndNxt === tp.sndUna)) send = true;

  if (!send) {
    // Nothing to send: data waiting with no timer running means a zero window: persist.
    if (
      avail > 0 && !timerActive(c, TT_REXMT) && !timerActive(c, TT_PERSIST) &&
      tp.state >= TCPS_ESTABLISHED
    ) {
      tp.tPersistShift = 0;
      setPersist(c);
    }
    return false;
  }

  // Build the segment.
  if ((flags & TH_FIN) && (tp.tFlags & TF_SENTFIN) && tp.sndNxt === tp.sndMax) {
    tp.sndNxt = seqSub(tp.sndNxt, 1); // retransmitting the FIN
  }
  let seq: number;
  if (len > 0 || (flags & (TH_SYN | TH_FIN)) || timerActive(c, TT_PERSIST)) seq = tp.sndNxt;
  else seq = tp.sndMax;
  if (flags & TH_SYN) seq = tp.iss;

  let win: number;
  if (flags & TH_RST) win = 0;
  else if (flags & TH_SYN) win = Math.min(recwin, TCP_MAXWIN);
  else win = Math.min(recwin >> tp.rcvScale, TCP_MAXWIN);

  // ECN (tcp/ecn.ts, RFC 3168 §6.1): ECT(0) and CWR on new data only (not retransmissions,
  // pure ACKs or window probes), ECE while echoing a CE; ECN-setup SYN / SYN-ACK flags.
  let ecn = 0;
  if (!(flags & TH_SYN)) {
    const newData = len > 0 && !seqLt(tp.sndNxt, tp.sndMax) &&
      !((tp.tFlags & TF_FORCEDATA) && len === 1);
    ecn = ecnCodepoint(tp, newData);
    flags |= ecnOutputFlags(tp, newData);
  } else if (tp.state === TCPS_SYN_SENT) {
    flags |= ecnSynFlags(
      host.num("net.inet.tcp.ecn.enable"),
      tp.tEcnRetries,
      host.num("net.inet.tcp.ecn.maxretries"),
      tp.tRxtshift,
    );
  } else if (tp.state === TCPS_SYN_RECEIVED) {
    flags |= ecnSynAckFlags(tp);
  }

  let urgent = 0;
  if (seqGt(tp.sndUp, tp.sndNxt)) {
    urgent = Math.min(seqDiff(tp.sndUp, tp.sndNxt), 0xffff);
    flags |= TH_URG;
  } else {
    tp.sndUp = tp.sndUna; // drag it along
  }

  const dataOff = seqDiff(tp.sndNxt, tp.sndUna) - synoff;
  // A view is enough: the segment is built (copied) synchronously by host.send.
  const payload = len > 0 ? c.snd.view(Math.max(0, dataOff), len) : EMPTY;
  if (len > 0 && dataOff + len === avail) flags |= TH_PUSH;
  if (len >= room) tp.tFlags2 |= TF2_PLPMTU_MAXSEGSNT;

  const r = OUT; // reused: host.send builds the segment before it returns
  r.srcPort = c.lport;
  r.dstPort = c.fport;
  r.seq = seq;
  r.ack = (flags & TH_ACK) ? tp.rcvNxt : 0;
  r.flags = flags;
  r.window = win;
  r.urgent = urgent;
  r.options = opts;
  r.payload = payload;
  const rexmit = seqLt(tp.sndNxt, tp.sndMax);
  if (len > 0 && rexmit) tp.tSndRexmitpack++;
  // Waiting for an ACK since: the first unacknowledged data, or an active open's first SYN
  // (Linux's TCP_USER_TIMEOUT bounds the SYN's retransmissions too).
  if ((len > 0 || (flags & TH_SYN && tp.state === TCPS_SYN_SENT)) && c.ackTime < 0) {
    c.ackTime = host.now();
  }
  host.send(c, r, ecn);
  if (c.rack !== undefined && len > 0 && (tp.tFlags & TF_SACK_PERMIT)) {
    // RACK-TLP (functions_default=rack): log the transmission; new data arms the probe.
    c.rack.onTransmit(seq, len, host.now(), rexmit);
    if (!rexmit && tp.state >= TCPS_ESTABLISHED) armPto(c);
  }
  r.payload = EMPTY; // no view of the send buffer kept
  r.options = NO_OPTIONS;
  host.count("tcp.tx.segments");
  if (flags & TH_ACK) c.dsack = undefined; // a D-SACK block is reported once (RFC 2883 §4)

  // Advance the sequence space.
  if (tp.state !== TCPS_CLOSED) {
    // A SYN is always sent at ISS (a SYN-ACK resent in SYN-RECEIVED too): the sequence space
    // restarts there, or each resend would count the SYN again (simulator finding F5).
    if (flags & TH_SYN) tp.sndNxt = tp.iss;
    const startseq = tp.sndNxt;
    if (flags & (TH_SYN | TH_FIN)) {
      if (flags & TH_SYN) tp.sndNxt = seqAdd(tp.sndNxt, 1);
      if (flags & TH_FIN) {
        tp.sndNxt = seqAdd(tp.sndNxt, 1);
        tp.tFlags |= TF_SENTFIN;
      }
    }
    tp.sndNxt = seqAdd(tp.sndNxt, len);
    if (seqGt(tp.sndNxt, tp.sndMax)) {
      tp.sndMax = tp.sndNxt;
      if (tp.tRtttime === 0) {
        tp.tRtttime = host.now();
        tp.tRtseq = startseq;
      }
    }
    // Retransmission timer: armed when something is outstanding and it is not running.
    if (
      !timerActive(c, TT_REXMT) && tp.sndNxt !== tp.sndUna &&
      !(timerActive(c, TT_PERSIST) && len <= 1)
    ) {
      if (timerActive(c, TT_PERSIST)) {
        timerActivate(c, TT_PERSIST, 0);
        tp.tPersistShift = 0;
      }
      timerActivate(c, TT_REXMT, tp.tRxtcur);
    }
  }

  // Window bookkeeping.
  if (recwin > 0 && seqGt(seqAdd(tp.rcvNxt, recwin), tp.rcvAdv)) {
    tp.rcvAdv = seqAdd(tp.rcvNxt, flags & TH_SYN ? win : win << tp.rcvScale);
  }
  tp.rcvAdv = seqMax(tp.rcvAdv, tp.rcvNxt);
  if (flags & TH_ACK) tp.lastAckSent = tp.rcvNxt;
  tp.tFlags &= ~(TF_ACKNOW | TF_DELACK);
  if (timerActive(c, TT_DELACK)) timerActivate(c, TT_DELACK, 0);
  if (win === 0 && !(flags & TH_RST)) tp.tFlags |= TF_RXWIN0SENT;
  else tp.tFlags &= ~TF_RXWIN0SENT;
  return sendalot;
}

/** RACK's probe timeout after new data (RFC 8985 §7.2), unless a probe is outstanding. */
function armPto(c: TcpConn): void {
  const r = c.rack!;
  const tp = c.tp;
  if (!r.canProbe()) return;
  const now = c.host.now();
  const rto = tp.tTimers[TT_REXMT] > 0 ? tp.tTimers[TT_REXMT] - now : tp.tRxtcur;
  const flight = Math.ceil(seqDiff(tp.sndMax, tp.sndUna) / Math.max(1, tp.tMaxseg));
  const pto = r.pto(rttSrtt(tp), flight, rto);
  if (pto > 0) timerActivate(c, TT_RACK, pto);
}

/** Shared, never modified. */
const NO_OPTIONS: TcpOption[] = [];

/** The segment tcp_output fills and hands to host.send (one at a time, synchronously). */
const OUT: TcpRepr = {
  srcPort: 0,
  dstPort: 0,
  seq: 0,
  ack: 0,
  flags: 0,
  window: 0,
  urgent: 0,
  options: NO_OPTIONS,
  payload: new Uint8Array(0),
};

/**
 * The options of a segment with `flags` on connection `c`. The common data/ACK segment (only
 * a timestamp) reuses the connection's own list, updated in place: no allocation per
 * segment. The list is valid until the next call (segments are built synchronously).
 */
function segmentOptions(c: TcpConn, flags: number): TcpOption[] {
  const tp = c.tp;
  if (tp.tFlags & TF_NOOPT) return NO_OPTIONS; // TCP_NOOPT: not even an MSS
  if (
    !(flags & (TH_SYN | TH_RST)) && c.dsack === undefined && c.sackBlocks.length === 0
  ) {
    if (!(tp.tFlags & TF_REQ_TSTMP) || !(tp.tFlags & TF_RCVD_TSTMP)) return NO_OPTIONS;
    const ts = c.tsOptions[2] as { kind: "ts"; val: number; ecr: number };
    ts.val = tsNow(c);
    ts.ecr = tp.tsRecent;
    return c.tsOptions; // NOP, NOP, timestamps (FreeBSD's layout)
  }
  const o: OutOptions = {};
  if (flags & TH_SYN) {
    o.mss = tp.tMaxopd;
    if (c.dropOptions) return buildOptions(o);
    if ((tp.tFlags & TF_REQ_SCALE) && (!(flags & TH_ACK) || (tp.tFlags & TF_RCVD_SCALE))) {
      o.wscale = tp.requestRScale;
    }
    if (tp.tFlags & TF_SACK_PERMIT) o.sackOk = true;
  }
  if (
    (tp.tFlags & TF_REQ_TSTMP) && !(flags & TH_RST) &&
    ((flags & (TH_SYN | TH_ACK)) === TH_SYN || (tp.tFlags & TF_RCVD_TSTMP))
  ) {
    o.ts = { val: tsNow(c), ecr: tp.tsRecent };
  }
  if (
    (tp.tFlags & TF_SACK_PERMIT) && !(flags & TH_SYN) && tp.state >= TCPS_ESTABLISHED &&
    (c.dsack !== undefined || c.sackBlocks.length > 0)
  ) {
    o.sack = c.dsack ? [c.dsack, ...c.sackBlocks] : [...c.sackBlocks];
  }
  const list = buildOptions(o);
  if ((flags & (TH_SYN | TH_ACK)) === TH_SYN && c.tfoConnect) {
    // RFC 7413 §4.1.1: a cookie request (empty) or the cached cookie, after the others and
    // unaligned (FreeBSD's layout); nothing when the path is known not to do TFO.
    const cookie = c.host.tfoCache.get(c.faddr);
    if (cookie !== null) list.push({ kind: "fastopen", cookie: cookie ?? EMPTY });
  } else if ((flags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK) && c.tfoCookieOut) {
    list.push({ kind: "fastopen", cookie: c.tfoCookieOut }); // RFC 7413 §4.1.2, server side
  }
  return list;
}

function optionBytes(opts: readonly TcpOption[]): number {
  let n = 0;
  for (const o of opts) {
    switch (o.kind) {
      case "nop":
      case "eol":
        n += 1;
        break;
      case "mss":
        n += 4;
        break;
      case "wscale":
        n += 3;
        break;
      case "sackOk":
        n += 2;
        break;
      case "ts":
        n += 10;
        break;
      case "sack":
        n += 2 + 8 * o.blocks.length;
        break;
      case "fastopen":
        n += 2 + o.cookie.length;
        break;
      default:
        break;
    }
  }
  return (n + 3) & ~3;
}

/** Payload room of a retransmitted segment: the MSS less the options it would carry now. */
export function tcpSegmentRoom(c: TcpConn): number {
  return c.tp.tMaxseg - optionBytes(segmentOptions(c, TH_ACK));
}

/**
 * Retransmits [seq, seq+len) of the send buffer on its own (SACK loss recovery, RFC 6675
 * §5): the sequence space (sndNxt/sndMax) does not move. Returns the bytes sent.
 */
export function tcpRetransmitRange(c: TcpConn, seq: number, len: number): number {
  const tp = c.tp;
  let flags = TH_ACK;
  const opts = segmentOptions(c, flags);
  const room = tp.tMaxseg - optionBytes(opts);
  const off = seqDiff(seq, tp.sndUna);
  if (off < 0) return 0;
  let n = Math.min(len, room, c.snd.length - off);
  let fin = false;
  if (n <= 0) {
    // Only the FIN is left to resend.
    if ((tp.tFlags & TF_SENTFIN) && seqAdd(seq, 0) === seqSub(tp.sndMax, 1)) fin = true;
    else return 0;
    n = 0;
  }
  // The range reaches past the last data byte into a FIN already sent: the FIN rides along.
  if (n > 0 && n < len && off + n === c.snd.length && (tp.tFlags & TF_SENTFIN)) fin = true;
  if (fin) flags |= TH_FIN;
  if (off + n === c.snd.length && n > 0) flags |= TH_PUSH;
  const recwin = recvWindow(c);
  c.host.send(c, {
    srcPort: c.lport,
    dstPort: c.fport,
    seq,
    ack: tp.rcvNxt,
    flags,
    window: Math.min(recwin >> tp.rcvScale, TCP_MAXWIN),
    urgent: 0,
    options: opts,
    payload: n > 0 ? c.snd.view(off, n) : EMPTY,
  }, 0);
  c.host.count("tcp.tx.sackRexmit");
  tp.tSndRexmitpack++;
  tp.lastAckSent = tp.rcvNxt;
  if (seqGt(seqAdd(tp.rcvNxt, recwin), tp.rcvAdv)) tp.rcvAdv = seqAdd(tp.rcvNxt, recwin);
  tp.tFlags &= ~(TF_ACKNOW | TF_DELACK);
  c.dsack = undefined;
  if (timerActive(c, TT_DELACK)) timerActivate(c, TT_DELACK, 0);
  if (!timerActive(c, TT_REXMT)) timerActivate(c, TT_REXMT, tp.tRxtcur);
  return n + (fin ? 1 : 0);
}

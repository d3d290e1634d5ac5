/**
 * tcp_input for a segment that matched a connection (FreeBSD's tcp_do_segment), plus the
 * TIME_WAIT check (tcp_twcheck). Segment acceptance follows RFC 9293 §3.10.7.4 with RFC 5961
 * (blind RST/SYN/data defences) and RFC 7323 (PAWS). The order of checks is FreeBSD's; each
 * step says which rule it is.
 *
 * @module
 */
import { type TcpConn, timerActivate, timerActive } from "./conn.ts";
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin, seqSub } from "./seq.ts";
import { ecnAcceptSyn, ecnInputAck, ecnInputSegment, ecnSynAckPermits } from "./ecn.ts";
import { rackActive, rackOnAck } from "./rack_recovery.ts";
import { sackUndoCheck, sackUndoSave } from "./sack_undo.ts";
import { sackRecoverySend } from "./sack_recovery.ts";
import {
  haveRcvdFin,
  TCPS_CLOSE_WAIT,
  TCPS_CLOSING,
  TCPS_ESTABLISHED,
  TCPS_FIN_WAIT_1,
  TCPS_FIN_WAIT_2,
  TCPS_LAST_ACK,
  TCPS_SYN_RECEIVED,
  TCPS_SYN_SENT,
  TCPS_TIME_WAIT,
  TF_ACKNOW,
  TF_CONGRECOVERY,
  TF_DELACK,
  TF_ECN_PERMIT,
  TF_FASTRECOVERY,
  TF_NEEDFIN,
  TF_NEEDSYN,
  TF_RCVD_SCALE,
  TF_RCVD_TSTMP,
  TF_REQ_SCALE,
  TF_REQ_TSTMP,
  TF_RXWIN0SENT,
  TF_SACK_PERMIT,
  TF_SENTFIN,
  TT_2MSL,
  TT_DELACK,
  TT_KEEP,
  TT_PERSIST,
  TT_REXMT,
} from "./tcpcb.ts";
import {
  TCP_MAX_WINSHIFT,
  type TcpOptionSummary,
  type TcpRepr,
  TH_ACK,
  TH_FIN,
  TH_PUSH,
  TH_RST,
  TH_SYN,
  TH_URG,
} from "../wire/tcp.ts";
import { ECONNREFUSED, ECONNRESET } from "../errno.ts";
import { tcpOutput, tcpRetransmitRange, tcpSegmentRoom } from "./output.ts";
import {
  roundBuffers,
  sendChallengeAck,
  tcpClose,
  tcpDrop,
  tcpMss,
  tcpRespond,
  twStart,
  xmitTimer,
} from "./subr.ts";
import { keepIdle } from "./timers.ts";
import {
  CC_ACK,
  CC_ECN,
  CC_NDUPACK,
  ccAckReceived,
  ccCongSignal,
  ccConnInit,
  ccPostRecovery,
} from "./cc/builtin.ts";

const MS = 1000;
/** PAWS: timestamps older than 24 days are invalid (RFC 7323 §5.5). */
const PAWS_IDLE = 24 * 24 * 3600 * 1000 * MS;

/** A segment as tcp_input hands it on: parsed header, option summary, IP ECN field. */
export interface Segment {
  th: TcpRepr;
  to: TcpOptionSummary;
  ecn: number;
}

/** Sends a RST in reply to `seg` (tcp_dropwithreset, RFC 9293 §3.10.7.1 "reset generation"). */
export function dropWithReset(c: TcpConn, seg: Segment): void {
  const th = seg.th;
  if (th.flags & TH_RST) return;
  if (th.flags & TH_ACK) {
    tcpRespond(c.host, c, th.ack, 0, TH_RST, 0);
  } else {
    let ack = seqAdd(th.seq, th.payload.length);
    if (th.flags & TH_SYN) ack = seqAdd(ack, 1);
    if (th.flags & TH_FIN) ack = seqAdd(ack, 1);
    tcpRespond(c.host, c, 0, ack, TH_RST | TH_ACK, 0);
  }
}

/** Hands in-order data to the socket (or discards it after SHUT_RD). */
function appendRcv(c: TcpConn, data: Uint8Array): void {
  if (data.length === 0) return;
  if (!c.cantRcvMore) c.rcv.push(data);
}

/**
 * Inserts a segment into the reassembly queue (tcp_reass, tcp/reass.ts: a copy of the bytes
 * is kept, never a view of the frame) and delivers what became in order. Returns whether a FIN
 * became in order. `data` is [seq, seq+len).
 */
function reass(c: TcpConn, seq: number, data: Uint8Array, fin: boolean): boolean {
  const tp = c.tp;
  const q = c.reass;
  if (data.length > 0 || fin) {
    // Bounded by net.inet.tcp.reass.maxqueuelen segments and the receive buffer (what the
    // window allows, up to one scale unit of rounding); a segment past them is dropped and
    // counted, the peer retransmits it.
    // The segment bound admits a full window of MSS-sized segments (maxqueuelen is the floor):
    // else data inside the window we advertised is dropped after one loss and the peer sends
    // it all again (issue 7, FINDINGS.md R6; reass_window_test.ts).
    q.limits.maxBytes = c.rcvHiwat + (1 << tp.rcvScale);
    q.limits.maxSegments = Math.max(
      c.host.num("net.inet.tcp.reass.maxqueuelen"),
      Math.ceil(q.limits.maxBytes / Math.max(tp.tMaxseg, 1)) + 1,
    );
    const r = q.insert(tp.rcvNxt, seq, data, fin);
    if (r.overflow) c.host.count("tcp.reass.overflow");
    // Bytes already queued are duplicates, reported as a D-SACK block (RFC 2883 §4.1.3)
    // unless one is already pending.
    if (r.dupStart !== r.dupEnd && (tp.tFlags & TF_SACK_PERMIT) && c.dsack === undefined) {
      c.dsack = [r.dupStart, r.dupEnd];
    }
  }
  // Deliver from the front (only once established: FreeBSD keeps data that came with a
  // simultaneous-open SYN queued until the handshake completes).
  if (tp.state < TCPS_ESTABLISHED) return false;
  for (let e = q.pop(tp.rcvNxt); e !== undefined; e = q.pop(tp.rcvNxt)) {
    appendRcv(c, e.data);
    tp.rcvNxt = seqAdd(tp.rcvNxt, e.data.length);
    if (e.fin) return true;
  }
  return false;
}

/** Receiver SACK list update (RFC 2018 §4): the block holding the newest segment first. */
function updateSackList(c: TcpConn, start: number, end: number): void {
  const tp = c.tp;
  // In order with nothing held (the bulk path): no list to build.
  if (c.sackBlocks.length === 0 && !seqGt(end, tp.rcvNxt)) return;
  let s = start;
  let e = end;
  const rest: Array<[number, number]> = [];
  if (seqGt(e, tp.rcvNxt)) {
    if (seqLt(s, tp.rcvNxt)) s = tp.rcvNxt;
  }
  for (const [l, r] of c.sackBlocks) {
    if (seqLeq(r, tp.rcvNxt)) continue; // covered by the cumulative ACK
    if (seqGt(e, tp.rcvNxt) && seqLeq(l, e) && seqGeq(r, s)) {
      s = seqMin(s, l);
      e = seqMax(e, r);
      continue;
    }
    rest.push([l, r]);
  }
  const blocks: Array<[number, number]> = [];
  if (seqGt(e, tp.rcvNxt) && seqGt(e, s)) blocks.push([s, e]);
  for (const b of rest) blocks.push(b);
  c.sackBlocks = blocks.slice(0, 4);
}

/** Drops SACK blocks at or below rcvNxt. */
function cleanSackList(c: TcpConn): void {
  const tp = c.tp;
  const b = c.sackBlocks;
  let keep = 0;
  for (let i = 0; i < b.length; i++) if (seqGt(b[i][1], tp.rcvNxt)) keep++;
  if (keep === b.length) return; // nothing to drop (no allocation on the bulk path)
  c.sackBlocks = b.filter(([, r]) => seqGt(r, tp.rcvNxt));
}

/**
 * Establishment bookkeeping shared by active and passive opens. False when a passive
 * connection was refused by a full accept queue (it has been dropped with a RST).
 */
function established(c: TcpConn, state: number): boolean {
  const tp = c.tp;
  tp.state = state;
  if ((tp.tFlags & (TF_RCVD_SCALE | TF_REQ_SCALE)) === (TF_RCVD_SCALE | TF_REQ_SCALE)) {
    tp.sndScale = tp.requestedSScale;
    tp.rcvScale = tp.requestRScale;
  }
  if (c.parent !== undefined) roundBuffers(c);
  ccConnInit(c.ccv, c.host.now(), {
    initcwndSegments: c.host.num("net.inet.tcp.initcwnd_segments"),
    synRetransmitted: tp.tRxtshift > 0,
  });
  tp.tStarttime = c.host.now();
  timerActivate(c, TT_KEEP, keepIdle(c));
  c.host.count("tcp.connects");
  if (c.parent !== undefined && !c.host.childEstablished(c)) {
    c.parent = undefined;
    tcpDrop(c, 0);
    return false;
  }
  return true;
}

/**
 * tcp_do_segment: processes `seg` for connection `c` (any state but LISTEN, TIME_WAIT).
 * `tiwinRaw` is the unscaled window field.
 */
export function doSegment(c: TcpConn, seg: Segment): void {
  const tp = c.tp;
  const host = c.host;
  const th = seg.th;
  const to = seg.to;
  let thflags = th.flags;
  let seq = th.seq;
  let data = th.payload;
  let tlen = data.length;
  let needOutput = false;
  let tiwin = th.window;
  if (!(thflags & TH_SYN)) tiwin = tiwin << tp.sndScale;

  // Receive window as FreeBSD computes it for acceptance: free buffer space, but never less
  // than what we advertised.
  tp.rcvWnd = Math.max(
    Math.max(0, c.rcvHiwat - c.rcv.length),
    seqDiff(tp.rcvAdv, tp.rcvNxt),
  );
  if (tp.state === TCPS_SYN_RECEIVED && c.parent !== undefined) {
    // A syncache entry's window is the one its SYN-ACK advertised.
    const scale = (tp.tFlags & TF_RCVD_SCALE) ? tp.requestRScale : 0;
    tp.rcvWnd = Math.min(tp.rcvWnd, 65535 << scale);
  }

  tp.tRcvtime = host.now();
  if (tp.state >= TCPS_ESTABLISHED && timerActive(c, TT_KEEP)) {
    timerActivate(c, TT_KEEP, keepIdle(c));
  }

  // RFC 3168 §6.1.2/§6.1.3: ECN signals on a connection that negotiated ECN.
  if ((tp.tFlags & TF_ECN_PERMIT) && tp.state >= TCPS_ESTABLISHED) {
    if (ecnInputSegment(tp, seg.ecn, thflags)) tp.tFlags |= TF_ACKNOW;
    if (ecnInputAck(tp, thflags, th.ack, tp.sndUna)) {
      // RFC 3168 §6.1.2: react once per window (the CC module tracks congestion recovery).
      ccCongSignal(c.ccv, CC_ECN, host.now());
      host.count("tcp.ecn.ece");
    }
  }

  // RFC 7323 §3.2: after the handshake, timestamps only count if both sides agreed.
  let ts = to.ts;
  if (!(thflags & TH_SYN) && !(tp.tFlags & TF_RCVD_TSTMP)) ts = undefined;
  if (
    (tp.tFlags & TF_RCVD_TSTMP) && ts === undefined && !(thflags & TH_RST) &&
    tp.state >= TCPS_ESTABLISHED && host.num("net.inet.tcp.tolerate_missing_ts") === 0
  ) {
    // RFC 7323 §3.2: a segment without timestamps on a timestamp connection is dropped.
    host.count("tcp.drop.missingTs");
    if (!(thflags & TH_ACK) || tlen > 0) {
      tp.tFlags |= TF_ACKNOW;
      tcpOutput(c);
    }
    return;
  }

  // RTT from the timestamp echo (RFC 7323 §4).
  // ---------------- SYN-SENT (RFC 9293 §3.10.7.3) ----------------
  if (tp.state === TCPS_SYN_SENT) {
    // First: the ACK must acknowledge our SYN.
    if ((thflags & TH_ACK) && (seqLeq(th.ack, tp.iss) || seqGt(th.ack, tp.sndMax))) {
      // Unacceptable ACK: "send a reset (unless the RST bit is set)".
      host.count("tcp.drop.synSentBadAck");
      if (!(thflags & TH_RST)) dropWithReset(c, seg);
      return;
    }
    if (thflags & TH_RST) {
      // RST with an acceptable ACK: "connection reset" (ECONNREFUSED); without ACK: drop.
      if (thflags & TH_ACK) {
        host.count("tcp.synSent.refused");
        tcpDrop(c, ECONNREFUSED);
      } else host.count("tcp.drop.synSentRstNoAck");
      return;
    }
    if (!(thflags & TH_SYN)) {
      host.count("tcp.drop.synSentNoSyn");
      return;
    }
    // A SYN: record the peer's options (RFC 7323 §2.2, RFC 2018 §2, RFC 6691).
    if ((tp.tFlags & TF_REQ_SCALE) && to.wscale !== undefined) {
      tp.tFlags |= TF_RCVD_SCALE;
      tp.requestedSScale = Math.min(to.wscale, TCP_MAX_WINSHIFT);
    } else tp.tFlags &= ~TF_REQ_SCALE;
    if ((tp.tFlags & TF_REQ_TSTMP) && to.ts !== undefined) {
      tp.tFlags |= TF_RCVD_TSTMP;
      tp.tsRecent = to.ts.val;
      tp.tsRecentAge = host.now();
    } else tp.tFlags &= ~TF_REQ_TSTMP;
    if (!((tp.tFlags & TF_SACK_PERMIT) && to.sackOk)) tp.tFlags &= ~TF_SACK_PERMIT;
    tcpMss(c, to.mss);
    tp.irs = seq;
    tp.rcvNxt = seqAdd(seq, 1);
    tp.rcvAdv = tp.rcvNxt;
    if (thflags & TH_ACK) {
      // SYN-ACK: our SYN is acknowledged; ESTABLISHED.
      if (ecnSynAckPermits(thflags, host.num("net.inet.tcp.ecn.enable"))) {
        tp.tFlags |= TF_ECN_PERMIT; // RFC 3168 §6.1.1
      }
      tp.sndUna = seqAdd(tp.sndUna, 1);
      if (c.tfoConnect) {
        // Data the SYN-ACK acknowledges leaves the buffer; the rest is (re)sent.
        const acked = Math.min(seqDiff(th.ack, tp.sndUna), c.snd.length);
        // RFC 7413 §4.1.3: remember a valid cookie (4–16 bytes, even). When the server took
        // our SYN data, anything else leaves the cached cookie alone; otherwise an invalid
        // cookie or none means the path does not do TFO (FreeBSD disables it).
        const n = to.fastopen?.length ?? -1;
        if (n >= 4 && n <= 16 && n % 2 === 0) host.tfoCache.set(c.faddr, to.fastopen!);
        else if (acked <= 0) host.tfoCache.set(c.faddr, null);
        if (acked > 0) {
          c.snd.drop(acked);
          tp.sndUna = seqAdd(tp.sndUna, acked);
        }
        tp.sndNxt = tp.sndUna;
      }
      if (tp.tRtttime !== 0 && seqGt(th.ack, tp.tRtseq) && tp.tRxtshift === 0) {
        xmitTimer(c, host.now() - tp.tRtttime);
      }
      tp.tRtttime = 0;
      timerActivate(c, TT_REXMT, 0);
      // The SYN's wait is over (TCP_USER_TIMEOUT counts from the first data sent next).
      c.ackTime = tp.sndUna === tp.sndMax ? -1 : host.now();
      if (tp.tFlags & TF_NEEDFIN) {
        established(c, TCPS_FIN_WAIT_1);
        tp.tFlags &= ~TF_NEEDFIN;
        thflags &= ~TH_SYN;
      } else established(c, TCPS_ESTABLISHED);
      tp.tRxtshift = 0;
      host.notify(c);
      // An ACK for the SYN-ACK, now (data in the SYN-ACK would delay it, see below).
      tp.tFlags |= TF_ACKNOW;
    } else {
      // Simultaneous open (RFC 9293 §3.5 figure 7): SYN-RECEIVED, resend SYN with ACK.
      tp.tFlags |= TF_ACKNOW | TF_NEEDSYN;
      if (ecnAcceptSyn(thflags, host.num("net.inet.tcp.ecn.enable"))) {
        tp.tFlags |= TF_ECN_PERMIT; // RFC 3168 §6.1.1, an ECN-setup SYN
      }
      timerActivate(c, TT_REXMT, 0);
      tp.state = TCPS_SYN_RECEIVED;
      tp.sndNxt = tp.iss;
      host.count("tcp.simultaneousOpen");
    }
    // Advance to the first data byte; trim data to the window (dropping a FIN beyond it).
    seq = seqAdd(seq, 1);
    if (tlen > tp.rcvWnd) {
      data = data.subarray(0, Math.max(0, tp.rcvWnd));
      tlen = data.length;
      thflags &= ~TH_FIN;
    }
    tp.sndWl1 = seqSub(seq, 1);
    tp.rcvUp = seq;
    if (thflags & TH_ACK) {
      // Window from the SYN-ACK (unscaled, RFC 7323 §2.2).
      tp.sndWnd = th.window;
      tp.sndWl1 = th.seq;
      tp.sndWl2 = th.ack;
      tp.maxSndWnd = Math.max(tp.maxSndWnd, tp.sndWnd);
    }
    return step6(c, seg, seq, data, thflags, tiwin, true, needOutput);
  }

  // ---------------- Synchronized states and SYN-RECEIVED ----------------

  // RFC 5961 §3.2: RST acceptance. Exactly rcv_nxt (our last ACK) resets; other in-window
  // RSTs get a challenge ACK (unless net.inet.tcp.insecure_rst); outside the window: drop.
  if (thflags & TH_RST) {
    const inWindow = seqGeq(seq, tp.lastAckSent) &&
      seqLt(seq, seqAdd(tp.lastAckSent, Math.max(tp.rcvWnd, 1)));
    if (inWindow || (tp.rcvWnd === 0 && seq === tp.lastAckSent)) {
      if (seq === tp.lastAckSent || host.num("net.inet.tcp.insecure_rst") === 1) {
        host.count("tcp.rst.accepted");
        switch (tp.state) {
          case TCPS_SYN_RECEIVED:
            c.soError = ECONNREFUSED;
            tcpClose(c);
            break;
          case TCPS_ESTABLISHED:
          case TCPS_FIN_WAIT_1:
          case TCPS_FIN_WAIT_2:
          default: // CLOSE_WAIT, CLOSING, LAST_ACK
            c.soError = ECONNRESET;
            tcpClose(c);
        }
      } else {
        host.count("tcp.rst.challenged");
        sendChallengeAck(c);
      }
    } else host.count("tcp.drop.rstOutOfWindow");
    return;
  }

  // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK (FreeBSD:
  // net.inet.tcp.insecure_syn resets on an in-window SYN instead, as RFC 9293 did).
  if ((thflags & TH_SYN) && tp.state !== TCPS_SYN_RECEIVED) {
    host.count("tcp.badsyn");
    if (
      host.num("net.inet.tcp.insecure_syn") === 1 && seqGeq(seq, tp.lastAckSent) &&
      seqLt(seq, seqAdd(tp.lastAckSent, tp.rcvWnd))
    ) {
      tcpDrop(c, ECONNRESET);
    } else {
      sendChallengeAck(c);
    }
    return;
  }

  // RFC 7323 §5.3 PAWS: a timestamp older than ts_recent marks an old duplicate.
  if (ts !== undefined && tp.tsRecent !== 0 && seqLt(ts.val, tp.tsRecent)) {
    if (host.now() - tp.tsRecentAge > PAWS_IDLE) {
      tp.tsRecent = 0; // ts_recent is too old to compare against (§5.5)
    } else {
      host.count("tcp.drop.paws");
      if (tlen > 0 || (thflags & TH_FIN)) tp.tRcvOoopack++;
      return dropAfterAck(c, seg);
    }
  }

  // RFC 9293: in SYN-RECEIVED a segment from before the peer's ISN is not ours.
  if (tp.state === TCPS_SYN_RECEIVED && seqLt(seq, tp.irs)) {
    host.count("tcp.drop.synRcvdOldSeq");
    return dropWithReset(c, seg);
  }

  // Trim the front: bytes before rcv_nxt are duplicates (RFC 9293 §3.10.7.4 "first check").
  let todrop = seqDiff(tp.rcvNxt, seq);
  if (todrop > 0) {
    if (thflags & TH_SYN) {
      thflags &= ~TH_SYN;
      seq = seqAdd(seq, 1);
      todrop--;
    }
    if (todrop > tlen || (todrop === tlen && !(thflags & TH_FIN))) {
      // Entirely old: ACK it (it may be a retransmission after our ACK was lost). A D-SACK
      // reports the duplicate (RFC 2883 §4.1).
      if ((tp.tFlags & TF_SACK_PERMIT) && tlen > 0) c.dsack = [seq, seqAdd(seq, tlen)];
      thflags &= ~TH_FIN;
      tp.tFlags |= TF_ACKNOW;
      todrop = tlen;
      host.count("tcp.rx.duplicate");
    } else if ((tp.tFlags & TF_SACK_PERMIT) && todrop > 0) {
      c.dsack = [seq, seqAdd(seq, todrop)];
    }
    // A D-SACK goes out now: the next in-order segment would clear it (FreeBSD).
    if (c.dsack !== undefined) tp.tFlags |= TF_ACKNOW;
    seq = seqAdd(seq, todrop);
    data = data.subarray(todrop);
    tlen = data.length;
    if (th.urgent > todrop) th.urgent -= todrop;
    else {
      thflags &= ~TH_URG;
      th.urgent = 0;
    }
  }

  // Data after the user closed the socket: nobody will read it, reset (RFC 9293 §3.10.4).
  if (c.closed && tp.state > TCPS_CLOSE_WAIT && tlen > 0) {
    host.count("tcp.rx.afterClose");
    tcpClose(c);
    dropWithReset(c, seg);
    return;
  }

  // Trim the back: bytes beyond the window (RFC 9293 §3.10.7.4).
  todrop = seqDiff(seqAdd(seq, tlen), seqAdd(tp.rcvNxt, tp.rcvWnd));
  if (todrop > 0) {
    host.count("tcp.rx.afterWindow");
    if (todrop >= tlen) {
      // A zero-window probe gets an ACK; anything else out of window: ACK and drop.
      if (tp.rcvWnd === 0 && seq === tp.rcvNxt) {
        tp.tFlags |= TF_ACKNOW;
        host.count("tcp.rx.windowProbe");
      } else {
        return dropAfterAck(c, seg);
      }
    }
    data = data.subarray(0, Math.max(0, tlen - todrop));
    tlen = data.length;
    thflags &= ~(TH_PUSH | TH_FIN);
  }

  // RFC 7323 §4.3: remember the peer's timestamp if this segment covers our last ACK.
  if (
    ts !== undefined && seqLeq(seq, tp.lastAckSent) &&
      seqLt(tp.lastAckSent, seqAdd(seq, tlen + ((thflags & (TH_SYN | TH_FIN)) ? 1 : 0))) ||
    (ts !== undefined && seq === tp.lastAckSent && tlen === 0)
  ) {
    tp.tsRecentAge = host.now();
    tp.tsRecent = ts!.val;
  }

  // Without ACK: SYN-RECEIVED (or waiting to send our SYN) goes on; otherwise drop.
  if (!(thflags & TH_ACK)) {
    if (tp.state === TCPS_SYN_RECEIVED || (tp.tFlags & TF_NEEDSYN)) {
      return step6(c, seg, seq, data, thflags, tiwin, false, needOutput);
    }
    if (tp.tFlags & TF_ACKNOW) return dropAfterAck(c, seg);
    host.count("tcp.drop.noAck");
    return;
  }

  // ---------------- ACK processing (RFC 9293 §3.10.7.4 "fifth check") ----------------
  if (tp.state === TCPS_SYN_RECEIVED) {
    if (seqLeq(th.ack, tp.sndUna) || seqGt(th.ack, tp.sndMax)) {
      host.count("tcp.drop.synRcvdBadAck");
      return dropWithReset(c, seg);
    }
    const l = c.parent;
    if (
      l !== undefined && !host.num("net.inet.tcp.syncache.rst_on_sock_fail") &&
      !l.acceptQueue.includes(c) && l.acceptQueue.length > Math.floor((3 * l.backlog) / 2)
    ) {
      // The accept queue is full (the bound of childEstablished): the ACK is dropped and the
      // connection stays SYN-RECEIVED; the SYN-ACK's retransmission draws the ACK again once
      // the app accepted (Linux's tcp_abort_on_overflow = 0; FreeBSD's default sends a RST).
      host.count("tcp.listen.queueOverflow");
      return;
    }
    // SYN-RECEIVED → ESTABLISHED (or FIN-WAIT-1 if the user already closed).
    tp.sndUna = seqAdd(tp.sndUna, 1); // our SYN
    const needFin = (tp.tFlags & TF_NEEDFIN) !== 0;
    tp.tFlags &= ~TF_NEEDFIN;
    if (!established(c, needFin ? TCPS_FIN_WAIT_1 : TCPS_ESTABLISHED)) return;
    tp.tFlags &= ~TF_NEEDSYN;
    if (tiwin === th.window && tp.sndScale) tiwin = th.window << tp.sndScale;
    // Hand over data queued during SYN-RECEIVED (if this segment brings none itself).
    if (tlen === 0 && !(thflags & TH_FIN) && c.reass.count > 0) {
      if (reass(c, tp.rcvNxt, new Uint8Array(0), false)) {
        c.cantRcvMore = true;
        tp.rcvNxt = seqAdd(tp.rcvNxt, 1);
        tp.state = TCPS_CLOSE_WAIT;
      }
      cleanSackList(c);
    }
    tp.sndWl1 = seqSub(seq, 1);
    if (tp.tRtttime !== 0 && seqGt(th.ack, tp.tRtseq)) xmitTimer(c, host.now() - tp.tRtttime);
    timerActivate(c, TT_REXMT, 0);
    tp.tRxtshift = 0;
    host.notify(c);
  }

  // RFC 6675 §5: SACK information updates the scoreboard before anything else.
  const useSack = (tp.tFlags & TF_SACK_PERMIT) !== 0 && tp.state >= TCPS_ESTABLISHED;
  let sackChanged = false;
  if (useSack && seqLeq(th.ack, tp.sndMax) && (to.sack !== undefined || c.sb.count > 0)) {
    const u = c.sb.update(seqMax(th.ack, tp.sndUna), tp.sndMax, to.sack ?? []);
    sackChanged = u.newlySacked > 0;
  }
  // RACK-TLP (functions_default=rack, RFC 8985): time-based loss detection on every ACK.
  if (
    c.rack !== undefined && rackActive(c) && seqLeq(th.ack, tp.sndMax) &&
    (to.sack !== undefined || seqGt(th.ack, tp.sndUna))
  ) {
    rackOnAck(c, th.ack, to.sack, to.ts?.ecr ?? 0);
  }

  if (seqLeq(th.ack, tp.sndUna)) {
    // Duplicate ACK (RFC 5681 §3.2): count it for fast retransmit when it carries nothing
    // (with SACK, when it reports newly SACKed data, RFC 6675 §5).
    if (
      tlen === 0 && (tiwin === tp.sndWnd || sackChanged) && !(thflags & TH_FIN) &&
      th.ack === tp.sndUna && tp.sndMax !== tp.sndUna
    ) {
      tp.tDupacks++;
      host.count("tcp.rx.dupack");
      if ((tp.tFlags & TF_FASTRECOVERY) && useSack) {
        sackRecoverySend(c); // RFC 6675 §5 step (C)
      } else if (tp.tDupacks > 3 && (tp.tFlags & TF_FASTRECOVERY)) {
        tp.sndCwnd += tp.tMaxseg; // window inflation during recovery (RFC 5681 §3.2 step 4)
        tcpOutput(c);
      } else if (
        !(tp.tFlags & TF_FASTRECOVERY) &&
        (tp.tDupacks === 3 || (useSack && c.sb.isLost(tp.sndUna, tp.tMaxseg)))
      ) {
        // Fast retransmit (RFC 5681 §3.2 / RFC 6582 §3.2), unless this loss is from before
        // the last recovery point (RFC 6582 §4.1 "avoiding multiple fast retransmits").
        if (seqLt(th.ack, tp.sndRecover) && tp.sndRecover !== tp.iss) {
          tp.tDupacks = 0;
          return step6(c, seg, seq, data, thflags, tiwin, false, needOutput);
        }
        if (useSack) sackUndoSave(c); // for an undo if it proves spurious (RFC 3522)
        ccCongSignal(c.ccv, CC_NDUPACK, host.now());
        tp.tFlags |= TF_FASTRECOVERY;
        host.count("tcp.fastRetransmit");
        if (useSack) {
          // RFC 6675 §5 step (4): cwnd = ssthresh, then send by pipe.
          c.sb.enterRecovery(tp.sndUna, tp.sndMax);
          tp.sndRecover = tp.sndMax;
          tp.sndCwnd = tp.sndSsthresh;
          timerActivate(c, TT_REXMT, 0);
          tp.tRtttime = 0;
          // Step (4.3): the first segment presumed lost goes out whatever pipe says.
          const first = tcpRetransmitRange(c, tp.sndUna, tp.tMaxseg);
          if (first > 0) c.sb.sent({ kind: "lost", seq: tp.sndUna, len: first }, tp.sndMax);
          sackRecoverySend(c);
          return step6(c, seg, seq, data, thflags, tiwin, false, needOutput);
        }
        const onxt = tp.sndNxt;
        timerActivate(c, TT_REXMT, 0);
        tp.tRtttime = 0;
        tp.sndNxt = th.ack;
        tp.sndCwnd = tp.tMaxseg;
        tcpOutput(c);
        tp.sndCwnd = tp.sndSsthresh + tp.tMaxseg * tp.tDupacks;
        if (seqGt(onxt, tp.sndNxt)) tp.sndNxt = onxt;
      } else if (
        !(tp.tFlags & TF_FASTRECOVERY) && tp.tDupacks < 3 && host.num("net.inet.tcp.rfc3042")
      ) {
        // Limited transmit (RFC 3042 §2): the first two duplicate ACKs each let one new
        // segment out beyond cwnd (never more than cwnd + 2·SMSS in flight), so a small
        // flight still draws the ACKs that trigger fast retransmit instead of an RTO.
        const ocwnd = tp.sndCwnd;
        const flight = seqDiff(tp.sndMax, tp.sndUna);
        const lim = Math.min(flight + tcpSegmentRoom(c), ocwnd + 2 * tp.tMaxseg);
        if (lim > ocwnd && tp.sndNxt === tp.sndMax) {
          tp.sndCwnd = lim;
          tcpOutput(c);
          tp.sndCwnd = ocwnd;
        }
      }
    } else tp.tDupacks = 0;
    return step6(c, seg, seq, data, thflags, tiwin, false, needOutput);
  }

  if (seqGt(th.ack, tp.sndMax)) {
    // ACK for something not yet sent: ACK and drop (RFC 9293; RFC 5961 §5).
    host.count("tcp.drop.ackTooMuch");
    return dropAfterAck(c, seg);
  }

  // New data acknowledged. A fast retransmit the echoed timestamp shows spurious is undone.
  if (useSack && c.sb.undo !== undefined) sackUndoCheck(c, th.ack, ts?.ecr ?? 0);
  let sackPartial = false;
  if ((tp.tFlags & TF_FASTRECOVERY) && seqLt(th.ack, tp.sndRecover) && useSack) {
    sackPartial = true; // RFC 6675: keep recovering by pipe once SND.UNA has moved
  } else if ((tp.tFlags & TF_FASTRECOVERY) && seqLt(th.ack, tp.sndRecover)) {
    // Partial ACK in recovery (RFC 6582 §3.2): retransmit the next hole, deflate.
    const onxt = tp.sndNxt;
    timerActivate(c, TT_REXMT, 0);
    tp.tRtttime = 0;
    tp.sndNxt = th.ack;
    const ocwnd = tp.sndCwnd;
    tp.sndCwnd = tp.tMaxseg + seqDiff(th.ack, tp.sndUna);
    tcpOutput(c);
    tp.sndCwnd = Math.max(tp.tMaxseg, ocwnd - seqDiff(th.ack, tp.sndUna) + tp.tMaxseg);
    if (seqGt(onxt, tp.sndNxt)) tp.sndNxt = onxt;
  } else if (tp.tFlags & (TF_FASTRECOVERY | TF_CONGRECOVERY)) {
    // Full ACK: leave recovery (RFC 6582 §3.2 step 3), cwnd as the algorithm says.
    if (seqGeq(th.ack, tp.sndRecover)) {
      ccPostRecovery(
        c.ccv,
        th.ack,
        host.now(),
        useSack ? c.sb.pipe(th.ack, tp.sndMax, tp.tMaxseg) : undefined,
      );
    }
    tp.tDupacks = 0;
  } else tp.tDupacks = 0;

  let acked = seqDiff(th.ack, tp.sndUna);

  // RTT sample: from the timestamp echo, else from the timed segment (Karn's rule).
  if (ts !== undefined && ts.ecr !== 0 && (tp.tFlags & TF_RCVD_TSTMP)) {
    const nowTs = (Math.floor(host.now() / 1000) + tp.tsOffset) >>> 0;
    const rttMs = seqDiff(nowTs, ts.ecr);
    if (rttMs >= 0 && rttMs < 3600 * 1000) xmitTimer(c, (rttMs + 1) * MS);
  } else if (tp.tRtttime !== 0 && seqGt(th.ack, tp.tRtseq)) {
    xmitTimer(c, host.now() - tp.tRtttime);
  }

  // All outstanding data acknowledged: stop the retransmission timer; else restart it.
  if (th.ack === tp.sndMax) {
    timerActivate(c, TT_REXMT, 0);
    needOutput = true;
  } else if (!timerActive(c, TT_PERSIST)) {
    timerActivate(c, TT_REXMT, tp.tRxtcur);
  }

  if (acked === 0) return step6(c, seg, seq, data, thflags, tiwin, false, needOutput);

  if (!(tp.tFlags & TF_FASTRECOVERY)) {
    ccAckReceived(
      c.ccv,
      CC_ACK,
      acked,
      Math.ceil(acked / tp.tMaxseg),
      tp.sndCwnd <= tp.sndWnd,
      host.now(),
      host.num("net.inet.tcp.abc_l_var"),
    );
  }

  let ourFinIsAcked = false;
  if ((tp.tFlags & TF_SENTFIN) && th.ack === tp.sndMax && acked > c.snd.length) {
    ourFinIsAcked = true;
    acked -= 1;
  }
  const dropBytes = Math.min(acked, c.snd.length);
  c.snd.drop(dropBytes);
  tp.sndWnd = Math.max(0, tp.sndWnd - dropBytes);
  tp.sndUna = th.ack;
  // Progress: the unacknowledged time starts again, or ends with nothing out.
  c.ackTime = tp.sndUna === tp.sndMax ? -1 : host.now();
  if (seqLt(tp.sndNxt, tp.sndUna)) tp.sndNxt = tp.sndUna;
  if (seqLt(tp.sndUp, tp.sndUna)) tp.sndUp = tp.sndUna;
  tp.tRxtshift = 0;
  host.notify(c);
  if (sackPartial) sackRecoverySend(c);

  switch (tp.state) {
    case TCPS_FIN_WAIT_1:
      if (ourFinIsAcked) {
        // Our FIN is acknowledged: FIN-WAIT-2. If the user can no longer receive (closed),
        // do not wait forever for the peer's FIN.
        if (c.cantRcvMore) {
          c.isDisconnected = true;
          const maxIdle = host.num("net.inet.tcp.finwait2_timeout") * MS;
          timerActivate(c, TT_2MSL, maxIdle);
        }
        tp.state = TCPS_FIN_WAIT_2;
      }
      break;
    case TCPS_CLOSING:
      if (ourFinIsAcked) {
        twStart(c);
        return;
      }
      break;
    case TCPS_LAST_ACK:
      if (ourFinIsAcked) {
        tcpClose(c);
        return;
      }
      break;
  }
  return step6(c, seg, seq, data, thflags, tiwin, false, needOutput);
}

/**
 * Window update, urgent data, data and FIN processing (FreeBSD "step6" / "dodata"), then
 * output.
 */
function step6(
  c: TcpConn,
  seg: Segment,
  seq: number,
  data: Uint8Array,
  thflags: number,
  tiwin: number,
  fromSynSent: boolean,
  needOutput: boolean,
): void {
  const tp = c.tp;
  const host = c.host;
  const th = seg.th;
  let tlen = data.length;

  // Window update (RFC 9293 §3.10.7.4 "fifth check", SND.WL1/SND.WL2 rule).
  if (
    !fromSynSent && (thflags & TH_ACK) &&
    (seqLt(tp.sndWl1, seq) ||
      (tp.sndWl1 === seq &&
        (seqLt(tp.sndWl2, th.ack) || (tp.sndWl2 === th.ack && tiwin > tp.sndWnd))))
  ) {
    if (tiwin === 0 && tp.sndWnd !== 0) tp.tSndZerowin++;
    tp.sndWnd = tiwin;
    tp.sndWl1 = seq;
    tp.sndWl2 = th.ack;
    if (tp.sndWnd > tp.maxSndWnd) tp.maxSndWnd = tp.sndWnd;
    needOutput = true;
  }

  // Urgent data (RFC 9293 §3.8.5; RFC 6093: the pointer points after the urgent byte).
  if ((thflags & TH_URG) && th.urgent > 0 && !haveRcvdFin(tp.state)) {
    const up = seqAdd(seq, th.urgent);
    if (seqGt(up, tp.rcvUp)) {
      tp.rcvUp = up;
      c.oobMark = c.rcv.length + seqDiff(up, tp.rcvNxt) - 1;
      tp.rcvUpValid = 1;
      host.notify(c);
    }
    // Pull the urgent byte out of band when it is in this segment (SO_OOBINLINE off).
    const idx = th.urgent - 1;
    if (!c.oobInline && idx < tlen && seq === tp.rcvNxt && c.reass.count === 0) {
      tp.oobByte = data[idx];
      tp.oobHave = 1;
      const nd = new Uint8Array(tlen - 1);
      nd.set(data.subarray(0, idx), 0);
      nd.set(data.subarray(idx + 1), idx);
      // The byte still occupies sequence space: deliver the rest, advance rcvNxt by tlen.
      appendRcv(c, nd);
      tp.rcvNxt = seqAdd(tp.rcvNxt, tlen);
      data = new Uint8Array(0);
      tlen = 0;
      tp.tFlags |= TF_ACKNOW;
    }
  } else if (seqGt(tp.rcvNxt, tp.rcvUp)) {
    tp.rcvUp = tp.rcvNxt;
  }

  // Data (RFC 9293 §3.10.7.4 "seventh check").
  if ((tlen > 0 || (thflags & TH_FIN)) && !haveRcvdFin(tp.state)) {
    const segStart = seq;
    if (
      seq === tp.rcvNxt && c.reass.count === 0 && tp.state >= TCPS_ESTABLISHED &&
      tp.state !== TCPS_SYN_RECEIVED
    ) {
      // In order, nothing queued: the fast path. Delay the ACK (RFC 1122 §4.2.3.2: at least
      // every second full segment).
      if (tlen > 0) {
        if (
          !timerActive(c, TT_DELACK) && !(tp.tFlags & TF_RXWIN0SENT) && tlen <= tp.tMaxseg &&
          host.num("net.inet.tcp.delayed_ack") && !fromSynSent &&
          ++c.segsIn > host.num("net.inet.tcp.quickack_segments")
        ) {
          tp.tFlags |= TF_DELACK;
        } else tp.tFlags |= TF_ACKNOW;
        tp.rcvNxt = seqAdd(tp.rcvNxt, tlen);
        appendRcv(c, data);
        host.notify(c);
      }
    } else if (tp.state === TCPS_SYN_RECEIVED && seq === tp.rcvNxt && c.reass.count === 0) {
      // Data with the handshake's SYN (simultaneous open): queued until established; a FIN
      // with it is not taken (FreeBSD's tcp_reass returns no flags before ESTABLISHED).
      reass(c, seq, data, false);
      thflags &= ~TH_FIN;
      tp.tFlags |= TF_ACKNOW;
    } else {
      // Out of order: queue and ACK now so the peer learns about the hole (RFC 5681 §4.2).
      if (tlen > 0 && seqGt(seq, tp.rcvNxt)) tp.tRcvOoopack++;
      const fin = reass(c, seq, data, (thflags & TH_FIN) !== 0);
      if (fin) thflags |= TH_FIN;
      else thflags &= ~TH_FIN;
      tp.tFlags |= TF_ACKNOW;
      host.notify(c);
    }
    if (tlen > 0 && (tp.tFlags & TF_SACK_PERMIT)) {
      updateSackList(c, segStart, seqAdd(segStart, tlen));
    }
    cleanSackList(c);
  } else {
    thflags &= ~TH_FIN;
  }

  // FIN (RFC 9293 §3.10.7.4 "eighth check").
  if (thflags & TH_FIN) {
    if (!haveRcvdFin(tp.state)) {
      c.cantRcvMore = true;
      tp.tFlags |= TF_ACKNOW;
      tp.rcvNxt = seqAdd(tp.rcvNxt, 1);
      cleanSackList(c);
    }
    switch (tp.state) {
      case TCPS_SYN_RECEIVED:
      case TCPS_ESTABLISHED:
        tp.state = TCPS_CLOSE_WAIT;
        break;
      case TCPS_FIN_WAIT_1:
        tp.state = TCPS_CLOSING;
        break;
      case TCPS_FIN_WAIT_2:
        twStart(c);
        tp.tFlags |= TF_ACKNOW;
        tcpOutput(c);
        return;
      case TCPS_TIME_WAIT:
        timerActivate(c, TT_2MSL, 2 * host.num("net.inet.tcp.msl") * MS);
        break;
    }
    host.notify(c);
  }

  // Data in flight always has a retransmission timer (unless persisting): FreeBSD's output
  // invariant, kept here too since recovery may send nothing on this ACK.
  if (
    tp.sndMax !== tp.sndUna && tp.state >= TCPS_ESTABLISHED && !timerActive(c, TT_REXMT) &&
    !timerActive(c, TT_PERSIST)
  ) {
    timerActivate(c, TT_REXMT, tp.tRxtcur);
  }
  if (tp.tFlags & TF_DELACK && !(tp.tFlags & TF_ACKNOW) && !timerActive(c, TT_DELACK)) {
    timerActivate(c, TT_DELACK, host.num("net.inet.tcp.delacktime") * MS);
  }
  if (needOutput || (tp.tFlags & TF_ACKNOW)) tcpOutput(c);
  else if (c.snd.length > 0 || (tp.tFlags & TF_NEEDFIN)) tcpOutput(c);
}

/** ACK the segment and drop it (FreeBSD dropafterack). */
function dropAfterAck(c: TcpConn, seg: Segment): void {
  const tp = c.tp;
  const th = seg.th;
  // RFC 9293: in SYN-RECEIVED an unacceptable ACK gets a RST instead.
  if (
    tp.state === TCPS_SYN_RECEIVED && (th.flags & TH_ACK) &&
    (seqGt(tp.sndUna, th.ack) || seqGt(th.ack, tp.sndMax))
  ) {
    return dropWithReset(c, seg);
  }
  tp.tFlags |= TF_ACKNOW;
  tcpOutput(c);
}

/**
 * TIME_WAIT (tcp_twcheck). Returns "reopen" when a new SYN may take over the 4-tuple
 * (RFC 9293 §3.10.7.4 note / RFC 6191), so the caller looks for a listener.
 */
export function timeWaitInput(c: TcpConn, seg: Segment): "done" | "reopen" {
  const tp = c.tp;
  const host = c.host;
  const th = seg.th;
  const thflags = th.flags;
  const tlen = th.payload.length;
  // RFC 1337: ignore RSTs in TIME_WAIT (no assassination).
  if (thflags & TH_RST) {
    host.count("tcp.tw.rstIgnored");
    return "done";
  }
  if ((thflags & TH_SYN) && !(thflags & TH_ACK)) {
    const ts = seg.to.ts;
    if (ts !== undefined && (tp.tFlags & TF_RCVD_TSTMP)) {
      // RFC 6191, as Linux: with timestamps the SYN's decides. Newer than the old
      // connection's last: a new connection, whatever its sequence number (a client reusing
      // its port after a long upload came in below the old space, and every SYN was dropped
      // until its connect timed out). Not newer: an old duplicate, answered with an ACK.
      if (seqGt(ts.val, tp.tsRecent)) {
        tcpClose(c);
        return "reopen";
      }
      host.count("tcp.tw.oldSyn");
      tcpRespond(host, c, tp.sndNxt, tp.rcvNxt, TH_ACK, twWindow(c), c);
      return "done";
    }
    // Without timestamps, a new SYN above the old sequence space (RFC 1122's TIME-WAIT rule).
    if (seqGt(th.seq, tp.rcvNxt)) {
      tcpClose(c);
      return "reopen";
    }
  }
  if (!(thflags & TH_ACK)) return "done";
  // A retransmitted FIN restarts the 2MSL wait (RFC 9293 §3.10.7.4).
  if (thflags & TH_FIN) {
    const s = seqAdd(th.seq, tlen + ((thflags & TH_SYN) ? 1 : 0));
    if (seqAdd(s, 1) === tp.rcvNxt) {
      timerActivate(c, TT_2MSL, 2 * host.num("net.inet.tcp.msl") * MS);
    }
  }
  // Acknowledge anything but a plain duplicate ACK of our FIN.
  if (thflags !== TH_ACK || tlen !== 0 || th.seq !== tp.rcvNxt || th.ack !== tp.sndNxt) {
    tcpRespond(host, c, tp.sndNxt, tp.rcvNxt, TH_ACK, twWindow(c), c);
  }
  return "done";
}

/** The window a TIME_WAIT ACK advertises (what tcp_output would say). */
function twWindow(c: TcpConn): number {
  const tp = c.tp;
  return Math.min(Math.max(0, c.rcvHiwat - c.rcv.length) >> tp.rcvScale, 65535);
}

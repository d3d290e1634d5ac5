/**
 * tcp_timer: what happens when a connection's timer fires — delayed ACK, retransmission
 * (RFC 6298 §5 with FreeBSD's backoff table and slop), persist (RFC 9293 §3.8.6.1), keepalive
 * and connection-establishment timeout (RFC 1122 §4.2.3.6), 2MSL / FIN_WAIT_2.
 * Deadlines live on the stack's Timers (conn.ts timerActivate).
 *
 * @module
 */
import { type TcpConn, timerActivate } from "./conn.ts";
import { seqSub } from "./seq.ts";
import {
  TCPS_CLOSING,
  TCPS_ESTABLISHED,
  TCPS_FIN_WAIT_1,
  TCPS_SYN_RECEIVED,
  TCPS_SYN_SENT,
  TCPS_TIME_WAIT,
  TF2_PLPMTU_BLACKHOLE,
  TF2_PLPMTU_MAXSEGSNT,
  TF2_PLPMTU_MINMSS,
  TF_ACKNOW,
  TF_FORCEDATA,
  TF_REQ_SCALE,
  TF_REQ_TSTMP,
  TF_SACK_PERMIT,
  TT_2MSL,
  TT_DELACK,
  TT_KEEP,
  TT_PERSIST,
  TT_RACK,
  TT_REXMT,
} from "./tcpcb.ts";
import { ETIMEDOUT } from "../errno.ts";
import { setPersist, tcpOutput } from "./output.ts";
import { rttConfig, tcpClose, tcpDrop, tcpRespond } from "./subr.ts";
import { rttBackoff, rttOnTimeout, TCP_BACKOFF, TCP_MAXRXTSHIFT } from "./rtt.ts";
import { rackTimer } from "./rack_recovery.ts";
import { sackProbeTimer } from "./sack_recovery.ts";
import { TH_ACK } from "../wire/tcp.ts";
import { recvWindow } from "./output.ts";
import { CC_RTO, ccCongSignal } from "./cc/builtin.ts";

const MS = 1000;

/** Dispatches an expired timer. */
export function tcpTimerFire(c: TcpConn, kind: number): void {
  switch (kind) {
    case TT_DELACK:
      c.tp.tFlags |= TF_ACKNOW;
      c.host.count("tcp.delack.fired");
      tcpOutput(c);
      break;
    case TT_REXMT:
      rexmtTimer(c);
      break;
    case TT_PERSIST:
      persistTimer(c);
      break;
    case TT_KEEP:
      keepTimer(c);
      break;
    case TT_2MSL:
      twoMslTimer(c);
      break;
    case TT_RACK:
      // RACK's timer, or the default stack's SACK recovery probe (sack_recovery.ts)
      if (c.rack === undefined) sackProbeTimer(c);
      else rackTimer(c);
      break;
  }
  c.host.notify(c);
}

/**
 * TCP_USER_TIMEOUT: the connection waited longer than the user allows since `since` (µs; < 0:
 * it is not waiting). Dropped then (ETIMEDOUT), as FreeBSD's TCP_MAXUNACKTIME and Linux's user
 * timeout: PostgreSQL's tcp_user_timeout ended a backend writing to a vanished client in 3.5 s
 * on Linux, never here.
 */
function userTimedOut(c: TcpConn, since: number): boolean {
  if (c.maxUnack === 0 || since < 0 || c.host.now() - since < c.maxUnack) return false;
  c.host.count("tcp.timeout.userTimeout");
  tcpDrop(c, ETIMEDOUT);
  return true;
}

/** A retransmission timer `rexmt` (µs) fires no later than the user timeout's end. */
function untilUserTimeout(c: TcpConn, rexmt: number): number {
  if (c.maxUnack === 0 || c.ackTime < 0) return rexmt;
  return Math.max(MS, Math.min(rexmt, c.ackTime + c.maxUnack - c.host.now()));
}

function rexmtTimer(c: TcpConn): void {
  const tp = c.tp;
  const host = c.host;
  // Data (or an active open's SYN) unacknowledged that long.
  const waits = tp.state >= TCPS_ESTABLISHED || tp.state === TCPS_SYN_SENT;
  if (waits && userTimedOut(c, c.ackTime)) return;
  tp.tRxtshift++;
  if (tp.state === TCPS_SYN_SENT && c.synRetries > 0 && tp.tRxtshift > c.synRetries) {
    // TCP_SYNCNT: that many SYNs retransmitted, and this timeout after the last one.
    host.count("tcp.timeout.synRetries");
    tcpDrop(c, c.soError || ETIMEDOUT);
    return;
  }
  if (c.parent !== undefined && tp.state === TCPS_SYN_RECEIVED) {
    // A passive open not yet completed behaves like a syncache entry: a few SYN-ACK
    // retransmissions, then it is forgotten without a RST.
    if (tp.tRxtshift > host.num("net.inet.tcp.syncache.rexmtlimit")) {
      host.count("tcp.syncache.expired");
      tcpClose(c);
      return;
    }
    tp.tRxtcur = host.num("net.inet.tcp.rexmit_initial") * MS * TCP_BACKOFF[tp.tRxtshift];
    tp.sndNxt = tp.sndUna;
    tcpOutput(c);
    return;
  }
  if (tp.tRxtshift > TCP_MAXRXTSHIFT) {
    tp.tRxtshift = TCP_MAXRXTSHIFT;
    host.count("tcp.timeout.drop");
    tcpDrop(c, c.soError || ETIMEDOUT);
    return;
  }
  pmtudBlackhole(c);
  const cfg = rttConfig(host);
  let rexmt: number;
  if (tp.state === TCPS_SYN_SENT) {
    rexmt = rttBackoff(tp, cfg, tp.tRxtshift, true);
    tp.tEcnRetries++;
    if (tp.tRxtshift === 3 && host.num("net.inet.tcp.rexmit_drop_options")) {
      tp.tFlags &= ~(TF_REQ_SCALE | TF_REQ_TSTMP | TF_SACK_PERMIT);
    }
  } else {
    rexmt = rttBackoff(tp, cfg, tp.tRxtshift, tp.state === TCPS_SYN_RECEIVED);
  }
  tp.tRxtcur = untilUserTimeout(c, rexmt);
  rttOnTimeout(tp, tp.tRxtshift); // a stale estimate is forgotten after a few back-offs
  tp.sndNxt = tp.sndUna;
  tp.sndRecover = tp.sndMax;
  c.sb.reset(); // FreeBSD forgets the scoreboard on a timeout (RFC 6675 §5.1 allows it)
  if (c.rack !== undefined) {
    c.rack.reset(); // everything outstanding is resent from SND.UNA
    timerActivate(c, TT_RACK, 0);
  }
  tp.tRtttime = 0;
  tp.tDupacks = 0;
  // RFC 5681 §3.1: on timeout ssthresh = max(FlightSize/2, 2·SMSS), cwnd = 1 segment.
  if (tp.state >= TCPS_ESTABLISHED) ccCongSignal(c.ccv, CC_RTO, host.now());
  tp.tFlags |= TF_ACKNOW;
  host.count("tcp.rexmt.timeout");
  tcpOutput(c);
}

function persistTimer(c: TcpConn): void {
  const tp = c.tp;
  const host = c.host;
  host.count("tcp.persist.probe");
  // A zero window the peer keeps answering for is not unacknowledged data (Linux: the user
  // timeout ends window probing only when the peer has been silent that long).
  if (userTimedOut(c, tp.tRcvtime)) return;
  // An orphan (closed by its user: nobody will read or write it) stops probing a zero window
  // after net.inet.tcp.orphan_probes probes, as Linux's tcp_orphan_retries: a peer that
  // stopped reading but answered the probes held it in FIN_WAIT_1 for good (a helper's run).
  const orphanProbes = host.num("net.inet.tcp.orphan_probes");
  if (c.closed && orphanProbes > 0 && tp.tPersistShift >= orphanProbes) {
    host.count("tcp.persist.orphanDrop");
    tcpDrop(c, ETIMEDOUT);
    return;
  }
  // RFC 6429: keep probing while the peer answers; give up after the backoff is exhausted
  // and the peer has been silent for longer than the maximum idle time.
  const maxIdle = host.num("net.inet.tcp.keepcnt") * host.num("net.inet.tcp.keepintvl") * MS;
  if (tp.tPersistShift >= TCP_MAXRXTSHIFT && host.now() - tp.tRcvtime >= maxIdle) {
    tcpDrop(c, ETIMEDOUT);
    return;
  }
  if (tp.sndWnd > 0 && tp.sndMax !== tp.sndUna) {
    // The window is open again and data is in flight: that is the retransmission timer's job.
    tp.tPersistShift = 0;
    timerActivate(c, TT_REXMT, tp.tRxtcur);
    tcpOutput(c);
    return;
  }
  setPersist(c);
  tp.tFlags |= TF_FORCEDATA;
  tcpOutput(c);
  tp.tFlags &= ~TF_FORCEDATA;
}

/** Keepalive idle/interval/count of a connection (socket option or sysctl), µs. */
export function keepIdle(c: TcpConn): number {
  return c.tp.tKeepidle || c.host.num("net.inet.tcp.keepidle") * MS;
}
export function keepIntvl(c: TcpConn): number {
  return c.tp.tKeepintvl || c.host.num("net.inet.tcp.keepintvl") * MS;
}
export function keepCnt(c: TcpConn): number {
  return c.tp.tKeepcnt || c.host.num("net.inet.tcp.keepcnt");
}
export function keepInit(c: TcpConn): number {
  return c.tp.tKeepinit || c.host.num("net.inet.tcp.keepinit") * MS;
}

function keepTimer(c: TcpConn): void {
  const tp = c.tp;
  const host = c.host;
  if (tp.state < TCPS_ESTABLISHED) {
    host.count("tcp.keepinit.drop");
    tcpDrop(c, ETIMEDOUT);
    return;
  }
  // SO_KEEPALIVE, or every connection with net.inet.tcp.always_keepalive (FreeBSD's default).
  const on = c.keepalive || host.num("net.inet.tcp.always_keepalive") === 1;
  if (on && tp.state <= TCPS_CLOSING) {
    const idle = host.now() - tp.tRcvtime;
    if (idle >= keepIdle(c) + keepCnt(c) * keepIntvl(c)) {
      host.count("tcp.keepalive.drop");
      tcpDrop(c, ETIMEDOUT);
      return;
    }
    if (idle >= keepIdle(c)) {
      // RFC 1122 §4.2.3.6: a probe with an old sequence number elicits an ACK.
      host.count("tcp.keepalive.probe");
      tcpRespond(
        host,
        c,
        seqSub(tp.sndUna, 1),
        tp.rcvNxt,
        TH_ACK,
        Math.min(recvWindow(c) >> tp.rcvScale, 65535),
        c,
      );
      timerActivate(c, TT_KEEP, keepIntvl(c));
      return;
    }
    timerActivate(c, TT_KEEP, keepIdle(c) - idle);
    return;
  }
  timerActivate(c, TT_KEEP, keepIdle(c));
}

function twoMslTimer(c: TcpConn): void {
  const tp = c.tp;
  const host = c.host;
  if (tp.state === TCPS_TIME_WAIT) {
    tcpClose(c);
    return;
  }
  // FIN_WAIT_2 after the user closed: give up once the peer has been idle long enough.
  const maxIdle = host.num("net.inet.tcp.keepcnt") * host.num("net.inet.tcp.keepintvl") * MS;
  const idle = host.now() - tp.tRcvtime;
  if (idle <= maxIdle) timerActivate(c, TT_2MSL, keepIntvl(c));
  else tcpClose(c);
}

/**
 * PMTUD black-hole detection (RFC 4821 §2 idea, FreeBSD's net.inet.tcp.pmtud_blackhole_*):
 * when full-size segments keep timing out, try the black-hole MSS for two retransmissions,
 * then the default MSS for two more, then restore the original one.
 */
function pmtudBlackhole(c: TcpConn): void {
  const tp = c.tp;
  const host = c.host;
  if (
    !host.num("net.inet.tcp.pmtud_blackhole_detection") ||
    !host.num("net.inet.tcp.path_mtu_discovery") ||
    (tp.state !== TCPS_ESTABLISHED && tp.state !== TCPS_FIN_WAIT_1)
  ) return;
  const v6 = c.version === 6;
  if (
    (tp.tFlags2 & TF2_PLPMTU_MAXSEGSNT) && !(tp.tFlags2 & TF2_PLPMTU_MINMSS) &&
    tp.tRxtshift >= 2 && tp.tRxtshift < 6 && tp.tRxtshift % 2 === 0
  ) {
    const bh = host.num(
      v6 ? "net.inet.tcp.v6pmtud_blackhole_mss" : "net.inet.tcp.pmtud_blackhole_mss",
    );
    const dflt = host.num(v6 ? "net.inet.tcp.v6mssdflt" : "net.inet.tcp.mssdflt");
    const toDefault = tp.tMaxseg <= bh;
    const target = toDefault ? dflt : bh;
    if (target < tp.tMaxseg) {
      if (!(tp.tFlags2 & TF2_PLPMTU_BLACKHOLE)) {
        tp.tFlags2 |= TF2_PLPMTU_BLACKHOLE;
        tp.tPmtudSavedMaxseg = tp.tMaxseg;
      }
      tp.tMaxseg = target;
      if (toDefault) tp.tFlags2 |= TF2_PLPMTU_MINMSS;
      host.count("tcp.pmtud.blackholeActivated");
    } else if (tp.tFlags2 & TF2_PLPMTU_BLACKHOLE) {
      // Nothing smaller left to try: not a black hole after all.
      tp.tFlags2 &= ~(TF2_PLPMTU_BLACKHOLE | TF2_PLPMTU_MINMSS);
      tp.tMaxseg = tp.tPmtudSavedMaxseg;
      host.count("tcp.pmtud.blackholeFailed");
    }
  } else if ((tp.tFlags2 & TF2_PLPMTU_BLACKHOLE) && tp.tRxtshift >= 6) {
    // Still failing with a small MSS: not a black hole; back to what we had.
    tp.tFlags2 &= ~(TF2_PLPMTU_BLACKHOLE | TF2_PLPMTU_MINMSS);
    tp.tMaxseg = tp.tPmtudSavedMaxseg;
    host.count("tcp.pmtud.blackholeFailed");
  }
}

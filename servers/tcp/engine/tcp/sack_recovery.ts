/**
 * SACK loss recovery's sending side (RFC 6675 §5 steps (C.1)–(C.5)) and its probe timer.
 *
 * {@link sackRecoverySend}: while cwnd − pipe ≥ 1 SMSS, NextSeg() picks a lost or un-SACKed
 * segment to retransmit, new data, or a rescue retransmission. Sizes are the segment room
 * the options leave (tcpSegmentRoom), and what really went out is what the scoreboard records.
 *
 * The recovery probe: RFC 6675 only learns of losses from SACKs of data sent later, so when
 * the last part of a flight is lost too (a burst at the tail, or retransmissions lost while
 * cwnd is used up), no ACK comes back and only the RTO (≥ 230 ms here, then a window of one
 * segment) repairs it. Each ACK in recovery re-arms a probe timeout (PTO = 2·SRTT, at least
 * 20 ms; RFC 8985 §7.2's PTO); when it expires with nothing heard, everything un-SACKed that
 * was sent is deemed lost (it was sent at least a PTO ago) and recovery resends it within
 * cwnd, without the timeout's collapse of cwnd. Two probes in a row without the cumulative
 * ACK moving leave the rest to the RTO. The default stack's timer slot is TT_RACK (unused
 * when RACK is off).
 *
 * @module
 */
import { type TcpConn, timerActivate } from "./conn.ts";
import { TF_FASTRECOVERY, TT_RACK } from "./tcpcb.ts";
import { seqDiff } from "./seq.ts";
import { tcpOutput, tcpRetransmitRange, tcpSegmentRoom } from "./output.ts";
import { rttSrtt } from "./rtt.ts";

const MS = 1000;
/** Smallest probe timeout (µs). */
export const SACK_PTO_MIN = 20 * MS;

/** Sends what recovery allows now (RFC 6675 §5 (C)); re-arms the recovery probe. */
export function sackRecoverySend(c: TcpConn): void {
  const tp = c.tp;
  const sb = c.sb;
  if (c.rack === undefined && (tp.tFlags & TF_FASTRECOVERY)) {
    timerActivate(c, TT_RACK, Math.max(SACK_PTO_MIN, 2 * rttSrtt(tp)));
  }
  for (let i = 0; i < 1000; i++) {
    const smss = tcpSegmentRoom(c);
    const pipe = sb.pipe(tp.sndUna, tp.sndMax, smss);
    if (tp.sndCwnd - pipe < smss) return;
    const outstanding = seqDiff(tp.sndMax, tp.sndUna);
    const canNew = c.snd.length > outstanding && outstanding + tp.tMaxseg <= tp.sndWnd;
    const s = sb.nextSeg(tp.sndUna, tp.sndMax, smss, canNew);
    if (s.kind === "none") return;
    if (s.kind === "new") {
      const before = tp.sndMax;
      const ocwnd = tp.sndCwnd;
      tp.sndNxt = tp.sndMax;
      tp.sndCwnd = outstanding + tp.tMaxseg;
      tcpOutput(c);
      tp.sndCwnd = ocwnd;
      if (tp.sndMax === before) return;
      continue;
    }
    const n = tcpRetransmitRange(c, s.seq, s.len);
    if (n === 0) return;
    if (s.kind === "relost") c.host.count("tcp.sack.lostRexmit"); // resent: it was lost again
    sb.sent({ ...s, len: Math.min(n, s.len) }, tp.sndMax);
  }
}

/** The recovery probe timeout expired (TT_RACK without RACK): see the module doc. */
export function sackProbeTimer(c: TcpConn): void {
  const tp = c.tp;
  const sb = c.sb;
  if (!(tp.tFlags & TF_FASTRECOVERY) || tp.sndUna === tp.sndMax) return;
  if (sb.probes > 0 && sb.probeUna === tp.sndUna) {
    if (sb.probes >= 2) return; // no progress: the RTO takes over
    sb.probes++;
  } else {
    sb.probeUna = tp.sndUna;
    sb.probes = 1;
  }
  c.host.count("tcp.sack.probe");
  sb.markAllLost(tp.sndMax);
  sackRecoverySend(c);
}

/**
 * Undoing a spurious fast retransmit (Eifel detection, RFC 3522, with the response of
 * RFC 4015 reduced to its core: restore the congestion state the retransmit reduced).
 *
 * Reordering by more than DupThresh segments (a relay that holds a frame back behind three
 * later ones, a multi-path link) makes the sender fast retransmit a segment that was only
 * late, halving cwnd each time; on a long RTT the window then takes many round trips to grow
 * back, so 5 % reordering at 50 ms made a bulk transfer 20× slower. With timestamps
 * (RFC 7323) the first ACK that covers the retransmitted segment tells which copy arrived
 * first: it echoes the TSval of the segment that filled the hole (RFC 7323 §4.3), so an echo
 * older than the retransmission's TSval means the original got there first and the loss was
 * not one. Then cwnd, ssthresh and the recovery point return to what they were and recovery
 * ends; real losses in the same window are found again by SACK (IsLost) as usual. A TS
 * granularity of 1 ms makes the test conservative: on paths faster than that the echo equals
 * the retransmission's TSval and nothing is undone.
 *
 * @module
 */
import type { TcpConn } from "./conn.ts";
import { TF_FASTRECOVERY, TF_RCVD_TSTMP, TF_REQ_TSTMP } from "./tcpcb.ts";
import { seqGt, seqLt } from "./seq.ts";
import { tsNow } from "./output.ts";
import { exitRecovery } from "./cc/mod.ts";

/**
 * Call just before the congestion signal of a fast retransmit of SND.UNA: remembers cwnd,
 * ssthresh, the recovery point and the TSval the retransmission will carry.
 */
export function sackUndoSave(c: TcpConn): void {
  const tp = c.tp;
  const both = TF_REQ_TSTMP | TF_RCVD_TSTMP;
  // Only the first retransmission of a segment (RFC 3522 §2): with an earlier retransmission
  // (a previous episode's, or the timeout's go-back-N, tRxtshift) an old echo proves nothing.
  const again = (c.sb.rxHighSet && seqGt(c.sb.rxHigh, tp.sndUna)) || tp.tRxtshift > 0;
  c.sb.undo = (tp.tFlags & both) === both && !again
    ? {
      cwnd: tp.sndCwnd,
      ssthresh: tp.sndSsthresh,
      recover: tp.sndRecover,
      una: tp.sndUna,
      tsVal: tsNow(c),
    }
    : undefined;
}

/**
 * On an ACK of new data (`ack` > SND.UNA) in fast recovery, with the echoed timestamp `ecr`
 * (0 without): the first one past the retransmitted segment decides. Returns true when the
 * retransmit was spurious and the congestion state was restored (recovery left).
 */
export function sackUndoCheck(c: TcpConn, ack: number, ecr: number): boolean {
  const tp = c.tp;
  const u = c.sb.undo;
  if (u === undefined || !seqGt(ack, u.una)) return false;
  c.sb.undo = undefined;
  if (!(tp.tFlags & TF_FASTRECOVERY) || ecr === 0 || !seqLt(ecr, u.tsVal)) return false;
  tp.sndCwnd = Math.max(tp.sndCwnd, u.cwnd);
  tp.sndSsthresh = Math.max(tp.sndSsthresh, u.ssthresh);
  tp.sndRecover = u.recover;
  exitRecovery(tp);
  tp.tDupacks = 0;
  c.host.count("tcp.sack.spuriousUndo");
  return true;
}

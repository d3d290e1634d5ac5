/**
 * NewReno (RFC 5681, RFC 6582) with FreeBSD's behaviour: appropriate byte counting
 * (RFC 3465, net.inet.tcp.rfc3465 = 1, L = net.inet.tcp.abc_l_var = 2) in slow start, one MSS
 * per cwnd of acked bytes in congestion avoidance, growth only when cwnd-limited
 * (RFC 7661 §4.5's spirit), ssthresh = max(FlightSize/2, 2·MSS) (RFC 5681 eq. 4) on loss,
 * the restart window after idle (RFC 5681 §4.1).
 *
 * @module
 */
import {
  CC_ACK,
  CC_ECN,
  CC_NDUPACK,
  CC_RTO,
  type CcAlgo,
  CCF_ABC_SENTAWND,
  CCF_CWND_LIMITED,
  ccInitialWindow,
  type CcVar,
  enterCongRecovery,
  enterRecovery,
  inCongRecovery,
  inFastRecovery,
  inRecovery,
  maxCwnd,
  registerCc,
} from "./mod.ts";

/** Tunables (FreeBSD sysctl names in comments). */
export const newrenoConfig = {
  /** net.inet.tcp.rfc3465: use appropriate byte counting. */
  rfc3465: true,
  /** net.inet.tcp.abc_l_var: slow-start increase limit L, in segments per ACKed segment. */
  abcLVar: 2,
  /** net.inet.tcp.cc.newreno.beta: percent of cwnd kept on loss. */
  beta: 50,
  /** net.inet.tcp.cc.newreno.beta_ecn: percent kept on an ECN signal. */
  betaEcn: 50,
  /** net.inet.tcp.initcwnd_segments, for the restart window. */
  initcwndSegments: 10,
};

/** Slow start / congestion avoidance growth shared with CUBIC's slow start. */
export function renoAckGrowth(ccv: CcVar, abcLVar: number, rfc3465: boolean): number {
  const tp = ccv.tp;
  const mss = tp.tMaxseg;
  const cw = tp.sndCwnd;
  let incr = mss;
  if (cw > tp.sndSsthresh) {
    // Congestion avoidance: +1 MSS per cwnd of acked bytes (RFC 5681 §3.1 eq. 3, RFC 3465).
    if (rfc3465) {
      if (ccv.flags & CCF_ABC_SENTAWND) ccv.flags &= ~CCF_ABC_SENTAWND;
      else incr = 0;
    } else {
      incr = Math.max(Math.floor((incr * incr) / cw), 1);
    }
  } else if (rfc3465) {
    // Slow start: +bytes acked, at most L·SMSS per ACK (RFC 3465 §2.2); only 1 SMSS while
    // retransmitting (snd_nxt < snd_max), as FreeBSD does.
    incr = tp.sndNxt === tp.sndMax
      ? Math.min(ccv.bytesThisAck, ccv.nsegs * abcLVar * mss)
      : Math.min(ccv.bytesThisAck, mss);
  }
  return incr;
}

/** Loss window: beta% of cwnd, in whole segments, at least 2 (RFC 5681 eq. 4). */
function lossWin(ccv: CcVar, beta: number): number {
  const mss = ccv.tp.tMaxseg;
  return Math.max(Math.floor((ccv.tp.sndCwnd * beta) / 100 / mss), 2) * mss;
}

export const newreno: CcAlgo = {
  name: "newreno",

  ackReceived(ccv, type) {
    const tp = ccv.tp;
    if (type !== CC_ACK || inRecovery(tp) || !(ccv.flags & CCF_CWND_LIMITED)) return;
    const incr = renoAckGrowth(ccv, newrenoConfig.abcLVar, newrenoConfig.rfc3465);
    if (incr > 0) tp.sndCwnd = Math.min(tp.sndCwnd + incr, maxCwnd(tp));
  },

  congSignal(ccv, type) {
    const tp = ccv.tp;
    const mss = tp.tMaxseg;
    switch (type) {
      case CC_NDUPACK:
        // RFC 6582 §3.2 step 2 / RFC 5681 §3.2 step 2: ssthresh = max(FlightSize/2, 2·SMSS),
        // once per recovery; an ECN reduction already in effect is not repeated.
        if (!inFastRecovery(tp)) {
          if (!inCongRecovery(tp)) tp.sndSsthresh = lossWin(ccv, newrenoConfig.beta);
          enterRecovery(tp);
        }
        break;
      case CC_ECN:
        // RFC 3168 §6.1.2: halve once per window of data.
        if (!inCongRecovery(tp)) {
          const w = lossWin(ccv, newrenoConfig.betaEcn);
          tp.sndSsthresh = w;
          tp.sndCwnd = w;
          enterCongRecovery(tp);
        }
        break;
      case CC_RTO:
        // RFC 5681 §3.1 eq. 4 and step 5.6 of RFC 6298: ssthresh from the flight, cwnd = 1 SMSS.
        tp.sndSsthresh = Math.max(Math.floor(Math.min(tp.sndWnd, tp.sndCwnd) / 2 / mss), 2) *
          mss;
        tp.sndCwnd = mss;
        break;
    }
  },

  postRecovery(ccv) {
    // RFC 6582 §3.2 step 3 (option 1 with FreeBSD's guard): deflate to ssthresh, or to
    // pipe + 1 SMSS when less than ssthresh is in flight, to avoid a burst.
    const tp = ccv.tp;
    if (!inFastRecovery(tp)) return;
    const pipe = ccv.pipe ?? Math.max(0, (tp.sndMax - ccv.curack) | 0);
    tp.sndCwnd = pipe < tp.sndSsthresh ? Math.max(pipe, tp.tMaxseg) + tp.tMaxseg : tp.sndSsthresh;
  },

  afterIdle(ccv) {
    // RFC 5681 §4.1: restart from min(RW, cwnd); remember 3/4 of the old cwnd in ssthresh.
    const tp = ccv.tp;
    const rw = ccInitialWindow(tp.tMaxseg, newrenoConfig.initcwndSegments);
    tp.sndSsthresh = Math.max(tp.sndSsthresh, tp.sndCwnd - (tp.sndCwnd >> 2));
    tp.sndCwnd = Math.min(rw, tp.sndCwnd);
  },
};

registerCc(newreno);

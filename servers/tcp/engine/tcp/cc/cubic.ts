/**
 * CUBIC (RFC 9438). Window growth after a congestion event follows
 * `W_cubic(t) = C·(t − K)³ + W_max` (§4.2, eq. 1) with `K = ∛((W_max − cwnd_epoch)/C)` (eq. 2),
 * C = 0.4, β_cubic = 0.7; a Reno-friendly estimate `W_est` (§4.3, α_cubic = 3(1−β)/(1+β)
 * until W_est reaches the cwnd before the reduction, then 1) keeps it no slower than Reno; fast
 * convergence (§4.7) releases bandwidth when W_max shrinks. Slow start is Reno's with ABC.
 *
 * Windows are kept in bytes; the cubic function works in segments and seconds as the RFC does.
 *
 * @module
 */
import {
  CC_ACK,
  CC_ECN,
  CC_NDUPACK,
  CC_RTO,
  CC_RTO_ERR,
  type CcAlgo,
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
import { newrenoConfig, renoAckGrowth } from "./newreno.ts";

/** RFC 9438 §5: C and β_cubic. */
export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
const ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** Per-connection CUBIC state. */
export interface CubicState {
  /** W_max in bytes (the window before the last reduction). */
  wMax: number;
  /** W_max before that, for fast convergence. */
  wLastMax: number;
  /** cwnd just before the last reduction (cwnd_prior of §4.3), bytes. */
  cwndPrior: number;
  /** K in seconds. */
  k: number;
  /** Start of the current congestion-avoidance epoch (µs), or -1 when none. */
  epochStart: number;
  /** Reno-friendly estimate W_est, bytes (fractional). */
  wEst: number;
  /** Fractional cwnd growth not yet applied (bytes). */
  acc: number;
  /** Smoothed RTT (µs) from rttSample, 0 = none; and the minimum seen. */
  srtt: number;
  minRtt: number;
  /** Values saved at an RTO, restored by CC_RTO_ERR. */
  prevWMax: number;
  prevK: number;
  /** Congestion events seen. */
  congEvents: number;
}

function st(ccv: CcVar): CubicState {
  return ccv.data as CubicState;
}

/** W_cubic(t) in bytes, t in seconds (RFC 9438 eq. 1). */
export function cubicWindow(s: CubicState, tSec: number, mss: number): number {
  const d = tSec - s.k;
  return (CUBIC_C * d * d * d) * mss + s.wMax;
}

/** K in seconds for a reduction from wMax to cwnd (RFC 9438 eq. 2). */
export function cubicK(wMax: number, cwnd: number, mss: number): number {
  return wMax <= cwnd ? 0 : Math.cbrt((wMax - cwnd) / mss / CUBIC_C);
}

/** A congestion event (§4.6 multiplicative decrease, §4.7 fast convergence): ssthresh. */
function reduce(ccv: CcVar): number {
  const tp = ccv.tp;
  const s = st(ccv);
  const mss = tp.tMaxseg;
  const cwnd = tp.sndCwnd;
  s.congEvents++;
  s.cwndPrior = cwnd;
  if (cwnd < s.wMax) {
    // Fast convergence: W_max = cwnd·(1 + β)/2.
    s.wLastMax = s.wMax;
    s.wMax = cwnd * (1 + CUBIC_BETA) / 2;
  } else {
    s.wLastMax = s.wMax;
    s.wMax = cwnd;
  }
  s.epochStart = -1;
  s.acc = 0;
  return Math.max(Math.floor(cwnd * CUBIC_BETA), 2 * mss);
}

/** A connection's CUBIC state before any congestion event. */
function newCubicState(): CubicState {
  return {
    wMax: 0,
    wLastMax: 0,
    cwndPrior: 0,
    k: 0,
    epochStart: -1,
    wEst: 0,
    acc: 0,
    srtt: 0,
    minRtt: 0,
    prevWMax: 0,
    prevK: 0,
    congEvents: 0,
  };
}

export const cubic: CcAlgo = {
  name: "cubic",
  // Every field of the state: a field added to CubicState is saved by a TCB store unasked.
  stateFields: Object.keys(newCubicState()).sort(),

  cbInit(ccv) {
    ccv.data = newCubicState();
  },

  ackReceived(ccv, type, now) {
    const tp = ccv.tp;
    if (type !== CC_ACK || inRecovery(tp) || !(ccv.flags & CCF_CWND_LIMITED)) return;
    const mss = tp.tMaxseg;
    if (tp.sndCwnd <= tp.sndSsthresh) {
      // Slow start (§4.10: as Reno, with ABC).
      const incr = renoAckGrowth(ccv, newrenoConfig.abcLVar, true);
      tp.sndCwnd = Math.min(tp.sndCwnd + incr, maxCwnd(tp));
      return;
    }
    const s = st(ccv);
    if (s.epochStart < 0) {
      // §4.2: a new epoch starts at the first ACK in congestion avoidance.
      s.epochStart = now;
      if (tp.sndCwnd < s.wMax) {
        s.k = cubicK(s.wMax, tp.sndCwnd, mss);
      } else {
        s.k = 0;
        s.wMax = tp.sndCwnd;
      }
      s.wEst = tp.sndCwnd;
      s.acc = 0;
    }
    const cwnd = tp.sndCwnd;
    const rtt = s.srtt > 0 ? s.srtt : 100_000;
    const t = (now - s.epochStart) / 1e6;
    // §4.3: Reno-friendly region.
    const alpha = s.wEst >= s.cwndPrior ? 1 : ALPHA;
    s.wEst += (alpha * mss * ccv.bytesThisAck) / cwnd;
    const wc = cubicWindow(s, t, mss);
    let next: number;
    if (wc < s.wEst) {
      next = s.wEst;
    } else {
      // §4.4/4.5: target = W_cubic(t + RTT), clamped to [cwnd, 1.5·cwnd];
      // cwnd grows by (target − cwnd)/cwnd per acked segment.
      let target = cubicWindow(s, t + rtt / 1e6, mss);
      if (target < cwnd) target = cwnd;
      if (target > 1.5 * cwnd) target = 1.5 * cwnd;
      next = cwnd + ((target - cwnd) * ccv.bytesThisAck) / cwnd;
    }
    s.acc += next - cwnd;
    if (s.acc >= 1) {
      const add = Math.floor(s.acc);
      s.acc -= add;
      tp.sndCwnd = Math.min(cwnd + add, maxCwnd(tp));
    }
  },

  congSignal(ccv, type) {
    const tp = ccv.tp;
    const s = st(ccv);
    switch (type) {
      case CC_NDUPACK:
        if (!inFastRecovery(tp)) {
          if (!inCongRecovery(tp)) tp.sndSsthresh = reduce(ccv);
          enterRecovery(tp);
        }
        break;
      case CC_ECN:
        if (!inCongRecovery(tp)) {
          const w = reduce(ccv);
          tp.sndSsthresh = w;
          tp.sndCwnd = w;
          enterCongRecovery(tp);
        }
        break;
      case CC_RTO:
        // §4.8: ssthresh by β_cubic, cwnd = 1 SMSS, a new epoch after slow start.
        if (tp.tRxtshift <= 1) {
          s.prevWMax = s.wMax;
          s.prevK = s.k;
        }
        tp.sndSsthresh = reduce(ccv);
        tp.sndCwnd = tp.tMaxseg;
        break;
      case CC_RTO_ERR:
        // §4.9: spurious timeout, undo.
        s.wMax = s.prevWMax;
        s.k = s.prevK;
        s.epochStart = -1;
        break;
    }
  },

  postRecovery(ccv) {
    const tp = ccv.tp;
    if (!inFastRecovery(tp)) return;
    const pipe = ccv.pipe ?? Math.max(0, (tp.sndMax - ccv.curack) | 0);
    tp.sndCwnd = pipe < tp.sndSsthresh ? Math.max(pipe, tp.tMaxseg) + tp.tMaxseg : tp.sndSsthresh;
    st(ccv).epochStart = -1;
  },

  afterIdle(ccv) {
    const tp = ccv.tp;
    const rw = ccInitialWindow(tp.tMaxseg, newrenoConfig.initcwndSegments);
    tp.sndSsthresh = Math.max(tp.sndSsthresh, tp.sndCwnd - (tp.sndCwnd >> 2));
    tp.sndCwnd = Math.min(rw, tp.sndCwnd);
    // §5.8: the idle time must not count as growth time.
    st(ccv).epochStart = -1;
  },

  rttSample(ccv, rttUs) {
    const s = st(ccv);
    if (rttUs <= 0) return;
    s.srtt = s.srtt === 0 ? rttUs : s.srtt + (rttUs - s.srtt) / 8;
    if (s.minRtt === 0 || rttUs < s.minRtt) s.minRtt = rttUs;
  },
};

registerCc(cubic);

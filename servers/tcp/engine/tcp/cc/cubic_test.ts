import assert from "node:assert/strict";
import {
  CC_ACK,
  CC_NDUPACK,
  ccAckReceived,
  ccCongSignal,
  ccNew,
  ccPostRecovery,
  ccRttSample,
  type CcVar,
} from "./builtin.ts";
import { CUBIC_BETA, cubicK, type CubicState } from "./cubic.ts";
import { tcb } from "./_tcb.ts";

const MSS = 1000;
const RTT = 100_000;

/** Acks one full window per RTT (cwnd-limited), for `seconds`; returns cwnd samples per RTT. */
function run(ccv: CcVar, start: number, seconds: number): number[] {
  const tp = ccv.tp;
  const out: number[] = [];
  let now = start;
  while (now < start + seconds * 1e6) {
    const segs = Math.floor(tp.sndCwnd / MSS);
    for (let i = 0; i < segs; i++) {
      ccAckReceived(ccv, CC_ACK, MSS, 1, true, now + (i * RTT) / segs);
    }
    now += RTT;
    ccRttSample(ccv, RTT, now);
    out.push(tp.sndCwnd);
  }
  return out;
}

Deno.test("cubic: K per RFC 9438 eq. 2", () => {
  assert.ok(Math.abs(cubicK(100 * MSS, 70 * MSS, MSS) - Math.cbrt(75)) < 1e-9);
  assert.equal(cubicK(50 * MSS, 70 * MSS, MSS), 0);
});

Deno.test("cubic: reduces to β·cwnd and regrows concave to W_max at K, convex after", () => {
  const tp = tcb({ sndCwnd: 100 * MSS, sndSsthresh: 50 * MSS, sndUna: 0, sndMax: 100 * MSS });
  const ccv = ccNew(tp, "cubic");
  ccRttSample(ccv, RTT, 0);
  ccCongSignal(ccv, CC_NDUPACK, 0);
  assert.equal(tp.sndSsthresh, Math.floor(100 * MSS * CUBIC_BETA));
  tp.sndUna = tp.sndMax;
  ccPostRecovery(ccv, tp.sndMax, 0, 100 * MSS);
  assert.equal(tp.sndCwnd, 70 * MSS);
  const s = ccv.data as CubicState;
  assert.equal(s.wMax, 100 * MSS);
  const K = Math.cbrt(75); // ≈ 4.22 s
  const w = run(ccv, 0, 8);
  const atK = w[Math.round(K / 0.1)];
  assert.ok(Math.abs(atK - 100 * MSS) < 3 * MSS, `cwnd at K = ${atK}`);
  // Concave before K: growth slows down; convex after: growth speeds up.
  const g1 = w[10] - w[0], g2 = w[40] - w[30], g3 = w[75] - w[65];
  assert.ok(g1 > g2, `concave: ${g1} > ${g2}`);
  assert.ok(g3 > g2, `convex: ${g3} > ${g2}`);
  assert.ok(w[w.length - 1] > 100 * MSS);
});

Deno.test("cubic: fast convergence lowers W_max when it shrinks (RFC 9438 §4.7)", () => {
  const tp = tcb({ sndCwnd: 100 * MSS, sndSsthresh: 50 * MSS });
  const ccv = ccNew(tp, "cubic");
  ccCongSignal(ccv, CC_NDUPACK, 0);
  ccPostRecovery(ccv, tp.sndMax, 0, 100 * MSS);
  tp.sndCwnd = 80 * MSS;
  ccCongSignal(ccv, CC_NDUPACK, 0);
  const s = ccv.data as CubicState;
  assert.equal(s.wMax, 80 * MSS * (1 + CUBIC_BETA) / 2);
});

Deno.test("cubic: in the Reno-friendly region it grows at least like Reno's α", () => {
  // Tiny RTT: the cubic curve is flat for long, W_est dominates.
  const tp = tcb({ sndCwnd: 10 * MSS, sndSsthresh: 5 * MSS });
  const ccv = ccNew(tp, "cubic");
  ccRttSample(ccv, 1000, 0);
  ccCongSignal(ccv, CC_NDUPACK, 0);
  ccPostRecovery(ccv, tp.sndMax, 0, 10 * MSS);
  const before = tp.sndCwnd;
  let now = 0;
  for (let r = 0; r < 20; r++) {
    const segs = Math.floor(tp.sndCwnd / MSS);
    for (let i = 0; i < segs; i++) ccAckReceived(ccv, CC_ACK, MSS, 1, true, now);
    now += 1000;
  }
  // α_cubic ≈ 0.53 segments per RTT over 20 RTTs: at least 9 segments more.
  assert.ok(tp.sndCwnd - before >= 9 * MSS, `${before} -> ${tp.sndCwnd}`);
});

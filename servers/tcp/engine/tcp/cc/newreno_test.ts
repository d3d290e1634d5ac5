import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CC_ACK,
  CC_DUPACK,
  CC_ECN,
  CC_NDUPACK,
  CC_RTO,
  CC_RTO_ERR,
  ccAckReceived,
  ccAfterIdle,
  ccCongSignal,
  ccConnInit,
  ccInitialWindow,
  ccNames,
  ccNew,
  ccPostRecovery,
  inCongRecovery,
  inFastRecovery,
  TF_ECN_PERMIT,
  TF_ECN_SND_CWR,
} from "./builtin.ts";
import { tcb } from "./_tcb.ts";

const MSS = 1000;

Deno.test("cc: registry knows newreno and cubic, unknown names fail clearly", () => {
  assert.deepEqual(ccNames(), ["cubic", "newreno"]);
  assert.throws(() => ccNew(tcb(), "vegas"), /Cannot use congestion control "vegas"/);
});

Deno.test("cc: initial window per RFC 6928 and 1 MSS after a lost SYN", () => {
  assert.equal(ccInitialWindow(1460), 14600);
  assert.equal(ccInitialWindow(536), 5360);
  assert.equal(ccInitialWindow(9000), 18000);
  assert.equal(ccInitialWindow(1460, 0), 4380);
  const tp = tcb();
  const ccv = ccNew(tp);
  ccConnInit(ccv, 0);
  assert.equal(tp.sndCwnd, 10 * MSS);
  ccConnInit(ccv, 0, { synRetransmitted: true });
  assert.equal(tp.sndCwnd, MSS);
});

Deno.test("newreno: slow start grows by bytes acked, at most L = 2 SMSS per ACK (RFC 3465)", () => {
  const tp = tcb();
  const ccv = ccNew(tp, "newreno");
  ccConnInit(ccv, 0);
  ccAckReceived(ccv, CC_ACK, 2 * MSS, 1, true, 0);
  assert.equal(tp.sndCwnd, 12 * MSS);
  ccAckReceived(ccv, CC_ACK, 5 * MSS, 1, true, 0);
  assert.equal(tp.sndCwnd, 14 * MSS);
  ccAckReceived(ccv, CC_ACK, 5 * MSS, 1, false, 0); // not cwnd-limited: no growth
  assert.equal(tp.sndCwnd, 14 * MSS);
  ccAckReceived(ccv, CC_DUPACK, 0, 1, true, 0);
  assert.equal(tp.sndCwnd, 14 * MSS);
});

Deno.test("newreno: congestion avoidance adds one SMSS per cwnd of acked bytes", () => {
  const tp = tcb({ sndCwnd: 10 * MSS, sndSsthresh: 5 * MSS });
  const ccv = ccNew(tp, "newreno");
  for (let i = 0; i < 9; i++) ccAckReceived(ccv, CC_ACK, MSS, 1, true, 0);
  assert.equal(tp.sndCwnd, 10 * MSS);
  ccAckReceived(ccv, CC_ACK, MSS, 1, true, 0);
  assert.equal(tp.sndCwnd, 11 * MSS);
});

Deno.test("newreno: fast recovery sets ssthresh = FlightSize/2, deflates at the end (RFC 6582)", () => {
  const tp = tcb({ sndCwnd: 20 * MSS, sndUna: 1000, sndMax: 21000, sndNxt: 21000 });
  const ccv = ccNew(tp, "newreno");
  ccCongSignal(ccv, CC_NDUPACK, 0);
  assert.equal(tp.sndSsthresh, 10 * MSS);
  assert.equal(tp.sndRecover, 21000);
  assert.ok(inFastRecovery(tp) && inCongRecovery(tp));
  ccCongSignal(ccv, CC_NDUPACK, 0); // again inside recovery: no second reduction
  assert.equal(tp.sndSsthresh, 10 * MSS);
  tp.sndCwnd = 25 * MSS; // inflated by the engine
  ccAckReceived(ccv, CC_ACK, MSS, 1, true, 0); // no growth during recovery
  assert.equal(tp.sndCwnd, 25 * MSS);
  tp.sndUna = 21000;
  ccPostRecovery(ccv, 21000, 0);
  assert.equal(tp.sndCwnd, MSS + MSS); // nothing in flight: pipe + 1 SMSS
  assert.ok(!inFastRecovery(tp));
  tp.sndCwnd = 30 * MSS;
  ccCongSignal(ccv, CC_NDUPACK, 0);
  ccPostRecovery(ccv, 1000, 0, 20 * MSS);
  assert.equal(tp.sndCwnd, 15 * MSS); // pipe ≥ ssthresh: cwnd = ssthresh
});

Deno.test("newreno: ECN halves once per window and asks for CWR (RFC 3168 §6.1.2)", () => {
  const tp = tcb({ sndCwnd: 16 * MSS, tFlags: TF_ECN_PERMIT, sndMax: 17000 });
  const ccv = ccNew(tp, "newreno");
  ccCongSignal(ccv, CC_ECN, 0);
  assert.equal(tp.sndCwnd, 8 * MSS);
  assert.ok(tp.tFlags & TF_ECN_SND_CWR);
  ccCongSignal(ccv, CC_ECN, 0);
  assert.equal(tp.sndCwnd, 8 * MSS);
  ccPostRecovery(ccv, 17000, 0);
  ccCongSignal(ccv, CC_ECN, 0);
  assert.equal(tp.sndCwnd, 4 * MSS);
});

Deno.test("newreno: RTO collapses cwnd to 1 SMSS, CC_RTO_ERR undoes it", () => {
  const tp = tcb({ sndCwnd: 20 * MSS, sndSsthresh: 30 * MSS });
  const ccv = ccNew(tp, "newreno");
  tp.tRxtshift = 1;
  ccCongSignal(ccv, CC_RTO, 0);
  assert.equal(tp.sndCwnd, MSS);
  assert.equal(tp.sndSsthresh, 10 * MSS);
  ccCongSignal(ccv, CC_RTO_ERR, 0);
  assert.equal(tp.sndCwnd, 20 * MSS);
  assert.equal(tp.sndSsthresh, 30 * MSS);
});

Deno.test("newreno: after idle, cwnd restarts from the restart window (RFC 5681 §4.1)", () => {
  const tp = tcb({ sndCwnd: 40 * MSS, sndSsthresh: 10 * MSS });
  ccAfterIdle(ccNew(tp, "newreno"), 0);
  assert.equal(tp.sndCwnd, 10 * MSS);
  assert.equal(tp.sndSsthresh, 30 * MSS);
});

Deno.test("cc: cwnd and ssthresh stay sane under any event sequence (property)", () => {
  for (const algo of ["newreno", "cubic"]) {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 7 }),
            fc.integer({ min: 0, max: 64 * MSS }),
            fc.boolean(),
          ),
          { maxLength: 200 },
        ),
        (evs) => {
          const tp = tcb();
          const ccv = ccNew(tp, algo);
          let now = 0;
          ccConnInit(ccv, now);
          for (const [k, n, lim] of evs) {
            now += 1000 + n;
            if (k <= 2) ccAckReceived(ccv, CC_ACK, n, 1 + (n >> 12), lim, now);
            else if (k === 3) ccCongSignal(ccv, CC_NDUPACK, now);
            else if (k === 4) ccPostRecovery(ccv, tp.sndUna, now);
            else if (k === 5) {
              tp.tRxtshift++;
              ccCongSignal(ccv, CC_RTO, now);
            } else if (k === 6) ccCongSignal(ccv, CC_ECN, now);
            else ccAfterIdle(ccv, now);
            if (!Number.isInteger(tp.sndCwnd) || tp.sndCwnd < MSS) return false;
            if (tp.sndCwnd > 65535 * 2 ** tp.sndScale) return false;
            if (!Number.isInteger(tp.sndSsthresh) || tp.sndSsthresh < 2 * MSS) return false;
          }
          return true;
        },
      ),
      { seed: 5681, numRuns: 200 },
    );
  }
});

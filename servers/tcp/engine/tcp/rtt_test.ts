import assert from "node:assert/strict";
import fc from "fast-check";
import {
  defaultRttConfig,
  newRtt,
  rttBackoff,
  rttOnTimeout,
  rttRangeSet,
  rttRexmtval,
  rttSample,
  rttSrtt,
  rttVar,
  TCP_BACKOFF,
  TCP_MAXRXTSHIFT,
} from "./rtt.ts";

const cfg = defaultRttConfig();

Deno.test("rtt: before any sample the RTO is rexmit_initial (RFC 6298 §2.1)", () => {
  const r = newRtt(cfg);
  assert.equal(r.tRxtcur, 1_000_000);
  assert.equal(rttRexmtval(r, cfg), 1_000_000);
  // Back-off: TCP_REXMTVAL × backoff + slop (TCPT_RANGESET).
  assert.equal(rttBackoff(r, cfg, 1), 2_200_000);
  assert.equal(rttBackoff(r, cfg, 2, true), 4_200_000);
});

Deno.test("rtt: first sample sets srtt = R, rttvar = R/2 (RFC 6298 §2.2)", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 20_000);
  assert.equal(rttSrtt(r), 20_000);
  assert.equal(rttVar(r), 10_000);
  assert.equal(r.tRxtcur, 20_000 + 40_000 + 200_000);
  assert.equal(r.tRttlow, 20_000);
});

Deno.test("rtt: later samples follow α = 1/8, β = 1/4 (RFC 6298 §2.3)", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 100_000);
  rttSample(r, cfg, 200_000);
  // rttvar = 3/4·50000 + 1/4·|100000 - 200000| = 62500; srtt = 7/8·100000 + 1/8·200000 = 112500
  assert.equal(rttVar(r), 62_500);
  assert.equal(rttSrtt(r), 112_500);
});

Deno.test("rtt: RTO is floored at rexmit_min (and RTT + 2 ticks) and capped at 64 s", () => {
  const c = { ...cfg, rexmitSlop: 0 };
  const r = newRtt(c);
  for (let i = 0; i < 50; i++) rttSample(r, c, 100);
  assert.equal(rttRexmtval(r, c), 30_000);
  assert.equal(r.tRxtcur, 30_000);
  const slow = newRtt(c);
  for (let i = 0; i < 50; i++) rttSample(slow, c, 40_000); // rttvar decays to ~0
  assert.ok(slow.tRxtcur >= 42_000, `${slow.tRxtcur} below RTT + 2 ticks`);
  const big = newRtt(c);
  rttSample(big, c, 1e12);
  assert.equal(big.tRxtcur, 64_000_000);
  assert.equal(rttBackoff(big, c, 5), 64_000_000);
});

Deno.test("rtt: back-off follows FreeBSD's table over TCP_REXMTVAL, plus the slop", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 10_000);
  for (let i = 0; i <= TCP_MAXRXTSHIFT; i++) {
    const want = Math.min(rttRexmtval(r, cfg) * TCP_BACKOFF[i] + 200_000, 64_000_000);
    assert.equal(rttBackoff(r, cfg, i), want);
  }
  assert.equal(rttRangeSet(cfg, 10), 200_010);
  assert.equal(rttRangeSet({ ...cfg, rexmitSlop: 0 }, 10), 30_000);
});

Deno.test("rtt: after many timeouts srtt is discarded", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 40_000);
  assert.equal(rttOnTimeout(r, 2), false);
  assert.equal(rttOnTimeout(r, 4), true);
  assert.equal(r.tSrtt, 0);
  assert.equal(rttVar(r), 20_000 + 40_000); // rttvar grew by srtt
  assert.equal(rttRexmtval(r, cfg), 240_000);
  rttSample(r, cfg, 8_000);
  assert.equal(rttSrtt(r), 8_000);
});

Deno.test("rtt: RTO stays within bounds and srtt within the sample range (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: -5, max: 5_000_000 }), { minLength: 1, maxLength: 60 }),
      (xs) => {
        const r = newRtt(cfg);
        for (const x of xs) rttSample(r, cfg, x);
        const lo = Math.max(1, Math.min(...xs));
        const hi = Math.max(1, Math.max(...xs));
        const rto = rttRexmtval(r, cfg);
        return rto >= cfg.rexmitMin && rto <= cfg.rexmitMax && rttSrtt(r) >= lo - 8 &&
          rttSrtt(r) <= hi + 8 && r.tRttvar > 0 && Number.isInteger(rto);
      },
    ),
    { seed: 6298, numRuns: 300 },
  );
});

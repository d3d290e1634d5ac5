import assert from "node:assert/strict";
import fc from "fast-check";
import {
  defaultRttConfig,
  newRtt,
  rttBackoff,
  rttOnTimeout,
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
  assert.equal(rttRexmtval(r, cfg), 1_000_000);
  assert.equal(rttBackoff(r, cfg, 0), 1_000_000);
  assert.equal(rttBackoff(r, cfg, 1), 2_000_000);
});

Deno.test("rtt: first sample sets srtt = R, rttvar = R/2 (RFC 6298 §2.2)", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 20_000);
  assert.equal(rttSrtt(r), 20_000);
  assert.equal(rttVar(r), 10_000);
  assert.equal(r.tRxtcur, 20_000 + 40_000 + 200_000);
  assert.equal(r.tRttmin, 20_000);
});

Deno.test("rtt: later samples follow α = 1/8, β = 1/4 (RFC 6298 §2.3)", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 100_000);
  rttSample(r, cfg, 200_000);
  // rttvar = 3/4·50000 + 1/4·|100000 - 200000| = 62500; srtt = 7/8·100000 + 1/8·200000 = 112500
  assert.equal(rttVar(r), 62_500);
  assert.equal(rttSrtt(r), 112_500);
});

Deno.test("rtt: RTO is floored at rexmit_min without slop and capped at 64 s", () => {
  const c = { ...cfg, rexmitSlop: 0 };
  const r = newRtt(c);
  for (let i = 0; i < 50; i++) rttSample(r, c, 100);
  assert.equal(rttRexmtval(r, c), 30_000);
  const big = newRtt(c);
  rttSample(big, c, 1e12);
  assert.equal(rttRexmtval(big, c), 64_000_000);
  assert.equal(rttBackoff(big, c, 5), 64_000_000);
});

Deno.test("rtt: back-off follows FreeBSD's table and SYNs keep the initial RTO first", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 10_000);
  for (let i = 0; i <= TCP_MAXRXTSHIFT; i++) {
    assert.equal(rttBackoff(r, cfg, i), Math.min(r.tRxtcur * TCP_BACKOFF[i], 64_000_000));
  }
  const s = newRtt(cfg);
  assert.equal(rttBackoff(s, cfg, 3, true), 1_000_000);
  assert.equal(rttBackoff(s, cfg, 5, true), 2_000_000);
});

Deno.test("rtt: after many timeouts srtt is discarded", () => {
  const r = newRtt(cfg);
  rttSample(r, cfg, 40_000);
  assert.equal(rttOnTimeout(r, 2), false);
  assert.equal(rttOnTimeout(r, 4), true);
  assert.equal(r.tSrtt, 0);
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

/**
 * Round-trip time estimation and retransmission timeout (RFC 6298) as FreeBSD computes them
 * (tcp_xmit_timer, TCP_REXMTVAL, TCPT_RANGESET): the RTO is `max(rexmit_min, srtt +
 * max(G, 4·rttvar))`, and what is armed is that value (times the back-off) plus a slop
 * (`net.inet.tcp.rexmit_slop`, 200 ms), clamped to [floor, `rexmit_max` (64 s)], where the floor
 * after a sample R is `max(rexmit_min, R + 2 ticks)`. Before any sample the variance stands at
 * `rexmit_initial / 4`, so the RTO is `rexmit_initial` (1 s, RFC 6298 §2.1); SYNs back off
 * from `rexmit_initial`. After TCP_MAXRXTSHIFT/4 timeouts srtt is folded into rttvar and
 * forgotten, so the next sample starts afresh.
 *
 * Samples come in microseconds. `tSrtt` is kept scaled by 8 and `tRttvar` by 4 (integers, as in
 * RFC 6298's α = 1/8, β = 1/4), so the arithmetic is exact and allocation-free. The state's
 * fields are the tcpcb's: the TCP core passes its control block itself.
 *
 * @example
 * ```ts
 * const cfg = defaultRttConfig();
 * const r = newRtt(cfg);
 * rttSample(r, cfg, 20_000); // 20 ms
 * r.tRxtcur;                 // 20 ms + 4·10 ms + 200 ms slop = 260_000 µs
 * ```
 *
 * @module
 */

/** FreeBSD's TCP_MAXRXTSHIFT: retransmissions before the connection is dropped. */
export const TCP_MAXRXTSHIFT = 12;

/** Back-off multipliers for data retransmissions, indexed by `tRxtshift` (FreeBSD's tcp_backoff). */
export const TCP_BACKOFF: readonly number[] = [
  1,
  2,
  4,
  8,
  16,
  32,
  64,
  128,
  256,
  512,
  512,
  512,
  512,
];

/** Tunables, in microseconds (named after FreeBSD's sysctls). */
export interface RttConfig {
  /** net.inet.tcp.rexmit_min: the RTO floor (30 ms). */
  rexmitMin: number;
  /** The RTO ceiling (FreeBSD's TCPTV_REXMTMAX, 64 s). */
  rexmitMax: number;
  /** net.inet.tcp.rexmit_slop: added to every computed RTO (200 ms). */
  rexmitSlop: number;
  /** net.inet.tcp.rexmit_initial: RTO before any sample (RFC 6298 §2.1: 1 s). */
  rexmitInitial: number;
  /** Clock granularity G of RFC 6298 §2 (FreeBSD's tick: 1 ms at hz=1000). */
  granularity: number;
}

/** FreeBSD's defaults. */
export function defaultRttConfig(): RttConfig {
  return {
    rexmitMin: 30_000,
    rexmitMax: 64_000_000,
    rexmitSlop: 200_000,
    rexmitInitial: 1_000_000,
    granularity: 1_000,
  };
}

/** The estimator's state (fields named after the tcpcb's). */
export interface RttState {
  /** Smoothed RTT × 8, in µs; 0 = no sample yet (or discarded after back-off). */
  tSrtt: number;
  /** RTT variance × 4, in µs. */
  tRttvar: number;
  /** Smallest RTT seen (µs), 0 = none (FreeBSD's t_rttlow; for CUBIC/RACK). */
  tRttlow: number;
  /** Number of samples taken since the last reset (FreeBSD's t_rttupdated). */
  tRttupdated: number;
  /** The RTO armed for the next (re)transmission, back-off and slop included (µs). */
  tRxtcur: number;
}

/** Sets `s` to the state of a fresh connection: no sample, RTO = rexmit_initial. */
export function rttReset(s: RttState, cfg: RttConfig): void {
  s.tSrtt = 0;
  s.tRttvar = cfg.rexmitInitial; // 4·rttvar = rexmit_initial (FreeBSD's tcp_newtcpcb)
  s.tRttlow = 0;
  s.tRttupdated = 0;
  s.tRxtcur = cfg.rexmitInitial;
}

/** A fresh estimator: no sample yet, RTO = rexmit_initial. */
export function newRtt(cfg: RttConfig): RttState {
  const s = { tSrtt: 0, tRttvar: 0, tRttlow: 0, tRttupdated: 0, tRxtcur: 0 };
  rttReset(s, cfg);
  return s;
}

/** Smoothed RTT in µs (0 when there is no sample). */
export function rttSrtt(s: RttState): number {
  return s.tSrtt >> 3;
}

/** RTT variance in µs. */
export function rttVar(s: RttState): number {
  return s.tRttvar >> 2;
}

/**
 * Feeds one RTT measurement (µs; RFC 6298 §3: never from a retransmitted segment unless
 * timestamps disambiguate it, which is the caller's rule). Updates srtt/rttvar per §2.2/§2.3
 * and sets `tRxtcur` (FreeBSD's tcp_xmit_timer). Non-positive samples count as 1 µs; absurd
 * ones are clamped.
 */
export function rttSample(s: RttState, cfg: RttConfig, rttUs: number): void {
  let r = Math.floor(rttUs);
  if (!(r >= 1)) r = 1;
  if (r > cfg.rexmitMax) r = cfg.rexmitMax;
  if (s.tRttlow === 0 || r < s.tRttlow) s.tRttlow = r;
  if (s.tSrtt !== 0) {
    // §2.3: RTTVAR <- (1 - β)·RTTVAR + β·|SRTT - R'|; SRTT <- (1 - α)·SRTT + α·R'.
    // With rttvar×4 and srtt×8: rttvar4 += |srtt - r| - rttvar4/4; srtt8 += r - srtt8/8.
    const srtt = s.tSrtt >> 3;
    let delta = r - srtt;
    if (delta < 0) delta = -delta;
    s.tRttvar += delta - (s.tRttvar >> 2);
    if (s.tRttvar < 1) s.tRttvar = 1;
    s.tSrtt += r - srtt;
    if (s.tSrtt < 8) s.tSrtt = 8;
  } else {
    // §2.2: first measurement: SRTT <- R, RTTVAR <- R/2.
    s.tSrtt = r << 3;
    s.tRttvar = (r >> 1) << 2;
    if (s.tRttvar < 1) s.tRttvar = 1;
  }
  s.tRttupdated++;
  // FreeBSD: the floor is max(rttmin, rtt + 2 ticks), so a steady RTT never times out early.
  const floor = Math.max(cfg.rexmitMin, r + 2 * cfg.granularity);
  s.tRxtcur = rttRangeSet(cfg, rttRexmtval(s, cfg), floor);
}

/**
 * TCP_REXMTVAL (RFC 6298 §2): `srtt + max(G, 4·rttvar)`, at least `rexmit_min`; without slop
 * or back-off. Before any sample it is rexmit_initial.
 */
export function rttRexmtval(s: RttState, cfg: RttConfig): number {
  const v = (s.tSrtt >> 3) + Math.max(cfg.granularity, s.tRttvar);
  return v < cfg.rexmitMin ? cfg.rexmitMin : v;
}

/** TCPT_RANGESET: `value` plus the slop, clamped to [`floor`, rexmit_max]. */
export function rttRangeSet(cfg: RttConfig, value: number, floor = cfg.rexmitMin): number {
  const v = value + cfg.rexmitSlop;
  return v < floor ? floor : v > cfg.rexmitMax ? cfg.rexmitMax : v;
}

/**
 * The timeout to arm for retransmission number `rxtshift` (tcp_timer_rexmt): TCP_REXMTVAL
 * (for a SYN: rexmit_initial) times {@link TCP_BACKOFF}[rxtshift] (RFC 6298 §5.5), plus the
 * slop, clamped.
 */
export function rttBackoff(s: RttState, cfg: RttConfig, rxtshift: number, syn = false): number {
  const i = rxtshift < 0 ? 0 : rxtshift >= TCP_BACKOFF.length ? TCP_BACKOFF.length - 1 : rxtshift;
  const base = syn ? cfg.rexmitInitial : rttRexmtval(s, cfg);
  return rttRangeSet(cfg, base * TCP_BACKOFF[i]);
}

/**
 * After several back-offs the estimate is probably stale (a route change): once `tRxtshift`
 * exceeds TCP_MAXRXTSHIFT/4, srtt is folded into rttvar and forgotten so the next sample
 * starts afresh (tcp_timer_rexmt). Call on each RTO expiry with the new shift, after
 * {@link rttBackoff}; returns true when the estimate was discarded.
 */
export function rttOnTimeout(s: RttState, rxtshift: number): boolean {
  if (rxtshift <= TCP_MAXRXTSHIFT / 4) return false;
  s.tRttvar += s.tSrtt >> 1; // rttvar grows by srtt (×4 scale: srtt×8 / 2)
  s.tSrtt = 0;
  s.tRttupdated = 0;
  return true;
}

/**
 * Round-trip time estimation and retransmission timeout (RFC 6298), with FreeBSD's conventions:
 * the RTO is `srtt + max(G, 4·rttvar)` plus a slop (`net.inet.tcp.rexmit_slop`, 200 ms),
 * clamped to [`rexmit_min` (30 ms), `rexmit_max` (64 s)]; the first RTO is
 * `rexmit_initial` (1 s, RFC 6298 §2.1); back-off multiplies by {@link TCP_BACKOFF}
 * (SYNs by {@link TCP_SYN_BACKOFF}) and gives up after {@link TCP_MAXRXTSHIFT} retransmissions.
 *
 * Samples come in microseconds. `srtt` is kept scaled by 8 and `rttvar` by 4 (integers, as in
 * RFC 6298's α = 1/8, β = 1/4), so the arithmetic is exact and allocation-free.
 *
 * @example
 * ```ts
 * const cfg = defaultRttConfig();
 * const r = newRtt(cfg);
 * rttSample(r, cfg, 20_000); // 20 ms
 * rttRexmtval(r, cfg);       // 20 ms + 4·10 ms + 200 ms slop = 260_000 µs
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

/**
 * Back-off multipliers for SYN / SYN-ACK retransmissions (FreeBSD's tcp_syn_backoff): the first
 * few retries keep the initial timeout before doubling.
 */
export const TCP_SYN_BACKOFF: readonly number[] = [1, 1, 1, 1, 1, 2, 4, 8, 16, 32, 64, 64, 64];

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
  /** Smoothed RTT × 8, in µs; 0 = no sample yet. */
  tSrtt: number;
  /** RTT variance × 4, in µs. */
  tRttvar: number;
  /** Smallest RTT seen (µs), 0 = none; useful for CUBIC/RACK. */
  tRttmin: number;
  /** Number of samples taken since the last reset (FreeBSD's t_rttupdated). */
  tRttupdated: number;
  /** Current RTO before back-off (µs). */
  tRxtcur: number;
}

/** A fresh estimator: no sample yet, RTO = rexmit_initial. */
export function newRtt(cfg: RttConfig): RttState {
  return { tSrtt: 0, tRttvar: 0, tRttmin: 0, tRttupdated: 0, tRxtcur: cfg.rexmitInitial };
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
 * and recomputes `tRxtcur`. Non-positive samples count as 1 µs; absurd ones are clamped.
 */
export function rttSample(s: RttState, cfg: RttConfig, rttUs: number): void {
  let r = Math.floor(rttUs);
  if (!(r >= 1)) r = 1;
  if (r > cfg.rexmitMax) r = cfg.rexmitMax;
  if (s.tRttmin === 0 || r < s.tRttmin) s.tRttmin = r;
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
  s.tRxtcur = rttRexmtval(s, cfg);
}

/**
 * RFC 6298 §2: RTO = SRTT + max(G, K·RTTVAR) with K = 4, plus FreeBSD's slop, clamped to
 * [rexmit_min, rexmit_max]. Before any sample: rexmit_initial.
 */
export function rttRexmtval(s: RttState, cfg: RttConfig): number {
  if (s.tSrtt === 0) return clamp(cfg.rexmitInitial, cfg);
  const v = (s.tSrtt >> 3) + Math.max(cfg.granularity, s.tRttvar) + cfg.rexmitSlop;
  return clamp(v, cfg);
}

/**
 * The timeout to arm for retransmission number `rxtshift` (0 = first transmission):
 * `tRxtcur × backoff[rxtshift]` (RFC 6298 §5.5), clamped to rexmit_max. `syn` selects the SYN
 * table.
 */
export function rttBackoff(s: RttState, cfg: RttConfig, rxtshift: number, syn = false): number {
  const table = syn ? TCP_SYN_BACKOFF : TCP_BACKOFF;
  const i = rxtshift < 0 ? 0 : rxtshift >= table.length ? table.length - 1 : rxtshift;
  const base = syn && s.tSrtt === 0 ? cfg.rexmitInitial : s.tRxtcur;
  return Math.min(base * table[i], cfg.rexmitMax);
}

/**
 * After several back-offs the estimate is probably stale (a route change): FreeBSD, once
 * `tRxtshift` exceeds TCP_MAXRXTSHIFT/4, folds srtt into rttvar and forgets srtt so the next
 * sample starts afresh (RFC 6298 §5 note on "backing off"). Call on each RTO expiry with the
 * new shift; returns true when the estimate was discarded.
 */
export function rttOnTimeout(s: RttState, rxtshift: number): boolean {
  if (rxtshift <= TCP_MAXRXTSHIFT / 4 || s.tSrtt === 0) return false;
  s.tRttvar += s.tSrtt >> 3; // rttvar(×4) grows by srtt/4
  s.tSrtt = 0;
  s.tRttupdated = 0;
  return true;
}

function clamp(v: number, cfg: RttConfig): number {
  return v < cfg.rexmitMin ? cfg.rexmitMin : v > cfg.rexmitMax ? cfg.rexmitMax : v;
}

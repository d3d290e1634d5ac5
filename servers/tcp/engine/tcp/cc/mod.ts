/**
 * Congestion control as a table of optional hooks, as in FreeBSD's modular CC framework
 * (cc(4), cc_newreno(4), cc_cubic(4)): the engine does the bookkeeping (bytes acked, whether
 * the connection is cwnd-limited, the recovery flags' life cycle, saving state for an undo)
 * and calls the algorithm, which only decides policy by changing `sndCwnd` / `sndSsthresh`
 * (and entering recovery) on the connection.
 *
 * Algorithms register by name ({@link registerCc}); "newreno" (RFC 5681/6582) and "cubic"
 * (RFC 9438) register when their files are loaded: the engine imports `./builtin.ts`, which
 * re-exports this module. The engine keeps one {@link CcVar} per connection.
 *
 * How the engine uses it (FreeBSD's tcp_input/tcp_timer call sites):
 * - connection established: {@link ccConnInit} (sets the initial window, RFC 6928);
 * - an ACK that advances SND.UNA outside recovery: {@link ccAckReceived} with CC_ACK;
 *   a duplicate ACK: CC_DUPACK;
 * - the DupThresh-th duplicate ACK: {@link ccCongSignal}(CC_NDUPACK) — the module sets
 *   ssthresh and enters recovery; fast retransmit and the cwnd used during recovery
 *   (inflation or the SACK pipe) remain the engine's;
 * - ECE on an ACK: CC_ECN (once per window: the module ignores it while in CONGRECOVERY);
 * - RTO expiry: CC_RTO (after incrementing tRxtshift); a spurious RTO detected later: CC_RTO_ERR;
 * - the ACK that ends recovery (ack ≥ sndRecover): {@link ccPostRecovery};
 * - sending after an idle period longer than the RTO: {@link ccAfterIdle} (RFC 5681 §4.1);
 * - every RTT measurement: {@link ccRttSample}.
 *
 * @module
 */

/** ackReceived types (FreeBSD's ccsignal for acks). */
export const CC_ACK = 0x1;
export const CC_DUPACK = 0x2;

/** congSignal types. */
export const CC_ECN = 0x1;
export const CC_RTO = 0x2;
export const CC_RTO_ERR = 0x4;
export const CC_NDUPACK = 0x8;

/** CcVar.flags (FreeBSD's CCF_*). */
export const CCF_ABC_SENTAWND = 0x1;
export const CCF_CWND_LIMITED = 0x2;

/** Recovery flags in `tFlags` (the tcpcb's TF_* values). */
export const TF_FASTRECOVERY = 0x20000;
export const TF_WASFRECOVERY = 0x40000;
export const TF_ECN_PERMIT = 0x400000;
export const TF_ECN_SND_CWR = 0x800000;
export const TF_CONGRECOVERY = 0x2000000;
export const TF_WASCRECOVERY = 0x4000000;
export const TF_PREVVALID = 0x8000000;

/** RFC 7323: the largest window, TCP_MAXWIN << 14. */
export const TCP_MAXWIN = 65535;

/** The tcpcb fields congestion control reads and writes (a Tcpcb satisfies this). */
export interface CcTcb {
  sndCwnd: number;
  sndSsthresh: number;
  tMaxseg: number;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd: number;
  sndRecover: number;
  sndScale: number;
  tFlags: number;
  tRxtshift: number;
  tBytesAcked: number;
}

/** Per-connection congestion-control state (FreeBSD's struct cc_var). */
export interface CcVar {
  tp: CcTcb;
  algo: CcAlgo;
  /** CCF_* bits. */
  flags: number;
  /** Bytes this ACK newly acknowledged. */
  bytesThisAck: number;
  /** Segments this ACK covers (for ABC's L limit, RFC 3465 §2.2). */
  nsegs: number;
  /** The ACK being processed (FreeBSD's curack). */
  curack: number;
  /** Octets in flight per RFC 6675 SetPipe when SACK is in use, else undefined. */
  pipe: number | undefined;
  /** The algorithm's own per-connection state. */
  data: unknown;
  /** Saved before the first RTO for a CC_RTO_ERR undo. */
  cwndPrev: number;
  ssthreshPrev: number;
  recoverPrev: number;
}

/** A congestion-control algorithm: every hook is optional. `now` is in µs. */
export interface CcAlgo {
  readonly name: string;
  /** Allocates `ccv.data`. */
  cbInit?(ccv: CcVar): void;
  connInit?(ccv: CcVar, now: number): void;
  ackReceived?(ccv: CcVar, type: number, now: number): void;
  congSignal?(ccv: CcVar, type: number, now: number): void;
  postRecovery?(ccv: CcVar, now: number): void;
  afterIdle?(ccv: CcVar, now: number): void;
  rttSample?(ccv: CcVar, rttUs: number, now: number): void;
  /**
   * Names of the numeric fields of `ccv.data` (as made by cbInit) that make up the
   * algorithm's per-connection state: what a TCB store saves and restores
   * ({@link ccSaveState}). At most {@link CC_STATE_WORDS}; none when the algorithm keeps none.
   */
  readonly stateFields?: readonly string[];
}

/**
 * The CcVar fields that outlive one hook call, in the order {@link ccSaveState} writes them
 * (`pipe` is set and cleared inside ccPostRecovery and is not among them).
 */
export const CCV_FIELDS = [
  "flags",
  "cwndPrev",
  "ssthreshPrev",
  "recoverPrev",
  "curack",
  "bytesThisAck",
  "nsegs",
] as const;

/** Words reserved for an algorithm's {@link CcAlgo.stateFields}. */
export const CC_STATE_WORDS = 16;

/** Words {@link ccSaveState} writes: the CcVar fields, then the algorithm's state. */
export const CC_SAVED_WORDS = CCV_FIELDS.length + CC_STATE_WORDS;

const registry = new Map<string, CcAlgo>();

/** Registers an algorithm under its name (replacing one of the same name). */
export function registerCc(algo: CcAlgo): void {
  const n = algo.stateFields?.length ?? 0;
  if (n > CC_STATE_WORDS) {
    throw new RangeError(
      `Cannot register congestion control "${algo.name}": ${n} state fields, at most ${CC_STATE_WORDS}`,
    );
  }
  registry.set(algo.name, algo);
}

/** The algorithm registered as `name`, or undefined. */
export function ccAlgo(name: string): CcAlgo | undefined {
  return registry.get(name);
}

/** Registered names (net.inet.tcp.cc.available). */
export function ccNames(): string[] {
  return [...registry.keys()].sort();
}

export const inFastRecovery = (tp: CcTcb): boolean => (tp.tFlags & TF_FASTRECOVERY) !== 0;
export const inCongRecovery = (tp: CcTcb): boolean => (tp.tFlags & TF_CONGRECOVERY) !== 0;
export const inRecovery = (tp: CcTcb): boolean =>
  (tp.tFlags & (TF_FASTRECOVERY | TF_CONGRECOVERY)) !== 0;
export function enterFastRecovery(tp: CcTcb): void {
  tp.tFlags |= TF_FASTRECOVERY;
}
export function enterCongRecovery(tp: CcTcb): void {
  tp.tFlags |= TF_CONGRECOVERY;
}
export function enterRecovery(tp: CcTcb): void {
  tp.tFlags |= TF_FASTRECOVERY | TF_CONGRECOVERY;
}
export function exitRecovery(tp: CcTcb): void {
  tp.tFlags &= ~(TF_FASTRECOVERY | TF_CONGRECOVERY);
}

/** The largest cwnd the window scale allows. */
export function maxCwnd(tp: CcTcb): number {
  return TCP_MAXWIN * 2 ** tp.sndScale;
}

/**
 * RFC 6928 §2 initial window: min(N·MSS, max(2·MSS, N·1460)) with N = 10
 * (net.inet.tcp.initcwnd_segments); N = 0 selects RFC 3390's min(4·MSS, max(2·MSS, 4380)).
 */
export function ccInitialWindow(maxseg: number, segments = 10): number {
  if (segments <= 0) return Math.min(4 * maxseg, Math.max(2 * maxseg, 4380));
  return Math.min(segments * maxseg, Math.max(2 * maxseg, segments * 1460));
}

/** New per-connection state for `tp` using the algorithm `name` (throws when unknown). */
export function ccNew(tp: CcTcb, name = "newreno"): CcVar {
  const algo = registry.get(name);
  if (!algo) {
    throw new Error(
      `Cannot use congestion control "${name}": not registered (known: ${ccNames().join(", ")})`,
    );
  }
  const ccv: CcVar = {
    tp,
    algo,
    flags: 0,
    bytesThisAck: 0,
    nsegs: 0,
    curack: tp.sndUna,
    pipe: undefined,
    data: undefined,
    cwndPrev: 0,
    ssthreshPrev: 0,
    recoverPrev: 0,
  };
  algo.cbInit?.(ccv);
  return ccv;
}

/**
 * Writes the connection's congestion-control state (the {@link CCV_FIELDS}, then the
 * algorithm's {@link CcAlgo.stateFields}, unused words 0) into `out[at … at + CC_SAVED_WORDS)`.
 * Times in it are the engine's (µs), as the hooks were given them.
 */
export function ccSaveState(ccv: CcVar, out: Float64Array, at: number): void {
  out[at] = ccv.flags;
  out[at + 1] = ccv.cwndPrev;
  out[at + 2] = ccv.ssthreshPrev;
  out[at + 3] = ccv.recoverPrev;
  out[at + 4] = ccv.curack;
  out[at + 5] = ccv.bytesThisAck;
  out[at + 6] = ccv.nsegs;
  const base = at + CCV_FIELDS.length;
  const fields = ccv.algo.stateFields;
  const data = ccv.data as Record<string, number> | undefined;
  let j = 0;
  if (fields && data) { for (; j < fields.length; j++) out[base + j] = +data[fields[j]]; }
  for (; j < CC_STATE_WORDS; j++) out[base + j] = 0;
}

/**
 * Reads back what {@link ccSaveState} wrote into `ccv` (made by ccNew for the same algorithm:
 * cbInit has allocated its data).
 */
export function ccLoadState(ccv: CcVar, src: Float64Array, at: number): void {
  ccv.flags = src[at];
  ccv.cwndPrev = src[at + 1];
  ccv.ssthreshPrev = src[at + 2];
  ccv.recoverPrev = src[at + 3];
  ccv.curack = src[at + 4];
  ccv.bytesThisAck = src[at + 5];
  ccv.nsegs = src[at + 6];
  const base = at + CCV_FIELDS.length;
  const fields = ccv.algo.stateFields;
  const data = ccv.data as Record<string, number> | undefined;
  if (fields && data) { for (let j = 0; j < fields.length; j++) data[fields[j]] = src[base + j]; }
}

/** Switches algorithm (TCP_CONGESTION): the new one starts from the current cwnd/ssthresh. */
export function ccSwitch(ccv: CcVar, name: string): boolean {
  const algo = registry.get(name);
  if (!algo) return false;
  ccv.algo = algo;
  ccv.data = undefined;
  algo.cbInit?.(ccv);
  return true;
}

/**
 * Connection established (FreeBSD's cc_conn_init): cwnd = the RFC 6928 initial window, or one
 * segment when the SYN or SYN-ACK had to be retransmitted (RFC 6928 §2, RFC 5681 §3.1).
 */
export function ccConnInit(
  ccv: CcVar,
  now: number,
  opts: { initcwndSegments?: number; synRetransmitted?: boolean } = {},
): void {
  const tp = ccv.tp;
  tp.sndCwnd = opts.synRetransmitted
    ? tp.tMaxseg
    : ccInitialWindow(tp.tMaxseg, opts.initcwndSegments ?? 10);
  tp.tBytesAcked = 0;
  ccv.flags = 0;
  ccv.algo.connInit?.(ccv, now);
}

/**
 * An ACK (FreeBSD's cc_ack_received): records the bytes it acked, whether the sender was
 * cwnd-limited, and the RFC 3465 byte counting for congestion avoidance (a window's worth of
 * acked bytes sets CCF_ABC_SENTAWND), then calls the algorithm.
 */
export function ccAckReceived(
  ccv: CcVar,
  type: number,
  bytesAcked: number,
  nsegs: number,
  cwndLimited: boolean,
  now: number,
  abcLVar = 2,
): void {
  const tp = ccv.tp;
  ccv.bytesThisAck = bytesAcked;
  ccv.nsegs = Math.max(1, nsegs);
  ccv.curack = tp.sndUna;
  if (cwndLimited) ccv.flags |= CCF_CWND_LIMITED;
  else ccv.flags &= ~CCF_CWND_LIMITED;
  if (type === CC_ACK) {
    if (tp.sndCwnd > tp.sndSsthresh) {
      tp.tBytesAcked += Math.min(bytesAcked, ccv.nsegs * abcLVar * tp.tMaxseg);
      if (tp.tBytesAcked >= tp.sndCwnd) {
        tp.tBytesAcked -= tp.sndCwnd;
        ccv.flags |= CCF_ABC_SENTAWND;
      }
    } else {
      ccv.flags &= ~CCF_ABC_SENTAWND;
      tp.tBytesAcked = 0;
    }
  }
  ccv.algo.ackReceived?.(ccv, type, now);
}

/**
 * A congestion signal (FreeBSD's cc_cong_signal). CC_NDUPACK/CC_ECN: marks the recovery point
 * (sndRecover = sndMax) unless already recovering and asks for CWR on the next segment when
 * ECN is on; CC_RTO: leaves recovery, resets ABC state and, on the first retransmission,
 * saves cwnd/ssthresh/recover for a later undo; CC_RTO_ERR: restores them.
 */
export function ccCongSignal(ccv: CcVar, type: number, now: number): void {
  const tp = ccv.tp;
  switch (type) {
    case CC_NDUPACK:
      if (!inFastRecovery(tp)) {
        tp.sndRecover = tp.sndMax;
        if (tp.tFlags & TF_ECN_PERMIT) tp.tFlags |= TF_ECN_SND_CWR;
      }
      break;
    case CC_ECN:
      if (!inCongRecovery(tp)) {
        tp.sndRecover = tp.sndMax;
        if (tp.tFlags & TF_ECN_PERMIT) tp.tFlags |= TF_ECN_SND_CWR;
      }
      break;
    case CC_RTO:
      if (tp.tRxtshift <= 1) {
        ccv.cwndPrev = tp.sndCwnd;
        ccv.ssthreshPrev = tp.sndSsthresh;
        ccv.recoverPrev = tp.sndRecover;
        tp.tFlags = (tp.tFlags & ~(TF_WASFRECOVERY | TF_WASCRECOVERY)) |
          (inFastRecovery(tp) ? TF_WASFRECOVERY : 0) |
          (inCongRecovery(tp) ? TF_WASCRECOVERY : 0) | TF_PREVVALID;
      }
      tp.tBytesAcked = 0;
      exitRecovery(tp);
      if (tp.tFlags & TF_ECN_PERMIT) tp.tFlags |= TF_ECN_SND_CWR;
      break;
    case CC_RTO_ERR:
      if (tp.tFlags & TF_PREVVALID) {
        tp.sndCwnd = ccv.cwndPrev;
        tp.sndSsthresh = ccv.ssthreshPrev;
        tp.sndRecover = ccv.recoverPrev;
        if (tp.tFlags & TF_WASFRECOVERY) enterFastRecovery(tp);
        if (tp.tFlags & TF_WASCRECOVERY) enterCongRecovery(tp);
        tp.tFlags &= ~TF_PREVVALID;
      }
      break;
  }
  ccv.algo.congSignal?.(ccv, type, now);
}

/**
 * The ACK that ends recovery (ack ≥ sndRecover, RFC 6582 §3.2 step 3): the algorithm sets the
 * post-recovery cwnd, then recovery ends. `pipe` is the SACK pipe when SACK is in use.
 */
export function ccPostRecovery(ccv: CcVar, ack: number, now: number, pipe?: number): void {
  ccv.curack = ack;
  ccv.pipe = pipe;
  ccv.algo.postRecovery?.(ccv, now);
  ccv.pipe = undefined;
  ccv.tp.tBytesAcked = 0;
  exitRecovery(ccv.tp);
}

/** Sending resumes after an idle period longer than the RTO (RFC 5681 §4.1). */
export function ccAfterIdle(ccv: CcVar, now: number): void {
  ccv.algo.afterIdle?.(ccv, now);
}

/** One RTT measurement in µs. */
export function ccRttSample(ccv: CcVar, rttUs: number, now: number): void {
  ccv.algo.rttSample?.(ccv, rttUs, now);
}

/**
 * The TCP control block: FreeBSD's `struct tcpcb` field names in camelCase, as a plain record
 * of numbers so it can live in a heap object now and in a shared-memory record later
 * (DESIGN §5). Behind {@link TcbStore}.
 *
 * Units: sequence numbers are uint32; times are MICROSECONDS of the engine clock (FreeBSD
 * counts ticks); tSrtt is scaled by 8 and tRttvar by 4 (tcp/rtt.ts).
 *
 * @module
 */

/** FreeBSD's TCPS_* numbering. */
export const TCPS_CLOSED = 0;
export const TCPS_LISTEN = 1;
export const TCPS_SYN_SENT = 2;
export const TCPS_SYN_RECEIVED = 3;
export const TCPS_ESTABLISHED = 4;
export const TCPS_CLOSE_WAIT = 5;
export const TCPS_FIN_WAIT_1 = 6;
export const TCPS_CLOSING = 7;
export const TCPS_LAST_ACK = 8;
export const TCPS_FIN_WAIT_2 = 9;
export const TCPS_TIME_WAIT = 10;

export const TCP_STATE_NAMES = [
  "CLOSED",
  "LISTEN",
  "SYN_SENT",
  "SYN_RCVD",
  "ESTABLISHED",
  "CLOSE_WAIT",
  "FIN_WAIT_1",
  "CLOSING",
  "LAST_ACK",
  "FIN_WAIT_2",
  "TIME_WAIT",
];

/** Have we received the peer's SYN (state ≥ SYN_RECEIVED)? */
export function haveRcvdSyn(s: number): boolean {
  return s >= TCPS_SYN_RECEIVED;
}
/** Is the connection synchronized (state ≥ ESTABLISHED)? */
export function haveEstablished(s: number): boolean {
  return s >= TCPS_ESTABLISHED;
}
/** Have we received the peer's FIN? */
export function haveRcvdFin(s: number): boolean {
  return s === TCPS_CLOSE_WAIT || s === TCPS_CLOSING || s === TCPS_LAST_ACK ||
    s === TCPS_TIME_WAIT;
}

// tFlags (FreeBSD TF_*; values are ours).
export const TF_ACKNOW = 0x1;
export const TF_DELACK = 0x2;
export const TF_NODELAY = 0x4;
export const TF_NOOPT = 0x8;
export const TF_SENTFIN = 0x10;
export const TF_REQ_SCALE = 0x20;
export const TF_RCVD_SCALE = 0x40;
export const TF_REQ_TSTMP = 0x80;
export const TF_RCVD_TSTMP = 0x100;
export const TF_SACK_PERMIT = 0x200;
export const TF_NEEDSYN = 0x400;
export const TF_NEEDFIN = 0x800;
export const TF_NOPUSH = 0x1000;
export const TF_MORETOCOME = 0x2000;
export const TF_LQ_OVERFLOW = 0x4000;
export const TF_LASTIDLE = 0x8000;
export const TF_RXWIN0SENT = 0x10000;
export const TF_FASTRECOVERY = 0x20000;
export const TF_WASFRECOVERY = 0x40000;
export const TF_SIGNATURE = 0x80000;
export const TF_FORCEDATA = 0x100000;
export const TF_TSO = 0x200000;
export const TF_ECN_PERMIT = 0x400000;
export const TF_ECN_SND_CWR = 0x800000;
export const TF_ECN_SND_ECE = 0x1000000;
export const TF_CONGRECOVERY = 0x2000000;
export const TF_WASCRECOVERY = 0x4000000;
export const TF_PREVVALID = 0x8000000;

// tFlags2 (FreeBSD TF2_*).
/** A full-size segment has been sent (PMTUD black-hole detection may apply). */
export const TF2_PLPMTU_MAXSEGSNT = 0x1;
/** The MSS was lowered by black-hole detection; tPmtudSavedMaxseg holds the old one. */
export const TF2_PLPMTU_BLACKHOLE = 0x2;
/** Black-hole detection gave up on lowering (reached the default MSS). */
export const TF2_PLPMTU_MINMSS = 0x4;

/** Timer kinds (FreeBSD TT_*). */
export const TT_DELACK = 0;
export const TT_REXMT = 1;
export const TT_PERSIST = 2;
export const TT_KEEP = 3;
export const TT_2MSL = 4;
/** RACK's reordering timer and tail-loss probe (tcp/rack_recovery.ts; only with RACK on). */
export const TT_RACK = 5;
export const TT_COUNT = 6;

/** The control block. */
export interface Tcpcb {
  state: number;
  tFlags: number;
  tFlags2: number;
  /** MSS before PMTUD black-hole detection lowered it. */
  tPmtudSavedMaxseg: number;
  // send sequence space
  iss: number;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndUp: number;
  sndWl1: number;
  sndWl2: number;
  sndWnd: number;
  maxSndWnd: number;
  sndRecover: number;
  sndCwnd: number;
  sndSsthresh: number;
  // receive sequence space
  irs: number;
  rcvNxt: number;
  rcvAdv: number;
  rcvWnd: number;
  rcvUp: number;
  // RTT (µs)
  /** Smoothed RTT × 8 (tcp/rtt.ts). */
  tSrtt: number;
  /** RTT variance × 4. */
  tRttvar: number;
  /** Smallest RTT seen (FreeBSD's t_rttlow). */
  tRttlow: number;
  /** RTT samples since the estimate was last reset (t_rttupdated). */
  tRttupdated: number;
  tRxtcur: number;
  tRxtshift: number;
  tRtttime: number;
  tRtseq: number;
  tStarttime: number;
  tRcvtime: number;
  tDupacks: number;
  tMaxseg: number;
  /** The MSS we offered (from our MTU). */
  tMaxopd: number;
  // window scaling (RFC 7323)
  requestRScale: number;
  requestedSScale: number;
  sndScale: number;
  rcvScale: number;
  // timestamps (RFC 7323)
  tsRecent: number;
  tsRecentAge: number;
  tsOffset: number;
  lastAckSent: number;
  // urgent (RFC 9293 §3.8.5)
  rcvUpValid: number;
  oobHave: number;
  oobByte: number;
  /** Keepalive idle / interval / count and connect timeout (µs, count). */
  tKeepidle: number;
  tKeepintvl: number;
  tKeepcnt: number;
  tKeepinit: number;
  tKeepprobes: number;
  /** Segments retransmitted, out-of-order received, zero windows seen (TCP_INFO). */
  tSndRexmitpack: number;
  tRcvOoopack: number;
  tSndZerowin: number;
  /** ECN: retransmitted ECN-setup SYNs. */
  tEcnRetries: number;
  /** Deadline (µs) of each timer kind, 0 when stopped (TT_*); the heap index rebuilds from these. */
  tTimers: number[];
  /** Persist-timer backoff shift. */
  tPersistShift: number;
  /** Bytes acked counter for congestion avoidance (RFC 3465). */
  tBytesAcked: number;
  /** Challenge-ACK rate limit bookkeeping (RFC 5961 §7). */
  tChallengeTime: number;
  tChallengeCount: number;
}

/** A fresh control block in CLOSED. */
export function newTcpcb(): Tcpcb {
  return {
    state: TCPS_CLOSED,
    tFlags: 0,
    tFlags2: 0,
    tPmtudSavedMaxseg: 0,
    iss: 0,
    sndUna: 0,
    sndNxt: 0,
    sndMax: 0,
    sndUp: 0,
    sndWl1: 0,
    sndWl2: 0,
    sndWnd: 0,
    maxSndWnd: 0,
    sndRecover: 0,
    sndCwnd: 0,
    sndSsthresh: 0x3fffffff,
    irs: 0,
    rcvNxt: 0,
    rcvAdv: 0,
    rcvWnd: 0,
    rcvUp: 0,
    tSrtt: 0,
    tRttvar: 0,
    tRttlow: 0,
    tRttupdated: 0,
    tRxtcur: 0,
    tRxtshift: 0,
    tRtttime: 0,
    tRtseq: 0,
    tStarttime: 0,
    tRcvtime: 0,
    tDupacks: 0,
    tMaxseg: 536,
    tMaxopd: 536,
    requestRScale: 0,
    requestedSScale: 0,
    sndScale: 0,
    rcvScale: 0,
    tsRecent: 0,
    tsRecentAge: 0,
    tsOffset: 0,
    lastAckSent: 0,
    rcvUpValid: 0,
    oobHave: 0,
    oobByte: 0,
    tKeepidle: 0,
    tKeepintvl: 0,
    tKeepcnt: 0,
    tKeepinit: 0,
    tKeepprobes: 0,
    tSndRexmitpack: 0,
    tRcvOoopack: 0,
    tSndZerowin: 0,
    tEcnRetries: 0,
    tTimers: [0, 0, 0, 0, 0, 0],
    tPersistShift: 0,
    tBytesAcked: 0,
    tChallengeTime: 0,
    tChallengeCount: 0,
  };
}

/** Where control blocks live: a heap now, shared-memory records later (DESIGN §5). */
export interface TcbStore {
  /**
   * The store wants to know which connections changed (Tcp.changed): it then stores only those
   * at a commit, not every connection of the table.
   */
  readonly tracksChanges?: boolean;
  alloc(): Tcpcb;
  free(tp: Tcpcb): void;
  /** Live control blocks (for a restarted server to rebuild its indexes). */
  all(): Iterable<Tcpcb>;
  /**
   * 32 bytes of keys that outlive the process (a store in shared memory): the stored ones,
   * else `make()`'s, kept. Without it a Tcp draws its keys afresh.
   */
  keys?(make: () => Uint8Array): Uint8Array;
}

/** Plain heap storage. */
export class HeapTcbStore implements TcbStore {
  #live = new Set<Tcpcb>();
  alloc(): Tcpcb {
    const tp = newTcpcb();
    this.#live.add(tp);
    return tp;
  }
  free(tp: Tcpcb): void {
    this.#live.delete(tp);
  }
  all(): Iterable<Tcpcb> {
    return this.#live;
  }
}

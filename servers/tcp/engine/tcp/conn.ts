/**
 * A TCP connection as the engine works on it: the {@link Tcpcb} record plus what is not a plain
 * number (addresses, socket buffers, reassembly queue, timer handles, owning socket), and the
 * {@link TcpHost} the connection's code calls back into. Also the timer activation primitive
 * (FreeBSD's tcp_timer_activate): deadlines on the stack's Timers.
 *
 * @module
 */
import type { IpAddr } from "../ip/addr.ts";
import type { Stack } from "../stack.ts";
import type { Tcpcb } from "./tcpcb.ts";
import { TT_2MSL, TT_COUNT, TT_KEEP } from "./tcpcb.ts";
import type { TcpOption, TcpRepr } from "../wire/tcp.ts";
import { ByteQueue } from "./buffer.ts";
import { ccNew, type CcVar } from "./cc/builtin.ts";
import { SackScoreboard } from "./sack.ts";
import { ReassQueue } from "./reass.ts";
import { Rack } from "./rack.ts";

/** The parts of a Stack TCP uses (so tests can run TCP over a fake IP layer). */
export type TcpStack =
  & Pick<
    Stack,
    | "ctx"
    | "timers"
    | "sysctl"
    | "counters"
    | "registerProtocol"
    | "ipOutput"
    | "sourceFor"
    | "isLocalAddress"
    | "pathMtu"
  >
  & Partial<Pick<Stack, "linkCapsFor" | "segmentBuffer" | "thisHost">>;

/** What connection code needs from the protocol instance. */
export interface TcpHost {
  readonly stack: TcpStack;
  now(): number;
  num(name: string): number;
  count(reason: string): void;
  /** Sends one segment built from `r` (checksum filled by the IP layer). */
  send(c: ConnAddrs, r: TcpRepr, ecn: number): number;
  /** A timer of kind TT_* expired. */
  onTimer(c: TcpConn, kind: number): void;
  /** The connection reached CLOSED: remove it from every table. */
  detach(c: TcpConn): void;
  /**
   * A child of a listener became ESTABLISHED: it goes to the accept queue, or — when the queue
   * is full — is refused (false; the caller drops it with a RST).
   */
  childEstablished(c: TcpConn): boolean;
  /** Readiness may have changed. */
  notify(c: TcpConn): void;
  /** RFC 6528 ISN for a new connection. */
  isnFor(c: ConnAddrs): number;
  /** The timestamp offset for a new connection (RFC 7323 §5.4, per 4-tuple). */
  tsOffsetFor(c: ConnAddrs): number;
  /** Largest TCP payload+header the link segments for us (TSO), or 0 without TSO. */
  tsoMax(c: ConnAddrs): number;
  /**
   * The TFO client cookie cache (RFC 7413 §4.1.1) by peer address: a cookie, null when the
   * path must not use TFO, undefined when unknown.
   */
  readonly tfoCache: Map<string, Uint8Array | null>;
}

/** The 4-tuple and IP version. */
export interface ConnAddrs {
  version: 4 | 6;
  laddr: IpAddr;
  lport: number;
  faddr: IpAddr;
  fport: number;
  /** IP_TTL / IPV6_UNICAST_HOPS set on the socket (0 = the stack's default). */
  ipTtl?: number;
  /** IP_TOS / IPV6_TCLASS (the DSCP part is used). */
  ipTos?: number;
  /** TCP over UDP: the peer's UDP port (FreeBSD's t_port), 0 for plain TCP. */
  tPort?: number;
}

/** A connection. */
export class TcpConn implements ConnAddrs {
  readonly host: TcpHost;
  readonly tp: Tcpcb;
  version: 4 | 6 = 4;
  laddr: IpAddr = "";
  lport = 0;
  faddr: IpAddr = "";
  fport = 0;
  ipTtl = 0;
  ipTos = 0;
  tPort = 0;
  /** Bytes from sndUna on (unacknowledged and unsent). */
  snd = new ByteQueue();
  /** Bytes received in order, not yet read. */
  rcv = new ByteQueue();
  sndHiwat = 32768;
  rcvHiwat = 65536;
  /** Reassembly queue (tcp_reass): sorted, disjoint copies of out-of-order segments. */
  readonly reass = new ReassQueue();
  /** Receiver SACK blocks, most recent first (RFC 2018 §4); a DSACK block first when set. */
  sackBlocks: Array<[number, number]> = [];
  /** RACK-TLP state when the connection was created with functions_default=rack. */
  rack: Rack | undefined = undefined;
  /** The option list of a segment carrying only timestamps, reused by tcp_output. */
  readonly tsOptions: TcpOption[] = [{ kind: "nop" }, { kind: "nop" }, {
    kind: "ts",
    val: 0,
    ecr: 0,
  }];
  dsack: [number, number] | undefined;
  /** Socket-level state. */
  soError = 0;
  cantRcvMore = false;
  cantSendMore = false;
  /** The user closed the socket (no owner to read). */
  closed = false;
  /** Connection went through a FIN/RST and is done for the user (readable EOF/error). */
  isDisconnected = false;
  /** Listener that created this connection (until accepted). */
  parent: TcpConn | undefined;
  /** For a listener: established children waiting for accept(), and embryonic ones. */
  acceptQueue: TcpConn[] = [];
  incomplete: Set<TcpConn> = new Set();
  backlog = 0;
  /** Socket options that outlive a connection attempt. */
  keepalive = false;
  lingerOn = false;
  lingerSecs = 0;
  reuseAddr = false;
  reusePort = false;
  oobInline = false;
  /** Timer handles per TT_* kind (0 = none) and when each heap entry fires (µs). */
  timerIds: number[] = new Array(TT_COUNT).fill(0);
  timerAt: number[] = new Array(TT_COUNT).fill(0);
  /** ECN field of the segment being processed / to send. */
  rcvEcn = 0;
  /** A SYN-ACK / SYN retransmission should drop options (rexmit_drop_options). */
  dropOptions = false;
  /** The user asked for SO_LINGER 0 abort, or the connection is dropped. */
  dropped = false;
  /** A socket fd owns this connection (for lookups by the socket layer). */
  fd = -1;
  /** The peer sent options we must echo in a SYN-ACK (listener children). */
  peerSackOk = false;
  /** TCP_FASTOPEN set on the socket (RFC 7413 client). */
  tfo = false;
  /**
   * TCP_MAXSEG set before the handshake (0: none): the MSS this end offers and sends at most
   * (Linux's user_mss; listeners pass it to their connections).
   */
  userMss = 0;
  /**
   * TCP_USER_TIMEOUT (Linux; FreeBSD's TCP_MAXUNACKTIME), µs, 0: none. Data unacknowledged
   * for longer drops the connection (ETIMEDOUT) at the next retransmission or window probe.
   */
  maxUnack = 0;
  /**
   * TCP_SYNCNT (Linux), 0: none. SYN retransmissions an active open makes before it gives up
   * (ETIMEDOUT), where the default retries for 75 s (a client bounding its connect time).
   */
  synRetries = 0;
  /** In-order data segments received (net.inet.tcp.quickack_segments counts them). */
  segsIn = 0;
  /** Since when data has waited for an ACK (FreeBSD's t_acktime): -1 when none is out. */
  ackTime = -1;
  /** This connection was opened by a TFO sendto (the SYN asks for or carries a cookie). */
  tfoConnect = false;
  /** RFC 7413 server: the cookie to offer in our SYN-ACK (a request or a bad cookie came). */
  tfoCookieOut: Uint8Array | undefined = undefined;
  /** Set when urgent data's mark is pending delivery. */
  oobMark = -1;

  /** Congestion control state (FreeBSD's cc_var): the algorithm's hooks and data. */
  ccv: CcVar;
  /** Sender SACK scoreboard (RFC 6675), used when SACK was negotiated. */
  readonly sb = new SackScoreboard();

  constructor(host: TcpHost, tp: Tcpcb, ccAlgo = "newreno") {
    this.host = host;
    this.tp = tp;
    this.ccv = ccNew(tp, ccAlgo);
  }
}

const TICK = 1000;

/** Arms (delta > 0) or stops (delta ≤ 0) timer `kind` (FreeBSD tcp_timer_activate). */
export function timerActivate(c: TcpConn, kind: number, delta: number): void {
  const timers = c.host.stack.timers;
  if (delta <= 0) {
    // Stopping leaves the heap entry (when it fires it sees no deadline and does nothing):
    // the delayed-ACK and retransmission timers stop and start again on every round trip,
    // and re-arming a pending entry allocates nothing. timersStopAll cancels for real.
    c.tp.tTimers[kind] = 0;
    return;
  }
  // Like a callout on a 1 ms tick, a retransmission-type timer fires just after its
  // deadline, so a segment that arrives exactly at the deadline is processed first.
  const tick = kind === TT_KEEP || kind === TT_2MSL ? 0 : TICK;
  const at = c.host.now() + Math.max(1, Math.round(delta)) + tick;
  c.tp.tTimers[kind] = at;
  // Pushing a running timer later (the retransmission timer on every ACK) only moves the
  // deadline; the pending heap entry re-arms itself when it fires early.
  if (c.timerIds[kind] !== 0 && c.timerAt[kind] <= at) return;
  if (c.timerIds[kind] !== 0 && timers.reschedule(c.timerIds[kind], at)) {
    c.timerAt[kind] = at;
    return;
  }
  schedule(c, kind, at);
}

function schedule(c: TcpConn, kind: number, at: number): void {
  c.timerAt[kind] = at;
  c.timerIds[kind] = c.host.stack.timers.schedule(at, () => {
    const deadline = c.tp.tTimers[kind];
    if (deadline > c.host.now()) {
      schedule(c, kind, deadline); // the deadline moved while this entry waited
      return;
    }
    c.timerIds[kind] = 0;
    if (deadline === 0) return; // stopped while the entry waited
    c.tp.tTimers[kind] = 0;
    c.host.onTimer(c, kind);
  });
}

/** Is timer `kind` running? */
export function timerActive(c: TcpConn, kind: number): boolean {
  return c.tp.tTimers[kind] !== 0;
}

/** Stops every timer, heap entries included. */
export function timersStopAll(c: TcpConn): void {
  const timers = c.host.stack.timers;
  for (let k = 0; k < TT_COUNT; k++) {
    if (c.timerIds[k] !== 0) timers.cancel(c.timerIds[k]);
    c.timerIds[k] = 0;
    c.tp.tTimers[k] = 0;
  }
}

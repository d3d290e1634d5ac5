/**
 * The engine-level socket API: what the conformance runner, the simulator and the socket
 * service call. Linux numbering for constants and errno (the shim exposes Linux's ABI); a few
 * FreeBSD-only TCP options get engine-private numbers (≥ 0x10000) so the conformance suite's
 * scripts can name them.
 *
 * Conventions:
 * - Every call returns a {@link SockResult}: `{ value }` or `{ errno }`; nothing throws for user
 *   errors.
 * - Nothing blocks. On a non-blocking socket (O_NONBLOCK or MSG_DONTWAIT) an operation that
 *   cannot complete returns `{ errno: EAGAIN }` (connect: `EINPROGRESS`). On a blocking socket it
 *   returns `{ errno: EAGAIN, wouldBlock: true, waitFor }`: the caller waits until
 *   `poll(fd) & (waitFor | POLLERR | POLLHUP)` (the `onEvent` callback tells it when readiness
 *   changes) and then calls the SAME method again with the same arguments ("retry"). For a
 *   blocking connect the retry returns `{ value: 0 }` once established or the connection's error
 *   (ECONNREFUSED, ETIMEDOUT, …).
 * - send() takes what fits in the send buffer and returns that count (≥ 1); a blocking caller
 *   loops over the rest. recv(MSG_WAITALL) waits (wouldBlock) until the full count, EOF or an
 *   error.
 * - Readiness changes are reported through {@link SocketEvents.onEvent} with the new poll bits.
 *
 * @example
 * ```ts
 * const s = new Sockets(stack);            // socket/sockets.ts
 * const fd = s.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
 * if ("errno" in fd) throw new Error(errnoName(fd.errno));
 * s.fcntl(fd.value, F_SETFL, O_NONBLOCK);
 * s.connect(fd.value, { family: AF_INET, addr: "198.18.0.1", port: 7 }); // { errno: EINPROGRESS }
 * ```
 * @module
 */

import type { IpAddr } from "../ip/addr.ts";

// ---- address families, types, protocols ----
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
/** Flags that may be or-ed into the type argument of socket(). */
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;
export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;

// ---- levels and options (Linux numbers) ----
export const SOL_SOCKET = 1;
export const SO_DEBUG = 1;
export const SO_REUSEADDR = 2;
export const SO_TYPE = 3;
export const SO_ERROR = 4;
export const SO_DONTROUTE = 5;
export const SO_BROADCAST = 6;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_KEEPALIVE = 9;
export const SO_OOBINLINE = 10;
export const SO_LINGER = 13;
export const SO_REUSEPORT = 15;
export const SO_RCVLOWAT = 18;
export const SO_SNDLOWAT = 19;
export const SO_RCVTIMEO = 20;
export const SO_SNDTIMEO = 21;
export const SO_ACCEPTCONN = 30;
export const SO_PROTOCOL = 38;
export const SO_DOMAIN = 39;

export const TCP_NODELAY = 1;
export const TCP_MAXSEG = 2;
export const TCP_CORK = 3;
export const TCP_KEEPIDLE = 4;
export const TCP_KEEPINTVL = 5;
export const TCP_KEEPCNT = 6;
export const TCP_SYNCNT = 7;
export const TCP_LINGER2 = 8;
export const TCP_DEFER_ACCEPT = 9;
export const TCP_WINDOW_CLAMP = 10;
export const TCP_INFO = 11;
export const TCP_QUICKACK = 12;
export const TCP_CONGESTION = 13;
export const TCP_MD5SIG = 14;
export const TCP_USER_TIMEOUT = 18;
export const TCP_FASTOPEN = 23;
// FreeBSD-only options (no Linux number): engine-private.
export const TCP_NOOPT = 0x10008;
export const TCP_NOPUSH = 0x10004;
export const TCP_KEEPINIT = 0x10080;
export const TCP_FUNCTION_BLK = 0x12000;
export const TCP_REMOTE_UDP_ENCAPS_PORT = 0x10047;
export const TCP_RACK_PACE_MAX_SEG = 0x11071;
export const TCP_RACK_PACE_RATE_SS = 0x11072;
export const TCP_RACK_PACE_ALWAYS = 0x11073;

export const IP_TOS = 1;
export const IP_TTL = 2;
export const IP_MTU_DISCOVER = 10;
/** Read-only: the path MTU to the connected peer. */
export const IP_MTU = 14;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MTU_DISCOVER = 23;
/** Read-only: the path MTU to the connected peer. */
export const IPV6_MTU = 24;
export const IPV6_V6ONLY = 26;
export const IPV6_TCLASS = 67;
/** Linux's SOL_SOCKET options the engine does not have (the socket service answers them). */
export const SO_BINDTODEVICE = 25;
export const SO_ZEROCOPY = 60;

/** Option names → numbers, for script runners ("SO_RCVBUF" → 8). */
export const SOCKOPT_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  SOL_SOCKET,
  IPPROTO_IP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_IPV6,
  SO_DEBUG,
  SO_REUSEADDR,
  SO_TYPE,
  SO_ERROR,
  SO_DONTROUTE,
  SO_BROADCAST,
  SO_SNDBUF,
  SO_RCVBUF,
  SO_KEEPALIVE,
  SO_OOBINLINE,
  SO_LINGER,
  SO_REUSEPORT,
  SO_RCVLOWAT,
  SO_SNDLOWAT,
  SO_RCVTIMEO,
  SO_SNDTIMEO,
  SO_ACCEPTCONN,
  SO_PROTOCOL,
  SO_DOMAIN,
  TCP_NODELAY,
  TCP_MAXSEG,
  TCP_CORK,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_KEEPCNT,
  TCP_SYNCNT,
  TCP_LINGER2,
  TCP_DEFER_ACCEPT,
  TCP_WINDOW_CLAMP,
  TCP_INFO,
  TCP_QUICKACK,
  TCP_CONGESTION,
  TCP_MD5SIG,
  TCP_USER_TIMEOUT,
  TCP_FASTOPEN,
  TCP_NOOPT,
  TCP_NOPUSH,
  TCP_KEEPINIT,
  TCP_FUNCTION_BLK,
  TCP_REMOTE_UDP_ENCAPS_PORT,
  TCP_RACK_PACE_MAX_SEG,
  TCP_RACK_PACE_RATE_SS,
  TCP_RACK_PACE_ALWAYS,
  IP_TOS,
  IP_TTL,
  IPV6_UNICAST_HOPS,
  IPV6_V6ONLY,
  IPV6_TCLASS,
});

// ---- send/recv flags ----
export const MSG_OOB = 0x1;
export const MSG_PEEK = 0x2;
export const MSG_DONTROUTE = 0x4;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_EOR = 0x80;
export const MSG_WAITALL = 0x100;
export const MSG_NOSIGNAL = 0x4000;

// ---- shutdown ----
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;

// ---- fcntl ----
export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0x800;

// ---- ioctl (Linux numbers) ----
export const FIONREAD = 0x541b;
export const FIONBIO = 0x5421;
export const SIOCATMARK = 0x8905;
/** Bytes the socket holds to send, unsent and unacknowledged (Linux's SIOCOUTQ, TIOCOUTQ). */
export const SIOCOUTQ = 0x5411;

// ---- poll bits ----
export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const POLLRDNORM = 0x40;
export const POLLWRNORM = 0x100;
export const POLLRDHUP = 0x2000;

/** FreeBSD's TCPS_* numbering, as reported in tcpi_state. */
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

/** tcpi_options bits (FreeBSD / Linux agree). */
export const TCPI_OPT_TIMESTAMPS = 0x01;
export const TCPI_OPT_SACK = 0x02;
export const TCPI_OPT_WSCALE = 0x04;
export const TCPI_OPT_ECN = 0x08;
export const TCPI_OPT_TOE = 0x10;
export const TCPI_OPT_TFO = 0x20;

// ---- values ----

/** A socket address. `addr` is canonical text (ip/addr.ts); "0.0.0.0" / "::" = any. */
export interface SockAddr {
  family: typeof AF_INET | typeof AF_INET6;
  addr: IpAddr;
  port: number;
}

/** SO_LINGER's value. */
export interface Linger {
  onoff: boolean;
  /** Seconds. */
  linger: number;
}

/** TCP_INFO's value (FreeBSD's struct tcp_info fields; times in microseconds). */
export interface TcpInfo {
  tcpi_state: number;
  tcpi_options: number;
  tcpi_snd_wscale: number;
  tcpi_rcv_wscale: number;
  tcpi_rto: number;
  tcpi_snd_mss: number;
  tcpi_rcv_mss: number;
  tcpi_rtt: number;
  tcpi_rttvar: number;
  tcpi_snd_ssthresh: number;
  tcpi_snd_cwnd: number;
  tcpi_rcv_space: number;
  tcpi_snd_wnd: number;
  tcpi_snd_nxt: number;
  tcpi_rcv_nxt: number;
  tcpi_snd_rexmitpack: number;
  tcpi_rcv_ooopack: number;
  tcpi_snd_zerowin: number;
  tcpi_last_data_recv: number;
  /**
   * Segments sent and not yet acknowledged (Linux's tcpi_unacked; a SYN counts); on a
   * listener, as Linux: connections waiting to be accepted.
   */
  tcpi_unacked: number;
  /** On a listener (Linux's tcpi_sacked there): its backlog; else 0. */
  tcpi_sacked: number;
  /** The path MTU toward the peer (0 before a connect). */
  tcpi_pmtu: number;
}

/**
 * The four bytes of an int option value the socket service got as a number (the shim sends a
 * four-byte value so): what the program wrote, little-endian.
 */
export function intBytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

/** A socket option's value: an int, SO_LINGER, TCP_INFO, a name (TCP_CONGESTION) or bytes. */
export type SockOptValue = number | Linger | TcpInfo | string | Uint8Array;

/** A call's outcome. `wouldBlock` only on a blocking socket; then retry after `waitFor`. */
export type SockResult<T> =
  | { value: T; errno?: undefined; wouldBlock?: undefined; waitFor?: undefined }
  | { errno: number; value?: undefined; wouldBlock?: boolean; waitFor?: number };

/** What recv returns. `from` is set for datagram sockets. */
export interface RecvValue {
  data: Uint8Array;
  from?: SockAddr;
  /** The datagram was longer than asked (MSG_TRUNC semantics). */
  truncated?: boolean;
  /** A datagram's destination address, interface index and TTL / hop limit (IP_PKTINFO…). */
  dst?: IpAddr;
  ifIndex?: number;
  ttl?: number;
}

/** What accept returns. */
export interface AcceptValue {
  fd: number;
  peer: SockAddr;
}

/** Readiness callbacks. */
export interface SocketEvents {
  /** Called when fd's poll bits change (after the engine has processed an input or a timer). */
  onEvent?: (fd: number, events: number) => void;
  /**
   * Called whenever fd's note count (SocketApi.noteCounter) goes up: the engine said its state
   * may have changed, whether or not the poll bits did.
   */
  onNote?: (fd: number) => void;
}

/**
 * The engine's socket API (implemented by `Sockets` in socket/sockets.ts).
 * File descriptors are small integers, lowest free first, starting at 3 by default.
 */
export interface SocketApi extends SocketEvents {
  socket(domain: number, type: number, protocol: number): SockResult<number>;
  bind(fd: number, addr: SockAddr): SockResult<0>;
  listen(fd: number, backlog: number): SockResult<0>;
  accept(fd: number): SockResult<AcceptValue>;
  connect(fd: number, addr: SockAddr): SockResult<0>;
  send(fd: number, data: Uint8Array, flags?: number, to?: SockAddr): SockResult<number>;
  recv(fd: number, maxLen: number, flags?: number): SockResult<RecvValue>;
  /**
   * recv into the caller's `dst` (at most `dst.length` bytes): the byte count, 0 at the end of
   * a stream. TCP reads its receive queue straight into `dst` (no array allocated, one copy
   * less). Optional so that test doubles need not have it; `Sockets` implements it.
   */
  recvInto?(fd: number, dst: Uint8Array, flags?: number): SockResult<number>;
  /**
   * A live count of the times the engine said `fd`'s state may have changed (data, room, a
   * state change, an error), for as long as `fd` is open; undefined for no such fd. A caller
   * that saw the same count has nothing new to look at from the engine's side. Optional (test
   * doubles); `Sockets` implements it.
   */
  noteCounter?(fd: number): { readonly notes: number } | undefined;
  /** The path MTU toward `dst` (IP_MTU of a connected socket); absent where unknown. */
  pathMtu?(dst: string): number;
  shutdown(fd: number, how: number): SockResult<0>;
  close(fd: number): SockResult<0>;
  getsockopt(fd: number, level: number, name: number): SockResult<SockOptValue>;
  setsockopt(fd: number, level: number, name: number, value: SockOptValue): SockResult<0>;
  fcntl(fd: number, cmd: number, arg?: number): SockResult<number>;
  getsockname(fd: number): SockResult<SockAddr>;
  getpeername(fd: number): SockResult<SockAddr>;
  /**
   * ioctl: FIONREAD (bytes readable now), SIOCOUTQ (bytes held to send: unsent and
   * unacknowledged), SIOCATMARK (1 when the read pointer is at the urgent mark), FIONBIO
   * (arg ≠ 0 sets O_NONBLOCK). Optional so that test doubles need not have it;
   * `Sockets` implements it.
   */
  ioctl?(fd: number, request: number, arg?: number): SockResult<number>;
  /** Current readiness bits (POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP, POLLPRI). */
  poll(fd: number): number;
  tcpInfo(fd: number): SockResult<TcpInfo>;
}

/**
 * What a protocol's socket implements (TCP here; UDP in udp/). The socket layer (`Sockets`)
 * owns fds, O_NONBLOCK and readiness bookkeeping; a protocol socket works on itself only.
 * `nonblock` tells it whether to return EAGAIN/EINPROGRESS (true) or `wouldBlock` (false).
 * The protocol calls the `notify` function it was created with whenever its readiness may
 * have changed; the socket layer recomputes `poll()` and fires onEvent when the bits differ.
 */
export interface ProtoSocket {
  readonly type: number;
  readonly protocol: number;
  readonly domain: number;
  bind(addr: SockAddr): SockResult<0>;
  listen(backlog: number): SockResult<0>;
  /** Returns a new protocol socket (the socket layer gives it an fd) and the peer. */
  accept(nonblock: boolean): SockResult<{ sock: ProtoSocket; peer: SockAddr }>;
  connect(addr: SockAddr, nonblock: boolean): SockResult<0>;
  send(data: Uint8Array, flags: number, nonblock: boolean, to?: SockAddr): SockResult<number>;
  recv(maxLen: number, flags: number, nonblock: boolean): SockResult<RecvValue>;
  /** recv into `dst` without allocating (optional: the socket layer falls back on recv). */
  recvInto?(dst: Uint8Array, flags: number, nonblock: boolean): SockResult<number>;
  shutdown(how: number): SockResult<0>;
  /**
   * Closes; the protocol may go on in the background (FIN exchange, TIME_WAIT). A blocking
   * socket with SO_LINGER on and a time > 0 may answer `wouldBlock` (waitFor POLLHUP): the
   * caller waits and calls close() again, which completes once the connection is
   * disconnected or the linger time is over; the fd stays open meanwhile.
   */
  close(nonblock?: boolean): SockResult<0>;
  getsockopt(level: number, name: number): SockResult<SockOptValue>;
  setsockopt(level: number, name: number, value: SockOptValue): SockResult<0>;
  getsockname(): SockResult<SockAddr>;
  getpeername(): SockResult<SockAddr>;
  poll(): number;
  /** Bytes readable now (FIONREAD): the next datagram's size for datagram sockets. */
  available?(): number;
  /** Bytes held to send, unsent and unacknowledged (SIOCOUTQ). */
  sendQueued?(): number;
  /** At the urgent mark (SIOCATMARK). */
  atMark?(): boolean;
  /** Called by the socket layer when the fd is assigned, so the protocol can notify. */
  setNotify(fn: () => void): void;
  tcpInfo?(): TcpInfo;
}

/** A protocol's socket constructor, registered with the socket layer for (type, protocol). */
export type ProtoSocketFactory = (domain: number) => SockResult<ProtoSocket>;

/** Helpers for results. */
export function ok<T>(value: T): SockResult<T> {
  return { value };
}
export function err<T = never>(errno: number): SockResult<T> {
  return { errno };
}
export function block<T = never>(errno: number, waitFor: number): SockResult<T> {
  return { errno, wouldBlock: true, waitFor };
}

/**
 * setsockopt and getsockopt as Linux answers them, over the engine's options (FreeBSD's): the
 * rules the socket service applies before and after asking the engine. Level and name checks,
 * Linux's value forms and ranges (sockopt_values.ts), options the engine does not model (kept
 * here per socket and read back as set), dual-stack twins, and the Linux-only options the
 * service implements itself (TCP_CORK, SO_BINDTODEVICE, a datagram socket's SO_LINGER).
 */
import { bufReadBack } from "./host_limits.ts";
import {
  AF_INET,
  AF_INET6,
  IP_MTU,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_MTU,
  IPV6_V6ONLY,
  SO_BINDTODEVICE,
  SO_DOMAIN,
  SO_ERROR,
  SO_LINGER,
  SO_RCVBUF,
  SO_SNDBUF,
  SO_ZEROCOPY,
  SOCK_DGRAM,
  SOCK_STREAM,
  type SocketApi,
  type SockResult,
  SOL_SOCKET,
  TCP_CONGESTION,
  TCP_CORK,
  type TcpInfo,
} from "../engine/socket/api.ts";
import {
  ccNameBytes,
  cString,
  deviceExists,
  engineCcName,
  getOnly,
  inherited,
  intBytes,
  keepsUnmodelled,
  keptValue,
  linuxCcName,
  linuxDefault,
  linuxValue,
  optionRangeProblem,
  pastLinuxOptions,
} from "./sockopt_values.ts";

const EINVAL = 22, ENODEV = 19, ENOTCONN = 107, EOPNOTSUPP = 95, ENOPROTOOPT = 92;

/** SO_LINGER's value. */
export interface Linger {
  onoff: boolean;
  linger: number;
}

/** What the option rules read and keep of a socket of the service. */
export interface OptionSock {
  fd: number;
  type: number;
  /** The IPv4 twin of a dual-stack socket (the service's), or undefined. */
  twin?: number;
  /** A dual-stack UDP socket connected to an IPv4-mapped peer through its twin. */
  twinConnected?: boolean;
  /** Accepted through a twin: addresses are shown IPv4-mapped. */
  mapped?: boolean;
  /** IPV6_V6ONLY was set: no twin. */
  v6only?: boolean;
  /** Options the engine does not model, as set, and Linux's doubled SO_SNDBUF/SO_RCVBUF. */
  opts?: Map<number, number | Uint8Array>;
  /** SO_LINGER as a datagram socket's app set it (no effect, read back: Linux). */
  linger?: Linger;
}

/** What the option rules need of the service around a socket. */
export interface OptionHost<S extends OptionSock> {
  readonly api: SocketApi;
  /**
   * Moves what waits in the socket's rings now: a datagram sent before an option changed
   * leaves under the options it was sent with.
   */
  pump(s: S): void;
  /** Linux's TCP_CORK; an errno or 0. */
  cork(s: S, on: boolean): number;
  /** A datagram socket's IP-level option, kept for a restart (issue 8). */
  keepDgramOption(s: S, level: number, name: number, v: number | Uint8Array): void;
  /** SO_ERROR: the socket's pending error, cleared. */
  takeError(s: S): number;
}

/** The value of a setsockopt as the shim sends it: an int, or the bytes the app passed. */
export type RawOption = { int: number } | { bytes: Uint8Array };

/**
 * Why Linux refuses option (level, name) on `s` before looking at it: a TCP option on a
 * datagram socket or a UDP one on a stream socket (ENOPROTOOPT to set, EOPNOTSUPP to read:
 * Linux 6.x), an IPv6 option on an IPv4 socket; setting a read-only option (SO_TYPE,
 * SO_ACCEPTCONN, TCP_INFO…) is ENOPROTOOPT. 0 when fine.
 */
export function sockoptProblem(
  api: SocketApi,
  s: OptionSock,
  level: number,
  name: number,
  get = false,
): number {
  const wrongLevel = (level === IPPROTO_TCP && s.type === SOCK_DGRAM) ||
    (level === IPPROTO_UDP && s.type === SOCK_STREAM) ||
    (level === IPPROTO_IPV6 && !s.mapped &&
      api.getsockopt(s.fd, SOL_SOCKET, SO_DOMAIN).value === AF_INET);
  if (wrongLevel) return get ? EOPNOTSUPP : ENOPROTOOPT;
  if (!get && getOnly(level, name)) return ENOPROTOOPT;
  return 0;
}

/** setsockopt(level, name) of socket `s`: 0 or an errno. */
export function setOption<S extends OptionSock>(
  h: OptionHost<S>,
  s: S,
  level: number,
  name: number,
  raw: RawOption,
): number {
  const api = h.api;
  let v: number | Uint8Array | Linger;
  if ("int" in raw) v = raw.int;
  else if (level === SOL_SOCKET && name === SO_LINGER && raw.bytes.length >= 8) {
    const bv = new DataView(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.length);
    v = { onoff: bv.getInt32(0, true) !== 0, linger: bv.getInt32(4, true) };
  } else v = raw.bytes.slice();
  const bad = sockoptProblem(api, s, level, name);
  if (bad !== 0) return bad;
  // No error queue for MSG_ZEROCOPY's completions: refused, as Linux refuses it where a
  // socket cannot do it (accepted, a program waiting for them before reusing its buffers
  // waited for ever).
  if (level === SOL_SOCKET && name === SO_ZEROCOPY) return EOPNOTSUPP;
  const lv = linuxValue(level, name, v);
  if (typeof lv === "object" && "errno" in lv) return lv.errno;
  v = lv;
  // A datagram the app sent before this call goes out with the options it was sent under
  // (a traceroute setting IP_TTL per probe: the probes waited in the ring and left with a
  // later TTL).
  if (s.type === SOCK_DGRAM) h.pump(s);
  if (level === IPPROTO_TCP && name === TCP_CONGESTION && typeof v !== "object") {
    v = intBytes(v); // a name of four bytes ("reno") comes from the shim as an int
  }
  if (level === IPPROTO_TCP && name === TCP_CONGESTION && v instanceof Uint8Array) {
    // The engine takes a module's name; Linux's "reno" is the engine's "newreno".
    return api.setsockopt(s.fd, level, name, engineCcName(cString(v))).errno ?? 0;
  }
  if (level === SOL_SOCKET && name === SO_BINDTODEVICE) {
    // Kept here (the engine has one interface): "" unbinds, a name must be an interface of
    // this host (ENODEV), read back as set.
    const dev = cString(typeof v === "number" ? intBytes(v) : v as Uint8Array);
    if (dev !== "" && !deviceExists(dev)) return ENODEV;
    (s.opts ??= new Map()).set(level * 65536 + name, new TextEncoder().encode(dev));
    return 0;
  }
  const range = optionRangeProblem(level, name, v);
  if (range !== 0) return range;
  if (level === SOL_SOCKET && name === SO_LINGER && s.type === SOCK_DGRAM) {
    // Accepted without effect on a datagram socket (Linux), and read back.
    if (typeof v !== "object" || v instanceof Uint8Array) return EINVAL;
    s.linger = v;
    return 0;
  }
  if (level === IPPROTO_IPV6 && name === IPV6_V6ONLY && typeof v === "number") {
    s.v6only = v !== 0;
  }
  if (
    level === IPPROTO_TCP && name === TCP_CORK && s.type === SOCK_STREAM && typeof v === "number"
  ) {
    return h.cork(s, v !== 0);
  }
  if (pastLinuxOptions(level, name)) return ENOPROTOOPT; // not Linux's there
  // A dual-stack datagram socket's IPv4 options are its IPv4 twin's: multicast on IPv4 groups
  // (IP_ADD_MEMBERSHIP, IP_MULTICAST_TTL…) and the TTL of what goes out by it.
  const ipv4Twin = s.twin !== undefined && level === IPPROTO_IP && s.type === SOCK_DGRAM;
  const target = ipv4Twin ? s.twin! : s.fd;
  const r = api.setsockopt(target, level, name, v);
  if (s.twin !== undefined && level === SOL_SOCKET) api.setsockopt(s.twin, level, name, v);
  if (
    r.errno === undefined && s.type === SOCK_DGRAM &&
    (level === IPPROTO_IP || level === IPPROTO_IPV6) &&
    (typeof v === "number" || v instanceof Uint8Array)
  ) {
    h.keepDgramOption(s, level, name, v);
  }
  if (r.errno === ENOPROTOOPT && keepsUnmodelled(level)) {
    // An option the engine does not model (TCP_QUICKACK, SO_BROADCAST on a stream…):
    // accepted and remembered, so getsockopt reads back what was set.
    if (typeof v === "number" || v instanceof Uint8Array) {
      (s.opts ??= new Map()).set(level * 65536 + name, v);
    }
    return 0;
  }
  if (r.errno === undefined && typeof v === "number") {
    // Accepted by the engine without a model of it (SO_PRIORITY, SO_MARK, IP_RECVERR…): read
    // back as set, where they read back as the default (or failed).
    const kept = keptValue(level, name, v);
    if (kept !== undefined || api.getsockopt(target, level, name).errno !== undefined) {
      (s.opts ??= new Map()).set(level * 65536 + name, kept ?? v);
    }
  }
  if (
    r.errno === undefined && level === SOL_SOCKET && typeof v === "number" &&
    (name === SO_SNDBUF || name === SO_RCVBUF)
  ) {
    // Linux reads back twice what was set, capped by the host's wmem_max/rmem_max.
    (s.opts ??= new Map()).set(
      level * 65536 + name,
      bufReadBack(name === SO_SNDBUF ? "snd" : "rcv", v),
    );
  }
  // The engine's TCP is IPv6-only; the service gives dual stack.
  if (level === IPPROTO_IPV6 && name === IPV6_V6ONLY && s.type === SOCK_STREAM) return 0;
  return r.errno ?? 0;
}

/**
 * getsockopt(level, name) of socket `s`, in the form Linux gives it: an int, or bytes (a
 * name, `struct linger`, `struct tcp_info`…).
 */
export function getOption<S extends OptionSock>(
  h: OptionHost<S>,
  s: S,
  level: number,
  name: number,
): SockResult<number | Uint8Array> {
  const api = h.api;
  const bad = sockoptProblem(api, s, level, name, true);
  if (bad !== 0) return { errno: bad };
  if (level === SOL_SOCKET && name === SO_LINGER && s.type === SOCK_DGRAM) {
    return { value: lingerBytes(s.linger ?? { onoff: false, linger: 0 }) };
  }
  if ((level === IPPROTO_IP && name === IP_MTU) || (level === IPPROTO_IPV6 && name === IPV6_MTU)) {
    // The path MTU to the connected peer (ENOTCONN without one).
    const fd = s.twinConnected && s.twin !== undefined ? s.twin : s.fd;
    const peer = api.getpeername(fd);
    const mtu = peer.errno === undefined ? api.pathMtu?.(peer.value.addr) : undefined;
    return mtu === undefined ? { errno: ENOTCONN } : { value: mtu };
  }
  if (level === SOL_SOCKET && name === SO_ERROR) return { value: h.takeError(s) };
  const kept = s.opts?.get(level * 65536 + name);
  if (kept !== undefined) return { value: kept };
  if (
    level === IPPROTO_IPV6 && name === IPV6_V6ONLY && s.type === SOCK_STREAM &&
    (s.mapped || api.getsockopt(s.fd, SOL_SOCKET, SO_DOMAIN).value === AF_INET6)
  ) {
    // The service's dual stack keeps it; an IPv4 client of a dual-stack listener is on an
    // AF_INET6 socket that is not IPv6-only (it was ENOPROTOOPT).
    return { value: s.v6only && !s.mapped ? 1 : 0 };
  }
  const ipv4Twin = s.twin !== undefined && level === IPPROTO_IP && s.type === SOCK_DGRAM;
  const r = api.getsockopt(ipv4Twin ? s.twin! : s.fd, level, name);
  if (r.errno === ENOPROTOOPT) {
    const dflt = linuxDefault(level, name);
    if (dflt !== undefined) return { value: dflt };
    // No device bound: an empty name (sshd asks on every connection for its VRF).
    if (level === SOL_SOCKET && name === SO_BINDTODEVICE) return { value: new Uint8Array() };
  }
  if (r.errno !== undefined) return { errno: r.errno };
  return { value: linuxForm(level, name, r.value) };
}

/** An engine option value as Linux's getsockopt gives it. */
function linuxForm(level: number, name: number, v: unknown): number | Uint8Array {
  if (typeof v === "number") return v;
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string" && level === IPPROTO_TCP && name === TCP_CONGESTION) {
    return ccNameBytes(linuxCcName(v));
  }
  if (typeof v === "string") return new TextEncoder().encode(v);
  if (v && typeof v === "object" && "tcpi_state" in v) return linuxTcpInfo(v as TcpInfo);
  if (v && typeof v === "object" && "onoff" in v) return lingerBytes(v as Linger);
  return 0;
}

/** `struct linger`. */
function lingerBytes(l: Linger): Uint8Array {
  const b = new Uint8Array(8);
  const bv = new DataView(b.buffer);
  bv.setInt32(0, l.onoff ? 1 : 0, true);
  bv.setInt32(4, l.linger, true);
  return b;
}

/**
 * An accepted socket starts with its listener's options, as Linux copies the listening
 * socket: the engine copies its own; these are the ones the service keeps (TCP_LINGER2,
 * SO_*BUF read back doubled, SO_MARK…), except those Linux does not copy.
 */
export function inheritOptions(listener: OptionSock, child: OptionSock): void {
  for (const [k, v] of listener.opts ?? []) {
    if (inherited(k)) (child.opts ??= new Map()).set(k, v);
  }
}

/** TCP_STATE numbers of Linux (include/net/tcp_states.h) by the engine's TCPS_* state. */
const linuxTcpState = [7, 10, 2, 3, 1, 8, 4, 11, 9, 5, 6];

/** The engine's TCP_INFO as Linux's `struct tcp_info` (its first 104 bytes). */
export function linuxTcpInfo(t: TcpInfo): Uint8Array {
  const b = new Uint8Array(104);
  const v = new DataView(b.buffer);
  v.setUint8(0, linuxTcpState[t.tcpi_state] ?? 0);
  v.setUint8(5, t.tcpi_options);
  v.setUint8(6, (t.tcpi_snd_wscale & 15) | ((t.tcpi_rcv_wscale & 15) << 4));
  v.setUint32(8, t.tcpi_rto, true);
  // Linux's MSS counts the timestamp option out of it (1448, not 1460), FreeBSD's does not.
  const tsOpt = t.tcpi_options & 1 ? 12 : 0; // TCPI_OPT_TIMESTAMPS
  const mss = t.tcpi_state >= 2 ? Math.max(0, t.tcpi_snd_mss - tsOpt) : 0; // from SYN_SENT
  v.setUint32(16, mss, true);
  v.setUint32(20, t.tcpi_state >= 4 ? mss : 0, true); // rcv_mss: once data can arrive
  v.setUint32(24, t.tcpi_unacked ?? 0, true);
  v.setUint32(28, t.tcpi_sacked ?? 0, true); // a listener's backlog (php-fpm's status page)
  v.setUint32(60, t.tcpi_pmtu ?? 0, true);
  v.setUint32(52, t.tcpi_last_data_recv, true);
  v.setUint32(68, t.tcpi_rtt, true);
  v.setUint32(72, t.tcpi_rttvar, true);
  v.setUint32(76, Math.min(t.tcpi_snd_ssthresh, 0xffffffff), true);
  // Linux counts cwnd in segments.
  v.setUint32(80, Math.ceil(t.tcpi_snd_cwnd / Math.max(1, t.tcpi_snd_mss)), true);
  v.setUint32(84, mss, true);
  v.setUint32(96, t.tcpi_rcv_space, true);
  v.setUint32(100, t.tcpi_snd_rexmitpack, true);
  return b;
}

/**
 * Linux's facts about socket options that the socket service's rules (sockopts.ts) use: which
 * options exist at a level, which are read-only, their values before any setsockopt, which an
 * accepted socket takes from its listener, and how Linux reads a value
 * (ip(7), ipv6(7), tcp(7), socket(7)): an int option given more than four bytes is read as its
 * first int, one given fewer is EINVAL, except that IPv4-level int options take a single byte
 * too (IP_TOS, IP_TTL… as a char). The shim sends four bytes as a number and anything else as
 * bytes; before this, SO_KEEPALIVE given eight bytes was taken as 0 and IP_TOS given one byte
 * was refused.
 *
 * @module
 */

import { IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET } from "../engine/socket/api.ts";

const EINVAL = 22;

/** Entries `[name, value]` of one option level as keys `level * 65536 + name`. */
function atLevel(level: number, entries: [number, number][]): [number, number][] {
  return entries.map(([name, v]) => [level * 65536 + name, v]);
}

/**
 * Option levels whose unmodelled options are accepted and remembered (SOL_SOCKET, IP, TCP,
 * IPv6), each up to the highest option number Linux 6.x has there: a name past it is
 * ENOPROTOOPT, as Linux says (programs probe for options so).
 */
const LINUX_OPT_MAX = new Map([
  [SOL_SOCKET, 82],
  [IPPROTO_IP, 52],
  [IPPROTO_TCP, 46],
  [IPPROTO_IPV6, 80],
]);

/**
 * Linux's values of options the engine does not model, for a getsockopt before any setsockopt
 * (key level * 65536 + name): SO_DEBUG, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE and
 * SO_OOBINLINE (a datagram socket's), SO_PRIORITY, SO_RCVLOWAT, SO_SNDLOWAT, SO_TIMESTAMP,
 * SO_MARK, SO_INCOMING_CPU and SO_INCOMING_NAPI_ID (0: no CPU or NAPI id seen; the JVM probes
 * the latter at start and dropped the option when refused), SO_ZEROCOPY; TCP_CORK, TCP_SYNCNT, TCP_LINGER2, TCP_DEFER_ACCEPT, TCP_WINDOW_CLAMP,
 * TCP_QUICKACK, TCP_NOTSENT_LOWAT; IP_TOS and IP_TTL (an IPv6 datagram socket's, before its
 * IPv4 twin), IP_PKTINFO, IP_MTU_DISCOVER (WANT), IP_RECVERR, IP_RECVTOS, IP_FREEBIND,
 * IP_MULTICAST_TTL, IP_MULTICAST_LOOP; IPV6_RECVERR, IPV6_RECVPKTINFO, IPV6_MULTICAST_HOPS,
 * IPV6_MULTICAST_LOOP.
 */
const LINUX_OPT_DEFAULTS = new Map<number, number>([
  ...atLevel(SOL_SOCKET, [
    [1, 0],
    [5, 0],
    [6, 0],
    [9, 0],
    [10, 0],
    [12, 0],
    [18, 1],
    [19, 1],
    [29, 0],
    [36, 0],
    [49, 0],
    [56, 0],
    [60, 0],
  ]),
  ...atLevel(IPPROTO_TCP, [[3, 0], [7, 6], [8, 60], [9, 0], [10, 0], [12, 1], [25, 0]]),
  ...atLevel(IPPROTO_IP, [
    [1, 0],
    [2, 64],
    [8, 0],
    [10, 1],
    [11, 0],
    [13, 0],
    [15, 0],
    [33, 1],
    [34, 1],
  ]),
  ...atLevel(IPPROTO_IPV6, [[25, 0], [49, 0], [18, 1], [19, 1]]),
]);

/**
 * Options an accepted socket does not take from its listener (Linux's, checked against it):
 * SO_PRIORITY and TCP_DEFER_ACCEPT read back as the defaults; TCP_CORK is the engine's
 * TCP_NOPUSH, which the service sets per socket (with its 200 ms ceiling).
 */
const NOT_INHERITED = new Set([
  SOL_SOCKET * 65536 + 12,
  IPPROTO_TCP * 65536 + 9,
  IPPROTO_TCP * 65536 + 3,
]);

/** Whether (level, name) is past the options Linux has at a level it knows (ENOPROTOOPT). */
export function pastLinuxOptions(level: number, name: number): boolean {
  const max = LINUX_OPT_MAX.get(level);
  return max !== undefined && (name < 0 || name > max);
}

/** Whether `level` is one whose options the service keeps when the engine does not model them. */
export function keepsUnmodelled(level: number): boolean {
  return LINUX_OPT_MAX.has(level);
}

/** Linux's value of an option before any setsockopt, for those the engine does not model. */
export function linuxDefault(level: number, name: number): number | undefined {
  return LINUX_OPT_DEFAULTS.get(level * 65536 + name);
}

/** Whether an accepted socket takes option `key` (level * 65536 + name) from its listener. */
export function inherited(key: number): boolean {
  return !NOT_INHERITED.has(key);
}

/** Options whose value is an int, per level (Linux's numbers). */
const INT_OPTIONS = new Map<number, Set<number>>([
  // SO_DEBUG, REUSEADDR, DONTROUTE, BROADCAST, SNDBUF, RCVBUF, KEEPALIVE, OOBINLINE, NO_CHECK,
  // PRIORITY, REUSEPORT, PASSCRED, RCVLOWAT, SNDLOWAT, TIMESTAMP, SNDBUFFORCE, RCVBUFFORCE,
  // TIMESTAMPNS, MARK, BUSY_POLL, MAX_PACING_RATE, INCOMING_CPU, INCOMING_NAPI_ID, ZEROCOPY
  [
    SOL_SOCKET,
    new Set([
      1,
      2,
      5,
      6,
      7,
      8,
      9,
      10,
      11,
      12,
      15,
      16,
      18,
      19,
      29,
      32,
      33,
      35,
      36,
      46,
      47,
      49,
      56,
      60,
    ]),
  ],
  // TCP_NODELAY, MAXSEG, CORK, KEEPIDLE, KEEPINTVL, KEEPCNT, SYNCNT, LINGER2, DEFER_ACCEPT,
  // WINDOW_CLAMP, QUICKACK, USER_TIMEOUT, FASTOPEN, NOTSENT_LOWAT
  [IPPROTO_TCP, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 18, 23, 25])],
  // IP_TOS, TTL, HDRINCL, RECVOPTS, RETOPTS, PKTINFO, MTU_DISCOVER, RECVERR, RECVTTL, RECVTOS,
  // FREEBIND, TRANSPARENT, BIND_ADDRESS_NO_PORT, MULTICAST_TTL, MULTICAST_LOOP, MULTICAST_ALL
  [IPPROTO_IP, new Set([1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 15, 19, 24, 33, 34, 49])],
  // IPV6_UNICAST_HOPS, MULTICAST_IF, MULTICAST_HOPS, MULTICAST_LOOP, MTU_DISCOVER, RECVERR,
  // V6ONLY, RECVPKTINFO, RECVHOPLIMIT, DONTFRAG, RECVTCLASS, TCLASS, FREEBIND
  [IPPROTO_IPV6, new Set([16, 17, 18, 19, 23, 25, 26, 49, 51, 62, 66, 67, 78])],
]);

/**
 * Options that can only be read (SO_TYPE, SO_ERROR, SO_PEERCRED, SO_ACCEPTCONN, SO_PROTOCOL,
 * SO_DOMAIN, SO_INCOMING_NAPI_ID; IP_MTU; TCP_INFO; IPV6_MTU): setting one is ENOPROTOOPT, as
 * Linux says.
 */
const GET_ONLY = new Map<number, Set<number>>([
  [SOL_SOCKET, new Set([3, 4, 17, 30, 38, 39, 56])],
  [IPPROTO_IP, new Set([14])],
  [IPPROTO_TCP, new Set([11])],
  [IPPROTO_IPV6, new Set([24])],
]);

/**
 * Options the engine accepts without modelling them, and how Linux reads them back: a flag as
 * 0/1, the rest as set (SO_DEBUG, DONTROUTE, BROADCAST, PRIORITY, MARK; IP_PKTINFO,
 * MTU_DISCOVER, RECVERR, RECVTOS; IPV6_RECVERR, RECVPKTINFO).
 */
const KEPT = new Map<number, "flag" | "int">([
  [SOL_SOCKET * 65536 + 1, "flag"],
  [SOL_SOCKET * 65536 + 5, "flag"],
  [SOL_SOCKET * 65536 + 6, "flag"],
  [SOL_SOCKET * 65536 + 12, "int"],
  [SOL_SOCKET * 65536 + 36, "int"],
  [IPPROTO_IP * 65536 + 8, "flag"],
  [IPPROTO_IP * 65536 + 10, "int"],
  [IPPROTO_IP * 65536 + 11, "flag"],
  [IPPROTO_IP * 65536 + 13, "flag"],
  [IPPROTO_IPV6 * 65536 + 25, "flag"],
  [IPPROTO_IPV6 * 65536 + 49, "flag"],
]);

/** The value an option the engine does not keep reads back as (undefined: not one of them). */
export function keptValue(level: number, name: number, v: number): number | undefined {
  const k = KEPT.get(level * 65536 + name);
  return k === undefined ? undefined : k === "flag" ? (v !== 0 ? 1 : 0) : v;
}

/** Whether (level, name) can only be read. */
export function getOnly(level: number, name: number): boolean {
  return GET_ONLY.get(level)?.has(name) ?? false;
}

/**
 * The value of option (level, name) as Linux reads it: a number for an int option (or
 * `{ errno }` when too short), anything else unchanged.
 */
export function linuxValue<T>(level: number, name: number, v: number | Uint8Array | T):
  | number
  | Uint8Array
  | T
  | { errno: number } {
  if (!(v instanceof Uint8Array) || !(INT_OPTIONS.get(level)?.has(name) ?? false)) return v;
  if (v.length >= 4) return new DataView(v.buffer, v.byteOffset, 4).getInt32(0, true);
  if (level === IPPROTO_IP && v.length >= 1) return v[0];
  return { errno: EINVAL };
}

/** Linux's name of a congestion control module the engine calls `engineName`, and back. */
export function linuxCcName(engineName: string): string {
  return engineName === "newreno" ? "reno" : engineName;
}

export function engineCcName(linuxName: string): string {
  return linuxName === "reno" ? "newreno" : linuxName;
}

/** TCP_CONGESTION's value as Linux returns it: the name in 16 bytes, NUL-padded. */
export function ccNameBytes(name: string): Uint8Array {
  const out = new Uint8Array(16);
  out.set(new TextEncoder().encode(name).subarray(0, 15));
  return out;
}

export { intBytes } from "../engine/socket/api.ts";

/**
 * Linux's range checks the engine does not make: IP_TTL -1 or 1..255, IPV6_UNICAST_HOPS and
 * IPV6_MULTICAST_HOPS -1..255, IP_MTU_DISCOVER and IPV6_MTU_DISCOVER 0..5 (EINVAL otherwise).
 */
export function optionRangeProblem(level: number, name: number, v: unknown): number {
  if (typeof v !== "number") return 0;
  if (level === IPPROTO_IP && name === 2 && !(v === -1 || (v >= 1 && v <= 255))) return EINVAL;
  if (level === IPPROTO_IPV6 && (name === 16 || name === 18) && (v < -1 || v > 255)) return EINVAL;
  if ((level === IPPROTO_IP && name === 10) || (level === IPPROTO_IPV6 && name === 23)) {
    if (v < 0 || v > 5) return EINVAL;
  }
  return 0;
}

/** Whether this host has a network interface named `dev` (SO_BINDTODEVICE). */
export function deviceExists(dev: string): boolean {
  if (dev.length > 15 || dev.includes("/") || dev === "." || dev === "..") return false;
  try {
    Deno.statSync(`/sys/class/net/${dev}`);
    return true;
  } catch {
    return false;
  }
}

/** A name given as bytes (up to the first NUL). */
export function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

/**
 * How Linux reads a socket option's value, for the options the socket service passes on
 * (ip(7), ipv6(7), tcp(7), socket(7)): an int option given more than four bytes is read as its
 * first int, one given fewer is EINVAL, except that IPv4-level int options take a single byte
 * too (IP_TOS, IP_TTL… as a char). The shim sends four bytes as a number and anything else as
 * bytes; before this, SO_KEEPALIVE given eight bytes was taken as 0 and IP_TOS given one byte
 * was refused.
 *
 * @module
 */

export const SOL_SOCKET = 1, IPPROTO_IP = 0, IPPROTO_TCP = 6, IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
const EINVAL = 22;

/** Options whose value is an int, per level (Linux's numbers). */
const INT_OPTIONS = new Map<number, Set<number>>([
  // SO_DEBUG, REUSEADDR, DONTROUTE, BROADCAST, SNDBUF, RCVBUF, KEEPALIVE, OOBINLINE, NO_CHECK,
  // PRIORITY, REUSEPORT, PASSCRED, RCVLOWAT, SNDLOWAT, TIMESTAMP, SNDBUFFORCE, RCVBUFFORCE,
  // TIMESTAMPNS, MARK, BUSY_POLL, MAX_PACING_RATE, INCOMING_CPU, ZEROCOPY
  [
    SOL_SOCKET,
    new Set([1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 18, 19, 29, 32, 33, 35, 36, 46, 47, 49, 60]),
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
 * SO_DOMAIN; IP_MTU; TCP_INFO; IPV6_MTU): setting one is ENOPROTOOPT, as Linux says.
 */
const GET_ONLY = new Map<number, Set<number>>([
  [SOL_SOCKET, new Set([3, 4, 17, 30, 38, 39])],
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

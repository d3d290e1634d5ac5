/**
 * The errno Linux gives a socket for an ICMP or ICMPv6 error, and whether the error is "hard"
 * (reported to a datagram socket without IP_RECVERR): Linux's icmp_err_convert and
 * icmpv6_err_convert tables as documented behaviour (ip(7), ipv6(7), udp(7)). A stream being
 * connected takes any of them as its connect()'s failure.
 */
import * as E from "../errno.ts";

/** An ICMP error as a socket sees it. */
export interface IcmpErrno {
  errno: number;
  /** Reported to a datagram socket without IP_RECVERR (and fatal to a stream connecting). */
  hard: boolean;
}

/** IPv4 destination unreachable, by code (RFC 792, RFC 1812): errno and hardness. */
const UNREACH4: readonly [number, boolean][] = [
  [E.ENETUNREACH, false], // net unreachable
  [E.EHOSTUNREACH, false], // host unreachable
  [E.ENOPROTOOPT, true], // protocol unreachable
  [E.ECONNREFUSED, true], // port unreachable
  [E.EMSGSIZE, true], // fragmentation needed (path MTU discovery on)
  [E.EOPNOTSUPP, false], // source route failed
  [E.ENETUNREACH, true], // destination net unknown
  [E.EHOSTDOWN, true], // destination host unknown
  [E.ENONET, true], // source host isolated
  [E.ENETUNREACH, true], // net administratively prohibited
  [E.EHOSTUNREACH, true], // host administratively prohibited
  [E.ENETUNREACH, false], // net unreachable for TOS
  [E.EHOSTUNREACH, false], // host unreachable for TOS
  [E.EHOSTUNREACH, true], // communication administratively prohibited
  [E.EHOSTUNREACH, true], // host precedence violation
  [E.EHOSTUNREACH, true], // precedence cutoff
];

/** ICMPv6 destination unreachable, by code (RFC 4443). */
const UNREACH6: readonly [number, boolean][] = [
  [E.ENETUNREACH, false], // no route
  [E.EACCES, true], // administratively prohibited
  [E.EHOSTUNREACH, false], // beyond the scope of the source address
  [E.EHOSTUNREACH, false], // address unreachable
  [E.ECONNREFUSED, true], // port unreachable
  [E.EACCES, true], // source address failed policy
  [E.EACCES, true], // reject route
];

/**
 * Linux's errno for ICMP(v6) `type`/`code`, undefined for messages that are not errors of a
 * socket (source quench, redirects, informational types).
 */
export function linuxIcmpErrno(version: 4 | 6, type: number, code: number): IcmpErrno | undefined {
  const pick = (t: readonly [number, boolean][], dflt: IcmpErrno) => {
    const e = t[code];
    return e ? { errno: e[0], hard: e[1] } : dflt;
  };
  if (version === 4) {
    if (type === 3) return pick(UNREACH4, { errno: E.EHOSTUNREACH, hard: false });
    if (type === 11) return { errno: E.EHOSTUNREACH, hard: false }; // time exceeded
    if (type === 12) return { errno: E.EPROTO, hard: true }; // parameter problem
    return undefined;
  }
  if (type === 1) return pick(UNREACH6, { errno: E.EPROTO, hard: true });
  if (type === 2) return { errno: E.EMSGSIZE, hard: true }; // packet too big
  if (type === 3) return { errno: E.EHOSTUNREACH, hard: false }; // time exceeded
  if (type === 4) return { errno: E.EPROTO, hard: true }; // parameter problem
  return undefined;
}

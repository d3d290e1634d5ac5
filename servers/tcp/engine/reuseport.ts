/**
 * SO_REUSEPORT groups: several sockets bound to one port share what arrives for it. Linux
 * spreads new connections and datagrams over the group by a hash of the 4-tuple, so every
 * segment of one flow reaches the same member (a TCP handshake's SYN and ACK, a UDP client's
 * datagrams) while different flows spread. {@link pickReusePort} does the same: the member is
 * chosen by `flowHash % group size` over the group in bind order; when a member leaves, the
 * flows are spread again over the rest (as Linux does).
 *
 * The hash is keyed by nothing secret so that a restarted server, which binds the group again
 * in the same order, sends each flow to the same member.
 *
 * @module
 */
import type { IpAddr } from "./ip/addr.ts";

/** FNV-1a (32 bits) over the 4-tuple's text, then a finalizer that spreads the low bits. */
export function flowHash(laddr: IpAddr, lport: number, faddr: IpAddr, fport: number): number {
  let h = 0x811c9dc5;
  const mix = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  mix(faddr);
  mix(laddr);
  h ^= (fport << 16) | (lport & 0xffff);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The member of `group` (equally good matches in bind order) that gets the flow: the only one,
 * or, when every member set SO_REUSEPORT, one by the flow's hash. A group whose members did not
 * all set it (SO_REUSEADDR sharing) goes to `fallback` (the engine's usual choice).
 */
export function pickReusePort<T>(
  group: readonly T[],
  fallback: T | undefined,
  reusePort: (s: T) => boolean,
  laddr: IpAddr,
  lport: number,
  faddr: IpAddr | undefined,
  fport: number,
): T | undefined {
  if (group.length < 2 || faddr === undefined || !group.every(reusePort)) {
    return fallback;
  }
  return group[flowHash(laddr, lport, faddr, fport) % group.length];
}

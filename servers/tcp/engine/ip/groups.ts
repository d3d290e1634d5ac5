/**
 * Multicast group memberships of a host's interfaces (RFC 1112 §7 for IPv4, RFC 4291 §2.7 for
 * IPv6): what sockets joined (IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP), counted per interface, so
 * that a group's first join and its last leave are known (they send an IGMP or MLD report and
 * a leave). The groups every host is in (224.0.0.1, ff02::1) are not kept here.
 *
 * @module
 */
import type { IpAddr } from "./addr.ts";

/** How many groups one interface may join (Linux's igmp_max_memberships is per socket, 20). */
export const MAX_GROUPS_PER_INTERFACE = 1024;

export class MulticastGroups {
  #byIface = new Map<number, Map<IpAddr, number>>();

  /**
   * One more membership of `group` on interface `ifIndex`. Returns "first" for the group's
   * first member there, "more" for another, "full" when the interface has no room left.
   */
  join(ifIndex: number, group: IpAddr): "first" | "more" | "full" {
    let m = this.#byIface.get(ifIndex);
    if (m === undefined) this.#byIface.set(ifIndex, m = new Map());
    const n = m.get(group) ?? 0;
    if (n === 0 && m.size >= MAX_GROUPS_PER_INTERFACE) return "full";
    m.set(group, n + 1);
    return n === 0 ? "first" : "more";
  }

  /** One membership fewer; true when it was the group's last one on the interface. */
  leave(ifIndex: number, group: IpAddr): boolean {
    const m = this.#byIface.get(ifIndex);
    const n = m?.get(group);
    if (m === undefined || n === undefined) return false;
    if (n > 1) {
      m.set(group, n - 1);
      return false;
    }
    m.delete(group);
    return true;
  }

  /** Whether interface `ifIndex` is in `group`. */
  has(ifIndex: number, group: IpAddr): boolean {
    return this.#byIface.get(ifIndex)?.has(group) ?? false;
  }

  /** Whether any interface is in `group` (what the loopback delivers a looped copy for). */
  hasAnywhere(group: IpAddr): boolean {
    for (const m of this.#byIface.values()) if (m.has(group)) return true;
    return false;
  }

  /** The groups interface `ifIndex` is in. */
  on(ifIndex: number): IpAddr[] {
    return [...(this.#byIface.get(ifIndex)?.keys() ?? [])];
  }
}

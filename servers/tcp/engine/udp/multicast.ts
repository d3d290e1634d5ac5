/**
 * A UDP socket's multicast options and group memberships, as Linux takes them (ip(7), ipv6(7)):
 * IP_ADD_MEMBERSHIP/IP_DROP_MEMBERSHIP (struct ip_mreq or ip_mreqn), MCAST_JOIN_GROUP/
 * MCAST_LEAVE_GROUP (struct group_req, both families), IPV6_JOIN_GROUP/IPV6_LEAVE_GROUP
 * (struct ipv6_mreq), IP_MULTICAST_IF/TTL/LOOP/ALL and IPV6_MULTICAST_IF/HOPS/LOOP. The
 * memberships are the stack's (Stack.joinGroup): its interfaces take the groups' datagrams,
 * and every socket bound to their port receives them (IP_MULTICAST_ALL, Linux's default).
 *
 * Option values arrive as a number when the program passed four bytes (the shim's int), else as
 * bytes; both are read as the bytes the program wrote. Source-specific options (IGMPv3/MLDv2)
 * are not modelled: they fail with EOPNOTSUPP. The loopback's address (127.0.0.1) as the
 * interface joins on the loopback, or sends to this host's members only (ifIndex -1).
 *
 * @module
 */
import type { SockOptValue } from "../socket/api.ts";
import { intBytes, IPPROTO_IP, IPPROTO_IPV6 } from "../socket/api.ts";
import { type IpAddr, ipFromBytes, isMulticast, isUnspecified } from "../ip/addr.ts";
import { EADDRINUSE, EADDRNOTAVAIL, EINVAL, ENOBUFS, ENODEV, EOPNOTSUPP } from "../errno.ts";

export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_TTL = 33;
export const IP_MULTICAST_LOOP = 34;
export const IP_ADD_MEMBERSHIP = 35;
export const IP_DROP_MEMBERSHIP = 36;
export const MCAST_JOIN_GROUP = 42;
export const MCAST_LEAVE_GROUP = 45;
export const IP_MULTICAST_ALL = 49;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
export const IPV6_JOIN_GROUP = 20;
export const IPV6_LEAVE_GROUP = 21;
export const IPV6_MULTICAST_ALL = 29;
/** Source-specific (IGMPv3, MLDv2) and filter options: IP_UNBLOCK_SOURCE…IP_MSFILTER, MCAST_*. */
const SOURCE_SPECIFIC = new Set([37, 38, 39, 40, 41, 43, 44, 46, 47, 48]);
/** IP_MULTICAST_IF's interface index for the loopback (0 means "the stack picks"). */
export const LOOPBACK_IF = -1;

/** Memberships one socket may hold (Linux's net.ipv4.igmp_max_memberships). */
export const MAX_MEMBERSHIPS = 20;

const AF_INET = 2, AF_INET6 = 10;

/** What the socket needs of the stack. */
export interface MulticastStack {
  multicastInterface(version: 4 | 6, ifIndex?: number, addr?: IpAddr): number | undefined;
  joinGroup(ifIndex: number, group: IpAddr): number;
  leaveGroup(ifIndex: number, group: IpAddr): void;
  isLocalAddress(a: IpAddr): boolean;
}

/** The bytes of an option value: a number is the int the program wrote (little-endian here). */
function bytesOf(v: SockOptValue): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  return typeof v === "number" && Number.isInteger(v) ? intBytes(v) : undefined;
}

/** An int or one byte (Linux takes either for the TTL and loop options); undefined if neither. */
function intOf(v: SockOptValue): number | undefined {
  if (typeof v === "number") return v;
  if (v instanceof Uint8Array && v.length >= 1 && v.length < 4) return v[0];
  return undefined;
}

/** A join or leave: the group, and the interface named by index or by a local address. */
interface GroupRequest {
  group: IpAddr;
  ifIndex: number;
  ifAddr?: IpAddr;
}

/** Reads a membership request; an errno when the value is too short or not of its family. */
function parseRequest(
  version: 4 | 6,
  level: number,
  name: number,
  b: Uint8Array,
): GroupRequest | number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (name === MCAST_JOIN_GROUP || name === MCAST_LEAVE_GROUP) {
    // struct group_req: u32 interface, padding to 8, struct sockaddr_storage.
    if (b.length < 8 + 2) return EINVAL;
    const family = dv.getUint16(8, true);
    if (family === AF_INET && b.length >= 8 + 8) {
      return { group: ipFromBytes(b, 12, 4), ifIndex: dv.getUint32(0, true) };
    }
    if (family === AF_INET6 && b.length >= 8 + 24) {
      return { group: ipFromBytes(b, 16, 6), ifIndex: dv.getUint32(0, true) };
    }
    return EINVAL;
  }
  if (level === IPPROTO_IP) {
    if (b.length < 8) return EINVAL;
    // struct ip_mreq (group, local address) or ip_mreqn (… and an interface index).
    return {
      group: ipFromBytes(b, 0, 4),
      ifAddr: ipFromBytes(b, 4, 4),
      ifIndex: b.length >= 12 ? dv.getInt32(8, true) : 0,
    };
  }
  if (version !== 6 || b.length < 20) return EINVAL;
  return { group: ipFromBytes(b, 0, 6), ifIndex: dv.getUint32(16, true) };
}

/** A socket's multicast state. */
export class MulticastOptions {
  /** IP_MULTICAST_IF / IPV6_MULTICAST_IF: the interface sends go out of (0: the stack picks). */
  ifIndex = 0;
  /** IP_MULTICAST_IF's address, read back as set. */
  ifAddr: IpAddr = "0.0.0.0";
  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS (1: the link only). */
  ttl = 1;
  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: this host's own members get a copy. */
  loop = true;
  /**
   * IP_MULTICAST_ALL / IPV6_MULTICAST_ALL: 1 (Linux's default), a socket bound to a group's
   * port gets its datagrams when any socket of the host joined the group; 0, only when it
   * joined the group itself (the JVM sets 0 on every datagram socket).
   */
  all = 1;
  #joined: { ifIndex: number; group: IpAddr }[] = [];

  /** Groups this socket is in (for tests and status). */
  get memberships(): readonly { ifIndex: number; group: IpAddr }[] {
    return this.#joined;
  }

  /** Whether a datagram to multicast `group` is for this socket (IP_MULTICAST_ALL). */
  takes(group: IpAddr): boolean {
    return this.all === 1 || this.#joined.some((m) => m.group === group);
  }

  /**
   * Sets a multicast option: 0 or an errno; undefined when (level, name) is not one of them.
   */
  setsockopt(
    stack: MulticastStack,
    version: 4 | 6,
    level: number,
    name: number,
    value: SockOptValue,
  ): number | undefined {
    const ip = level === IPPROTO_IP && (version === 4 || name === MCAST_JOIN_GROUP ||
      name === MCAST_LEAVE_GROUP);
    const ip6 = level === IPPROTO_IPV6 && version === 6;
    if (!ip && !ip6) return undefined;
    if (SOURCE_SPECIFIC.has(name)) return EOPNOTSUPP;
    const join = name === (ip ? IP_ADD_MEMBERSHIP : IPV6_JOIN_GROUP) || name === MCAST_JOIN_GROUP;
    const leave = name === (ip ? IP_DROP_MEMBERSHIP : IPV6_LEAVE_GROUP) ||
      name === MCAST_LEAVE_GROUP;
    if (join || leave) {
      const b = bytesOf(value);
      if (b === undefined) return EINVAL;
      const r = parseRequest(version, level, name, b);
      if (typeof r === "number") return r;
      return join ? this.#join(stack, r) : this.#leave(stack, r);
    }
    if (ip) {
      switch (name) {
        case IP_MULTICAST_TTL:
          return this.#setTtl(value);
        case IP_MULTICAST_LOOP: {
          const l = intOf(value);
          if (l === undefined) return EINVAL;
          this.loop = l !== 0;
          return 0;
        }
        case IP_MULTICAST_ALL: {
          const a = intOf(value);
          if (a === undefined) return EINVAL;
          this.all = a !== 0 ? 1 : 0;
          return 0;
        }
        case IP_MULTICAST_IF: {
          const b = bytesOf(value);
          if (b === undefined || b.length < 4) return EINVAL;
          // struct in_addr, ip_mreq (its address second) or ip_mreqn (address, index).
          const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
          const addr = ipFromBytes(b, b.length >= 8 ? 4 : 0, 4);
          const index = b.length >= 12 ? dv.getInt32(8, true) : 0;
          if (isUnspecified(addr) && index <= 0) {
            this.ifIndex = 0;
            this.ifAddr = "0.0.0.0";
            return 0;
          }
          if (!isUnspecified(addr) && !stack.isLocalAddress(addr)) return EADDRNOTAVAIL;
          const i = stack.multicastInterface(4, index, isUnspecified(addr) ? undefined : addr);
          if (i === undefined) return ENODEV;
          this.ifIndex = i === 0 ? LOOPBACK_IF : i;
          this.ifAddr = addr;
          return 0;
        }
      }
      return undefined;
    }
    switch (name) {
      case IPV6_MULTICAST_HOPS:
        return this.#setTtl(value);
      case IPV6_MULTICAST_ALL: {
        const a = intOf(value);
        if (a === undefined) return EINVAL;
        this.all = a !== 0 ? 1 : 0;
        return 0;
      }
      case IPV6_MULTICAST_LOOP: {
        const l = intOf(value);
        if (l === undefined || (l !== 0 && l !== 1)) return EINVAL;
        this.loop = l === 1;
        return 0;
      }
      case IPV6_MULTICAST_IF: {
        const i = intOf(value);
        if (i === undefined || i < 0) return EINVAL;
        if (i === 0) {
          this.ifIndex = 0;
          return 0;
        }
        const idx = stack.multicastInterface(6, i);
        if (idx === undefined) return ENODEV;
        this.ifIndex = idx;
        return 0;
      }
    }
    return undefined;
  }

  /** Reads a multicast option back; undefined when (level, name) is not one of them. */
  getsockopt(version: 4 | 6, level: number, name: number): number | undefined {
    if (level === IPPROTO_IP && version === 4) {
      switch (name) {
        case IP_MULTICAST_TTL:
          return this.ttl;
        case IP_MULTICAST_LOOP:
          return this.loop ? 1 : 0;
        case IP_MULTICAST_ALL:
          return this.all;
        case IP_MULTICAST_IF: {
          // struct in_addr as the int the shim hands back (its bytes as the program reads them).
          const p = this.ifAddr.split(".").map(Number);
          return new DataView(new Uint8Array(p).buffer).getInt32(0, true);
        }
      }
    } else if (level === IPPROTO_IPV6 && version === 6) {
      switch (name) {
        case IPV6_MULTICAST_HOPS:
          return this.ttl;
        case IPV6_MULTICAST_ALL:
          return this.all;
        case IPV6_MULTICAST_LOOP:
          return this.loop ? 1 : 0;
        case IPV6_MULTICAST_IF:
          return this.ifIndex;
      }
    }
    return undefined;
  }

  /** IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS: 0..255, -1 for the default (1). */
  #setTtl(value: SockOptValue): number {
    const t = intOf(value);
    if (t === undefined || t < -1 || t > 255) return EINVAL;
    this.ttl = t === -1 ? 1 : t;
    return 0;
  }

  /** Leaves every group (the socket closes). */
  leaveAll(stack: MulticastStack): void {
    for (const m of this.#joined) stack.leaveGroup(m.ifIndex, m.group);
    this.#joined = [];
  }

  #where(stack: MulticastStack, r: GroupRequest): number | undefined {
    const v = r.group.includes(":") ? 6 : 4;
    if (r.ifAddr !== undefined && !isUnspecified(r.ifAddr) && !stack.isLocalAddress(r.ifAddr)) {
      return undefined;
    }
    return stack.multicastInterface(v, r.ifIndex > 0 ? r.ifIndex : 0, r.ifAddr);
  }

  #join(stack: MulticastStack, r: GroupRequest): number {
    if (!isMulticast(r.group)) return EINVAL;
    const i = this.#where(stack, r);
    if (i === undefined) return ENODEV;
    if (this.#joined.some((m) => m.ifIndex === i && m.group === r.group)) return EADDRINUSE;
    if (this.#joined.length >= MAX_MEMBERSHIPS) return ENOBUFS;
    const e = stack.joinGroup(i, r.group);
    if (e !== 0) return e;
    this.#joined.push({ ifIndex: i, group: r.group });
    return 0;
  }

  #leave(stack: MulticastStack, r: GroupRequest): number {
    if (!isMulticast(r.group)) return EINVAL;
    const i = this.#where(stack, r);
    const k = this.#joined.findIndex((m) =>
      m.group === r.group && (i === undefined || m.ifIndex === i)
    );
    if (k < 0) return EADDRNOTAVAIL;
    const [m] = this.#joined.splice(k, 1);
    stack.leaveGroup(m.ifIndex, m.group);
    return 0;
  }
}

/**
 * The IP layer of the engine: interfaces, routing, ARP/NDP, fragmentation and reassembly,
 * ICMP/ICMPv6 (echo, errors sent and received, PMTUD), and the dispatch to transport
 * protocols. Sans-I/O: frames come in through {@link Stack.receive}, go out through each
 * link's `transmit`, and time comes from the {@link EngineContext}; timers run in
 * {@link Stack.poll}.
 *
 * Nothing here throws on hostile input: a frame that cannot be used is dropped and counted in
 * {@link Stack.counters} under a name that says why ("ip.rx.badChecksum", …).
 *
 * @example
 * ```ts
 * const ctx = new FakeContext(1);
 * const stack = new Stack(ctx);
 * const ifIndex = stack.addInterface(
 *   { kind: "ip", mtu: 1500, caps: { txChecksum: false, rxChecksum: false, tso: false },
 *     transmit: (pkt) => wire.push(pkt) },
 *   { addrs: ["198.18.0.2/24", "fd00:198:18::2/64"], defaultRoute: true },
 * );
 * stack.registerProtocol(IPPROTO_TCP, tcp);
 * stack.receive(ifIndex, packetFromTheWire);
 * stack.poll(ctx.now());
 * ```
 *
 * @module
 */
import type { EngineContext } from "./context.ts";
import { Timers } from "./timers.ts";
import { Sysctls } from "./sysctl.ts";
import { Counters } from "./counters.ts";
import { MulticastGroups } from "./ip/groups.ts";
import { emitIgmp, IGMP_LEAVE, IGMP_QUERY, IGMP_V2_REPORT, parseIgmp } from "./wire/igmp.ts";
import {
  type IpAddr,
  ipBytes,
  ipFromBytes,
  ipVersion,
  isLoopback,
  isMulticast,
  isUnspecified,
  parseCidr,
  parseIp,
  samePrefix,
} from "./ip/addr.ts";
import {
  type IpMeta,
  type IpOutputMeta,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type TransportProtocol,
} from "./ip/protocol.ts";
import { EADDRNOTAVAIL, EAFNOSUPPORT, EINVAL, EMSGSIZE, ENETUNREACH, ENOBUFS } from "./errno.ts";
import { NeighborCache } from "./ip/neighbor.ts";
import { Reassembler } from "./ip/reass.ts";
import { RateLimiter } from "./ip/ratelimit.ts";
import { PmtuCache } from "./ip/pmtu.ts";
import { finishSum, foldSum, pseudoHeaderSum, sumBytes } from "./wire/checksum.ts";
import {
  BROADCAST_MAC,
  emitEthernet,
  ETH_HEADER_LEN,
  EthernetView,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  isMulticastMac,
  macEqual,
} from "./wire/ethernet.ts";
import { ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, emitArp, parseArp } from "./wire/arp.ts";
import { emitIpv4, IPV4_HEADER_MIN, type Ipv4Repr, Ipv4View } from "./wire/ipv4.ts";
import {
  emitIpv6,
  emitIpv6Frag,
  IPV6_FRAG_HEADER_LEN,
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  ipv6BadOption,
  Ipv6View,
  NH_FRAGMENT,
  walkIpv6,
} from "./wire/ipv6.ts";
import {
  echoWord,
  emitIcmp,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LEN,
  ICMP_PARAM_PROBLEM,
  ICMP_REDIRECT,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_NEEDFRAG,
  ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
  IcmpView,
  isIcmpError,
} from "./wire/icmp.ts";
import {
  emitIcmpv6,
  emitNd,
  ICMPV6_DEST_UNREACH,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_HEADER_LEN,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_PARAMPROB_NEXTHEADER,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNREACH_PORT,
  icmpv6Length,
  Icmpv6View,
  isIcmpv6Error,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  ND_REDIRECT,
  ND_ROUTER_ADVERT,
  ND_ROUTER_SOLICIT,
  ndLength,
  type NdOption,
  type NdRepr,
  parseNd,
} from "./wire/icmpv6.ts";

export { Counters } from "./counters.ts";

/** What a link can do for us. */
export interface LinkCaps {
  /**
   * The link fills transport checksums on transmit. The stack then leaves the pseudo-header
   * sum (not complemented) in the checksum field, as DPDK's offload expects.
   */
  txChecksum: boolean;
  /** The link has verified transport and IPv4 header checksums of received frames. */
  rxChecksum: boolean;
  /** The link segments large TCP packets itself (up to maxSegment bytes of IP packet). */
  tso: boolean;
  /** TSO applies to TCP over IPv6 too (DPDK 22.11's rte_gso segments IPv4 only). */
  tso6?: boolean;
  maxSegment?: number;
}

/** A device the stack sends frames through. */
export interface LinkEndpoint {
  /** "ethernet": frames with an Ethernet header; "ip": bare IP packets (like a tun device). */
  kind: "ethernet" | "ip";
  /** The link MTU (largest IP packet). */
  mtu: number;
  /** The link's MAC address (required for "ethernet"). */
  mac?: Uint8Array;
  caps: LinkCaps;
  /**
   * Sends one frame; the stack does not touch `frame` afterwards. `tsoMss` is set for a TCP
   * packet larger than the MTU on a link with `caps.tso`: cut its payload in segments of that
   * size (the checksum field holds the pseudo-header sum without the length).
   */
  transmit(frame: Uint8Array, tsoMss?: number): void;
  /**
   * Optional: a buffer of `len` bytes for a frame this stack is about to build and transmit at
   * once (e.g. a buffer of the NIC region, so that transmit needs no copy), or undefined (the
   * stack allocates its own). A buffer the stack does not hand to transmit before the link's
   * next flush is taken back by the link: the stack never keeps one beyond the call that
   * built it (a packet waiting for address resolution is copied first).
   */
  alloc?(len: number): Uint8Array | undefined;
}

/** Addresses, MTU and routes of an interface. */
export interface InterfaceConfig {
  /** Addresses with prefix length, e.g. "198.18.0.2/24", "fd00:198:18::2/64". */
  addrs: string[];
  /** MTU; the link's MTU when absent. */
  mtu?: number;
  /** IPv4 default gateway reachable through this interface (adds 0.0.0.0/0 via it). */
  gateway4?: IpAddr;
  /** IPv6 default gateway reachable through this interface (adds ::/0 via it). */
  gateway6?: IpAddr;
  /**
   * Add a link-local IPv6 address derived from the MAC (Ethernet links with an IPv6 address;
   * default true).
   */
  linkLocal6?: boolean;
  /**
   * Route every destination not on a local subnet out of this interface, without a gateway
   * (for "ip" links, like a tun device; packetdrill's remote address is off-subnet).
   */
  defaultRoute?: boolean;
}

/** One route. */
export interface RouteInfo {
  dest: string;
  ifIndex: number;
  gateway?: IpAddr;
}

interface Addr {
  addr: IpAddr;
  bytes: Uint8Array;
  prefix: number;
  version: 4 | 6;
}

interface Route {
  version: 4 | 6;
  net: Uint8Array;
  prefix: number;
  ifIndex: number;
  gateway?: IpAddr;
  dest: string;
}

interface Iface {
  index: number;
  link: LinkEndpoint;
  mtu: number;
  /** MTU for IPv6 (lowered by a router advertisement's MTU option). */
  mtu6: number;
  addrs: Addr[];
  arp?: NeighborCache;
  nd?: NeighborCache;
}

/** What routing found for a destination. */
interface RouteResult {
  iface: Iface;
  nextHop: IpAddr;
  src: IpAddr;
  /** A multicast packet this host is in the group of: a copy goes to the loopback too. */
  loop?: boolean;
}

/** IGMP's protocol number (RFC 1112). */
const IPPROTO_IGMP = 2;
/** The IPv4 Router Alert option (RFC 2113): type 148, length 4, value 0. */
const ROUTER_ALERT4 = new Uint8Array([148, 4, 0, 0]);
/**
 * A hop-by-hop header carrying the IPv6 Router Alert for MLD (RFC 2711: type 5, value 0), then
 * PadN to 8 bytes; next header ICMPv6.
 */
const HOP_BY_HOP_MLD = new Uint8Array([58, 0, 5, 2, 0, 0, 1, 0]);
/** MLDv1 (RFC 2710): listener report and done. */
const MLD_REPORT = 131, MLD_DONE = 132;

/** First-fragment data kept by reassembly. */
interface FirstFrag {
  ifIndex: number;
  /** The first fragment's whole packet (for ICMP quoting). */
  packet: Uint8Array;
  src: IpAddr;
  dst: IpAddr;
  ttl: number;
  /** Upper protocol (v4) or the fragment header's next header (v6). */
  proto: number;
  /** The packet's destination was a broadcast/multicast address. */
  bcast: boolean;
}

/** Stack-wide options. */
export interface StackOptions {
  /** Default TTL / hop limit (64, FreeBSD's net.inet.ip.ttl). */
  defaultTtl?: number;
  /**
   * Copy each received frame before processing (default true), so a transport that keeps a
   * view of its segment (against the {@link TransportProtocol.input} contract) cannot see
   * the bytes change when the NIC reuses its receive buffer. Set false once every transport
   * copies what it keeps, to save one copy per frame.
   */
  copyRx?: boolean;
}

/** RFC 1191 §7 plateau table, for a fragmentation-needed without a next-hop MTU. */
const PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

const S = 1_000_000; // µs per second
/** Non-final IPv4 fragments of at least this many bytes count as large (net.inet.ip.maxlargefragsperpacket). */
const LARGE_FRAG_BYTES = 1024;

/** The IP layer. See the module docs. */
export class Stack {
  readonly ctx: EngineContext;
  readonly timers: Timers = new Timers();
  readonly sysctl: Sysctls = new Sysctls();
  readonly counters: Counters = new Counters();
  /** Called for each echo reply received (diagnostics, tests). */
  onEchoReply?: (version: 4 | 6, from: IpAddr, id: number, seq: number, data: Uint8Array) => void;
  /** The last exception caught on input (a bug, counted as "stack.rx.exception"). */
  lastError?: unknown;

  #protocols = new Map<number, TransportProtocol>();
  /** Multicast groups sockets joined, per interface (joinGroup). */
  #groups = new MulticastGroups();
  #ifaces: Iface[] = [];
  #routes: Route[] = [];
  #local = new Map<IpAddr, Iface>();
  /** Destination → route; cleared whenever routes or addresses change. */
  #routeCache = new Map<IpAddr, RouteResult>();
  #pmtu: PmtuCache;
  #reass4: Reassembler<FirstFrag>;
  #reass6: Reassembler<FirstFrag>;
  #icmpLimit: RateLimiter;
  #icmp6Limit: RateLimiter;
  #ipId: number;
  #copyRx: boolean;
  /** The frame being received had its checksums verified by the device (receive()'s flag). */
  #rxVerified = false;
  /** Segment size of packets the link must segment (TSO), kept while a packet may be held. */
  #tsoMss = new WeakMap<Uint8Array, number>();
  /** Backing buffers of frames links lent (LinkEndpoint.alloc). */
  #lent = new WeakSet<ArrayBufferLike>();
  /** The last {@link segmentBuffer}: ipOutput of it writes headers in front, no copy. */
  #pre: Uint8Array | undefined;
  /** The lent frame around #pre, and the IP packet view built in it (for #etherTransmit). */
  #preFrame: Uint8Array | undefined;
  #prePacket: Uint8Array | undefined;
  #ip4Hdr: Ipv4Repr = {
    src: "",
    dst: "",
    proto: 0,
    ttl: 0,
    dscp: 0,
    ecn: 0,
    ident: 0,
    dontFragment: false,
    moreFragments: false,
    fragOffset: 0,
    payloadLength: 0,
    options: EMPTY,
  };
  /** The packet being delivered to a transport (for {@link replyPortUnreachable}). */
  #current?: { packet: Uint8Array; version: 4 | 6; bcast: boolean };
  #cur4: { packet: Uint8Array; version: 4 | 6; bcast: boolean } = {
    packet: EMPTY,
    version: 4,
    bcast: false,
  };

  constructor(ctx: EngineContext, opts: StackOptions = {}) {
    this.ctx = ctx;
    this.#copyRx = opts.copyRx ?? true;
    this.#defineSysctls(opts);
    const sc = this.sysctl;
    this.#pmtu = new PmtuCache(1024, sc.getNumber("net.inet.ip.pmtu_expire") * S);
    this.#reass4 = new Reassembler<FirstFrag>(
      {
        maxDatagrams: sc.getNumber("net.inet.ip.maxfragpackets"),
        maxBytes: sc.getNumber("net.inet.ip.maxfragbytes"),
        maxFragsPerDatagram: sc.getNumber("net.inet.ip.maxfragsperpacket"),
        maxLargeFrags: sc.getNumber("net.inet.ip.maxlargefragsperpacket"),
        largeFragBytes: LARGE_FRAG_BYTES,
        timeoutUs: sc.getNumber("net.inet.ip.fragttl") * S,
      },
      "trim",
      this.timers,
      this.counters,
      "ip.frag",
      (first) => this.#reassTimeout(4, first),
    );
    this.#reass6 = new Reassembler<FirstFrag>(
      {
        maxDatagrams: sc.getNumber("net.inet6.ip6.maxfragpackets"),
        maxBytes: sc.getNumber("net.inet6.ip6.maxfragbytes"),
        maxFragsPerDatagram: sc.getNumber("net.inet6.ip6.maxfragsperpacket"),
        timeoutUs: sc.getNumber("net.inet6.ip6.fragttl") * S,
      },
      "drop",
      this.timers,
      this.counters,
      "ip6.frag",
      (first) => this.#reassTimeout(6, first),
    );
    this.#icmpLimit = new RateLimiter(sc.getNumber("net.inet.icmp.icmplim"), ctx.now());
    this.#icmp6Limit = new RateLimiter(sc.getNumber("net.inet6.icmp6.errppslimit"), ctx.now());
    this.#ipId = ctx.random32() & 0xffff;
    this.#bindSysctls();
    // Interface 0 is the loopback: packets to our own addresses come back through poll().
    const lo: Iface = {
      index: 0,
      link: {
        kind: "ip",
        mtu: 65535,
        caps: { txChecksum: false, rxChecksum: false, tso: false },
        transmit: (pkt) => {
          const copy = pkt.slice();
          this.timers.schedule(this.ctx.now(), () => this.receive(0, copy));
        },
      },
      mtu: 65535,
      mtu6: 65535,
      addrs: [],
    };
    this.#ifaces.push(lo);
    this.#addAddr(lo, "127.0.0.1/8");
    this.#addAddr(lo, "::1/128");
  }

  // ---------------------------------------------------------------------------------------
  // Configuration

  /** Adds an interface; returns its ifIndex (1, 2, …). Throws on a bad configuration. */
  addInterface(link: LinkEndpoint, cfg: InterfaceConfig): number {
    if (link.kind === "ethernet" && (link.mac === undefined || link.mac.length !== 6)) {
      throw new Error("Cannot add an Ethernet interface: the link has no 6-byte MAC address");
    }
    const mtu = cfg.mtu ?? link.mtu;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new Error(`Cannot add an interface: MTU ${mtu} is out of range 68..65535`);
    }
    for (const a of cfg.addrs) {
      const c = parseCidr(a);
      if (c === undefined) throw new Error(`Cannot add address "${a}": not an address/prefix`);
      if (this.#local.has(c.addr)) throw new Error(`Cannot add address ${c.addr}: already in use`);
    }
    const iface: Iface = { index: this.#ifaces.length, link, mtu, mtu6: mtu, addrs: [] };
    this.#ifaces.push(iface);
    for (const a of cfg.addrs) this.#addAddr(iface, a);
    if (link.kind === "ethernet") {
      iface.arp = this.#makeArp(iface);
      iface.nd = this.#makeNd(iface);
      // RFC 4862 §5.3 / RFC 4291 §2.5.1: a link-local address from the MAC (modified EUI-64)
      // once IPv6 is in use, so NDP with link-local peers and routers works. (No DAD.)
      const ll = linkLocalFromMac(link.mac!);
      if (
        iface.addrs.some((a) => a.version === 6) && cfg.linkLocal6 !== false && !this.#local.has(ll)
      ) {
        this.#addAddr(iface, `${ll}/64`, false);
      }
    }
    if (cfg.gateway4 !== undefined) this.addRoute("0.0.0.0/0", iface.index, cfg.gateway4);
    if (cfg.gateway6 !== undefined) this.addRoute("::/0", iface.index, cfg.gateway6);
    if (cfg.defaultRoute) {
      if (cfg.gateway4 === undefined) this.addRoute("0.0.0.0/0", iface.index);
      if (cfg.gateway6 === undefined) this.addRoute("::/0", iface.index);
    }
    return iface.index;
  }

  /** Adds an address ("198.18.0.3/24") to interface `ifIndex`, with its subnet route. */
  addAddress(ifIndex: number, cidr: string): void {
    const iface = this.#ifaces[ifIndex];
    if (iface === undefined || ifIndex === 0) {
      throw new Error(`Cannot add address ${cidr}: no interface ${ifIndex}`);
    }
    this.#addAddr(iface, cidr);
  }

  /**
   * Adds a route to `dest` ("0.0.0.0/0", "198.19.0.0/16", "::/0") out of `ifIndex`, through
   * `gateway` when given (else the destination is on-link). Longest prefix wins.
   */
  addRoute(dest: string, ifIndex: number, gateway?: IpAddr): void {
    const c = parseCidr(dest);
    if (c === undefined) throw new Error(`Cannot add route: "${dest}" is not an address/prefix`);
    if (this.#ifaces[ifIndex] === undefined) {
      throw new Error(`Cannot add route ${dest}: no interface ${ifIndex}`);
    }
    let gw: IpAddr | undefined;
    if (gateway !== undefined) {
      gw = parseIp(gateway);
      if (gw === undefined || ipVersion(gw) !== c.version) {
        throw new Error(`Cannot add route ${dest}: bad gateway "${gateway}"`);
      }
    }
    this.#routes.push({
      version: c.version,
      net: ipBytes(c.addr),
      prefix: c.prefix,
      ifIndex,
      gateway: gw,
      dest: `${c.addr}/${c.prefix}`,
    });
    // Longest prefix first; among equals, the first added.
    this.#routes.sort((a, b) => b.prefix - a.prefix);
    this.#routeCache.clear();
  }

  /** The routing table. */
  routes(): RouteInfo[] {
    return this.#routes.map((r) => ({ dest: r.dest, ifIndex: r.ifIndex, gateway: r.gateway }));
  }

  /** Addresses of interface `ifIndex` (or of all interfaces but loopback), as "a/len". */
  addresses(ifIndex?: number): string[] {
    const ifs = ifIndex === undefined ? this.#ifaces.slice(1) : [this.#ifaces[ifIndex]];
    return ifs.flatMap((i) => i?.addrs.map((a) => `${a.addr}/${a.prefix}`) ?? []);
  }

  /**
   * What an unspecified destination (0.0.0.0, ::) stands for: this host. It is never a
   * destination on a wire (RFC 1122 §3.2.1.3, RFC 4291 §2.5.2); Linux delivers such a
   * connect or send over its loopback. Here: `own` (the socket's address) if it is one, else
   * the first address of that version, which the loopback interface delivers; undefined when
   * the stack has none.
   */
  thisHost(version: 4 | 6, own?: IpAddr): IpAddr | undefined {
    if (own !== undefined && own !== "" && !isUnspecified(own)) return own;
    for (const i of this.#ifaces.slice(1)) {
      const a = i?.addrs.find((x) => ipVersion(x.addr) === version);
      if (a) return a.addr;
    }
    return undefined;
  }

  /**
   * The interface a multicast membership or send uses: `ifIndex` when it names one that is
   * not the loopback, else the one holding `addr` (ip_mreq's or IP_MULTICAST_IF's local
   * address), else the first one with an address of `version`; undefined when there is none.
   * An index the program got from the kernel (if_nametoindex) names no interface here: it
   * means the first one, the only one an instance has.
   */
  multicastInterface(version: 4 | 6, ifIndex = 0, addr?: IpAddr): number | undefined {
    const has = (i: Iface | undefined) =>
      i !== undefined && i.addrs.some((a) => a.version === version);
    if (ifIndex > 0 && has(this.#ifaces[ifIndex])) return ifIndex;
    // The loopback's own address (127.0.0.1, ::1) names the loopback: 0.
    if (addr !== undefined && isLoopback(addr) && this.#local.get(addr)?.index === 0) return 0;
    if (addr !== undefined && !isUnspecified(addr)) {
      const i = this.#ifaces.find((x) => x.index !== 0 && x.addrs.some((a) => a.addr === addr));
      return i?.index;
    }
    return this.#ifaces.find((x) => x.index !== 0 && has(x))?.index;
  }

  /**
   * A socket joins multicast `group` on interface `ifIndex`: the interface takes the group's
   * datagrams from then on; the group's first member sends an IGMPv2 report (RFC 2236) or an
   * MLDv1 one (RFC 2710). Returns 0, or ENOBUFS when the interface is in too many groups.
   */
  joinGroup(ifIndex: number, group: IpAddr): number {
    const r = this.#groups.join(ifIndex, group);
    if (r === "full") return ENOBUFS;
    if (r === "first") this.#report(ifIndex, group, true);
    return 0;
  }

  /** A socket leaves `group` on `ifIndex`; the last member sends a leave (or MLD done). */
  leaveGroup(ifIndex: number, group: IpAddr): void {
    if (this.#groups.leave(ifIndex, group)) this.#report(ifIndex, group, false);
  }

  /** An IGMP or MLD report (`join`) or leave/done for `group` out of interface `ifIndex`. */
  #report(ifIndex: number, group: IpAddr, join: boolean): void {
    const iface = this.#ifaces[ifIndex];
    if (iface === undefined || iface.index === 0 || iface.link.kind !== "ethernet") return;
    if (ipVersion(group) === 4) {
      if (group === "224.0.0.1") return; // all-systems: never reported (RFC 2236 §6)
      const dst = join ? group : "224.0.0.2";
      const msg = emitIgmp({ type: join ? IGMP_V2_REPORT : IGMP_LEAVE, maxResp: 0, group });
      const src = this.#srcOn(iface, 4, group);
      if (src === undefined) return;
      this.counters.add(join ? "igmp.tx.report" : "igmp.tx.leave");
      // TTL 1, the Router Alert option (RFC 2236 §2, RFC 2113) and precedence 6 (DSCP 48, as
      // Linux sends it): bridges that snoop IGMP look for them. Not looped to ourselves.
      const hl = IPV4_HEADER_MIN + ROUTER_ALERT4.length;
      const packet = this.#alloc(hl + msg.length);
      emitIpv4({
        src,
        dst,
        proto: IPPROTO_IGMP,
        ttl: 1,
        dscp: 48,
        ecn: 0,
        ident: this.#ipId,
        dontFragment: false,
        moreFragments: false,
        fragOffset: 0,
        payloadLength: msg.length,
        options: ROUTER_ALERT4,
      }, packet);
      this.#ipId = (this.#ipId + 1) & 0xffff;
      packet.set(msg, hl);
      this.#send({ iface, nextHop: dst, src }, 4, packet);
      return;
    }
    // Interface- and link-scope all-nodes are never reported (RFC 2710 §5).
    if (group === "ff02::1" || group.startsWith("ff01:")) return;
    const src = iface.addrs.find((a) => a.version === 6 && /^fe[89ab][0-9a-f]:/.test(a.addr))
      ?.addr ?? iface.addrs.find((a) => a.version === 6)?.addr;
    if (src === undefined) return;
    const dst = join ? group : "ff02::2";
    // Max response delay and reserved (restOfHeader), then the group.
    const r = {
      type: join ? MLD_REPORT : MLD_DONE,
      code: 0,
      restOfHeader: 0,
      data: ipBytes(group),
    };
    const msg = new Uint8Array(icmpv6Length(r));
    emitIcmpv6(r, ipBytes(src), ipBytes(dst), msg);
    this.counters.add(join ? "mld.tx.report" : "mld.tx.done");
    // Hop limit 1 and a hop-by-hop Router Alert (RFC 2710 §3): Linux bridges that snoop MLD
    // take none without it.
    const packet = this.#alloc(IPV6_HEADER_LEN + HOP_BY_HOP_MLD.length + msg.length);
    emitIpv6({
      src,
      dst,
      nextHeader: IPPROTO_HOPOPTS,
      hopLimit: 1,
      dscp: 0,
      ecn: 0,
      flowLabel: 0,
      payloadLength: HOP_BY_HOP_MLD.length + msg.length,
    }, packet);
    packet.set(HOP_BY_HOP_MLD, IPV6_HEADER_LEN);
    packet.set(msg, IPV6_HEADER_LEN + HOP_BY_HOP_MLD.length);
    this.#etherTransmit(iface, multicastMac6(dst), ETHERTYPE_IPV6, packet);
  }

  /** IGMP in: a query is answered with a report for each group asked about that we are in. */
  #igmpInput(meta: IpMeta, msg: Uint8Array): void {
    const m = parseIgmp(msg);
    if (m === undefined) return this.#drop("igmp.rx.bad");
    if (m.type !== IGMP_QUERY) return this.counters.add("igmp.rx.other");
    this.counters.add("igmp.rx.query");
    const general = m.group === "0.0.0.0";
    for (const g of this.#groups.on(meta.ifIndex)) {
      if (ipVersion(g) === 4 && (general || g === m.group)) this.#report(meta.ifIndex, g, true);
    }
  }

  /** Whether we take IPv4 multicast `dst` on `iface` (all-systems, or a group joined). */
  #joined4(iface: Iface, dst: IpAddr): boolean {
    if (dst === "224.0.0.1") return true;
    // The loopback carries copies of what we sent to groups we are in (IP_MULTICAST_LOOP).
    return iface.index === 0 ? this.#groups.hasAnywhere(dst) : this.#groups.has(iface.index, dst);
  }

  /** Whether `a` is one of our addresses. */
  isLocalAddress(a: IpAddr): boolean {
    return this.#local.has(a);
  }

  /** The neighbor caches of an Ethernet interface (for diagnostics and tests). */
  neighbors(ifIndex: number): { arp?: NeighborCache; nd?: NeighborCache } {
    const i = this.#ifaces[ifIndex];
    return { arp: i?.arp, nd: i?.nd };
  }

  /** Registers the transport for IP protocol number `proto` (6 TCP, 17 UDP). */
  registerProtocol(proto: number, p: TransportProtocol): void {
    this.#protocols.set(proto, p);
  }

  // ---------------------------------------------------------------------------------------
  // Time

  /**
   * Runs every timer due at `now` (reassembly, ARP/NDP, TCP's, loopback deliveries). Returns how
   * many ran.
   */
  poll(now: number): number {
    return this.timers.run(now);
  }

  /** The time of the next timer, or undefined. */
  nextDeadline(): number | undefined {
    return this.timers.next();
  }

  // ---------------------------------------------------------------------------------------
  // Routing queries

  /** The source address the stack would use to reach `dst`, or undefined when unroutable. */
  sourceFor(dst: IpAddr): IpAddr | undefined {
    return this.#route(dst)?.src;
  }

  /**
   * The path MTU towards `dst`: the outgoing interface's MTU, lowered by PMTUD (RFC 1191 /
   * RFC 8201). For an unroutable destination, the protocol minimum (576 / 1280).
   */
  pathMtu(dst: IpAddr): number {
    const r = this.#route(dst);
    const v = ipVersion(dst);
    if (r === undefined) return v === 4 ? 576 : IPV6_MIN_MTU;
    const ifMtu = v === 4 ? r.iface.mtu : r.iface.mtu6;
    const learnt = this.#pmtu.get(dst, this.ctx.now());
    return learnt !== undefined && learnt < ifMtu ? learnt : ifMtu;
  }

  /**
   * Tells neighbor discovery that `dst` is reachable (RFC 4861 §7.3.1 upper-layer hint, e.g.
   * TCP saw new data acknowledged), sparing a probe of its next hop.
   */
  confirmReachable(dst: IpAddr): void {
    const r = this.#route(dst);
    if (r === undefined || r.iface.link.kind !== "ethernet") return;
    const c = ipVersion(dst) === 4 ? r.iface.arp : r.iface.nd;
    c?.confirm(r.nextHop, this.ctx.now());
  }

  /** Forgets every learnt path MTU (FreeBSD's net.inet.tcp.hostcache.purgenow). */
  flushPathMtu(): void {
    this.#pmtu.clear();
  }

  /** The capabilities of the link that leads to `dst` (undefined when unroutable). */
  linkCapsFor(dst: IpAddr): LinkCaps | undefined {
    return this.#route(dst)?.iface.link.caps;
  }

  // ---------------------------------------------------------------------------------------
  // Input

  /**
   * Hands a received frame (an Ethernet frame, or a bare IP packet on an "ip" link) to the
   * stack. Never throws; unusable frames are counted and dropped. `checksumsVerified`: the
   * device verified this frame's IPv4 header and TCP/UDP checksums (a per-frame
   * {@link LinkCaps.rxChecksum}, e.g. DPDK's "checksum good" flag), so the stack skips them.
   */
  receive(ifIndex: number, frame: Uint8Array, checksumsVerified = false): void {
    const iface = this.#ifaces[ifIndex];
    if (iface === undefined) {
      this.counters.add("link.rx.noInterface");
      return;
    }
    if (this.#copyRx && ifIndex !== 0) frame = frame.slice();
    const outer = this.#rxVerified; // receive() may re-enter (loopback delivery)
    this.#rxVerified = checksumsVerified && ifIndex !== 0;
    try {
      if (iface.link.kind === "ip") this.#ipInput(iface, frame);
      else this.#etherInput(iface, frame);
    } catch (e) {
      // A bug somewhere below; hostile input must never take the engine down.
      this.lastError = e;
      this.counters.add("stack.rx.exception");
    } finally {
      this.#rxVerified = outer;
    }
    this.#current = undefined;
  }

  #etherInput(iface: Iface, frame: Uint8Array): void {
    const v = new EthernetView(frame);
    if (v.check() !== undefined) return this.#drop("eth.rx.truncated");
    const dst = v.dst;
    if (!macEqual(dst, iface.link.mac!) && !isMulticastMac(dst)) {
      return this.#drop("eth.rx.notForUs");
    }
    if (isMulticastMac(v.src)) return this.#drop("eth.rx.badSource");
    switch (v.etherType) {
      case ETHERTYPE_ARP:
        return this.#arpInput(iface, v.payload);
      case ETHERTYPE_IPV4:
      case ETHERTYPE_IPV6:
        return this.#ipInput(iface, v.payload, v.etherType === ETHERTYPE_IPV4 ? 4 : 6);
      default:
        return this.#drop("eth.rx.unknownEtherType");
    }
  }

  #ipInput(iface: Iface, pkt: Uint8Array, expect?: 4 | 6): void {
    if (pkt.length < 1) return this.#drop("ip.rx.truncated");
    const version = pkt[0] >> 4;
    if (expect !== undefined && version !== expect) return this.#drop("ip.rx.versionMismatch");
    if (version === 4) return this.#ip4Input(iface, pkt);
    if (version === 6) return this.#ip6Input(iface, pkt);
    this.#drop("ip.rx.badVersion");
  }

  // ---- IPv4 ----

  #ip4Input(iface: Iface, raw: Uint8Array): void {
    const v = new Ipv4View(raw);
    const err = v.check();
    if (err !== undefined) return this.#drop(`ip.rx.${kebabToCamel(err)}`);
    if (!iface.link.caps.rxChecksum && !this.#rxVerified && !v.checksumOk()) {
      return this.#drop("ip.rx.badChecksum");
    }
    const pkt = raw.length === v.totalLength ? raw : raw.subarray(0, v.totalLength);
    const view = pkt === raw ? v : new Ipv4View(pkt);
    const dst = view.dst;
    const src = view.src;
    let bcast = false;
    if (!this.#local.has(dst)) {
      if (this.#isBroadcast4(iface, dst)) bcast = true;
      else if (isMulticast(dst)) {
        if (!this.#joined4(iface, dst)) return this.#drop("ip.rx.multicast");
        bcast = true;
      } else return this.#drop("ip.rx.notForUs");
    }
    if (isMulticast(src) || src === "255.255.255.255" || this.#isBroadcast4(iface, src)) {
      return this.#drop("ip.rx.badSource");
    }
    // RFC 1122 §3.2.1.3: 127/8 never appears on a wire.
    if (iface.index !== 0 && (isLoopback(src) || isLoopback(dst))) {
      return this.#drop("ip.rx.martian");
    }
    this.counters.add("ip.rx.packets");
    if (view.moreFragments || view.fragOffset !== 0) {
      const hl = view.headerLength;
      const r = this.#reass4.add({
        key: `${src}|${dst}|${view.proto}|${view.ident}`,
        offset: view.fragOffset,
        more: view.moreFragments,
        data: view.payload,
        ecn: view.ecn,
        first: view.fragOffset === 0
          ? {
            ifIndex: iface.index,
            packet: pkt.slice(0, Math.min(pkt.length, hl + 64)),
            src,
            dst,
            ttl: view.ttl,
            proto: view.proto,
            bcast,
          }
          : undefined,
      }, this.ctx.now());
      if (typeof r === "string") return;
      const meta: IpMeta = {
        version: 4,
        src,
        dst,
        proto: r.first.proto,
        ttl: r.first.ttl,
        ecn: r.ecn,
        ifIndex: r.first.ifIndex,
      };
      return this.#deliver4(meta, r.first.packet, r.payload, r.first.bcast, true);
    }
    const meta: IpMeta = {
      version: 4,
      src,
      dst,
      proto: view.proto,
      ttl: view.ttl,
      ecn: view.ecn,
      ifIndex: iface.index,
    };
    this.#deliver4(meta, pkt, view.payload, bcast, false);
  }

  /** Whether IPv4 address `a` is a broadcast address here (limited, or of a local subnet). */
  isBroadcast4(a: IpAddr): boolean {
    if (a === "255.255.255.255") return true;
    for (const iface of this.#ifaces) if (this.#isBroadcast4(iface, a)) return true;
    return false;
  }

  #isBroadcast4(iface: Iface, a: IpAddr): boolean {
    if (a === "255.255.255.255") return true;
    for (const x of iface.addrs) {
      if (x.version !== 4 || x.prefix >= 31) continue;
      const b = ipBytes(a);
      if (!samePrefix(b, x.bytes, x.prefix)) continue;
      // Host part all ones (or all zeros, the old BSD broadcast).
      const hostBits = 32 - x.prefix;
      const n = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
      const mask = hostBits === 32 ? 0xffffffff : (2 ** hostBits) - 1;
      if ((n & mask) >>> 0 === mask || (n & mask) === 0) return true;
    }
    return false;
  }

  #deliver4(
    meta: IpMeta,
    packet: Uint8Array,
    payload: Uint8Array,
    bcast: boolean,
    reassembled: boolean,
  ): void {
    if (meta.proto === IPPROTO_ICMP) return this.#icmp4Input(meta, payload, bcast);
    if (meta.proto === IPPROTO_IGMP) return this.#igmpInput(meta, payload);
    const p = this.#protocols.get(meta.proto);
    if (p === undefined) {
      this.counters.add("ip.rx.noProto");
      if (!bcast) this.#icmp4Error(ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0, packet);
      return;
    }
    if (meta.proto === IPPROTO_TCP && bcast) return this.#drop("ip.rx.tcpBroadcast");
    if (!this.#transportChecksumOk(meta, payload, reassembled)) return;
    // A reused record: #current is cleared after input either way (also after a nested one).
    const cur = this.#cur4;
    cur.packet = packet;
    cur.bcast = bcast;
    this.#current = cur;
    p.input(meta, payload);
    this.#current = undefined;
    cur.packet = EMPTY;
  }

  /** Verifies a TCP/UDP checksum (pseudo-header included); counts and returns false if bad. */
  #transportChecksumOk(meta: IpMeta, seg: Uint8Array, reassembled: boolean): boolean {
    const iface = this.#ifaces[meta.ifIndex];
    if (meta.proto !== IPPROTO_TCP && meta.proto !== IPPROTO_UDP) return true;
    const name = meta.proto === IPPROTO_TCP ? "tcp" : "udp";
    if (meta.proto === IPPROTO_UDP) {
      if (seg.length < 8) return this.#drop("udp.rx.truncated"), false;
      if (seg[6] === 0 && seg[7] === 0) {
        // RFC 768: no checksum (IPv4 only); RFC 8200 §8.1: invalid in IPv6.
        if (meta.version === 6) return this.#drop("udp.rx.zeroChecksum"), false;
        return true;
      }
    }
    if (
      iface !== undefined && (iface.link.caps.rxChecksum || this.#rxVerified) && !reassembled &&
      iface.index !== 0
    ) {
      return true;
    }
    const s = sumBytes(
      pseudoHeaderSum(ipBytes(meta.src), ipBytes(meta.dst), meta.proto, seg.length),
      seg,
    );
    if (finishSum(s) !== 0) return this.#drop(`${name}.rx.badChecksum`), false;
    return true;
  }

  #icmp4Input(meta: IpMeta, msg: Uint8Array, bcast: boolean): void {
    const v = new IcmpView(msg);
    if (v.check() !== undefined) return this.#drop("icmp.rx.truncated");
    if (!v.checksumOk()) return this.#drop("icmp.rx.badChecksum");
    const type = v.type;
    switch (type) {
      case ICMP_ECHO_REQUEST: {
        if (bcast && this.sysctl.getNumber("net.inet.icmp.bmcastecho") === 0) {
          return this.#drop("icmp.rx.bcastEcho");
        }
        this.counters.add("icmp.rx.echo");
        const src = bcast ? this.#route(meta.src)?.src : meta.dst;
        if (src === undefined) return;
        const reply = new Uint8Array(msg.length);
        emitIcmp(
          { type: ICMP_ECHO_REPLY, code: 0, restOfHeader: v.restOfHeader, data: v.data },
          reply,
        );
        if (this.ipOutput({ version: 4, src, dst: meta.src, proto: IPPROTO_ICMP }, reply) === 0) {
          this.counters.add("icmp.tx.echoReply");
        }
        return;
      }
      case ICMP_ECHO_REPLY: {
        this.counters.add("icmp.rx.echoReply");
        const w = v.restOfHeader;
        this.onEchoReply?.(4, meta.src, w >>> 16, w & 0xffff, v.data);
        return;
      }
      case ICMP_DEST_UNREACH:
      case ICMP_TIME_EXCEEDED:
      case ICMP_PARAM_PROBLEM:
        return this.#icmp4ErrorInput(type, v.code, v.restOfHeader, v.data);
      case ICMP_SOURCE_QUENCH:
        // RFC 6633: ignored.
        return this.#drop("icmp.rx.sourceQuench");
      case ICMP_REDIRECT:
        return this.#drop("icmp.rx.redirect");
      default:
        return this.#drop("icmp.rx.otherType");
    }
  }

  /** An ICMP error about one of our datagrams: validate the quote, PMTUD, tell the transport. */
  #icmp4ErrorInput(type: number, code: number, rest: number, q: Uint8Array): void {
    this.counters.add("icmp.rx.error");
    if (q.length < IPV4_HEADER_MIN || q[0] >> 4 !== 4) return this.#drop("icmp.rx.badQuote");
    const hl = (q[0] & 0x0f) * 4;
    if (hl < IPV4_HEADER_MIN || q.length < hl + 8) return this.#drop("icmp.rx.badQuote");
    const qv = new Ipv4View(q);
    if (qv.fragOffset !== 0) return this.#drop("icmp.rx.quotedFragment");
    const qsrc = qv.src;
    const qdst = qv.dst;
    // RFC 5927 §4: the quoted datagram must be one we could have sent.
    if (!this.#local.has(qsrc)) return this.#drop("icmp.rx.notOurs");
    let mtu: number | undefined;
    if (type === ICMP_DEST_UNREACH && code === ICMP_UNREACH_NEEDFRAG) {
      mtu = rest & 0xffff;
      const qlen = qv.totalLength;
      if (mtu === 0) mtu = PLATEAUS.find((p) => p < qlen) ?? 68; // RFC 1191 §5
      // RFC 791: 68 is the least MTU. (No check against the quoted length: FreeBSD has
      // none, and the transport compares the MTU with its own segment size.)
      if (mtu < 68) return this.#drop("icmp.rx.badMtu");
    }
    const p = this.#protocols.get(qv.proto);
    if (p === undefined) return this.#drop("icmp.rx.errorNoProto");
    const ours = p.icmpError({
      version: 4,
      type,
      code,
      mtu,
      src: qsrc,
      dst: qdst,
      proto: qv.proto,
      quoted: q.subarray(hl),
    });
    this.#learnMtu(ours, qdst, mtu, "icmp");
  }

  /**
   * Keeps a path MTU an ICMP error carried, once its transport found the quoted datagram its
   * own (RFC 5927 §4.1). Kept first, one forged error quoting any ports lowered the path to a
   * host for every later connection (SYNs offered MSS 64) for ten minutes; Linux ignores it.
   */
  #learnMtu(ours: boolean, dst: IpAddr, mtu: number | undefined, counter: "icmp" | "icmp6"): void {
    if (mtu === undefined) return;
    if (!ours) return this.#drop(`${counter}.rx.pmtuNotOurs`);
    if (this.#pmtu.update(dst, mtu, this.pathMtu(dst), this.ctx.now())) {
      this.counters.add(`${counter}.rx.pmtuLowered`);
    }
  }

  /**
   * Sends an ICMP error about `orig` (an IPv4 packet we received), following RFC 1122
   * §3.2.2: never about an ICMP error, a non-first fragment, or a non-unicast source; rate
   * limited by net.inet.icmp.icmplim.
   */
  #icmp4Error(type: number, code: number, rest: number, orig: Uint8Array): void {
    const ov = new Ipv4View(orig);
    if (orig.length < IPV4_HEADER_MIN) return;
    const hl = ov.headerLength;
    if (ov.fragOffset !== 0) return;
    if (ov.proto === IPPROTO_ICMP && orig.length > hl && isIcmpError(orig[hl])) return;
    const src = ov.src;
    if (isUnspecified(src) || isMulticast(src) || src === "255.255.255.255") return;
    if (!this.#icmpLimit.allow(this.ctx.now())) return this.#drop("icmp.tx.rateLimited");
    const quote = Math.min(
      orig.length,
      ov.totalLength,
      hl + Math.max(8, this.sysctl.getNumber("net.inet.icmp.quotelen")),
    );
    const msg = new Uint8Array(ICMP_HEADER_LEN + quote);
    emitIcmp({ type, code, restOfHeader: rest, data: orig.subarray(0, quote) }, msg);
    const ours = ov.dst;
    const from = this.#local.has(ours) ? ours : this.#route(src)?.src;
    if (from === undefined) return;
    if (this.ipOutput({ version: 4, src: from, dst: src, proto: IPPROTO_ICMP }, msg) === 0) {
      this.counters.add(`icmp.tx.error.${type}.${code}`);
    }
  }

  // ---- IPv6 ----

  #ip6Input(iface: Iface, raw: Uint8Array): void {
    const v = new Ipv6View(raw);
    const err = v.check();
    if (err !== undefined) return this.#drop(`ip6.rx.${kebabToCamel(err)}`);
    const pkt = raw.subarray(0, IPV6_HEADER_LEN + v.payloadLength);
    const view = pkt === raw ? v : new Ipv6View(pkt);
    const dst = view.dst;
    const src = view.src;
    let mcast = false;
    if (!this.#local.has(dst)) {
      if (!isMulticast(dst)) return this.#drop("ip6.rx.notForUs");
      if (!this.#joined6(iface, dst)) return this.#drop("ip6.rx.multicast");
      mcast = true;
    }
    if (isMulticast(src)) return this.#drop("ip6.rx.badSource");
    if (iface.index !== 0 && (src === "::1" || dst === "::1")) return this.#drop("ip6.rx.martian");
    this.counters.add("ip6.rx.packets");
    const payload = view.payload;
    const w = walkIpv6(payload, view.nextHeader);
    if (typeof w === "string") {
      if (w === "bad-option") this.#badOption6(pkt, payload, view.nextHeader, mcast);
      return this.#drop(`ip6.rx.${kebabToCamel(w)}`);
    }
    const meta: IpMeta = {
      version: 6,
      src,
      dst,
      proto: w.proto,
      ttl: view.hopLimit,
      ecn: view.ecn,
      ifIndex: iface.index,
    };
    if (w.frag !== undefined && (w.frag.offset !== 0 || w.frag.more)) {
      const f = w.frag;
      const r = this.#reass6.add({
        key: `${src}|${dst}|${f.ident}`,
        offset: f.offset,
        more: f.more,
        data: payload.subarray(w.fragOffset! + IPV6_FRAG_HEADER_LEN),
        ecn: view.ecn,
        first: f.offset === 0
          ? {
            ifIndex: iface.index,
            packet: pkt.slice(0, Math.min(pkt.length, 1232)),
            src,
            dst,
            ttl: view.hopLimit,
            proto: f.nextHeader,
            bcast: mcast,
          }
          : undefined,
      }, this.ctx.now());
      if (typeof r === "string") return;
      const w2 = walkIpv6(r.payload, r.first.proto);
      if (typeof w2 === "string") return this.#drop(`ip6.rx.${kebabToCamel(w2)}`);
      if (w2.frag !== undefined) return this.#drop("ip6.rx.nestedFragment");
      const m2: IpMeta = {
        ...meta,
        proto: w2.proto,
        ttl: r.first.ttl,
        ecn: r.ecn,
        ifIndex: r.first.ifIndex,
      };
      return this.#deliver6(
        m2,
        r.first.packet,
        r.payload.subarray(w2.offset),
        -2,
        r.first.bcast,
        true,
      );
    }
    // An atomic fragment (RFC 6946) is processed as a whole packet.
    this.#deliver6(meta, pkt, payload.subarray(w.offset), w.protoAt, mcast, false);
  }

  /** RFC 8200 §4.2: an unrecognized option whose type asks for a parameter problem. */
  #badOption6(pkt: Uint8Array, payload: Uint8Array, nh: number, mcast: boolean): void {
    const bad = ipv6BadOption(payload, nh);
    if (bad === undefined) return;
    const action = bad.type >> 6;
    if (action === 2 || (action === 3 && !mcast)) {
      this.#icmp6Error(ICMPV6_PARAM_PROBLEM, 2, IPV6_HEADER_LEN + bad.offset, pkt, mcast);
    }
  }

  /** Whether we listen to multicast group `dst` on `iface`: all-nodes or our solicited-node. */
  #joined6(iface: Iface, dst: IpAddr): boolean {
    if (dst === "ff02::1" || dst === "ff01::1") return true;
    if (iface.index === 0 ? this.#groups.hasAnywhere(dst) : this.#groups.has(iface.index, dst)) {
      return true;
    }
    if (!dst.startsWith("ff02::1:ff")) return false;
    const b = ipBytes(dst);
    for (const a of iface.addrs) {
      if (
        a.version === 6 && a.bytes[13] === b[13] && a.bytes[14] === b[14] && a.bytes[15] === b[15]
      ) {
        return true;
      }
    }
    return false;
  }

  /** `protoAt`: offset in the payload of the byte naming `proto` (-1 fixed header, -2 n/a). */
  #deliver6(
    meta: IpMeta,
    packet: Uint8Array,
    seg: Uint8Array,
    protoAt: number,
    mcast: boolean,
    reassembled: boolean,
  ): void {
    if (meta.proto === IPPROTO_ICMPV6) return this.#icmp6Input(meta, packet, seg, mcast);
    if (meta.proto === IPPROTO_NONE) return this.#drop("ip6.rx.noNextHeader");
    const p = this.#protocols.get(meta.proto);
    if (p === undefined) {
      this.counters.add("ip6.rx.noProto");
      if (!mcast && protoAt !== -2) {
        // RFC 8200 §4: unrecognized next header → parameter problem, code 1.
        this.#icmp6Error(
          ICMPV6_PARAM_PROBLEM,
          ICMPV6_PARAMPROB_NEXTHEADER,
          protoAt === -1 ? 6 : IPV6_HEADER_LEN + protoAt,
          packet,
          mcast,
        );
      }
      return;
    }
    if (meta.proto === IPPROTO_TCP && mcast) return this.#drop("ip6.rx.tcpMulticast");
    if (!this.#transportChecksumOk(meta, seg, reassembled)) return;
    this.#current = { packet, version: 6, bcast: mcast };
    p.input(meta, seg);
    this.#current = undefined;
  }

  #icmp6Input(meta: IpMeta, packet: Uint8Array, msg: Uint8Array, mcast: boolean): void {
    const v = new Icmpv6View(msg);
    if (v.check() !== undefined) return this.#drop("icmp6.rx.truncated");
    if (!v.checksumOk(ipBytes(meta.src), ipBytes(meta.dst))) {
      return this.#drop("icmp6.rx.badChecksum");
    }
    const type = v.type;
    switch (type) {
      case ICMPV6_ECHO_REQUEST: {
        if (mcast) return this.#drop("icmp6.rx.mcastEcho");
        this.counters.add("icmp6.rx.echo");
        const reply = new Uint8Array(msg.length);
        const s = ipBytes(meta.dst), d = ipBytes(meta.src);
        emitIcmpv6(
          { type: ICMPV6_ECHO_REPLY, code: 0, restOfHeader: v.restOfHeader, data: v.data },
          s,
          d,
          reply,
        );
        if (
          this.ipOutput(
            { version: 6, src: meta.dst, dst: meta.src, proto: IPPROTO_ICMPV6 },
            reply,
          ) === 0
        ) {
          this.counters.add("icmp6.tx.echoReply");
        }
        return;
      }
      case ICMPV6_ECHO_REPLY: {
        this.counters.add("icmp6.rx.echoReply");
        const w = v.restOfHeader;
        this.onEchoReply?.(6, meta.src, w >>> 16, w & 0xffff, v.data);
        return;
      }
      case ICMPV6_DEST_UNREACH:
      case ICMPV6_PACKET_TOO_BIG:
      case ICMPV6_TIME_EXCEEDED:
      case ICMPV6_PARAM_PROBLEM:
        return this.#icmp6ErrorInput(type, v.code, v.restOfHeader, v.data);
      case ND_ROUTER_SOLICIT:
      case ND_ROUTER_ADVERT:
      case ND_NEIGHBOR_SOLICIT:
      case ND_NEIGHBOR_ADVERT:
        return this.#ndInput(meta, msg, mcast);
      case ND_REDIRECT:
        return this.#drop("icmp6.rx.redirect");
      default:
        void packet;
        if (isIcmpv6Error(type)) return this.#drop("icmp6.rx.unknownError");
        return this.#drop("icmp6.rx.otherType");
    }
  }

  #icmp6ErrorInput(type: number, code: number, rest: number, q: Uint8Array): void {
    this.counters.add("icmp6.rx.error");
    if (q.length < IPV6_HEADER_LEN || q[0] >> 4 !== 6) return this.#drop("icmp6.rx.badQuote");
    const qsrc = ipFromBytes(q, 8, 6);
    const qdst = ipFromBytes(q, 24, 6);
    if (!this.#local.has(qsrc)) return this.#drop("icmp6.rx.notOurs");
    const w = walkIpv6(q.subarray(IPV6_HEADER_LEN), q[6]);
    if (typeof w === "string") return this.#drop("icmp6.rx.badQuote");
    if (w.frag !== undefined && w.frag.offset !== 0) return this.#drop("icmp6.rx.quotedFragment");
    const quoted = q.subarray(IPV6_HEADER_LEN + w.offset);
    if (quoted.length < 8) return this.#drop("icmp6.rx.badQuote");
    let mtu: number | undefined;
    if (type === ICMPV6_PACKET_TOO_BIG) {
      mtu = rest;
      // RFC 8201 §4: never below the IPv6 minimum MTU.
      if (mtu < IPV6_MIN_MTU) mtu = IPV6_MIN_MTU;
    }
    const p = this.#protocols.get(w.proto);
    if (p === undefined) return this.#drop("icmp6.rx.errorNoProto");
    const ours = p.icmpError({
      version: 6,
      type,
      code,
      mtu,
      src: qsrc,
      dst: qdst,
      proto: w.proto,
      quoted,
    });
    this.#learnMtu(ours, qdst, mtu, "icmp6");
  }

  /**
   * Sends an ICMPv6 error about `orig` (RFC 4443 §2.4): never about an ICMPv6 error or a
   * redirect, never to a multicast/unspecified source, about a multicast destination only
   * for packet-too-big and unrecognized options; rate limited.
   */
  #icmp6Error(type: number, code: number, rest: number, orig: Uint8Array, mcast: boolean): void {
    if (orig.length < IPV6_HEADER_LEN) return;
    const src = ipFromBytes(orig, 8, 6);
    if (isUnspecified(src) || isMulticast(src)) return;
    if (mcast && type !== ICMPV6_PACKET_TOO_BIG && !(type === ICMPV6_PARAM_PROBLEM && code === 2)) {
      return;
    }
    if (orig[6] === IPPROTO_ICMPV6 && orig.length > IPV6_HEADER_LEN) {
      const t = orig[IPV6_HEADER_LEN];
      if (isIcmpv6Error(t) || t === ND_REDIRECT) return;
    }
    if (!this.#icmp6Limit.allow(this.ctx.now())) return this.#drop("icmp6.tx.rateLimited");
    const dstOrig = ipFromBytes(orig, 24, 6);
    const from = this.#local.has(dstOrig) ? dstOrig : this.#route(src)?.src;
    if (from === undefined) return;
    const quote = Math.min(orig.length, IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN);
    const msg = new Uint8Array(ICMPV6_HEADER_LEN + quote);
    emitIcmpv6(
      { type, code, restOfHeader: rest, data: orig.subarray(0, quote) },
      ipBytes(from),
      ipBytes(src),
      msg,
    );
    if (this.ipOutput({ version: 6, src: from, dst: src, proto: IPPROTO_ICMPV6 }, msg) === 0) {
      this.counters.add(`icmp6.tx.error.${type}.${code}`);
    }
  }

  // ---- NDP ----

  #ndInput(meta: IpMeta, msg: Uint8Array, mcast: boolean): void {
    // RFC 4861 §6.1 / §7.1: hop limit 255 proves the sender is on-link; code 0.
    if (meta.ttl !== 255) return this.#drop("nd6.rx.badHopLimit");
    if (msg[1] !== 0) return this.#drop("nd6.rx.badCode");
    const r = parseNd(msg);
    if (typeof r === "string") return this.#drop(`nd6.rx.${kebabToCamel(r)}`);
    const iface = this.#ifaces[meta.ifIndex];
    const nd = iface?.nd;
    const now = this.ctx.now();
    const lla = (kind: "sourceLinkAddr" | "targetLinkAddr") => {
      for (const o of r.options) if (o.kind === kind) return o.mac;
      return undefined;
    };
    switch (r.type) {
      case ND_NEIGHBOR_SOLICIT: {
        if (isMulticast(r.target)) return this.#drop("nd6.rx.badTarget");
        const sll = lla("sourceLinkAddr");
        const dad = isUnspecified(meta.src);
        if (dad && (sll !== undefined || !meta.dst.startsWith("ff02::1:ff"))) {
          return this.#drop("nd6.rx.badDad");
        }
        if (this.#local.get(r.target) !== iface) return this.#drop("nd6.rx.notForUs");
        this.counters.add("nd6.rx.ns");
        if (nd === undefined) return; // an "ip" link has no link addresses
        if (!dad && sll !== undefined) {
          nd.update(meta.src, sll, now, { confirmed: false, override: true, create: true });
        }
        this.#sendNa(iface, r.target, dad ? "ff02::1" : meta.src, !dad);
        return;
      }
      case ND_NEIGHBOR_ADVERT: {
        if (isMulticast(r.target)) return this.#drop("nd6.rx.badTarget");
        if (mcast && r.solicited) return this.#drop("nd6.rx.badNa");
        this.counters.add("nd6.rx.na");
        if (nd === undefined) return;
        const tll = lla("targetLinkAddr") ?? nd.lookup(r.target);
        if (tll === undefined) return;
        nd.update(r.target, tll, now, {
          confirmed: r.solicited,
          override: r.override,
          create: false,
        });
        return;
      }
      case ND_ROUTER_SOLICIT:
        return this.#drop("nd6.rx.rs"); // we are a host
      case ND_ROUTER_ADVERT: {
        if (!/^fe[89ab][0-9a-f]:/.test(meta.src)) return this.#drop("nd6.rx.badRaSource");
        this.counters.add("nd6.rx.ra");
        if (iface === undefined) return;
        const sll = lla("sourceLinkAddr");
        if (nd !== undefined && sll !== undefined) {
          nd.update(meta.src, sll, now, { confirmed: false, override: true, create: true });
        }
        for (const o of r.options) {
          if (o.kind === "mtu" && o.mtu >= IPV6_MIN_MTU && o.mtu <= iface.mtu) iface.mtu6 = o.mtu;
        }
        if (
          r.routerLifetime > 0 &&
          !this.#routes.some((x) => x.version === 6 && x.prefix === 0)
        ) {
          this.addRoute("::/0", iface.index, meta.src);
        }
        return;
      }
    }
  }

  #sendNa(iface: Iface, target: IpAddr, dst: IpAddr, solicited: boolean): void {
    const opts: NdOption[] = [{ kind: "targetLinkAddr", mac: iface.link.mac! }];
    const r: NdRepr = {
      type: ND_NEIGHBOR_ADVERT,
      router: false,
      solicited,
      override: true,
      target,
      options: opts,
    };
    const msg = new Uint8Array(ndLength(r));
    emitNd(r, ipBytes(target), ipBytes(dst), msg);
    this.counters.add("nd6.tx.na");
    this.#send6Direct(iface, target, dst, msg);
  }

  /** Sends an NDP message with hop limit 255 out of `iface` (bypassing routing). */
  #send6Direct(
    iface: Iface,
    src: IpAddr,
    dst: IpAddr,
    msg: Uint8Array,
    mac?: Uint8Array,
    hopLimit = 255,
  ): void {
    const packet = this.#alloc(IPV6_HEADER_LEN + msg.length);
    emitIpv6({
      src,
      dst,
      nextHeader: IPPROTO_ICMPV6,
      hopLimit,
      dscp: 0,
      ecn: 0,
      flowLabel: 0,
      payloadLength: msg.length,
    }, packet);
    packet.set(msg, IPV6_HEADER_LEN);
    if (mac !== undefined) return this.#etherTransmit(iface, mac, ETHERTYPE_IPV6, packet);
    if (isMulticast(dst)) {
      return this.#etherTransmit(iface, multicastMac6(dst), ETHERTYPE_IPV6, packet);
    }
    iface.nd!.output(dst, packet, this.ctx.now());
  }

  #makeNd(iface: Iface): NeighborCache {
    const sc = this.sysctl;
    return new NeighborCache(
      {
        maxEntries: sc.getNumber("net.inet6.ip6.neighbor_max"),
        maxHold: sc.getNumber("net.inet6.icmp6.nd6_maxqueuelen"),
        retransUs: sc.getNumber("net.inet6.icmp6.nd6_retrans") * 1000,
        maxSolicits: sc.getNumber("net.inet6.icmp6.nd6_mmaxtries"),
        reachableUs: sc.getNumber("net.inet6.icmp6.nd6_reachable") * S,
        downUs: sc.getNumber("net.inet6.icmp6.nd6_down") * S,
        delayUs: sc.getNumber("net.inet6.icmp6.nd6_delay") * S,
      },
      this.timers,
      this.counters,
      "nd6",
      {
        solicit: (ip, mac) => {
          const target = ip;
          const src = this.#srcOn(iface, 6, target);
          if (src === undefined) return;
          const dst = mac === undefined ? solicitedNode(target) : target;
          const r: NdRepr = {
            type: ND_NEIGHBOR_SOLICIT,
            target,
            options: [{ kind: "sourceLinkAddr", mac: iface.link.mac! }],
          };
          const msg = new Uint8Array(ndLength(r));
          emitNd(r, ipBytes(src), ipBytes(dst), msg);
          this.#send6Direct(iface, src, dst, msg, mac ?? multicastMac6(dst));
        },
        transmit: (mac, packet) => this.#etherTransmit(iface, mac, ETHERTYPE_IPV6, packet),
        failed: (_ip, dropped) => this.#ndFailed(dropped),
      },
    );
  }

  /**
   * Neighbor discovery gave up on a next hop: as {@link #arpFailed}, each packet that waited
   * is reported to its transport as a local "address unreachable" (ICMPv6 1/3), so a connect()
   * fails with EHOSTUNREACH after ND's tries (Linux: about 3 s) instead of 75 s. Packets whose
   * transport header follows extension headers are dropped silently.
   */
  #ndFailed(dropped: Uint8Array[]): void {
    if (this.sysctl.getNumber("net.link.ether.inet.unreach_on_fail") === 0) return;
    for (const q of dropped) {
      if (q.length < 40 + 8 || q[0] >> 4 !== 6) continue;
      const p = this.#protocols.get(q[6]);
      if (p === undefined) continue;
      this.counters.add("nd6.unreachReported");
      p.icmpError({
        version: 6,
        type: 1, // destination unreachable
        code: 3, // address unreachable
        src: ipFromBytes(q, 8, 6),
        dst: ipFromBytes(q, 24, 6),
        proto: q[6],
        quoted: q.subarray(40),
        local: true,
      });
    }
  }

  // ---- ARP ----

  #makeArp(iface: Iface): NeighborCache {
    const sc = this.sysctl;
    return new NeighborCache(
      {
        maxEntries: sc.getNumber("net.link.ether.inet.max_entries"),
        maxHold: sc.getNumber("net.link.ether.inet.maxhold"),
        retransUs: 1 * S,
        maxSolicits: sc.getNumber("net.link.ether.inet.maxtries"),
        reachableUs: sc.getNumber("net.link.ether.inet.max_age") * S,
        downUs: sc.getNumber("net.link.ether.inet.wait") * S,
        delayUs: 5 * S,
      },
      this.timers,
      this.counters,
      "arp",
      {
        solicit: (ip, mac) => {
          const src = this.#srcOn(iface, 4, ip);
          if (src === undefined) return;
          this.#sendArp(iface, ARP_OP_REQUEST, src, ip, new Uint8Array(6), mac ?? BROADCAST_MAC);
        },
        transmit: (mac, packet) => this.#etherTransmit(iface, mac, ETHERTYPE_IPV4, packet),
        failed: (_ip, dropped) => this.#arpFailed(dropped),
      },
    );
  }

  /**
   * ARP gave up on a next hop (net.link.ether.inet.unreach_on_fail, Joyride): each packet that
   * waited for it is reported to its transport as a local "host unreachable", as Linux does
   * (its connect() fails with EHOSTUNREACH about 3 s after the first SYN). FreeBSD drops them
   * silently and a connection attempt ends at its 75 s keep-init timeout.
   */
  #arpFailed(dropped: Uint8Array[]): void {
    if (this.sysctl.getNumber("net.link.ether.inet.unreach_on_fail") === 0) return;
    for (const q of dropped) {
      if (q.length < IPV4_HEADER_MIN || q[0] >> 4 !== 4) continue;
      const hl = (q[0] & 0x0f) * 4;
      if (hl < IPV4_HEADER_MIN || q.length < hl + 8) continue;
      const qv = new Ipv4View(q);
      if (qv.fragOffset !== 0) continue;
      const p = this.#protocols.get(qv.proto);
      if (p === undefined) continue;
      this.counters.add("arp.unreachReported");
      p.icmpError({
        version: 4,
        type: ICMP_DEST_UNREACH,
        code: ICMP_UNREACH_HOST,
        src: qv.src,
        dst: qv.dst,
        proto: qv.proto,
        quoted: q.subarray(hl),
        local: true,
      });
    }
  }

  #sendArp(
    iface: Iface,
    op: number,
    senderIp: IpAddr,
    targetIp: IpAddr,
    targetMac: Uint8Array,
    dstMac: Uint8Array,
  ): void {
    const p = this.#alloc(ARP_LEN);
    emitArp({ op, senderMac: iface.link.mac!, senderIp, targetMac, targetIp }, p);
    this.counters.add(op === ARP_OP_REQUEST ? "arp.tx.request" : "arp.tx.reply");
    this.#etherTransmit(iface, dstMac, ETHERTYPE_ARP, p);
  }

  /** RFC 826 "packet reception", with the merge flag. */
  #arpInput(iface: Iface, b: Uint8Array): void {
    const r = parseArp(b);
    if (typeof r === "string") return this.#drop(`arp.rx.${kebabToCamel(r)}`);
    const arp = iface.arp!;
    if (isMulticastMac(r.senderMac)) return this.#drop("arp.rx.badSenderMac");
    if (isUnspecified(r.senderIp) && r.op === ARP_OP_REQUEST) {
      // An address probe (RFC 5227): answer it if it asks for ours, learn nothing.
      if (this.#local.get(r.targetIp) === iface) {
        this.#sendArp(iface, ARP_OP_REPLY, r.targetIp, r.senderIp, r.senderMac, r.senderMac);
      }
      return;
    }
    if (this.#local.has(r.senderIp)) return this.#drop("arp.rx.addressConflict");
    const forUs = this.#local.get(r.targetIp) === iface;
    const now = this.ctx.now();
    this.counters.add(r.op === ARP_OP_REQUEST ? "arp.rx.request" : "arp.rx.reply");
    // Merge: refresh an existing entry; create one only when the packet is for us.
    arp.update(r.senderIp, r.senderMac, now, { confirmed: forUs, override: true, create: forUs });
    if (forUs && r.op === ARP_OP_REQUEST) {
      this.#sendArp(iface, ARP_OP_REPLY, r.targetIp, r.senderIp, r.senderMac, r.senderMac);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Output

  /**
   * Sends `payload` (a transport segment) in one or more IP packets. Returns 0 or a positive
   * errno: ENETUNREACH (no route), EHOSTUNREACH (neighbor resolution failed recently),
   * EMSGSIZE (larger than the path MTU with dontFragment), ENOBUFS (neighbor cache full),
   * EADDRNOTAVAIL (meta.src is not ours), EAFNOSUPPORT/EINVAL (bad meta).
   *
   * When `checksumOffset` is given, the transport checksum at that offset of `payload` is
   * written in place (pseudo-header included; a UDP result of 0 is sent as 0xffff) — unless
   * the link offloads it, in which case the pseudo-header sum is left there for the device.
   */
  ipOutput(meta: IpOutputMeta, payload: Uint8Array, checksumOffset?: number): number {
    // A segment built in place (segmentBuffer) has room for the headers in front of it.
    const pre = payload === this.#pre;
    this.#pre = undefined;
    this.#prePacket = undefined;
    const dst = meta.dst;
    if (ipVersion(dst) !== meta.version) return EAFNOSUPPORT;
    let route = isMulticast(dst) ? this.#multicastRoute(meta) : this.#route(dst);
    if (route === undefined && dst === "255.255.255.255" && meta.src !== undefined) {
      // The limited broadcast needs no route from a socket bound to a local address: out of
      // that address's interface (Linux; it was ENETUNREACH).
      const iface = this.#local.get(meta.src);
      if (iface !== undefined && iface.index !== 0) route = { iface, nextHop: dst, src: meta.src };
    }
    if (route === undefined) {
      this.counters.add(meta.version === 4 ? "ip.tx.noRoute" : "ip6.tx.noRoute");
      return ENETUNREACH;
    }
    let src = route.src;
    if (meta.src !== undefined && !isUnspecified(meta.src)) {
      if (!this.#local.has(meta.src) || ipVersion(meta.src) !== meta.version) return EADDRNOTAVAIL;
      src = meta.src;
    }
    const iface = route.iface;
    const caps = iface.link.caps;
    const mtu = route.loop !== undefined
      ? (meta.version === 4 ? route.iface.mtu : route.iface.mtu6)
      : this.pathMtu(dst);
    const tsoMax = caps.tso && meta.proto === IPPROTO_TCP && iface.index !== 0 &&
        (meta.version === 4 || caps.tso6 === true)
      ? Math.min(caps.maxSegment ?? 65535, 65535)
      : 0;
    const ipHl = meta.version === 4 ? IPV4_HEADER_MIN : IPV6_HEADER_LEN;
    // A TCP packet above the MTU that the link segments (TSO): tell it the segment size.
    let tsoMss = 0;
    if (tsoMax > 0 && ipHl + payload.length > mtu && ipHl + payload.length <= tsoMax) {
      if (payload.length < 20) return EINVAL;
      tsoMss = mtu - ipHl - (payload[12] >> 4) * 4;
      if (tsoMss <= 0) return EINVAL;
    }
    if (checksumOffset !== undefined) {
      if (checksumOffset < 0 || checksumOffset + 2 > payload.length) return EINVAL;
      payload[checksumOffset] = 0;
      payload[checksumOffset + 1] = 0;
      let c: number;
      // A packet that will be fragmented gets its checksum here: no link fills it in pieces.
      if (caps.txChecksum && iface.index !== 0 && (tsoMss > 0 || ipHl + payload.length <= mtu)) {
        // What DPDK's offload expects: the pseudo-header sum, without the length for TSO.
        c = foldSum(
          pseudoHeaderSum(ipBytes(src), ipBytes(dst), meta.proto, tsoMss > 0 ? 0 : payload.length),
        );
      } else {
        const ph = pseudoHeaderSum(ipBytes(src), ipBytes(dst), meta.proto, payload.length);
        c = finishSum(sumBytes(ph, payload));
        if (c === 0 && meta.proto === IPPROTO_UDP) c = 0xffff;
      }
      payload[checksumOffset] = c >> 8;
      payload[checksumOffset + 1] = c & 0xff;
    }
    const ttl = meta.ttl ??
      (meta.version === 4
        ? this.sysctl.getNumber("net.inet.ip.ttl")
        : this.sysctl.getNumber("net.inet6.ip6.hlim"));
    const ecn = (meta.ecn ?? 0) & 3;
    const dscp = (meta.dscp ?? 0) & 0x3f;
    if (meta.version === 4) {
      const total = IPV4_HEADER_MIN + payload.length;
      const ident = this.#ipId;
      this.#ipId = (this.#ipId + 1) & 0xffff;
      // A reused header (emitIpv4 keeps nothing); copied below before fragments are sent.
      const h = this.#ip4Hdr;
      h.src = src;
      h.dst = dst;
      h.proto = meta.proto;
      h.ttl = ttl;
      h.dscp = dscp;
      h.ecn = ecn;
      h.ident = ident;
      h.dontFragment = meta.dontFragment ?? false;
      h.moreFragments = false;
      h.fragOffset = 0;
      h.payloadLength = payload.length;
      h.options = EMPTY;
      const base = h;
      if (total <= mtu || total <= tsoMax) {
        let packet: Uint8Array;
        if (pre && payload.byteOffset >= ETH_HEADER_LEN + IPV4_HEADER_MIN) {
          packet = new Uint8Array(payload.buffer, payload.byteOffset - IPV4_HEADER_MIN, total);
          this.#prePacket = packet;
          emitIpv4(base, packet);
        } else {
          packet = this.#allocTx(iface, total);
          emitIpv4(base, packet);
          packet.set(payload, IPV4_HEADER_MIN);
        }
        this.counters.add("ip.tx.packets");
        return this.#send(route, 4, packet, tsoMss);
      }
      if (meta.dontFragment) {
        this.counters.add("ip.tx.needFrag");
        return EMSGSIZE;
      }
      if (total > 65535) return EMSGSIZE;
      // RFC 791: every fragment but the last carries a multiple of 8 bytes.
      const chunk = (mtu - IPV4_HEADER_MIN) & ~7;
      const first = { ...base }; // #send may re-enter ipOutput (a looped-back reply)
      for (let off = 0; off < payload.length; off += chunk) {
        const n = Math.min(chunk, payload.length - off);
        const packet = this.#alloc(IPV4_HEADER_MIN + n);
        emitIpv4({
          ...first,
          fragOffset: off,
          moreFragments: off + n < payload.length,
          payloadLength: n,
        }, packet);
        packet.set(payload.subarray(off, off + n), IPV4_HEADER_MIN);
        this.counters.add("ip.tx.fragments");
        const e = this.#send(route, 4, packet);
        if (e !== 0) return e;
      }
      this.counters.add("ip.tx.fragmented");
      return 0;
    }
    const hdr = {
      src,
      dst,
      nextHeader: meta.proto,
      hopLimit: ttl,
      dscp,
      ecn,
      flowLabel: 0,
      payloadLength: payload.length,
    };
    const total = IPV6_HEADER_LEN + payload.length;
    if (total <= mtu || total <= tsoMax) {
      if (payload.length > 65535) return EMSGSIZE;
      let packet: Uint8Array;
      if (pre && payload.byteOffset >= ETH_HEADER_LEN + IPV6_HEADER_LEN) {
        packet = new Uint8Array(payload.buffer, payload.byteOffset - IPV6_HEADER_LEN, total);
        this.#prePacket = packet;
        emitIpv6(hdr, packet);
      } else {
        packet = this.#allocTx(iface, total);
        emitIpv6(hdr, packet);
        packet.set(payload, IPV6_HEADER_LEN);
      }
      this.counters.add("ip6.tx.packets");
      return this.#send(route, 6, packet, tsoMss);
    }
    if (meta.dontFragment || payload.length > 65535) {
      this.counters.add("ip6.tx.tooBig");
      return EMSGSIZE;
    }
    // RFC 8200 §4.5: fragments of at most the path MTU, 8-byte multiples but the last.
    const chunk = (mtu - IPV6_HEADER_LEN - IPV6_FRAG_HEADER_LEN) & ~7;
    const ident = this.ctx.random32();
    for (let off = 0; off < payload.length; off += chunk) {
      const n = Math.min(chunk, payload.length - off);
      const packet = this.#alloc(IPV6_HEADER_LEN + IPV6_FRAG_HEADER_LEN + n);
      emitIpv6(
        { ...hdr, nextHeader: NH_FRAGMENT, payloadLength: IPV6_FRAG_HEADER_LEN + n },
        packet,
      );
      emitIpv6Frag(
        { nextHeader: meta.proto, offset: off, more: off + n < payload.length, ident },
        packet,
        IPV6_HEADER_LEN,
      );
      packet.set(payload.subarray(off, off + n), IPV6_HEADER_LEN + IPV6_FRAG_HEADER_LEN);
      this.counters.add("ip6.tx.fragments");
      const e = this.#send(route, 6, packet);
      if (e !== 0) return e;
    }
    this.counters.add("ip6.tx.fragmented");
    return 0;
  }

  /**
   * A buffer for a transport segment of `len` bytes to `dst` that the caller builds and hands
   * to {@link ipOutput} at once (nothing else sent in between): it sits in a frame buffer the
   * route's link lends (LinkEndpoint.alloc) with room for the Ethernet and IP headers in front,
   * so ipOutput writes those there instead of copying the segment. Undefined when the link
   * lends nothing (then build it elsewhere; ipOutput copies it as usual).
   */
  segmentBuffer(dst: IpAddr, len: number): Uint8Array | undefined {
    const route = this.#route(dst);
    const link = route?.iface.link;
    if (link?.alloc === undefined || link.kind !== "ethernet") return undefined;
    const hl = ipVersion(dst) === 4 ? IPV4_HEADER_MIN : IPV6_HEADER_LEN;
    const f = link.alloc(ETH_HEADER_LEN + hl + len);
    if (f === undefined) return undefined;
    this.#lent.add(f.buffer);
    const seg = f.subarray(ETH_HEADER_LEN + hl, ETH_HEADER_LEN + hl + len);
    this.#pre = seg;
    this.#preFrame = f;
    return seg;
  }

  /** Sends an ICMP/ICMPv6 echo request (diagnostics, tests); 0 or an errno. */
  ping(dst: IpAddr, id: number, seq: number, data: Uint8Array = EMPTY): number {
    const r = this.#route(dst);
    if (r === undefined) return ENETUNREACH;
    if (ipVersion(dst) === 4) {
      const msg = new Uint8Array(ICMP_HEADER_LEN + data.length);
      emitIcmp({ type: ICMP_ECHO_REQUEST, code: 0, restOfHeader: echoWord(id, seq), data }, msg);
      return this.ipOutput({ version: 4, dst, proto: IPPROTO_ICMP }, msg);
    }
    const msg = new Uint8Array(ICMPV6_HEADER_LEN + data.length);
    emitIcmpv6(
      { type: ICMPV6_ECHO_REQUEST, code: 0, restOfHeader: echoWord(id, seq), data },
      ipBytes(r.src),
      ipBytes(dst),
      msg,
    );
    return this.ipOutput({ version: 6, src: r.src, dst, proto: IPPROTO_ICMPV6 }, msg);
  }

  /**
   * Sends ICMP port unreachable (v4 type 3 code 3, v6 type 1 code 4) about the datagram
   * being delivered. Only meaningful from within {@link TransportProtocol.input} (UDP with
   * no socket for the port); ignored for broadcast/multicast datagrams and elsewhere.
   */
  replyPortUnreachable(): void {
    const c = this.#current;
    if (c === undefined || c.bcast) return;
    if (c.version === 4) this.#icmp4Error(ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, c.packet);
    else this.#icmp6Error(ICMPV6_DEST_UNREACH, ICMPV6_UNREACH_PORT, 0, c.packet, false);
  }

  /** Whether the datagram being delivered was sent to a broadcast/multicast address. */
  get currentIsBroadcast(): boolean {
    return this.#current?.bcast ?? false;
  }

  #send(route: RouteResult, v: 4 | 6, packet: Uint8Array, tsoMss = 0): number {
    const iface = route.iface;
    if (route.loop) {
      // A copy for this host's own members, over the loopback, with its transport checksum
      // completed where the NIC was to fill it (offload: the copy was dropped as bad).
      const copy = packet.slice();
      if (iface.link.caps.txChecksum) completeChecksum(copy, v);
      this.#ifaces[0].link.transmit(copy);
    }
    if (tsoMss > 0) this.#tsoMss.set(packet, tsoMss);
    if (iface.link.kind === "ip") {
      if (tsoMss > 0) iface.link.transmit(packet, tsoMss);
      else iface.link.transmit(packet);
      return 0;
    }
    const hop = route.nextHop;
    if (v === 4) {
      if (hop === "255.255.255.255" || this.#isBroadcast4(iface, hop)) {
        this.#etherTransmit(iface, BROADCAST_MAC, ETHERTYPE_IPV4, packet);
        return 0;
      }
      if (isMulticast(hop)) {
        this.#etherTransmit(iface, multicastMac4(hop), ETHERTYPE_IPV4, packet);
        return 0;
      }
      const arp = iface.arp!;
      return arp.output(hop, arp.lookup(hop) ? packet : this.#keepable(packet), this.ctx.now());
    }
    if (isMulticast(hop)) {
      this.#etherTransmit(iface, multicastMac6(hop), ETHERTYPE_IPV6, packet);
      return 0;
    }
    const nd = iface.nd!;
    return nd.output(hop, nd.lookup(hop) ? packet : this.#keepable(packet), this.ctx.now());
  }

  /**
   * Allocates `len` bytes with room for an Ethernet header in front, so
   * {@link #etherTransmit} can prepend it without copying.
   */
  #alloc(len: number): Uint8Array {
    return new Uint8Array(ETH_HEADER_LEN + len).subarray(ETH_HEADER_LEN);
  }

  /**
   * Like {@link #alloc}, for a packet leaving through `iface` at once: from the link's own
   * buffers when it lends them (LinkEndpoint.alloc: no copy on transmit), else allocated.
   */
  #allocTx(iface: Iface, len: number): Uint8Array {
    const link = iface.link;
    if (link.alloc !== undefined && link.kind === "ethernet") {
      const f = link.alloc(ETH_HEADER_LEN + len);
      if (f !== undefined) {
        this.#lent.add(f.buffer);
        return f.subarray(ETH_HEADER_LEN, ETH_HEADER_LEN + len);
      }
    }
    return this.#alloc(len);
  }

  /**
   * A lent packet (see {@link #allocTx}) that must wait (address resolution) is copied out of
   * the link's buffer, which goes back to the link at its next flush.
   */
  #keepable(packet: Uint8Array): Uint8Array {
    if (!this.#lent.has(packet.buffer)) return packet;
    const copy = this.#alloc(packet.length);
    copy.set(packet);
    const mss = this.#tsoMss.get(packet);
    if (mss !== undefined) this.#tsoMss.set(copy, mss);
    return copy;
  }

  #etherTransmit(iface: Iface, dstMac: Uint8Array, etherType: number, payload: Uint8Array): void {
    let frame: Uint8Array;
    const lent = this.#preFrame;
    if (payload === this.#prePacket && lent !== undefined && lent.buffer === payload.buffer) {
      // Built in place in a lent frame (segmentBuffer): the frame is that buffer, no new view.
      frame = lent;
      this.#prePacket = this.#preFrame = undefined;
    } else if (payload.byteOffset >= ETH_HEADER_LEN) {
      frame = new Uint8Array(
        payload.buffer,
        payload.byteOffset - ETH_HEADER_LEN,
        payload.length + ETH_HEADER_LEN,
      );
    } else {
      frame = new Uint8Array(ETH_HEADER_LEN + payload.length);
      frame.set(payload, ETH_HEADER_LEN);
    }
    emitEthernet({ dst: dstMac, src: iface.link.mac!, etherType }, frame);
    this.counters.add("eth.tx.frames");
    const mss = this.#tsoMss.get(payload);
    if (mss !== undefined) iface.link.transmit(frame, mss);
    else iface.link.transmit(frame);
  }

  // ---------------------------------------------------------------------------------------
  // Routing internals

  /**
   * Where a multicast packet goes: out of the interface `meta.ifIndex` names (IP_MULTICAST_IF),
   * else the first one with an address of its version (no route is needed: an instance has
   * one interface); looped back too when this host is in the group there and
   * `meta.multicastLoop` is not false.
   */
  #multicastRoute(meta: IpOutputMeta): RouteResult | undefined {
    // ifIndex -1: IP_MULTICAST_IF named the loopback (127.0.0.1): this host's members only.
    const idx = meta.ifIndex === -1 ? 0 : this.multicastInterface(meta.version, meta.ifIndex ?? 0);
    if (idx === undefined) return undefined;
    const iface = this.#ifaces[idx];
    const src = this.multicastSource(meta.version, idx, meta.dst);
    if (src === undefined) return undefined;
    const loop = idx !== 0 && meta.multicastLoop !== false && this.#groups.has(idx, meta.dst);
    return { iface, nextHop: meta.dst, src, loop };
  }

  /**
   * The source of a multicast datagram to `group` out of interface `ifIndex` (0: the loopback):
   * for an IPv6 group of link scope or less (ff01::/16, ff02::/16…) the link-local address, as
   * Linux picks, else the interface's first address of that version.
   */
  multicastSource(version: 4 | 6, ifIndex: number, group: IpAddr): IpAddr | undefined {
    const iface = this.#ifaces[ifIndex];
    if (iface === undefined) return undefined;
    const mine = iface.addrs.filter((a) => a.version === version).map((a) => a.addr);
    const linkLocal = (a: IpAddr) => /^fe[89ab][0-9a-f]:/.test(a);
    const scope = version === 6 ? parseInt(group[3] ?? "e", 16) : 14;
    if (scope <= 2) return mine.find(linkLocal) ?? mine[0];
    return mine.find((a) => !linkLocal(a)) ?? mine[0];
  }

  #route(dst: IpAddr): RouteResult | undefined {
    let r = this.#routeCache.get(dst);
    if (r === undefined) {
      r = this.#lookupRoute(dst);
      if (r === undefined) return undefined;
      if (this.#routeCache.size >= 4096) this.#routeCache.clear();
      this.#routeCache.set(dst, r);
    }
    return r;
  }

  #lookupRoute(dst: IpAddr): RouteResult | undefined {
    const v = ipVersion(dst);
    const lo = this.#local.get(dst);
    if (lo !== undefined) return { iface: this.#ifaces[0], nextHop: dst, src: dst };
    let b: Uint8Array;
    try {
      b = ipBytes(dst);
    } catch {
      return undefined;
    }
    // IPv6 link-local destinations: the first Ethernet/IP interface with a v6 address.
    if (v === 6 && /^fe[89ab][0-9a-f]:/.test(dst)) {
      for (const i of this.#ifaces) {
        if (i.index === 0) continue;
        const src = this.#srcOn(i, 6, dst);
        if (src !== undefined) return { iface: i, nextHop: dst, src };
      }
      return undefined;
    }
    for (const r of this.#routes) {
      if (r.version !== v || !samePrefix(b, r.net, r.prefix)) continue;
      const iface = this.#ifaces[r.ifIndex];
      const src = this.#srcOn(iface, v, r.gateway ?? dst);
      if (src === undefined) continue;
      return { iface, nextHop: r.gateway ?? dst, src };
    }
    return undefined;
  }

  /** The best source on `iface` for `dst`: one on the same subnet, else the first global. */
  #srcOn(iface: Iface, v: 4 | 6, dst: IpAddr): IpAddr | undefined {
    const b = ipBytes(dst);
    let first: IpAddr | undefined;
    for (const a of iface.addrs) {
      if (a.version !== v) continue;
      if (samePrefix(b, a.bytes, a.prefix)) return a.addr;
      if (first === undefined || /^fe[89ab][0-9a-f]:/.test(first)) first = a.addr;
    }
    return first;
  }

  #addAddr(iface: Iface, cidr: string, route = true): void {
    const c = parseCidr(cidr);
    if (c === undefined) throw new Error(`Cannot add address "${cidr}": not an address/prefix`);
    if (this.#local.has(c.addr)) throw new Error(`Cannot add address ${c.addr}: already in use`);
    iface.addrs.push({
      addr: c.addr,
      bytes: ipBytes(c.addr),
      prefix: c.prefix,
      version: c.version,
    });
    this.#local.set(c.addr, iface);
    this.#routeCache.clear();
    if (iface.index !== 0 && route) this.addRoute(`${c.addr}/${c.prefix}`, iface.index);
  }

  #drop(reason: string): void {
    this.counters.add(reason);
  }

  #reassTimeout(v: 4 | 6, first: FirstFrag | undefined): void {
    // RFC 792 / RFC 8200 §4.5: time exceeded (fragment reassembly) when the first fragment came.
    if (first === undefined || first.bcast) return;
    if (v === 4) this.#icmp4Error(ICMP_TIME_EXCEEDED, 1, 0, first.packet);
    else this.#icmp6Error(ICMPV6_TIME_EXCEEDED, 1, 0, first.packet, false);
  }

  // ---------------------------------------------------------------------------------------
  // Sysctls

  #defineSysctls(opts: StackOptions): void {
    const d = (name: string, def: number, min: number, max: number, desc: string) =>
      this.sysctl.define(name, def, { min, max }, desc);
    const ttl = opts.defaultTtl ?? 64;
    d("net.inet.ip.ttl", ttl, 1, 255, "Default TTL of IPv4 packets");
    d("net.inet6.ip6.hlim", ttl, 1, 255, "Default hop limit of IPv6 packets");
    d("net.inet.ip.maxfragpackets", 256, 1, 1 << 20, "IPv4 datagrams in reassembly at once");
    d("net.inet.ip.maxfragsperpacket", 16, 1, 8192, "Fragments per IPv4 datagram");
    d(
      "net.inet.ip.maxlargefragsperpacket",
      64,
      1,
      8192,
      "Fragments per IPv4 datagram whose fragments all carry >= 1024 bytes (Joyride: a 64 KB UDP datagram at MTU 1500 is 45)",
    );
    d(
      "net.inet.ip.maxfragbytes",
      1 << 21,
      1500,
      1 << 30,
      "Payload bytes held by IPv4 reassembly (Joyride)",
    );
    d("net.inet.ip.fragttl", 30, 1, 3600, "Seconds before an incomplete IPv4 datagram is dropped");
    d("net.inet6.ip6.maxfragpackets", 256, 1, 1 << 20, "IPv6 datagrams in reassembly at once");
    d("net.inet6.ip6.maxfragsperpacket", 64, 1, 8192, "Fragments per IPv6 datagram");
    d(
      "net.inet6.ip6.maxfragbytes",
      1 << 21,
      1500,
      1 << 30,
      "Payload bytes held by IPv6 reassembly (Joyride)",
    );
    d(
      "net.inet6.ip6.fragttl",
      60,
      1,
      3600,
      "Seconds before an incomplete IPv6 datagram is dropped",
    );
    d("net.inet.icmp.icmplim", 200, 0, 1 << 20, "ICMP errors sent per second (0: unlimited)");
    d(
      "net.inet6.icmp6.errppslimit",
      100,
      0,
      1 << 20,
      "ICMPv6 errors sent per second (0: unlimited)",
    );
    d("net.inet.icmp.bmcastecho", 0, 0, 1, "Answer echo requests sent to broadcast addresses");
    d("net.inet.icmp.quotelen", 8, 8, 1472, "Bytes past the IP header quoted in ICMP errors");
    d("net.inet.ip.pmtu_expire", 600, 1, 86400, "Seconds a learnt path MTU is kept (Joyride)");
    d("net.link.ether.inet.max_age", 1200, 1, 86400, "Seconds an ARP entry stays reachable");
    d("net.link.ether.inet.maxtries", 5, 1, 100, "ARP requests before giving up");
    d("net.link.ether.inet.maxhold", 16, 1, 1024, "Packets held per unresolved ARP entry");
    d(
      "net.link.ether.inet.wait",
      20,
      0,
      3600,
      "Seconds a failed ARP entry holds sends down (0: the next send resolves again, as Linux)",
    );
    d(
      "net.link.ether.inet.unreach_on_fail",
      0,
      0,
      1,
      "Report packets ARP or neighbor discovery gave up on as unreachable (Linux; Joyride)",
    );
    d("net.link.ether.inet.max_entries", 1024, 1, 1 << 20, "ARP entries per interface (Joyride)");
    d("net.inet6.icmp6.nd6_maxqueuelen", 16, 1, 1024, "Packets held per unresolved neighbor");
    d("net.inet6.icmp6.nd6_mmaxtries", 3, 1, 100, "Neighbor solicitations before giving up");
    d(
      "net.inet6.icmp6.nd6_retrans",
      1000,
      10,
      60000,
      "Milliseconds between neighbor solicitations (Joyride)",
    );
    d(
      "net.inet6.icmp6.nd6_reachable",
      30,
      1,
      86400,
      "Seconds a neighbor stays reachable (Joyride)",
    );
    d(
      "net.inet6.icmp6.nd6_down",
      20,
      0,
      3600,
      "Seconds a failed neighbor holds sends down (Joyride)",
    );
    d("net.inet6.icmp6.nd6_delay", 5, 1, 3600, "Seconds before probing a stale neighbor in use");
    d("net.inet6.ip6.neighbor_max", 1024, 1, 1 << 20, "Neighbor entries per interface (Joyride)");
  }

  #bindSysctls(): void {
    const on = (name: string, f: (v: number) => void) =>
      this.sysctl.onChange(name, (v) => f(v as number));
    on("net.inet.ip.maxfragpackets", (v) => (this.#reass4.limits.maxDatagrams = v));
    on("net.inet.ip.maxfragsperpacket", (v) => (this.#reass4.limits.maxFragsPerDatagram = v));
    on("net.inet.ip.maxlargefragsperpacket", (v) => (this.#reass4.limits.maxLargeFrags = v));
    on("net.inet.ip.maxfragbytes", (v) => (this.#reass4.limits.maxBytes = v));
    on("net.inet.ip.fragttl", (v) => (this.#reass4.limits.timeoutUs = v * S));
    on("net.inet6.ip6.maxfragpackets", (v) => (this.#reass6.limits.maxDatagrams = v));
    on("net.inet6.ip6.maxfragsperpacket", (v) => (this.#reass6.limits.maxFragsPerDatagram = v));
    on("net.inet6.ip6.maxfragbytes", (v) => (this.#reass6.limits.maxBytes = v));
    on("net.inet6.ip6.fragttl", (v) => (this.#reass6.limits.timeoutUs = v * S));
    on("net.inet.icmp.icmplim", (v) => (this.#icmpLimit.perSecond = v));
    on("net.inet6.icmp6.errppslimit", (v) => (this.#icmp6Limit.perSecond = v));
    on("net.inet.ip.pmtu_expire", (v) => (this.#pmtu.expireUs = v * S));
    const arp = (f: (c: NeighborCache, v: number) => void) => (v: number) => {
      for (const i of this.#ifaces) if (i.arp) f(i.arp, v);
    };
    const nd = (f: (c: NeighborCache, v: number) => void) => (v: number) => {
      for (const i of this.#ifaces) if (i.nd) f(i.nd, v);
    };
    on("net.link.ether.inet.max_age", arp((c, v) => (c.cfg.reachableUs = v * S)));
    on("net.link.ether.inet.maxtries", arp((c, v) => (c.cfg.maxSolicits = v)));
    on("net.link.ether.inet.maxhold", arp((c, v) => (c.cfg.maxHold = v)));
    on("net.link.ether.inet.wait", arp((c, v) => (c.cfg.downUs = v * S)));
    on("net.link.ether.inet.max_entries", arp((c, v) => (c.cfg.maxEntries = v)));
    on("net.inet6.icmp6.nd6_maxqueuelen", nd((c, v) => (c.cfg.maxHold = v)));
    on("net.inet6.icmp6.nd6_mmaxtries", nd((c, v) => (c.cfg.maxSolicits = v)));
    on("net.inet6.icmp6.nd6_retrans", nd((c, v) => (c.cfg.retransUs = v * 1000)));
    on("net.inet6.icmp6.nd6_reachable", nd((c, v) => (c.cfg.reachableUs = v * S)));
    on("net.inet6.icmp6.nd6_down", nd((c, v) => (c.cfg.downUs = v * S)));
    on("net.inet6.icmp6.nd6_delay", nd((c, v) => (c.cfg.delayUs = v * S)));
    on("net.inet6.ip6.neighbor_max", nd((c, v) => (c.cfg.maxEntries = v)));
  }
}

const EMPTY = new Uint8Array(0);

function kebabToCamel(s: string): string {
  return s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** ff02::1:ffXX:XXXX for `a` (RFC 4291 §2.7.1). */
export function solicitedNode(a: IpAddr): IpAddr {
  const b = ipBytes(a);
  const out = new Uint8Array(16);
  out[0] = 0xff;
  out[1] = 0x02;
  out[11] = 0x01;
  out[12] = 0xff;
  out[13] = b[13];
  out[14] = b[14];
  out[15] = b[15];
  return ipFromBytes(out, 0, 6);
}

/** fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291 App. A). */
export function linkLocalFromMac(mac: Uint8Array): IpAddr {
  const b = new Uint8Array(16);
  b[0] = 0xfe;
  b[1] = 0x80;
  b[8] = mac[0] ^ 0x02;
  b[9] = mac[1];
  b[10] = mac[2];
  b[11] = 0xff;
  b[12] = 0xfe;
  b[13] = mac[3];
  b[14] = mac[4];
  b[15] = mac[5];
  return ipFromBytes(b, 0, 6);
}

/**
 * Completes the UDP or TCP checksum of IP packet `p` (version `v`, no IPv6 extension headers)
 * whose checksum field holds only the pseudo-header sum a NIC with checksum offload finishes.
 */
function completeChecksum(p: Uint8Array, v: 4 | 6): void {
  const hl = v === 4 ? (p[0] & 15) * 4 : 40;
  const proto = v === 4 ? p[9] : p[6];
  const total = v === 4 ? (p[2] << 8) | p[3] : 40 + ((p[4] << 8) | p[5]);
  const at = proto === IPPROTO_UDP ? 6 : proto === IPPROTO_TCP ? 16 : -1;
  if (at < 0 || total > p.length || hl + at + 2 > total) return;
  if (v === 4 && (((p[6] & 0x3f) << 8) | p[7]) !== 0) return; // a fragment: summed already
  const seg = p.subarray(hl, total);
  const [src, dst] = v === 4 ? [p.subarray(12, 16), p.subarray(16, 20)] : [
    p.subarray(8, 24),
    p.subarray(24, 40),
  ];
  seg[at] = 0;
  seg[at + 1] = 0;
  let c = finishSum(sumBytes(pseudoHeaderSum(src, dst, proto, seg.length), seg));
  if (c === 0 && proto === IPPROTO_UDP) c = 0xffff;
  seg[at] = c >> 8;
  seg[at + 1] = c & 0xff;
}

/** 33:33 + the low 32 bits of an IPv6 multicast address (RFC 2464 §7). */
export function multicastMac6(a: IpAddr): Uint8Array {
  const b = ipBytes(a);
  return new Uint8Array([0x33, 0x33, b[12], b[13], b[14], b[15]]);
}

/** 01:00:5e + the low 23 bits of an IPv4 multicast address (RFC 1112 §6.4). */
export function multicastMac4(a: IpAddr): Uint8Array {
  const b = ipBytes(a);
  return new Uint8Array([0x01, 0x00, 0x5e, b[1] & 0x7f, b[2], b[3]]);
}

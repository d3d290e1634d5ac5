/**
 * UDP (RFC 768): the protocol instance of a {@link Stack} — port table, demultiplexing,
 * ICMP errors to connected sockets — and its sockets ({@link UdpSocket}, the
 * {@link ProtoSocket} the socket layer registers for SOCK_DGRAM).
 *
 * Semantics follow what unmodified Linux programs expect: sendto on a connected socket may
 * name another destination; recv on an empty socket is EAGAIN (non-blocking) or waits for
 * POLLIN; an ICMP port unreachable sets ECONNREFUSED on a connected socket, reported by the
 * next send/recv or SO_ERROR; no socket for a port → ICMP port unreachable (unless
 * net.inet.udp.blackhole). AF_INET6 sockets carry IPv6 only (no v4-mapped addresses).
 *
 * @example
 * ```ts
 * const udp = Udp.of(stack);
 * sockets.register(SOCK_DGRAM, IPPROTO_UDP, udp.factory);
 * ```
 *
 * @module
 */
import { pickReusePort } from "../reuseport.ts";
import type { Stack } from "../stack.ts";
import { type IpAddr, ipVersion, isMulticast, isUnspecified } from "../ip/addr.ts";
import { definePortRange, portRange } from "../ip/portrange.ts";
import {
  type IcmpErrorInfo,
  type IpMeta,
  IPPROTO_UDP,
  type TransportProtocol,
} from "../ip/protocol.ts";
import { emitUdp, UDP_CHECKSUM_OFFSET, UDP_HEADER_LEN, UdpView } from "../wire/udp.ts";
import { MulticastOptions } from "./multicast.ts";
import { linuxIcmpErrno } from "../ip/icmp_errno.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  block,
  err,
  IP_MTU_DISCOVER,
  IP_TOS,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_MTU_DISCOVER,
  IPV6_TCLASS,
  IPV6_UNICAST_HOPS,
  IPV6_V6ONLY,
  MSG_PEEK,
  ok,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  POLLRDHUP,
  POLLRDNORM,
  POLLWRNORM,
  type ProtoSocket,
  type ProtoSocketFactory,
  type RecvValue,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_ACCEPTCONN,
  SO_BROADCAST,
  SO_DOMAIN,
  SO_ERROR,
  SO_PROTOCOL,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_TYPE,
  SOCK_DGRAM,
  type SockAddr,
  type SockOptValue,
  type SockResult,
  SOL_SOCKET,
} from "../socket/api.ts";
import {
  EACCES,
  EADDRINUSE,
  EADDRNOTAVAIL,
  EAFNOSUPPORT,
  EAGAIN,
  EDESTADDRREQ,
  EINVAL,
  EMSGSIZE,
  ENETUNREACH,
  ENOPROTOOPT,
  ENOTCONN,
  EOPNOTSUPP,
  EPIPE,
} from "../errno.ts";

const instances = new WeakMap<Stack, Udp>();

/**
 * An in-engine consumer of the datagrams of one UDP port, ahead of the sockets: FreeBSD's
 * UDP tunneling (TCP over UDP, net.inet.tcp.udp_tunneling_port; RFC 6951 for SCTP).
 */
export interface UdpTunnel {
  /** A datagram to the tunnel's port (UDP checksum verified; `payload` valid during the call). */
  input(meta: IpMeta, srcPort: number, dstPort: number, payload: Uint8Array): void;
  /** An ICMP error quoting one of the tunnel's datagrams; `e.quoted` starts after UDP. */
  /** True when the error quotes one of the tunnel's connections (see TransportProtocol). */
  icmpError?(e: IcmpErrorInfo, srcPort: number, dstPort: number): boolean;
}

/** The UDP protocol of one stack. */
export class Udp implements TransportProtocol {
  readonly stack: Stack;
  /** Bound sockets. */
  #socks = new Set<UdpSocket>();
  /** Local port → number of sockets bound to it. */
  #ports = new Map<number, number>();
  #tunnels = new Map<number, UdpTunnel>();

  /** A socket constructor for `Sockets.register(SOCK_DGRAM, IPPROTO_UDP, …)`. */
  readonly factory: ProtoSocketFactory;

  /** The UDP instance of `stack`, created (and registered for protocol 17) on first use. */
  static of(stack: Stack): Udp {
    let u = instances.get(stack);
    if (u === undefined) {
      u = new Udp(stack);
      instances.set(stack, u);
    }
    return u;
  }

  private constructor(stack: Stack) {
    this.stack = stack;
    const sc = stack.sysctl;
    definePortRange(sc);
    sc.define(
      "net.inet.udp.recvspace",
      42080,
      { min: 1024, max: 1 << 26 },
      "Default UDP receive buffer",
    );
    sc.define("net.inet.udp.maxdgram", 9216, { min: 1, max: 65535 }, "Default UDP send size limit");
    sc.define("net.inet.udp.blackhole", 0, { min: 0, max: 2 }, "Send no port unreachable");
    stack.registerProtocol(IPPROTO_UDP, this);
    this.factory = (domain) => {
      if (domain !== AF_INET && domain !== AF_INET6) return err(EAFNOSUPPORT);
      return ok(new UdpSocket(this, domain));
    };
  }

  /** A new socket of `domain` (AF_INET / AF_INET6), outside any socket table (tests). */
  socket(domain: number): UdpSocket {
    return new UdpSocket(this, domain);
  }

  /** Hands every datagram to local `port` to `t` (replacing any earlier tunnel there). */
  setTunnel(port: number, t: UdpTunnel): void {
    this.#tunnels.set(port, t);
  }

  /** Removes the tunnel on `port`. */
  clearTunnel(port: number): void {
    this.#tunnels.delete(port);
  }

  /**
   * Sends `payload` in one UDP datagram from (src, srcPort) to (dst, dstPort) outside any
   * socket (for tunnels). `checksum: false` sends a zero UDP checksum (IPv4 only; RFC 8200
   * requires one for IPv6, so it is always computed there). Returns 0 or an errno.
   */
  sendRaw(
    meta: { version: 4 | 6; src?: IpAddr; dst: IpAddr; ttl?: number; ecn?: number; dscp?: number },
    srcPort: number,
    dstPort: number,
    payload: Uint8Array,
    checksum = true,
  ): number {
    const seg = new Uint8Array(UDP_HEADER_LEN + payload.length);
    emitUdp({ srcPort, dstPort, payloadLength: payload.length }, seg);
    seg.set(payload, UDP_HEADER_LEN);
    const sum = checksum || meta.version === 6;
    const r = this.stack.ipOutput(
      { ...meta, proto: IPPROTO_UDP },
      seg,
      sum ? UDP_CHECKSUM_OFFSET : undefined,
    );
    if (r === 0) this.stack.counters.add("udp.tx.datagrams");
    return r;
  }

  // ---- TransportProtocol ----

  input(meta: IpMeta, seg: Uint8Array): void {
    const v = new UdpView(seg);
    const e = v.check();
    if (e !== undefined) {
      return this.stack.counters.add(`udp.rx.${e === "truncated" ? "truncated" : "badLength"}`);
    }
    const dport = v.dstPort, sport = v.srcPort;
    if (dport === 0) return this.stack.counters.add("udp.rx.port0");
    const t = this.#tunnels.get(dport);
    if (t !== undefined) {
      this.stack.counters.add("udp.rx.tunnel");
      return t.input(meta, sport, dport, v.payload);
    }
    const from: SockAddr = {
      family: meta.version === 4 ? AF_INET : AF_INET6,
      addr: meta.src,
      port: sport,
    };
    if (isMulticast(meta.dst) || this.stack.currentIsBroadcast) {
      // Every socket bound to the port (and to the group or the any address) gets its copy,
      // as Linux delivers multicast and broadcast (IP_MULTICAST_ALL: whichever socket of the
      // host joined the group; with it 0, only the sockets that joined it themselves).
      let n = 0;
      const group = isMulticast(meta.dst);
      for (const s of this.#socks) {
        if (s.lport !== dport || s.version !== meta.version) continue;
        if (!isUnspecified(s.laddr) && s.laddr !== meta.dst) continue;
        if (s.connected && (s.faddr !== meta.src || s.fport !== sport)) continue;
        if (group && !s.mcast.takes(meta.dst)) continue;
        s.deliver(v.payload, { ...from }, meta);
        n++;
      }
      this.stack.counters.add(n > 0 ? "udp.rx.datagrams" : "udp.rx.noPort");
      return;
    }
    const s = this.#lookup(meta.version, meta.dst, dport, meta.src, sport);
    if (s === undefined) {
      this.stack.counters.add("udp.rx.noPort");
      if (this.stack.sysctl.getNumber("net.inet.udp.blackhole") === 0) {
        this.stack.replyPortUnreachable();
      }
      return;
    }
    this.stack.counters.add("udp.rx.datagrams");
    s.deliver(v.payload, from, meta);
  }

  /** An ICMP error quoting a datagram; true when a socket of this host has its port. */
  icmpError(e: IcmpErrorInfo): boolean {
    if (e.quoted.length < 8) return false;
    const sport = (e.quoted[0] << 8) | e.quoted[1];
    const dport = (e.quoted[2] << 8) | e.quoted[3];
    const t = this.#tunnels.get(sport);
    if (t !== undefined) {
      return t.icmpError?.({ ...e, quoted: e.quoted.subarray(UDP_HEADER_LEN) }, sport, dport) ??
        false;
    }
    let ours = false;
    for (const s of this.#socks) {
      if (s.lport !== sport || !(isUnspecified(s.laddr) || s.laddr === e.src)) continue;
      ours = true;
      // Only a connected socket knows the datagram was its own, and it hears only hard errors
      // (Linux without IP_RECVERR): a host or net unreachable is not reported (it failed the
      // next recv() where Linux's kept waiting).
      if (!s.connected || s.faddr !== e.dst || s.fport !== dport) continue;
      const l = linuxIcmpErrno(e.version, e.type, e.code);
      if (l?.hard) {
        this.stack.counters.add("udp.rx.icmpError");
        s.setError(l.errno);
      }
      break;
    }
    return ours;
  }

  /** Best match: connected 4-tuple, then bound address, then wildcard. */
  #lookup(
    v: 4 | 6,
    laddr: IpAddr,
    lport: number,
    faddr: IpAddr,
    fport: number,
  ): UdpSocket | undefined {
    let best: UdpSocket | undefined;
    let bestScore = -1;
    // Equally good matches (an SO_REUSEPORT group): spread by the flow's hash, as Linux does.
    let group: UdpSocket[] | undefined;
    for (const s of this.#socks) {
      if (s.lport !== lport || s.version !== v) continue;
      let score = 0;
      if (!isUnspecified(s.laddr)) {
        if (s.laddr !== laddr) continue;
        score += 1;
      }
      if (s.connected) {
        if (s.faddr !== faddr || s.fport !== fport) continue;
        score += 2;
      }
      if (score > bestScore) {
        best = s;
        bestScore = score;
        group = undefined;
      } else if (score === bestScore && s.reuseport) (group ??= [best!]).push(s);
    }
    return group ? pickReusePort(group, best, reusesPort, laddr, lport, faddr, fport) : best;
  }

  /** Binds `s` to (laddr, port); port 0 picks an ephemeral port. Returns 0 or an errno. */
  bindSocket(s: UdpSocket, laddr: IpAddr, port: number): number {
    if (port === 0) {
      const { first, span } = portRange(this.stack.sysctl);
      const start = this.stack.ctx.random32() % span;
      for (let i = 0; i < span; i++) {
        const p = first + ((start + i) % span);
        if (!this.#ports.has(p)) {
          port = p;
          break;
        }
      }
      if (port === 0) return EADDRINUSE;
    } else {
      for (const o of this.#socks) {
        if (o.lport !== port || o.version !== s.version) continue;
        const overlap = isUnspecified(o.laddr) || isUnspecified(laddr) || o.laddr === laddr;
        if (!overlap) continue;
        const shared = (s.reuseport && o.reuseport) || (s.reuseaddr && o.reuseaddr);
        if (!shared) return EADDRINUSE;
      }
    }
    s.laddr = laddr;
    s.lport = port;
    this.#socks.add(s);
    this.#ports.set(port, (this.#ports.get(port) ?? 0) + 1);
    return 0;
  }

  /** Removes `s` from the port table. */
  unbind(s: UdpSocket): void {
    if (!this.#socks.delete(s)) return;
    const n = (this.#ports.get(s.lport) ?? 1) - 1;
    if (n <= 0) this.#ports.delete(s.lport);
    else this.#ports.set(s.lport, n);
  }

  /** Sends one datagram; 0 or an errno from the IP layer. */
  output(
    s: UdpSocket,
    src: IpAddr,
    dst: IpAddr,
    dport: number,
    data: Uint8Array,
  ): number {
    const seg = new Uint8Array(UDP_HEADER_LEN + data.length);
    emitUdp({ srcPort: s.lport, dstPort: dport, payloadLength: data.length }, seg);
    seg.set(data, UDP_HEADER_LEN);
    const mcast = isMulticast(dst);
    const r = this.stack.ipOutput(
      {
        version: s.version,
        src,
        dst,
        proto: IPPROTO_UDP,
        ttl: mcast ? s.mcast.ttl : s.ttl,
        dscp: s.tos >> 2,
        ecn: s.tos & 3,
        // IP_PMTUDISC_DO / PROBE: DF set, and a datagram above the path MTU is EMSGSIZE (it
        // left in fragments: QUIC's and tracepath's path MTU probes learnt nothing).
        dontFragment: s.pmtudisc === PMTUDISC_DO || s.pmtudisc === PMTUDISC_PROBE,
        ...(mcast ? { ifIndex: s.mcast.ifIndex, multicastLoop: s.mcast.loop } : {}),
      },
      seg,
      UDP_CHECKSUM_OFFSET,
    );
    if (r === 0) this.stack.counters.add("udp.tx.datagrams");
    return r;
  }
}

const reusesPort = (s: UdpSocket) => s.reuseport;

/** Linux's IP_MTU_DISCOVER modes that set DF (<linux/in.h>). */
const PMTUDISC_WANT = 1, PMTUDISC_DO = 2, PMTUDISC_PROBE = 3;

/** The int options UdpSocket.setsockopt handles (level * 65536 + name). */
const UDP_INT_OPTIONS = new Set([
  SOL_SOCKET * 65536 + SO_RCVBUF,
  SOL_SOCKET * 65536 + SO_SNDBUF,
  SOL_SOCKET * 65536 + SO_REUSEADDR,
  SOL_SOCKET * 65536 + SO_REUSEPORT,
  SOL_SOCKET * 65536 + SO_BROADCAST,
  IPPROTO_IP * 65536 + IP_TTL,
  IPPROTO_IP * 65536 + IP_TOS,
  IPPROTO_IP * 65536 + IP_MTU_DISCOVER,
  IPPROTO_IPV6 * 65536 + IPV6_MTU_DISCOVER,
  IPPROTO_IPV6 * 65536 + IPV6_UNICAST_HOPS,
  IPPROTO_IPV6 * 65536 + IPV6_TCLASS,
  IPPROTO_IPV6 * 65536 + IPV6_V6ONLY,
]);

interface Datagram {
  data: Uint8Array;
  from: SockAddr;
  /** Where it was sent to and came in (RecvValue.dst, ifIndex, ttl). */
  dst?: IpAddr;
  ifIndex?: number;
  ttl?: number;
}

/** A UDP socket (connected or not). */
export class UdpSocket implements ProtoSocket {
  readonly type = SOCK_DGRAM;
  readonly protocol = IPPROTO_UDP;
  readonly domain: number;
  readonly version: 4 | 6;
  laddr: IpAddr;
  lport = 0;
  faddr: IpAddr;
  fport = 0;
  connected = false;
  bound = false;
  reuseaddr = false;
  reuseport = false;
  broadcast = false;
  /** Multicast options and memberships (multicast.ts). */
  readonly mcast = new MulticastOptions();
  ttl: number | undefined;
  tos = 0;
  /** IP_MTU_DISCOVER's mode (Linux's default: WANT). */
  pmtudisc = PMTUDISC_WANT;
  v6only = 0;
  rcvbuf: number;
  sndbuf: number;
  #udp: Udp;
  #queue: Datagram[] = [];
  #queued = 0;
  #error = 0;
  #shutRd = false;
  #shutWr = false;
  #closed = false;
  #notify: () => void = () => {};

  constructor(udp: Udp, domain: number) {
    this.#udp = udp;
    this.domain = domain;
    this.version = domain === AF_INET6 ? 6 : 4;
    this.laddr = this.version === 4 ? "0.0.0.0" : "::";
    this.faddr = this.laddr;
    this.rcvbuf = udp.stack.sysctl.getNumber("net.inet.udp.recvspace");
    this.sndbuf = udp.stack.sysctl.getNumber("net.inet.udp.maxdgram");
  }

  setNotify(fn: () => void): void {
    this.#notify = fn;
  }

  /** Datagrams waiting to be read. */
  get queued(): number {
    return this.#queue.length;
  }

  #family(a: SockAddr): number {
    if (a.family !== this.domain) return EAFNOSUPPORT;
    if (ipVersion(a.addr) !== this.version) return EINVAL;
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) return EINVAL;
    return 0;
  }

  bind(addr: SockAddr): SockResult<0> {
    const f = this.#family(addr);
    if (f !== 0) return err(f);
    if (this.bound) return err(EINVAL);
    const stack = this.#udp.stack;
    // Linux takes a broadcast address too (nmbd binds 198.18.0.255:137 for its subnet's
    // broadcasts, and gave up with EADDRNOTAVAIL).
    const bcast = this.version === 4 && stack.isBroadcast4(addr.addr);
    if (
      !isUnspecified(addr.addr) && !stack.isLocalAddress(addr.addr) && !isMulticast(addr.addr) &&
      !bcast
    ) {
      return err(EADDRNOTAVAIL);
    }
    const r = this.#udp.bindSocket(this, addr.addr, addr.port);
    if (r !== 0) return err(r);
    this.bound = true;
    // Linux: an IPv6 socket bound to a specific (not IPv4-mapped) address is IPv6-only.
    if (this.version === 6 && !isUnspecified(addr.addr) && !/^::ffff:/i.test(addr.addr)) {
      this.v6only = 1;
    }
    return ok(0);
  }

  listen(_backlog: number): SockResult<0> {
    return err(EOPNOTSUPP);
  }

  accept(_nonblock: boolean): SockResult<{ sock: ProtoSocket; peer: SockAddr }> {
    return err(EOPNOTSUPP);
  }

  connect(addr: SockAddr, _nonblock: boolean): SockResult<0> {
    if ((addr.family as number) === AF_UNSPEC) {
      // Dissolve the association (POSIX connect with AF_UNSPEC).
      this.connected = false;
      this.faddr = this.version === 4 ? "0.0.0.0" : "::";
      this.fport = 0;
      return ok(0);
    }
    const f = this.#family(addr);
    if (f !== 0) return err(f);
    if (addr.port === 0) return err(EINVAL);
    const stack = this.#udp.stack;
    // A group (IP_MULTICAST_IF's interface) and the limited broadcast from a bound address
    // need no route (Linux; iperf2 -c GROUP -u, socat UDP4:GROUP: ENETUNREACH before).
    const src = isMulticast(addr.addr)
      ? this.#multicastSource(addr.addr)
      : addr.addr === "255.255.255.255" && !isUnspecified(this.laddr)
      ? this.laddr
      : stack.sourceFor(addr.addr);
    if (src === undefined) return err(ENETUNREACH);
    if (!this.bound) {
      const r = this.#udp.bindSocket(this, this.laddr, 0);
      if (r !== 0) return err(r);
      this.bound = true;
    }
    this.faddr = addr.addr;
    this.fport = addr.port;
    this.connected = true;
    this.#error = 0;
    this.#notify();
    return ok(0);
  }

  send(data: Uint8Array, _flags: number, _nonblock: boolean, to?: SockAddr): SockResult<number> {
    if (this.#shutWr) return err(EPIPE);
    if (this.#error !== 0 && this.connected) return err(this.#takeError());
    let dst: IpAddr, dport: number;
    if (to !== undefined) {
      const f = this.#family(to);
      if (f !== 0) return err(f);
      if (to.port === 0) return err(EINVAL);
      dst = to.addr;
      dport = to.port;
    } else {
      if (!this.connected) return err(EDESTADDRREQ);
      dst = this.faddr;
      dport = this.fport;
    }
    const max = this.version === 4 ? 65535 - 20 - 8 : 65535 - 8;
    if (data.length > max) return err(EMSGSIZE);
    const stack = this.#udp.stack;
    // FreeBSD ip_output, Linux: a broadcast needs SO_BROADCAST, subnet-directed ones too.
    if (!this.broadcast && !dst.includes(":") && stack.isBroadcast4(dst)) return err(EACCES);
    let src = this.laddr;
    if (isMulticast(dst) && isUnspecified(src)) {
      const own = this.#multicastSource(dst);
      if (own === undefined) return err(ENETUNREACH);
      src = own;
    }
    if (isUnspecified(dst)) {
      // This host (Stack.thisHost): a ring record naming 0.0.0.0 (a hand-written one: the shim
      // routes such sends to the kernel's loopback) went out of the NIC before.
      const own = stack.thisHost(ipVersion(dst), src);
      if (own === undefined) return err(ENETUNREACH);
      dst = own;
    }
    if (isUnspecified(src)) {
      const s = stack.sourceFor(dst);
      if (s === undefined) return err(ENETUNREACH);
      src = s;
    }
    if (!this.bound) {
      const r = this.#udp.bindSocket(this, this.laddr, 0);
      if (r !== 0) return err(r);
      this.bound = true;
    }
    const r = this.#udp.output(this, src, dst, dport, data);
    if (r !== 0) return err(r);
    return ok(data.length);
  }

  /** The source of a datagram to `group`: IP_MULTICAST_IF's interface's, else the stack's pick. */
  #multicastSource(group: IpAddr): IpAddr | undefined {
    const stack = this.#udp.stack;
    const i = this.mcast.ifIndex === -1
      ? 0
      : stack.multicastInterface(this.version, this.mcast.ifIndex);
    return i === undefined ? undefined : stack.multicastSource(this.version, i, group);
  }

  recv(maxLen: number, flags: number, nonblock: boolean): SockResult<RecvValue> {
    if (this.#error !== 0) return err(this.#takeError());
    const d = this.#queue[0];
    if (d === undefined) {
      if (this.#shutRd) return ok({ data: new Uint8Array(0) });
      return nonblock ? err(EAGAIN) : block(EAGAIN, POLLIN);
    }
    if ((flags & MSG_PEEK) === 0) {
      this.#queue.shift();
      this.#queued -= d.data.length;
      this.#notify();
    }
    const truncated = d.data.length > maxLen;
    const data = truncated ? d.data.slice(0, Math.max(0, maxLen)) : d.data;
    const v: RecvValue = { data, from: { ...d.from } };
    if (truncated) v.truncated = true;
    if (d.dst !== undefined) {
      v.dst = d.dst;
      v.ifIndex = d.ifIndex;
      v.ttl = d.ttl;
    }
    return ok(v);
  }

  shutdown(how: number): SockResult<0> {
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) return err(EINVAL);
    if (how !== SHUT_WR) this.#shutRd = true;
    if (how !== SHUT_RD) this.#shutWr = true;
    this.#notify();
    // Not connected: ENOTCONN (POSIX), yet shut down all the same, as FreeBSD's soshutdown and
    // Linux do for datagram sockets: programs wake a reader blocked on the socket so.
    return this.connected ? ok(0) : err(ENOTCONN);
  }

  close(): SockResult<0> {
    if (!this.#closed) {
      this.#closed = true;
      this.mcast.leaveAll(this.#udp.stack);
      this.#udp.unbind(this);
      this.#queue = [];
      this.#queued = 0;
    }
    return ok(0);
  }

  getsockopt(level: number, name: number): SockResult<SockOptValue> {
    const m = this.mcast.getsockopt(this.version, level, name);
    if (m !== undefined) return ok(m);
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_TYPE:
          return ok(SOCK_DGRAM);
        case SO_PROTOCOL:
          return ok(IPPROTO_UDP);
        case SO_DOMAIN:
          return ok(this.domain);
        case SO_ERROR:
          return ok(this.#takeError());
        case SO_RCVBUF:
          return ok(this.rcvbuf);
        case SO_SNDBUF:
          return ok(this.sndbuf);
        case SO_REUSEADDR:
          return ok(this.reuseaddr ? 1 : 0);
        case SO_REUSEPORT:
          return ok(this.reuseport ? 1 : 0);
        case SO_BROADCAST:
          return ok(this.broadcast ? 1 : 0);
        case SO_ACCEPTCONN:
          return ok(0); // never listening (Linux answers 0, not ENOPROTOOPT)
      }
    } else if (level === IPPROTO_IP && this.version === 4) {
      if (name === IP_TTL) {
        return ok(this.ttl ?? this.#udp.stack.sysctl.getNumber("net.inet.ip.ttl"));
      }
      if (name === IP_TOS) return ok(this.tos);
      if (name === IP_MTU_DISCOVER) return ok(this.pmtudisc);
    } else if (level === IPPROTO_IPV6 && this.version === 6) {
      if (name === IPV6_UNICAST_HOPS) {
        return ok(this.ttl ?? this.#udp.stack.sysctl.getNumber("net.inet6.ip6.hlim"));
      }
      if (name === IPV6_MTU_DISCOVER) return ok(this.pmtudisc);
      if (name === IPV6_TCLASS) return ok(this.tos);
      if (name === IPV6_V6ONLY) return ok(this.v6only);
    }
    return err(ENOPROTOOPT);
  }

  setsockopt(level: number, name: number, value: SockOptValue): SockResult<0> {
    const m = this.mcast.setsockopt(this.#udp.stack, this.version, level, name, value);
    if (m !== undefined) return m === 0 ? ok(0) : err(m);
    // An int option given something else is EINVAL; an option not handled here is ENOPROTOOPT
    // whatever its value (the socket service keeps it: IP_OPTIONS was EINVAL).
    if (typeof value !== "number" || !Number.isInteger(value)) {
      return err(UDP_INT_OPTIONS.has(level * 65536 + name) ? EINVAL : ENOPROTOOPT);
    }
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_RCVBUF:
          this.rcvbuf = Math.max(256, Math.min(value, 1 << 26));
          return ok(0);
        case SO_SNDBUF:
          this.sndbuf = Math.max(256, Math.min(value, 1 << 26));
          return ok(0);
        case SO_REUSEADDR:
          this.reuseaddr = value !== 0;
          return ok(0);
        case SO_REUSEPORT:
          this.reuseport = value !== 0;
          return ok(0);
        case SO_BROADCAST:
          this.broadcast = value !== 0;
          return ok(0);
      }
    } else if (level === IPPROTO_IP && this.version === 4) {
      if (name === IP_TTL) {
        if (value < -1 || value > 255 || value === 0) return err(EINVAL);
        this.ttl = value === -1 ? undefined : value;
        return ok(0);
      }
      if (name === IP_TOS) {
        this.tos = value & 0xff;
        return ok(0);
      }
      if (name === IP_MTU_DISCOVER) return this.#setPmtudisc(value);
    } else if (level === IPPROTO_IPV6 && this.version === 6) {
      if (name === IPV6_MTU_DISCOVER) return this.#setPmtudisc(value);
      if (name === IPV6_UNICAST_HOPS) {
        if (value < -1 || value > 255) return err(EINVAL);
        this.ttl = value === -1 ? undefined : value;
        return ok(0);
      }
      if (name === IPV6_TCLASS) {
        if (value < -1 || value > 255) return err(EINVAL);
        this.tos = value === -1 ? 0 : value;
        return ok(0);
      }
      if (name === IPV6_V6ONLY) {
        if (this.bound) return err(EINVAL);
        this.v6only = value !== 0 ? 1 : 0;
        return ok(0);
      }
    }
    return err(ENOPROTOOPT);
  }

  /** IP_MTU_DISCOVER / IPV6_MTU_DISCOVER: Linux's modes 0 (DONT) … 5 (OMIT). */
  #setPmtudisc(v: number): SockResult<0> {
    if (v < 0 || v > 5) return err(EINVAL);
    this.pmtudisc = v;
    return ok(0);
  }

  getsockname(): SockResult<SockAddr> {
    let addr = this.laddr;
    if (isUnspecified(addr) && this.connected) addr = this.#udp.stack.sourceFor(this.faddr) ?? addr;
    return ok({ family: this.domain as typeof AF_INET, addr, port: this.lport });
  }

  getpeername(): SockResult<SockAddr> {
    if (!this.connected) return err(ENOTCONN);
    return ok({ family: this.domain as typeof AF_INET, addr: this.faddr, port: this.fport });
  }

  poll(): number {
    let ev = 0;
    if (!this.#shutWr) ev |= POLLOUT | POLLWRNORM;
    if (this.#queue.length > 0 || this.#shutRd) ev |= POLLIN | POLLRDNORM;
    // Linux: shut for reading reads as hung up for reading; both ways, as hung up.
    if (this.#shutRd) ev |= POLLRDHUP;
    if (this.#shutRd && this.#shutWr) ev |= POLLHUP;
    if (this.#error !== 0) ev |= POLLERR;
    return ev;
  }

  /** A datagram for this socket (called by {@link Udp.input}). */
  deliver(payload: Uint8Array, from: SockAddr, meta?: IpMeta): void {
    if (this.#shutRd || this.#closed) return this.#udp.stack.counters.add("udp.rx.shutdown");
    // An empty queue takes any datagram, as Linux's (which drops only while what is queued
    // is over the buffer): with SO_RCVBUF below the datagram's size (iperf3 -u -w 4K -l 8000)
    // every one was dropped.
    if (this.#queued > 0 && this.#queued + payload.length > this.rcvbuf) {
      return this.#udp.stack.counters.add("udp.rx.fullSocket");
    }
    this.#queue.push(
      meta === undefined ? { data: payload.slice(), from } : {
        data: payload.slice(),
        from,
        dst: meta.dst,
        ifIndex: meta.ifIndex,
        ttl: meta.ttl,
      },
    );
    this.#queued += payload.length;
    this.#notify();
  }

  /** An asynchronous error (ICMP) for the next call or SO_ERROR. */
  setError(errno: number): void {
    this.#error = errno;
    this.#notify();
  }

  #takeError(): number {
    const e = this.#error;
    if (e !== 0) {
      this.#error = 0;
      this.#notify();
    }
    return e;
  }
}

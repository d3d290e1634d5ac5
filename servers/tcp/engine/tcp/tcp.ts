/**
 * The TCP protocol instance of a Stack: the connection tables (FreeBSD's inpcb hash by
 * 4-tuple, listeners by port), the input demultiplexer (tcp_input up to tcp_do_segment),
 * passive opens from listeners (a syncache-like embryonic connection), replies to segments
 * for closed ports, ICMP errors (tcp_ctlinput), and the {@link TcpHost} the connection code
 * calls back into.
 *
 * @module
 */
import { pickReusePort } from "../reuseport.ts";
import type { IcmpErrorInfo, IpMeta, IpOutputMeta, TransportProtocol } from "../ip/protocol.ts";
import { IPPROTO_TCP } from "../ip/protocol.ts";
import { linuxIcmpErrno } from "../ip/icmp_errno.ts";
import type { IpAddr } from "../ip/addr.ts";
import { type ConnAddrs, TcpConn, type TcpHost, type TcpStack, timerActivate } from "./conn.ts";
import {
  HeapTcbStore,
  type TcbStore,
  TCPS_LISTEN,
  TCPS_SYN_RECEIVED,
  TCPS_SYN_SENT,
} from "./tcpcb.ts";
import {
  TCPS_CLOSED,
  TCPS_TIME_WAIT,
  TF_ECN_PERMIT,
  TF_RCVD_SCALE,
  TF_RCVD_TSTMP,
  TF_REQ_SCALE,
  TF_REQ_TSTMP,
  TF_SACK_PERMIT,
} from "./tcpcb.ts";
import {
  emitTcp,
  optionSummary,
  parseTcp,
  TCP_CHECKSUM_OFFSET,
  TCP_HEADER_MIN,
  TCP_MAX_WINSHIFT,
  tcpHeaderLength,
  type TcpOption,
  type TcpOptionSummary,
  type TcpRepr,
  TH_ACK,
  TH_FIN,
  TH_RST,
  TH_SYN,
} from "../wire/tcp.ts";
import { defineTcpSysctls } from "./sysctls.ts";
import { newIsnKey, tcpNewIsn, tsOffset } from "./isn.ts";
import { definePortRange, portRange } from "../ip/portrange.ts";
import { seqAdd, seqGeq, seqGt, seqLt } from "./seq.ts";
import { ecnAcceptSyn } from "./ecn.ts";
import { TCP_MAXWIN, tcpOutput } from "./output.ts";
import { offeredMss, roundBuffers, rttConfig, tcpDrop, tcpMss, tcpRespond } from "./subr.ts";
import { rttReset } from "./rtt.ts";
import { Rack } from "./rack.ts";
import { doSegment, type Segment, timeWaitInput } from "./input.ts";
import { tcpTimerFire } from "./timers.ts";
import { cookieExpand, cookieRespond } from "./syncache.ts";
import { ECONNREFUSED, EHOSTUNREACH, ENETUNREACH } from "../errno.ts";
import { finishSum, pseudoHeaderSum, sumBytes } from "../wire/checksum.ts";
import { ipToBytes } from "../ip/addr.ts";
import { siphash24 } from "./siphash.ts";

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What TCP over UDP needs from UDP (udp/udp.ts's Udp). */
export interface UdpTunnelHost {
  setTunnel(
    port: number,
    t: {
      input(meta: IpMeta, srcPort: number, dstPort: number, payload: Uint8Array): void;
      icmpError?(e: IcmpErrorInfo, srcPort: number, dstPort: number): boolean;
    },
  ): void;
  clearTunnel(port: number): void;
  sendRaw(
    meta: { version: 4 | 6; src?: IpAddr; dst: IpAddr; ttl?: number; ecn?: number; dscp?: number },
    srcPort: number,
    dstPort: number,
    payload: Uint8Array,
    checksum?: boolean,
  ): number;
}

const NO_TCP_OPTIONS: TcpOption[] = Object.freeze([]) as unknown as TcpOption[];

function be32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

function key(v: number, la: string, lp: number, fa: string, fp: number): string {
  return `${v}|${la}|${lp}|${fa}|${fp}`;
}

/** A connection as listed by {@link Tcp.connections} (sockstat). */
export interface ConnListing {
  state: number;
  localPort: number;
  remotePort: number;
  localAddr: IpAddr;
  remoteAddr: IpAddr;
  version: 4 | 6;
  fd?: number;
}

const instances = new WeakMap<TcpStack, Tcp>();

/** TCP over one Stack. Use {@link Tcp.of} to get (or create and register) it. */
export class Tcp implements TransportProtocol, TcpHost {
  readonly stack: TcpStack;
  readonly store: TcbStore;
  readonly conns = new Map<string, TcpConn>();
  /** `conns` by local port: what a bind or an ephemeral port looks at (not all of them). */
  #connsByPort = new Map<number, Set<TcpConn>>();
  /** Listeners and bound-but-unconnected endpoints by local port. */
  readonly listeners = new Map<number, TcpConn[]>();
  /**
   * With a store that tracks changes (TcbStore.tracksChanges): the connections touched since the
   * store last took them: by a segment (input), a segment sent, a timer, an ICMP error, a socket
   * call (usrreq.ts), or entering a table. The store takes and clears it at each commit; its
   * commit also sweeps a few untouched connections, so a change made some other way is stored
   * a little later, never lost.
   */
  changed: Set<TcpConn> | undefined;
  #isnKey: Uint8Array;
  #scratch = new Uint8Array(65536 + 60);
  #meta: IpOutputMeta = { version: 4, src: "", dst: "", proto: IPPROTO_TCP };
  /** The connection of the last segment looked up by 4-tuple (#fastInput's one-entry cache). */
  #last: TcpConn | undefined;
  #fastBusy = false;
  #fastTsOpt = { kind: "ts" as const, val: 0, ecr: 0 };
  #fastTsOpts: TcpOption[] = [{ kind: "nop" }, { kind: "nop" }, this.#fastTsOpt];
  #fastTsVal = { val: 0, ecr: 0 };
  #fastTh: TcpRepr = {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    urgent: 0,
    options: NO_TCP_OPTIONS,
    payload: new Uint8Array(0),
  };
  #fastTo: TcpOptionSummary = { sackOk: false };
  #fastSeg: Segment = { th: this.#fastTh, to: this.#fastTo, ecn: 0 };
  #cookieKey: Uint8Array;
  /** RFC 7413 §4.1.2: the server's secret for TFO cookies (SipHash-2-4 of the client address). */
  #tfoKey = new Uint8Array(16);
  #nextEphemeral: number;
  readonly tfoCache = new Map<string, Uint8Array | null>();
  /** UDP, for TCP over UDP (net.inet.tcp.udp_tunneling_port), once attached. */
  #udp: UdpTunnelHost | undefined;
  #tunnelPort = 0;
  /** Called when a connection's readiness may have changed. */
  onNotify: ((c: TcpConn) => void) | undefined;

  constructor(stack: TcpStack, store: TcbStore = new HeapTcbStore()) {
    this.stack = stack;
    this.store = store;
    this.changed = store.tracksChanges ? new Set() : undefined;
    // A Tcp made with its own store (store/) is the one Tcp.of returns for this stack.
    if (!instances.has(stack)) instances.set(stack, this);
    defineTcpSysctls(stack.sysctl);
    // ISN/timestamp key, then SYN cookie key: kept by a store that outlives the process, so a
    // restarted server continues each 4-tuple's sequence and timestamp spaces (RFC 6528).
    const draw = () => {
      const k = new Uint8Array(32);
      k.set(newIsnKey(() => stack.ctx.random32()), 0);
      k.set(newIsnKey(() => stack.ctx.random32()), 16);
      return k;
    };
    const keys = store.keys?.(draw) ?? draw();
    this.#isnKey = keys.slice(0, 16);
    this.#cookieKey = keys.slice(16, 32);
    const kv = new DataView(this.#tfoKey.buffer);
    for (let i = 0; i < 16; i += 4) kv.setUint32(i, stack.ctx.random32());
    definePortRange(stack.sysctl);
    this.#nextEphemeral = stack.ctx.random32();
    stack.registerProtocol(IPPROTO_TCP, this);
    // Turning the TFO client off (or on) flushes the cookie cache, as FreeBSD does.
    stack.sysctl.onChange("net.inet.tcp.fastopen.client_enable", () => this.tfoCache.clear());
  }

  /** The Tcp of `stack`, created and registered on first use. */
  static of(stack: TcpStack): Tcp {
    let t = instances.get(stack);
    if (t === undefined) {
      t = new Tcp(stack);
      instances.set(stack, t);
    }
    return t;
  }

  /** Notes that `c` changed (see {@link changed}). */
  touch(c: TcpConn): void {
    this.changed?.add(c);
  }

  // ---- TcpHost ----
  now(): number {
    return this.stack.ctx.now();
  }
  num(name: string): number {
    // Cached per name; a listener on the sysctl keeps the cache right.
    const v = this.#sysctlCache.get(name);
    if (v !== undefined) return v;
    const n = this.stack.sysctl.getNumber(name);
    this.#sysctlCache.set(name, n);
    this.stack.sysctl.onChange(name, (x) => this.#sysctlCache.set(name, Number(x)));
    return n;
  }
  #sysctlCache = new Map<string, number>();
  count(reason: string): void {
    this.stack.counters.add(reason);
  }
  send(a: ConnAddrs, r: TcpRepr, ecn: number): number {
    // A connection's own segment (not a reply to a stray one): stored before it leaves.
    if ((a as Partial<TcpConn>).tp !== undefined) this.touch(a as TcpConn);
    // Built in a reusable scratch buffer: the IP layer copies the segment into its packet
    // before returning (no allocation per segment here).
    const n = tcpHeaderLength(r) + r.payload.length;
    // Built where the IP layer wants it when the link lends frame buffers (issue 9: one copy
    // of the payload instead of two), else in the scratch buffer.
    let seg = a.tPort ? undefined : this.stack.segmentBuffer?.(a.faddr, n);
    if (seg === undefined) {
      if (n > this.#scratch.length) this.#scratch = new Uint8Array(n);
      seg = this.#scratch.subarray(0, n);
    }
    emitTcp(r, seg, 0);
    if (a.tPort) {
      // TCP over UDP: the TCP checksum as usual, then a UDP datagram from the tunneling port.
      if (this.#udp === undefined || this.#tunnelPort === 0) return ENETUNREACH;
      const sum = finishSum(
        sumBytes(
          pseudoHeaderSum(ipToBytes(a.laddr), ipToBytes(a.faddr), IPPROTO_TCP, seg.length),
          seg,
        ),
      );
      seg[TCP_CHECKSUM_OFFSET] = sum >> 8;
      seg[TCP_CHECKSUM_OFFSET + 1] = sum & 0xff;
      return this.#udp.sendRaw(
        {
          version: a.version,
          src: a.laddr,
          dst: a.faddr,
          ecn,
          ttl: a.ipTtl ? a.ipTtl : undefined,
          dscp: a.ipTos ? a.ipTos >> 2 : undefined,
        },
        this.#tunnelPort,
        a.tPort,
        seg,
      );
    }
    const m = this.#meta; // reused: ipOutput reads it and copies the segment before returning
    m.version = a.version;
    m.src = a.laddr;
    m.dst = a.faddr;
    m.ecn = ecn;
    m.ttl = a.ipTtl ? a.ipTtl : undefined;
    m.dscp = a.ipTos ? a.ipTos >> 2 : undefined;
    return this.stack.ipOutput(m, seg, TCP_CHECKSUM_OFFSET);
  }
  onTimer(c: TcpConn, kind: number): void {
    this.touch(c);
    tcpTimerFire(c, kind);
  }
  detach(c: TcpConn): void {
    if (this.#last === c) this.#last = undefined;
    const k = key(c.version, c.laddr, c.lport, c.faddr, c.fport);
    if (this.conns.get(k) === c) {
      this.conns.delete(k);
      this.#unindex(c);
    }
    const ls = this.listeners.get(c.lport);
    if (ls) {
      const i = ls.indexOf(c);
      if (i >= 0) ls.splice(i, 1);
      if (ls.length === 0) this.listeners.delete(c.lport);
    }
    if (c.parent) {
      // An established child the peer reset before accept() stays queued: accept() returns
      // it, its data can be read, then the reset (Linux; FreeBSD returns ECONNABORTED from
      // accept). Taken off the queue, the connection and its data vanished unseen.
      c.parent.incomplete.delete(c);
    }
    this.store.free(c.tp);
  }
  childEstablished(c: TcpConn): boolean {
    const l = c.parent;
    if (!l) return true;
    if (l.acceptQueue.includes(c)) return true; // a TFO child, queued with its SYN's data
    l.incomplete.delete(c);
    // FreeBSD's sonewconn: no more than 3/2 of the backlog waits for accept(); past it the
    // new connection is refused (listen-queue overflow, answered with a RST as with
    // net.inet.tcp.syncache.rst_on_sock_fail).
    if (l.acceptQueue.length > Math.floor((3 * l.backlog) / 2)) {
      this.count("tcp.listen.queueOverflow");
      return false;
    }
    l.acceptQueue.push(c);
    this.notify(l);
    return true;
  }
  notify(c: TcpConn): void {
    this.onNotify?.(c);
  }
  tsoMax(a: ConnAddrs): number {
    const caps = this.stack.linkCapsFor?.(a.faddr);
    if (!caps || !caps.tso || (a.version === 6 && !caps.tso6)) return 0;
    // The link takes IP packets up to maxSegment (≤ 64 KiB) and cuts them at the MSS.
    return Math.min(caps.maxSegment ?? 65535, 65535) - (a.version === 6 ? 40 : 20);
  }
  isnFor(a: ConnAddrs): number {
    return tcpNewIsn(this.#isnKey, this.now(), a.laddr, a.lport, a.faddr, a.fport);
  }
  tsOffsetFor(a: ConnAddrs): number {
    return tsOffset(this.#isnKey, a.laddr, a.lport, a.faddr, a.fport);
  }

  // ---- tables ----

  /** A new connection object (CLOSED) with the stack's default buffers. */
  newConn(): TcpConn {
    const c = new TcpConn(
      this,
      this.store.alloc(),
      String(this.stack.sysctl.get("net.inet.tcp.cc.algorithm")),
    );
    c.rcvHiwat = this.num("net.inet.tcp.recvspace");
    c.sndHiwat = this.num("net.inet.tcp.sendspace");
    rttReset(c.tp, rttConfig(this));
    if (this.stack.sysctl.get("net.inet.tcp.functions_default") === "rack") c.rack = new Rack();
    return c; // tp.tsOffset: set with the 4-tuple (tsOffsetFor)
  }

  /** The TFO cookie for a client address (8 bytes, RFC 7413 §4.1.2). */
  #tfoCookie(faddr: IpAddr): Uint8Array {
    const h = siphash24(this.#tfoKey, ipToBytes(faddr));
    const out = new Uint8Array(8);
    const v = new DataView(out.buffer);
    v.setUint32(0, h[0]);
    v.setUint32(4, h[1]);
    return out;
  }

  /** Enters `c` in the 4-tuple table. */
  insert(c: TcpConn): void {
    this.touch(c);
    this.#last = undefined;
    const k = key(c.version, c.laddr, c.lport, c.faddr, c.fport);
    const was = this.conns.get(k);
    if (was === c) return;
    if (was) this.#unindex(was);
    this.conns.set(k, c);
    const same = this.#connsByPort.get(c.lport);
    if (same) same.add(c);
    else this.#connsByPort.set(c.lport, new Set([c]));
  }

  #unindex(c: TcpConn): void {
    const same = this.#connsByPort.get(c.lport);
    if (!same) return;
    same.delete(c);
    if (same.size === 0) this.#connsByPort.delete(c.lport);
  }

  /** Enters a listener. */
  addListener(c: TcpConn): void {
    this.touch(c);
    const ls = this.listeners.get(c.lport) ?? [];
    if (!ls.includes(c)) ls.push(c);
    this.listeners.set(c.lport, ls);
  }

  /**
   * Whether (laddr, lport) is in use by another endpoint (for bind). With `toward` (a connect
   * choosing its port) only connections to that same destination count: a port serves many.
   */
  portInUse(
    version: 4 | 6,
    laddr: IpAddr,
    lport: number,
    self?: TcpConn,
    toward?: { faddr: IpAddr; fport: number },
  ): TcpConn | undefined {
    for (const l of this.listeners.get(lport) ?? []) {
      if (l === self || l.version !== version) continue;
      if (l.laddr === laddr || isAny(l.laddr) || isAny(laddr)) return l;
    }
    for (const c of this.#connsByPort.get(lport) ?? []) {
      if (c === self || c.version !== version) continue;
      if (toward && (c.faddr !== toward.faddr || c.fport !== toward.fport)) continue;
      if (c.laddr === laddr || isAny(laddr)) return c;
    }
    return undefined;
  }

  /**
   * An ephemeral port (net.inet.ip.portrange, ip/portrange.ts) for (version, laddr), or 0 when
   * none is free. With a destination (`faddr`, `fport`: a connect that bound no port) a port
   * serves many destinations, as FreeBSD's in_pcb_lport_dest and Linux do: it is taken only
   * when no listener or bound socket holds it and no connection from laddr uses it toward
   * that same destination. Without one (bind to port 0) it must be unused on laddr. Ports are
   * handed out in turn from a random start, so a 4-tuple comes back as late as possible (the
   * peer may still hold the last one in TIME-WAIT).
   */
  ephemeralPort(version: 4 | 6, laddr: IpAddr, faddr?: IpAddr, fport = 0): number {
    const { first, span } = portRange(this.stack.sysctl);
    const toward = faddr === undefined ? undefined : { faddr, fport };
    for (let i = 0; i < span; i++) {
      const p = first + (this.#nextEphemeral >>> 0) % span;
      this.#nextEphemeral = (this.#nextEphemeral + 1) >>> 0;
      if (!this.portInUse(version, laddr, p, undefined, toward)) return p;
    }
    return 0;
  }

  /** Every connection incl. embryonic and TIME_WAIT (sockstat), or the first `limit`. */
  connections(limit = Infinity): ConnListing[] {
    const out: ConnListing[] = [];
    for (const ls of this.listeners.values()) {
      for (const l of ls) {
        if (out.length >= limit) return out;
        if (l.tp.state !== TCPS_LISTEN) continue;
        out.push({
          state: l.tp.state,
          localPort: l.lport,
          remotePort: 0,
          localAddr: l.laddr,
          remoteAddr: l.version === 6 ? "::" : "0.0.0.0",
          version: l.version,
          fd: l.fd >= 0 ? l.fd : undefined,
        });
      }
    }
    for (const c of this.conns.values()) {
      if (out.length >= limit) break;
      out.push({
        state: c.tp.state,
        localPort: c.lport,
        remotePort: c.fport,
        localAddr: c.laddr,
        remoteAddr: c.faddr,
        version: c.version,
        fd: c.fd >= 0 ? c.fd : undefined,
      });
    }
    return out;
  }

  /** tcpdrop: drops every connection in `state`; returns how many. */
  dropConnections(state: number): number {
    let n = 0;
    for (const c of [...this.conns.values()]) {
      if (c.tp.state !== state) continue;
      n++;
      if (state === TCPS_TIME_WAIT) {
        c.isDisconnected = true;
        timerActivate(c, 4, 0);
        c.tp.state = TCPS_CLOSED;
        this.detach(c);
      } else tcpDrop(c, 0);
    }
    return n;
  }

  // ---- input ----

  /**
   * input() without allocating (but the payload view) for the common segment: no SYN, FIN or
   * RST, no options or exactly NOP NOP timestamps, for the connection of the previous segment
   * (no 4-tuple key built), outside TIME_WAIT. The header, summary and Segment are reused
   * objects, so a nested input() (a segment looped back while this one runs) takes the full
   * path. Returns false, having done nothing, for every other segment.
   */
  #fastInput(meta: IpMeta, b: Uint8Array, tPort: number): boolean {
    if (b.length < TCP_HEADER_MIN) return false;
    const off = (b[12] >> 4) * 4;
    const flags = ((b[12] & 1) << 8) | b[13];
    if ((flags & (TH_SYN | TH_FIN | TH_RST)) !== 0 || off > b.length) return false;
    const hasTs = off === 32 && b[20] === 1 && b[21] === 1 && b[22] === 8 && b[23] === 10;
    if (off !== TCP_HEADER_MIN && !hasTs) return false;
    const sport = (b[0] << 8) | b[1], dport = (b[2] << 8) | b[3];
    const c = this.#last;
    if (
      c === undefined || sport === 0 || dport === 0 || c.lport !== dport || c.fport !== sport ||
      c.version !== meta.version || c.laddr !== meta.dst || c.faddr !== meta.src ||
      c.tPort !== tPort || c.tp.state === TCPS_TIME_WAIT
    ) return false;
    this.count("tcp.rx.segments");
    const th = this.#fastTh, to = this.#fastTo;
    th.srcPort = sport;
    th.dstPort = dport;
    th.seq = be32(b, 4);
    th.ack = be32(b, 8);
    th.flags = flags;
    th.window = (b[14] << 8) | b[15];
    th.urgent = (b[18] << 8) | b[19];
    th.payload = b.subarray(off);
    if (hasTs) {
      const ts = this.#fastTsOpt, tv = this.#fastTsVal;
      ts.val = tv.val = be32(b, 24);
      ts.ecr = tv.ecr = be32(b, 28);
      th.options = this.#fastTsOpts;
      to.ts = tv;
    } else {
      th.options = NO_TCP_OPTIONS;
      to.ts = undefined;
    }
    const seg = this.#fastSeg;
    seg.ecn = meta.ecn;
    this.touch(c);
    this.#fastBusy = true;
    try {
      doSegment(c, seg);
    } finally {
      this.#fastBusy = false;
    }
    return true;
  }

  /**
   * Attaches UDP for TCP over UDP: datagrams to net.inet.tcp.udp_tunneling_port carry TCP
   * segments (FreeBSD's UDP tunneling); the port follows the sysctl.
   */
  attachUdp(udp: UdpTunnelHost): void {
    this.#udp = udp;
    const apply = () => {
      // Read from the table itself: this listener may run before the value cache's.
      const port = this.stack.sysctl.getNumber("net.inet.tcp.udp_tunneling_port");
      if (port === this.#tunnelPort) return;
      if (this.#tunnelPort) udp.clearTunnel(this.#tunnelPort);
      this.#tunnelPort = port;
      if (port) {
        udp.setTunnel(port, {
          input: (meta, sport, _dport, payload) => this.input(meta, payload, sport),
          icmpError: (e, _sport, dport) => this.icmpError(e, dport),
        });
      }
    };
    this.stack.sysctl.onChange("net.inet.tcp.udp_tunneling_port", apply);
    apply();
  }

  input(meta: IpMeta, segment: Uint8Array, tPort = 0): void {
    if (!this.#fastBusy && this.#fastInput(meta, segment, tPort)) return;
    const th = parseTcp(segment, true); // a peer's malformed option is skipped, as FreeBSD does
    if (typeof th === "string") {
      this.count(`tcp.drop.${th}`);
      return;
    }
    this.count("tcp.rx.segments");
    if (th.dstPort === 0 || th.srcPort === 0) {
      this.count("tcp.drop.port0");
      return;
    }
    // net.inet.tcp.drop_synfin: SYN+FIN is dropped in every state (it only fingerprints stacks).
    if (
      (th.flags & (TH_SYN | TH_FIN)) === (TH_SYN | TH_FIN) && this.num("net.inet.tcp.drop_synfin")
    ) {
      this.count("tcp.drop.synFin");
      return;
    }
    const seg: Segment = { th, to: optionSummary(th.options), ecn: meta.ecn };
    const k = key(meta.version, meta.dst, th.dstPort, meta.src, th.srcPort);
    const c = this.conns.get(k);
    if (c !== undefined) this.#last = c;
    if (c !== undefined && c.tPort !== tPort && c.tp.state !== TCPS_TIME_WAIT) {
      // A segment for a tunneled connection outside the tunnel (or the reverse, or from
      // another UDP port): no connection of this encapsulation, so a RST in its own.
      this.count("tcp.drop.encapsMismatch");
      this.closedPort(meta, seg, tPort, c);
      return;
    }
    if (c !== undefined) {
      this.touch(c);
      if (c.tp.state === TCPS_TIME_WAIT) {
        // tcp_twcheck order: a new SYN above the old window may reopen from any UDP port;
        // otherwise a segment of another encapsulation gets a RST.
        const reopen = (th.flags & (TH_SYN | TH_ACK)) === TH_SYN && seqGt(th.seq, c.tp.rcvNxt);
        if (c.tPort !== tPort && !reopen) {
          this.count("tcp.drop.encapsMismatch");
          this.closedPort(meta, seg, tPort, c);
          return;
        }
        if (timeWaitInput(c, seg) === "done") return;
      } else {
        doSegment(c, seg);
        return;
      }
    }
    const l = this.findListener(meta.version, meta.dst, th.dstPort, meta.src, th.srcPort);
    if (l !== undefined && l.tp.state === TCPS_LISTEN) {
      this.touch(l);
      this.listenInput(l, meta, seg, tPort);
      return;
    }
    this.closedPort(meta, seg, tPort);
  }

  /**
   * The listener for (laddr, lport): a bound address before a wildcard. Several equal ones (an
   * SO_REUSEPORT group) share new connections by a hash of the 4-tuple (`faddr`, `fport`), as
   * Linux does; the handshake's later segments hash to the same member.
   */
  findListener(
    version: 4 | 6,
    laddr: IpAddr,
    lport: number,
    faddr?: IpAddr,
    fport = 0,
  ): TcpConn | undefined {
    const ls = this.listeners.get(lport);
    if (!ls) return undefined;
    const exact: TcpConn[] = [], wild: TcpConn[] = [];
    for (const l of ls) {
      if (l.tp.state !== TCPS_LISTEN) continue;
      if (l.version !== version) continue;
      if (l.laddr === laddr) exact.push(l);
      else if (isAny(l.laddr)) wild.push(l);
    }
    if (exact.length > 0) {
      return pickReusePort(exact, exact[0], reusesPort, laddr, lport, faddr, fport);
    }
    return pickReusePort(wild, wild.at(-1), reusesPort, laddr, lport, faddr, fport);
  }

  /** RFC 9293 §3.10.7.1: a segment for no connection gets a RST (unless it is one). */
  closedPort(meta: IpMeta, seg: Segment, tPort = 0, owner?: TcpConn): void {
    const th = seg.th;
    this.count("tcp.rx.closedPort");
    const bh = this.num("net.inet.tcp.blackhole");
    if (th.flags & TH_RST) return;
    if (bh === 2 || (bh === 1 && (th.flags & TH_SYN))) return;
    const a: ConnAddrs = {
      version: meta.version,
      laddr: meta.dst,
      lport: th.dstPort,
      faddr: meta.src,
      fport: th.srcPort,
      tPort,
    };
    // The endpoint that matched (or a bound socket that does not listen) answers with its
    // own IP options (TTL, TOS).
    if (owner) {
      a.ipTtl = owner.ipTtl;
      a.ipTos = owner.ipTos;
    } else {for (const b of this.listeners.get(th.dstPort) ?? []) {
        if (b.version === meta.version && (b.laddr === meta.dst || isAny(b.laddr))) {
          a.ipTtl = b.ipTtl;
          a.ipTos = b.ipTos;
          break;
        }
      }}
    if (th.flags & TH_ACK) tcpRespond(this, a, th.ack, 0, TH_RST, 0);
    else {
      let ack = seqAdd(th.seq, th.payload.length);
      if (th.flags & TH_SYN) ack = seqAdd(ack, 1);
      if (th.flags & TH_FIN) ack = seqAdd(ack, 1);
      tcpRespond(this, a, 0, ack, TH_RST | TH_ACK, 0);
    }
  }

  /** A segment for a listening socket (tcp_input LISTEN case + syncache_add). */
  listenInput(l: TcpConn, meta: IpMeta, seg: Segment, tPort = 0): void {
    const th = seg.th;
    const to = seg.to;
    const a: ConnAddrs = {
      version: meta.version,
      laddr: meta.dst,
      lport: th.dstPort,
      faddr: meta.src,
      fport: th.srcPort,
      tPort,
    };
    if (th.flags & TH_RST) {
      this.count("tcp.listen.rstIgnored");
      return;
    }
    if ((th.flags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK)) {
      // FreeBSD drops a SYN-ACK sent to a listener without answering.
      this.count("tcp.listen.synAck");
      return;
    }
    if ((th.flags & TH_ACK) && !(th.flags & TH_SYN) && this.num("net.inet.tcp.syncookies")) {
      // Maybe the ACK of a SYN cookie (RFC 4987 §3.6): rebuild the connection from it.
      const c = this.#child(l, a);
      const mss = cookieExpand(this, this.#cookieKey, c, th, l.tp.requestRScale);
      if (mss !== undefined) {
        tcpMss(c, mss, false);
        l.incomplete.add(c);
        this.insert(c);
        doSegment(c, seg);
        return;
      }
      this.store.free(c.tp);
    }
    if (th.flags & TH_ACK) {
      // RFC 9293 §3.10.7.2: "any acknowledgment is bad if it arrives on a connection still in
      // the LISTEN state": RST with seq = SEG.ACK.
      this.count("tcp.listen.badAck");
      tcpRespond(this, a, th.ack, 0, TH_RST, 0);
      return;
    }
    if (!(th.flags & TH_SYN)) {
      this.count("tcp.listen.noSyn");
      return;
    }
    // Embryonic connections are bounded per listener (FreeBSD's syncache bucket limit); past
    // it, or always with syncookies_only, answer with a SYN cookie and keep no state.
    const full = l.incomplete.size >= this.num("net.inet.tcp.syncache.bucketlimit");
    if (full || this.num("net.inet.tcp.syncookies_only")) {
      if (this.num("net.inet.tcp.syncookies")) {
        cookieRespond(this, this.#cookieKey, a, th, to, l.tp.requestRScale, l.rcvHiwat, l.userMss);
      } else this.count("tcp.listen.overflow");
      return;
    }
    const c = this.#child(l, a);
    const tp = c.tp;
    tp.state = TCPS_SYN_RECEIVED;
    tp.irs = th.seq;
    tp.rcvNxt = seqAdd(th.seq, 1);
    tp.rcvAdv = tp.rcvNxt;
    tp.rcvUp = tp.rcvNxt;
    tp.iss = this.isnFor(a);
    tp.sndUna =
      tp.sndNxt =
      tp.sndMax =
      tp.sndUp =
        tp.iss;
    tp.sndRecover = tp.iss;
    tp.sndWnd = th.window;
    tp.maxSndWnd = th.window;
    tp.sndWl1 = th.seq;
    tp.sndWl2 = tp.iss;
    const rfc1323 = this.num("net.inet.tcp.rfc1323");
    const noopt = (l.tp.tFlags & 0x8) !== 0; // TF_NOOPT
    if (!noopt && (rfc1323 & 1) && to.wscale !== undefined) {
      tp.tFlags |= TF_REQ_SCALE | TF_RCVD_SCALE;
      tp.requestedSScale = Math.min(to.wscale, TCP_MAX_WINSHIFT);
      tp.requestRScale = windowScaleFor(this.num("kern.ipc.maxsockbuf"));
    }
    if (!noopt && (rfc1323 === 1 || rfc1323 === 2 || rfc1323 === 3) && to.ts !== undefined) {
      tp.tFlags |= TF_REQ_TSTMP | TF_RCVD_TSTMP;
      tp.tsRecent = to.ts.val;
      tp.tsRecentAge = this.now();
    }
    if (!noopt && to.sackOk && this.num("net.inet.tcp.sack.enable")) tp.tFlags |= TF_SACK_PERMIT;
    // RFC 3168 §6.1.1: an ECN-setup SYN (ECE and CWR) is accepted when ECN is enabled.
    if (ecnAcceptSyn(th.flags, this.num("net.inet.tcp.ecn.enable"))) tp.tFlags |= TF_ECN_PERMIT;
    tp.tMaxopd = offeredMss(this, c, c.userMss);
    // Like a syncache entry: the listener's buffer sizes until the connection is established.
    tcpMss(c, to.mss, false);
    // TCP Fast Open server (RFC 7413 §4.2; net.inet.tcp.fastopen.server_enable and
    // TCP_FASTOPEN on the listener): a valid cookie lets the SYN's data in at once.
    let tfoData = false;
    if (
      to.fastopen !== undefined && l.tfo && !noopt &&
      this.num("net.inet.tcp.fastopen.server_enable")
    ) {
      const cookie = this.#tfoCookie(a.faddr);
      if (bytesEqual(to.fastopen, cookie)) {
        tfoData = true;
        this.count("tcp.tfo.server.accepted");
      } else {
        c.tfoCookieOut = cookie; // §4.1.2: answer a request (or a stale cookie) with ours
        this.count(to.fastopen.length ? "tcp.tfo.server.badCookie" : "tcp.tfo.server.request");
      }
    }
    l.incomplete.add(c);
    this.insert(c);
    this.count("tcp.listen.syn");
    if (tfoData) {
      // §4.2.2: the data is acknowledged by the SYN-ACK and readable before the handshake
      // ends; the connection is handed to accept() now (FreeBSD's tcp_fastopen path).
      // A socket now (FreeBSD's syncache_socket): its buffers rounded to the MSS at once, as
      // established() does for the others (it is accepted before the ACK comes).
      roundBuffers(c);
      const data = th.payload.subarray(0, Math.max(0, Math.min(th.payload.length, c.rcvHiwat)));
      if (data.length > 0) {
        c.rcv.push(data); // copied into the receive buffer
        tp.rcvNxt = seqAdd(tp.rcvNxt, data.length);
        tp.rcvAdv = tp.rcvNxt;
      }
      if (!this.childEstablished(c)) {
        l.incomplete.delete(c);
        c.parent = undefined;
        tcpDrop(c, 0);
        return;
      }
    }
    timerActivate(c, 3, 0);
    tcpOutput(c);
  }

  /** A new connection for listener `l` and 4-tuple `a`, inheriting the listener's options. */
  #child(l: TcpConn, a: ConnAddrs): TcpConn {
    const c = this.newConn();
    c.version = a.version;
    c.laddr = a.laddr;
    c.lport = a.lport;
    c.faddr = a.faddr;
    c.fport = a.fport;
    c.tPort = a.tPort ?? 0;
    c.tp.tsOffset = this.tsOffsetFor(a);
    c.parent = l;
    c.rcvHiwat = l.rcvHiwat;
    c.sndHiwat = l.sndHiwat;
    c.keepalive = l.keepalive;
    c.lingerOn = l.lingerOn;
    c.lingerSecs = l.lingerSecs;
    c.oobInline = l.oobInline;
    c.ipTtl = l.ipTtl;
    c.ipTos = l.ipTos;
    c.userMss = l.userMss;
    c.maxUnack = l.maxUnack;
    c.synRetries = l.synRetries;
    c.reuseAddr = l.reuseAddr;
    c.reusePort = l.reusePort;
    const tp = c.tp;
    tp.tFlags |= l.tp.tFlags & (0x4 | 0x8); // TF_NODELAY, TF_NOOPT inherited
    tp.tKeepidle = l.tp.tKeepidle;
    tp.tKeepintvl = l.tp.tKeepintvl;
    tp.tKeepcnt = l.tp.tKeepcnt;
    tp.tKeepinit = l.tp.tKeepinit;
    return c;
  }

  // ---- ICMP ----

  /** An ICMP error quoting a segment; true when it is one of a connection's in flight. */
  icmpError(e: IcmpErrorInfo, tPort = 0): boolean {
    if (e.quoted.length < 8) return false;
    const dv = new DataView(e.quoted.buffer, e.quoted.byteOffset, e.quoted.byteLength);
    const sport = dv.getUint16(0);
    const dport = dv.getUint16(2);
    const seq = dv.getUint32(4);
    const c = this.conns.get(key(e.version, e.src, sport, e.dst, dport));
    if (c === undefined || c.tPort !== tPort) {
      this.count("tcp.icmp.noConn");
      return false;
    }
    this.touch(c);
    const tp = c.tp;
    // RFC 5927 §4.1: the quoted sequence number must be in flight.
    if (!(seqGeq(seq, tp.sndUna) && seqLt(seq, tp.sndMax))) {
      this.count("tcp.icmp.badSeq");
      return false;
    }
    this.#icmpForConn(c, e);
    return true;
  }

  #icmpForConn(c: TcpConn, e: IcmpErrorInfo): void {
    const tp = c.tp;
    const isV4 = e.version === 4;
    // Packet too big / fragmentation needed (RFC 1191, RFC 8201).
    if ((isV4 && e.type === 3 && e.code === 4) || (!isV4 && e.type === 2)) {
      if (!this.num("net.inet.tcp.path_mtu_discovery") || e.mtu === undefined) return;
      const mss = e.mtu - (isV4 ? 40 : 60) -
        (c.tPort ? this.num("net.inet.tcp.udp_tunneling_overhead") : 0);
      if (!isV4 && tp.state === TCPS_SYN_SENT && mss > 0 && mss < tp.tMaxopd) {
        // The next SYN offers what fits the smaller path (IPv6 minimum MTU 1280 bounds it).
        tp.tMaxopd = Math.max(mss, 1220);
        this.count("tcp.icmp.pmtuSyn");
        return;
      }
      if (mss > 0 && mss < tp.tMaxseg && tp.state !== TCPS_SYN_SENT) {
        tp.tMaxseg = Math.max(mss, this.num("net.inet.tcp.minmss"));
        tp.sndNxt = tp.sndUna;
        this.count("tcp.icmp.pmtu");
        tcpOutput(c);
      }
      return;
    }
    if (tp.state === TCPS_SYN_SENT && this.num("net.inet.tcp.icmp_linux_errors")) {
      // Linux: connect() fails at once on any ICMP error (a host that is not there answers
      // in milliseconds, not after the SYN retries' 75 s), with Linux's errno.
      const l = linuxIcmpErrno(e.version, e.type, e.code);
      if (l !== undefined) {
        this.count("tcp.icmp.dropSynSent");
        tcpDrop(c, l.errno);
      }
      return;
    }
    let errno = 0;
    if (isV4) {
      if (
        e.type === 3 &&
        (e.code === 2 || e.code === 3 || e.code === 9 || e.code === 10 || e.code === 13)
      ) {
        errno = ECONNREFUSED;
      } else if (e.type === 11 && e.code === 0) errno = EHOSTUNREACH;
      else if (e.local && e.type === 3 && e.code === 1) errno = EHOSTUNREACH;
    } else {
      if (e.type === 1 && (e.code === 1 || e.code === 4)) errno = ECONNREFUSED;
      else if (e.type === 3 && e.code === 0) errno = EHOSTUNREACH;
      else if (e.local && e.type === 1 && e.code === 3) errno = EHOSTUNREACH;
    }
    // FreeBSD (icmp_may_rst): hard errors abort a connection attempt; everything else is a
    // soft error (RFC 5461) that does not reach the socket.
    if (errno && tp.state === TCPS_SYN_SENT && this.num("net.inet.tcp.icmp_may_rst")) {
      this.count("tcp.icmp.dropSynSent");
      tcpDrop(c, errno);
      return;
    }
    this.count("tcp.icmp.soft");
  }
}

/** The window scale FreeBSD requests: the smallest shift whose window covers sb_max. */
export function windowScaleFor(sbMax: number): number {
  let s = 0;
  while (s < TCP_MAX_WINSHIFT && (TCP_MAXWIN << s) < sbMax) s++;
  return s;
}

function isAny(a: IpAddr): boolean {
  return a === "" || a === "0.0.0.0" || a === "::";
}

export { isAny };

const reusesPort = (c: TcpConn) => c.reusePort;

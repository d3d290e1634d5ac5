/**
 * Test helpers: TCP over a fake IP layer (no Stack needed) with a scripted peer, in the
 * spirit of packetdrill: inject segments with sequence numbers relative to the peer's ISN,
 * and expect segments relative to ours.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FakeContext } from "../context.ts";
import { Timers } from "../timers.ts";
import { Sysctls } from "../sysctl.ts";
import { Counters } from "../counters.ts";
import type { IpMeta, IpOutputMeta, TransportProtocol } from "../ip/protocol.ts";
import type { TcpStack } from "./conn.ts";
import { Sockets } from "../socket/sockets.ts";
import {
  AF_INET,
  AF_INET6,
  F_SETFL,
  IPPROTO_TCP,
  O_NONBLOCK,
  SOCK_STREAM,
  type SockResult,
} from "../socket/api.ts";
import {
  buildTcp,
  flagString,
  optionSummary,
  parseTcp,
  type TcpOption,
  type TcpOptionSummary,
  type TcpRepr,
} from "../wire/tcp.ts";

/** A captured outgoing segment. */
export interface Sent {
  meta: IpOutputMeta;
  th: TcpRepr;
  to: TcpOptionSummary;
  time: number;
}

/** A fake IP layer that records what TCP sends. */
export class FakeStack implements TcpStack {
  readonly ctx: FakeContext;
  readonly timers: Timers;
  readonly sysctl = new Sysctls();
  readonly counters = new Counters();
  readonly out: Sent[] = [];
  proto: TransportProtocol | undefined;
  mtu = 1500;
  local4 = "198.18.0.2";
  local6 = "fd00:198:18::2";
  /** When set, sent segments are handed to this function instead of recorded. */
  wire: ((meta: IpOutputMeta, seg: Uint8Array) => void) | undefined;

  constructor(ctx = new FakeContext(7, 1_000_000), timers = new Timers()) {
    this.ctx = ctx;
    this.timers = timers;
  }

  registerProtocol(_p: number, p: TransportProtocol): void {
    this.proto = p;
  }
  ipOutput(meta: IpOutputMeta, payload: Uint8Array): number {
    if (this.wire) {
      this.wire(meta, payload.slice());
      return 0;
    }
    const th = parseTcp(payload.slice());
    if (typeof th === "string") throw new Error(`TCP emitted a bad segment: ${th}`);
    this.out.push({ meta, th, to: optionSummary(th.options), time: this.ctx.now() });
    return 0;
  }
  sourceFor(dst: string): string | undefined {
    return dst.includes(":") ? this.local6 : this.local4;
  }
  isLocalAddress(a: string): boolean {
    return a === this.local4 || a === this.local6;
  }
  pathMtu(_dst: string): number {
    return this.mtu;
  }
  /** TSO limit of the fake link (IP packet bytes), 0 = no TSO. */
  tso = 0;
  linkCapsFor(_dst: string) {
    return { txChecksum: false, rxChecksum: false, tso: this.tso > 0, maxSegment: this.tso };
  }
  /** Advances the clock by `ms` milliseconds, running due timers on the way. */
  advance(ms: number): void {
    const end = this.ctx.now() + Math.round(ms * 1000);
    for (;;) {
      const n = this.timers.next();
      if (n === undefined || n > end) break;
      this.ctx.set(Math.max(n, this.ctx.now()));
      this.timers.run(this.ctx.now());
    }
    this.ctx.set(end);
  }
}

/** Segment description for inject/expect, packetdrill style. */
export interface SegSpec {
  flags: string; // "S", "S.", ".", "P.", "F.", "R", "R."
  seq: number; // relative to the peer's ISN (inject) or ours (expect)
  len?: number;
  ack?: number; // relative to the other side's ISN
  win?: number;
  options?: TcpOption[];
  data?: Uint8Array;
  ecn?: number;
  urgent?: number;
}

function flagBits(f: string): number {
  let b = 0;
  for (const ch of f) {
    if (ch === "S") b |= 0x02;
    else if (ch === "F") b |= 0x01;
    else if (ch === "R") b |= 0x04;
    else if (ch === "P") b |= 0x08;
    else if (ch === ".") b |= 0x10;
    else if (ch === "U") b |= 0x20;
    else if (ch === "E") b |= 0x40;
    else if (ch === "W") b |= 0x80;
  }
  return b;
}

/** A scripted peer talking to the engine through a FakeStack. */
export class ScriptPeer {
  readonly stack = new FakeStack();
  readonly sockets: Sockets;
  version: 4 | 6 = 4;
  remote = "198.18.0.1";
  remotePort = 40000;
  localPort = 8080;
  /** The peer's ISN and ours (learnt from the first SYN we see). */
  peerIsn = 1000;
  ourIsn = 0;

  constructor(version: 4 | 6 = 4) {
    this.version = version;
    if (version === 6) this.remote = "fd00:198:18::1";
    this.sockets = new Sockets(this.stack);
  }

  get local(): string {
    return this.version === 6 ? this.stack.local6 : this.stack.local4;
  }

  get family(): typeof AF_INET | typeof AF_INET6 {
    return this.version === 6 ? AF_INET6 : AF_INET;
  }

  /** socket + O_NONBLOCK. */
  socket(): number {
    const fd = value(this.sockets.socket(this.family, SOCK_STREAM, IPPROTO_TCP));
    value(this.sockets.fcntl(fd, F_SETFL, O_NONBLOCK));
    return fd;
  }

  /** A listening socket on localPort. */
  listen(backlog = 1): number {
    const fd = this.socket();
    value(this.sockets.bind(fd, { family: this.family, addr: this.local, port: this.localPort }));
    value(this.sockets.listen(fd, backlog));
    return fd;
  }

  /** A non-blocking connect; learns our ISN and port from the SYN. */
  connect(): { fd: number; syn: Sent } {
    const fd = this.socket();
    const r = this.sockets.connect(fd, { family: this.family, addr: this.remote, port: 8080 });
    assert.equal(r.errno, 115, "connect should return EINPROGRESS");
    const syn = this.next();
    this.ourIsn = syn.th.seq;
    this.localPort = syn.th.srcPort;
    this.remotePort = syn.th.dstPort;
    return { fd, syn };
  }

  /** Injects a segment from the peer. */
  inject(s: SegSpec): void {
    const data = s.data ?? new Uint8Array(s.len ?? 0);
    const th: TcpRepr = {
      srcPort: this.remotePort,
      dstPort: this.localPort,
      seq: (this.peerIsn + s.seq) >>> 0,
      ack: s.ack === undefined ? 0 : (this.ourIsn + s.ack) >>> 0,
      flags: flagBits(s.flags),
      window: s.win ?? 65535,
      urgent: s.urgent ?? 0,
      options: s.options ?? [],
      payload: data,
    };
    const meta: IpMeta = {
      version: this.version,
      src: this.remote,
      dst: this.local,
      proto: 6,
      ttl: 64,
      ecn: s.ecn ?? 0,
      ifIndex: 1,
    };
    const seg = buildTcp(th);
    this.stack.proto!.input(meta, seg);
    // The segment is only valid during input(): a NIC reuses its buffer (Stack copyRx false),
    // so anything the engine kept as a view of it shows up as scribbled bytes.
    seg.fill(0xa5);
  }

  /** The next segment the engine sent (fails when none). */
  next(): Sent {
    const s = this.stack.out.shift();
    assert.ok(s, "expected a segment, none was sent");
    return s;
  }

  /** Asserts the next segment matches (seq/ack relative). Returns it. */
  expect(s: SegSpec): Sent {
    const got = this.next();
    const th = got.th;
    const desc = `${flagString(th.flags)} ${(th.seq - this.ourIsn) >>> 0}:${
      ((th.seq - this.ourIsn) >>> 0) + th.payload.length
    }(${th.payload.length}) ack ${(th.ack - this.peerIsn) >>> 0} win ${th.window}`;
    assert.equal(flagString(th.flags & 0xdf), flagString(flagBits(s.flags)), `flags of ${desc}`);
    assert.equal((th.seq - this.ourIsn) >>> 0, s.seq >>> 0, `seq of ${desc}`);
    if (s.ack !== undefined) {
      assert.equal((th.ack - this.peerIsn) >>> 0, s.ack >>> 0, `ack of ${desc}`);
    }
    if (s.len !== undefined) assert.equal(th.payload.length, s.len, `len of ${desc}`);
    if (s.win !== undefined) assert.equal(th.window, s.win, `win of ${desc}`);
    if (s.options !== undefined) {
      assert.deepEqual(th.options.filter((o) => o.kind !== "eol"), s.options, `options of ${desc}`);
    }
    return got;
  }

  /** Asserts nothing was sent. */
  expectNone(): void {
    const s = this.stack.out[0];
    assert.equal(
      s,
      undefined,
      s ? `unexpected segment ${flagString(s.th.flags)} seq ${s.th.seq}` : "",
    );
  }

  /** Completes a passive open on a listener: SYN in, SYN-ACK out, ACK in, accept. */
  passiveOpen(listenFd: number, synOpts: TcpOption[] = [{ kind: "mss", mss: 1460 }]): number {
    this.inject({ flags: "S", seq: 0, options: synOpts });
    const sa = this.next();
    this.ourIsn = sa.th.seq;
    this.inject({ flags: ".", seq: 1, ack: 1 });
    return value(this.sockets.accept(listenFd)).fd;
  }

  /** Completes an active open: connect, SYN-ACK in, ACK out. */
  activeOpen(synAckOpts: TcpOption[] = [{ kind: "mss", mss: 1460 }]): number {
    const { fd } = this.connect();
    this.inject({ flags: "S.", seq: 0, ack: 1, win: 32767, options: synAckOpts });
    this.expect({ flags: ".", seq: 1, ack: 1 });
    return fd;
  }
}

/** The value of a result, failing the test on an errno. */
export function value<T>(r: SockResult<T>): T {
  if (r.errno !== undefined) throw new Error(`unexpected errno ${r.errno}`);
  return r.value as T;
}

/** Link behaviour for {@link TwoHosts}. */
export interface LinkSpec {
  /** One-way delay, ms. */
  delayMs: number;
  /** Extra random delay up to this many ms (reorders). */
  jitterMs?: number;
  /** Drop probability 0..1. */
  loss?: number;
  /** Duplication probability 0..1. */
  dup?: number;
}

/**
 * Two TCPs (198.18.0.1 "a" and 198.18.0.2 "b") joined by a seeded lossy link, sharing one
 * fake clock and timer heap, each with its own socket layer.
 */
export class TwoHosts {
  readonly ctx: FakeContext;
  readonly timers = new Timers();
  readonly a: FakeStack;
  readonly b: FakeStack;
  readonly sa: Sockets;
  readonly sb: Sockets;
  #seed: number;
  delivered = 0;
  dropped = 0;

  constructor(seed: number, link: LinkSpec) {
    this.#seed = seed >>> 0 || 1;
    this.ctx = new FakeContext(seed, 1_000_000);
    this.a = new FakeStack(this.ctx, this.timers);
    this.b = new FakeStack(this.ctx, this.timers);
    this.a.local4 = "198.18.0.1";
    this.b.local4 = "198.18.0.2";
    this.sa = new Sockets(this.a);
    this.sb = new Sockets(this.b);
    const join = (from: FakeStack, to: FakeStack) => {
      from.wire = (meta, seg) => {
        if (this.#rand() < (link.loss ?? 0)) {
          this.dropped++;
          return;
        }
        const copies = this.#rand() < (link.dup ?? 0) ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          const d = link.delayMs + this.#rand() * (link.jitterMs ?? 0);
          const at = this.ctx.now() + Math.round(d * 1000);
          this.timers.schedule(at, () => {
            this.delivered++;
            to.proto!.input({
              version: meta.version,
              src: meta.src ?? from.local4,
              dst: meta.dst,
              proto: 6,
              ttl: 64,
              ecn: meta.ecn ?? 0,
              ifIndex: 1,
            }, seg);
          });
        }
      };
    };
    join(this.a, this.b);
    join(this.b, this.a);
  }

  #rand(): number {
    let x = this.#seed;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.#seed = x;
    return x / 0x100000000;
  }

  /** Runs events until `done()` or `maxSteps` timer events; `each` runs after every event. */
  run(done: () => boolean, each: () => void, maxSteps = 200000): boolean {
    for (let i = 0; i < maxSteps; i++) {
      each();
      if (done()) return true;
      const n = this.timers.next();
      if (n === undefined) return done();
      this.ctx.set(Math.max(n, this.ctx.now()));
      this.timers.run(this.ctx.now());
    }
    return done();
  }
}

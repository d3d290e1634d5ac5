/**
 * Runs a parsed script against a {@link Host} in virtual time.
 *
 * Script time 0 is the host's time when the run starts. Each event waits for its time (timers
 * of the engine run on the way), then: an inbound packet is built and injected; an outbound
 * packet is taken from the link (waiting up to the tolerance for it) and compared field by
 * field; a system call goes to the socket API and its result is compared; a `sysctl -w` goes to
 * the stack's sysctls. The first mismatch ends the run with "fail"; something the runner cannot
 * do ends it with "error".
 *
 * @module
 */

import type { Expr, Script, ScriptEvent, SyscallSpec, TcpPacketSpec } from "./ast.ts";
import type { Captured, Host } from "./host.ts";
import {
  bitsToFlags,
  buildInboundIcmp,
  buildInboundTcp,
  ecnValue,
  type Endpoints,
  flagsToBits,
  formatOptions,
  formatOutbound,
  type OutPacket,
  parseOutbound,
  type SeqMap,
  UnsupportedError,
} from "./packet.ts";
import * as api from "../engine/socket/api.ts";
import { EAGAIN, errnoFromName, errnoName } from "../engine/errno.ts";
import {
  constant,
  KNOWN_OPTIONS,
  PYTHON_RE,
  SOCKSTAT_RE,
  SOCKSTAT_STATES,
  SYSCTL_RE,
  TCPDROP_RE,
  TCPI_STATES,
  unsupportedFeatures,
} from "./support.ts";

export { SOCKSTAT_STATES, SUPPORTED_CALLS, unsupportedFeatures } from "./support.ts";

/** The outcome of one script. */
export interface RunResult {
  result: "pass" | "fail" | "error";
  reason?: string;
  /** 1-based line of the event that failed, if any. */
  line?: number;
}

/** Addresses of the runner's side and the engine's side. */
export const ADDRS = {
  v4: { local: "198.18.0.2", remote: "198.18.0.1" },
  v6: { local: "fd00:198:18::2", remote: "fd00:198:18::1" },
};

/** Default ports (packetdrill's): the engine listens on / connects to 8080. */
export const BIND_PORT = 8080;
export const CONNECT_PORT = 8080;
/** The port the script's remote side uses for connections it opens. */
export const REMOTE_EPHEMERAL_PORT = 40123;

class Fail extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
  }
}
class Unsupported extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
  }
}

interface Pending {
  ev: ScriptEvent;
  call: SyscallSpec;
  retry: () => api.SockResult<unknown>;
  finish: (r: api.SockResult<unknown>) => void;
  /** Expected completion time (absolute, host clock). */
  expectEnd: number;
  /** When the call gives up by itself (poll's timeout), if it does. */
  deadline?: number;
}

/** Runs `script` on `host`. Never throws for script problems; returns the outcome. */
export function runScript(script: Script, host: Host): RunResult {
  try {
    new Executor(script, host).run();
    return { result: "pass" };
  } catch (e) {
    if (e instanceof Fail) {
      return { result: "fail", reason: `line ${e.line}: ${e.message}`, line: e.line };
    }
    if (e instanceof Unsupported) {
      return { result: "error", reason: `line ${e.line}: ${e.message}`, line: e.line };
    }
    return { result: "error", reason: `runner error: ${(e as Error).stack ?? e}` };
  }
}

class Executor {
  readonly tol: number;
  readonly version: 4 | 6;
  readonly ep: Endpoints;
  readonly map: SeqMap = { localIsn: 0, tsOffset: 0 };
  isnKnown = false;
  tsKnown = false;
  /** Learn the ISN from the next outbound SYN (set at start, on socket() and inbound SYN). */
  isnLearnable = true;
  readonly t0: number;
  queue: (Captured & { n: number })[] = [];
  /** Outbound ICMP errors seen and skipped. */
  icmpIgnored = 0;
  /** Packets captured so far (each gets its number). */
  captured = 0;
  /** Number of packets captured before the current event started. */
  mark = 0;
  pending?: Pending;
  /** The socket under test (for %{ }%): the last one socket() or accept() returned. */
  lastFd = -1;
  nonFatalSyscall = false;
  readonly fds = new Set<number>();
  readonly family: number;
  /** --ip_version=ipv4-mapped-ipv6. */
  mapped = false;

  constructor(readonly script: Script, readonly host: Host) {
    const o = script.options;
    for (const k of o.keys()) {
      if (!KNOWN_OPTIONS.has(k)) throw new Unsupported(1, `unknown option --${k}`);
    }
    const ipv = o.get("ip_version") ?? "ipv4";
    if (ipv === "ipv4") this.version = 4;
    else if (ipv === "ipv6") this.version = 6;
    else if (ipv === "ipv4-mapped-ipv6") {
      // AF_INET6 sockets with ::ffff:a.b.c.d addresses; IPv4 on the wire.
      this.version = 4;
      this.mapped = true;
    } else throw new Unsupported(1, `bad --ip_version=${ipv}`);
    this.family = this.version === 4 && !this.mapped ? api.AF_INET : api.AF_INET6;
    this.tol = parseInt(o.get("tolerance_usecs") ?? "4000");
    const a = this.version === 4 ? ADDRS.v4 : ADDRS.v6;
    this.ep = {
      version: this.version,
      localIp: a.local,
      remoteIp: a.remote,
      localPort: parseInt(o.get("bind_port") ?? String(BIND_PORT)),
      remotePort: REMOTE_EPHEMERAL_PORT,
    };
    if (o.has("local_ip") || o.has("remote_ip")) {
      throw new Unsupported(1, "--local_ip/--remote_ip: the runner uses fixed addresses");
    }
    this.nonFatalSyscall = (o.get("non_fatal") ?? "").split(",").includes("syscall");
    this.t0 = host.now();
  }

  // ---- time ---------------------------------------------------------------------------------

  /** Advances to `t`, collecting packets and retrying a blocked call after each timer. */
  advance(t: number): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      let d = this.host.nextDeadline();
      const pd = this.pending?.deadline;
      if (pd !== undefined && pd !== Infinity && (d === undefined || pd < d)) d = pd;
      const now = this.host.now();
      const step = d !== undefined && d < t ? Math.max(d, now) : t;
      if (step >= now) this.host.advanceTo(step);
      this.collect();
      this.retryPending();
      if (step >= t) return;
    }
    throw new Error("engine timers do not make progress (a timer keeps firing at one time)");
  }

  collect(): void {
    for (const c of this.host.takeOutput()) {
      // The suite's scripts never list the ICMP errors a stack sends (FreeBSD answers UDP to a
      // closed port, e.g. a wrong tunnel port, with one), so they are not matched.
      if (isIcmpError(c.bytes)) {
        this.icmpIgnored++;
        continue;
      }
      this.queue.push({ ...c, n: this.captured++ });
    }
  }

  run(): void {
    const problems = unsupportedFeatures(this.script);
    if (problems.length) {
      const p = problems[0];
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
      throw new Unsupported(p.line, `not supported: ${p.reason}${more}`);
    }
    let prev = this.t0;
    const evs = this.script.events;
    // The trailing run of events without packet lines (cleanup: close, sysctl resets): what
    // they cause is not checked, as the script lists no packets after them.
    let cleanupFrom = evs.length;
    while (cleanupFrom > 0 && isCleanup(evs[cleanupFrom - 1])) cleanupFrom--;
    for (const [i, ev] of evs.entries()) {
      const tm = ev.time;
      let at: number;
      let endAt: number | undefined;
      if (tm.kind === "any") at = this.host.now();
      else {
        at = tm.relative ? prev + tm.start : this.t0 + tm.start;
        if (tm.end !== undefined) endAt = tm.endRelative ? prev + tm.end : this.t0 + tm.end;
      }
      // An absolute time in the past (scripts sometimes restart at 0): run now.
      if (at < this.host.now() && ev.body.type !== "packet") at = Math.max(at, this.host.now());
      const b = ev.body;
      if (b.type === "packet" && b.dir === ">") {
        this.collect();
        this.mark = this.captured;
        const actual = this.expectOutbound(
          ev,
          b.packet as TcpPacketSpec,
          tm.kind === "any" ? undefined : at,
          endAt,
        );
        prev = tm.kind === "any" || (tm.kind === "at" && tm.relative) ? actual : at;
        continue;
      }
      if (at > this.host.now()) this.advance(at);
      else this.collect();
      if (i <= cleanupFrom) this.mark = this.captured;
      if (b.type === "packet") this.inbound(ev);
      else if (b.type === "syscall") this.syscall(ev, b.call, at, endAt);
      else if (b.type === "command") this.command(ev, b.command);
      else this.python(ev, b.code);
      this.collect();
      this.retryPending();
      // After a blocking call (`a...b`) the next relative time counts from its start.
      prev = at;
    }
    // Without a cleanup tail, whatever the last packet line caused must be listed too.
    this.collect();
    if (cleanupFrom === evs.length) this.mark = this.captured;
    this.finish();
  }

  finish(): void {
    if (this.pending) {
      const p = this.pending;
      this.advance(p.expectEnd + this.tol);
      if (this.pending) {
        throw new Fail(p.ev.line, `${p.call.name}() did not return by the expected time`);
      }
    }
    this.collect();
    // Packets sent before the last event (or the trailing cleanup events) started and matched by
    // no line are unexpected; what those events caused (a FIN after the final close) is not.
    const extra = this.queue.find((c) => c.n < this.mark);
    if (extra) {
      const p = parseOutbound(extra.bytes);
      const line = this.script.events.at(-1)?.line ?? 1;
      throw new Fail(
        line,
        `unexpected outbound packet at ${fmtTime(extra.time - this.t0)}: ${
          formatOutbound(p, this.map)
        }`,
      );
    }
  }

  // ---- packets ------------------------------------------------------------------------------

  inbound(ev: ScriptEvent): void {
    if (ev.body.type !== "packet") return;
    const spec = ev.body.packet;
    let bytes: Uint8Array;
    try {
      if (spec.type === "icmp") bytes = buildInboundIcmp(spec, this.ep, this.map);
      else {
        const flags = flagsToBits(spec.flags);
        if ((flags & 0x02) && !(flags & 0x10)) {
          // A new connection from the remote side: the engine will choose a new ISN.
          this.isnLearnable = true;
        }
        bytes = buildInboundTcp(spec, this.ep, this.map);
      }
    } catch (e) {
      if (e instanceof UnsupportedError) throw new Unsupported(ev.line, e.message);
      throw e;
    }
    this.host.inject(bytes);
  }

  /** Takes the next outbound packet and compares it. Returns its (host) time. */
  expectOutbound(
    ev: ScriptEvent,
    spec: TcpPacketSpec,
    at: number | undefined,
    endAt: number | undefined,
  ): number {
    const lo = at === undefined ? -Infinity : at - this.tol;
    const hi = at === undefined ? Infinity : (endAt ?? at) + this.tol;
    this.collect();
    // Wait for a packet: run timers up to the end of the window.
    for (let guard = 0; this.queue.length === 0 && guard < 1_000_000; guard++) {
      const d = this.host.nextDeadline();
      if (d === undefined || d > hi) break;
      this.advance(Math.max(d, this.host.now()));
    }
    if (this.queue.length === 0 && hi !== Infinity && this.host.now() < hi) this.advance(hi);
    const c = this.queue.shift();
    if (!c) {
      throw new Fail(
        ev.line,
        `expected outbound ${describeSpec(spec)} at ${fmtTime((at ?? 0) - this.t0)}, none sent`,
      );
    }
    const p = parseOutbound(c.bytes);
    const actualText = formatOutbound(p, this.isnKnown ? this.map : undefined);
    if (c.time < lo || c.time > hi) {
      throw new Fail(
        ev.line,
        `outbound packet timing: expected at ${fmtTime((at ?? 0) - this.t0)} (±${
          this.tol / 1e6
        }s), sent at ${fmtTime(c.time - this.t0)}: ${actualText}`,
      );
    }
    let why: string | undefined;
    try {
      why = this.compare(spec, p);
    } catch (e) {
      if (e instanceof UnsupportedError) throw new Unsupported(ev.line, e.message);
      throw e;
    }
    if (why) {
      throw new Fail(
        ev.line,
        `${why}\n    expected: ${describeSpec(spec)}\n    actual:   ${
          formatOutbound(p, this.isnKnown ? this.map : undefined)
        }`,
      );
    }
    // Everything before this packet is now in the past for the engine too.
    if (this.host.now() < c.time) this.advance(c.time);
    return c.time;
  }

  /** Compares an outbound packet with the script; returns a reason or undefined. */
  compare(spec: TcpPacketSpec, p: OutPacket): string | undefined {
    if (!p.tcp) return `outbound packet not TCP: ${p.error}`;
    const t = p.tcp;
    if (p.version !== this.version) return `IP version ${p.version}, expected ${this.version}`;
    if (p.src !== this.ep.localIp || p.dst !== this.ep.remoteIp) {
      return `addresses ${p.src} > ${p.dst}, expected ${this.ep.localIp} > ${this.ep.remoteIp}`;
    }
    if (!t.checksumOk) return "bad TCP checksum";
    if (spec.udp) {
      if (!p.udp) return `expected UDP encapsulation /udp(${spec.udp.src} > ${spec.udp.dst})`;
      if (p.udp.src !== spec.udp.src || p.udp.dst !== spec.udp.dst) {
        return `UDP ports ${p.udp.src} > ${p.udp.dst}, expected ${spec.udp.src} > ${spec.udp.dst}`;
      }
    } else if (p.udp) return "unexpected UDP encapsulation";
    const want = flagsToBits(spec.flags);
    if (t.flags !== want) return `flags ${bitsToFlags(t.flags)}, expected ${spec.flags}`;
    const isSyn = (t.flags & 0x02) !== 0;
    // Ports: the engine's port is learnt from its SYN on an active open.
    if (isSyn && !(t.flags & 0x10)) {
      this.ep.localPort = t.srcPort;
      this.ep.remotePort = t.dstPort;
    }
    if (t.srcPort !== this.ep.localPort || t.dstPort !== this.ep.remotePort) {
      return `ports ${t.srcPort} > ${t.dstPort}, expected ${this.ep.localPort} > ${this.ep.remotePort}`;
    }
    if (spec.seq === undefined || (isSyn && this.isnLearnable && !spec.seqAbsolute)) {
      if (isSyn && spec.seq !== undefined) {
        this.map.localIsn = (t.seq - spec.seq) >>> 0;
        this.isnKnown = true;
        this.isnLearnable = false;
      } else if (isSyn) {
        this.map.localIsn = t.seq;
        this.isnKnown = true;
        this.isnLearnable = false;
      }
    } else {
      const exp = spec.seqAbsolute ? spec.seq >>> 0 : (spec.seq + this.map.localIsn) >>> 0;
      if (t.seq !== exp) {
        return `seq ${
          (t.seq - (spec.seqAbsolute ? 0 : this.map.localIsn)) >>> 0
        }, expected ${spec.seq}`;
      }
    }
    if (t.payloadLen !== spec.len) return `payload length ${t.payloadLen}, expected ${spec.len}`;
    if (spec.ack !== undefined && (t.flags & 0x10) && t.ack !== spec.ack >>> 0) {
      return `ack ${t.ack}, expected ${spec.ack}`;
    }
    if (spec.win !== undefined && t.win !== spec.win) return `win ${t.win}, expected ${spec.win}`;
    if (spec.ecn) {
      const ecn = p.tos & 3;
      if (!ecnValue(spec.ecn).includes(ecn)) return `ECN bits ${ecn}, expected [${spec.ecn}]`;
    }
    if (spec.ip?.ttl !== undefined && p.ttl !== spec.ip.ttl) {
      return `TTL/hop limit ${p.ttl}, expected ${spec.ip.ttl}`;
    }
    if (spec.ip?.tos !== undefined && p.tos !== spec.ip.tos) {
      return `TOS/traffic class 0x${p.tos.toString(16)}, expected 0x${spec.ip.tos.toString(16)}`;
    }
    if (spec.options === "any") return undefined;
    const exp = spec.options ?? [];
    const act = t.options;
    // Learn the TS offset from the first outbound timestamp.
    for (const o of act) {
      if (o.kind !== "ts") continue;
      const so = exp.find((x) => x.kind === "ts");
      if (so && so.kind === "ts" && (!this.tsKnown || isSyn)) {
        this.map.tsOffset = (o.val - so.val) >>> 0;
        this.tsKnown = true;
      }
    }
    if (exp.some((o) => o.kind === "md5")) {
      throw new UnsupportedError("TCP MD5 signatures (md5 valid) are not supported");
    }
    const mismatch = () => `options <${formatOptions(act)}>, expected <${formatOptions(exp)}>`;
    if (exp.length !== act.length) return mismatch();
    for (let i = 0; i < exp.length; i++) {
      const e = exp[i], a = act[i];
      if (e.kind !== a.kind) return mismatch();
      switch (e.kind) {
        case "mss":
        case "wscale":
          if (a.kind === e.kind && a.value !== e.value) return mismatch();
          break;
        case "ts":
          // TS val is the engine's clock (offset learnt above); ecr echoes the remote's val.
          if (a.kind === "ts" && a.ecr !== e.ecr) return mismatch();
          break;
        case "sack":
          if (a.kind !== "sack" || a.blocks.length !== e.blocks.length) return mismatch();
          for (let j = 0; j < e.blocks.length; j++) {
            if (a.blocks[j][0] !== e.blocks[j][0] || a.blocks[j][1] !== e.blocks[j][1]) {
              return mismatch();
            }
          }
          break;
        case "fo":
          if (a.kind !== "fo" || a.cookie.length !== e.cookie.length) return mismatch();
          if (a.cookie.some((x, j) => x !== e.cookie[j])) return mismatch();
          break;
      }
    }
    return undefined;
  }

  // ---- system calls -------------------------------------------------------------------------

  value(ev: ScriptEvent, e: Expr): number {
    switch (e.kind) {
      case "num":
        return e.value;
      case "ident": {
        const v = constant(e.name);
        if (v === undefined) throw new Unsupported(ev.line, `unknown constant ${e.name}`);
        if (v < 0) throw new Unsupported(ev.line, `${e.name} is not supported by the engine`);
        return v;
      }
      case "or":
        return e.items.reduce((acc, x) => acc | this.value(ev, x), 0);
      default:
        throw new Unsupported(ev.line, `expected a number, got ${e.kind}`);
    }
  }

  fdArg(ev: ScriptEvent, call: SyscallSpec): number {
    return this.value(ev, call.args[0] ?? { kind: "ellipsis" });
  }

  sockaddr(port: number, addr: string): api.SockAddr {
    return { family: this.family as 2 | 10, addr: this.mapped ? `::ffff:${addr}` : addr, port };
  }

  syscall(ev: ScriptEvent, call: SyscallSpec, at: number, endAt: number | undefined): void {
    const s = this.host.sockets;
    const A = call.args;
    const n = (i: number) => this.value(ev, A[i] ?? { kind: "num", value: 0 });
    let invoke: () => api.SockResult<unknown>;
    let check: (r: api.SockResult<unknown>) => void = (r) => this.checkRet(ev, call, r, 0);
    let pollDeadline: number | undefined;
    switch (call.name) {
      case "socket": {
        const domain = A[0]?.kind === "ellipsis" ? this.family : n(0);
        invoke = () => s.socket(domain, n(1), n(2));
        check = (r) => {
          this.checkRet(ev, call, r, r.value as number);
          if (r.value !== undefined) {
            this.lastFd = r.value as number;
            this.fds.add(r.value as number);
            this.isnLearnable = true;
          }
        };
        break;
      }
      case "bind": {
        const fd = this.fdArg(ev, call);
        const port = parseInt(this.script.options.get("bind_port") ?? String(BIND_PORT));
        invoke = () => s.bind(fd, this.sockaddr(port, this.ep.localIp));
        check = (r) => {
          this.checkRet(ev, call, r, 0);
          // Passive side from now on: the script's peer connects from its own port.
          this.ep.localPort = port;
          this.ep.remotePort = REMOTE_EPHEMERAL_PORT;
        };
        break;
      }
      case "listen": {
        const fd = this.fdArg(ev, call);
        invoke = () => s.listen(fd, n(1));
        break;
      }
      case "accept": {
        const fd = this.fdArg(ev, call);
        invoke = () => s.accept(fd);
        check = (r) => {
          const v = r.value as api.AcceptValue | undefined;
          this.checkRet(ev, call, r, v?.fd ?? 0);
          if (v) {
            this.lastFd = v.fd;
            this.fds.add(v.fd);
          }
        };
        break;
      }
      case "connect": {
        const fd = this.fdArg(ev, call);
        const port = parseInt(this.script.options.get("connect_port") ?? String(CONNECT_PORT));
        invoke = () => s.connect(fd, this.sockaddr(port, this.ep.remoteIp));
        check = (r) => {
          this.learnLocalPort(fd, port);
          this.checkRet(ev, call, r, 0);
        };
        break;
      }
      case "write":
      case "send":
      case "sendto": {
        const fd = this.fdArg(ev, call);
        const len = n(2);
        const flags = call.name === "write" ? 0 : n(3);
        let to: api.SockAddr | undefined;
        const port = parseInt(this.script.options.get("connect_port") ?? String(CONNECT_PORT));
        if (call.name === "sendto" && A[4] && A[4].kind === "ellipsis") {
          to = this.sockaddr(port, this.ep.remoteIp);
        }
        const data = new Uint8Array(len);
        for (let i = 0; i < len; i++) data[i] = 0x30 + (i % 10);
        invoke = () => s.send(fd, data, flags, to);
        check = (r) => {
          if (to) this.learnLocalPort(fd, port);
          this.checkRet(ev, call, r, r.value as number);
        };
        break;
      }
      case "read":
      case "recv":
      case "recvfrom": {
        const fd = this.fdArg(ev, call);
        const len = n(2);
        const flags = call.name === "read" ? 0 : n(3);
        invoke = () => s.recv(fd, len, flags);
        check = (r) => {
          const v = r.value as api.RecvValue | undefined;
          this.checkRet(ev, call, r, v?.data.length ?? 0);
        };
        break;
      }
      case "shutdown": {
        const fd = this.fdArg(ev, call);
        invoke = () => s.shutdown(fd, n(1));
        break;
      }
      case "close": {
        const fd = this.fdArg(ev, call);
        invoke = () => s.close(fd);
        check = (r) => {
          this.checkRet(ev, call, r, 0);
          if (r.errno === undefined) this.fds.delete(fd);
        };
        break;
      }
      case "fcntl": {
        const fd = this.fdArg(ev, call);
        const cmd = n(1);
        const arg = A.length > 2 ? n(2) : undefined;
        invoke = () => s.fcntl(fd, cmd, arg);
        check = (r) => this.checkRet(ev, call, r, r.value as number);
        break;
      }
      case "setsockopt": {
        const fd = this.fdArg(ev, call);
        const level = n(1), name = n(2);
        const v = this.optValue(ev, A[3]);
        invoke = () => s.setsockopt(fd, level, name, v);
        break;
      }
      case "getsockopt": {
        const fd = this.fdArg(ev, call);
        const level = n(1), name = n(2);
        invoke = () => s.getsockopt(fd, level, name);
        check = (r) => {
          this.checkRet(ev, call, r, 0);
          if (r.value !== undefined) {
            this.checkOptValue(ev, call, A[3], r.value as api.SockOptValue);
          }
        };
        break;
      }
      case "writev":
      case "sendmsg": {
        const fd = this.fdArg(ev, call);
        const len = iovLength(ev, call.name === "writev" ? A[1] : structField(A[1], "msg_iov"));
        const flags = call.name === "sendmsg" ? n(2) : 0;
        const data = new Uint8Array(len).fill(0x41);
        invoke = () => s.send(fd, data, flags);
        check = (r) => this.checkRet(ev, call, r, r.value as number);
        break;
      }
      case "readv":
      case "recvmsg": {
        const fd = this.fdArg(ev, call);
        const len = iovLength(ev, call.name === "readv" ? A[1] : structField(A[1], "msg_iov"));
        const flags = call.name === "recvmsg" ? n(2) : 0;
        invoke = () => s.recv(fd, len, flags);
        check = (r) => {
          const v = r.value as api.RecvValue | undefined;
          this.checkRet(ev, call, r, v?.data.length ?? 0);
        };
        break;
      }
      case "poll": {
        const list = A[0];
        if (!list || list.kind !== "array") {
          throw new Unsupported(ev.line, "poll() needs an array of pollfd structs");
        }
        const pfds = list.items.map((it) => {
          const fdE = structField(it, "fd"), evE = structField(it, "events");
          if (!fdE || !evE) throw new Unsupported(ev.line, "pollfd needs fd and events");
          const rev = structField(it, "revents");
          return {
            fd: this.value(ev, fdE),
            events: this.value(ev, evE),
            revents: rev && rev.kind !== "ellipsis" ? this.value(ev, rev) : undefined,
          };
        });
        const timeoutMs = n(2);
        const start = this.host.now();
        const deadline = timeoutMs < 0 ? Infinity : start + timeoutMs * 1000;
        let got: number[] = [];
        invoke = () => {
          got = pfds.map((p) =>
            s.poll(p.fd) & (p.events | api.POLLERR | api.POLLHUP | api.POLLNVAL)
          );
          const ready = got.filter((x) => x !== 0).length;
          if (ready === 0 && this.host.now() < deadline) return api.block(EAGAIN, 0);
          return { value: ready };
        };
        pollDeadline = deadline;
        check = (r) => {
          this.checkRet(ev, call, r, r.value as number);
          pfds.forEach((p, i) => {
            if (p.revents !== undefined && got[i] !== p.revents) {
              throw new Fail(
                ev.line,
                `poll() revents of fd ${p.fd} 0x${got[i].toString(16)}, expected 0x${
                  p.revents.toString(16)
                }`,
              );
            }
          });
        };
        break;
      }
      case "getsockname":
      case "getpeername": {
        const fd = this.fdArg(ev, call);
        invoke = () => call.name === "getsockname" ? s.getsockname(fd) : s.getpeername(fd);
        break;
      }
      default:
        throw new Unsupported(ev.line, `system call ${call.name}() is not supported`);
    }
    if (this.pending) {
      throw new Unsupported(ev.line, `${call.name}() while another call is blocked`);
    }
    const r = invoke();
    if (r.errno !== undefined && r.wouldBlock) {
      const expectEnd = endAt ?? at;
      this.pending = { ev, call, retry: invoke, finish: check, expectEnd, deadline: pollDeadline };
      if (endAt === undefined) {
        // Not written as blocking: it must return within the tolerance.
        this.advance(at + this.tol);
        if (this.pending) {
          throw new Fail(ev.line, `${call.name}() blocked; expected it to return at once`);
        }
      }
      return;
    }
    if (endAt !== undefined && Math.abs(this.host.now() - endAt) > this.tol) {
      throw new Fail(
        ev.line,
        `${call.name}() returned at once; expected it to block until ${fmtTime(endAt - this.t0)}`,
      );
    }
    this.guard(() => check(r));
  }

  guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof Fail && this.nonFatalSyscall) return;
      throw e;
    }
  }

  retryPending(): void {
    const p = this.pending;
    if (!p) return;
    const r = p.retry();
    if (r.errno !== undefined && r.wouldBlock) return;
    this.pending = undefined;
    const now = this.host.now();
    if (Math.abs(now - p.expectEnd) > this.tol) {
      throw new Fail(
        p.ev.line,
        `${p.call.name}() returned at ${fmtTime(now - this.t0)}, expected at ${
          fmtTime(p.expectEnd - this.t0)
        }`,
      );
    }
    this.guard(() => p.finish(r));
  }

  learnLocalPort(fd: number, remotePort: number): void {
    const n = this.host.sockets.getsockname(fd);
    if (n.value && n.value.port) {
      this.ep.localPort = n.value.port;
      this.ep.remotePort = remotePort;
    }
  }

  checkRet(ev: ScriptEvent, call: SyscallSpec, r: api.SockResult<unknown>, value: number): void {
    const ret = call.ret;
    if (ret.kind === "ellipsis") return;
    const want = this.value(ev, ret);
    if (want === -1) {
      if (r.errno === undefined) {
        throw new Fail(ev.line, `${call.name}() = ${value}, expected -1 ${call.errno ?? ""}`);
      }
      if (call.errno) {
        const e = errnoFromName(call.errno);
        if (e === undefined) throw new Unsupported(ev.line, `unknown errno ${call.errno}`);
        if (e !== r.errno) {
          throw new Fail(
            ev.line,
            `${call.name}() = -1 ${errnoName(r.errno)}, expected -1 ${call.errno}`,
          );
        }
      }
      return;
    }
    if (r.errno !== undefined) {
      throw new Fail(ev.line, `${call.name}() = -1 ${errnoName(r.errno)}, expected ${want}`);
    }
    if (value !== want) throw new Fail(ev.line, `${call.name}() = ${value}, expected ${want}`);
  }

  optValue(ev: ScriptEvent, e: Expr | undefined): api.SockOptValue {
    if (!e) throw new Unsupported(ev.line, "setsockopt without a value");
    if (e.kind === "array" && e.items.length === 1) return this.value(ev, e.items[0]);
    if (e.kind === "struct") {
      const f = new Map(e.fields.map((x) => [x.name, x.value]));
      if (f.has("l_onoff")) {
        return {
          onoff: this.value(ev, f.get("l_onoff")!) !== 0,
          linger: this.value(ev, f.get("l_linger") ?? { kind: "num", value: 0 }),
        };
      }
      const name = f.get("function_set_name");
      if (name && name.kind === "string") return name.value;
    }
    if (e.kind === "num" || e.kind === "ident" || e.kind === "or") return this.value(ev, e);
    throw new Unsupported(ev.line, `socket option value of kind ${e.kind}`);
  }

  checkOptValue(ev: ScriptEvent, call: SyscallSpec, e: Expr | undefined, v: api.SockOptValue) {
    if (!e || e.kind === "ellipsis") return;
    if (e.kind === "array" && e.items.length === 1) {
      const want = this.value(ev, e.items[0]);
      if (typeof v !== "number") {
        throw new Unsupported(ev.line, `getsockopt value is not an integer`);
      }
      if (v !== want) {
        const item = e.items[0];
        const show = (x: number) =>
          item.kind === "ident" && item.name.startsWith("E") ? (x ? errnoName(x) : "0") : String(x);
        throw new Fail(ev.line, `${call.name}() value [${show(v)}], expected [${show(want)}]`);
      }
      return;
    }
    if (e.kind === "struct" && typeof v === "object" && "onoff" in v) {
      for (const f of e.fields) {
        const want = this.value(ev, f.value);
        const got = f.name === "l_onoff" ? (v.onoff ? 1 : 0) : v.linger;
        if (want !== got) throw new Fail(ev.line, `${f.name} ${got}, expected ${want}`);
      }
      return;
    }
    throw new Unsupported(ev.line, `cannot compare a getsockopt value written as ${e.kind}`);
  }

  // ---- commands and Python ------------------------------------------------------------------

  command(ev: ScriptEvent, cmd: string): void {
    let m = SYSCTL_RE.exec(cmd);
    if (m) {
      for (const a of m[1].trim().split(/\s+/)) {
        const eq = a.indexOf("=");
        if (eq < 0) throw new Unsupported(ev.line, `sysctl without a value: ${a}`);
        const err = this.host.sysctl(a.slice(0, eq), a.slice(eq + 1));
        if (err) throw new Unsupported(ev.line, `sysctl ${a}: ${err}`);
      }
      return;
    }
    m = SOCKSTAT_RE.exec(cmd);
    if (m) {
      const args = m[1];
      const ownOnly = m[2] !== undefined;
      const stateName = m[3];
      const state = SOCKSTAT_STATES[stateName];
      if (state === undefined) throw new Unsupported(ev.line, `sockstat state ${stateName}`);
      const want = parseInt(m[4]);
      const pm = /-p\s+(\d+)/.exec(args);
      const port = pm ? parseInt(pm[1]) : undefined;
      const ver = /-4\b/.test(args) ? 4 : /-6\b/.test(args) ? 6 : undefined;
      const count = this.countConnections(state, port, ver, ownOnly);
      // `grep N` matches when the count's text contains N.
      if (!String(count).includes(String(want))) {
        throw new Fail(
          ev.line,
          `sockstat: ${count} connection(s) in ${stateName}, expected ${want}`,
        );
      }
      return;
    }
    m = TCPDROP_RE.exec(cmd);
    if (m) {
      const state = SOCKSTAT_STATES[m[1]];
      if (state === undefined) throw new Unsupported(ev.line, `tcpdrop state ${m[1]}`);
      if (!this.host.dropConnections) {
        throw new Unsupported(ev.line, "tcpdrop: the engine offers no dropConnections()");
      }
      this.host.dropConnections(state);
      return;
    }
    if (/\bsetkey\b/.test(cmd)) {
      throw new Unsupported(ev.line, "TCP-MD5 keys (kldload tcpmd5 / setkey) are not supported");
    }
    throw new Unsupported(ev.line, `shell command not supported: ${cmd.split("\n")[0]}`);
  }

  /**
   * Connections in `state`: all the engine knows of (SYN cache and TIME_WAIT included), or with
   * `ownOnly` (sockstat … | grep packetdril) only the sockets the script holds.
   */
  countConnections(
    state: number,
    port: number | undefined,
    ver: 4 | 6 | undefined,
    ownOnly: boolean,
  ): number {
    if (this.host.connections && !ownOnly) {
      return this.host.connections().filter((c) =>
        c.state === state &&
        (port === undefined || c.localPort === port || c.remotePort === port) &&
        (ver === undefined || c.version === ver)
      ).length;
    }
    // Fallback: the sockets the script holds.
    let n = 0;
    for (const fd of this.fds) {
      const i = this.host.sockets.tcpInfo(fd);
      if (i.value && i.value.tcpi_state === state) {
        if (port !== undefined) {
          // sockstat -p matches the local or the foreign port.
          const sn = this.host.sockets.getsockname(fd);
          const pn = this.host.sockets.getpeername(fd);
          if (sn.value?.port !== port && pn.value?.port !== port) continue;
        }
        n++;
      }
    }
    return n;
  }

  python(ev: ScriptEvent, code: string): void {
    const m = PYTHON_RE.exec(code.trim());
    if (!m) throw new Unsupported(ev.line, `Python snippet not supported: ${code}`);
    const field = m[1];
    const op = m[2];
    const rhs = m[3].trim().replace(/^\((.*)\)$/s, "$1");
    let want = 0;
    for (const part of rhs.split("|")) {
      const t = part.trim();
      if (/^(0x[0-9a-fA-F]+|\d+)$/.test(t)) want |= parseInt(t);
      else if (t in TCPI_STATES) want |= TCPI_STATES[t];
      else throw new Unsupported(ev.line, `Python snippet: unknown name ${t}`);
    }
    const info = this.host.sockets.tcpInfo(this.lastFd);
    if (info.errno !== undefined) {
      throw new Fail(ev.line, `TCP_INFO on fd ${this.lastFd}: ${errnoName(info.errno)}`);
    }
    const got = (info.value as unknown as Record<string, unknown>)[field];
    if (typeof got !== "number") throw new Unsupported(ev.line, `tcp_info has no ${field}`);
    const holds = op === "=="
      ? got === want
      : op === "!="
      ? got !== want
      : op === "<"
      ? got < want
      : op === "<="
      ? got <= want
      : op === ">"
      ? got > want
      : got >= want;
    if (!holds) throw new Fail(ev.line, `${field} = ${got}, expected ${op} ${want}`);
  }
}

/** An outbound ICMPv4 or ICMPv6 error message (not matched against the script). */
function isIcmpError(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const v = p[0] >> 4;
  if (v === 4 && p.length >= 21 && p[9] === 1) {
    const t = p[(p[0] & 0xf) * 4];
    return t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
  }
  // IPv6 without extension headers (what the engine sends for errors).
  if (v === 6 && p.length >= 41 && p[6] === 58) return p[40] >= 1 && p[40] <= 4;
  return false;
}

/** A struct field's value (by name), if the expression is a struct that has it. */
function structField(e: Expr | undefined, name: string): Expr | undefined {
  if (!e || e.kind !== "struct") return undefined;
  return e.fields.find((f) => f.name === name)?.value;
}

/** Total iov_len of an iovec array. */
function iovLength(ev: ScriptEvent, e: Expr | undefined): number {
  if (!e || e.kind !== "array") {
    throw new Unsupported(ev.line, "expected an iovec array [{iov_base=..., iov_len=N}]");
  }
  let total = 0;
  for (const it of e.items) {
    const l = structField(it, "iov_len");
    if (!l || l.kind !== "num") throw new Unsupported(ev.line, "iovec without a numeric iov_len");
    total += l.value;
  }
  return total;
}

/** Calls that only tear down or look: their effects at the end of a script are not checked. */
const CLEANUP_CALLS = new Set([
  "close",
  "getsockopt",
  "setsockopt",
  "fcntl",
  "getsockname",
  "getpeername",
]);

function isCleanup(ev: ScriptEvent): boolean {
  const b = ev.body;
  if (b.type === "command" || b.type === "python") return true;
  return b.type === "syscall" && CLEANUP_CALLS.has(b.call.name);
}

function fmtTime(us: number): string {
  return `${(us / 1e6).toFixed(6)}s`;
}

function describeSpec(s: TcpPacketSpec): string {
  const seq = s.seq === undefined ? "..." : `${s.seq}:${(s.seq + s.len) >>> 0}`;
  let t = `${s.flags} ${seq}(${s.len})`;
  if (s.ack !== undefined) t += ` ack ${s.ack}`;
  if (s.win !== undefined) t += ` win ${s.win}`;
  if (s.options === "any") t += " <...>";
  else if (s.options?.length) t += ` <${formatOptions(s.options)}>`;
  if (s.udp) t += `/udp(${s.udp.src} > ${s.udp.dst})`;
  return t;
}

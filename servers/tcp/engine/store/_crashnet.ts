// Test helper (not a test): two engines joined by a seeded lossy wire, node A over the
// shared-memory store with output commit (its frames leave only after a commit), node B a plain
// engine. Node A can be "killed" at any store into its region: its heap, its held frames and
// its engine are thrown away, and a new engine restores from the region as the dead one left it
// (the hook stops it just before a store). Apps on both sides survive (they are other processes
// in the real system) and keep absolute counters of what they gave and got, reconciled on
// restore.
//
// Flows: each carries a seeded stream each way and closes; "passive" flows are opened by B to
// A's listener (A's app accepts them lazily, so children sit in the accept queue), "active" ones
// by A to B's listener (SYN-SENT on A).
import { FakeContext } from "../context.ts";
import { type LinkEndpoint, Stack } from "../stack.ts";
import { Tcp } from "../tcp/tcp.ts";
import { TcpSocket } from "../tcp/usrreq.ts";
import { TCPS_ESTABLISHED, TCPS_LISTEN } from "../tcp/tcpcb.ts";
import { AF_INET, SHUT_WR } from "../socket/api.ts";
import { EAGAIN, EINPROGRESS, ENOTCONN } from "../errno.ts";
import { reconcile, ShmTcbStore } from "./shm_store.ts";
import type { StoreGeometry } from "./layout.ts";

const A_ADDR = "198.18.0.2";
const B_ADDR = "198.18.0.1";
const A_PORT = 5000;
const B_PORT = 6000;

/** Thrown from the store's write hook to stop node A mid-commit. */
class Crash extends Error {}

/** A deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pattern(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** Options of one run. */
export interface CrashRunOptions {
  seed: number;
  /** Bytes B sends to A and A sends to B, on each flow. */
  upBytes: number;
  downBytes: number;
  /** Drop probability on the wire (each direction). */
  loss: number;
  /** Kill node A just before these store counts (ascending, counted over the whole run). */
  killAt: number[];
  /** Flows opened by B to A (default 1) and by A to B (default 0). */
  passive?: number;
  active?: number;
  geometry?: StoreGeometry;
  /** Simulated time limit (µs). */
  limitUs?: number;
  /** After the apps are done, keep A's timers running this long (µs; TIME_WAIT ends). */
  drainUs?: number;
  /** Damages the region before a restore (hostile-record tests). */
  corrupt?: (mem: Uint8Array) => void;
  /** Congestion control on both nodes (net.inet.tcp.cc.algorithm; default: the sysctl's). */
  cc?: string;
}

/** What a run observed. */
export interface CrashRunResult {
  /** Stores into A's region over the whole run (all incarnations). */
  writes: number;
  kills: number;
  upOk: boolean;
  downOk: boolean;
  /** Errors seen by either app (a reset, a refused connect). */
  errors: string[];
  done: boolean;
  timeUs: number;
  restoredConns: number;
  torn: number;
  droppedOnRestore: number;
  /** Records in use on A at the end (the listener's included). */
  used: number;
}

interface Frame {
  at: number;
  toA: boolean;
  data: Uint8Array;
}

/** One side of a flow: an app's socket and its counters (the app outlives A's engine). */
interface End {
  sock?: TcpSocket;
  src: Uint8Array;
  /** Bytes handed to send() so far (absolute). */
  sent: number;
  got: Uint8Array[];
  gotLen: number;
  eof: boolean;
  shut: boolean;
  closed: boolean;
}

interface Flow {
  /** A opens it (to B's listener) rather than B (to A's). */
  aActive: boolean;
  startAt: number;
  started: boolean;
  a: End;
  b: End;
}

function end(src: Uint8Array): End {
  return { src, sent: 0, got: [], gotLen: 0, eof: false, shut: false, closed: false };
}

/** Runs the flows, killing A at the given store counts. */
export function crashRun(o: CrashRunOptions): CrashRunResult {
  const g = o.geometry ?? { records: 16, ringBytes: 1 << 18 };
  const ctx = new FakeContext(o.seed);
  const rnd = prng(o.seed ^ 0x5eed);
  const wire: Frame[] = [];
  const latency = 500;
  const put = (toA: boolean, data: Uint8Array) => {
    if (rnd() < o.loss) return;
    wire.push({ at: ctx.now() + latency + Math.floor(rnd() * 200), toA, data });
  };
  const mkStack = (addr: string, out: (f: Uint8Array) => void) => {
    const stack = new Stack(ctx);
    const link: LinkEndpoint = {
      kind: "ip",
      mtu: 1500,
      caps: { txChecksum: false, rxChecksum: false, tso: false },
      transmit: (f) => out(f.slice()),
    };
    const ifIndex = stack.addInterface(link, { addrs: [`${addr}/24`], defaultRoute: true });
    return { stack, ifIndex };
  };
  const errors: string[] = [];
  const flows: Flow[] = [];
  const nPassive = o.passive ?? 1;
  const nActive = o.active ?? 0;
  for (let i = 0; i < nPassive + nActive; i++) {
    const up = pattern(o.upBytes, o.seed * 7 + 2 * i + 1);
    const down = pattern(o.downBytes, o.seed * 7 + 2 * i + 2);
    // B's end sends `up` (towards A), A's end sends `down`.
    flows.push({
      aActive: i >= nPassive,
      startAt: 1000 + i * 700,
      started: false,
      a: end(down),
      b: end(up),
    });
  }

  // ---- node B: a plain engine with a listener for A's active flows ----
  const b = mkStack(B_ADDR, (f) => put(true, f));
  const tcpB = Tcp.of(b.stack);
  const setCc = (t: Tcp) => {
    if (o.cc !== undefined) t.stack.sysctl.set("net.inet.tcp.cc.algorithm", o.cc);
  };
  setCc(tcpB);
  const bListener = new TcpSocket(tcpB, AF_INET);
  bListener.bind({ family: AF_INET, addr: B_ADDR, port: B_PORT });
  bListener.listen(16);

  // ---- node A: store, engine, held frames ----
  const mem = new Uint8Array(ShmTcbStore.bytes(g));
  let store = ShmTcbStore.format(mem, g);
  let held: Uint8Array[] = [];
  let a = mkStack(A_ADDR, (f) => held.push(f));
  let tcpA = new Tcp(a.stack, store);
  setCc(tcpA);
  let aListener: TcpSocket | undefined;
  const kills = [...o.killAt];
  let killed = 0;
  let restoredConns = 0;
  let totalWrites = 0;
  const hook = (n: number) => {
    if (kills.length > 0 && totalWrites + n >= kills[0]) throw new Crash();
  };
  store.onWrite = hook;

  const listenA = () => {
    const l = new TcpSocket(tcpA, AF_INET);
    l.bind({ family: AF_INET, addr: A_ADDR, port: A_PORT });
    const r = l.listen(16);
    if (r.errno !== undefined) errors.push(`A listen errno ${r.errno}`);
    aListener = l;
  };
  listenA();

  /** The flow whose A end has this 4-tuple. */
  const flowOfA = (
    lport: number,
    fport: number,
    aSock: (f: Flow) => TcpSocket | undefined,
  ): Flow | undefined =>
    flows.find((f) => {
      const c = f.aActive ? aSock(f)?.conn : f.b.sock?.conn;
      if (!c) return false;
      return f.aActive
        ? c.lport === lport && fport === B_PORT
        : c.lport === fport && lport === A_PORT;
    });

  const restart = () => {
    kills.shift();
    killed++;
    totalWrites += store.counters.writes;
    held = [];
    o.corrupt?.(mem);
    a = mkStack(A_ADDR, (f) => held.push(f));
    const opened = ShmTcbStore.open(mem);
    if (typeof opened === "string") throw new Error(`Cannot reopen: ${opened}`);
    store = opened;
    tcpA = new Tcp(a.stack, store);
    setCc(tcpA);
    const restored = store.restore(tcpA);
    restoredConns += restored.length;
    aListener = undefined;
    const before = new Map(flows.map((f) => [f, f.a.sock]));
    for (const f of flows) f.a.sock = undefined;
    for (const r of restored) {
      const c = r.conn;
      if (c.tp.state === TCPS_LISTEN) {
        aListener = new TcpSocket(tcpA, AF_INET, c);
        continue;
      }
      const f = flowOfA(c.lport, c.fport, (x) => before.get(x));
      if (!f) continue;
      const e = f.a;
      // Line the app's counters up with the records (they may be behind what it did).
      e.sent -= reconcile(r, e.gotLen, e.sent);
      e.shut = c.cantSendMore;
      e.closed = c.closed;
      if (c.parent) {
        // Not accepted as far as the records know: take it if the app had, else accept later.
        const i = c.parent.acceptQueue.indexOf(c);
        if (before.get(f) === undefined || i < 0) continue;
        c.parent.acceptQueue.splice(i, 1);
        c.parent = undefined;
      }
      e.sock = new TcpSocket(tcpA, AF_INET, c);
    }
    if (aListener === undefined) listenA();
    for (const f of flows) {
      if (!f.aActive || f.a.sock !== undefined || before.get(f) === undefined) continue;
      // The app closed its end after reading EOF: a record freed since (TIME_WAIT over, the
      // connection CLOSED) is the flow's normal end, not a loss.
      if (f.a.closed && f.a.eof) continue;
      // An active open with no record never left A (output commit): open it again.
      if (f.a.gotLen > 0) errors.push(`A lost an active flow with data at restart ${killed}`);
      Object.assign(f.a, { sent: 0, shut: false, closed: false, eof: false });
      f.started = false;
    }
    store.onWrite = hook;
  };

  const pump = (who: string, e: End) => {
    const s = e.sock;
    if (s === undefined || e.closed) return;
    while (!e.eof) {
      const r = s.recv(16384, 0, true);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN && r.errno !== ENOTCONN) errors.push(`${who} recv errno ${r.errno}`);
        break;
      }
      if (r.value.data.length === 0) {
        e.eof = true;
        break;
      }
      e.got.push(r.value.data.slice());
      e.gotLen += r.value.data.length;
    }
    while (e.sent < e.src.length) {
      const r = s.send(e.src.subarray(e.sent, e.sent + 16384), 0, true);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN && r.errno !== ENOTCONN) errors.push(`${who} send errno ${r.errno}`);
        break;
      }
      e.sent += r.value;
    }
    // Half-close once connected (a shutdown in SYN-SENT would abort the open).
    if (e.sent === e.src.length && !e.shut && s.conn.tp.state >= TCPS_ESTABLISHED) {
      if (s.shutdown(SHUT_WR).errno === undefined) e.shut = true;
    }
    if (e.eof && e.shut && !e.closed) {
      s.close();
      e.closed = true;
    }
  };

  const connect = (tcp: Tcp, addr: string, port: number): TcpSocket => {
    const s = new TcpSocket(tcp, AF_INET);
    const r = s.connect({ family: AF_INET, addr, port }, true);
    if (r.errno !== undefined && r.errno !== EINPROGRESS) errors.push(`connect errno ${r.errno}`);
    return s;
  };

  const work = () => {
    const now = ctx.now();
    for (const f of flows) {
      if (f.started || now < f.startAt) continue;
      f.started = true;
      if (f.aActive) f.a.sock = connect(tcpA, B_ADDR, B_PORT);
      else f.b.sock = connect(tcpB, A_ADDR, A_PORT);
    }
    // Accepts: A lazily (children wait in the queue across turns), B at once.
    if (aListener && rnd() < 0.5) {
      for (;;) {
        const r = aListener.accept(true);
        if (r.errno !== undefined) break;
        const s = r.value.sock as TcpSocket;
        const f = flows.find((x) => !x.aActive && x.b.sock?.conn.lport === s.conn.fport);
        if (f && f.a.sock === undefined) f.a.sock = s;
        else errors.push(`A accepted an unknown connection from port ${s.conn.fport}`);
      }
    }
    for (;;) {
      const r = bListener.accept(true);
      if (r.errno !== undefined) break;
      const s = r.value.sock as TcpSocket;
      const f = flows.find((x) => x.aActive && x.a.sock?.conn.lport === s.conn.fport);
      if (f && f.b.sock === undefined) f.b.sock = s;
      else errors.push(`B accepted an unknown connection from port ${s.conn.fport}`);
    }
    for (const f of flows) {
      pump("A", f.a);
      pump("B", f.b);
    }
  };

  const release = () => {
    store.commit(tcpA, ctx.now());
    for (const f of held) put(false, f);
    held = [];
  };

  const limit = o.limitUs ?? 120_000_000;
  const finished = () => flows.every((f) => f.a.closed && f.b.closed);
  let guard = 0;
  while (!finished() && ctx.now() < limit && guard++ < 2_000_000) {
    const now = ctx.now();
    wire.sort((x, y) => x.at - y.at);
    while (wire.length > 0 && wire[0].at <= now) {
      const f = wire.shift()!;
      if (f.toA) a.stack.receive(a.ifIndex, f.data);
      else b.stack.receive(b.ifIndex, f.data);
    }
    a.stack.poll(now);
    b.stack.poll(now);
    work();
    try {
      release();
    } catch (e) {
      if (!(e instanceof Crash)) throw e;
      restart();
      work();
      try {
        release();
      } catch (e2) {
        if (!(e2 instanceof Crash)) throw e2;
        // Killed again at once: the next turn handles it.
      }
    }
    let next = Infinity;
    for (const f of wire) next = Math.min(next, f.at);
    next = Math.min(next, a.stack.nextDeadline() ?? Infinity, b.stack.nextDeadline() ?? Infinity);
    for (const f of flows) if (!f.started) next = Math.min(next, f.startAt);
    // Apps poll too (a shutdown refused before the handshake is retried): never stall idle.
    next = Math.min(next, now + 10_000);
    ctx.set(Math.max(now + 1, next));
  }
  // Drain: timers only (TIME_WAIT, FIN retransmissions), committing as the server would.
  const drainEnd = ctx.now() + (o.drainUs ?? 0);
  while (finished() && ctx.now() < drainEnd) {
    const now = ctx.now();
    wire.sort((x, y) => x.at - y.at);
    while (wire.length > 0 && wire[0].at <= now) {
      const f = wire.shift()!;
      if (f.toA) a.stack.receive(a.ifIndex, f.data);
      else b.stack.receive(b.ifIndex, f.data);
    }
    a.stack.poll(now);
    b.stack.poll(now);
    try {
      release();
    } catch (e) {
      if (!(e instanceof Crash)) throw e;
      restart();
      continue;
    }
    let next = drainEnd;
    for (const f of wire) next = Math.min(next, f.at);
    next = Math.min(next, a.stack.nextDeadline() ?? Infinity, b.stack.nextDeadline() ?? Infinity);
    ctx.set(Math.max(now + 1, next));
  }
  const same = (parts: Uint8Array[], want: Uint8Array) => {
    let off = 0;
    for (const p of parts) {
      if (off + p.length > want.length) return false;
      for (let i = 0; i < p.length; i++) if (p[i] !== want[off + i]) return false;
      off += p.length;
    }
    return off === want.length;
  };
  return {
    writes: totalWrites + store.counters.writes,
    kills: killed,
    upOk: flows.every((f) => same(f.a.got, f.b.src)),
    downOk: flows.every((f) => same(f.b.got, f.a.src)),
    errors,
    done: finished(),
    timeUs: ctx.now(),
    restoredConns,
    torn: store.counters.torn,
    droppedOnRestore: store.counters.droppedOnRestore,
    used: store.used,
  };
}

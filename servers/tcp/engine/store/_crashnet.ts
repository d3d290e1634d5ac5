// Test helper (not a test): two engines joined by a seeded lossy wire, node A over the
// shared-memory store with output commit (its frames leave only after a commit), node B a plain
// engine. Node A can be "killed" at any store into its region: its heap, its held frames and
// its engine are thrown away, and a new engine restores from a snapshot of the region taken at
// that store. Apps on both sides survive (they are other processes in the real system) and
// keep absolute counters of what they gave and got, reconciled on restore.
import { FakeContext } from "../context.ts";
import { type LinkEndpoint, Stack } from "../stack.ts";
import { Tcp } from "../tcp/tcp.ts";
import { TcpSocket } from "../tcp/usrreq.ts";
import type { TcpConn } from "../tcp/conn.ts";
import { TCPS_LISTEN } from "../tcp/tcpcb.ts";
import { AF_INET, SHUT_WR } from "../socket/api.ts";
import { EAGAIN, EINPROGRESS, ENOTCONN } from "../errno.ts";
import { reconcile, ShmTcbStore } from "./shm_store.ts";
import type { StoreGeometry } from "./layout.ts";

const A_ADDR = "198.18.0.2";
const B_ADDR = "198.18.0.1";
const PORT = 5000;

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
  /** Bytes B sends to A and A sends to B. */
  upBytes: number;
  downBytes: number;
  /** Drop probability on the wire (each direction). */
  loss: number;
  /** Kill node A just before these store counts (ascending, each after restores reset none). */
  killAt: number[];
  geometry?: StoreGeometry;
  /** Simulated time limit (µs). */
  limitUs?: number;
  /** Damages the region before a restore (hostile-record tests). */
  corrupt?: (mem: Uint8Array) => void;
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
}

interface Frame {
  at: number;
  toA: boolean;
  data: Uint8Array;
}

/** Runs one transfer, killing A at the given store counts. */
export function crashRun(o: CrashRunOptions): CrashRunResult {
  const g = o.geometry ?? { records: 8, ringBytes: 1 << 18 };
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

  // ---- node B: a plain engine, a client app ----
  const b = mkStack(B_ADDR, (f) => put(true, f));
  const tcpB = Tcp.of(b.stack);
  const up = pattern(o.upBytes, o.seed * 7 + 1);
  const down = pattern(o.downBytes, o.seed * 7 + 2);
  const errors: string[] = [];
  const appB = {
    sock: undefined as TcpSocket | undefined,
    sent: 0,
    got: [] as Uint8Array[],
    gotLen: 0,
    eof: false,
    shut: false,
    closed: false,
  };

  // ---- node A: store, engine, held frames; an app that survives A's deaths ----
  const mem = new Uint8Array(ShmTcbStore.bytes(g));
  let store = ShmTcbStore.format(mem, g);
  let held: Uint8Array[] = [];
  let a = mkStack(A_ADDR, (f) => held.push(f));
  let tcpA = new Tcp(a.stack, store);
  const appA = {
    listener: undefined as TcpSocket | undefined,
    sock: undefined as TcpSocket | undefined,
    delivered: 0,
    got: [] as Uint8Array[],
    accepted: 0,
    eof: false,
    shut: false,
    closed: false,
  };
  const kills = [...o.killAt];
  let kills0 = 0;
  let restoredConns = 0;
  let totalWrites = 0;
  const hook = (n: number) => {
    if (kills.length > 0 && totalWrites + n >= kills[0]) throw new Crash();
  };
  store.onWrite = hook;

  const listen = () => {
    const l = new TcpSocket(tcpA, AF_INET);
    l.bind({ family: AF_INET, addr: A_ADDR, port: PORT });
    const r = l.listen(8);
    if (r.errno !== undefined) errors.push(`A listen errno ${r.errno}`);
    appA.listener = l;
  };
  listen();

  const restart = () => {
    kills.shift();
    kills0++;
    totalWrites += store.counters.writes;
    // `mem` is the region as the dead incarnation left it (the hook stopped it before a store).
    held = [];
    o.corrupt?.(mem);
    a = mkStack(A_ADDR, (f) => held.push(f));
    const opened = ShmTcbStore.open(mem);
    if (typeof opened === "string") throw new Error(`Cannot reopen: ${opened}`);
    store = opened;
    tcpA = new Tcp(a.stack, store);
    const restored = store.restore(tcpA);
    restoredConns += restored.length;
    appA.listener = undefined;
    const oldSock = appA.sock;
    appA.sock = undefined;
    for (const r of restored) {
      const c: TcpConn = r.conn;
      if (c.tp.state === TCPS_LISTEN) {
        appA.listener = new TcpSocket(tcpA, AF_INET, c);
        continue;
      }
      if (oldSock === undefined || c.lport !== PORT) continue;
      // The app's connection (by 4-tuple; accepted, or back in the accept queue).
      if (c.parent) {
        const i = c.parent.acceptQueue.indexOf(c);
        if (i >= 0) c.parent.acceptQueue.splice(i, 1);
        c.parent.incomplete.delete(c);
        c.parent = undefined;
      }
      appA.sock = new TcpSocket(tcpA, AF_INET, c);
      const rewind = reconcile(r, appA.delivered, appA.accepted);
      appA.accepted -= rewind;
      appA.shut = c.cantSendMore;
      if (appA.closed && !c.closed) appA.sock.close();
    }
    if (appA.listener === undefined) listen();
    if (oldSock !== undefined && appA.sock === undefined && !appA.closed) {
      errors.push(`A lost its connection at restart ${kills0}`);
    }
    store.onWrite = hook;
  };

  const workA = () => {
    if (appA.sock === undefined && appA.listener !== undefined && !appA.closed) {
      const r = appA.listener.accept(true);
      if (r.errno === undefined) appA.sock = r.value.sock as TcpSocket;
    }
    const s = appA.sock;
    if (s === undefined || appA.closed) return;
    for (;;) {
      if (appA.eof) break;
      const r = s.recv(16384, 0, true);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN) errors.push(`A recv errno ${r.errno}`);
        break;
      }
      if (r.value.data.length === 0) {
        appA.eof = true;
        break;
      }
      appA.got.push(r.value.data.slice());
      appA.delivered += r.value.data.length;
    }
    while (appA.accepted < down.length) {
      const r = s.send(down.subarray(appA.accepted, appA.accepted + 16384), 0, true);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN) errors.push(`A send errno ${r.errno}`);
        break;
      }
      appA.accepted += r.value;
    }
    if (appA.accepted === down.length && !appA.shut) {
      s.shutdown(SHUT_WR);
      appA.shut = true;
    }
    if (appA.eof && appA.shut && !appA.closed) {
      s.close();
      appA.closed = true;
    }
  };

  const workB = () => {
    if (appB.sock === undefined) {
      if (ctx.now() < 1000) return;
      appB.sock = new TcpSocket(tcpB, AF_INET);
      const r = appB.sock.connect({ family: AF_INET, addr: A_ADDR, port: PORT }, true);
      if (r.errno !== undefined && r.errno !== EINPROGRESS) {
        errors.push(`B connect errno ${r.errno}`);
      }
      return;
    }
    const s = appB.sock;
    if (appB.closed) return;
    for (;;) {
      if (appB.eof) break;
      const r = s.recv(16384, 0, true);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN) errors.push(`B recv errno ${r.errno}`);
        break;
      }
      if (r.value.data.length === 0) {
        appB.eof = true;
        break;
      }
      appB.got.push(r.value.data.slice());
      appB.gotLen += r.value.data.length;
    }
    while (appB.sent < up.length) {
      const r = s.send(up.subarray(appB.sent, appB.sent + 16384), 0, true);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN && r.errno !== ENOTCONN) errors.push(`B send errno ${r.errno}`);
        break;
      }
      appB.sent += r.value;
    }
    if (appB.sent === up.length && !appB.shut) {
      if (s.shutdown(SHUT_WR).errno === undefined) appB.shut = true;
    }
    if (appB.eof && appB.shut && !appB.closed) {
      s.close();
      appB.closed = true;
    }
  };

  const limit = o.limitUs ?? 120_000_000;
  const finished = () => appA.closed && appB.closed;
  let guard = 0;
  while (!finished() && ctx.now() < limit && guard++ < 2_000_000) {
    const now = ctx.now();
    // The wire: everything due, in arrival order.
    wire.sort((x, y) => x.at - y.at);
    while (wire.length > 0 && wire[0].at <= now) {
      const f = wire.shift()!;
      if (f.toA) a.stack.receive(a.ifIndex, f.data);
      else b.stack.receive(b.ifIndex, f.data);
    }
    a.stack.poll(now);
    b.stack.poll(now);
    workA();
    workB();
    try {
      store.commit(tcpA, now);
      for (const f of held) put(false, f);
      held = [];
    } catch (e) {
      if (!(e instanceof Crash)) throw e;
      restart();
      workA();
      try {
        store.commit(tcpA, now);
        for (const f of held) put(false, f);
        held = [];
      } catch (e2) {
        if (!(e2 instanceof Crash)) throw e2;
        // Killed again at once: the next turn handles it.
      }
    }
    // Next event: a frame, a timer, or B's first connect.
    let next = Infinity;
    for (const f of wire) next = Math.min(next, f.at);
    next = Math.min(next, a.stack.nextDeadline() ?? Infinity, b.stack.nextDeadline() ?? Infinity);
    if (appB.sock === undefined) next = Math.min(next, 1000);
    if (!Number.isFinite(next)) break;
    ctx.set(Math.max(now + 1, next));
  }
  const cat = (parts: Uint8Array[]) => {
    const n = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  const same = (x: Uint8Array, y: Uint8Array) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return {
    writes: totalWrites + store.counters.writes,
    kills: kills0,
    upOk: same(cat(appA.got), up),
    downOk: same(cat(appB.got), down),
    errors,
    done: finished(),
    timeUs: ctx.now(),
    restoredConns,
    torn: store.counters.torn,
    droppedOnRestore: store.counters.droppedOnRestore,
  };
}

import assert from "node:assert/strict";
import fc from "fast-check";
import { crashRun, type CrashRunOptions, type CrashRunResult } from "./_crashnet.ts";
import { ShmTcbStore } from "./shm_store.ts";
import {
  CC_NAMES,
  CC_WORDS,
  CTL_WORDS,
  HEADER_WORDS,
  LAYOUT_HASH,
  RECORD_WORDS,
  SLOT,
  SLOT_WORDS,
  TCPCB_FIELDS,
} from "./layout.ts";
import { newTcpcb, TCPS_TIME_WAIT } from "../tcp/tcpcb.ts";
import { CountingByteQueue } from "./counting_queue.ts";
import { FakeContext } from "../context.ts";
import { Stack } from "../stack.ts";
import { Tcp } from "../tcp/tcp.ts";
import { TcpSocket } from "../tcp/usrreq.ts";
import { AF_INET } from "../socket/api.ts";
import { CC_SAVED_WORDS, ccAlgo, ccLoadState, CCV_FIELDS, type CcVar } from "../tcp/cc/builtin.ts";

Deno.test("layout: every tcpcb field is a number and has its own word", () => {
  const tp = newTcpcb() as unknown as Record<string, unknown>;
  for (const f of TCPCB_FIELDS) assert.equal(typeof tp[f], "number", f);
  const words = Object.values(SLOT);
  assert.equal(new Set(words).size, words.length);
  assert.ok(Math.max(...words) < SLOT_WORDS);
  assert.ok(RECORD_WORDS >= 4 + 2 * SLOT_WORDS && RECORD_WORDS % 8 === 0);
  assert.ok(LAYOUT_HASH > 0);
});

Deno.test("store: open refuses a region never formatted or of another layout", () => {
  const g = { records: 4, ringBytes: 4096 };
  const mem = new Uint8Array(ShmTcbStore.bytes(g));
  assert.match(String(ShmTcbStore.open(mem)), /no magic/);
  ShmTcbStore.format(mem, g);
  assert.ok(ShmTcbStore.open(mem) instanceof ShmTcbStore);
  new Float64Array(mem.buffer)[1] = 12345; // layout hash
  assert.match(String(ShmTcbStore.open(mem)), /layout 12345 differs/);
  assert.throws(() => ShmTcbStore.format(mem, { records: 4, ringBytes: 5000 }), /power of two/);
});

Deno.test("store: the engine's keys outlive the process: a new incarnation's ISNs and timestamps go on", () => {
  const g = { records: 4, ringBytes: 4096 };
  const mem = new Uint8Array(ShmTcbStore.bytes(g));
  const a = {
    version: 4,
    laddr: "198.18.0.2",
    lport: 40000,
    faddr: "198.18.0.1",
    fport: 80,
  } as const;
  const first = new Tcp(new Stack(new FakeContext(1)), ShmTcbStore.format(mem, g));
  const again = ShmTcbStore.open(mem);
  assert.ok(again instanceof ShmTcbStore);
  // Another random source: only the stored keys can make the two agree.
  const second = new Tcp(new Stack(new FakeContext(2)), again);
  assert.equal(second.tsOffsetFor(a), first.tsOffsetFor(a));
  assert.equal(second.isnFor(a), first.isnFor(a));
  // Without the store's keys (a fresh region) they differ.
  const other = new Tcp(
    new Stack(new FakeContext(2)),
    ShmTcbStore.format(new Uint8Array(ShmTcbStore.bytes(g)), g),
  );
  assert.notEqual(other.tsOffsetFor(a), first.tsOffsetFor(a));
});

Deno.test("store: records run out: the connection works, counted as lost", () => {
  const g = { records: 1, ringBytes: 4096 };
  const s = ShmTcbStore.format(new Uint8Array(ShmTcbStore.bytes(g)), g);
  s.alloc();
  s.alloc();
  assert.equal(s.counters.lost, 1);
  assert.equal(s.used, 1);
});

Deno.test("counting queue: absolute offsets, consumedTo drops and skips", () => {
  const q = new CountingByteQueue(100);
  q.push(new Uint8Array([1, 2, 3, 4]));
  q.drop(1);
  assert.equal(q.headAbs, 101);
  assert.equal(q.tailAbs, 104);
  assert.equal(q.consumedTo(106), 5);
  assert.equal(q.length, 0);
  q.push(new Uint8Array([5, 6, 7]));
  assert.equal(q.headAbs, 106);
  assert.deepEqual([...q.view(0, 1)], [7]);
  q.clear();
  assert.equal(q.headAbs, 107);
});

const small = { upBytes: 6000, downBytes: 9000, loss: 0 };

/** Runs `o` killed before store `k`; asserts both streams came exactly, in order. */
function deliversKilledAt(o: Omit<CrashRunOptions, "killAt">, k: number): CrashRunResult {
  const r = crashRun({ ...o, killAt: [k] });
  assert.deepEqual(r.errors, [], `kill at store ${k}`);
  assert.ok(r.done && r.upOk && r.downOk, `kill at store ${k}: ${JSON.stringify(r)}`);
  return r;
}

/**
 * Runs `o` once clean, then killed at the fractions `at` of the clean run's stores; asserts
 * both streams came exactly, in order, and that a kill happened. Returns the clean run.
 */
function deliversKilledAtFractions(
  o: Omit<CrashRunOptions, "killAt">,
  at: number[],
): CrashRunResult {
  const clean = crashRun({ ...o, killAt: [] });
  const killAt = at.map((x) => Math.floor(x * clean.writes)).sort((a, b) => a - b);
  const r = crashRun({ ...o, killAt });
  assert.deepEqual(r.errors, [], `kills ${killAt}`);
  assert.ok(r.done && r.upOk && r.downOk, `kills ${killAt}: ${JSON.stringify(r)}`);
  assert.ok(r.kills >= 1, "no kill happened");
  return clean;
}

Deno.test("crash: a clean run delivers both streams exactly", () => {
  const r = crashRun({ seed: 1, ...small, killAt: [] });
  assert.deepEqual(r.errors, []);
  assert.ok(r.done && r.upOk && r.downOk, JSON.stringify(r));
  assert.ok(r.writes > 100);
});

Deno.test("crash: killed before every store of a short connection's life, exactly once in order", () => {
  const clean = crashRun({ seed: 2, ...small, killAt: [] });
  // Every store count (strided to keep the test fast; the stride is coprime with the record
  // size so the kill lands on every word position of a slot across the run).
  const stride = Math.max(1, Math.floor(clean.writes / 150)) | 1;
  let runs = 0;
  for (let k = 0; k <= clean.writes; k += stride) {
    deliversKilledAt({ seed: 2, ...small }, k);
    runs++;
  }
  assert.ok(runs > 50);
});

/**
 * Seeded property: one flow each way of random sizes and loss (and `extra` options), killed at
 * 1 to 4 random points, delivers both streams exactly, in order.
 */
function randomKills(extra: Partial<CrashRunOptions>, params: fc.Parameters<unknown>): void {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1 << 20 }),
      fc.integer({ min: 0, max: 150_000 }),
      fc.integer({ min: 0, max: 150_000 }),
      fc.constantFrom(0, 0.01, 0.05),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 4 }),
      (seed, upBytes, downBytes, loss, at) => {
        deliversKilledAtFractions({ ...extra, seed, upBytes, downBytes, loss }, at);
      },
    ),
    params,
  );
}

Deno.test("crash: random kill points, loss and sizes (seeded)", () => {
  randomKills({}, { seed: 0x0c0ffee, numRuns: 25 });
});

Deno.test("store: a record with impossible values is dropped on restore, not used", () => {
  const g = { records: 8, ringBytes: 1 << 16 };
  // A connection stored mid-transfer: find a live record and corrupt its receive span.
  let found = false;
  const r = crashRun({
    seed: 3,
    upBytes: 20_000,
    downBytes: 20_000,
    loss: 0,
    killAt: [400],
    geometry: g,
    corrupt: (mem) => {
      const f = new Float64Array(mem.buffer);
      const recBase = HEADER_WORDS;
      for (let i = 0; i < g.records; i++) {
        const r0 = recBase + i * RECORD_WORDS;
        const gen = f[r0];
        if (gen === 0) continue;
        const slot = r0 + CTL_WORDS + (gen % 2) * SLOT_WORDS;
        if (f[slot + SLOT.live] !== 1 || f[slot + SLOT["tp.state"]] === 1) continue;
        f[slot + SLOT.rcvTail] = f[slot + SLOT.rcvHead] + 10 * g.ringBytes;
        found = true;
      }
    },
  });
  assert.ok(found, "no connection record to corrupt");
  assert.equal(r.droppedOnRestore, 1);
  // The connection is gone: the peer is reset (and the app notices), nothing else breaks.
  assert.ok(!r.upOk || !r.downOk || r.errors.length > 0);
});

Deno.test("crash: several flows both ways (accept queue, SYN-SENT), random kill points (seeded)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1 << 20 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 40_000 }),
      fc.integer({ min: 0, max: 40_000 }),
      fc.constantFrom(0, 0.02),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 }),
      (seed, passive, active, upBytes, downBytes, loss, at) => {
        const o = { seed, passive, active, upBytes, downBytes, loss };
        const clean = deliversKilledAtFractions(o, at);
        assert.ok(clean.done && clean.upOk && clean.downOk, `clean: ${JSON.stringify(clean)}`);
      },
    ),
    { seed: 0x5eed8, numRuns: 40 },
  );
});

Deno.test("crash: an active open (SYN-SENT on the killed side) killed before every store", () => {
  const o = { seed: 4, passive: 0, active: 1, upBytes: 3000, downBytes: 3000, loss: 0 };
  const clean = crashRun({ ...o, killAt: [] });
  assert.ok(clean.done && clean.upOk && clean.downOk);
  for (let k = 0; k <= clean.writes; k += 3) deliversKilledAt(o, k);
});

/**
 * A listener over a fresh store (with `algo` as its congestion control, when given);
 * `reopen()` restores the store's one connection into a new stack.
 */
function listenerFixture(algo?: string) {
  const g = { records: 4, ringBytes: 4096 };
  const mem = new Uint8Array(ShmTcbStore.bytes(g));
  const store = ShmTcbStore.format(mem, g);
  const ctx = new FakeContext(1);
  const tcp = new Tcp(new Stack(ctx), store);
  if (algo !== undefined) tcp.stack.sysctl.set("net.inet.tcp.cc.algorithm", algo);
  const l = new TcpSocket(tcp, AF_INET);
  l.bind({ family: AF_INET, addr: "0.0.0.0", port: 80 });
  l.listen(4);
  const reopen = () => {
    const again = ShmTcbStore.open(mem) as ShmTcbStore;
    const r = again.restore(new Tcp(new Stack(ctx), again));
    assert.equal(r.length, 1);
    return r[0];
  };
  return { store, tcp, conn: l.conn, reopen };
}

Deno.test("store: owner tags come back with their connections", () => {
  const { store, tcp, conn, reopen } = listenerFixture();
  store.setOwner(conn.tp, [7, 0x123456789, -1, 2 ** 60]);
  store.commit(tcp, 1);
  assert.deepEqual(reopen().owner, [7, 0x123456789, -1, 0, 0]);
});

Deno.test("store: TCP_MAXSEG, TCP_USER_TIMEOUT and TCP_SYNCNT come back with their connections", () => {
  const { store, tcp, conn, reopen } = listenerFixture();
  [conn.userMss, conn.maxUnack, conn.synRetries] = [1200, 4_000_000, 2];
  store.commit(tcp, 1);
  const back = reopen().conn;
  assert.deepEqual([back.userMss, back.maxUnack, back.synRetries], [1200, 4_000_000, 2]);
});

// ---- congestion-control state ----

/** A random value of the kinds CC state holds: integers, fractions, -1 (no epoch), large µs. */
const ccWord = fc.oneof(
  fc.integer({ min: -1, max: 1 << 30 }),
  fc.double({ min: -1, max: 2 ** 40, noNaN: true, noDefaultInfinity: true }),
  fc.constant(-1),
);

/**
 * A listener over a fresh store, with `algo` as its congestion control; `reopen()` gives the
 * restored connection's CC variables.
 */
function ccFixture(algo: string) {
  const { store, tcp, conn, reopen } = listenerFixture(algo);
  return { store, tcp, ccv: conn.ccv, reopen: () => reopen().conn.ccv };
}

/** Sets every saved word of `ccv` from `w` (CCV_FIELDS, then the algorithm's fields). */
function setCc(ccv: CcVar, w: number[]): void {
  const src = new Float64Array(CC_SAVED_WORDS);
  src.set(w.slice(0, CC_SAVED_WORDS));
  ccLoadState(ccv, src, 0);
}

/**
 * The saved view of `ccv`: algorithm name, CcVar fields and the algorithm's own state (-0 as 0:
 * the store skips a word equal by `===`, so -0 may come back as 0, which no hook tells apart).
 */
function ccView(ccv: CcVar) {
  const data = ccv.data as Record<string, number> | undefined;
  return {
    algo: ccv.algo.name,
    v: CCV_FIELDS.map((f) => ccv[f] + 0),
    data: (ccv.algo.stateFields ?? []).map((f) => (data?.[f] ?? NaN) + 0),
  };
}

Deno.test("layout: every stored algorithm is registered and its state fits the cc words", () => {
  for (const n of CC_NAMES) {
    const a = ccAlgo(n);
    assert.ok(a, n);
    assert.ok((a.stateFields ?? []).length <= CC_WORDS - CCV_FIELDS.length, n);
  }
  // CUBIC keeps W_max, K and the epoch start (engine µs) among its stored fields.
  for (const f of ["wMax", "k", "epochStart", "wEst", "cwndPrior"]) {
    assert.ok(ccAlgo("cubic")?.stateFields?.includes(f), f);
  }
  assert.ok(SLOT.ccState + CC_WORDS === SLOT_WORDS);
});

Deno.test("store: congestion-control algorithm and state round-trip exactly (seeded)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...CC_NAMES),
      fc.array(ccWord, { minLength: CC_SAVED_WORDS, maxLength: CC_SAVED_WORDS }),
      (algo, w) => {
        const { store, tcp, ccv, reopen } = ccFixture(algo);
        setCc(ccv, w);
        const want = ccView(ccv);
        store.commit(tcp, 1);
        const got = reopen();
        assert.deepEqual(ccView(got), want);
        assert.equal(got.algo.name, algo);
      },
    ),
    { seed: 0xcc01, numRuns: 200 },
  );
});

Deno.test("store: a commit of new cc state killed at any store restores the old or the new state (seeded)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...CC_NAMES),
      fc.array(ccWord, { minLength: CC_SAVED_WORDS, maxLength: CC_SAVED_WORDS }),
      fc.array(ccWord, { minLength: CC_SAVED_WORDS, maxLength: CC_SAVED_WORDS }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (algo, w1, w2, at) => {
        const { store, tcp, ccv, reopen } = ccFixture(algo);
        setCc(ccv, w1);
        const old = ccView(ccv);
        store.commit(tcp, 1);
        setCc(ccv, w2);
        const neu = ccView(ccv);
        // Count the second commit's stores, then kill a copy of the run before one of them.
        let n = 0;
        store.onWrite = () => {
          if (n++ === kill) throw new Error("killed");
        };
        const total = countWrites(algo, w1, w2);
        const kill = Math.floor(at * total);
        try {
          store.commit(tcp, 2);
        } catch (e) {
          assert.equal((e as Error).message, "killed");
        }
        store.onWrite = undefined;
        const got = ccView(reopen());
        if (kill >= total) assert.deepEqual(got, neu);
        else assert.ok(deepEq(got, old) || deepEq(got, neu), `kill ${kill}/${total}`);
      },
    ),
    { seed: 0xcc02, numRuns: 150 },
  );
});

/** Stores the second commit of the kill property makes when nothing is killed. */
function countWrites(algo: string, w1: number[], w2: number[]): number {
  const { store, tcp, ccv } = ccFixture(algo);
  setCc(ccv, w1);
  store.commit(tcp, 1);
  setCc(ccv, w2);
  const b = store.counters.writes;
  store.commit(tcp, 2);
  return store.counters.writes - b;
}

function deepEq(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

Deno.test("crash: CUBIC flows, random kill points and loss (seeded)", () => {
  randomKills({ cc: "cubic" }, { seed: 0xc0b1c, numRuns: 15 });
});

for (const cc of CC_NAMES) {
  Deno.test(`crash: ${cc}: killed while connections close (TIME_WAIT, FIN_WAIT): timers restored, records freed, a finished flow not taken for lost`, () => {
    const o = { seed: 5, passive: 2, active: 1, upBytes: 2000, downBytes: 2000, loss: 0, cc };
    const clean = crashRun({ ...o, killAt: [], drainUs: 300_000_000 });
    assert.ok(clean.done && clean.upOk && clean.downOk);
    // Every store of the last fifth, the last ones (TIME_WAIT's end frees the records) included.
    for (let k = Math.floor(clean.writes * 0.8); k < clean.writes; k += 3) {
      const r = deliversKilledAt({ ...o, drainUs: 300_000_000 }, k);
      assert.equal(r.used, 1, `records left after a kill at store ${k}: ${r.used}`);
    }
  });
}

// ---- queues living in the records' rings ----

Deno.test("crash: queues in rings that wrap several times, random kill points and loss (seeded)", () => {
  // 128 KB rings under 32 KB send / 64 KB receive buffers: each stream goes round its ring
  // about four times, so pushes keep landing on bytes an older commit named.
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1 << 20 }),
      fc.integer({ min: 400_000, max: 600_000 }),
      fc.constantFrom(0, 0.01),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 3 }),
      (seed, bytes, loss, at) => {
        deliversKilledAtFractions({
          seed,
          upBytes: bytes,
          downBytes: bytes >> 1,
          loss,
          geometry: { records: 16, ringBytes: 1 << 17 },
        }, at);
      },
    ),
    { seed: 0x41e6, numRuns: 6 },
  );
});

Deno.test("store: a connection's queues live in its record's rings; one that lost its record keeps its bytes when the record is used again", () => {
  const g = { records: 1, ringBytes: 4096 };
  const mem = new Uint8Array(ShmTcbStore.bytes(g));
  const store = ShmTcbStore.format(mem, g);
  const tcp = new Tcp(new Stack(new FakeContext(1)), store);
  const listen = (port: number) => {
    const s = new TcpSocket(tcp, AF_INET);
    s.bind({ family: AF_INET, addr: "0.0.0.0", port });
    s.listen(4);
    return s.conn;
  };
  const a = listen(80);
  a.rcv.push(new Uint8Array([1, 2, 3]));
  store.commit(tcp, 1);
  const ring = a.rcv.ring;
  assert.ok(ring !== undefined && ring.buffer === mem.buffer, "the receive queue is in the region");
  assert.equal(a.snd.ring, undefined, "an empty queue stays out (idle connections cost nothing)");
  a.rcv.push(new Uint8Array(1000).fill(7));
  // Pushed bytes are in the ring at their stream offsets before any commit: it copies none.
  assert.deepEqual(Array.from(ring.subarray(0, 1004)), [1, 2, 3, ...new Array(1000).fill(7), 0]);
  store.commit(tcp, 2);
  // The record goes (as for a reset connection whose data the user has not read yet) and the
  // next connection gets it: the first one's bytes stay its own.
  tcp.detach(a);
  store.commit(tcp, 3);
  assert.equal(a.rcv.ring, undefined);
  const b = listen(81);
  b.rcv.push(new Uint8Array(4000).fill(9));
  store.commit(tcp, 4);
  assert.equal(b.rcv.ring?.byteOffset, ring.byteOffset);
  assert.deepEqual(Array.from(a.rcv.copy(0, 4)), [1, 2, 3, 7]);
  assert.equal(a.rcv.length, 1003);
});

Deno.test("store: TIME_WAIT gives its record back at the next commit; a record's ring views are made once for all its connections", () => {
  const g = { records: 1, ringBytes: 4096 };
  const mem = new Uint8Array(ShmTcbStore.bytes(g));
  const made: number[] = [];
  const views = (offset: number, len: number) => {
    made.push(offset);
    return mem.subarray(offset, offset + len);
  };
  const store = ShmTcbStore.format(mem, g, false, views);
  const tcp = new Tcp(new Stack(new FakeContext(1)), store);
  const open = (port: number) => {
    const s = new TcpSocket(tcp, AF_INET);
    s.bind({ family: AF_INET, addr: "0.0.0.0", port });
    s.listen(4);
    s.conn.rcv.push(new Uint8Array([port & 255]));
    store.commit(tcp, port);
    return s.conn;
  };
  const a = open(80);
  assert.ok(a.rcv.ring !== undefined, "the first connection has the record");
  // A connection ending in TIME_WAIT (set here: the engine's state machine is tested elsewhere).
  a.rcv.drop(a.rcv.length);
  a.tp.state = TCPS_TIME_WAIT;
  tcp.changed?.add(a);
  store.commit(tcp, 90);
  assert.equal(a.rcv.ring, undefined, "its queues left the record");
  const lost = store.counters.lost;
  const b = open(81);
  assert.equal(store.counters.lost, lost, "the next connection got the record TIME_WAIT gave back");
  assert.equal(b.rcv.ring?.byteOffset, made.length === 1 ? mem.subarray(made[0]).byteOffset : -1);
  assert.equal(made.length, 1, "one view for the record's receive ring, made once");
});

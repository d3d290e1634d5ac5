/**
 * TCP state in shared memory (DESIGN §5): a {@link TcbStore} whose records live in a region
 * laid out by layout.ts, committed by {@link ShmTcbStore.commit} and read back by a new
 * incarnation with {@link ShmTcbStore.restore}.
 *
 * The engine keeps working on heap objects (a Tcpcb, a TcpConn with its byte queues); the store
 * mirrors them into the region at commit points. The server commits once per loop turn, before
 * it lets the turn's frames out (output commit): whatever the peer or the user was told (an ACK,
 * a window, data) is already in the records when it leaves, so a restart can only fall back to
 * a state older than anything anyone outside has seen — except for the user's own counters,
 * which {@link reconcile} lines up (absolute stream offsets on both sides).
 *
 * A connection's send and receive queues live in its record's two rings (ByteQueue.useRing),
 * so a commit copies no byte: the engine writes them there as it queues them, after the
 * committed tail and never over the committed range (a queue that would leaves its ring and the
 * connection is lost to restarts, as one with no record is).
 *
 * Write order of one record's commit, so that a SIGKILL at any store leaves a state the next
 * incarnation repairs:
 *   1. new send/receive bytes into the rings, after the committed tail (outside the committed
 *      range: a torn write there is never read) — done by the queues before the commit;
 *   2. `dirty = 1`;
 *   3. the inactive slot, word by word;
 *   4. `gen = gen + 1` — the commit point: one aligned 8-byte store selects the new slot;
 *   5. `dirty = 0`.
 * A restart reads each record's active slot (`gen & 1`), which no commit ever writes; a record
 * found dirty had a commit torn before step 4 and falls back to its previous state (counted).
 * Records are committed one at a time; nothing in one record depends on another except a
 * child's listener, which is checked on restore.
 *
 * Conservative repair on restore: what is not in the records is rebuilt as after a
 * retransmission timeout — sndNxt back to sndUna (go-back-N), SACK scoreboard and
 * recovery state empty, no RTT sample in flight, an ACK sent at once (window update), every
 * timer re-armed from its stored deadline (REXMT armed when data is outstanding). The
 * reassembly queue is not stored: out-of-order data the peer saw SACKed is reneged, which
 * RFC 2018 §8 allows (the sender keeps data until it is cumulatively acknowledged).
 *
 * @module
 */
import { type IpAddr, ipBytes, ipFromBytes } from "../ip/addr.ts";
import type { Tcp } from "../tcp/tcp.ts";
import { TcpConn, timerActivate } from "../tcp/conn.ts";
import {
  newTcpcb,
  type TcbStore,
  type Tcpcb,
  TCPS_CLOSED,
  TCPS_ESTABLISHED,
  TCPS_LISTEN,
  TCPS_TIME_WAIT,
  TF_ACKNOW,
  TF_CONGRECOVERY,
  TF_FASTRECOVERY,
  TT_COUNT,
  TT_REXMT,
} from "../tcp/tcpcb.ts";
import { tcpOutput } from "../tcp/output.ts";
import { ccLoadState, ccSaveState } from "../tcp/cc/builtin.ts";
import { CountingByteQueue } from "./counting_queue.ts";
import {
  CC_NAMES,
  CF,
  checkGeometry,
  CONN_FIELDS,
  CTL,
  CTL_WORDS,
  HDR,
  HEADER_WORDS,
  KEY_BYTES,
  LAYOUT_HASH,
  MAGIC,
  OWNER_WORDS,
  RECORD_WORDS,
  recordsOffset,
  regionBytes,
  ringsOffset,
  SLOT,
  SLOT_WORDS,
  type StoreGeometry,
  TCPCB_FIELDS,
} from "./layout.ts";

/**
 * Bytes `[offset, offset + len)` of the region, as their own array: a region of thousands of
 * 2 MiB rings (16 GiB for 4096 records) is then never one ArrayBuffer. V8 counts an external
 * buffer's whole length as memory the heap holds, and one that large kept its collector
 * marking: with 1000 connections stored beside an iperf3 flow, 63 % of the TCP/IP server's
 * CPU went to V8's worker threads and the flow fell from 15 to 1.6 Gbit/s.
 */
export type RingViews = (offset: number, len: number) => Uint8Array;

/** What the store counts. */
export interface StoreCounters {
  /** Record commits (a record whose state changed). */
  commits: number;
  /** Records unchanged at a commit point (not rewritten). */
  unchanged: number;
  /** Words and ring blocks stored. */
  writes: number;
  /** Connections that could not be stored (records full or a ring overrun): reset on restart. */
  lost: number;
  /** Connections restored by {@link ShmTcbStore.restore}. */
  restored: number;
  /** Records found mid-commit on restore (fell back to their previous state). */
  torn: number;
  /** Records found lost on restore (their connection is gone; the peer gets a RST). */
  droppedOnRestore: number;
}

/** A connection brought back by {@link ShmTcbStore.restore}. */
export interface RestoredConn {
  conn: TcpConn;
  /** Its socket descriptor in the previous incarnation (-1: none, e.g. in an accept queue). */
  fd: number;
  /** Bytes the previous incarnation had taken from the user (absolute send offset). */
  sndTail: number;
  /** Bytes the previous incarnation had given the user (absolute receive offset). */
  rcvHead: number;
  /** The owner tag set with {@link ShmTcbStore.setOwner} (zeros when none). */
  owner: number[];
}

/** A connection's 4-tuple as last stored (see ShmTcbStore.#id). */
interface ConnId {
  version: number;
  laddr: IpAddr;
  faddr: IpAddr;
  lport: number;
  fport: number;
  key: string;
  words: Float64Array;
}

const LIVE_FREE = 0;
const LIVE = 1;
const LIVE_LOST = 2;

const W = (name: string) => SLOT[name];

/** Untouched connections looked at per commit (see ShmTcbStore.commit). */
export const SWEEP_PER_COMMIT = 8;
const TP_WORD = TCPCB_FIELDS.map((f) => W(`tp.${f}`));
const CC_STATE = SLOT.ccState;
/** Slot word offsets of the connection fields, as constants (hot path: no lookup by name). */
const O = Object.freeze(Object.fromEntries(CONN_FIELDS.map((f) => [f, SLOT[f]]))) as Readonly<
  Record<(typeof CONN_FIELDS)[number], number>
>;
/**
 * Copies the tcpcb's fields into slot words and back, as straight-line code made from the
 * layout's field list (a loop over names would be a keyed lookup per field and record).
 */
const tcpcbToWords = new Function(
  "tp",
  "s",
  TCPCB_FIELDS.map((f, j) => `s[${TP_WORD[j]}] = +tp.${f};`).join("\n"),
) as (tp: Tcpcb, s: Float64Array) => void;

/** A freed record's ring is given back only when its connection used this much of it. */
const RELEASE_MIN_BYTES = 256 * 1024;

/**
 * The shared-memory store. Make one with {@link ShmTcbStore.format} (a fresh region) or
 * {@link ShmTcbStore.open} (a region a previous incarnation left), install it on a Tcp with
 * {@link installStore}, call {@link commit} at every output point.
 */
export class ShmTcbStore implements TcbStore {
  readonly mem: Uint8Array;
  readonly geometry: StoreGeometry;
  readonly counters: StoreCounters = {
    commits: 0,
    unchanged: 0,
    writes: 0,
    lost: 0,
    restored: 0,
    torn: 0,
    droppedOnRestore: 0,
  };
  /**
   * Test hook: called before every store into the region with the number of stores done so
   * far (a crash-consistency test snapshots the region here).
   */
  onWrite: ((n: number) => void) | undefined;

  #f64: Float64Array;
  #recBase: number;
  #ringBase: number;
  #index = new Map<Tcpcb, number>();
  #free: number[] = [];
  #pendingFree: number[] = [];
  /** Bytes of each record's rings a connection went through (send, receive), until freed. */
  #ringUsed = new Map<number, [number, number]>();
  /**
   * Called with the byte range (offset in `mem`, length) of a freed record's ring that a
   * connection's data went through, once the record is stored free: the owner of the memory
   * may give its pages back (persist.ts: madvise MADV_REMOVE). Not called for small use.
   */
  onRingFreed?: (offset: number, bytes: number) => void;
  /** Per record: committed at least once since it was allocated to its current tcpcb. */
  #owned: Uint8Array;
  /** Per record: marked lost (stays lost until freed). */
  #lost: Uint8Array;
  /** Per record: the connection whose byte queues live in its rings (see #commitConn). */
  #connOf: (TcpConn | undefined)[];
  #scratch = new Float64Array(SLOT_WORDS);
  #addr = new Uint8Array(16);
  #addrView = new DataView(this.#addr.buffer);
  /** Per connection: its addresses as stored words and its table key, until they change. */
  #ids = new WeakMap<TcpConn, ConnId>();
  #seen = new Set<TcpConn>();
  /** Where the sweep of untouched connections stands (see {@link commit}), and in which Tcp. */
  #sweep: Iterator<TcpConn> | undefined;
  #sweepOf: Tcp | undefined;
  /** Owner tags by control block (stored with the record at the next commit). */
  #owners = new WeakMap<Tcpcb, number[]>();

  /** Where ring bytes are reached when `mem` holds the records only (see {@link RingViews}). */
  #ringViews: RingViews | undefined;
  /** The views {@link RingViews} made, by record and ring (see #ring). */
  #ringCache: (Uint8Array | undefined)[] = [];

  private constructor(mem: Uint8Array, g: StoreGeometry, rings?: RingViews) {
    this.mem = mem;
    this.geometry = g;
    this.#ringViews = rings;
    this.#f64 = new Float64Array(mem.buffer, mem.byteOffset, Math.floor(mem.byteLength / 8));
    this.#recBase = recordsOffset() / 8;
    this.#ringBase = ringsOffset(g);
    this.#owned = new Uint8Array(g.records);
    this.#lost = new Uint8Array(g.records);
    this.#connOf = new Array(g.records).fill(undefined);
  }

  /** Bytes a region for `g` needs. */
  static bytes(g: StoreGeometry): number {
    return regionBytes(g);
  }

  /**
   * Lays out a fresh store over `mem` (zeroing header and record control words; `zeroed`: the
   * memory is known to be all zeros, a file just made, whose pages are then left untouched).
   */
  static format(
    mem: Uint8Array,
    g: StoreGeometry,
    zeroed = false,
    rings?: RingViews,
  ): ShmTcbStore {
    const bad = checkGeometry(g);
    if (bad) throw new RangeError(`Cannot format TCP state region: ${bad}`);
    const need = rings ? ringsOffset(g) : regionBytes(g);
    if (mem.byteOffset % 8 !== 0 || mem.byteLength < need) {
      throw new RangeError(
        `Cannot format TCP state region: needs ${need} bytes 8-aligned, got ${mem.byteLength}`,
      );
    }
    const s = new ShmTcbStore(mem, g, rings);
    const f = s.#f64;
    if (!zeroed) f.fill(0, 0, s.#recBase + g.records * RECORD_WORDS);
    f[HDR.layoutHash] = LAYOUT_HASH;
    f[HDR.records] = g.records;
    f[HDR.ringBytes] = g.ringBytes;
    f[HDR.magic] = MAGIC; // last: a half-formatted region is not taken for a valid one
    for (let i = g.records - 1; i >= 0; i--) s.#free.push(i);
    return s;
  }

  /**
   * Opens a region a previous incarnation wrote. Returns a message saying why it cannot be
   * used (never formatted, another layout, bad geometry) instead of throwing.
   */
  static open(mem: Uint8Array, rings?: RingViews): ShmTcbStore | string {
    if (mem.byteOffset % 8 !== 0 || mem.byteLength < HEADER_WORDS * 8) {
      return `region of ${mem.byteLength} bytes is too small`;
    }
    const f = new Float64Array(mem.buffer, mem.byteOffset, HEADER_WORDS);
    if (f[HDR.magic] !== MAGIC) return "not a TCP state region (no magic)";
    if (f[HDR.layoutHash] !== LAYOUT_HASH) {
      return `layout ${f[HDR.layoutHash]} differs from this server's ${LAYOUT_HASH}`;
    }
    const g = { records: f[HDR.records], ringBytes: f[HDR.ringBytes] };
    const bad = checkGeometry(g);
    if (bad) return bad;
    if (mem.byteLength < (rings ? ringsOffset(g) : regionBytes(g))) {
      return `region shorter than its geometry needs`;
    }
    return new ShmTcbStore(mem, g, rings);
  }

  /** Engine clock (µs) at the last commit (0 on a fresh region). */
  get clock(): number {
    return this.#f64[HDR.clock];
  }

  /**
   * The engine's keys (ISNs and timestamp offsets, SYN cookies: Tcp): the ones an earlier
   * incarnation stored, else `make()`'s, stored now. A restarted server that drew new ones gave
   * a port it reused for the same peer a new sequence and timestamp space, and a peer still
   * holding that port in TIME_WAIT refused its SYN (PAWS), which waited 1 s to be resent (a
   * helper's ab with restarts: 58-69 s instead of 4).
   */
  keys(make: () => Uint8Array): Uint8Array {
    const f = this.#f64;
    const k = new Uint8Array(KEY_BYTES);
    const dv = new DataView(k.buffer);
    if (f[HDR.keysSet] === 1) {
      for (let i = 0; i < KEY_BYTES / 4; i++) dv.setUint32(i * 4, f[HDR.keys + i] >>> 0, true);
      return k;
    }
    k.set(make().subarray(0, KEY_BYTES));
    for (let i = 0; i < KEY_BYTES / 4; i++) this.#store(HDR.keys + i, dv.getUint32(i * 4, true));
    this.#store(HDR.keysSet, 1);
    return k;
  }

  /** Times this region was restored. */
  get restores(): number {
    return this.#f64[HDR.restores];
  }

  /** Records in use. */
  get used(): number {
    return this.#index.size;
  }

  // ---- TcbStore ----

  /** Tcp.changed tells commit() which connections to store (see there). */
  readonly tracksChanges = true;
  /** Untouched connections a commit looks at (tests set 0 to check the marks alone). */
  sweepPerCommit = SWEEP_PER_COMMIT;

  alloc(): Tcpcb {
    const tp = newTcpcb();
    const i = this.#free.pop();
    if (i === undefined) {
      // Out of records: the connection works but does not survive a restart.
      this.counters.lost++;
      return tp;
    }
    this.#index.set(tp, i);
    this.#owned[i] = 0;
    this.#lost[i] = 0;
    this.#connOf[i] = undefined;
    return tp;
  }

  free(tp: Tcpcb): void {
    const i = this.#index.get(tp);
    if (i === undefined) return;
    this.#index.delete(tp);
    // The connection may live on without its record (a reset one's unread data): its queues
    // leave the record's rings, which the next connection given the record writes into.
    const c = this.#connOf[i];
    if (c) {
      const cap = this.geometry.ringBytes;
      const used = (q: unknown) =>
        q instanceof CountingByteQueue && q.ring !== undefined ? Math.min(cap, q.tailAbs) : 0;
      this.#ringUsed.set(i, [used(c.snd), used(c.rcv)]);
      c.snd.leaveRing();
      c.rcv.leaveRing();
      this.#connOf[i] = undefined;
    }
    // Written at the next commit point, with everything else of this turn.
    this.#pendingFree.push(i);
  }

  all(): Iterable<Tcpcb> {
    return this.#index.keys();
  }

  /**
   * Tags a connection with up to {@link OWNER_WORDS} numbers (safe integers) its user side
   * needs to recognise it after a restart; stored at the next commit, returned by restore.
   */
  setOwner(tp: Tcpcb, tag: number[]): void {
    const t = new Array<number>(OWNER_WORDS).fill(0);
    for (let i = 0; i < Math.min(tag.length, OWNER_WORDS); i++) {
      t[i] = Number.isSafeInteger(tag[i]) ? tag[i] : 0;
    }
    this.#owners.set(tp, t);
  }

  // ---- commit ----

  #store(word: number, v: number): void {
    this.onWrite?.(this.counters.writes);
    this.counters.writes++;
    this.#f64[word] = v;
  }

  /**
   * Record `rec`'s send (0) or receive (1) ring, indexed by absolute stream offset. A view made
   * by {@link RingViews} is kept
   * for the record's next connections: each is a new external ArrayBuffer, which V8 counts
   * against its heap limits, and one per connection made a server accepting 1,000 short
   * connections a second spend ~90 % of its time collecting (issue 9: 2-5 ms per HTTP request).
   */
  #ring(rec: number, which: 0 | 1): Uint8Array {
    const cap = this.geometry.ringBytes;
    const base = this.#ringBase + (rec * 2 + which) * cap;
    if (!this.#ringViews) return this.mem.subarray(base, base + cap);
    return this.#ringCache[rec * 2 + which] ??= this.#ringViews(base, cap);
  }

  /**
   * Record `i` is stored free: the pages its connection's data went through in its rings are
   * given back (a ring of 2 MB per direction and record: 1,000 connections that filled theirs
   * held 1.3 GB of tmpfs after they were gone, a helper's run). Small use is left alone: a
   * short connection's few pages cost less than the call.
   */
  #releaseRings(i: number): void {
    const used = this.#ringUsed.get(i);
    if (used === undefined) return;
    this.#ringUsed.delete(i);
    const cap = this.geometry.ringBytes;
    for (const which of [0, 1] as const) {
      if (used[which] < RELEASE_MIN_BYTES || !this.onRingFreed) continue;
      const len = Math.min(cap, Math.ceil(used[which] / 4096) * 4096);
      this.onRingFreed(this.#ringBase + (i * 2 + which) * cap, len);
    }
  }

  #rec(i: number): number {
    return this.#recBase + i * RECORD_WORDS;
  }

  #activeSlot(i: number): number {
    const r = this.#rec(i);
    const gen = this.#f64[r + CTL.gen];
    return r + CTL_WORDS + (gen % 2) * SLOT_WORDS;
  }

  /** Writes `scratch` as record `i`'s new state (steps 2–5 of the write order). */
  #commitSlot(i: number, scratch: Float64Array): void {
    const r = this.#rec(i);
    const f = this.#f64;
    const gen = f[r + CTL.gen];
    const next = r + CTL_WORDS + ((gen + 1) % 2) * SLOT_WORDS;
    this.#store(r + CTL.dirty, 1);
    for (let w = 0; w < SLOT_WORDS; w++) {
      // The inactive slot only has to end equal to scratch: skip words already equal.
      if (f[next + w] !== scratch[w]) this.#store(next + w, scratch[w]);
    }
    this.#store(r + CTL.gen, gen + 1);
    this.#store(r + CTL.dirty, 0);
    this.counters.commits++;
  }

  #writeAddr(s: Float64Array, at: number, a: IpAddr, v: 4 | 6): void {
    const b = this.#addr;
    b.fill(0);
    if (a !== "") {
      try {
        b.set(ipBytes(a).subarray(0, v === 4 ? 4 : 16));
      } catch {
        // an unparsable address stays zero
      }
    }
    const dv = this.#addrView;
    for (let k = 0; k < 4; k++) s[at + k] = dv.getUint32(4 * k);
  }

  /** The connection's identity words and key, recomputed only when its 4-tuple changed. */
  #id(c: TcpConn): ConnId {
    let id = this.#ids.get(c);
    if (
      id === undefined || id.version !== c.version || id.laddr !== c.laddr ||
      id.faddr !== c.faddr || id.lport !== c.lport || id.fport !== c.fport
    ) {
      const words = new Float64Array(8);
      this.#writeAddr(words, 0, c.laddr, c.version);
      this.#writeAddr(words, 4, c.faddr, c.version);
      id = {
        version: c.version,
        laddr: c.laddr,
        faddr: c.faddr,
        lport: c.lport,
        fport: c.fport,
        key: `${c.version}|${c.laddr}|${c.lport}|${c.faddr}|${c.fport}`,
        words,
      };
      this.#ids.set(c, id);
    }
    return id;
  }

  #readAddr(slot: number, at: number, v: 4 | 6): IpAddr {
    const b = this.#addr;
    const dv = this.#addrView;
    for (let k = 0; k < 4; k++) dv.setUint32(4 * k, this.#f64[slot + at + k] >>> 0);
    return ipFromBytes(b, 0, v);
  }

  /**
   * Stores every connection of `tcp` whose state changed since the last commit, and frees the
   * records of connections gone since. Call it before letting this turn's frames out.
   * Returns the records written.
   *
   * It looks at every listener, at the connections `tcp` marked changed (Tcp.changed: every
   * connection that sent a segment is among them), and at `sweepPerCommit` more of the table
   * in turn; a Tcp that marks nothing (made with another store) has all of its table
   * looked at. Every connection at each commit made a busy turn cost O(connections): an
   * iperf3 flow beside 10,000 idle connections fell from 12.5 to 1.2 Gbit/s.
   */
  commit(tcp: Tcp, now: number): number {
    const start = this.counters.commits;
    this.#store(HDR.clock, now);
    const seen = this.#seen;
    for (const ls of tcp.listeners.values()) for (const c of ls) seen.add(c);
    const changed = tcp.changed;
    if (changed === undefined) {
      for (const c of tcp.conns.values()) seen.add(c);
    } else {
      for (const c of changed) {
        // As before: only what is in a table (an unbound socket has nothing to restore).
        if (tcp.conns.get(this.#id(c).key) === c) seen.add(c);
      }
      changed.clear();
      this.#sweepSome(tcp, seen);
    }
    for (const c of seen) this.#commitConn(tcp, c);
    seen.clear();
    for (const i of this.#pendingFree) {
      const s = this.#scratch;
      s.set(this.#f64.subarray(this.#activeSlot(i), this.#activeSlot(i) + SLOT_WORDS));
      if (this.#f64[this.#rec(i) + CTL.gen] !== 0 && s[W("live")] !== LIVE_FREE) {
        s[W("live")] = LIVE_FREE;
        this.#commitSlot(i, s);
      }
      this.#free.push(i);
      this.#releaseRings(i);
    }
    this.#pendingFree.length = 0;
    this.#store(HDR.commits, this.#f64[HDR.commits] + 1);
    return this.counters.commits - start;
  }

  /**
   * Adds the next `sweepPerCommit` connections of the table to `seen`, going round: a
   * change no path marked is stored a little later, never lost.
   */
  #sweepSome(tcp: Tcp, seen: Set<TcpConn>): void {
    if (this.#sweepOf !== tcp) this.#sweep = undefined;
    this.#sweepOf = tcp;
    let it = this.#sweep ?? tcp.conns.values();
    for (let k = 0; k < this.sweepPerCommit; k++) {
      const r = it.next();
      if (r.done) {
        it = tcp.conns.values(); // the next commit starts over
        break;
      }
      seen.add(r.value);
    }
    this.#sweep = it;
  }

  #commitConn(tcp: Tcp, c: TcpConn): void {
    const i = this.#index.get(c.tp);
    if (i === undefined) return;
    if (c.tp.state === TCPS_TIME_WAIT) {
      // TIME_WAIT gives its record back (written free at this commit): a restart forgets it,
      // and a late FIN is answered with a reset instead of an ACK. Kept, a server closing
      // 1,000 short connections a second held a record each for 2 MSL: the 4096 records ran
      // out within seconds, later connections were lost to restarts, and every record's ring
      // became an external array to V8, which then collected without pause (issue 9: lighttpd
      // `ab -c1` 78-174 requests/s).
      this.free(c.tp);
      return;
    }
    const f = this.#f64;
    const s = this.#scratch;
    const active = this.#activeSlot(i);
    const owned = this.#owned[i] === 1;
    if (!(c.snd instanceof CountingByteQueue)) c.snd = CountingByteQueue.from(c.snd);
    if (!(c.rcv instanceof CountingByteQueue)) c.rcv = CountingByteQueue.from(c.rcv);
    const snd = c.snd as CountingByteQueue;
    const rcv = c.rcv as CountingByteQueue;
    let lost = this.#lost[i] === 1;
    // Step 1: the queues live in the record's rings, so their bytes are there already.
    if (!lost && !(this.#intoRing(i, 0, snd) && this.#intoRing(i, 1, rcv))) {
      lost = true;
      this.counters.lost++;
      this.#lost[i] = 1;
    }
    if (!lost) this.#connOf[i] = c;
    this.#fill(tcp, c, s, lost);
    if (owned && !lost) {
      let same = true;
      for (let w = 0; w < SLOT_WORDS; w++) {
        if (f[active + w] !== s[w]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.counters.unchanged++;
        snd.settle();
        rcv.settle();
        return;
      }
    }
    if (lost && owned && f[active + O.live] === LIVE_LOST) return; // already stored as lost
    this.#commitSlot(i, s);
    this.#owned[i] = 1;
    // The records now start at the queues' heads: what was dropped before may be written over.
    snd.settle();
    rcv.settle();
  }

  /**
   * Keeps queue `q` of record `i` in its ring (0 send, 1 receive). A queue goes there with its
   * first bytes (an idle connection's empty queues cost no memory); false when it cannot: it
   * left the ring (a push would have written over committed bytes: a buffer larger than the
   * ring allows) or holds more than the ring.
   */
  #intoRing(i: number, which: 0 | 1, q: CountingByteQueue): boolean {
    if (q.ring !== undefined) return true;
    if (q.leftRing) return false;
    if (q.length === 0) return true;
    const cap = this.geometry.ringBytes;
    if (q.length > cap) return false;
    q.useRing(this.#ring(i, which), q.headAbs % cap);
    return true;
  }

  #fill(tcp: Tcp, c: TcpConn, s: Float64Array, lost: boolean): void {
    const tp = c.tp;
    s.fill(0);
    s[O.live] = lost ? LIVE_LOST : LIVE;
    const id = this.#id(c);
    s[O.version] = c.version;
    const w = id.words; // copied word by word: no subarray per connection per commit
    for (let k = 0; k < 4; k++) {
      s[O.laddr0 + k] = w[k];
      s[O.faddr0 + k] = w[4 + k];
    }
    s[O.lport] = c.lport;
    s[O.fport] = c.fport;
    s[O.fd] = c.fd;
    const pi = c.parent ? this.#index.get(c.parent.tp) : undefined;
    s[O.parent] = pi === undefined ? 0 : pi + 1;
    let fl = 0;
    if (c.cantRcvMore) fl |= CF.cantRcvMore;
    if (c.cantSendMore) fl |= CF.cantSendMore;
    if (c.closed) fl |= CF.closed;
    if (c.isDisconnected) fl |= CF.isDisconnected;
    if (c.keepalive) fl |= CF.keepalive;
    if (c.lingerOn) fl |= CF.lingerOn;
    if (c.reuseAddr) fl |= CF.reuseAddr;
    if (c.reusePort) fl |= CF.reusePort;
    if (c.oobInline) fl |= CF.oobInline;
    if (c.dropped) fl |= CF.dropped;
    if (c.peerSackOk) fl |= CF.peerSackOk;
    if (c.dropOptions) fl |= CF.dropOptions;
    if (tcp.conns.get(id.key) === c) fl |= CF.inConns;
    if (tcp.listeners.get(c.lport)?.includes(c)) fl |= CF.inListeners;
    s[O.flags] = fl;
    s[O.sndHiwat] = c.sndHiwat;
    s[O.rcvHiwat] = c.rcvHiwat;
    s[O.soError] = c.soError;
    s[O.backlog] = c.backlog;
    s[O.lingerSecs] = c.lingerSecs;
    s[O.ipTtl] = c.ipTtl;
    s[O.ipTos] = c.ipTos;
    s[O.userMss] = c.userMss;
    s[O.maxUnack] = c.maxUnack;
    s[O.synRetries] = c.synRetries;
    const cc = (CC_NAMES as readonly string[]).indexOf(c.ccv.algo.name);
    s[O.cc] = cc < 0 ? 0 : cc;
    s[O.oobMark] = c.oobMark;
    const snd = c.snd as CountingByteQueue;
    const rcv = c.rcv as CountingByteQueue;
    s[O.sndHead] = snd.headAbs;
    s[O.sndTail] = snd.tailAbs;
    s[O.rcvHead] = rcv.headAbs;
    s[O.rcvTail] = rcv.tailAbs;
    const owner = this.#owners.get(tp);
    if (owner) { for (let i = 0; i < OWNER_WORDS; i++) s[O.owner0 + i] = owner[i]; }
    tcpcbToWords(tp, s);
    for (let t = 0; t < TT_COUNT; t++) s[SLOT.timers + t] = tp.tTimers[t];
    ccSaveState(c.ccv, s, CC_STATE);
  }

  // ---- restore ----

  /**
   * Rebuilds every stored connection into `tcp` (a fresh Tcp over a fresh Stack whose clock
   * continues the previous one: see {@link clock}), repairs it conservatively, re-arms its
   * timers and sends what the repair calls for. Returns the connections, for the socket layer
   * to enter under their descriptors and the user side to {@link reconcile}.
   */
  restore(tcp: Tcp): RestoredConn[] {
    const f = this.#f64;
    const g = this.geometry;
    const now = tcp.now();
    const byRec = new Array<TcpConn | undefined>(g.records);
    const out: RestoredConn[] = [];
    const parents: [TcpConn, number][] = [];
    this.#free = [];
    this.#index.clear();
    for (let i = g.records - 1; i >= 0; i--) {
      const r = this.#rec(i);
      const gen = f[r + CTL.gen];
      if (f[r + CTL.dirty] !== 0) this.counters.torn++;
      const slot = this.#activeSlot(i);
      let live = gen === 0 ? LIVE_FREE : f[slot + W("live")];
      if (live === LIVE && this.#insane(slot)) live = LIVE_LOST;
      if (live !== LIVE) {
        if (live === LIVE_LOST) {
          this.counters.droppedOnRestore++;
          this.#pendingFree.push(i);
        } else this.#free.push(i);
        continue;
      }
      const tp = newTcpcb();
      const rec = tp as unknown as Record<string, number>;
      for (let j = 0; j < TCPCB_FIELDS.length; j++) rec[TCPCB_FIELDS[j]] = f[slot + TP_WORD[j]];
      for (let t = 0; t < TT_COUNT; t++) tp.tTimers[t] = f[slot + SLOT.timers + t];
      const cc = CC_NAMES[f[slot + W("cc")]] ?? "newreno";
      const c = new TcpConn(tcp, tp, cc);
      // The algorithm's state as it was (times are engine µs: the clock continues).
      ccLoadState(c.ccv, f, slot + CC_STATE);
      const v = f[slot + W("version")] === 6 ? 6 : 4;
      c.version = v;
      c.laddr = this.#readAddr(slot, W("laddr0"), v);
      c.lport = f[slot + W("lport")];
      c.faddr = this.#readAddr(slot, W("faddr0"), v);
      c.fport = f[slot + W("fport")];
      c.fd = f[slot + W("fd")];
      const fl = f[slot + W("flags")];
      c.cantRcvMore = (fl & CF.cantRcvMore) !== 0;
      c.cantSendMore = (fl & CF.cantSendMore) !== 0;
      c.closed = (fl & CF.closed) !== 0;
      c.isDisconnected = (fl & CF.isDisconnected) !== 0;
      c.keepalive = (fl & CF.keepalive) !== 0;
      c.lingerOn = (fl & CF.lingerOn) !== 0;
      c.reuseAddr = (fl & CF.reuseAddr) !== 0;
      c.reusePort = (fl & CF.reusePort) !== 0;
      c.oobInline = (fl & CF.oobInline) !== 0;
      c.dropped = (fl & CF.dropped) !== 0;
      c.peerSackOk = (fl & CF.peerSackOk) !== 0;
      c.dropOptions = (fl & CF.dropOptions) !== 0;
      c.sndHiwat = f[slot + W("sndHiwat")];
      c.rcvHiwat = f[slot + W("rcvHiwat")];
      c.soError = f[slot + W("soError")];
      c.backlog = f[slot + W("backlog")];
      c.lingerSecs = f[slot + W("lingerSecs")];
      c.ipTtl = f[slot + W("ipTtl")];
      c.ipTos = f[slot + W("ipTos")];
      c.userMss = f[slot + W("userMss")];
      c.maxUnack = f[slot + W("maxUnack")];
      c.synRetries = f[slot + W("synRetries")];
      c.oobMark = f[slot + W("oobMark")];
      // The queues go on in the rings, where their bytes are (#insane checked the spans).
      const snd = this.#restoreQueue(i, 0, f[slot + W("sndHead")], f[slot + W("sndTail")]);
      const rcv = this.#restoreQueue(i, 1, f[slot + W("rcvHead")], f[slot + W("rcvTail")]);
      c.snd = snd;
      c.rcv = rcv;
      this.#connOf[i] = c;
      this.#index.set(tp, i);
      this.#owned[i] = 1;
      this.#lost[i] = 0;
      byRec[i] = c;
      if (fl & CF.inConns) tcp.insert(c);
      if (fl & CF.inListeners) tcp.addListener(c);
      const p = f[slot + W("parent")];
      if (p > 0) parents.push([c, p - 1]);
      const owner: number[] = [];
      for (let k = 0; k < OWNER_WORDS; k++) owner.push(f[slot + W("owner0") + k]);
      if (owner.some((x) => x !== 0)) this.#owners.set(tp, owner);
      out.push({ conn: c, fd: c.fd, sndTail: snd.tailAbs, rcvHead: rcv.headAbs, owner });
    }
    // Children back into their listener's queues (a child whose listener is gone is dropped
    // at its next segment or timer like any orphan: it keeps its record until it closes).
    for (const [c, p] of parents) {
      const l = byRec[p];
      if (!l || l.tp.state !== TCPS_LISTEN || l.lport !== c.lport) continue;
      c.parent = l;
      if (c.tp.state >= TCPS_ESTABLISHED) l.acceptQueue.push(c);
      else l.incomplete.add(c);
    }
    for (const r of out) this.#repair(r.conn, now);
    this.counters.restored += out.length;
    this.#store(HDR.restores, f[HDR.restores] + 1);
    return out;
  }

  /** A queue holding stream bytes [head, tail) of record `i`'s ring `which`, left there. */
  #restoreQueue(i: number, which: 0 | 1, head: number, tail: number): CountingByteQueue {
    const q = new CountingByteQueue(head);
    if (tail > head) q.useRing(this.#ring(i, which), head % this.geometry.ringBytes, tail - head);
    return q;
  }

  /** Whether a live slot holds values no commit writes (checked before any use). */
  #insane(slot: number): boolean {
    const f = this.#f64;
    const int = (w: string, lo: number, hi: number) => {
      const v = f[slot + W(w)];
      return !Number.isInteger(v) || v < lo || v > hi;
    };
    const cap = this.geometry.ringBytes;
    const span = (h: string, t: string) => {
      const a = f[slot + W(h)];
      const b = f[slot + W(t)];
      return !Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || b < a ||
        b - a > cap;
    };
    if (f[slot + W("version")] !== 4 && f[slot + W("version")] !== 6) return true;
    if (int("lport", 0, 65535) || int("fport", 0, 65535) || int("fd", -1, 1 << 30)) return true;
    if (int("parent", 0, this.geometry.records) || int("tp.state", 0, 10)) return true;
    if (span("sndHead", "sndTail") || span("rcvHead", "rcvTail")) return true;
    if (int("userMss", 0, 65535) || int("synRetries", 0, 255)) return true;
    if (int("maxUnack", 0, Number.MAX_SAFE_INTEGER)) return true;
    for (let w = 0; w < SLOT_WORDS; w++) if (Number.isNaN(f[slot + w])) return true;
    return false;
  }

  #repair(c: TcpConn, now: number): void {
    const tp = c.tp;
    tp.tFlags &= ~(TF_FASTRECOVERY | TF_CONGRECOVERY);
    tp.tDupacks = 0;
    tp.tRtttime = 0;
    const deadlines = tp.tTimers.slice();
    tp.tTimers.fill(0);
    for (let k = 0; k < TT_COUNT; k++) {
      if (deadlines[k] !== 0) timerActivate(c, k, Math.max(1, deadlines[k] - now));
    }
    const s = tp.state;
    if (s === TCPS_CLOSED || s === TCPS_LISTEN || s === TCPS_TIME_WAIT) return;
    const outstanding = tp.sndUna !== tp.sndMax;
    if (outstanding) {
      // Go-back-N from sndUna: whatever was in flight may have been lost with the frames of
      // the dead incarnation's last turn.
      tp.sndNxt = tp.sndUna;
      if (deadlines[TT_REXMT] === 0) timerActivate(c, TT_REXMT, tp.tRxtcur);
    }
    tp.tFlags |= TF_ACKNOW;
    tcpOutput(c);
  }
}

/**
 * Lines a restored connection up with the user side's own counters: `delivered` bytes of the
 * receive stream the user already has (dropped from the queue or skipped when they come
 * again), and returns how far the user must rewind its send stream (bytes it handed over that
 * the records do not hold; negative: bytes it must skip).
 */
export function reconcile(r: RestoredConn, delivered: number, accepted: number): number {
  (r.conn.rcv as CountingByteQueue).consumedTo(delivered);
  return accepted - r.sndTail;
}

/**
 * Puts `store` behind `tcp` before it has any connection (Tcp's constructor takes a store too;
 * this serves a Tcp the socket layer already made with `Tcp.of`).
 */
export function installStore(tcp: Tcp, store: TcbStore): void {
  if (tcp.conns.size > 0 || tcp.listeners.size > 0) {
    throw new Error("Cannot install a TCB store: the Tcp already has connections");
  }
  (tcp as unknown as { store: TcbStore }).store = store;
  tcp.changed = store.tracksChanges ? new Set() : undefined;
}

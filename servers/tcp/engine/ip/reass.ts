/**
 * IP reassembly (RFC 791 §3.2, RFC 815; RFC 8200 §4.5 with RFC 5722 for IPv6), bounded:
 * a maximum number of datagrams in progress, of bytes held, of fragments per datagram, and a
 * timeout. One class serves both versions; they differ only in the overlap policy:
 *
 * - "trim" (IPv4): overlapping data is allowed; bytes that arrived first win (RFC 791's
 *   reassembly keeps data already in the buffer).
 * - "drop" (IPv6, RFC 5722): any overlap discards the whole datagram, and later fragments of
 *   it are dropped until its timeout. An exact duplicate is dropped alone (RFC 8200 §4.5 note).
 *
 * Every drop is counted under `<prefix>.<reason>`.
 *
 * @module
 */
import type { Timers } from "../timers.ts";
import type { Counters } from "../counters.ts";

/** Bounds of a reassembler. */
export interface ReassLimits {
  /** Datagrams in progress; the oldest is evicted to make room for a new one. */
  maxDatagrams: number;
  /** Payload bytes held over all datagrams; the oldest datagrams are evicted to make room. */
  maxBytes: number;
  /** Fragments per datagram; one more drops the datagram. */
  maxFragsPerDatagram: number;
  /**
   * Fragments per datagram when every fragment but the last carries at least
   * `largeFragBytes` (a 65,507-byte UDP datagram at MTU 1500 is 45 fragments of 1480 bytes);
   * the tight `maxFragsPerDatagram` still bounds datagrams made of small fragments (the cost
   * per byte held that the limit is there for). Absent: `maxFragsPerDatagram` alone.
   */
  maxLargeFrags?: number;
  /** Bytes from which a non-final fragment counts as large (with `maxLargeFrags`). */
  largeFragBytes?: number;
  /** Microseconds from the first fragment to giving up. */
  timeoutUs: number;
}

/** One fragment handed to {@link Reassembler.add}. */
export interface Fragment<T> {
  /** Identifies the datagram (addresses, protocol, identification). */
  key: string;
  /** Offset of `data` in the datagram's payload, bytes. */
  offset: number;
  more: boolean;
  data: Uint8Array;
  /** ECN field of this fragment (RFC 3168 §5.3). */
  ecn: number;
  /** Kept for the offset-0 fragment: what the caller needs later (header, meta). */
  first?: T;
}

/** A reassembled datagram. */
export interface Reassembled<T> {
  payload: Uint8Array;
  first: T;
  ecn: number;
}

interface Piece {
  off: number;
  end: number;
  data: Uint8Array;
}

interface Datagram<T> {
  pieces: Piece[];
  bytes: number;
  /** Pieces that are not the last and carry less than `largeFragBytes`. */
  small: number;
  total: number; // -1 until the last fragment arrived
  first?: T;
  dead: boolean;
  anyCe: boolean;
  anyNotEct: boolean;
  timer: number;
}

/** Bounded reassembly of fragmented datagrams. */
export class Reassembler<T> {
  #m = new Map<string, Datagram<T>>();
  #bytes = 0;
  readonly limits: ReassLimits;
  #timers: Timers;
  #counters: Counters;
  #prefix: string;
  #policy: "trim" | "drop";
  #onTimeout?: (first: T | undefined) => void;

  constructor(
    limits: ReassLimits,
    policy: "trim" | "drop",
    timers: Timers,
    counters: Counters,
    prefix: string,
    onTimeout?: (first: T | undefined) => void,
  ) {
    this.limits = limits;
    this.#policy = policy;
    this.#timers = timers;
    this.#counters = counters;
    this.#prefix = prefix;
    this.#onTimeout = onTimeout;
  }

  /** Datagrams in progress (including dead IPv6 ones waiting for their timeout). */
  get datagrams(): number {
    return this.#m.size;
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds a fragment at time `now`. Returns the reassembled datagram when this fragment
   * completes it, "pending" when more are needed, or the reason it was dropped.
   */
  add(f: Fragment<T>, now: number): Reassembled<T> | "pending" | string {
    const len = f.data.length;
    const end = f.offset + len;
    if (f.more && (len === 0 || len % 8 !== 0)) return this.#drop("badLength");
    if (end > 65535) return this.#drop("tooBig");
    let d = this.#m.get(f.key);
    if (d === undefined) {
      if (len > this.limits.maxBytes) return this.#drop("tooBig");
      while (this.#m.size >= this.limits.maxDatagrams || this.#bytes + len > this.limits.maxBytes) {
        if (!this.#evictOldest()) break;
      }
      if (this.#m.size >= this.limits.maxDatagrams) return this.#drop("tooManyDatagrams");
      const key = f.key;
      d = {
        pieces: [],
        bytes: 0,
        small: 0,
        total: -1,
        dead: false,
        anyCe: false,
        anyNotEct: false,
        timer: this.#timers.schedule(now + this.limits.timeoutUs, () => this.#expire(key)),
      };
      this.#m.set(key, d);
    } else {
      if (d.dead) return this.#drop("deadDatagram");
      while (this.#bytes + len > this.limits.maxBytes) {
        if (!this.#evictOldest(f.key)) break;
      }
      if (this.#bytes + len > this.limits.maxBytes) {
        this.#remove(f.key, d);
        return this.#drop("memoryLimit");
      }
    }
    // Contradictions about the datagram's end: drop the whole datagram.
    if (!f.more) {
      if (d.total !== -1 && d.total !== end) return this.#kill(f.key, d, "contradictoryLength");
      for (const p of d.pieces) if (p.end > end) return this.#kill(f.key, d, "contradictoryLength");
    } else if (d.total !== -1 && end > d.total) {
      return this.#kill(f.key, d, "contradictoryLength");
    }
    for (const p of d.pieces) {
      if (f.offset < p.end && p.off < end) {
        if (p.off === f.offset && p.end === end && sameBytes(p.data, f.data)) {
          return this.#drop("duplicate");
        }
        if (this.#policy === "drop") return this.#kill(f.key, d, "overlap");
        this.#counters.add(`${this.#prefix}.overlapTrimmed`);
      }
    }
    const lim = this.limits;
    const small = d.small + (f.more && len < (lim.largeFragBytes ?? Infinity) ? 1 : 0);
    const maxFrags = small === 0 && lim.maxLargeFrags !== undefined
      ? Math.max(lim.maxLargeFrags, lim.maxFragsPerDatagram)
      : lim.maxFragsPerDatagram;
    if (d.pieces.length >= maxFrags) {
      return this.#kill(f.key, d, "tooManyFragments");
    }
    d.small = small;
    d.pieces.push({ off: f.offset, end, data: f.data.slice() });
    d.bytes += len;
    this.#bytes += len;
    if (!f.more) d.total = end;
    if (f.offset === 0 && f.first !== undefined && d.first === undefined) d.first = f.first;
    if (f.ecn === 3) d.anyCe = true;
    else if (f.ecn === 0) d.anyNotEct = true;
    if (d.total === -1 || d.first === undefined || !covers(d.pieces, d.total)) return "pending";
    // RFC 3168 §5.3: CE on some fragments and Not-ECT on others cannot be represented.
    if (d.anyCe && d.anyNotEct) return this.#kill(f.key, d, "ecnMix");
    const out = new Uint8Array(d.total);
    // Later arrivals first, so the bytes that arrived first overwrite them ("trim").
    for (let i = d.pieces.length - 1; i >= 0; i--) out.set(d.pieces[i].data, d.pieces[i].off);
    const first = d.first;
    const ecn = d.anyCe ? 3 : firstEcn(d, f);
    this.#remove(f.key, d);
    this.#counters.add(`${this.#prefix}.reassembled`);
    return { payload: out, first, ecn };
  }

  #drop(reason: string): string {
    this.#counters.add(`${this.#prefix}.${reason}`);
    return reason;
  }

  /** Drops the datagram; for "drop" policy keeps a dead marker until the timeout. */
  #kill(key: string, d: Datagram<T>, reason: string): string {
    this.#bytes -= d.bytes;
    d.bytes = 0;
    d.pieces = [];
    if (this.#policy === "drop" && reason === "overlap") {
      d.dead = true;
    } else {
      this.#timers.cancel(d.timer);
      this.#m.delete(key);
    }
    return this.#drop(reason);
  }

  #remove(key: string, d: Datagram<T>): void {
    this.#timers.cancel(d.timer);
    this.#bytes -= d.bytes;
    this.#m.delete(key);
  }

  #evictOldest(except?: string): boolean {
    for (const [k, d] of this.#m) {
      if (k === except) continue;
      this.#remove(k, d);
      this.#counters.add(`${this.#prefix}.evicted`);
      return true;
    }
    return false;
  }

  #expire(key: string): void {
    const d = this.#m.get(key);
    if (d === undefined) return;
    this.#bytes -= d.bytes;
    this.#m.delete(key);
    if (d.dead) return;
    this.#counters.add(`${this.#prefix}.timeout`);
    this.#onTimeout?.(d.first);
  }
}

function firstEcn<T>(d: Datagram<T>, f: Fragment<T>): number {
  return d.anyNotEct ? 0 : f.ecn;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function covers(pieces: Piece[], total: number): boolean {
  const s = pieces.slice().sort((a, b) => a.off - b.off);
  let reach = 0;
  for (const p of s) {
    if (p.off > reach) return false;
    if (p.end > reach) reach = p.end;
  }
  return reach >= total;
}

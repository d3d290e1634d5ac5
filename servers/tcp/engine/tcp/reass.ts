/**
 * The receive reassembly queue (RFC 9293 §3.10.7.4: segments beyond RCV.NXT are held until
 * the gap before them fills; FreeBSD's tcp_reass). Segments are kept sorted and disjoint:
 * an arriving segment is trimmed against what is already queued (old data wins on overlap,
 * as in FreeBSD), successors it covers entirely are replaced.
 *
 * Bounded: at most `maxSegments` (FreeBSD's net.inet.tcp.reass.maxqueuelen, 100) and
 * `maxBytes` (normally the receive buffer); a segment that does not fit is dropped and counted
 * in `counters.overflow` (FreeBSD's tcps_rcvreassfull) — the peer retransmits it. The segment
 * that starts exactly at RCV.NXT is always accepted, since it is delivered at once.
 *
 * The payload is copied in: the caller's frame buffer may be reused after `insert` returns.
 *
 * @module
 */
import type { SackBlock } from "./sack.ts";
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt } from "./seq.ts";

/** A queued segment. */
export interface ReassSeg {
  seq: number;
  data: Uint8Array;
  /** The segment carried FIN (its sequence number is seq + data.length). */
  fin: boolean;
}

/** What {@link ReassQueue.insert} did. */
export interface ReassInsert {
  /** The segment (or part of it) was queued. */
  queued: boolean;
  /** Dropped because the queue was full. */
  overflow: boolean;
  /** Bytes of the segment that were already held or delivered (a duplicate, for D-SACK). */
  dupStart: number;
  dupEnd: number;
}

/** Limits of one queue. */
export interface ReassLimits {
  maxSegments: number;
  maxBytes: number;
}

/** Counters, named after FreeBSD's tcpstat fields. */
export interface ReassCounters {
  rcvoopack: number;
  rcvoobyte: number;
  rcvduppack: number;
  rcvdupbyte: number;
  rcvpartduppack: number;
  overflow: number;
  overflowBytes: number;
}

/** One connection's reassembly queue. */
export class ReassQueue {
  readonly limits: ReassLimits;
  readonly segs: ReassSeg[] = [];
  /** Payload bytes held. */
  bytes = 0;
  readonly counters: ReassCounters = {
    rcvoopack: 0,
    rcvoobyte: 0,
    rcvduppack: 0,
    rcvdupbyte: 0,
    rcvpartduppack: 0,
    overflow: 0,
    overflowBytes: 0,
  };

  constructor(limits: Partial<ReassLimits> = {}) {
    this.limits = { maxSegments: limits.maxSegments ?? 100, maxBytes: limits.maxBytes ?? 1 << 20 };
  }

  /** Segments held. */
  get count(): number {
    return this.segs.length;
  }

  /** Drops everything (connection closed or reset). */
  clear(): void {
    this.segs.length = 0;
    this.bytes = 0;
  }

  /**
   * Queues the segment (`seq`, `data`, `fin`) given the current RCV.NXT. Data below RCV.NXT or
   * already queued is trimmed off (and reported as the duplicate range).
   */
  insert(rcvNxt: number, seq: number, data: Uint8Array, fin = false): ReassInsert {
    const r: ReassInsert = { queued: false, overflow: false, dupStart: 0, dupEnd: 0 };
    let s = seq >>> 0;
    let e = seqAdd(s, data.length);
    const origLen = data.length;
    let d = data;
    let f = fin;
    const dup = (a: number, b: number) => {
      if (r.dupStart === r.dupEnd) {
        r.dupStart = a >>> 0;
        r.dupEnd = b >>> 0;
      }
    };
    // Below RCV.NXT: already delivered.
    if (seqLt(s, rcvNxt)) {
      const cut = Math.min(seqDiff(rcvNxt, s), d.length);
      dup(s, seqAdd(s, cut));
      d = d.subarray(cut);
      s = seqAdd(s, cut);
      if (d.length === 0 && (!f || seqLt(e, rcvNxt))) return this.#dupCount(r, origLen);
    }
    // Find the first queued segment that ends after s.
    const q = this.segs;
    let i = 0;
    while (i < q.length && seqLeq(segEnd(q[i]), s)) i++;
    // Head overlaps a queued segment: keep the old bytes.
    if (i < q.length && seqLeq(q[i].seq, s)) {
      const pe = segEnd(q[i]);
      const cut = Math.min(seqDiff(pe, s), d.length);
      dup(s, seqAdd(s, cut));
      d = d.subarray(cut);
      s = seqAdd(s, cut);
      if (d.length === 0) {
        if (f && !q[i].fin && seqDiff(e, pe) === 0) q[i].fin = true;
        return this.#dupCount(r, origLen);
      }
      i++;
    }
    e = seqAdd(s, d.length);
    // Successors wholly covered are replaced; a partial one trims our tail.
    let j = i;
    let freed = 0;
    while (j < q.length && seqGeq(q[j].seq, s) && seqLeq(segEnd(q[j]), e)) {
      dup(q[j].seq, segEnd(q[j])); // held already: a duplicate (RFC 2883 §4.1.3)
      freed += q[j].data.length;
      if (q[j].fin && !f && seqDiff(segEnd(q[j]), e) === 0) f = true;
      j++;
    }
    if (j < q.length && seqLt(q[j].seq, e)) {
      dup(q[j].seq, e);
      d = d.subarray(0, seqDiff(q[j].seq, s));
      e = seqAdd(s, d.length);
      f = false;
    }
    if (d.length === 0 && !f) return this.#dupCount(r, origLen);
    const inOrder = seqDiff(s, rcvNxt) === 0;
    const segs = q.length - (j - i) + 1;
    const bytes = this.bytes - freed + d.length;
    if (!inOrder && (segs > this.limits.maxSegments || bytes > this.limits.maxBytes)) {
      this.counters.overflow++;
      this.counters.overflowBytes += d.length;
      r.overflow = true;
      return r;
    }
    if (r.dupStart !== r.dupEnd) {
      this.counters.rcvpartduppack++;
      this.counters.rcvdupbyte += origLen - d.length;
    }
    q.splice(i, j - i, { seq: s, data: d.slice(), fin: f });
    this.bytes = bytes;
    if (!inOrder) {
      this.counters.rcvoopack++;
      this.counters.rcvoobyte += d.length;
    }
    r.queued = true;
    return r;
  }

  #dupCount(r: ReassInsert, len: number): ReassInsert {
    this.counters.rcvduppack++;
    this.counters.rcvdupbyte += len;
    return r;
  }

  /**
   * Removes and returns the queued segment starting at `rcvNxt`, if any (the caller delivers
   * it, advances RCV.NXT by its length, and calls again). Segments wholly below `rcvNxt` are
   * discarded on the way.
   */
  pop(rcvNxt: number): ReassSeg | undefined {
    const q = this.segs;
    while (q.length) {
      const h = q[0];
      const end = segEnd(h);
      if (seqGt(h.seq, rcvNxt)) return undefined;
      q.shift();
      this.bytes -= h.data.length;
      if (seqLt(end, rcvNxt) || (seqDiff(end, rcvNxt) === 0 && !h.fin && h.data.length > 0)) {
        continue;
      }
      if (seqLt(h.seq, rcvNxt)) {
        h.data = h.data.subarray(seqDiff(rcvNxt, h.seq));
        h.seq = rcvNxt >>> 0;
      }
      return h;
    }
    return undefined;
  }

  /** The queued data as merged ranges [start, end), lowest first (for SACK). */
  blocks(): SackBlock[] {
    const out: SackBlock[] = [];
    for (const g of this.segs) {
      const e = segEnd(g);
      const last = out[out.length - 1];
      if (last && seqDiff(last[1], g.seq) === 0) last[1] = e;
      else if (g.data.length > 0) out.push([g.seq, e]);
    }
    return out;
  }
}

function segEnd(g: ReassSeg): number {
  return seqAdd(g.seq, g.data.length);
}

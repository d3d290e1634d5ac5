/**
 * SACK, both sides.
 *
 * Sender: {@link SackScoreboard}, the RFC 6675 scoreboard. It keeps the SACKed ranges above
 * SND.UNA (sorted, disjoint); the gaps below the highest SACKed byte are the holes. It
 * answers IsLost (§4), pipe (SetPipe, §4) and NextSeg (§4) and tracks HighRxt/RescueRxt.
 * The number of ranges is bounded (FreeBSD's net.inet.tcp.sack.maxholes, 128): a block that
 * would need one more is ignored and counted in `counters.overflow` (FreeBSD's
 * tcps_sack_sboverflow); the data stays un-SACKed and is at worst retransmitted.
 *
 * Lost retransmissions (FreeBSD's "lost retransmission detection", net.inet.tcp.sack.lrd; the
 * same idea as RACK's time order, RFC 8985 §6.2): RFC 6675 alone never resends a byte below
 * HighRxt, so a retransmission that is lost again is only repaired by the RTO. The scoreboard
 * remembers each retransmission of the episode with SND.MAX at the time it went out; when SACKs
 * show that enough data sent after it has arrived (IsLost() of that SND.MAX), the
 * retransmission is deemed lost: NextSeg() offers it again first ("relost") and pipe no longer
 * counts it. Bounded like the ranges (the oldest record is forgotten, `counters.rxmitOverflow`).
 *
 * Receiver: {@link SackReceiver}, the list of blocks to report (RFC 2018 §4: the block holding
 * the most recently received segment first, then the most recently reported ones) plus one
 * pending D-SACK block (RFC 2883 §4) reported first, once.
 *
 * Blocks are `[start, end)` pairs of sequence numbers (`[number, number]`, the shape
 * wire/tcp.ts uses for the SACK option).
 *
 * @module
 */
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin } from "./seq.ts";

/** A SACK block [start, end) in sequence space. */
export type SackBlock = [number, number];

/** RFC 6675 §2: DupThresh. */
export const DUP_THRESH = 3;

/** Result of {@link SackScoreboard.update}. */
export interface SackUpdate {
  /** Bytes newly marked SACKed by this ACK. */
  newlySacked: number;
  /** The first block was a D-SACK (RFC 2883 §4): below the cumulative ACK, or inside block 2. */
  dsack: boolean;
  /** Blocks ignored because they were out of [SND.UNA, SND.MAX] or empty. */
  invalid: number;
}

/** The segment NextSeg() chose (RFC 6675 §4). */
export type NextSeg =
  | { kind: "lost" | "hole" | "rescue" | "relost"; seq: number; len: number }
  | { kind: "new" }
  | { kind: "none" };

/** Congestion state saved at a fast retransmit (see {@link SackScoreboard.undo}). */
export interface SackUndo {
  cwnd: number;
  ssthresh: number;
  recover: number;
  /** SND.UNA retransmitted; the TSval the retransmission carried. */
  una: number;
  tsVal: number;
}

/** Sender scoreboard (RFC 6675). All sequence numbers are unsigned 32-bit. */
export class SackScoreboard {
  readonly maxHoles: number;
  /** SACKed ranges, sorted, disjoint and non-adjacent: [starts[i], ends[i]). */
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** Total SACKed bytes above SND.UNA. */
  sackedBytes = 0;
  /** HighRxt (exclusive): every octet below it has been retransmitted in this recovery. */
  highRxt = 0;
  /** RescueRxt (RFC 6675 §4, NextSeg rule 4); undefined when unused in this recovery. */
  rescueRxt: number | undefined = undefined;
  /** RecoveryPoint: SND.MAX when loss recovery began. */
  recoveryPoint = 0;
  /** Overflow and validation counters; `lostRexmit`: retransmissions found lost again. */
  readonly counters = {
    overflow: 0,
    invalidBlocks: 0,
    dsack: 0,
    lostRexmit: 0,
    rxmitOverflow: 0,
  };
  /**
   * Retransmissions of this episode not yet delivered: [rxStart[i], rxEnd[i]) went out when
   * SND.MAX was rxMark[i]; rxLost[i] once deemed lost (to be sent again).
   */
  readonly rxStart: number[] = [];
  readonly rxEnd: number[] = [];
  readonly rxMark: number[] = [];
  readonly rxLost: boolean[] = [];
  /**
   * Set by {@link markAllLost} (the recovery probe timer, sack_recovery.ts): every un-SACKed
   * octet below it is deemed lost, whatever IsLost says. Cleared with the episode.
   */
  forceLost: number | undefined = undefined;
  /**
   * End of the highest retransmission recorded by {@link sent} over the connection's life
   * (valid once `rxHighSet`): a segment below it may have been sent more than twice, so
   * Eifel's timestamp test cannot tell which copy arrived (sack_undo.ts).
   */
  rxHigh = 0;
  rxHighSet = false;
  /** SND.UNA at the last recovery probe, and how many probes found it there. */
  probeUna = 0;
  probes = 0;
  /**
   * What the congestion state was before this episode's fast retransmit, for an undo when it
   * proves spurious (sack_undo.ts); undefined once judged, or without timestamps.
   */
  undo: SackUndo | undefined = undefined;
  /** SMSS and DupThresh of the last {@link pipe}/{@link nextSeg} call (used by lost detection). */
  #smss = 536;
  #dupThresh = DUP_THRESH;

  constructor(maxHoles = 128) {
    this.maxHoles = Math.max(1, maxHoles);
  }

  /** Number of SACKed ranges (= holes below the highest SACKed byte). */
  get count(): number {
    return this.starts.length;
  }

  /** FreeBSD's snd_fack: the highest SACKed sequence (exclusive), or `sndUna` when none. */
  fack(sndUna: number): number {
    return this.starts.length ? seqMax(this.ends[this.ends.length - 1], sndUna) : sndUna;
  }

  /** Forgets everything (RTO, RFC 6675 §5.1: the scoreboard may be kept, FreeBSD clears it). */
  reset(): void {
    this.starts.length = 0;
    this.ends.length = 0;
    this.sackedBytes = 0;
    this.rescueRxt = undefined;
    this.undo = undefined;
    this.forceLost = undefined;
    this.probes = 0;
    this.#rxClear();
  }

  #rxClear(): void {
    this.rxStart.length =
      this.rxEnd.length =
      this.rxMark.length =
      this.rxLost.length =
        0;
  }

  #rxRemove(i: number): void {
    this.rxStart.splice(i, 1);
    this.rxEnd.splice(i, 1);
    this.rxMark.splice(i, 1);
    this.rxLost.splice(i, 1);
  }

  /** Starts a loss-recovery episode (RFC 6675 §5 step 4.1/4.2). */
  enterRecovery(sndUna: number, sndMax: number): void {
    this.highRxt = sndUna;
    this.recoveryPoint = sndMax;
    this.rescueRxt = undefined;
    this.forceLost = undefined;
    this.probes = 0;
    this.#rxClear();
  }

  /**
   * Nothing has been heard for a probe timeout during recovery: every un-SACKed octet below
   * `sndMax` (holes and the tail above the highest SACK) and every retransmission still
   * outstanding is deemed lost (RFC 8985 §6.3's time-based view, without per-segment times:
   * all of it was sent at least one probe timeout ago). Returns the retransmissions newly
   * marked lost.
   */
  markAllLost(sndMax: number): number {
    this.forceLost = sndMax >>> 0;
    let n = 0;
    for (let i = 0; i < this.rxLost.length; i++) {
      if (!this.rxLost[i]) {
        this.rxLost[i] = true;
        this.counters.lostRexmit++;
        n++;
      }
    }
    return n;
  }

  /** The part of hole [hs, he) not forced lost (see {@link forceLost}). */
  #notForced(hs: number, he: number): number {
    const f = this.forceLost;
    if (f === undefined || !seqLt(hs, f)) return seqDiff(he, hs);
    return seqLt(f, he) ? seqDiff(he, f) : 0;
  }

  /**
   * Processes one ACK: the cumulative `ack` (the new SND.UNA) and its SACK blocks
   * (RFC 6675 §5 "Update()", RFC 2883 §4 for D-SACK detection). `sndMax` bounds valid blocks.
   */
  update(ack: number, sndMax: number, blocks: readonly SackBlock[]): SackUpdate {
    const r: SackUpdate = { newlySacked: 0, dsack: false, invalid: 0 };
    // RFC 2883 §4: the first block is a D-SACK when it is below the cumulative ACK, or
    // contained in the second block.
    if (blocks.length > 0) {
      const [s0, e0] = blocks[0];
      if (seqLeq(e0, ack) && seqLt(s0, e0)) r.dsack = true;
      else if (
        blocks.length > 1 && seqGeq(s0, blocks[1][0]) && seqLeq(e0, blocks[1][1]) &&
        seqLt(s0, e0)
      ) r.dsack = true;
      if (r.dsack) this.counters.dsack++;
    }
    this.ackTo(ack);
    for (let i = r.dsack ? 1 : 0; i < blocks.length; i++) {
      let [s, e] = blocks[i];
      if (!seqLt(s, e) || seqGt(e, sndMax) || seqLeq(e, ack) || seqDiff(e, s) > 0x3fffffff) {
        r.invalid++;
        this.counters.invalidBlocks++;
        continue;
      }
      s = seqMax(s, ack);
      e = e >>> 0;
      r.newlySacked += this.#insert(s, e);
    }
    this.#detectLostRexmit(ack);
    return r;
  }

  /**
   * Forgets retransmissions now acknowledged or SACKed; marks as lost those after which
   * enough later-sent data was SACKed (IsLost of the SND.MAX they went out with).
   */
  #detectLostRexmit(ack: number): void {
    for (let i = this.rxStart.length - 1; i >= 0; i--) {
      if (seqLt(this.rxStart[i], ack)) this.rxStart[i] = ack;
      if (
        !seqLt(this.rxStart[i], this.rxEnd[i]) || this.#fullySacked(this.rxStart[i], this.rxEnd[i])
      ) {
        this.#rxRemove(i);
        continue;
      }
      if (!this.rxLost[i] && this.isLost(this.rxMark[i], this.#smss, this.#dupThresh)) {
        this.rxLost[i] = true;
        this.counters.lostRexmit++;
      }
    }
  }

  /** Whether every octet of [s, e) is SACKed. */
  #fullySacked(s: number, e: number): boolean {
    for (let k = 0; k < this.starts.length; k++) {
      if (seqLeq(this.starts[k], s) && seqGeq(this.ends[k], e)) return true;
      if (seqGt(this.starts[k], s)) return false;
    }
    return false;
  }

  /** The first un-SACKed piece of [s, e), at most `smss` long, or undefined. */
  #firstUnsacked(s: number, e: number, smss: number): [number, number] | undefined {
    for (let k = 0; k < this.starts.length && seqLt(s, e); k++) {
      if (seqLeq(this.ends[k], s)) continue;
      if (seqLeq(this.starts[k], s)) {
        s = this.ends[k];
        continue;
      }
      // starts[k] > s: [s, min(e, starts[k])) is un-SACKed
      return [s, Math.min(smss, seqDiff(seqMin(e, this.starts[k]), s))];
    }
    return seqLt(s, e) ? [s, Math.min(smss, seqDiff(e, s))] : undefined;
  }

  /** Un-SACKed octets of the retransmissions deemed lost, within [lo, hi). */
  #relostBytes(lo: number, hi: number): number {
    let n = 0;
    for (let i = 0; i < this.rxStart.length; i++) {
      if (!this.rxLost[i]) continue;
      let s = seqMax(this.rxStart[i], lo);
      const e = seqMin(this.rxEnd[i], hi);
      while (seqLt(s, e)) {
        const p = this.#firstUnsacked(s, e, 0x3fffffff);
        if (p === undefined) break;
        n += p[1];
        s = seqAdd(p[0], p[1]);
      }
    }
    return n;
  }

  /** Cumulative ACK to `ack`: drops SACKed ranges below it. */
  ackTo(ack: number): void {
    let drop = 0;
    while (drop < this.starts.length && seqLeq(this.ends[drop], ack)) {
      this.sackedBytes -= seqDiff(this.ends[drop], this.starts[drop]);
      drop++;
    }
    if (drop) {
      this.starts.splice(0, drop);
      this.ends.splice(0, drop);
    }
    if (this.starts.length && seqLt(this.starts[0], ack)) {
      this.sackedBytes -= seqDiff(ack, this.starts[0]);
      this.starts[0] = ack;
    }
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
  }

  /** Adds [s, e), merging; returns the bytes newly covered (0 if refused for lack of room). */
  #insert(s: number, e: number): number {
    const st = this.starts, en = this.ends;
    // First range whose end ≥ s (may touch or overlap), last range whose start ≤ e.
    let i = 0;
    while (i < st.length && seqLt(en[i], s)) i++;
    let j = i;
    while (j < st.length && seqLeq(st[j], e)) j++;
    // Ranges i..j-1 overlap or touch [s, e): replace them by their union.
    if (i === j && st.length >= this.maxHoles) {
      this.counters.overflow++;
      return 0;
    }
    let covered = 0;
    let ns = s, ne = e;
    for (let k = i; k < j; k++) {
      covered += seqDiff(en[k], st[k]);
      ns = seqMin(ns, st[k]);
      ne = seqMax(ne, en[k]);
    }
    st.splice(i, j - i, ns);
    en.splice(i, j - i, ne);
    const added = seqDiff(ne, ns) - covered;
    this.sackedBytes += added;
    return added;
  }

  /** Whether octet `seq` has been SACKed. */
  isSacked(seq: number): boolean {
    for (let k = 0; k < this.starts.length; k++) {
      if (seqLt(seq, this.starts[k])) return false;
      if (seqLt(seq, this.ends[k])) return true;
    }
    return false;
  }

  /**
   * IsLost(SeqNum) (RFC 6675 §4): true when DupThresh discontiguous SACKed ranges lie above
   * `seq`, or more than (DupThresh − 1)·SMSS SACKed bytes do.
   */
  isLost(seq: number, smss: number, dupThresh = DUP_THRESH): boolean {
    let bytes = 0, ranges = 0;
    for (let k = this.starts.length - 1; k >= 0; k--) {
      if (seqLeq(this.ends[k], seq)) break;
      bytes += seqGt(this.starts[k], seq)
        ? seqDiff(this.ends[k], this.starts[k])
        : seqDiff(this.ends[k], seqAdd(seq, 1));
      ranges++;
      if (ranges >= dupThresh || bytes > (dupThresh - 1) * smss) return true;
    }
    return false;
  }

  /**
   * Index of the lowest range whose hole below it is NOT lost: holes below ranges 0..idx-1
   * are lost (IsLost is monotonic: fewer SACKed bytes lie above higher sequence numbers).
   */
  #lostBoundary(smss: number, dupThresh: number): number {
    let bytes = 0, ranges = 0;
    for (let k = this.starts.length - 1; k >= 0; k--) {
      bytes += seqDiff(this.ends[k], this.starts[k]);
      ranges++;
      if (ranges >= dupThresh || bytes > (dupThresh - 1) * smss) return k + 1;
    }
    return 0;
  }

  /**
   * SetPipe (RFC 6675 §4): octets in flight between SND.UNA and SND.MAX. Un-SACKed octets not
   * deemed lost count once; octets retransmitted in this recovery (below HighRxt) once more.
   */
  pipe(sndUna: number, sndMax: number, smss: number, dupThresh = DUP_THRESH): number {
    this.#smss = smss;
    this.#dupThresh = dupThresh;
    const st = this.starts, en = this.ends;
    const b = this.#lostBoundary(smss, dupThresh);
    let pipe = 0;
    let prev = sndUna;
    const hr = seqMin(seqMax(this.highRxt, sndUna), sndMax);
    for (let k = 0; k <= st.length; k++) {
      const hs = prev, he = k < st.length ? st[k] : sndMax; // hole [hs, he)
      if (seqLt(hs, he)) {
        if (k >= b) pipe += this.#notForced(hs, he); // not lost
        if (seqLt(hs, hr)) pipe += seqDiff(seqMin(he, hr), hs); // retransmitted
      }
      if (k < st.length) prev = en[k];
    }
    // A retransmission deemed lost is no longer in the network.
    if (this.rxStart.length) pipe -= this.#relostBytes(sndUna, hr);
    return pipe;
  }

  /**
   * NextSeg() (RFC 6675 §4): what to send next during recovery.
   * First, a retransmission deemed lost again ("relost", see the module doc);
   * rule 1: the first lost un-SACKed segment above HighRxt ("lost");
   * rule 2: new data, when `canSendNew` (data available and the receive window allows it);
   * rule 3: an un-SACKed segment above HighRxt below the highest SACK ("hole");
   * rule 4: one rescue retransmission per recovery ("rescue").
   * The segment is at most `smss` and never crosses into SACKed data. The caller marks what it
   * sent with {@link sent}.
   */
  nextSeg(
    sndUna: number,
    sndMax: number,
    smss: number,
    canSendNew: boolean,
    dupThresh = DUP_THRESH,
  ): NextSeg {
    this.#smss = smss;
    this.#dupThresh = dupThresh;
    for (let i = 0; i < this.rxStart.length; i++) {
      if (!this.rxLost[i]) continue;
      const p = this.#firstUnsacked(seqMax(this.rxStart[i], sndUna), this.rxEnd[i], smss);
      if (p !== undefined) return { kind: "relost", seq: p[0], len: p[1] };
    }
    const st = this.starts, en = this.ends;
    const b = this.#lostBoundary(smss, dupThresh);
    const from = seqMax(this.highRxt, sndUna);
    let firstHole: NextSeg | undefined;
    let prev = sndUna;
    for (let k = 0; k < st.length; k++) {
      const hs = seqMax(prev, from), he = st[k];
      if (seqLt(hs, he)) {
        const seg = { seq: hs, len: Math.min(smss, seqDiff(he, hs)) };
        if (k < b || this.#notForced(hs, he) < seqDiff(he, hs)) return { kind: "lost", ...seg };
        firstHole ??= { kind: "hole", ...seg };
      }
      prev = en[k];
    }
    // The tail above the highest SACK, when forced lost.
    const f = this.forceLost, ts = seqMax(prev, from);
    if (f !== undefined && seqLt(ts, seqMin(f, sndMax))) {
      return { kind: "lost", seq: ts, len: Math.min(smss, seqDiff(seqMin(f, sndMax), ts)) };
    }
    if (canSendNew) return { kind: "new" };
    if (firstHole) return firstHole;
    // Rule 4: HighACK > RescueRxt (or undefined) and un-SACKed data outstanding.
    if (
      (this.rescueRxt === undefined || seqGt(sndUna, this.rescueRxt)) &&
      seqLt(this.fack(sndUna), sndMax)
    ) {
      const len = Math.min(smss, seqDiff(sndMax, this.fack(sndUna)));
      return { kind: "rescue", seq: seqAdd(sndMax, -len), len };
    }
    return { kind: "none" };
  }

  /**
   * Records a (re)transmission chosen by {@link nextSeg} (`len` what really went out):
   * advances HighRxt or RescueRxt, and remembers it with `sndMax` (SND.MAX when it went out)
   * for lost-retransmission detection. Without `sndMax` nothing is remembered.
   */
  sent(seg: NextSeg, sndMax?: number): void {
    if (seg.kind === "new" || seg.kind === "none") return;
    const end = seqAdd(seg.seq, seg.len);
    if (!this.rxHighSet || seqGt(end, this.rxHigh)) this.rxHigh = end;
    this.rxHighSet = true;
    if (seg.kind === "lost" || seg.kind === "hole") {
      if (seqGt(end, this.highRxt)) this.highRxt = end;
    } else if (seg.kind === "rescue") {
      this.rescueRxt = this.recoveryPoint;
    }
    if (sndMax === undefined || seg.len <= 0) return;
    if (seg.kind === "relost") {
      // The lost record(s) covering the resent piece: that piece is outstanding again.
      for (let i = this.rxStart.length - 1; i >= 0; i--) {
        if (!this.rxLost[i] || seqLeq(this.rxEnd[i], seg.seq) || seqGeq(this.rxStart[i], end)) {
          continue;
        }
        const s0 = this.rxStart[i], e0 = this.rxEnd[i];
        this.#rxRemove(i);
        if (seqLt(s0, seg.seq)) this.#rxAdd(s0, seg.seq, sndMax, true); // still lost: the mark is unused
        if (seqLt(end, e0)) this.#rxAdd(end, e0, sndMax, true);
      }
    }
    this.#rxAdd(seg.seq, end, sndMax, false);
  }

  #rxAdd(s: number, e: number, mark: number, lost: boolean): void {
    if (this.rxStart.length >= this.maxHoles) {
      this.#rxRemove(0); // bounded: the oldest is forgotten (at worst the RTO repairs it)
      this.counters.rxmitOverflow++;
    }
    this.rxStart.push(s >>> 0);
    this.rxEnd.push(e >>> 0);
    this.rxMark.push(mark >>> 0);
    this.rxLost.push(lost);
  }

  /** The holes [start, end) below the highest SACKed byte, lowest first. */
  holes(sndUna: number): SackBlock[] {
    const out: SackBlock[] = [];
    let prev = sndUna;
    for (let k = 0; k < this.starts.length; k++) {
      if (seqLt(prev, this.starts[k])) out.push([prev, this.starts[k]]);
      prev = this.ends[k];
    }
    return out;
  }
}

/**
 * Receiver SACK state (RFC 2018 §4, RFC 2883 §4). The engine tells it about every
 * out-of-order segment ({@link received}), every advance of RCV.NXT ({@link advance}) and every
 * duplicate ({@link duplicate}); {@link blocks} gives what to put in the next ACK.
 */
export class SackReceiver {
  readonly maxBlocks: number;
  /** Known out-of-order ranges, most recently changed first. */
  readonly list: SackBlock[] = [];
  /** Pending D-SACK block, reported once in the next ACK. */
  dsackBlock: SackBlock | undefined = undefined;
  readonly counters = { dropped: 0, dsack: 0 };

  /** `maxBlocks` bounds the remembered list (FreeBSD's MAX_SACK_BLKS is 6). */
  constructor(maxBlocks = 6) {
    this.maxBlocks = Math.max(1, maxBlocks);
  }

  /** Forgets all blocks (e.g. SACK not negotiated, or connection reset). */
  clear(): void {
    this.list.length = 0;
    this.dsackBlock = undefined;
  }

  /**
   * An out-of-order segment [start, end) above RCV.NXT arrived: its block (merged with any
   * it overlaps or touches) moves to the front (RFC 2018 §4, first rule).
   */
  received(start: number, end: number, rcvNxt: number): void {
    let s = seqMax(start, rcvNxt) >>> 0, e = end >>> 0;
    if (!seqLt(s, e)) return;
    for (let i = this.list.length - 1; i >= 0; i--) {
      const [bs, be] = this.list[i];
      if (seqLeq(bs, e) && seqGeq(be, s)) {
        s = seqMin(s, bs);
        e = seqMax(e, be);
        this.list.splice(i, 1);
      }
    }
    this.list.unshift([s, e]);
    if (this.list.length > this.maxBlocks) {
      this.counters.dropped += this.list.length - this.maxBlocks;
      this.list.length = this.maxBlocks;
    }
  }

  /** RCV.NXT advanced: drops or trims blocks now below it (RFC 2018 §4). */
  advance(rcvNxt: number): void {
    for (let i = this.list.length - 1; i >= 0; i--) {
      const b = this.list[i];
      if (seqLeq(b[1], rcvNxt)) this.list.splice(i, 1);
      else if (seqLt(b[0], rcvNxt)) b[0] = rcvNxt >>> 0;
    }
  }

  /**
   * A duplicate segment [start, end) arrived (below RCV.NXT or inside a received block):
   * reported as a D-SACK block in the next ACK (RFC 2883 §4, rule 1). A later duplicate
   * replaces an unsent one.
   */
  duplicate(start: number, end: number): void {
    if (!seqLt(start, end)) return;
    this.dsackBlock = [start >>> 0, end >>> 0];
    this.counters.dsack++;
  }

  /**
   * The blocks for the next ACK, at most `max` (4 without timestamps, 3 with: RFC 2018 §3):
   * the D-SACK block first (then the block containing it, if any, RFC 2883 §4 rule 2), then
   * the most recent. Consumes the D-SACK block.
   */
  blocks(max: number): SackBlock[] {
    const out: SackBlock[] = [];
    if (max <= 0) return out;
    const d = this.dsackBlock;
    this.dsackBlock = undefined;
    let container = -1;
    if (d) {
      out.push([d[0], d[1]]);
      container = this.list.findIndex(([s, e]) => seqLeq(s, d[0]) && seqGeq(e, d[1]));
      if (container >= 0 && out.length < max) out.push([...this.list[container]]);
    }
    for (let i = 0; i < this.list.length && out.length < max; i++) {
      if (i !== container) out.push([this.list[i][0], this.list[i][1]]);
    }
    return out;
  }
}

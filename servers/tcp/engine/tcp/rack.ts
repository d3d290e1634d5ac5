/**
 * RACK-TLP loss detection (RFC 8985).
 *
 * RACK (§6) marks a segment lost when a segment sent *later* has been delivered and more than
 * RACK.rtt + RACK.reo_wnd has passed since the lost one was sent; TLP (§7) sends a probe after
 * a probe timeout (PTO) when the tail of a flight gets no ACK, so a tail loss is repaired by
 * fast recovery instead of an RTO.
 *
 * The engine tells {@link Rack} what it transmits ({@link Rack.onTransmit}) and what each ACK
 * delivers ({@link Rack.onAck}, with the SACK blocks); {@link Rack.detectLoss} then returns the
 * newly lost ranges and when to re-check (the reordering timer). The transmit log is bounded
 * (`maxSegments`); segments beyond it are not tracked (counted in `counters.logOverflow`) and
 * are left to the RTO.
 *
 * @module
 */
import type { SackBlock } from "./sack.ts";
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt } from "./seq.ts";

/** One transmitted segment. */
interface SegRec {
  start: number;
  end: number;
  xmitTs: number;
  retrans: boolean;
  sacked: boolean;
  lost: boolean;
}

/** RFC 8985 §6.2 step 4 and §7: tunables (µs). */
export interface RackConfig {
  /** RACK.reo_wnd_persist: rounds the multiplier stays raised after a D-SACK (16). */
  reoWndPersist: number;
  /** WCDelAckT: worst-case delayed-ACK time for the PTO of a single segment (200 ms). */
  wcDelAckT: number;
  /** DupThresh, for the reordering-window special case (3). */
  dupThresh: number;
}

export function defaultRackConfig(): RackConfig {
  return { reoWndPersist: 16, wcDelAckT: 200_000, dupThresh: 3 };
}

/** Result of {@link Rack.detectLoss}. */
export interface RackLoss {
  /** Ranges newly marked lost, lowest first. */
  lost: SackBlock[];
  /** µs until the earliest not-yet-lost segment would be, for the reordering timer; 0 = none. */
  timeout: number;
}

/** "t1/s1 was sent after t2/s2" (RFC 8985 §6.2, RACK_sent_after). */
export function rackSentAfter(t1: number, seq1: number, t2: number, seq2: number): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2));
}

/** RACK-TLP state of one connection. */
export class Rack {
  readonly cfg: RackConfig;
  readonly maxSegments: number;
  readonly log: SegRec[] = [];
  /** RACK.xmit_ts / RACK.end_seq: the most recently sent segment known delivered. */
  xmitTs = -1;
  endSeq = 0;
  /** RACK.rtt (µs) of that segment. */
  rtt = 0;
  /** RACK.min_RTT (µs); fed by onAck samples (and may be set by the engine). */
  minRtt = 0;
  /** RACK.fack: the highest end_seq of any delivered segment (undefined before any). */
  fack: number | undefined = undefined;
  reorderingSeen = false;
  /** RACK.reo_wnd_mult, RACK.reo_wnd_persist, and the D-SACK round tracking. */
  reoWndMult = 1;
  reoWndPersist = 0;
  dsackRoundEnd: number | undefined = undefined;
  /** TLP (§7): end of the flight when a probe was sent, and whether it was a retransmission. */
  tlpEndSeq: number | undefined = undefined;
  tlpIsRetrans = false;
  readonly counters = { logOverflow: 0, lost: 0, tlpProbes: 0, tlpRecovered: 0 };

  constructor(cfg: RackConfig = defaultRackConfig(), maxSegments = 1024) {
    this.cfg = cfg;
    this.maxSegments = Math.max(1, maxSegments);
  }

  /** Forgets the log (e.g. after an RTO when everything will be retransmitted anyway). */
  reset(): void {
    this.log.length = 0;
  }

  /** Segments tracked. */
  get count(): number {
    return this.log.length;
  }

  /**
   * Records a transmission of [seq, seq+len) at `now`. A retransmission refreshes the send
   * time of every tracked segment it overlaps (§6.1: xmit_ts is the latest transmission).
   */
  onTransmit(seq: number, len: number, now: number, retransmission: boolean): void {
    if (len <= 0) return;
    const end = seqAdd(seq, len);
    const last = this.log[this.log.length - 1];
    if (!retransmission && (!last || seqLeq(last.end, seq))) {
      if (this.log.length >= this.maxSegments) {
        this.counters.logOverflow++;
        return;
      }
      this.log.push({
        start: seq >>> 0,
        end,
        xmitTs: now,
        retrans: false,
        sacked: false,
        lost: false,
      });
      return;
    }
    for (const r of this.log) {
      if (seqLt(r.start, end) && seqGt(r.end, seq)) {
        r.xmitTs = now;
        r.retrans = true;
        r.lost = false;
      }
    }
  }

  /**
   * Processes an ACK (§6.2 steps 1–4): cumulative `ack`, its SACK `blocks`, whether it carried
   * a D-SACK, the TSecr-validated flag for retransmitted samples (`tsOk`, RFC 8985 §6.2 step 2:
   * a sample from a retransmitted segment is used only when timestamps show it answers the
   * retransmission), and `sndMax` (for the D-SACK round). Returns the RTT sample it took, or 0.
   */
  onAck(
    ack: number,
    blocks: readonly SackBlock[],
    now: number,
    dsack: boolean,
    sndMax: number,
    tsOk = false,
  ): number {
    let sample = 0;
    const deliver = (r: SegRec) => {
      const rtt = now - r.xmitTs;
      // Step 2: ignore ambiguous samples from retransmissions that may answer the original.
      if (r.retrans && !tsOk && this.minRtt > 0 && rtt < this.minRtt) return;
      if (rtt >= 0) {
        this.rtt = rtt;
        sample = rtt;
        if (this.minRtt === 0 || rtt < this.minRtt) this.minRtt = rtt;
      }
      if (rackSentAfter(r.xmitTs, r.end, this.xmitTs, this.endSeq)) {
        this.xmitTs = r.xmitTs;
        this.endSeq = r.end;
      }
      // Step 3: a delivered segment below RACK.fack that was never retransmitted was reordered.
      if (this.fack === undefined || seqGt(r.end, this.fack)) this.fack = r.end;
      else if (seqLt(r.end, this.fack) && !r.retrans) this.reorderingSeen = true;
    };
    // Cumulatively acked: delivered and dropped from the log.
    let n = 0;
    while (n < this.log.length && seqLeq(this.log[n].end, ack)) {
      if (!this.log[n].sacked) deliver(this.log[n]);
      n++;
    }
    if (n) this.log.splice(0, n);
    for (const [s, e] of blocks) {
      for (const r of this.log) {
        if (!r.sacked && seqLeq(s, r.start) && seqLeq(r.end, e)) {
          r.sacked = true;
          deliver(r);
        }
      }
    }
    // Step 4: a D-SACK widens the reordering window, at most once per round trip.
    if (this.dsackRoundEnd !== undefined && seqGeq(ack, this.dsackRoundEnd)) {
      this.dsackRoundEnd = undefined;
    }
    if (dsack) {
      if (this.dsackRoundEnd === undefined) {
        this.reoWndMult++;
        this.dsackRoundEnd = sndMax >>> 0;
      }
      this.reoWndPersist = this.cfg.reoWndPersist;
      this.reorderingSeen = true;
    }
    // TLP (§7.4): an ACK beyond the probe ends the episode.
    if (this.tlpEndSeq !== undefined && seqGeq(ack, this.tlpEndSeq)) {
      if (this.tlpIsRetrans && dsack) this.counters.tlpRecovered++;
      this.tlpEndSeq = undefined;
    }
    return sample;
  }

  /**
   * A loss-recovery episode ended (§6.2 step 4): after reo_wnd_persist of them without a new
   * D-SACK the multiplier returns to 1.
   */
  onRecoveryExit(): void {
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
  }

  /**
   * RACK.reo_wnd (§6.2 step 4): 0 when no reordering was seen and we are in recovery or
   * DupThresh segments are SACKed; else min(reo_wnd_mult · min_RTT/4, SRTT).
   */
  reoWnd(srtt: number, inRecovery: boolean): number {
    if (!this.reorderingSeen) {
      if (inRecovery) return 0;
      let sacked = 0;
      for (const r of this.log) if (r.sacked) sacked++;
      if (sacked >= this.cfg.dupThresh) return 0;
    }
    const base = Math.floor((this.reoWndMult * this.minRtt) / 4);
    return srtt > 0 ? Math.min(base, srtt) : base;
  }

  /**
   * §6.2 step 5: marks lost every un-delivered segment sent before RACK.xmit_ts whose deadline
   * (xmit_ts + RACK.rtt + reo_wnd) has passed; the earliest pending deadline is the reordering
   * timeout.
   */
  detectLoss(now: number, srtt: number, inRecovery: boolean): RackLoss {
    const out: RackLoss = { lost: [], timeout: 0 };
    if (this.xmitTs < 0) return out;
    const reo = this.reoWnd(srtt, inRecovery);
    for (const r of this.log) {
      if (r.sacked || r.lost) continue;
      if (!rackSentAfter(this.xmitTs, this.endSeq, r.xmitTs, r.end)) continue;
      const remaining = r.xmitTs + this.rtt + reo - now;
      if (remaining <= 0) {
        r.lost = true;
        this.counters.lost++;
        const last = out.lost[out.lost.length - 1];
        if (last && seqDiff(r.start, last[1]) === 0) last[1] = r.end;
        else out.lost.push([r.start, r.end]);
      } else if (out.timeout === 0 || remaining < out.timeout) {
        out.timeout = remaining;
      }
    }
    return out;
  }

  /** Whether [seq, seq+len) is marked lost and not yet retransmitted. */
  isLost(seq: number): boolean {
    for (const r of this.log) if (seqLeq(r.start, seq) && seqLt(seq, r.end)) return r.lost;
    return false;
  }

  /**
   * The probe timeout (§7.2): 2·SRTT (1 s without a sample), plus WCDelAckT when only one
   * segment is in flight, plus 2 ms to let the ACK arrive; never later than the RTO timer
   * (`rtoRemaining`, µs until it would fire).
   */
  pto(srtt: number, flightSegments: number, rtoRemaining: number): number {
    let pto = srtt > 0 ? 2 * srtt : 1_000_000;
    if (srtt > 0 && flightSegments === 1) pto += this.cfg.wcDelAckT;
    else if (srtt > 0) pto += 2_000;
    return Math.max(0, Math.min(pto, rtoRemaining));
  }

  /** A tail-loss probe was sent (§7.3): remember the flight's end for §7.4. */
  onProbe(sndMax: number, retransmission: boolean): void {
    this.counters.tlpProbes++;
    this.tlpEndSeq = sndMax >>> 0;
    this.tlpIsRetrans = retransmission;
  }

  /** A probe may be sent only when no earlier probe is outstanding (§7.3). */
  canProbe(): boolean {
    return this.tlpEndSeq === undefined;
  }
}

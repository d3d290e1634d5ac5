/**
 * A simulated point-to-point link direction with impairments: loss, duplication,
 * reordering, delay, corruption and a rate limit with a bounded queue (tail drop). Frames are
 * bare IP packets (the stacks use `kind: "ip"` links, like a tun device).
 *
 * @module
 */
import type { Rng } from "./rng.ts";
import { mutateTcp } from "./mutate.ts";

/** What one direction of a link does to frames. Probabilities are in [0, 1]; times in µs. */
export interface LinkParams {
  /** One-way propagation delay. */
  delayUs: number;
  /** Probability a frame is dropped. */
  loss: number;
  /** Probability a frame is delivered twice (the copy slightly later). */
  duplicate: number;
  /** Probability a frame is held back by an extra random delay up to `reorderUs`. */
  reorder: number;
  reorderUs: number;
  /** Probability one random bit of the frame is flipped. */
  corrupt: number;
  /** Bits per second; 0 = unlimited (no serialization delay, no queue). */
  rateBps: number;
  /** Most queueing delay the bottleneck buffer holds before tail-dropping (µs). */
  queueUs: number;
  /**
   * Probability a TCP segment gets one header field rewritten with a valid checksum
   * ({@link mutateTcp}): hostile input that reaches TCP. 0 = off.
   */
  mutate?: number;
  /**
   * ECN marking (RFC 3168 §5, an AQM in its simplest form): an ECT frame that finds more than
   * this much queueing delay is marked CE instead of waiting for a drop. 0 = off.
   */
  ceThresholdUs?: number;
  /** Drop frames matching this predicate (for targeted tests); called before the rest. */
  filter?: (frame: Uint8Array, index: number) => boolean;
}

/** A clean link: 1 ms, no impairments, unlimited rate. */
export function cleanLink(over: Partial<LinkParams> = {}): LinkParams {
  return {
    delayUs: 1000,
    loss: 0,
    duplicate: 0,
    reorder: 0,
    reorderUs: 0,
    corrupt: 0,
    rateBps: 0,
    queueUs: 100_000,
    ...over,
  };
}

/** Counters of one direction. */
export interface LinkCounters {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  queueDrops: number;
  filtered: number;
  /** ECT frames marked CE. */
  ceMarked: number;
  /** TCP segments rewritten by the mutator. */
  mutated: number;
  /** Frames longer than the link MTU (a stack bug; they are still delivered). */
  oversize: number;
}

/** One direction's state: decides, per frame, when (and whether, and how often) it arrives. */
export class LinkDirection {
  params: LinkParams;
  readonly rng: Rng;
  /** When the bottleneck finishes sending what is queued. */
  busyUntil = 0;
  /** Frames sent but not yet delivered. */
  inFlight = 0;
  readonly counters: LinkCounters = {
    sent: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    queueDrops: 0,
    filtered: 0,
    ceMarked: 0,
    mutated: 0,
    oversize: 0,
  };
  /** The link MTU, for the oversize check (0 = unchecked). */
  mtu = 0;

  constructor(params: LinkParams, rng: Rng) {
    this.params = params;
    this.rng = rng;
  }

  /**
   * Plans a frame sent at `now`: returns the (possibly corrupted) copies and their arrival
   * times; an empty list when the frame is lost.
   */
  plan(frame: Uint8Array, now: number): Array<{ at: number; frame: Uint8Array }> {
    const p = this.params;
    const c = this.counters;
    const index = c.sent++;
    if (this.mtu > 0 && frame.length > this.mtu) c.oversize++;
    if (p.filter && p.filter(frame, index)) {
      c.filtered++;
      return [];
    }
    let depart = now;
    let ce = false;
    if (p.rateBps > 0) {
      const start = Math.max(now, this.busyUntil);
      if (start - now > p.queueUs) {
        c.queueDrops++;
        return [];
      }
      ce = !!p.ceThresholdUs && start - now > p.ceThresholdUs;
      depart = start + Math.ceil((frame.length * 8 * 1e6) / p.rateBps);
      this.busyUntil = depart;
    }
    if (this.rng.chance(p.loss)) {
      c.lost++;
      return [];
    }
    const out: Array<{ at: number; frame: Uint8Array }> = [];
    const copies = this.rng.chance(p.duplicate) ? 2 : 1;
    if (copies === 2) c.duplicated++;
    for (let k = 0; k < copies; k++) {
      let f = frame.slice();
      if (ce && markCe(f)) c.ceMarked++;
      if (p.mutate && this.rng.chance(p.mutate) && mutateTcp(f, this.rng)) c.mutated++;
      if (this.rng.chance(p.corrupt) && f.length > 0) {
        f = f.slice();
        const i = this.rng.int(f.length);
        f[i] ^= 1 << this.rng.int(8);
        c.corrupted++;
      }
      let at = depart + p.delayUs + k * 10;
      if (this.rng.chance(p.reorder)) {
        at += 1 + this.rng.int(Math.max(1, p.reorderUs));
        c.reordered++;
      }
      out.push({ at, frame: f });
    }
    return out;
  }
}

/**
 * Sets CE on an ECT(0)/ECT(1) IPv4 or IPv6 packet (RFC 3168 §5), fixing the IPv4 header
 * checksum. Returns false for Not-ECT or non-IP frames.
 */
export function markCe(f: Uint8Array): boolean {
  if (f.length < 20) return false;
  const v = f[0] >> 4;
  if (v === 4) {
    if ((f[1] & 3) === 0) return false;
    f[1] |= 3;
    const ihl = (f[0] & 0xf) * 4;
    if (ihl < 20 || ihl > f.length) return false;
    f[10] = 0;
    f[11] = 0;
    let sum = 0;
    for (let i = 0; i < ihl; i += 2) sum += (f[i] << 8) | f[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    sum = ~sum & 0xffff;
    f[10] = sum >> 8;
    f[11] = sum & 0xff;
    return true;
  }
  if (v === 6 && f.length >= 40) {
    // Traffic class straddles bytes 0 and 1; ECN is its low two bits (byte 1, bits 5..4).
    if (((f[1] >> 4) & 3) === 0) return false;
    f[1] |= 0x30;
    return true;
  }
  return false;
}

/**
 * The TCP/IP server's side of the NIC region (servers/nic/region.ts): received frames come off
 * the RX ring and their buffers go back on RX_FREE; frames to send are copied into buffers from
 * TX_FREE and put on TX. Every descriptor read from the region is checked before use (the
 * region's `frame()` bounds-checks offset and length against the pool).
 */
import { openDpdk } from "../../ffi/dpdk.ts";
import { type Desc, F, NicRegion, OFF, RX, RX_FREE, TX, TX_FREE } from "../nic/region.ts";
import { type HopTrace, hopTrace } from "../nic/hoptrace.ts";

/**
 * Descriptor flags for a frame the stack built for a link with checksum offload: the NIC fills
 * the IPv4 header and transport checksums (F.txCsum) and, for a TCP frame with `tsoMss` > 0,
 * cuts it in segments of that size (F.txTso; the stack asks for it over IPv6 only where the NIC
 * offers it, OFF.tso6). Only frames the NIC server can parse get flags
 * (Ethernet + IPv4 that is no fragment, or IPv6 whose next header is TCP, UDP or ICMPv6; see
 * tx_parse in native/dpdk/jr_nic.c): it drops a flagged frame it cannot parse.
 */
export function offloadFlags(frame: Uint8Array, tsoMss: number): number {
  if (frame.length < 34) return 0;
  if (frame[12] === 0x08 && frame[13] === 0x00) {
    if ((frame[14] >> 4) !== 4 || (frame[20] & 0x3f) !== 0 || frame[21] !== 0) return 0;
    return tsoMss > 0 && frame[23] === 6 ? F.txCsum | F.txTso : F.txCsum;
  }
  if (frame[12] === 0x86 && frame[13] === 0xdd && frame.length >= 54) {
    const nh = frame[20];
    if (nh === 6) return tsoMss > 0 ? F.txCsum | F.txTso : F.txCsum;
    return nh === 17 || nh === 58 ? F.txCsum : 0;
  }
  return 0;
}

/** What the TCP/IP server counts about its link. */
export interface LinkCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames dropped because no tx buffer was free. */
  txNoBuf: number;
  /** Frames larger than a tx buffer. */
  txTooBig: number;
  /** Descriptors from the NIC that pointed outside their pool. */
  rxBadDesc: number;
  /** Times the loop slept on the RX doorbell. */
  sleeps: number;
  /** RX_FREE was full when giving a buffer back (never, unless the NIC side misbehaves). */
  rxFreeFull: number;
  /** Tx buffers asked for by the stack (alloc), and frames queued from one without a copy. */
  txLent: number;
  txZeroCopy: number;
}

/** Frames in and out through a NIC region. */
export class NicLink implements Disposable {
  readonly region: NicRegion;
  readonly counters: LinkCounters = {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    txNoBuf: 0,
    txTooBig: 0,
    rxBadDesc: 0,
    sleeps: 0,
    rxFreeFull: 0,
    txLent: 0,
    txZeroCopy: 0,
  };
  // Separate descriptors: the engine transmits (an ACK) while a received frame is delivered.
  #rxd: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  #txd: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  #txProbe: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  #txPending = 0;
  #rxFreed = 0;
  /** Tx buffers lent by alloc() and not yet transmitted, by offset. */
  #lent = new Set<number>();
  /** Tx buffers taken from TX_FREE and not in use (lent ones given back at flush). */
  #spare: number[] = [];
  /** The region's bytes from its start (tx buffers lent are views of it). */
  #bytes: Uint8Array;
  /** Hop trace (JOYRIDE_HOPTRACE; servers/nic/hoptrace.ts), off by default. */
  #trace: HopTrace | undefined;

  /** Path and inode of the region file (a new NIC incarnation may have made a new file). */
  readonly path: string;
  readonly ino: number | null;

  constructor(regionPath: string) {
    this.path = regionPath;
    this.ino = Deno.statSync(regionPath).ino;
    const dpdk = openDpdk();
    this.region = NicRegion.attach(dpdk, regionPath);
    this.#bytes = this.region.bytes;
    this.#trace = hopTrace("tcp", () => dpdk.sym.jr_now_ns() as bigint);
  }

  /**
   * Takes back the buffers a previous incarnation of this server held when it ended: taken
   * from TX_FREE or RX and never given back, they were lost to both servers (a SIGKILL under
   * load held all 512 tx buffers, and the next incarnation could send nothing, for good, a
   * helper's restart tests). Every tx buffer in neither TX nor TX_FREE becomes a spare; every rx
   * buffer in neither RX nor RX_FREE goes back on RX_FREE. Call it once no earlier incarnation
   * can run (after the state file's lock), before the link is used. The NIC server publishes
   * TX_FREE's head before TX's tail and RX's head before RX_FREE's tail (jr_nic.c), so a buffer
   * it moves meanwhile is seen in one ring or both, never neither, when read in this order.
   * Returns the buffers taken back (tx, rx).
   */
  reclaim(): { tx: number; rx: number } {
    const r = this.region, g = r.geometry;
    const pool = (off: number, size: number, n: number) =>
      Array.from({ length: n }, (_, i) => off + i * size);
    const tx = r.rings[TX], txFree = r.rings[TX_FREE];
    const txTail = tx.tail; // first: see the comment above
    const inTx = new Set([
      ...tx.offsets(txTail, tx.head),
      ...txFree.offsets(txFree.tail, txFree.head),
    ]);
    const rxFree = r.rings[RX_FREE], rx = r.rings[RX];
    const rxFreeTail = rxFree.tail; // first
    const inRx = new Set([
      ...rxFree.offsets(rxFreeTail, rxFree.head),
      ...rx.offsets(rx.tail, rx.head),
    ]);
    let txBack = 0, rxBack = 0;
    for (const off of pool(r.txPoolOff, g.txSlotSize, g.txSlots)) {
      if (!inTx.has(off) && !this.#spare.includes(off)) {
        this.#spare.push(off);
        txBack++;
      }
    }
    for (const off of pool(r.rxPoolOff, g.rxSlotSize, g.rxSlots)) {
      if (!inRx.has(off) && rxFree.push(off, g.rxSlotSize)) rxBack++;
    }
    if (rxBack > 0) rxFree.publish();
    return { tx: txBack, rx: rxBack };
  }

  /** Whether `path` is still the file this link has mapped. */
  sameFile(path: string): boolean {
    try {
      return path === this.path && Deno.statSync(path).ino === this.ino;
    } catch {
      return false;
    }
  }

  /** The port's MAC address as 6 bytes. */
  mac(): Uint8Array {
    return Uint8Array.from(this.region.mac.split(":").map((h) => parseInt(h, 16)));
  }

  /** Checksum offloads the NIC server provides (OFF bits). */
  get offloads(): number {
    return this.region.offloads;
  }

  /** Whether the NIC fills checksums of frames flagged F.txCsum. */
  get txChecksum(): boolean {
    return (this.region.offloads & OFF.txCsum) !== 0;
  }

  /** Whether the NIC segments frames flagged F.txTso. */
  get tso(): boolean {
    return (this.region.offloads & OFF.tso) !== 0;
  }

  /** Whether that segmentation covers TCP over IPv6 too. */
  get tso6(): boolean {
    return (this.region.offloads & OFF.tso6) !== 0;
  }

  /** Largest frame (Ethernet header included) a tx buffer holds. */
  get maxTxFrame(): number {
    return this.region.geometry.txSlotSize;
  }

  /** Whether the NIC verifies received checksums. */
  get rxChecksum(): boolean {
    return (this.region.offloads & OFF.rxCsum) !== 0;
  }

  /**
   * Hands up to `max` received frames to `deliver` (each valid only during the call), then
   * gives their buffers back. Returns the number of descriptors taken.
   */
  receive(deliver: (frame: Uint8Array, flags: number) => void, max = 64): number {
    const rx = this.region.rings[RX];
    const free = this.region.rings[RX_FREE];
    const d = this.#rxd;
    let n = 0;
    while (n < max && rx.pop(d)) {
      n++;
      const frame = this.region.frame(d, "rx");
      if (!frame) {
        this.counters.rxBadDesc++;
        continue; // not a buffer of the rx pool: nothing to give back
      }
      const off = d.off;
      this.counters.rxFrames++;
      this.counters.rxBytes += d.len;
      try {
        deliver(frame, d.flags);
      } finally {
        // Cannot be full: RX_FREE has a slot for every rx buffer.
        if (!free.push(off, this.region.geometry.rxSlotSize)) this.counters.rxFreeFull++;
        this.#rxFreed++;
      }
    }
    if (this.#trace && n > 0) this.#trace.mark("tcp.rx", n);
    return n;
  }

  /** Offset of a free tx buffer (a spare one, else from TX_FREE, checked), or -1. */
  #takeTx(): number {
    const spare = this.#spare.pop();
    if (spare !== undefined) return spare;
    const d = this.#txd;
    const probe = this.#txProbe;
    while (this.region.rings[TX_FREE].pop(d)) {
      probe.off = d.off;
      probe.len = 0;
      if (this.region.frame(probe, "tx")) return d.off;
      this.counters.rxBadDesc++; // a bad free descriptor: skip it
    }
    return -1;
  }

  /**
   * Lends a tx buffer of `len` bytes for a frame about to be transmitted (the stack builds it
   * there, and transmit() then queues it without a copy: LinkEndpoint.alloc). Undefined when
   * it is too large or no buffer is free. Buffers not transmitted by the next flush() come back.
   */
  alloc(len: number): Uint8Array | undefined {
    this.counters.txLent++;
    if (len > this.region.geometry.txSlotSize) return undefined;
    const off = this.#takeTx();
    if (off < 0) return undefined;
    this.#lent.add(off);
    return this.#bytes.subarray(off, off + len);
  }

  /**
   * Queues a frame: one built in a buffer from alloc() as it is, any other copied into a tx
   * buffer; false (and counted) if it cannot.
   */
  transmit(frame: Uint8Array, flags = 0, mss = 0): boolean {
    const g = this.region.geometry;
    if (frame.length > g.txSlotSize) {
      this.counters.txTooBig++;
      return false;
    }
    let off = frame.byteOffset - this.#bytes.byteOffset;
    if (frame.buffer === this.#bytes.buffer && this.#lent.delete(off)) {
      this.counters.txZeroCopy++;
    } else {
      off = this.#takeTx();
      if (off < 0) {
        this.counters.txNoBuf++;
        return false;
      }
      this.#bytes.set(frame, off);
    }
    if (!this.region.rings[TX].push(off, frame.length, flags, mss)) {
      // TX full cannot happen with as many ring slots as buffers; count and drop.
      this.#spare.push(off);
      this.counters.txNoBuf++;
      return false;
    }
    this.counters.txFrames++;
    this.counters.txBytes += frame.length;
    this.#txPending++;
    return true;
  }

  /** Wakes the NIC server for what was queued since the last flush. */
  flush(): void {
    if (this.#lent.size > 0) {
      // Lent and never transmitted (the stack dropped the packet): usable again.
      for (const off of this.#lent) this.#spare.push(off);
      this.#lent.clear();
    }
    if (this.#txPending > 0) {
      this.#trace?.mark("tcp.tx", this.#txPending);
      this.region.rings[TX].publish();
      this.#txPending = 0;
    }
    if (this.#rxFreed > 0) {
      this.region.rings[RX_FREE].publish();
      this.#rxFreed = 0;
    }
  }

  /** Whether received frames are waiting. */
  get pending(): boolean {
    return this.region.rings[RX].count > 0;
  }

  /** Sleeps (off the JS thread) until a frame arrives or `timeoutUs` passes. */
  async wait(timeoutUs: number): Promise<void> {
    this.counters.sleeps++;
    this.#trace?.mark("tcp.sleep");
    await this.region.rings[RX].wait(Math.max(1, Math.min(timeoutUs, 0x7fffffff)));
    this.#trace?.mark("tcp.wake");
  }

  /**
   * Sleeps on the JS thread (no thread-pool hop) until a frame arrives or `timeoutUs` passes:
   * the loop's short naps while traffic flows (LoopOptions.nap).
   */
  nap(timeoutUs: number): true {
    this.#trace?.mark("tcp.sleep", 1);
    this.region.rings[RX].waitSync(Math.max(1, Math.min(timeoutUs, 0x7fffffff)));
    this.#trace?.mark("tcp.wake", 1);
    return true;
  }

  #bell?: { begin(): number; end(): void; readonly pointer: Deno.PointerValue };

  /** The RX ring's doorbell, for a nap that sleeps on more words (AppService.nap, issue 9). */
  get rxBell(): { begin(): number; end(): void; readonly pointer: Deno.PointerValue } {
    const ring = this.region.rings[RX];
    const trace = this.#trace;
    return this.#bell ??= {
      begin: () => {
        trace?.mark("tcp.sleep", 1);
        return ring.beginSleep();
      },
      end: () => {
        ring.endSleep();
        trace?.mark("tcp.wake", 1);
      },
      pointer: ring.bellPointer,
    };
  }

  /** Ends the loop's sleep on this link now (a stop, a new region): rings the RX doorbell. */
  kick(): void {
    this.region.rings[RX].publish();
  }

  close(): void {
    this.region.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

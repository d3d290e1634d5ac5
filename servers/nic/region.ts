/**
 * The NIC region: shared memory between the NIC server and the TCP/IP server. TypeScript
 * mirror of native/dpdk/jr_nic.h (region_test.ts checks both agree through jr_layout()).
 *
 * Four single-producer single-consumer rings of 16-byte descriptors (offset, length, flags, mss)
 * over two buffer pools:
 *
 * | ring      | producer | consumer | carries                                   |
 * | --------- | -------- | -------- | ----------------------------------------- |
 * | `RX`      | nic      | tcp      | received frames (rx pool buffers)         |
 * | `RX_FREE` | tcp      | nic      | rx buffers given back after processing    |
 * | `TX`      | tcp      | nic      | frames to send (tx pool buffers)          |
 * | `TX_FREE` | nic      | tcp      | tx buffers given back once sent           |
 *
 * A fresh region has every rx buffer on RX_FREE and every tx buffer on TX_FREE.
 * The TCP side: `pop(RX)` → process → `push(RX_FREE)`; `pop(TX_FREE)` → write frame →
 * `push(TX)`. Push wakes a sleeping consumer; `wait()` sleeps until a ring is non-empty.
 */
import type { Dpdk } from "../../ffi/dpdk.ts";

export const MAGIC = 0x434e524a;
export const VERSION = 1;
export const HDR_SIZE = 4096;

/** Header field offsets. */
export const H = {
  magic: 0,
  version: 4,
  hdrSize: 8,
  ringCap: 12,
  rxSlotSize: 16,
  rxSlots: 20,
  txSlotSize: 24,
  txSlots: 28,
  totalSize: 32,
  ringOff: 40,
  rxPoolOff: 56,
  txPoolOff: 60,
  offloads: 64,
  mtu: 68,
  mac: 72,
  nicPid: 80,
  generation: 84,
  linkUp: 88,
  counters: 128,
  control: 512,
} as const;

/** Counter indices (u64 at H.counters + 8 * index), in jr_nic.h order. */
export const COUNTERS = [
  "heartbeatNs",
  "rxFrames",
  "rxBytes",
  "txFrames",
  "txBytes",
  "rxNoBuf",
  "rxRingFull",
  "txBadDesc",
  "freeBadDesc",
  "txDropped",
  "gsoSegments",
  "groMerged",
  "rxCsumBad",
  "rxTooBig",
  "badIndex",
  "wakeups",
  "captured",
  "captureLost",
] as const;
export type CounterName = typeof COUNTERS[number];

/** Ring field offsets and descriptor layout. */
export const R = { head: 0, tail: 64, bell: 128, sleeping: 132, desc: 192 } as const;
export const DESC_SIZE = 16;

/** Ring indices. */
export const RX = 0, RX_FREE = 1, TX = 2, TX_FREE = 3;

/** Descriptor flags. */
export const F = {
  txCsum: 0x0001,
  txTso: 0x0002,
  rxCsumOk: 0x0100,
  rxCsumBad: 0x0200,
  rxGro: 0x0400,
} as const;

/** Offload bits the NIC server provides (header `offloads`). */
export const OFF = { txCsum: 0x1, tso: 0x2, rxCsum: 0x4, gro: 0x8, tso6: 0x10 } as const;

/**
 * Control block (H.control), owned by TypeScript: capture requests and the port description.
 * The CLI writes `capturePath`, bumps `captureSeq` and sets `captureOn`; the NIC server answers
 * in `captureState` / `captureFrames`.
 */
export const C = {
  captureSeq: 512,
  captureOn: 516,
  captureState: 520,
  captureFrames: 524,
  captureMaxFrames: 528,
  capturePath: 1024, // up to 1024 bytes, NUL-terminated
  portInfo: 2048, // JSON, NUL-terminated, up to 2048 bytes
} as const;

export const CAPTURE_IDLE = 0, CAPTURE_RUNNING = 1, CAPTURE_ERROR = 2;

/** Geometry of a region. */
export interface Geometry {
  ringCap: number;
  rxSlotSize: number;
  rxSlots: number;
  txSlotSize: number;
  txSlots: number;
}

/** Default geometry: 1024-entry rings, 1024 rx buffers of 2 KB, 512 tx buffers of 64 KB (TSO). */
export const DEFAULT_GEOMETRY: Geometry = {
  ringCap: 1024,
  rxSlotSize: 2048,
  rxSlots: 1024,
  txSlotSize: 65344,
  txSlots: 512,
};

/**
 * Geometry for GRO: rx buffers large enough for a coalesced 64 KB segment (the kernel's GRO,
 * jr_nic_kernel_gro, makes IP packets of up to 65535 bytes: 65549-byte frames).
 */
export const GRO_GEOMETRY: Geometry = { ...DEFAULT_GEOMETRY, rxSlotSize: 65600, rxSlots: 512 };

/** A descriptor, as read from a ring. */
export interface Desc {
  off: number;
  len: number;
  flags: number;
  mss: number;
}

/** One SPSC ring of the region, seen from one side. */
export class Ring {
  readonly #u32: Uint32Array;
  readonly #u16: Uint16Array;
  readonly #base: number; // in u32 units
  readonly #cap: number;
  readonly #bellPtr: Deno.PointerValue;
  readonly #dpdk: Dpdk;
  /** Times a peer's index was out of range. */
  badIndex = 0;

  constructor(
    dpdk: Dpdk,
    u32: Uint32Array,
    u16: Uint16Array,
    ptr: Deno.PointerValue,
    off: number,
    cap: number,
  ) {
    this.#dpdk = dpdk;
    this.#u32 = u32;
    this.#u16 = u16;
    this.#base = off >>> 2;
    this.#cap = cap;
    this.#bellPtr = Deno.UnsafePointer.offset(ptr!, off + R.bell);
  }

  get head(): number {
    return Atomics.load(this.#u32, this.#base) >>> 0;
  }
  get tail(): number {
    return Atomics.load(this.#u32, this.#base + (R.tail >>> 2)) >>> 0;
  }
  /** Entries waiting (clamped to capacity; a garbage index counts in badIndex). */
  get count(): number {
    const n = (this.head - this.tail) >>> 0;
    if (n > this.#cap) {
      this.badIndex++;
      return 0;
    }
    return n;
  }

  /** Producer: appends a descriptor; false if full. Call `publish()` after a batch. */
  push(off: number, len: number, flags = 0, mss = 0): boolean {
    const head = this.head;
    if (((head - this.tail) >>> 0) >= this.#cap) return false;
    const i = this.#base + (R.desc >>> 2) + (head & (this.#cap - 1)) * 4;
    this.#u32[i] = off;
    this.#u32[i + 1] = len;
    this.#u16[(i + 2) * 2] = flags;
    this.#u16[(i + 2) * 2 + 1] = mss;
    Atomics.store(this.#u32, this.#base, (head + 1) >>> 0);
    return true;
  }

  /** Producer: wakes the consumer if it sleeps. Call after pushing a batch. */
  publish(): void {
    if (Atomics.load(this.#u32, this.#base + (R.sleeping >>> 2)) !== 0) {
      Atomics.add(this.#u32, this.#base + (R.bell >>> 2), 1);
      this.#dpdk.sym.jr_futex_wake(this.#bellPtr);
    }
  }

  /** Consumer: takes the oldest descriptor into `out`; false if empty. */
  pop(out: Desc): boolean {
    const tail = this.tail;
    const n = (this.head - tail) >>> 0;
    if (n === 0) return false;
    if (n > this.#cap) {
      this.badIndex++;
      return false;
    }
    const i = this.#base + (R.desc >>> 2) + (tail & (this.#cap - 1)) * 4;
    out.off = this.#u32[i];
    out.len = this.#u32[i + 1];
    out.flags = this.#u16[(i + 2) * 2];
    out.mss = this.#u16[(i + 2) * 2 + 1];
    Atomics.store(this.#u32, this.#base + (R.tail >>> 2), (tail + 1) >>> 0);
    return true;
  }

  /**
   * The buffer offsets of the descriptors between `from` and `to` (ring indices), read without
   * taking them; an empty list for a garbage span.
   */
  offsets(from: number, to: number): number[] {
    const n = (to - from) >>> 0;
    if (n > this.#cap) return [];
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      out.push(this.#u32[this.#base + (R.desc >>> 2) + (((from + k) >>> 0) & (this.#cap - 1)) * 4]);
    }
    return out;
  }

  /** Consumer: sleeps until the ring is non-empty or timeoutUs passes (blocks the thread). */
  waitSync(timeoutUs: number): boolean {
    const bellIdx = this.#base + (R.bell >>> 2), sleepIdx = this.#base + (R.sleeping >>> 2);
    const bell = Atomics.load(this.#u32, bellIdx);
    Atomics.store(this.#u32, sleepIdx, 1);
    if (this.count === 0) this.#dpdk.sym.jr_futex_wait(this.#bellPtr, bell, timeoutUs);
    Atomics.store(this.#u32, sleepIdx, 0);
    return this.count > 0;
  }

  /**
   * Consumer: announces a sleep (the producer's publish then rings the bell) and returns the
   * bell's value to sleep on (futex_waitv with other words), or -1 when entries are waiting
   * already. End it with {@link Ring.endSleep}.
   */
  beginSleep(): number {
    const bell = Atomics.load(this.#u32, this.#base + (R.bell >>> 2));
    Atomics.store(this.#u32, this.#base + (R.sleeping >>> 2), 1);
    return this.count === 0 ? bell : -1;
  }

  /** Consumer: ends a sleep begun with {@link Ring.beginSleep}. */
  endSleep(): void {
    Atomics.store(this.#u32, this.#base + (R.sleeping >>> 2), 0);
  }

  /** The bell word's address (for futex_waitv). */
  get bellPointer(): Deno.PointerValue {
    return this.#bellPtr;
  }

  /** Consumer: like waitSync, off the JS thread. */
  async wait(timeoutUs: number): Promise<boolean> {
    const bellIdx = this.#base + (R.bell >>> 2), sleepIdx = this.#base + (R.sleeping >>> 2);
    const bell = Atomics.load(this.#u32, bellIdx);
    Atomics.store(this.#u32, sleepIdx, 1);
    if (this.count === 0) await this.#dpdk.sym.jr_futex_wait_nb(this.#bellPtr, bell, timeoutUs);
    Atomics.store(this.#u32, sleepIdx, 0);
    return this.count > 0;
  }
}

/** A mapped NIC region. */
export class NicRegion implements Disposable {
  readonly path: string;
  readonly ptr: Deno.PointerValue;
  readonly size: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly geometry: Geometry;
  readonly rxPoolOff: number;
  readonly txPoolOff: number;
  readonly rings: Ring[];
  readonly #dpdk: Dpdk;
  readonly #u32: Uint32Array;
  #closed = false;

  private constructor(dpdk: Dpdk, path: string, ptr: Deno.PointerValue, size: number) {
    this.#dpdk = dpdk;
    this.path = path;
    this.ptr = ptr;
    this.size = size;
    const ab = Deno.UnsafePointerView.getArrayBuffer(ptr!, size);
    this.bytes = new Uint8Array(ab);
    this.view = new DataView(ab);
    this.#u32 = new Uint32Array(ab);
    const u16 = new Uint16Array(ab);
    const v = this.view;
    if (v.getUint32(H.magic, true) !== MAGIC || v.getUint32(H.version, true) !== VERSION) {
      dpdk.sym.jr_region_unmap(ptr, BigInt(size));
      throw new Error(`Cannot attach NIC region ${path}: bad magic or version`);
    }
    this.geometry = {
      ringCap: v.getUint32(H.ringCap, true),
      rxSlotSize: v.getUint32(H.rxSlotSize, true),
      rxSlots: v.getUint32(H.rxSlots, true),
      txSlotSize: v.getUint32(H.txSlotSize, true),
      txSlots: v.getUint32(H.txSlots, true),
    };
    const g = this.geometry;
    const need = regionSize(dpdk, g);
    if (need === 0 || need > size) {
      dpdk.sym.jr_region_unmap(ptr, BigInt(size));
      throw new Error(`Cannot attach NIC region ${path}: bad geometry`);
    }
    this.rings = [];
    for (let r = 0; r < 4; r++) {
      this.rings.push(new Ring(dpdk, this.#u32, u16, ptr, ringOffset(g.ringCap, r), g.ringCap));
    }
    this.rxPoolOff = alignUp(ringOffset(g.ringCap, 4), 4096);
    this.txPoolOff = this.rxPoolOff + g.rxSlotSize * g.rxSlots;
  }

  /** Creates (or re-creates) a region file and lays it out. */
  static create(dpdk: Dpdk, path: string, g: Geometry = DEFAULT_GEOMETRY): NicRegion {
    const size = regionSize(dpdk, g);
    if (size === 0) throw new Error(`Cannot create NIC region ${path}: invalid geometry`);
    try {
      Deno.removeSync(path);
    } catch {
      // not there
    }
    const ptr = dpdk.sym.jr_region_map(cstr(path), BigInt(size), 1);
    if (!ptr) throw new Error(`Cannot create NIC region: ${dpdk.lastError()}`);
    const r = dpdk.sym.jr_region_init(
      ptr,
      BigInt(size),
      g.ringCap,
      g.rxSlotSize,
      g.rxSlots,
      g.txSlotSize,
      g.txSlots,
    );
    if (r !== 0) {
      dpdk.sym.jr_region_unmap(ptr, BigInt(size));
      throw new Error(`Cannot lay out NIC region ${path}: error ${r}`);
    }
    return new NicRegion(dpdk, path, ptr, size);
  }

  /** Maps an existing region file (the TCP side, the CLI). */
  static attach(dpdk: Dpdk, path: string): NicRegion {
    const size = Deno.statSync(path).size;
    if (size < HDR_SIZE) throw new Error(`Cannot attach NIC region ${path}: file too small`);
    const ptr = dpdk.sym.jr_region_map(cstr(path), BigInt(size), 0);
    if (!ptr) throw new Error(`Cannot attach NIC region: ${dpdk.lastError()}`);
    return new NicRegion(dpdk, path, ptr, size);
  }

  /** Reads a counter. */
  counter(name: CounterName): bigint {
    return this.view.getBigUint64(H.counters + 8 * COUNTERS.indexOf(name), true);
  }

  /** All counters as numbers. */
  counters(): Record<CounterName, number> {
    const out = {} as Record<CounterName, number>;
    COUNTERS.forEach((n, i) => out[n] = Number(this.view.getBigUint64(H.counters + 8 * i, true)));
    return out;
  }

  setCounter(name: CounterName, v: bigint): void {
    this.view.setBigUint64(H.counters + 8 * COUNTERS.indexOf(name), v, true);
  }

  /** Offload bits (OFF.*) the NIC server provides. */
  get offloads(): number {
    return this.view.getUint32(H.offloads, true);
  }
  get mtu(): number {
    return this.view.getUint32(H.mtu, true);
  }
  /** MAC address of the port, "aa:bb:…". */
  get mac(): string {
    return Array.from(this.bytes.subarray(H.mac, H.mac + 6), (b) => b.toString(16).padStart(2, "0"))
      .join(":");
  }

  u32(off: number): number {
    return Atomics.load(this.#u32, off >>> 2) >>> 0;
  }
  setU32(off: number, v: number): void {
    Atomics.store(this.#u32, off >>> 2, v);
  }

  /** Reads a NUL-terminated string of the control block. */
  cString(off: number, max: number): string {
    const b = this.bytes.subarray(off, off + max);
    const end = b.indexOf(0);
    return new TextDecoder().decode(b.subarray(0, end < 0 ? max : end));
  }
  /** Writes a NUL-terminated string into the control block; throws if it does not fit. */
  setCString(off: number, max: number, s: string): void {
    const e = new TextEncoder().encode(s);
    if (e.length >= max) throw new Error(`Cannot store "${s}": longer than ${max - 1} bytes`);
    this.bytes.set(e, off);
    this.bytes[off + e.length] = 0;
  }

  /** The buffer a descriptor points at, if it lies inside the pool it must come from. */
  frame(d: Desc, pool: "rx" | "tx"): Uint8Array | undefined {
    const g = this.geometry;
    const start = pool === "rx" ? this.rxPoolOff : this.txPoolOff;
    const slot = pool === "rx" ? g.rxSlotSize : g.txSlotSize;
    const slots = pool === "rx" ? g.rxSlots : g.txSlots;
    if (d.off < start || d.off >= start + slot * slots || (d.off - start) % slot !== 0) {
      return undefined;
    }
    if (d.len > slot) return undefined;
    return this.bytes.subarray(d.off, d.off + d.len);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dpdk.sym.jr_region_unmap(this.ptr, BigInt(this.size));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

function ringBytes(cap: number): number {
  return alignUp(R.desc + cap * DESC_SIZE, 64);
}

function ringOffset(cap: number, r: number): number {
  return HDR_SIZE + r * ringBytes(cap);
}

/** Bytes a region of this geometry needs (0 if invalid). */
export function regionSize(dpdk: Dpdk, g: Geometry): number {
  return Number(
    dpdk.sym.jr_region_size(g.ringCap, g.rxSlotSize, g.rxSlots, g.txSlotSize, g.txSlots),
  );
}

/** Where the NIC server of an instance keeps its region unless told otherwise. */
export function defaultRegionPath(instance = "default"): string {
  return Deno.env.get("JOYRIDE_NIC_REGION") ?? `/dev/shm/joyride-${instance}-nic`;
}

function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

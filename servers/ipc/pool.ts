/**
 * Buffer pool: `count` fixed-size buffers in a region, with a free list that is an index ring
 * in the same region. The side that allocates pops the free list; one other side (or the same)
 * pushes buffers back. Frames travel between them as (offset, length) descriptors
 * ({@link DescriptorRing}) whose offsets count from the pool's first buffer.
 *
 * @example
 * ```ts
 * const pool = BufferPool.init(region, 0, 256, 2048);
 * const off = pool.alloc();              // -1 when none is free
 * pool.bytes(off, 60).set(frame);
 * pool.free(off);
 * ```
 * @module
 */
import { alignUp, KIND, POOL, poolRingCapacity, RING, ringBytes } from "./layout.ts";
import type { Region } from "./region.ts";
import type { DescriptorBounds } from "./slot_rings.ts";
import { IndexRing } from "./slot_rings.ts";

/** A pool of fixed-size buffers with a shared free list. */
export class BufferPool {
  readonly region: Region;
  readonly offset: number;
  readonly count: number;
  readonly bufSize: number;
  /** Absolute region offset of the first buffer. */
  readonly buffersStart: number;
  /** The free list (indices of free buffers). */
  readonly freeList: IndexRing;

  /**
   * Lays out a pool of `count` buffers of `bufSize` bytes (a multiple of 64) at `offset`, with
   * every buffer on the free list.
   */
  static init(region: Region, offset: number, count: number, bufSize: number): BufferPool {
    if (!(Number.isSafeInteger(count) && count > 0 && count <= RING.MAX_CAPACITY)) {
      throw new RangeError(`Cannot lay out pool: count ${count}`);
    }
    if (!(Number.isSafeInteger(bufSize) && bufSize > 0 && bufSize % POOL.BUF_ALIGN === 0)) {
      throw new RangeError(`Cannot lay out pool: buffer size ${bufSize} is not a multiple of 64`);
    }
    if (offset % RING.CACHE_LINE !== 0) {
      throw new RangeError(`Cannot lay out pool: offset ${offset} is not cache-line aligned`);
    }
    const ringOff = POOL.HEADER_SIZE;
    const bufOff = alignUp(ringOff + ringBytes(KIND.INDEX, poolRingCapacity(count)), 64);
    if (offset + bufOff + count * bufSize > region.size) {
      throw new RangeError(`Cannot lay out pool at ${offset}: it does not fit the region`);
    }
    const w = offset >> 2;
    region.u32[w + POOL.OFF_VERSION / 4] = POOL.VERSION;
    region.u32[w + POOL.OFF_BUF_SIZE / 4] = bufSize;
    region.u32[w + POOL.OFF_COUNT / 4] = count;
    region.u32[w + POOL.OFF_RING / 4] = ringOff;
    region.u32[w + POOL.OFF_BUFFERS / 4] = bufOff;
    const ring = IndexRing.init(region, offset + ringOff, poolRingCapacity(count), count);
    for (let i = 0; i < count; i++) ring.push(i);
    Atomics.store(region.i32, w + POOL.OFF_MAGIC / 4, POOL.MAGIC | 0);
    return new BufferPool(region, offset);
  }

  /** Attaches to a pool laid out by another process; throws if its header is not sound. */
  static attach(region: Region, offset: number): BufferPool {
    return new BufferPool(region, offset);
  }

  private constructor(region: Region, offset: number) {
    if (offset % RING.CACHE_LINE !== 0 || offset + POOL.HEADER_SIZE > region.size) {
      throw new RangeError(`Cannot attach pool at ${offset}: outside the region`);
    }
    const w = offset >> 2;
    const u32 = region.u32;
    if (u32[w + POOL.OFF_MAGIC / 4] !== POOL.MAGIC || u32[w + POOL.OFF_VERSION / 4] !== 1) {
      throw new Error(`Cannot attach pool at ${offset}: bad magic or version`);
    }
    const bufSize = u32[w + POOL.OFF_BUF_SIZE / 4];
    const count = u32[w + POOL.OFF_COUNT / 4];
    const ringOff = u32[w + POOL.OFF_RING / 4];
    const bufOff = u32[w + POOL.OFF_BUFFERS / 4];
    const ringEnd = ringOff + ringBytes(KIND.INDEX, poolRingCapacity(count));
    if (
      bufSize === 0 || bufSize % POOL.BUF_ALIGN !== 0 || count === 0 ||
      count > RING.MAX_CAPACITY || ringOff !== POOL.HEADER_SIZE || bufOff < ringEnd ||
      bufOff % POOL.BUF_ALIGN !== 0 || offset + bufOff + count * bufSize > region.size
    ) {
      throw new Error(
        `Cannot attach pool at ${offset}: ${count} buffers of ${bufSize} at ${bufOff} do not fit`,
      );
    }
    this.region = region;
    this.offset = offset;
    this.count = count;
    this.bufSize = bufSize;
    this.buffersStart = offset + bufOff;
    this.freeList = IndexRing.attach(region, offset + ringOff, count);
    if (this.freeList.capacity !== poolRingCapacity(count)) {
      throw new Error(`Cannot attach pool at ${offset}: free list has the wrong capacity`);
    }
  }

  /** Bytes the pool's buffers span: what descriptors into this pool are checked against. */
  get bounds(): DescriptorBounds {
    return { bytes: this.count * this.bufSize, bufSize: this.bufSize };
  }

  /** Takes a free buffer: its offset from the first buffer, or -1 when none is free. */
  alloc(): number {
    const i = this.freeList.pop();
    return i < 0 ? -1 : i * this.bufSize;
  }

  /** Returns the buffer at `offset` (any offset inside it) to the free list. */
  free(offset: number): boolean {
    if (!(offset >= 0 && offset < this.count * this.bufSize)) {
      throw new RangeError(`Cannot free buffer at ${offset}: outside the pool`);
    }
    return this.freeList.push(Math.floor(offset / this.bufSize));
  }

  /** A view of `length` bytes at `offset` (from a checked descriptor or `alloc`). */
  bytes(offset: number, length: number): Uint8Array<ArrayBuffer> {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.count * this.bufSize)) {
      throw new RangeError(`Cannot view (${offset}, ${length}): outside the pool`);
    }
    const at = this.buffersStart + offset;
    return this.region.u8.subarray(at, at + length);
  }
}

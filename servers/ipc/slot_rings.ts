/**
 * Fixed-slot rings: frame descriptors ((offset, length) into a buffer pool, plus flags and a
 * user word) and buffer indices (a pool's free list). Every slot read is checked against the
 * bounds given at attach time before it is handed out.
 *
 * @module
 */
import { DESC, INDEX, KIND } from "./layout.ts";
import type { Region } from "./region.ts";
import { Ring } from "./ring.ts";

/** A frame descriptor, reused by {@link DescriptorRing.pop} (no allocation per frame). */
export interface Descriptor {
  /** Byte offset from the pool's first buffer. */
  offset: number;
  length: number;
  flags: number;
  user: number;
}

/** What descriptors may point at: `bytes` bytes cut into buffers of `bufSize` (0: uncut). */
export interface DescriptorBounds {
  bytes: number;
  bufSize: number;
}

/** An SPSC ring of frame descriptors. */
export class DescriptorRing extends Ring {
  readonly bounds: DescriptorBounds;
  /** Index after the last staged (written, unpublished) descriptor. */
  #staged: number;

  /** Writes a new, empty ring of `slots` descriptors at `offset` and attaches it. */
  static init(
    region: Region,
    offset: number,
    slots: number,
    bounds: DescriptorBounds,
  ): DescriptorRing {
    Ring.writeHeader(region, offset, KIND.DESCRIPTOR, slots, DESC.SLOT_SIZE);
    return new DescriptorRing(region, offset, bounds);
  }

  /** Attaches to an existing descriptor ring; popped descriptors are checked against `bounds`. */
  static attach(region: Region, offset: number, bounds: DescriptorBounds): DescriptorRing {
    return new DescriptorRing(region, offset, bounds);
  }

  private constructor(region: Region, offset: number, bounds: DescriptorBounds) {
    super(region, offset, KIND.DESCRIPTOR, DESC.SLOT_SIZE);
    if (!(bounds.bytes >= 0 && bounds.bufSize >= 0 && bounds.bytes <= 0xffffffff)) {
      throw new RangeError(`Cannot attach descriptor ring: bad bounds ${JSON.stringify(bounds)}`);
    }
    this.bounds = { ...bounds };
    this.#staged = this.tail;
  }

  /** Slots in use as the producer sees them: staged ones count. */
  #used(): number {
    const head = this.loadHead();
    const used = (this.#staged - head) >>> 0;
    if (used > this.capacity) {
      this.corrupt(`head ${head} is more than ${this.capacity} slots behind tail ${this.tail}`);
      return -1;
    }
    return used;
  }

  /** Producer side: are `n` slots free? */
  hasSpace(n: number): boolean {
    if (this.error) return false;
    const used = this.#used();
    return used >= 0 && this.capacity - used >= n;
  }

  /** Producer side: slots free now (0 when broken). */
  free(): number {
    if (this.error) return 0;
    const used = this.#used();
    return used < 0 ? 0 : this.capacity - used;
  }

  /** Producer side: writes a descriptor without publishing it (see {@link publish}). */
  stage(offset: number, length: number, flags = 0, user = 0): boolean {
    if (this.error) return false;
    // Slots staged but not published count as used.
    const head = this.loadHead();
    const used = (this.#staged - head) >>> 0;
    if (used > this.capacity) {
      this.corrupt(`head ${head} is more than ${this.capacity} slots behind tail ${this.tail}`);
      return false;
    }
    if (used === this.capacity) return false;
    const w = (this.dataStart + (this.#staged & this.mask) * DESC.SLOT_SIZE) >> 2;
    this.u32[w] = offset;
    this.u32[w + 1] = length;
    this.u32[w + 2] = flags;
    this.u32[w + 3] = user;
    this.#staged = (this.#staged + 1) >>> 0;
    return true;
  }

  /** Producer side: publishes every staged descriptor at once (one doorbell check). */
  publish(): void {
    if (this.#staged === this.tail) return;
    this.tail = this.#staged;
    this.publishTail();
  }

  /** Producer side: writes and publishes one descriptor; false when full or broken. */
  push(offset: number, length: number, flags = 0, user = 0): boolean {
    if (!this.stage(offset, length, flags, user)) return false;
    this.publish();
    return true;
  }

  /**
   * Consumer side: takes the next descriptor into `out` after checking it lies inside one
   * buffer of the pool. False when empty or broken (a bad descriptor breaks the ring).
   */
  pop(out: Descriptor): boolean {
    if (this.error) return false;
    const tail = this.loadTail();
    const used = (tail - this.head) >>> 0;
    if (used === 0) return false;
    if (used > this.capacity) {
      this.corrupt(`tail ${tail} is more than ${this.capacity} slots ahead of head ${this.head}`);
      return false;
    }
    const w = (this.dataStart + (this.head & this.mask) * DESC.SLOT_SIZE) >> 2;
    const offset = this.u32[w];
    const length = this.u32[w + 1];
    const { bytes, bufSize } = this.bounds;
    const bad = bufSize > 0
      ? offset >= bytes || (offset % bufSize) + length > bufSize
      : offset > bytes || length > bytes - offset;
    if (bad) {
      this.corrupt(`descriptor (${offset}, ${length}) is outside the pool`);
      return false;
    }
    out.offset = offset;
    out.length = length;
    out.flags = this.u32[w + 2];
    out.user = this.u32[w + 3];
    this.head = (this.head + 1) >>> 0;
    this.publishHead();
    return true;
  }
}

/** An SPSC ring of buffer indices below `limit` (a buffer pool's free list). */
export class IndexRing extends Ring {
  readonly limit: number;

  /** Writes a new, empty ring of `slots` indices at `offset` and attaches it. */
  static init(region: Region, offset: number, slots: number, limit: number): IndexRing {
    Ring.writeHeader(region, offset, KIND.INDEX, slots, INDEX.SLOT_SIZE);
    return new IndexRing(region, offset, limit);
  }

  /** Attaches to an existing index ring; popped indices are checked to be below `limit`. */
  static attach(region: Region, offset: number, limit: number): IndexRing {
    return new IndexRing(region, offset, limit);
  }

  private constructor(region: Region, offset: number, limit: number) {
    super(region, offset, KIND.INDEX, INDEX.SLOT_SIZE);
    this.limit = limit;
  }

  /** Producer side: are `n` slots free? */
  hasSpace(n: number): boolean {
    if (this.error) return false;
    const head = this.loadHead();
    const used = (this.tail - head) >>> 0;
    if (used > this.capacity) {
      this.corrupt(`head ${head} is more than ${this.capacity} slots behind tail ${this.tail}`);
      return false;
    }
    return this.capacity - used >= n;
  }

  /** Producer side: appends `index`; false when full or broken. */
  push(index: number): boolean {
    if (!this.hasSpace(1)) return false;
    this.u32[(this.dataStart >> 2) + (this.tail & this.mask)] = index;
    this.tail = (this.tail + 1) >>> 0;
    this.publishTail();
    return true;
  }

  /** Consumer side: the next index, or -1 when empty or broken (a bad index breaks the ring). */
  pop(): number {
    if (this.error) return -1;
    const tail = this.loadTail();
    const used = (tail - this.head) >>> 0;
    if (used === 0) return -1;
    if (used > this.capacity) {
      this.corrupt(`tail ${tail} is more than ${this.capacity} slots ahead of head ${this.head}`);
      return -1;
    }
    const index = this.u32[(this.dataStart >> 2) + (this.head & this.mask)];
    if (index >= this.limit) {
      this.corrupt(`index ${index} is not below ${this.limit}`);
      return -1;
    }
    this.head = (this.head + 1) >>> 0;
    this.publishHead();
    return index;
  }
}

/**
 * Byte ring: an SPSC stream of bytes (a socket's send or receive buffer). The producer writes
 * and the consumer reads, peeks (two views when the readable bytes wrap) and consumes.
 *
 * @example
 * ```ts
 * const ring = ByteRing.init(region, 0, 65536);
 * ring.write(new TextEncoder().encode("hello"));
 * const [a, b] = ring.peekViews();   // b is empty unless the data wraps
 * ring.consume(a.length + b.length);
 * ```
 * @module
 */
import { KIND } from "./layout.ts";
import type { Region } from "./region.ts";
import { Ring } from "./ring.ts";

const EMPTY = new Uint8Array(0);

/** An SPSC byte ring (see the module doc). */
export class ByteRing extends Ring {
  /** Writes a new, empty byte ring of `capacity` bytes at `offset` and attaches it. */
  static init(region: Region, offset: number, capacity: number): ByteRing {
    Ring.writeHeader(region, offset, KIND.BYTE, capacity, 0);
    return new ByteRing(region, offset);
  }

  /** Attaches to an existing byte ring (checks its header; throws if it is not one). */
  static attach(region: Region, offset: number): ByteRing {
    return new ByteRing(region, offset);
  }

  private constructor(region: Region, offset: number) {
    super(region, offset, KIND.BYTE, 0);
  }

  /** Consumer side: bytes readable now (0 when broken). */
  readable(): number {
    if (this.error) return 0;
    const tail = this.loadTail();
    const used = (tail - this.head) >>> 0;
    if (used > this.capacity) {
      this.corrupt(`tail ${tail} is more than ${this.capacity} ahead of head ${this.head}`);
      return 0;
    }
    return used;
  }

  /** Producer side: bytes writable now (0 when broken). */
  writable(): number {
    if (this.error) return 0;
    const head = this.loadHead();
    const used = (this.tail - head) >>> 0;
    if (used > this.capacity) {
      this.corrupt(`head ${head} is more than ${this.capacity} behind tail ${this.tail}`);
      return 0;
    }
    return this.capacity - used;
  }

  /** Producer side: can `n` bytes be written now? */
  hasSpace(n: number): boolean {
    return this.writable() >= Math.min(n, this.capacity);
  }

  /** Producer side: copies as much of `src` as fits; returns the bytes written. */
  write(src: Uint8Array): number {
    const n = Math.min(src.byteLength, this.writable());
    if (n === 0) return 0;
    const off = this.tail & this.mask;
    const first = Math.min(n, this.capacity - off);
    this.u8.set(first === src.byteLength ? src : src.subarray(0, first), this.dataStart + off);
    if (n > first) this.u8.set(src.subarray(first, n), this.dataStart);
    this.tail = (this.tail + n) >>> 0;
    this.publishTail();
    return n;
  }

  /**
   * Producer side: the free space as two views to write into (the second empty unless the space
   * wraps); publish with {@link ByteRing.commitWrite}.
   */
  writeViews(): [Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>] {
    return this.#views(this.tail, this.writable());
  }

  /** Producer side: publishes `n` bytes written into the views (clamped to the free space). */
  commitWrite(n: number): number {
    const k = Math.max(0, Math.min(n, this.writable()));
    if (k === 0) return 0;
    this.tail = (this.tail + k) >>> 0;
    this.publishTail();
    return k;
  }

  /** Consumer side: the readable bytes as two views (the second empty unless they wrap). */
  peekViews(): [Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>] {
    return this.#views(this.head, this.readable());
  }

  #views(index: number, n: number): [Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>] {
    const off = index & this.mask;
    const first = Math.min(n, this.capacity - off);
    const a = this.u8.subarray(this.dataStart + off, this.dataStart + off + first);
    const b = n > first ? this.u8.subarray(this.dataStart, this.dataStart + n - first) : EMPTY;
    return [a, b as Uint8Array<ArrayBuffer>];
  }

  /** Consumer side: copies up to `dst.length` readable bytes into `dst`; returns how many. */
  read(dst: Uint8Array): number {
    const n = this.peek(dst);
    this.consume(n);
    return n;
  }

  /** Consumer side: copies up to `dst.length` readable bytes without consuming them. */
  peek(dst: Uint8Array): number {
    const n = Math.min(dst.byteLength, this.readable());
    if (n === 0) return 0;
    const off = this.head & this.mask;
    const first = Math.min(n, this.capacity - off);
    dst.set(this.u8.subarray(this.dataStart + off, this.dataStart + off + first), 0);
    if (n > first) dst.set(this.u8.subarray(this.dataStart, this.dataStart + n - first), first);
    return n;
  }

  /**
   * Consumer side: the room a producer waiting on the space bell is woken for (default 1 byte:
   * any). A stream socket's send ring wakes its writer at a third of the ring, as Linux wakes a
   * writer blocked on a TCP socket only once a third of its buffer is free: one wake-up per
   * large write instead of one per segment acknowledged.
   */
  spaceWakeMin = 1;

  /** Consumer side: drops `n` readable bytes (clamped); returns how many were dropped. */
  consume(n: number): number {
    const k = Math.max(0, Math.min(n, this.readable()));
    if (k === 0) return 0;
    this.head = (this.head + k) >>> 0;
    this.publishHead(this.capacity - this.readable() >= this.spaceWakeMin);
    return k;
  }
}

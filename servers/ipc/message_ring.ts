/**
 * Message ring: an SPSC ring of variable-size records, one Cap'n Proto message each.
 *
 * A record is an 8-byte header (u32 length, u32 flags) and the payload padded to 8 bytes; a
 * record never wraps: when it does not fit before the end of the data area, the producer writes a
 * padding record (FLAG_PAD) up to the end and puts the record at offset 0, both in one commit.
 * The consumer reads the payload in place (a Uint8Array over shared memory, no copy) and
 * releases it when done. A message may be at most `capacity / 2 - 8` bytes, so one always fits
 * into an empty ring whatever the wrap position.
 *
 * @example
 * ```ts
 * using region = Region.create(1 << 16);
 * const tx = MessageRing.init(region, 0, 4096);
 * tx.push(new Uint8Array([1, 2, 3]));
 * const rx = MessageRing.attach(region, 0);   // usually in the other process
 * const msg = rx.peek();                      // Uint8Array [1, 2, 3], a view
 * rx.release();
 * ```
 * @module
 */
import { alignUp, KIND, MSG } from "./layout.ts";
import type { Region } from "./region.ts";
import { Ring } from "./ring.ts";

/** An SPSC message ring (see the module doc). */
export class MessageRing extends Ring {
  /** Largest payload a record may carry. */
  readonly maxMessage: number;
  // Producer: the reservation in progress.
  #resOff = -1;
  #resPad = 0;
  #resMax = 0;
  // Consumer: the record being looked at.
  #recOff = -1;
  #recSize = 0;
  /** Length of the payload returned by the last successful peek. */
  peekLength = 0;

  /** Writes a new, empty message ring of `capacity` data bytes at `offset` and attaches it. */
  static init(region: Region, offset: number, capacity: number): MessageRing {
    Ring.writeHeader(region, offset, KIND.MESSAGE, capacity, 0);
    return new MessageRing(region, offset);
  }

  /** Attaches to an existing message ring (checks its header; throws if it is not one). */
  static attach(region: Region, offset: number): MessageRing {
    return new MessageRing(region, offset);
  }

  private constructor(region: Region, offset: number) {
    super(region, offset, KIND.MESSAGE, 0);
    this.maxMessage = this.capacity / 2 - MSG.RECORD_HEADER;
    if (((this.tail - this.head) & (MSG.ALIGN - 1)) !== 0) {
      this.corrupt(`tail ${this.tail} and head ${this.head} are not 8-byte aligned apart`);
    }
  }

  /** Bytes the producer may still use, or -1 when the consumer's head is impossible. */
  #free(): number {
    const head = this.loadHead();
    const used = (this.tail - head) >>> 0;
    if (used > this.capacity || (used & (MSG.ALIGN - 1)) !== 0) {
      this.corrupt(`head ${head} is not within ${this.capacity} behind tail ${this.tail}`);
      return -1;
    }
    return this.capacity - used;
  }

  /** Bytes of ring a record of `len` takes at the current tail, padding included. */
  #need(len: number): number {
    const rec = MSG.RECORD_HEADER + alignUp(len, MSG.ALIGN);
    const contiguous = this.capacity - (this.tail & this.mask);
    return rec <= contiguous ? rec : contiguous + rec;
  }

  /** Producer side: would a payload of `len` bytes fit now? */
  hasSpace(len: number): boolean {
    if (this.error || !(len <= this.maxMessage)) return false;
    const free = this.#free();
    return free >= 0 && this.#need(len) <= free;
  }

  /**
   * Producer side: reserves room for a payload of up to `len` bytes and returns its absolute
   * offset in the region (write it through `region.u8`), or -1 when the ring is full or broken.
   * `len` above `maxMessage` is a programming error (RangeError).
   */
  reserveOffset(len: number): number {
    if (!(len >= 0 && len <= this.maxMessage)) {
      throw new RangeError(`Cannot reserve ${len} bytes: messages are at most ${this.maxMessage}`);
    }
    if (this.error) return -1;
    const free = this.#free();
    const need = this.#need(len);
    if (free < 0 || need > free) return -1;
    const off = this.tail & this.mask;
    const rec = MSG.RECORD_HEADER + alignUp(len, MSG.ALIGN);
    this.#resPad = need - rec;
    this.#resOff = this.#resPad === 0 ? off : 0;
    this.#resMax = len;
    return this.dataStart + this.#resOff + MSG.RECORD_HEADER;
  }

  /** {@link MessageRing.reserveOffset} as a view to write the payload into, or null. */
  reserve(len: number): Uint8Array<ArrayBuffer> | null {
    const at = this.reserveOffset(len);
    return at < 0 ? null : this.u8.subarray(at, at + len);
  }

  /** Producer side: publishes the reserved record with `len` bytes of payload (default: all). */
  commit(len: number = this.#resMax): void {
    if (this.#resOff < 0) throw new Error("Cannot commit: nothing is reserved");
    if (!(len >= 0 && len <= this.#resMax)) {
      throw new RangeError(`Cannot commit ${len} bytes: ${this.#resMax} were reserved`);
    }
    if (this.#resPad > 0) {
      const p = (this.dataStart + (this.tail & this.mask)) >> 2;
      this.u32[p] = this.#resPad - MSG.RECORD_HEADER;
      this.u32[p + 1] = MSG.FLAG_PAD;
    }
    const h = (this.dataStart + this.#resOff) >> 2;
    this.u32[h] = len;
    this.u32[h + 1] = 0;
    this.tail = (this.tail + this.#resPad + MSG.RECORD_HEADER + alignUp(len, MSG.ALIGN)) >>> 0;
    this.#resOff = -1;
    this.publishTail();
  }

  /** Producer side: copies `msg` into the ring; false when full or broken. */
  push(msg: Uint8Array): boolean {
    const at = this.reserveOffset(msg.byteLength);
    if (at < 0) return false;
    this.u8.set(msg, at);
    this.commit(msg.byteLength);
    return true;
  }

  /**
   * Consumer side: the absolute region offset of the next message's payload (its length in
   * `peekLength`), or -1 when empty or broken. Peeking again before `release` returns the same.
   */
  peekOffset(): number {
    if (this.#recOff >= 0) return this.dataStart + this.#recOff + MSG.RECORD_HEADER;
    if (this.error) return -1;
    const tail = this.loadTail();
    let used = (tail - this.head) >>> 0;
    if (used === 0) return -1;
    if (used > this.capacity || (used & (MSG.ALIGN - 1)) !== 0) {
      this.corrupt(`tail ${tail} is not within ${this.capacity} ahead of head ${this.head}`);
      return -1;
    }
    let off = this.head & this.mask;
    let skip = 0;
    let h = (this.dataStart + off) >> 2;
    let len = this.u32[h];
    let flags = this.u32[h + 1];
    if (flags === MSG.FLAG_PAD) {
      // A pad runs to the end of the data area and is always followed by a record.
      skip = this.capacity - off;
      if (len !== skip - MSG.RECORD_HEADER || skip + MSG.RECORD_HEADER > used) {
        this.corrupt(`padding record at ${off} has length ${len} (${used} bytes published)`);
        return -1;
      }
      used -= skip;
      off = 0;
      h = this.dataStart >> 2;
      len = this.u32[h];
      flags = this.u32[h + 1];
    }
    if (flags !== 0) {
      this.corrupt(`record at ${off} has flags 0x${flags.toString(16)}`);
      return -1;
    }
    const rec = MSG.RECORD_HEADER + alignUp(len, MSG.ALIGN);
    if (len > this.maxMessage || rec > used || off + rec > this.capacity) {
      this.corrupt(`record at ${off} has length ${len} (${used} bytes published)`);
      return -1;
    }
    this.#recOff = off;
    this.#recSize = skip + rec;
    this.peekLength = len;
    return this.dataStart + off + MSG.RECORD_HEADER;
  }

  /**
   * Consumer side: the next message in place (a view into shared memory, valid until
   * `release`), or null when empty or broken. The other side could still scribble over it:
   * decode it defensively (Cap'n Proto readers are bounds-checked).
   */
  peek(): Uint8Array<ArrayBuffer> | null {
    const at = this.peekOffset();
    return at < 0 ? null : this.u8.subarray(at, at + this.peekLength);
  }

  /** Consumer side: gives the peeked message's room back to the producer. */
  release(): void {
    if (this.#recOff < 0) return;
    this.head = (this.head + this.#recSize) >>> 0;
    this.#recOff = -1;
    this.publishHead();
  }
}

/**
 * A {@link ByteQueue} that knows the absolute stream offsets of its head and tail, so the
 * shared-memory store can copy only the bytes added since its last commit into a ring indexed by
 * stream offset, and a restarted server can reconcile with what the user already has.
 *
 * @module
 */
import { ByteQueue } from "../tcp/buffer.ts";

/** A byte queue with absolute offsets: `headAbs` bytes were dropped, `tailAbs` pushed. */
export class CountingByteQueue extends ByteQueue {
  /** Absolute stream offset of the first byte held. */
  headAbs: number;
  /**
   * Bytes to discard from the next pushes (the user already has them: a restarted server
   * learned that its records were older than what it had delivered).
   */
  skip = 0;

  constructor(headAbs = 0) {
    super();
    this.headAbs = headAbs;
  }

  /** A counting queue holding what `q` holds, its head at `headAbs`. */
  static from(q: ByteQueue, headAbs = 0): CountingByteQueue {
    if (q instanceof CountingByteQueue) return q;
    const c = new CountingByteQueue(headAbs);
    if (q.length > 0) c.push(q.view(0, q.length));
    return c;
  }

  /** Absolute stream offset just past the last byte held. */
  get tailAbs(): number {
    return this.headAbs + this.length;
  }

  override push(data: Uint8Array): void {
    if (this.skip > 0 && data.length > 0) {
      const k = Math.min(this.skip, data.length);
      this.skip -= k;
      // The skipped bytes count as pushed and dropped at once.
      if (this.length === 0) this.headAbs += k;
      else throw new Error("Cannot skip bytes behind held data");
      data = data.subarray(k);
      if (data.length === 0) return;
    }
    super.push(data);
  }

  override drop(n: number): void {
    const k = Math.max(0, Math.min(n, this.length));
    this.headAbs += k;
    super.drop(k);
  }

  override clear(): void {
    this.headAbs += this.length;
    super.clear();
  }

  /**
   * The user already consumed the stream up to `abs`: drop what is held before it, and skip
   * whatever of it arrives later. Returns the bytes dropped or to be skipped.
   */
  consumedTo(abs: number): number {
    const behind = abs - this.headAbs;
    if (behind <= 0) return 0;
    const k = Math.min(behind, this.length);
    this.drop(k);
    this.skip = behind - k;
    return behind;
  }
}

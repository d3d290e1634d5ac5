/**
 * A byte queue for socket buffers: append at the tail, read/peek at any offset, drop from the
 * head. One backing array used as a ring, grown (doubled) only when the bytes held outgrow it,
 * so steady streaming neither allocates nor moves bytes that are already queued.
 *
 * It used to be a flat array compacted (copyWithin) whenever the tail reached its end: with a
 * bulk flow's send buffer held near its high-water mark that moved 0.57 bytes for every byte
 * queued (1 MB receive buffer: 0.78), on top of the copies in and out (issue 9).
 *
 * A queue can also live in a ring someone else owns ({@link ByteQueue.useRing}): the TCP/IP
 * server's state region, where a restarted server finds the bytes (store/shm_store.ts). Such a
 * queue never writes over the bytes it dropped since the owner last called {@link settle} (the
 * owner's records may still name them); a push that would leaves the ring for an array of its
 * own, and {@link ring} tells the owner.
 *
 * @module
 */

/** Shared by every queue that never held a byte (no allocation per idle connection). */
const EMPTY: Uint8Array = new Uint8Array(0);

/** Copies at most this long go byte by byte: no view allocated (per segment on hot paths). */
const SMALL_COPY = 64;

/** A FIFO of bytes. */
export class ByteQueue {
  // Allocated on the first push: an idle connection's two queues cost nothing (issue 9).
  #buf: Uint8Array = EMPTY;
  /** Index in #buf of the first byte held. */
  #head = 0;
  #len = 0;
  /** Where a view that wraps around the ring's end is made contiguous (see {@link view}). */
  #joined: Uint8Array = EMPTY;
  /** #buf is a ring someone else owns (see {@link useRing}). */
  #fixed = false;
  /** Bytes before #head dropped since the last {@link settle} (kept in a fixed ring). */
  #behind = 0;
  /** It was in an owner's ring and left it (see {@link leftRing}). */
  #left = false;

  /**
   * Keeps the queue in `ring` (its owner's) from index `head` on, from now on: what it holds is
   * copied there, and an empty queue can instead take the `held` bytes the ring already has from
   * `head` on (a restart finding a previous queue). The bytes must fit.
   */
  useRing(ring: Uint8Array, head: number, held = 0): void {
    if (this.#len + held > ring.length || (held > 0 && this.#len > 0)) {
      throw new RangeError("Cannot fit the queue in the ring");
    }
    const h = Math.max(0, Math.min(head, ring.length - 1));
    const first = Math.min(this.#len, ring.length - h);
    this.copyInto(0, first, ring, h);
    this.copyInto(first, this.#len - first, ring, 0);
    this.#buf = ring;
    this.#head = h;
    this.#len += held;
    this.#fixed = true;
    this.#behind = 0;
    this.#left = false;
  }

  /** The owner's ring the queue lives in (undefined: it left it, or never was in one). */
  get ring(): Uint8Array | undefined {
    return this.#fixed ? this.#buf : undefined;
  }

  /**
   * It lived in an owner's ring and left it (a push that would have written over kept bytes,
   * or {@link leaveRing}): the owner's records no longer follow it.
   */
  get leftRing(): boolean {
    return this.#left;
  }

  /** Leaves the owner's ring for an array of its own (the owner gives the ring to another). */
  leaveRing(): void {
    if (!this.#fixed) return;
    if (this.#len > 0) return this.#grow(this.#len);
    // Nothing held: no array until the next push (every freed connection's two queues left
    // their record's rings, and each took a zeroed 4 KB array it mostly never used).
    this.#buf = EMPTY;
    this.#head = 0;
    this.#fixed = false;
    this.#behind = 0;
    this.#left = true;
  }

  /** The owner no longer needs the bytes dropped so far: a push may write over them. */
  settle(): void {
    this.#behind = 0;
  }

  /** Bytes held. */
  get length(): number {
    return this.#len;
  }

  /** Index in #buf of the byte at queue offset `off` (0 ≤ off ≤ length). */
  #at(off: number): number {
    const i = this.#head + off;
    return i >= this.#buf.length ? i - this.#buf.length : i;
  }

  /** Appends `data`. */
  push(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    if (this.#behind + this.#len + n > this.#buf.length) this.#grow(this.#len + n);
    const t = this.#at(this.#len);
    const first = Math.min(n, this.#buf.length - t);
    this.#buf.set(first === n ? data : data.subarray(0, first), t);
    if (first < n) this.#buf.set(data.subarray(first), 0);
    this.#len += n;
  }

  /**
   * Moves what is held to the start of a larger array of its own (at least `need` bytes; a
   * queue in an owner's ring leaves it).
   */
  #grow(need: number): void {
    let size = Math.max(4096, this.#fixed ? 0 : this.#buf.length * 2);
    while (size < need) size *= 2;
    const nb = new Uint8Array(size);
    this.copyInto(0, this.#len, nb, 0);
    this.#buf = nb;
    this.#head = 0;
    if (this.#fixed) this.#left = true;
    this.#fixed = false;
    this.#behind = 0;
  }

  /**
   * A view of `len` bytes from offset `off`, valid until the next push, drop or view: a range
   * that wraps around the ring's end is copied into a buffer the queue keeps for that (the send
   * queue's segments, about once per trip round the ring).
   */
  view(off: number, len: number): Uint8Array {
    const o = Math.max(0, Math.min(off, this.#len));
    const l = Math.max(0, Math.min(len, this.#len - o));
    const s = this.#at(o);
    if (s + l <= this.#buf.length) return this.#buf.subarray(s, s + l);
    if (this.#joined.length < l) this.#joined = new Uint8Array(l);
    this.copyInto(o, l, this.#joined, 0);
    return this.#joined.subarray(0, l);
  }

  /** Copies `len` bytes from offset `off` into `dst` at `at` (both ranges must be valid). */
  copyInto(off: number, len: number, dst: Uint8Array, at: number): void {
    if (len <= 0) return;
    const b = this.#buf;
    let s = this.#at(off);
    if (len <= SMALL_COPY) {
      for (let k = 0; k < len; k++) {
        dst[at + k] = b[s];
        if (++s === b.length) s = 0;
      }
      return;
    }
    const first = Math.min(len, b.length - s);
    dst.set(b.subarray(s, s + first), at);
    if (first < len) dst.set(b.subarray(0, len - first), at + first);
  }

  /** A copy of `len` bytes from offset `off`. */
  copy(off: number, len: number): Uint8Array {
    const o = Math.max(0, Math.min(off, this.#len));
    const out = new Uint8Array(Math.max(0, Math.min(len, this.#len - o)));
    this.copyInto(o, out.length, out, 0);
    return out;
  }

  /** Removes `n` bytes from the head. */
  drop(n: number): void {
    this.#take(Math.max(0, Math.min(n, this.#len)));
  }

  /** Removes everything. */
  clear(): void {
    this.#take(this.#len);
  }

  #take(k: number): void {
    if (k === 0) return;
    this.#head = this.#at(k);
    this.#len -= k;
    if (this.#fixed) this.#behind = Math.min(this.#buf.length, this.#behind + k);
    else if (this.#len === 0) this.#head = 0;
  }
}

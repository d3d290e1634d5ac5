/**
 * A byte queue for socket buffers: append at the tail, read/peek at any offset, drop from the
 * head. One growable backing array, compacted when the head passes half of it, so steady
 * streaming does not allocate.
 *
 * @module
 */

/** Shared by every queue that never held a byte (no allocation per idle connection). */
const EMPTY = new Uint8Array(0);

/** A FIFO of bytes. */
export class ByteQueue {
  // Allocated on the first push: an idle connection's two queues cost nothing (issue 9).
  #buf = EMPTY;
  #head = 0;
  #len = 0;

  /** Bytes held. */
  get length(): number {
    return this.#len;
  }

  /** Appends `data`. */
  push(data: Uint8Array): void {
    const need = this.#head + this.#len + data.length;
    if (need > this.#buf.length) {
      if (this.#len + data.length <= this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#head, this.#head + this.#len);
      } else {
        let n = Math.max(4096, this.#buf.length * 2);
        while (n < this.#len + data.length) n *= 2;
        const nb = new Uint8Array(n);
        nb.set(this.#buf.subarray(this.#head, this.#head + this.#len));
        this.#buf = nb;
      }
      this.#head = 0;
    }
    this.#buf.set(data, this.#head + this.#len);
    this.#len += data.length;
  }

  /** A view of `len` bytes from offset `off` (valid until the next push/drop). */
  view(off: number, len: number): Uint8Array {
    const o = Math.max(0, Math.min(off, this.#len));
    const l = Math.max(0, Math.min(len, this.#len - o));
    return this.#buf.subarray(this.#head + o, this.#head + o + l);
  }

  /**
   * Copies `len` bytes from offset `off` into `dst` at `at` (both ranges must be valid);
   * small copies go byte by byte, with no view allocated (per segment on hot paths).
   */
  copyInto(off: number, len: number, dst: Uint8Array, at: number): void {
    const src = this.#head + off;
    if (len <= 64) {
      const b = this.#buf;
      for (let k = 0; k < len; k++) dst[at + k] = b[src + k];
    } else dst.set(this.#buf.subarray(src, src + len), at);
  }

  /** A copy of `len` bytes from offset `off`. */
  copy(off: number, len: number): Uint8Array {
    return this.view(off, len).slice();
  }

  /** Removes `n` bytes from the head. */
  drop(n: number): void {
    const k = Math.max(0, Math.min(n, this.#len));
    this.#head += k;
    this.#len -= k;
    if (this.#len === 0) this.#head = 0;
  }

  /** Removes everything. */
  clear(): void {
    this.#head = 0;
    this.#len = 0;
  }
}

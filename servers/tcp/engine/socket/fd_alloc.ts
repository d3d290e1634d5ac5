/**
 * Descriptor numbers, lowest free first (as POSIX gives them), in O(log n): numbers below a
 * high-water mark that were given back wait in a min-heap; past them the mark moves up. The
 * socket table used to probe from the first number up, O(n) per socket with n open (issue 9:
 * 10,000 connections made each new one walk them all).
 *
 * @module
 */

/** Allocates numbers in [first, first + max). */
export class LowestFree {
  readonly first: number;
  readonly max: number;
  #next: number;
  /** Given-back numbers below #next: a binary min-heap. */
  #heap: number[] = [];

  constructor(first: number, max: number) {
    this.first = first;
    this.max = max;
    this.#next = first;
  }

  /** The lowest free number, now taken; undefined when all `max` are taken. */
  take(): number | undefined {
    const h = this.#heap;
    if (h.length > 0) {
      const top = h[0];
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        this.#down(0);
      }
      return top;
    }
    if (this.#next - this.first >= this.max) return undefined;
    return this.#next++;
  }

  /** Gives back `n` (it must have been taken and not given back since). */
  release(n: number): void {
    if (n === this.#next - 1) {
      // The highest one: the mark moves down (what the heap holds is all below it still).
      this.#next--;
      this.#trim();
      return;
    }
    const h = this.#heap;
    h.push(n);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p] <= h[i]) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  /** Numbers taken now. */
  get inUse(): number {
    return this.#next - this.first - this.#heap.length;
  }

  /** All given back: back to the start, heap empty. */
  #trim(): void {
    if (this.#heap.length === this.#next - this.first) {
      this.#heap.length = 0;
      this.#next = this.first;
    }
  }

  #down(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && h[l] < h[m]) m = l;
      if (r < h.length && h[r] < h[m]) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
}

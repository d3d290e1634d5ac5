/**
 * One-shot timers over virtual time (microseconds), kept in an indexed binary min-heap so a
 * cancel is O(log n) and a run pops only what is due. Ties run in scheduling order, so a
 * simulation is deterministic. The stack owns one; TCP uses it for its timers.
 *
 * @module
 */

interface Entry {
  at: number;
  seq: number;
  id: number;
  fn: () => void;
  /** Position in the heap array, or -1 once popped/cancelled. */
  pos: number;
}

/**
 * A timer set.
 *
 * @example
 * ```ts
 * const t = new Timers();
 * const id = t.schedule(1000, () => console.log("fired"));
 * t.run(999);   // nothing
 * t.run(1000);  // "fired"
 * t.cancel(id); // no-op now
 * ```
 */
export class Timers {
  #heap: Entry[] = [];
  #byId = new Map<number, Entry>();
  #nextId = 1;
  #seq = 0;

  /** Number of pending timers. */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `fn` at absolute time `at` (µs); returns an id for {@link cancel} (never 0). */
  schedule(at: number, fn: () => void): number {
    const id = this.#nextId++;
    if (this.#nextId > 0x7fffffff) this.#nextId = 1;
    const e: Entry = { at, seq: this.#seq++, id, fn, pos: this.#heap.length };
    this.#heap.push(e);
    this.#byId.set(id, e);
    this.#up(e.pos);
    return id;
  }

  /** Cancels timer `id`; unknown, fired or already cancelled ids (and 0) are ignored. */
  cancel(id: number): void {
    const e = this.#byId.get(id);
    if (e === undefined) return;
    this.#byId.delete(id);
    this.#removeAt(e.pos);
  }

  /**
   * Moves pending timer `id` to time `at` without allocating (it then runs after timers
   * already scheduled for `at`). Returns false, doing nothing, when `id` is not pending.
   */
  reschedule(id: number, at: number): boolean {
    const e = this.#byId.get(id);
    if (e === undefined) return false;
    e.at = at;
    e.seq = this.#seq++;
    this.#up(e.pos);
    this.#down(e.pos);
    return true;
  }

  /** Whether timer `id` is still pending. */
  pending(id: number): boolean {
    return this.#byId.has(id);
  }

  /** The time of the earliest pending timer, or undefined when none. */
  next(): number | undefined {
    return this.#heap.length > 0 ? this.#heap[0].at : undefined;
  }

  /**
   * Runs every timer due at or before `now`, earliest first (ties in scheduling order).
   * Timers scheduled by a callback for a time ≤ `now` run in the same call. Returns how many
   * ran.
   */
  run(now: number): number {
    const heap = this.#heap;
    let ran = 0;
    while (heap.length > 0 && heap[0].at <= now) {
      const e = heap[0];
      this.#byId.delete(e.id);
      this.#removeAt(0);
      e.fn();
      ran++;
    }
    return ran;
  }

  #less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #removeAt(pos: number): void {
    const heap = this.#heap;
    const e = heap[pos];
    e.pos = -1;
    const last = heap.pop()!;
    if (pos === heap.length) return;
    heap[pos] = last;
    last.pos = pos;
    this.#up(pos);
    this.#down(last.pos);
  }

  #up(pos: number): void {
    const heap = this.#heap;
    const e = heap[pos];
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const p = heap[parent];
      if (!this.#less(e, p)) break;
      heap[pos] = p;
      p.pos = pos;
      pos = parent;
    }
    heap[pos] = e;
    e.pos = pos;
  }

  #down(pos: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const e = heap[pos];
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#less(heap[r], heap[l]) ? r : l;
      if (!this.#less(heap[c], e)) break;
      heap[pos] = heap[c];
      heap[pos].pos = pos;
      pos = c;
    }
    heap[pos] = e;
    e.pos = pos;
  }
}

/**
 * What every ring shares: the header (layout.ts), the two indices with their local copies, the
 * doorbells, and the broken state.
 *
 * Trust: each side keeps its own index privately (the consumer its head, the producer its tail)
 * and only publishes it; the one index it reads from shared memory is the other side's, and it
 * is validated before use. A value that cannot be right marks the ring broken: `error` says why,
 * `corruptions` counts, every later operation returns "nothing" (null, -1, 0, false), and no
 * exception reaches the caller. Nothing outside the ring's own bytes is read or written.
 *
 * Doorbells: a consumer that finds the ring empty sets the waiter flag in the data bell and
 * sleeps on it (futex, always with a timeout); the producer, after publishing its tail, looks at
 * the flag and only then pays for a wake-up. So a wake happens only on the empty→non-empty
 * transition the waiter announced, and symmetrically (space bell) on full→non-full. Waiters spin
 * for a bounded time first: waking a sleeping process on the other core costs tens of µs.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { BELL, KIND, RING, ringDataSize, STATE } from "./layout.ts";
import type { Region } from "./region.ts";

/** Process-wide counters of the IPC layer. */
export const ipcCounters = {
  /** Rings marked broken because the other side wrote something impossible. */
  corruptRings: 0,
};

/** How long waits spin before sleeping, by default (µs). */
export const DEFAULT_SPIN_US = 20;
/** Whether spinning waits yield the CPU between checks (tunable for measurements). */
export let spinYield = true;
/** Sets {@link spinYield}. */
export function setSpinYield(on: boolean): void {
  spinYield = on;
}

/** How long waits last at most, by default (ms). */
export const DEFAULT_TIMEOUT_MS = 1000;

/** Statistics of one ring, seen from this process. */
export interface RingStats {
  /** futex wakes issued. */
  wakes: number;
  /** futex sleeps entered. */
  sleeps: number;
  /** waits that ran out of time. */
  timeouts: number;
}

const KIND_NAMES: Record<number, string> = {
  [KIND.MESSAGE]: "message",
  [KIND.BYTE]: "byte",
  [KIND.DESCRIPTOR]: "descriptor",
  [KIND.INDEX]: "index",
};

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** Checks that a ring of `kind`/`capacity` fits at `offset` in `region`; throws if not. */
function checkPlacement(region: Region, offset: number, kind: number, capacity: number): void {
  const what = `${KIND_NAMES[kind] ?? `kind ${kind}`} ring at ${offset}`;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % RING.CACHE_LINE !== 0) {
    throw new RangeError(`Cannot place ${what}: offset is not a multiple of ${RING.CACHE_LINE}`);
  }
  if (!isPow2(capacity) || capacity < RING.MIN_CAPACITY || capacity > RING.MAX_CAPACITY) {
    throw new RangeError(
      `Cannot place ${what}: capacity ${capacity} is not a power of two in ` +
        `[${RING.MIN_CAPACITY}, ${RING.MAX_CAPACITY}]`,
    );
  }
  const end = offset + RING.HEADER_SIZE + ringDataSize(kind, capacity);
  if (end > region.size) {
    throw new RangeError(
      `Cannot place ${what}: it ends at ${end}, past the region (${region.size})`,
    );
  }
}

/** Base of all rings. Not constructed directly: use the `init`/`attach` of a ring kind. */
export abstract class Ring {
  readonly region: Region;
  /** Byte offset of the ring header in the region. */
  readonly offset: number;
  readonly kind: number;
  /** Bytes (message, byte rings) or slots (descriptor, index rings). */
  readonly capacity: number;
  protected readonly mask: number;
  /** Absolute byte offset of the data area in the region. */
  readonly dataStart: number;
  protected readonly i32: Int32Array;
  protected readonly u32: Uint32Array;
  protected readonly u8: Uint8Array<ArrayBuffer>;
  readonly #headIdx: number;
  readonly #tailIdx: number;
  readonly #dataBellIdx: number;
  readonly #spaceBellIdx: number;
  readonly #stateIdx: number;
  readonly #dataBellPtr: Deno.PointerObject;
  readonly #spaceBellPtr: Deno.PointerObject;
  /** The consumer's index (private copy; only the consumer side uses it). */
  protected head: number;
  /** The producer's index (private copy; only the producer side uses it). */
  protected tail: number;
  /** Why the ring is broken, once it is. */
  error: Error | undefined;
  /** How many impossible values were read (the first one breaks the ring). */
  corruptions = 0;
  readonly stats: RingStats = { wakes: 0, sleeps: 0, timeouts: 0 };
  /** Share of the requested spin the next wait uses, in 16ths (adaptive, see #wait). */
  #spinQ = 16;
  #waits = 0;

  /** Writes a fresh header (indices 0, bells 0). Throws when the ring does not fit. */
  protected static writeHeader(
    region: Region,
    offset: number,
    kind: number,
    capacity: number,
    slotSize: number,
  ): void {
    checkPlacement(region, offset, kind, capacity);
    const dataSize = ringDataSize(kind, capacity);
    region.u8.fill(0, offset, offset + RING.HEADER_SIZE);
    const w = offset / 4;
    const u32 = region.u32;
    u32[w + RING.OFF_VERSION / 4] = RING.VERSION;
    u32[w + RING.OFF_KIND / 4] = kind;
    u32[w + RING.OFF_CAPACITY / 4] = capacity;
    u32[w + RING.OFF_SLOT_SIZE / 4] = slotSize;
    u32[w + RING.OFF_DATA_OFFSET / 4] = RING.HEADER_SIZE;
    u32[w + RING.OFF_DATA_SIZE / 4] = dataSize;
    // Magic last: a reader that sees it sees the rest.
    Atomics.store(region.i32, w + RING.OFF_MAGIC / 4, RING.MAGIC | 0);
  }

  /**
   * Attaches to the ring header at `offset`, checking it (magic, version, kind, capacity, slot
   * size, placement). Throws an Error saying what is wrong: attaching is set-up, not data path.
   */
  protected constructor(region: Region, offset: number, kind: number, slotSize: number) {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + RING.HEADER_SIZE > region.size) {
      throw new RangeError(`Cannot attach ring at ${offset}: outside the region (${region.size})`);
    }
    const u32 = region.u32;
    const w = offset / 4;
    const what = `${KIND_NAMES[kind]} ring at ${offset}`;
    const magic = u32[w + RING.OFF_MAGIC / 4];
    if (magic !== RING.MAGIC) {
      throw new Error(`Cannot attach ${what}: bad magic 0x${magic.toString(16)}`);
    }
    const version = u32[w + RING.OFF_VERSION / 4];
    if (version !== RING.VERSION) throw new Error(`Cannot attach ${what}: version ${version}`);
    const gotKind = u32[w + RING.OFF_KIND / 4];
    if (gotKind !== kind) throw new Error(`Cannot attach ${what}: it is of kind ${gotKind}`);
    const capacity = u32[w + RING.OFF_CAPACITY / 4];
    checkPlacement(region, offset, kind, capacity);
    if (u32[w + RING.OFF_SLOT_SIZE / 4] !== slotSize) {
      throw new Error(`Cannot attach ${what}: slot size ${u32[w + RING.OFF_SLOT_SIZE / 4]}`);
    }
    if (
      u32[w + RING.OFF_DATA_OFFSET / 4] !== RING.HEADER_SIZE ||
      u32[w + RING.OFF_DATA_SIZE / 4] !== ringDataSize(kind, capacity)
    ) {
      throw new Error(`Cannot attach ${what}: data area does not match its capacity`);
    }
    this.region = region;
    this.offset = offset;
    this.kind = kind;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.dataStart = offset + RING.HEADER_SIZE;
    this.i32 = region.i32;
    this.u32 = region.u32;
    this.u8 = region.u8;
    this.#headIdx = w + RING.OFF_HEAD / 4;
    this.#tailIdx = w + RING.OFF_TAIL / 4;
    this.#dataBellIdx = w + RING.OFF_DATA_BELL / 4;
    this.#spaceBellIdx = w + RING.OFF_SPACE_BELL / 4;
    this.#stateIdx = w + RING.OFF_STATE / 4;
    this.#dataBellPtr = region.pointer(offset + RING.OFF_DATA_BELL);
    this.#spaceBellPtr = region.pointer(offset + RING.OFF_SPACE_BELL);
    this.head = Atomics.load(this.i32, this.#headIdx) >>> 0;
    this.tail = Atomics.load(this.i32, this.#tailIdx) >>> 0;
    if (((this.tail - this.head) >>> 0) > this.capacity) {
      this.corrupt(`tail ${this.tail} and head ${this.head} are ${this.capacity}+ apart`);
    }
  }

  /** The consumer's private index (bytes or slots consumed, mod 2^32). */
  get consumed(): number {
    return this.head;
  }

  /** The producer's private index (bytes or slots produced, mod 2^32). */
  get produced(): number {
    return this.tail;
  }

  /** True once the other side wrote something impossible. */
  get broken(): boolean {
    return this.error !== undefined;
  }

  /** Marks the ring broken (first call) and counts. */
  protected corrupt(why: string): void {
    this.corruptions++;
    if (this.error === undefined) {
      ipcCounters.corruptRings++;
      this.error = new Error(`Ring at ${this.offset} is corrupt: ${why}`);
    }
  }

  /** The producer's published tail (read by the consumer). */
  protected loadTail(): number {
    return Atomics.load(this.i32, this.#tailIdx) >>> 0;
  }

  /** The consumer's published head (read by the producer). */
  protected loadHead(): number {
    return Atomics.load(this.i32, this.#headIdx) >>> 0;
  }

  /** Publishes the producer's tail and rings the data bell if the consumer waits. */
  protected publishTail(): void {
    Atomics.store(this.i32, this.#tailIdx, this.tail | 0);
    if (Atomics.load(this.i32, this.#dataBellIdx) & BELL.WAITER) {
      this.#wake(this.#dataBellIdx, this.#dataBellPtr);
    }
  }

  /**
   * Publishes the consumer's head and rings the space bell if the producer waits (and `wake`:
   * a consumer that wakes its producer only for enough room leaves the bell armed).
   */
  protected publishHead(wake = true): void {
    Atomics.store(this.i32, this.#headIdx, this.head | 0);
    if (wake && Atomics.load(this.i32, this.#spaceBellIdx) & BELL.WAITER) {
      this.#wake(this.#spaceBellIdx, this.#spaceBellPtr);
    }
  }

  #wake(idx: number, ptr: Deno.PointerObject): void {
    const w = Atomics.load(this.i32, idx);
    Atomics.compareExchange(this.i32, idx, w, (w + BELL.SEQ_STEP) & ~BELL.WAITER);
    libc.futexWake(ptr, 0x7fffffff);
    this.stats.wakes++;
  }

  /** Consumer side: is anything published that this side has not consumed? */
  hasData(): boolean {
    return this.loadTail() !== this.head;
  }

  /** Producer side: could `need` (bytes or slots, per ring kind) be written now? */
  abstract hasSpace(need: number): boolean;

  /** Marks this side done (producer: no more data; consumer: no more reading) and wakes. */
  close(side: "producer" | "consumer"): void {
    Atomics.or(
      this.i32,
      this.#stateIdx,
      side === "producer" ? STATE.PRODUCER_CLOSED : STATE.CONSUMER_CLOSED,
    );
    this.#wake(this.#dataBellIdx, this.#dataBellPtr);
    this.#wake(this.#spaceBellIdx, this.#spaceBellPtr);
  }

  /** The producer said it is done. */
  get producerClosed(): boolean {
    return (Atomics.load(this.i32, this.#stateIdx) & STATE.PRODUCER_CLOSED) !== 0;
  }

  /** The consumer said it is done. */
  get consumerClosed(): boolean {
    return (Atomics.load(this.i32, this.#stateIdx) & STATE.CONSUMER_CLOSED) !== 0;
  }

  /**
   * Consumer side: waits until data is there, spinning `spinUs` first, then sleeping on the
   * data bell, at most `timeoutMs` in all. True when data is there; false on timeout, when the
   * ring is broken, or when the producer closed with nothing left.
   */
  waitReadable(timeoutMs: number = DEFAULT_TIMEOUT_MS, spinUs: number = DEFAULT_SPIN_US): boolean {
    return this.#wait(true, 0, timeoutMs, spinUs);
  }

  /**
   * Producer side: waits until `need` fits (bytes of payload for message rings, bytes for byte
   * rings, slots for slot rings), spinning then sleeping on the space bell. False on timeout,
   * broken ring, or a closed consumer.
   */
  waitWritable(
    need: number,
    timeoutMs: number = DEFAULT_TIMEOUT_MS,
    spinUs: number = DEFAULT_SPIN_US,
  ): boolean {
    return this.#wait(false, need, timeoutMs, spinUs);
  }

  #ready(data: boolean, need: number): boolean {
    return data ? this.hasData() : this.hasSpace(need);
  }

  #gaveUp(data: boolean): boolean {
    return this.error !== undefined || (data ? this.producerClosed : this.consumerClosed);
  }

  #wait(data: boolean, need: number, timeoutMs: number, spinUs: number): boolean {
    if (this.#ready(data, need)) return true;
    if (this.#gaveUp(data)) return false;
    const start = performance.now();
    const deadline = start + Math.max(0, timeoutMs);
    // Adaptive spin: a spin that pays off doubles the next one (up to spinUs), a wait that had
    // to sleep halves it, down to none; with none, every 16th wait probes with a full spin.
    // On a loaded machine spinning (and yielding) only delays the sleep the wait ends in.
    const probe = this.#spinQ === 0 && (++this.#waits & 15) === 0;
    const spinEnd = start + (probe ? spinUs : spinUs * this.#spinQ / 16) / 1000;
    for (let now = start; now < spinEnd; now = performance.now()) {
      for (let k = 0; k < 64; k++) {
        if (this.#ready(data, need)) {
          this.#spinQ = this.#spinQ === 0 ? 4 : Math.min(16, this.#spinQ * 2);
          return true;
        }
      }
      // On an oversubscribed machine the other side may be waiting for this very CPU.
      if (spinYield) libc.schedYield();
    }
    this.#spinQ >>= 1;
    const idx = data ? this.#dataBellIdx : this.#spaceBellIdx;
    const ptr = data ? this.#dataBellPtr : this.#spaceBellPtr;
    for (let tries = 0;; tries++) {
      let w = Atomics.load(this.i32, idx);
      if ((w & BELL.WAITER) === 0) {
        const seen = Atomics.compareExchange(this.i32, idx, w, w | BELL.WAITER);
        // Only a hostile peer races us for the flag; give up on it after a few tries.
        if (seen !== w && tries < 16) continue;
        w = seen === w ? w | BELL.WAITER : seen;
      }
      // Seq-cst: the flag is visible before this re-check, and the other side publishes its
      // index before looking at the flag, so one of the two always sees the other.
      if (this.#ready(data, need)) {
        Atomics.compareExchange(this.i32, idx, w, w & ~BELL.WAITER);
        return true;
      }
      if (this.#gaveUp(data)) return false;
      // A wait that runs out of time leaves the flag set: the next publish wakes no one, once.
      const left = deadline - performance.now();
      if (left <= 0) {
        this.stats.timeouts++;
        return false;
      }
      this.stats.sleeps++;
      libc.futexWait(ptr, w, Math.min(left, timeoutMs) * 1e6);
    }
  }

  /**
   * {@link Ring.waitReadable} without blocking the event loop: the futex wait runs on Deno's
   * blocking thread pool. No spinning; for servers whose loop has other work.
   */
  async waitReadableAsync(timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<boolean> {
    const deadline = performance.now() + Math.max(0, timeoutMs);
    for (;;) {
      if (this.hasData()) return true;
      if (this.#gaveUp(true)) return false;
      const left = deadline - performance.now();
      if (left <= 0) {
        this.stats.timeouts++;
        return false;
      }
      let w = Atomics.load(this.i32, this.#dataBellIdx);
      if ((w & BELL.WAITER) === 0) {
        if (Atomics.compareExchange(this.i32, this.#dataBellIdx, w, w | BELL.WAITER) !== w) {
          continue;
        }
        w |= BELL.WAITER;
      }
      if (this.hasData()) {
        Atomics.compareExchange(this.i32, this.#dataBellIdx, w, w & ~BELL.WAITER);
        return true;
      }
      this.stats.sleeps++;
      await libc.futexWaitAsync(this.#dataBellPtr, w, left * 1e6);
    }
  }
}

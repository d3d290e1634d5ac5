/**
 * The engine's window on the outside world: time and randomness. The engine never reads a
 * clock or a random source itself (sans-I/O), so a simulator can drive it deterministically.
 *
 * @module
 */

/** What the engine needs from its host. */
export interface EngineContext {
  /** Monotonic time in MICROSECONDS (an integer). */
  now(): number;
  /** 32 random bits, as an unsigned integer. */
  random32(): number;
}

/**
 * A context for tests and simulations: a clock that only moves when told, and a seeded
 * PRNG (splitmix32), so every run with the same seed is the same.
 *
 * @example
 * ```ts
 * const ctx = new FakeContext(42);
 * ctx.advance(1000); // 1 ms later
 * ```
 */
export class FakeContext implements EngineContext {
  /** Current time in microseconds; tests may set it directly. */
  time: number;
  #state: number;

  constructor(seed = 1, startTime = 0) {
    this.time = startTime;
    this.#state = seed >>> 0;
  }

  now(): number {
    return this.time;
  }

  /** Moves the clock forward by `us` microseconds (never backwards). */
  advance(us: number): void {
    if (us < 0) throw new RangeError(`Cannot move the clock backwards by ${us} us`);
    this.time += Math.floor(us);
  }

  /** Sets the clock to `us`, which must not be in the past. */
  set(us: number): void {
    if (us < this.time) throw new RangeError(`Cannot move the clock back to ${us} us`);
    this.time = Math.floor(us);
  }

  random32(): number {
    // splitmix32: a well-mixed 32-bit generator with a single word of state.
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }
}

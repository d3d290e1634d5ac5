/**
 * The real-time EngineContext of the TCP/IP server process: the engine is sans-I/O, so the
 * clock and the random source it uses live here, in the server.
 */
import type { EngineContext } from "./engine/context.ts";

/** Monotonic microseconds from performance.now(), random bits from the OS CSPRNG. */
export class RealContext implements EngineContext {
  #pool = new Uint32Array(256);
  #next = 256;
  #origin: number;

  /** `originUs`: added to the clock (a restarted server can continue a previous timeline). */
  constructor(originUs = 0) {
    this.#origin = originUs;
  }

  now(): number {
    return this.#origin + Math.floor(performance.now() * 1000);
  }

  random32(): number {
    if (this.#next >= this.#pool.length) {
      crypto.getRandomValues(this.#pool);
      this.#next = 0;
    }
    return this.#pool[this.#next++] >>> 0;
  }
}

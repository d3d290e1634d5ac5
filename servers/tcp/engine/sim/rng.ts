/**
 * The simulator's seeded random source (splitmix32): every random choice of a run (losses,
 * delays, node randomness) comes from generators derived from one seed, so a failing run
 * replays exactly from its seed.
 *
 * @module
 */

/** A small seeded PRNG. */
export class Rng {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** 32 random bits. */
  u32(): number {
    this.#s = (this.#s + 0x9e3779b9) >>> 0;
    let z = this.#s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 0x100000000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /** A new generator derived from this one (for a sub-component). */
  fork(): Rng {
    return new Rng(this.u32() ^ 0x5bd1e995);
  }
}

/**
 * Named event counters (drops per reason, packets in/out, …). Names are dotted, prefixed by
 * the layer: "ip.rx.badChecksum", "icmp.tx.echoReply", "udp.rx.noPort".
 *
 * @module
 */

/** A bag of named counters; reading an unset counter gives 0. */
export class Counters {
  #m = new Map<string, number>();

  /** Adds `n` (default 1) to counter `name`. */
  add(name: string, n = 1): void {
    this.#m.set(name, (this.#m.get(name) ?? 0) + n);
  }

  /** The value of counter `name` (0 when never counted). */
  get(name: string): number {
    return this.#m.get(name) ?? 0;
  }

  /** All non-zero counters, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.#m.keys()].sort()) out[k] = this.#m.get(k)!;
    return out;
  }

  /** Sum of all counters whose name starts with `prefix`. */
  sum(prefix: string): number {
    let s = 0;
    for (const [k, v] of this.#m) if (k.startsWith(prefix)) s += v;
    return s;
  }

  toJSON(): Record<string, number> {
    return this.snapshot();
  }
}

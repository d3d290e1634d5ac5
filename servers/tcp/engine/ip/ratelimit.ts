/**
 * A token bucket for ICMP error generation (FreeBSD's net.inet.icmp.icmplim: at most N per
 * second; RFC 4443 §2.4(f) for ICMPv6).
 *
 * @module
 */

/** Allows up to `perSecond` events per second, in bursts of up to `perSecond`. */
export class RateLimiter {
  #perSecond: number;
  #tokens: number;
  #last: number;

  constructor(perSecond: number, now = 0) {
    this.#perSecond = perSecond;
    this.#tokens = perSecond;
    this.#last = now;
  }

  get perSecond(): number {
    return this.#perSecond;
  }

  /** Changes the rate; the burst allowance shrinks with it. */
  set perSecond(v: number) {
    this.#perSecond = v;
    if (this.#tokens > v) this.#tokens = v;
  }

  /** Takes a token at time `now` (µs); false when the limit is reached (0 = unlimited). */
  allow(now: number): boolean {
    if (this.perSecond <= 0) return true;
    const dt = now - this.#last;
    if (dt > 0) {
      this.#tokens = Math.min(this.perSecond, this.#tokens + (dt * this.perSecond) / 1e6);
      this.#last = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

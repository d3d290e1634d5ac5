/**
 * The path-MTU cache (RFC 1191 for IPv4, RFC 8201 for IPv6): per destination, the smallest
 * MTU learnt from fragmentation-needed / packet-too-big, aged out after `expireUs` so a path
 * that grew is found again. Bounded: the oldest entry makes room for a new one.
 *
 * @module
 */
import type { IpAddr } from "./addr.ts";

interface Entry {
  mtu: number;
  expires: number;
}

/** Destination → learnt path MTU. */
export class PmtuCache {
  maxEntries: number;
  expireUs: number;
  #m = new Map<IpAddr, Entry>();

  constructor(maxEntries: number, expireUs: number) {
    this.maxEntries = maxEntries;
    this.expireUs = expireUs;
  }

  get size(): number {
    return this.#m.size;
  }

  /** The learnt MTU towards `dst`, or undefined when none (or expired). */
  get(dst: IpAddr, now: number): number | undefined {
    const e = this.#m.get(dst);
    if (e === undefined) return undefined;
    if (now >= e.expires) {
      this.#m.delete(dst);
      return undefined;
    }
    return e.mtu;
  }

  /** Records `mtu` towards `dst` if it is smaller than what is known; returns whether it was. */
  update(dst: IpAddr, mtu: number, current: number, now: number): boolean {
    if (mtu >= current) return false;
    this.#m.delete(dst);
    while (this.#m.size >= this.maxEntries) {
      const oldest = this.#m.keys().next().value;
      if (oldest === undefined) break;
      this.#m.delete(oldest);
    }
    this.#m.set(dst, { mtu, expires: now + this.expireUs });
    return true;
  }

  clear(): void {
    this.#m.clear();
  }
}

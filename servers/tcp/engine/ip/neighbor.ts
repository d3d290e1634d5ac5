/**
 * A neighbor cache shared by ARP (RFC 826) and NDP (RFC 4861 §7.3): IP address → link
 * address, with a bounded queue of packets waiting for resolution, solicitation retries,
 * reachability timeouts and a hold-down after a failed resolution. States follow RFC 4861:
 *
 * - incomplete: solicited every `retransUs`, `maxSolicits` times, then failed;
 * - reachable: confirmed within `reachableUs`;
 * - stale: usable; the next use starts the delay state;
 * - delay: usable; unless reachability is confirmed within `delayUs` (a solicited reply, or
 *   {@link NeighborCache.confirm} from an upper layer), unicast probing starts (state probe);
 * - probe: usable while up to `maxSolicits` unicast probes go out; no answer deletes it;
 * - failed: output returns EHOSTUNREACH until `downUs` has passed.
 *
 * @module
 */
import type { Timers } from "../timers.ts";
import type { Counters } from "../counters.ts";
import type { IpAddr } from "./addr.ts";
import { EHOSTUNREACH, ENOBUFS } from "../errno.ts";

/** Bounds and times of a neighbor cache (times in microseconds). */
export interface NeighborConfig {
  maxEntries: number;
  /** Packets held per unresolved entry; the oldest is dropped when full. */
  maxHold: number;
  retransUs: number;
  maxSolicits: number;
  reachableUs: number;
  downUs: number;
  /** RFC 4861 DELAY_FIRST_PROBE_TIME (5 s). */
  delayUs: number;
}

/** What the cache asks of its owner. */
export interface NeighborHooks {
  /** Send a solicitation for `ip` (to `mac` when probing a known entry, else multicast). */
  solicit(ip: IpAddr, mac: Uint8Array | undefined): void;
  /** Send `packet` (an IP packet) to link address `mac`. */
  transmit(mac: Uint8Array, packet: Uint8Array): void;
  /** Resolution of `ip` failed; `dropped` are the packets that were waiting. */
  failed?(ip: IpAddr, dropped: Uint8Array[]): void;
}

type State = "incomplete" | "reachable" | "stale" | "delay" | "probe" | "failed";

/** One entry, as shown by {@link NeighborCache.entries}. */
export interface NeighborEntry {
  ip: IpAddr;
  state: State;
  mac?: Uint8Array;
  held: number;
}

interface Entry {
  state: State;
  mac?: Uint8Array;
  hold: Uint8Array[];
  tries: number;
  timer: number;
}

/** The cache. All times come from `now` arguments and the shared {@link Timers}. */
export class NeighborCache {
  readonly cfg: NeighborConfig;
  #m = new Map<IpAddr, Entry>();
  #timers: Timers;
  #counters: Counters;
  #prefix: string;
  #hooks: NeighborHooks;

  constructor(
    cfg: NeighborConfig,
    timers: Timers,
    counters: Counters,
    prefix: string,
    hooks: NeighborHooks,
  ) {
    this.cfg = cfg;
    this.#timers = timers;
    this.#counters = counters;
    this.#prefix = prefix;
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#m.size;
  }

  /** The link address for `ip` when known (reachable, stale or probing). */
  lookup(ip: IpAddr): Uint8Array | undefined {
    const e = this.#m.get(ip);
    return e !== undefined && e.state !== "incomplete" && e.state !== "failed" ? e.mac : undefined;
  }

  /** A snapshot of the entries. */
  entries(): NeighborEntry[] {
    return [...this.#m].map(([ip, e]) => ({ ip, state: e.state, mac: e.mac, held: e.hold.length }));
  }

  /**
   * Sends `packet` to next hop `ip`, resolving it first when needed. Returns 0 (sent or
   * queued), EHOSTUNREACH (resolution failed recently) or ENOBUFS (cache full).
   */
  output(ip: IpAddr, packet: Uint8Array, now: number): number {
    let e = this.#m.get(ip);
    if (e === undefined) {
      if (this.#m.size >= this.cfg.maxEntries && !this.#evict()) {
        this.#counters.add(`${this.#prefix}.cacheFull`);
        return ENOBUFS;
      }
      e = { state: "incomplete", hold: [], tries: 0, timer: 0 };
      this.#m.set(ip, e);
      this.#hold(e, packet);
      this.#solicit(ip, e, now);
      return 0;
    }
    switch (e.state) {
      case "failed":
        this.#counters.add(`${this.#prefix}.hostDown`);
        // Reported as the packets that waited for the resolution were (hooks.failed), once
        // this call has returned: a connect() to a neighbor known dead fails at once, as
        // FreeBSD's arpresolve error fails tcp_output's SYN. Only refused, its SYN was resent
        // into the hold-down until TCP gave up (a helper's non-blocking connect: still
        // EALREADY after 8 s, where the first attempt failed after ARP's tries).
        if (this.#hooks.failed) {
          const hooks = this.#hooks;
          this.#timers.schedule(now, () => hooks.failed!(ip, [packet]));
        }
        return EHOSTUNREACH;
      case "incomplete":
        this.#hold(e, packet);
        return 0;
      case "stale":
        // RFC 4861 §7.3.3: use it, and probe unless confirmed within the delay.
        this.#setState(ip, e, "delay", now);
        break;
    }
    this.#hooks.transmit(e.mac!, packet);
    return 0;
  }

  /**
   * Learns `mac` for `ip`. `confirmed`: the peer proved reachability (solicited reply);
   * `override`: the new address may replace a different cached one; `create`: an unknown `ip`
   * gets an entry (in state reachable when confirmed, else stale).
   */
  update(
    ip: IpAddr,
    mac: Uint8Array,
    now: number,
    opts: { confirmed: boolean; override: boolean; create: boolean },
  ): void {
    let e = this.#m.get(ip);
    if (e === undefined) {
      if (!opts.create) return;
      if (this.#m.size >= this.cfg.maxEntries && !this.#evict()) {
        this.#counters.add(`${this.#prefix}.cacheFull`);
        return;
      }
      e = { state: "stale", hold: [], tries: 0, timer: 0 };
      this.#m.set(ip, e);
    }
    const changed = e.mac === undefined || !sameMac(e.mac, mac);
    if (e.state === "incomplete" || e.state === "failed") {
      e.mac = mac.slice();
      this.#setState(ip, e, opts.confirmed ? "reachable" : "stale", now);
      const held = e.hold;
      e.hold = [];
      for (const p of held) this.#hooks.transmit(e.mac, p);
      return;
    }
    if (changed) {
      if (!opts.override) {
        // RFC 4861 §7.2.5: a non-override advertisement with another address only marks stale.
        if (e.state === "reachable") this.#setState(ip, e, "stale", now);
        return;
      }
      e.mac = mac.slice();
      this.#setState(ip, e, opts.confirmed ? "reachable" : "stale", now);
      return;
    }
    if (opts.confirmed) this.#setState(ip, e, "reachable", now);
  }

  /**
   * An upper layer saw proof of reachability (e.g. TCP new data acknowledged, RFC 4861
   * §7.3.1): a known entry becomes reachable again.
   */
  confirm(ip: IpAddr, now: number): void {
    const e = this.#m.get(ip);
    if (e === undefined || e.mac === undefined) return;
    if (e.state === "incomplete" || e.state === "failed") return;
    this.#setState(ip, e, "reachable", now);
  }

  /** Removes every entry (dropping held packets). */
  flush(): void {
    for (const e of this.#m.values()) this.#timers.cancel(e.timer);
    this.#m.clear();
  }

  #hold(e: Entry, packet: Uint8Array): void {
    if (e.hold.length >= this.cfg.maxHold) {
      e.hold.shift();
      this.#counters.add(`${this.#prefix}.holdDropped`);
    }
    e.hold.push(packet);
  }

  #solicit(ip: IpAddr, e: Entry, now: number): void {
    e.tries++;
    this.#counters.add(`${this.#prefix}.tx.solicit`);
    this.#hooks.solicit(ip, e.state === "probe" ? e.mac : undefined);
    this.#timers.cancel(e.timer);
    e.timer = this.#timers.schedule(
      now + this.cfg.retransUs,
      () => this.#retransmit(ip, e, now + this.cfg.retransUs),
    );
  }

  #retransmit(ip: IpAddr, e: Entry, now: number): void {
    if (this.#m.get(ip) !== e) return;
    if (e.state !== "incomplete" && e.state !== "probe") return;
    if (e.tries < this.cfg.maxSolicits) {
      this.#solicit(ip, e, now);
      return;
    }
    this.#counters.add(`${this.#prefix}.resolveFailed`);
    if (e.state === "probe") {
      this.#m.delete(ip);
      return;
    }
    const dropped = e.hold;
    e.hold = [];
    e.mac = undefined;
    this.#counters.add(`${this.#prefix}.holdDropped`, dropped.length);
    this.#setState(ip, e, "failed", now);
    this.#hooks.failed?.(ip, dropped);
  }

  #setState(ip: IpAddr, e: Entry, s: State, now: number): void {
    e.state = s;
    e.tries = 0;
    this.#timers.cancel(e.timer);
    e.timer = 0;
    if (s === "reachable") {
      e.timer = this.#timers.schedule(now + this.cfg.reachableUs, () => {
        if (this.#m.get(ip) === e && e.state === "reachable") e.state = "stale";
      });
    } else if (s === "delay") {
      e.timer = this.#timers.schedule(now + this.cfg.delayUs, () => {
        if (this.#m.get(ip) !== e || e.state !== "delay") return;
        e.state = "probe";
        e.tries = 0;
        this.#solicit(ip, e, now + this.cfg.delayUs);
      });
    } else if (s === "failed") {
      e.timer = this.#timers.schedule(now + this.cfg.downUs, () => {
        if (this.#m.get(ip) === e) this.#m.delete(ip);
      });
    }
  }

  /** Evicts one entry that holds no packets, oldest first (stale/failed preferred). */
  #evict(): boolean {
    for (const pass of [0, 1]) {
      for (const [ip, e] of this.#m) {
        if (pass === 0 && e.state !== "stale" && e.state !== "failed") continue;
        if (e.hold.length > 0) continue;
        this.#timers.cancel(e.timer);
        this.#m.delete(ip);
        this.#counters.add(`${this.#prefix}.evicted`);
        return true;
      }
    }
    return false;
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

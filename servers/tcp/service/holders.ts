/**
 * The processes of an app that hold its sockets (the region's holder table, apps_region.ts):
 * which of them ended without giving their references back. A process killed by a signal runs
 * no exit hook, so its fds' references stayed counted in the slots and a socket it shared with
 * the rest of the app (a forked child's connection) never closed. The socket service asks once
 * a second; each entry's pid gets a pidfd, readable once the process has ended (a zombie too).
 *
 * @module
 */
import { CTL, HOLDERS } from "../../naming/apps_region.ts";
import { closeFd, pidfdOpen, pollfds, pollNow, revents } from "../../naming/apps_ffi.ts";

/** An entry whose process ended with the entry still taken. */
export interface EndedHolder {
  entry: number;
  pid: number;
}

/** One app's holder table, watched. */
export class HolderWatch {
  /** Entry → the pid seen there and its pidfd. */
  readonly #watched = new Map<number, { pid: number; fd: number }>();

  /**
   * Looks at the table in `u32` (the region's words): starts watching new entries, stops
   * watching entries given back, and returns those whose process ended. An entry returned is no
   * longer watched; the caller gives it back (after taking its row off the slots).
   */
  ended(u32: Uint32Array): EndedHolder[] {
    const out: EndedHolder[] = [];
    const base = CTL.OFF_HOLDERS / 4;
    for (let e = 0; e < HOLDERS; e++) {
      const pid = Atomics.load(u32, base + e) >>> 0;
      const w = this.#watched.get(e);
      if (w && w.pid === pid) continue;
      if (w) this.#forget(e);
      if (pid === 0 || pid > 0x3fffffff) continue;
      const fd = pidfdOpen(pid);
      if (fd < 0) out.push({ entry: e, pid }); // gone already (ESRCH)
      else this.#watched.set(e, { pid, fd });
    }
    if (this.#watched.size === 0) return out;
    const entries = [...this.#watched.keys()];
    const pfds = pollfds(entries.map((e) => this.#watched.get(e)!.fd));
    if (pollNow(pfds, 0) <= 0) return out;
    entries.forEach((e, i) => {
      if (revents(pfds, i) === 0) return;
      out.push({ entry: e, pid: this.#watched.get(e)!.pid });
      this.#forget(e);
    });
    return out;
  }

  /** The number of entries watched. */
  get size(): number {
    return this.#watched.size;
  }

  /** Stops watching everything (the app is gone). */
  close(): void {
    for (const e of [...this.#watched.keys()]) this.#forget(e);
  }

  #forget(e: number): void {
    closeFd(this.#watched.get(e)!.fd);
    this.#watched.delete(e);
  }
}

/**
 * Takes ended holder `h`'s row off the slots' references (a count of 255 is "too many to count"
 * and stays), clears the row and gives the entry back; returns the slots left with no reference
 * (the caller closes their sockets, as the app's last close would).
 */
export function reclaimHolder(
  u32: Uint32Array,
  u8: Uint8Array,
  rowBase: number,
  maxSockets: number,
  slotRefsWord: (slot: number) => number,
  h: EndedHolder,
): number[] {
  const closed: number[] = [];
  const row = rowBase + h.entry * maxSockets;
  for (let slot = 0; slot < maxSockets; slot++) {
    const c = u8[row + slot];
    if (c === 0 || c === 255) continue;
    const w = slotRefsWord(slot);
    for (;;) {
      const old = Atomics.load(u32, w) >>> 0;
      const now = old > c ? old - c : 0;
      if (Atomics.compareExchange(u32, w, old, now) >>> 0 !== old) continue;
      if (old > 0 && now === 0) closed.push(slot);
      break;
    }
  }
  u8.fill(0, row, row + maxSockets);
  Atomics.compareExchange(u32, CTL.OFF_HOLDERS / 4 + h.entry, h.pid, 0);
  return closed;
}

/**
 * The processes that hold slot `slot` now, by the holder table (pids whose row counts an fd
 * of it), in entry order. Empty when no process took an entry (the table is full, or an older
 * shim): the caller then has only what it recorded.
 */
export function holdersOf(
  u32: Uint32Array,
  u8: Uint8Array,
  rowBase: number,
  maxSockets: number,
  slot: number,
): number[] {
  const out: number[] = [];
  if (slot < 0 || slot >= maxSockets) return out;
  for (let e = 0; e < HOLDERS; e++) {
    const pid = Atomics.load(u32, CTL.OFF_HOLDERS / 4 + e) >>> 0;
    if (pid === 0 || pid > 0x3fffffff) continue;
    const at = rowBase + e * maxSockets + slot;
    if (at < u8.length && u8[at] !== 0) out.push(pid);
  }
  return out;
}

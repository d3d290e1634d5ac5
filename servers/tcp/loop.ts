/**
 * The TCP/IP server's one loop: take frames from the link, feed the engine, run its timers,
 * serve the sockets that became ready, send what came out — and when nothing happens, spin for
 * a bounded time, then sleep on the link's doorbell until traffic or the next timer deadline.
 * Idle means idle: a server with no traffic and no timers wakes about twice a second.
 */
import { setImmediate } from "node:timers";
import v8 from "node:v8";
import vm from "node:vm";
import type { EngineContext } from "./engine/context.ts";
import { F } from "../nic/region.ts";
import { libc } from "../../ffi/libc.ts";

/** Where frames come from and go to (a NIC region in the server, a fake in tests). */
export interface FrameLink {
  /** Delivers up to `max` received frames; returns how many it took off the ring. */
  receive(deliver: (frame: Uint8Array, flags: number) => void, max?: number): number;
  /**
   * Publishes what was sent and given back since the last flush (wakes the other side).
   * `quiet`: nothing happened since the last flush: no frame came in, no timer ran, the work
   * callback did nothing and the loop did not give the event loop a turn. A wrapper may then
   * skip per-turn work that only follows changes (the TCB store's commit, persist.ts).
   */
  flush(quiet?: boolean): void;
  /** Whether received frames are waiting. */
  readonly pending: boolean;
  /**
   * Sleeps until a frame arrives or `timeoutUs` passes. Resolves `false` when it returned
   * without sleeping (work was found first): then no timer, signal or message ran meanwhile.
   */
  wait(timeoutUs: number): Promise<void | false>;
}

/** The engine as the loop sees it (servers/tcp/engine/stack.ts's Stack). */
export interface LoopEngine {
  /** `checksumsVerified`: the NIC verified the frame's checksums (F.rxCsumOk). */
  receive(ifIndex: number, frame: Uint8Array, checksumsVerified?: boolean): void;
  /** Runs the timers due at `now`; returns how many ran. */
  poll(now: number): number;
  nextDeadline(): number | undefined;
}

/** Loop tuning. */
export interface LoopOptions {
  /** How long to keep polling after the last work before sleeping (µs). */
  spinMicros: number;
  /**
   * Upper bound of the adaptive spin (µs, default {@link MAX_SPIN_US}): when traffic comes
   * back soon after the loop went to sleep, the next spin doubles (up to this), so that a
   * request/response flow is caught while polling instead of paying a wake-up per packet; a
   * sleep that lasts longer than this bound resets the spin to `spinMicros`. 0: no adaptation.
   */
  maxSpinMicros?: number;
  /**
   * Longest sleep (µs, default 10 s): bounds how late a stop request is noticed when nobody
   * wakes the link (the TCP/IP server's main.ts does). Every wake of an idle server costs CPU
   * (issue 9: idle under 1 % of a core for all servers; ~1 ms of CPU a wake on this VM when
   * the machine is quiet); frames, apps' calls and the service's own timers wake it.
   */
  maxSleepMicros?: number;
  /** Frames per receive batch. */
  batch?: number;
  /**
   * A short sleep on the JS thread until a frame arrives or `us` passes (the RX doorbell's
   * futex, no thread-pool hop): used instead of the full sleep while traffic was recent (within
   * `napWindowMicros`), in naps of at most `napMicros`. Returns false when a nap does not fit
   * now (apps are active: an app's request does not end a nap, only the full sleep's eventfd
   * does), and the loop sleeps as usual.
   */
  nap?: (us: number) => boolean;
  /** How long after the last work naps replace the full sleep (µs, default 2000). */
  napWindowMicros?: number;
  /** Longest nap (µs, default 200). */
  napMicros?: number;
  /**
   * Whether a spinning turn that found no work yields the CPU (sched_yield; default true,
   * JOYRIDE_TCP_SPIN_YIELD=0 turns it off). Measured on 2 loaded vCPUs (issue 9, sockperf
   * ping-pong p50 through the NIC server, together with the NIC server's own yield): 382–436 µs
   * without, 115–145 µs with.
   */
  spinYield?: boolean;
  /**
   * Called once when the loop has had no traffic for `quietMicros` (default 250 ms) after some:
   * where the server gives back memory a burst left behind ({@link heapTrimmer}).
   */
  onQuiet?: () => void;
  /** How long without traffic before `onQuiet` (µs, default 250 000). */
  quietMicros?: number;
}

/** What the loop counts. */
export interface LoopCounters {
  turns: number;
  busyTurns: number;
  sleeps: number;
  /** Short synchronous sleeps (LoopOptions.nap). */
  naps: number;
  frames: number;
  /** The spin budget now (µs; adaptive between spinMicros and maxSpinMicros). */
  spinUs: number;
}

/**
 * Default bound of the adaptive spin (µs). Measured on 2 vCPUs (issue 9, 1-byte echo round
 * trip p50 through the NIC server): spin 50 µs 195–232 µs, 300 µs 43–80 µs, 600 µs 127 µs,
 * 1000 µs 959 µs — a longer spin keeps both CPUs busy (the NIC server spins too) and the peer
 * waits for a time slice.
 */
export const MAX_SPIN_US = 300;

/**
 * Lets timers, signals and finished I/O run, then resumes. setImmediate, not setTimeout(0):
 * Deno's setTimeout(0) resumes only after ~1-4 ms (measured 2.8 ms on average here), a stall
 * with no ring polled every time a busy loop yields; setImmediate takes ~40 µs (issue 9).
 */
const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** The server loop. */
export class ServerLoop {
  readonly counters: LoopCounters = {
    turns: 0,
    busyTurns: 0,
    sleeps: 0,
    naps: 0,
    frames: 0,
    spinUs: 0,
  };
  #link: FrameLink;
  #engine: LoopEngine;
  #ifIndex: number;
  #ctx: EngineContext;
  #work: () => number;
  #opts: Required<Omit<LoopOptions, "nap" | "onQuiet">>;
  #nap?: (us: number) => boolean;
  #onQuiet?: () => void;
  #stop = false;
  #running?: Promise<void>;
  #nextLink?: { link: FrameLink; resolve: () => void };

  /**
   * `work` runs after every batch (the services and socket layer): it returns how much it did,
   * so that work it generates keeps the loop awake.
   */
  constructor(
    link: FrameLink,
    engine: LoopEngine,
    ifIndex: number,
    ctx: EngineContext,
    work: () => number,
    opts: LoopOptions,
  ) {
    this.#link = link;
    this.#engine = engine;
    this.#ifIndex = ifIndex;
    this.#ctx = ctx;
    this.#work = work;
    const { nap, onQuiet, ...rest } = opts;
    this.#onQuiet = onQuiet;
    this.#nap = Deno.env.get("JOYRIDE_TCP_NAP") === "0" ? undefined : nap;
    this.#opts = {
      maxSleepMicros: 10_000_000,
      batch: 64,
      maxSpinMicros: MAX_SPIN_US,
      napWindowMicros: 2000,
      napMicros: 200,
      spinYield: true,
      quietMicros: 250_000,
      ...rest,
    };
    const env = Number(Deno.env.get("JOYRIDE_TCP_MAX_SPIN_US"));
    if (opts.maxSpinMicros === undefined && Number.isInteger(env) && env >= 0) {
      this.#opts.maxSpinMicros = env;
    }
    this.counters.spinUs = this.#opts.spinMicros;
  }

  /**
   * Swaps the link (after the NIC server came back with a new region). Resolves once the loop
   * has stopped using the old one (it may be sleeping on it), so the caller can then close it.
   */
  setLink(link: FrameLink): Promise<void> {
    if (!this.#running || this.#stop) {
      this.#link = link;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#nextLink = { link, resolve });
  }

  /** Runs until `stop()`. */
  run(): Promise<void> {
    this.#running ??= this.#loop();
    return this.#running;
  }

  /** Asks the loop to end and waits for it (at most one sleep). */
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    const c = this.counters;
    // The NIC's "checksums good" flag spares the engine summing every received byte (issue 9).
    const deliver = (frame: Uint8Array, flags: number) =>
      this.#engine.receive(this.#ifIndex, frame, (flags & F.rxCsumOk) !== 0);
    let lastWork = this.#ctx.now();
    let lastYield = lastWork;
    const base = this.#opts.spinMicros;
    const spinYield = this.#opts.spinYield && Deno.env.get("JOYRIDE_TCP_SPIN_YIELD") !== "0";
    const cap = Math.max(base, this.#opts.maxSpinMicros);
    let spin = base;
    // Naps follow traffic only, not any wake-up (a timer's wake must not start a nap window).
    let lastBusy = -Infinity;
    // onQuiet runs once per quiet spell, a quarter second after the traffic (the first sleep
    // after it is cut short for that), not whenever a long sleep happens to end.
    let quietDue = false;
    // No other JS ran since the last flush (timers, messages, signals run only while the loop
    // awaits): with nothing received, fired or done, the turn changed nothing.
    let settled = false;
    while (!this.#stop) {
      if (this.#nextLink) {
        this.#link = this.#nextLink.link;
        this.#nextLink.resolve();
        this.#nextLink = undefined;
      }
      c.turns++;
      const n = this.#link.receive(deliver, this.#opts.batch);
      c.frames += n;
      const now = this.#ctx.now();
      const fired = this.#engine.poll(now);
      const w = this.#work();
      this.#link.flush(settled && n === 0 && w === 0 && fired === 0);
      settled = true;
      if (n > 0 || w > 0) {
        c.busyTurns++;
        lastWork = lastBusy = now;
        quietDue = this.#onQuiet !== undefined;
      }
      if (now - lastWork < spin || this.#link.pending) {
        // Busy or just was: poll again, letting signals, heartbeats and I/O in every 2 ms.
        // An empty turn gives the CPU to whoever waits for it (issue 9): on 2 vCPUs the app,
        // the NIC server and the peer need it for the very reply this spin waits for.
        if (spinYield && n === 0 && w === 0) libc.schedYield();
        if (now - lastYield > 2000) {
          await yieldToEventLoop();
          settled = false;
          lastYield = this.#ctx.now();
        }
        continue;
      }
      const deadline = this.#engine.nextDeadline();
      const max = this.#opts.maxSleepMicros;
      let timeout = deadline === undefined ? max : Math.min(max, deadline - now);
      if (quietDue) {
        timeout = Math.min(timeout, Math.max(1, lastBusy + this.#opts.quietMicros - now));
      }
      if (timeout <= 0) continue;
      if (
        this.#nap && now - lastBusy < this.#opts.napWindowMicros &&
        this.#nap(Math.min(timeout, this.#opts.napMicros))
      ) {
        c.naps++;
        if (this.#ctx.now() - lastYield > 2000) {
          await yieldToEventLoop();
          settled = false;
          lastYield = this.#ctx.now();
        }
        continue;
      }
      c.sleeps++;
      const slept = await this.#link.wait(timeout);
      settled = false;
      const woke = this.#ctx.now();
      // Adaptive spin: traffic back within the bound → spin longer next time; else reset.
      const pending = this.#link.pending;
      spin = pending && woke - now <= cap ? Math.min(cap, Math.max(spin * 2, base, 1)) : base;
      c.spinUs = spin;
      // A wait that returned without sleeping ran no timer, heartbeat or message: it does not
      // count as the event loop's turn (the spin after it gives one every 2 ms). Counted, a
      // server whose waits kept returning at once never let its heartbeat out, and the
      // supervisor killed it. A wait that slept did give the turn: a yield after it cost the
      // next packet ~40 µs (sockperf p99 205-220 µs counting every sleep, 175-438 counting
      // only those of 50 µs or more, 3 interleaved runs each).
      lastWork = woke;
      if (slept !== false) lastYield = woke;
      if (quietDue && !pending && woke - lastBusy >= this.#opts.quietMicros) {
        quietDue = false;
        this.#onQuiet!();
      }
    }
    this.#nextLink?.resolve();
  }
}

/** What {@link heapTrimmer} counts. */
export interface TrimCounters {
  /** Full collections run while quiet. */
  gcs: number;
  /** Time spent in them (µs). */
  gcMicros: number;
  /** Heap in use after the last one (bytes). */
  heapAfter: number;
}

/**
 * A LoopOptions.onQuiet that runs a full garbage collection when the heap grew since the last
 * one by `growBytes` (default 16 MB: a burst's old garbage, not an idle server's heartbeats) or a
 * quarter of the live heap, whichever is more; at most once per `minGapMs` (default 2000) or
 * 100 × the last one's duration (≤ 1 % of a core). V8 collects old garbage only under allocation
 * pressure, so what a burst left (10,000 handshakes: ~40 kB each, of which ~5 kB live) stays
 * resident in an idle server: issue 9's memory per connection. The collection (tens of ms) runs
 * only after a quarter second without traffic. Needs no command-line flag: --expose-gc is set at
 * run time and `gc` taken from a fresh context.
 * JOYRIDE_TCP_IDLE_GC=0 turns it off (returns undefined).
 */
export function heapTrimmer(
  counters: TrimCounters,
  growBytes = 16 << 20,
  minGapMs = 2000,
): (() => void) | undefined {
  if (Deno.env.get("JOYRIDE_TCP_IDLE_GC") === "0") return undefined;
  let gc: (() => void) | undefined;
  try {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
  if (typeof gc !== "function") return undefined;
  let last = -Infinity, gap = minGapMs;
  counters.heapAfter = Deno.memoryUsage().heapUsed;
  return () => {
    const t = performance.now();
    if (t - last < gap) return;
    // Growth worth a collection: `growBytes`, or a quarter of what lives, whichever is more.
    const grown = Deno.memoryUsage().heapUsed - counters.heapAfter;
    if (grown < Math.max(growBytes, counters.heapAfter / 4)) return;
    gc!();
    last = performance.now();
    // At most 1 % of a core: a 100 ms collection (10,000 connections) waits 10 s for the next.
    gap = Math.max(minGapMs, 100 * (last - t));
    counters.gcs++;
    counters.gcMicros += Math.round((last - t) * 1000);
    counters.heapAfter = Deno.memoryUsage().heapUsed;
  };
}

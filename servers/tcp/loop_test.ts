import { assert, assertEquals } from "../supervisor/_assert.ts";
import { FakeContext } from "./engine/context.ts";
import {
  type FrameLink,
  heapTrimmer,
  type LoopEngine,
  type LoopOptions,
  ServerLoop,
} from "./loop.ts";

/** A link fed by the test; wait() advances the fake clock by the timeout (or to the next frame). */
class FakeLink implements FrameLink {
  queue: { at: number; frame: Uint8Array }[] = [];
  flushes = 0;
  waits: number[] = [];
  constructor(readonly ctx: FakeContext, readonly onIdle: () => void) {}
  receive(deliver: (f: Uint8Array, flags: number) => void, max = 64): number {
    let n = 0;
    while (n < max && this.queue.length > 0 && this.queue[0].at <= this.ctx.now()) {
      deliver(this.queue.shift()!.frame, 0);
      this.log.push("rx");
      n++;
    }
    return n;
  }
  /** What happened, in order: "rx", "timer", "work", "wait", and "flush" or "quiet flush". */
  log: string[] = [];
  flush(quiet?: boolean): void {
    this.flushes++;
    this.log.push(quiet ? "quiet flush" : "flush");
  }
  get pending(): boolean {
    return this.queue.length > 0 && this.queue[0].at <= this.ctx.now();
  }
  wait(timeoutUs: number): Promise<void | false> {
    this.waits.push(timeoutUs);
    this.log.push("wait");
    const next = this.queue[0]?.at;
    const until = next !== undefined
      ? Math.min(next, this.ctx.now() + timeoutUs)
      : this.ctx.now() + timeoutUs;
    this.ctx.set(Math.max(this.ctx.now(), until));
    this.onIdle();
    return Promise.resolve();
  }
}

Deno.test("loop: frames reach the engine, timers fire on time, idle sleeps until the deadline", async () => {
  const ctx = new FakeContext(1, 1_000_000);
  const got: number[] = [];
  const fired: number[] = [];
  let deadline: number | undefined = 1_300_000;
  const engine: LoopEngine = {
    receive: (_i, f) => got.push(f[0]),
    poll: (now) => {
      if (deadline === undefined || now < deadline) return 0;
      fired.push(now);
      deadline = undefined;
      return 1;
    },
    nextDeadline: () => deadline,
  };
  const holder: { loop?: ServerLoop } = {};
  const link = new FakeLink(ctx, () => {
    if (ctx.now() >= 4_000_000) holder.loop!.stop();
  });
  link.queue.push({ at: 1_000_000, frame: Uint8Array.of(1) }, {
    at: 1_100_000,
    frame: Uint8Array.of(2),
  });
  const loop = new ServerLoop(link, engine, 1, ctx, () => 0, { spinMicros: 0 });
  holder.loop = loop;
  await loop.run();
  assertEquals(got, [1, 2]);
  assertEquals(fired, [1_300_000]);
  // It slept until the second frame, then until the timer, then the maximum sleep.
  assert(link.waits.includes(10_000_000), `waits: ${link.waits}`);
  assert(loop.counters.sleeps >= 3 && loop.counters.sleeps <= 6, `sleeps ${loop.counters.sleeps}`);
  assert(link.flushes >= loop.counters.turns);
});

/** An engine with no timers whose every poll moves the fake clock `stepUs` (a loop turn). */
function tickingEngine(ctx: FakeContext, stepUs: number): LoopEngine {
  return {
    receive: () => {},
    poll: () => {
      ctx.set(ctx.now() + stepUs);
      return 0;
    },
    nextDeadline: () => undefined,
  };
}

/**
 * `count` frames every `gapUs` from 1 s on, the clock moving 5 µs per loop turn, the loop
 * stopped once the clock reaches `stopAtUs`; `opts` is built with the clock and the link.
 */
async function runFlow(
  flow: { gapUs: number; count: number; stopAtUs: number },
  opts: (ctx: FakeContext, link: FakeLink) => LoopOptions,
): Promise<{ loop: ServerLoop; link: FakeLink }> {
  const ctx = new FakeContext(1, 1_000_000);
  const engine = tickingEngine(ctx, 5);
  const holder: { loop?: ServerLoop } = {};
  const link = new FakeLink(ctx, () => {
    if (ctx.now() >= flow.stopAtUs) holder.loop!.stop();
  });
  for (let i = 0; i < flow.count; i++) {
    link.queue.push({ at: 1_000_000 + flow.gapUs * i, frame: Uint8Array.of(i) });
  }
  const loop = new ServerLoop(link, engine, 1, ctx, () => 0, opts(ctx, link));
  holder.loop = loop;
  await loop.run();
  return { loop, link };
}

/** Frames every `gapUs` (50 of them), the clock moving 5 µs per loop turn; returns the loop. */
async function steadyFlow(gapUs: number, opts: { spinMicros: number; maxSpinMicros?: number }) {
  const { loop } = await runFlow({ gapUs, count: 50, stopAtUs: 2_000_000 }, () => opts);
  assertEquals(loop.counters.frames, 50);
  return loop;
}

Deno.test("loop: adaptive spin catches a steady flow without sleeping per frame, decays when idle", async () => {
  const adaptive = await steadyFlow(200, { spinMicros: 10, maxSpinMicros: 300 });
  const fixed = await steadyFlow(200, { spinMicros: 10, maxSpinMicros: 0 });
  // Fixed 10 µs spin: a sleep before every frame. Adaptive: the spin doubles past the gap.
  assert(fixed.counters.sleeps >= 49, `fixed spin sleeps ${fixed.counters.sleeps}`);
  assert(adaptive.counters.sleeps <= 10, `adaptive spin sleeps ${adaptive.counters.sleeps}`);
  // After the flow, a long sleep resets the spin to its base.
  assertEquals(adaptive.counters.spinUs, 10);
  // A gap longer than the bound never grows the spin.
  const sparse = await steadyFlow(1000, { spinMicros: 10, maxSpinMicros: 300 });
  assert(sparse.counters.sleeps >= 49, `sparse flow sleeps ${sparse.counters.sleeps}`);
});

Deno.test("loop: a flush is quiet exactly when nothing came in, fired, worked or ran since the last", async () => {
  const ctx = new FakeContext(1, 1_000_000);
  const holder: { loop?: ServerLoop; link?: FakeLink } = {};
  let deadline: number | undefined = 1_000_300;
  const engine: LoopEngine = {
    receive: () => {},
    poll: (now) => {
      ctx.set(now + 5);
      if (deadline === undefined || now < deadline) return 0;
      holder.link!.log.push("timer");
      deadline = undefined;
      return 1;
    },
    nextDeadline: () => deadline,
  };
  const link = new FakeLink(ctx, () => {
    if (ctx.now() >= 1_100_000) holder.loop!.stop();
  });
  holder.link = link;
  for (const at of [1_000_000, 1_000_100, 1_000_700]) {
    link.queue.push({ at, frame: Uint8Array.of(1) });
  }
  // The work callback does something on one turn in ten, five times.
  let turn = 0;
  const work = () => {
    if (++turn % 10 !== 0 || turn > 50) return 0;
    link.log.push("work");
    return 1;
  };
  const loop = new ServerLoop(link, engine, 1, ctx, work, { spinMicros: 200, maxSpinMicros: 0 });
  holder.loop = loop;
  await loop.run();
  let since: string[] = ["start"];
  let quiet = 0, loud = 0;
  for (const e of link.log) {
    if (!e.endsWith("flush")) {
      since.push(e);
      continue;
    }
    assertEquals(e === "quiet flush", since.length === 0, `${e} after ${since}`);
    if (e === "quiet flush") quiet++;
    else loud++;
    since = [];
  }
  // Frames, the timer, the work and the wake-ups each made a loud flush; the spin's empty turns
  // were quiet.
  assert(loud >= 3 + 1 + 5 && quiet > loud, `loud ${loud}, quiet ${quiet}`);
});

Deno.test("loop: naps (synchronous, short) replace sleeps while traffic is recent, then it sleeps", async () => {
  const naps: number[] = [];
  const { loop, link } = await runFlow(
    { gapUs: 500, count: 20, stopAtUs: 3_000_000 },
    (ctx, link) => ({
      spinMicros: 10,
      maxSpinMicros: 0,
      nap: (us) => {
        naps.push(us);
        const next = link.queue[0]?.at;
        ctx.set(next !== undefined ? Math.min(next, ctx.now() + us) : ctx.now() + us);
        return true;
      },
    }),
  );
  assertEquals(loop.counters.frames, 20);
  // Frames every 500 µs: each gap is bridged by naps of ≤ 200 µs, never by a full sleep.
  assert(naps.every((us) => us > 0 && us <= 200), `naps ${naps}`);
  assert(loop.counters.naps >= 19 * 2, `naps ${loop.counters.naps}`);
  // After the flow: naps for the 2 ms window (≤ ~10), then full sleeps until stopped.
  assert(loop.counters.naps <= 200, `naps ${loop.counters.naps}`);
  assert(link.waits.length >= 1 && link.waits.length <= 6, `sleeps ${link.waits}`);
});

Deno.test("loop: a nap that declines (apps active) leaves the full sleep", async () => {
  let asked = 0;
  const { loop, link } = await runFlow({ gapUs: 500, count: 10, stopAtUs: 2_000_000 }, () => ({
    spinMicros: 10,
    maxSpinMicros: 0,
    nap: () => (asked++, false),
  }));
  assertEquals(loop.counters.frames, 10);
  assert(asked >= 9, `nap asked ${asked} times`);
  assertEquals(loop.counters.naps, 0);
  assert(link.waits.length >= 10, `sleeps ${link.waits.length}`);
});

Deno.test("loop: onQuiet runs once, quietMicros after the traffic stopped, not during it", async () => {
  // Traffic every 100 ms for a second: no quarter second without it.
  const quiet: number[] = [];
  await runFlow({ gapUs: 100_000, count: 10, stopAtUs: 4_000_000 }, (ctx) => ({
    spinMicros: 10,
    onQuiet: () => quiet.push(ctx.now()),
  }));
  // Once, a quarter second after the last frame (1.9 s): the sleep after it is cut short for
  // that, not left to run its 2 s; never while frames came.
  assertEquals(quiet.length, 1, `onQuiet at ${quiet}`);
  assert(quiet[0] >= 2_150_000 && quiet[0] < 2_200_000, `onQuiet at ${quiet}`);
});

Deno.test("heapTrimmer: a full collection once the heap grew, then not again within the gap", () => {
  const c = { gcs: 0, gcMicros: 0, heapAfter: 0 };
  const trim = heapTrimmer(c, 1 << 20, 60_000);
  assert(trim !== undefined, "no gc function");
  trim!();
  assertEquals(c.gcs, 0); // no growth yet
  let junk: unknown[] = [];
  const enough = Math.max(1 << 20, c.heapAfter / 4) + (1 << 20);
  for (let i = 0; i < 1000 && Deno.memoryUsage().heapUsed - c.heapAfter < enough; i++) {
    for (let j = 0; j < 1000; j++) junk.push({ i, j });
  }
  junk = [];
  trim!();
  assertEquals(c.gcs, 1);
  for (let j = 0; j < 200_000; j++) junk.push({ j });
  junk = [];
  trim!();
  assertEquals(c.gcs, 1); // within minGapMs
});

Deno.test("loop: waits that return without sleeping still let timers and messages run", async () => {
  // The socket service's wait returns at once when it sees work (an app's call, room for
  // data): the loop must still give the event loop its turn, or no heartbeat ever leaves and
  // the supervisor kills the server (a listener with a queued connection did that).
  const ctx = new FakeContext(1, 1_000_000);
  const engine = tickingEngine(ctx, 10);
  const holder: { loop?: ServerLoop } = {};
  const link = new FakeLink(ctx, () => {});
  link.wait = () => {
    if (ctx.now() >= 60_000_000) holder.loop!.stop(); // a minute of turns: give up
    return Promise.resolve(false as const);
  };
  const loop = new ServerLoop(link, engine, 1, ctx, () => 0, { spinMicros: 50 });
  holder.loop = loop;
  let fired = false;
  setTimeout(() => {
    fired = true;
    loop.stop();
  }, 0);
  await loop.run();
  assert(fired, "a timer never ran");
  assert(ctx.now() < 2_000_000, `the timer waited ${ctx.now() - 1_000_000} µs of turns`);
});

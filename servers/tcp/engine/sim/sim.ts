/**
 * A deterministic network simulator: Stacks joined by impaired links ({@link LinkDirection}),
 * driven by one fake clock that jumps to the next event — the earliest link delivery or the
 * earliest `Stack.nextDeadline()`. Everything random comes from one seed, so a failure
 * replays by seed. `step()` runs one event; `runUntil`/`runUntilIdle` run many, with a step
 * limit (exceeding it throws, naming the seed).
 *
 * After every event the `afterEvent` hooks run: applications ({@link ./transfer.ts}) and
 * invariant checks ({@link ./invariants.ts}).
 *
 * @example
 * ```ts
 * const sim = new Sim(42);
 * const a = sim.addNode("a"), b = sim.addNode("b");
 * sim.link(a, b, cleanLink({ loss: 0.1 }));
 * // … open sockets on a.sockets / b.sockets …
 * sim.runUntilIdle();
 * ```
 *
 * @module
 */
import type { EngineContext } from "../context.ts";
import { type LinkCaps, type LinkEndpoint, Stack } from "../stack.ts";
import { Sockets } from "../socket/sockets.ts";
import { Tcp } from "../tcp/tcp.ts";
import { cleanLink, LinkDirection, type LinkParams } from "./link.ts";
import { Rng } from "./rng.ts";

/** The shared clock. */
export class SimClock {
  now = 0;
}

/** A node's EngineContext: the shared clock and its own seeded randomness. */
export class SimContext implements EngineContext {
  readonly clock: SimClock;
  readonly rng: Rng;
  constructor(clock: SimClock, rng: Rng) {
    this.clock = clock;
    this.rng = rng;
  }
  now(): number {
    return this.clock.now;
  }
  random32(): number {
    return this.rng.u32();
  }
}

/** One simulated host. */
export interface SimNode {
  readonly name: string;
  readonly index: number;
  readonly ctx: SimContext;
  readonly stack: Stack;
  readonly sockets: Sockets;
  readonly tcp: Tcp;
  /** Addresses (without prefix) in the order they were added. */
  readonly addrs: string[];
}

/** A link between two nodes. */
export interface SimLink {
  readonly a: SimNode;
  readonly b: SimNode;
  readonly ab: LinkDirection;
  readonly ba: LinkDirection;
}

interface Ev {
  at: number;
  seq: number;
  fn: () => void;
}

/** Thrown when a run exceeds its step limit. */
export class SimStepLimit extends Error {}

/** The simulator. */
export class Sim {
  readonly seed: number;
  readonly rng: Rng;
  readonly clock = new SimClock();
  readonly nodes: SimNode[] = [];
  readonly links: SimLink[] = [];
  /** Run after every event (apps, invariant checks). */
  readonly afterEvent: Array<() => void> = [];
  /** Events run so far. */
  steps = 0;
  /** Most link events pending at once (a bound check for "no unbounded growth"). */
  maxPending = 0;
  #heap: Ev[] = [];
  #seq = 0;

  /**
   * Overwrite every frame after the receiving stack returns (default), as a NIC reusing its
   * buffer would: a transport that kept a view of it instead of a copy reads garbage. The
   * engine bench turns it off (it only costs time there).
   */
  scribbleRx = true;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.rng = new Rng(this.seed);
  }

  /** Current simulated time (µs). */
  get now(): number {
    return this.clock.now;
  }

  /** Link events pending. */
  get pending(): number {
    return this.#heap.length;
  }

  /** Adds a host with a stack, a TCP instance and a socket table; `sysctls` are applied. */
  addNode(name: string, sysctls: Record<string, number | string> = {}): SimNode {
    const ctx = new SimContext(this.clock, this.rng.fork());
    // copyRx false, and every frame is scribbled over once received (below): anything that
    // keeps a view of a received frame instead of a copy corrupts the byte stream.
    const stack = new Stack(ctx, { copyRx: false });
    const sockets = new Sockets(stack);
    for (const [k, v] of Object.entries(sysctls)) stack.sysctl.set(k, v);
    const node: SimNode = {
      name,
      index: this.nodes.length,
      ctx,
      stack,
      sockets,
      tcp: sockets.tcp,
      addrs: [],
    };
    this.nodes.push(node);
    return node;
  }

  /**
   * Joins `a` and `b` with a link (`ab` for frames a→b, `ba` for the way back, default the
   * same). Link k gets 198.18.k.1/24 + fd00:198:18::k:1/112 on `a` and .2 on `b` unless
   * addresses are given.
   */
  link(
    a: SimNode,
    b: SimNode,
    ab: LinkParams = cleanLink(),
    ba: LinkParams = { ...ab },
    opts: { mtu?: number; aAddrs?: string[]; bAddrs?: string[]; caps?: LinkCaps } = {},
  ): SimLink {
    const k = this.links.length;
    const mtu = opts.mtu ?? 1500;
    const l: SimLink = {
      a,
      b,
      ab: new LinkDirection(ab, this.rng.fork()),
      ba: new LinkDirection(ba, this.rng.fork()),
    };
    l.ab.mtu = mtu;
    l.ba.mtu = mtu;
    let bIf = 0, aIf = 0;
    const endpoint = (dir: LinkDirection, to: () => [SimNode, number]): LinkEndpoint => ({
      kind: "ip",
      mtu,
      caps: opts.caps ?? { txChecksum: false, rxChecksum: false, tso: false },
      transmit: (frame) => {
        for (const { at, frame: f } of dir.plan(frame, this.clock.now)) {
          dir.inFlight++;
          this.#push(at, () => {
            dir.inFlight--;
            dir.counters.delivered++;
            const [node, ifIndex] = to();
            node.stack.receive(ifIndex, f);
            if (this.scribbleRx) f.fill(0xa5); // a NIC reuses its buffer once the stack returns
          });
        }
      },
    });
    const aAddrs = opts.aAddrs ?? [`198.18.${k}.1/24`, `fd00:198:18::${k}:1/112`];
    const bAddrs = opts.bAddrs ?? [`198.18.${k}.2/24`, `fd00:198:18::${k}:2/112`];
    aIf = a.stack.addInterface(endpoint(l.ab, () => [b, bIf]), { addrs: aAddrs });
    bIf = b.stack.addInterface(endpoint(l.ba, () => [a, aIf]), { addrs: bAddrs });
    a.addrs.push(...aAddrs.map((s) => s.split("/")[0]));
    b.addrs.push(...bAddrs.map((s) => s.split("/")[0]));
    this.links.push(l);
    return l;
  }

  #push(at: number, fn: () => void): void {
    const h = this.#heap;
    const ev: Ev = { at: Math.max(at, this.clock.now), seq: this.#seq++, fn };
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], ev)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = ev;
    if (h.length > this.maxPending) this.maxPending = h.length;
  }

  #pop(): Ev | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        const cand = (j: number) => (j < h.length && less(h[j], m === i ? last : h[m]));
        if (cand(l)) m = l;
        if (cand(r)) m = r;
        if (m === i) break;
        h[i] = h[m];
        i = m;
      }
      h[i] = last;
    }
    return top;
  }

  /** Schedules an arbitrary action at time `at` (tests, applications). */
  at(at: number, fn: () => void): void {
    this.#push(at, fn);
  }

  /** The time of the next event, or undefined when nothing is pending anywhere. */
  nextEventTime(): number | undefined {
    let t = this.#heap.length ? this.#heap[0].at : Infinity;
    for (const n of this.nodes) {
      const d = n.stack.nextDeadline();
      if (d !== undefined && d < t) t = d;
    }
    return t === Infinity ? undefined : t;
  }

  /** Runs the next event (a delivery or a node's due timers); false when idle. */
  step(): boolean {
    const tLink = this.#heap.length ? this.#heap[0].at : Infinity;
    let tNode = Infinity;
    let node: SimNode | undefined;
    for (const n of this.nodes) {
      const d = n.stack.nextDeadline();
      if (d !== undefined && d < tNode) {
        tNode = d;
        node = n;
      }
    }
    if (tLink === Infinity && node === undefined) return false;
    if (tLink <= tNode) {
      const ev = this.#pop()!;
      if (ev.at > this.clock.now) this.clock.now = ev.at;
      ev.fn();
    } else {
      if (tNode > this.clock.now) this.clock.now = tNode;
      node!.stack.poll(this.clock.now);
    }
    this.steps++;
    for (const h of this.afterEvent) h();
    return true;
  }

  /** Steps until `pred()` holds (true) or nothing is pending (false). */
  runUntil(pred: () => boolean, maxSteps = 1_000_000): boolean {
    for (let i = 0; i < maxSteps; i++) {
      if (pred()) return true;
      if (!this.step()) return pred();
    }
    throw new SimStepLimit(
      `Simulation seed ${this.seed} did not finish within ${maxSteps} steps (t = ${this.now} us)`,
    );
  }

  /** Steps until nothing is pending. */
  runUntilIdle(maxSteps = 1_000_000): void {
    this.runUntil(() => false, maxSteps);
  }

  /** Steps until simulated time `t` (events at exactly `t` included). */
  runTo(t: number, maxSteps = 1_000_000): void {
    this.runUntil(() => {
      const n = this.nextEventTime();
      return n === undefined || n > t;
    }, maxSteps);
    if (this.clock.now < t) this.clock.now = t;
  }
}

function less(x: Ev, y: Ev): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

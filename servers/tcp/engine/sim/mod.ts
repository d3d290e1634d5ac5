/**
 * The deterministic network simulator for the engine (issue 3): {@link Sim} joins Stacks with
 * impaired links ({@link LinkParams}: loss, duplication, reordering, delay, corruption, rate
 * limit with tail drop, ECN marking, hostile header rewriting) and drives them with one fake
 * clock; {@link Transfer} is a bulk-transfer application; {@link installInvariants} checks the
 * TCP invariants after every event. Runs replay by seed.
 *
 * @example
 * ```ts
 * const sim = new Sim(7);
 * const a = sim.addNode("a"), b = sim.addNode("b");
 * sim.link(a, b, cleanLink({ loss: 0.1, reorder: 0.1, reorderUs: 5000 }));
 * installInvariants(sim);
 * const t = new Transfer(sim, a, b, { bytes: 100_000 });
 * t.start();
 * sim.runUntil(() => t.done);
 * t.complete; // true
 * ```
 *
 * @module
 */
export { Sim, SimClock, SimContext, type SimLink, type SimNode, SimStepLimit } from "./sim.ts";
export { cleanLink, type LinkCounters, LinkDirection, type LinkParams, markCe } from "./link.ts";
export { Transfer, type TransferOptions } from "./transfer.ts";
export { type Bounds, defaultBounds, installInvariants, InvariantError } from "./invariants.ts";
export { mutateTcp } from "./mutate.ts";
export { Rng } from "./rng.ts";

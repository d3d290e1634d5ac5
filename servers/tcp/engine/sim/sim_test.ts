import assert from "node:assert/strict";
import { Sim } from "./sim.ts";
import { cleanLink, LinkDirection } from "./link.ts";
import { Rng } from "./rng.ts";
import { Transfer } from "./transfer.ts";
import { installInvariants } from "./invariants.ts";

Deno.test("sim link: loss, duplication, reordering and corruption happen at their rates", () => {
  const d = new LinkDirection(
    cleanLink({ loss: 0.2, duplicate: 0.1, reorder: 0.3, reorderUs: 5000, corrupt: 0.1 }),
    new Rng(7),
  );
  const frame = new Uint8Array(100);
  let copies = 0, late = 0, flipped = 0;
  for (let i = 0; i < 10000; i++) {
    for (const p of d.plan(frame, 0)) {
      copies++;
      if (p.at > 1010) late++;
      if (p.frame.some((b) => b !== 0)) flipped++;
    }
  }
  const c = d.counters;
  assert.ok(Math.abs(c.lost / 10000 - 0.2) < 0.02, `lost ${c.lost}`);
  assert.ok(Math.abs(c.duplicated / 8000 - 0.1) < 0.02, `dup ${c.duplicated}`);
  assert.equal(copies, 10000 - c.lost + c.duplicated);
  assert.ok(late <= c.reordered && late >= c.reordered * 0.99, `late ${late}`);
  assert.equal(flipped, c.corrupted);
  assert.equal(frame[0], 0); // the sender's frame is never modified
});

Deno.test("sim link: the rate limit serializes frames and tail-drops beyond the queue", () => {
  const d = new LinkDirection(
    cleanLink({ rateBps: 8_000_000, queueUs: 5000, delayUs: 0 }),
    new Rng(1),
  );
  const f = new Uint8Array(1000); // 1 ms at 8 Mbit/s
  const times: number[] = [];
  for (let i = 0; i < 10; i++) for (const p of d.plan(f, 0)) times.push(p.at);
  assert.deepEqual(times, [1000, 2000, 3000, 4000, 5000, 6000]);
  assert.equal(d.counters.queueDrops, 4);
});

Deno.test("sim: the clock jumps to the next event and runs are replayable by seed", () => {
  const run = (seed: number) => {
    const sim = new Sim(seed);
    const a = sim.addNode("a"), b = sim.addNode("b");
    sim.link(a, b, cleanLink({ delayUs: 5000, loss: 0.1, reorder: 0.1, reorderUs: 3000 }));
    const t = new Transfer(sim, a, b, { bytes: 30000 });
    t.start();
    const times: number[] = [];
    sim.afterEvent.push(() => times.push(sim.now));
    sim.runUntilIdle(100_000);
    assert.ok(t.complete && t.done, t.errors.join());
    for (let i = 1; i < times.length; i++) assert.ok(times[i] >= times[i - 1]);
    return { times, steps: sim.steps };
  };
  const x = run(11), y = run(11), z = run(12);
  assert.deepEqual(x, y);
  assert.notDeepEqual(x.times, z.times);
});

Deno.test("sim: a clean transfer over IPv4 and IPv6 ends with no state left anywhere", () => {
  for (const version of [4, 6] as const) {
    const sim = new Sim(3);
    const a = sim.addNode("a"), b = sim.addNode("b");
    sim.link(a, b, cleanLink({ delayUs: 2000 }));
    const inv = installInvariants(sim);
    const t = new Transfer(sim, a, b, { bytes: 200_000, version });
    t.start();
    sim.runUntilIdle(100_000);
    assert.ok(t.complete && t.done && t.prefixOk(), `v${version}: ${t.errors.join()}`);
    assert.equal(a.tcp.conns.size + b.tcp.conns.size, 0);
    assert.equal(a.stack.timers.size + b.stack.timers.size, 0);
    assert.ok(inv.checks === sim.steps);
  }
});

Deno.test("sim: step limit names the seed", () => {
  const sim = new Sim(99);
  const a = sim.addNode("a"), b = sim.addNode("b");
  sim.link(a, b);
  new Transfer(sim, a, b, { bytes: 100_000 }).start();
  assert.throws(() => sim.runUntilIdle(5), /seed 99 did not finish within 5 steps/);
});

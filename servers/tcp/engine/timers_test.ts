import assert from "node:assert/strict";
import fc from "fast-check";
import { Timers } from "./timers.ts";

Deno.test("Timers: run fires due timers in time order, ties in scheduling order", () => {
  const t = new Timers();
  const log: string[] = [];
  t.schedule(30, () => log.push("c"));
  t.schedule(10, () => log.push("a1"));
  t.schedule(10, () => log.push("a2"));
  t.schedule(20, () => log.push("b"));
  assert.equal(t.next(), 10);
  t.run(9);
  assert.deepEqual(log, []);
  t.run(20);
  assert.deepEqual(log, ["a1", "a2", "b"]);
  assert.equal(t.next(), 30);
  assert.equal(t.size, 1);
});

Deno.test("Timers: cancel removes a pending timer; unknown ids are ignored", () => {
  const t = new Timers();
  let fired = 0;
  const id = t.schedule(5, () => fired++);
  t.cancel(id);
  t.cancel(id);
  t.cancel(0);
  t.cancel(12345);
  assert.equal(t.pending(id), false);
  t.run(100);
  assert.equal(fired, 0);
  assert.equal(t.next(), undefined);
});

Deno.test("Timers: a callback scheduling a due timer runs it in the same run", () => {
  const t = new Timers();
  const log: number[] = [];
  t.schedule(1, () => {
    log.push(1);
    t.schedule(2, () => log.push(2));
    t.schedule(50, () => log.push(50));
  });
  t.run(10);
  assert.deepEqual(log, [1, 2]);
  assert.equal(t.next(), 50);
});

Deno.test("Timers: random schedule/cancel matches a sorted reference", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.boolean()), { maxLength: 200 }),
      (ops) => {
        const t = new Timers();
        const fired: number[] = [];
        const expected: [number, number][] = [];
        const ids: number[] = [];
        ops.forEach(([at, cancel], i) => {
          const id = t.schedule(at, () => fired.push(i));
          ids.push(id);
          if (cancel) t.cancel(id);
          else expected.push([at, i]);
        });
        // Move every third live timer to a new time (it then sorts after earlier arrivals).
        let seq = ops.length;
        for (const e of expected) {
          if (e[1] % 3 === 0) {
            e[0] = (e[0] * 7919) % 1001;
            assert.ok(t.reschedule(ids[e[1]], e[0]));
            (e as number[]).push(seq++);
          }
        }
        assert.equal(t.reschedule(-1, 5), false);
        t.run(1000);
        const order = (e: number[]) => e.length > 2 ? e[2] : e[1];
        expected.sort((a, b) => a[0] - b[0] || order(a) - order(b));
        assert.deepEqual(fired, expected.map((e) => e[1]));
      },
    ),
    { seed: 7, numRuns: 200 },
  );
});

import assert from "node:assert/strict";
import { CountingByteQueue } from "./counting_queue.ts";

Deno.test("counting queue: bytes passed by to the reader count as pushed and dropped", () => {
  const q = new CountingByteQueue(100);
  assert.ok(q.bypassable());
  q.passed(10);
  assert.deepEqual([q.headAbs, q.tailAbs, q.length], [110, 110, 0]);
  q.push(new Uint8Array([1, 2, 3]));
  assert.ok(!q.bypassable(), "bytes held: the next ones queue behind them");
  assert.throws(() => q.passed(1));
  q.drop(3);
  assert.ok(q.bypassable());
});

Deno.test("counting queue: bytes a restarted server must skip never pass by", () => {
  const q = new CountingByteQueue(0);
  // The reader already has up to 5: those are skipped when they come again.
  assert.equal(q.consumedTo(5), 5);
  assert.ok(!q.bypassable(), "skipped bytes go through push, which drops them");
  assert.throws(() => q.passed(1));
  q.push(new Uint8Array([0, 1, 2, 3, 4, 5, 6]));
  assert.deepEqual([...q.view(0, q.length)], [5, 6]);
  q.drop(2);
  assert.ok(q.bypassable());
  q.passed(4);
  assert.equal(q.headAbs, 11);
});

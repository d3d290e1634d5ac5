import assert from "node:assert/strict";
import { FakeContext } from "./context.ts";
import { ECONNREFUSED, EINPROGRESS, errnoFromName, errnoName } from "./errno.ts";

Deno.test("FakeContext: clock moves only forward, PRNG is seeded and 32-bit", () => {
  const a = new FakeContext(42), b = new FakeContext(42), c = new FakeContext(43);
  const sa = [a.random32(), a.random32(), a.random32()];
  assert.deepEqual(sa, [b.random32(), b.random32(), b.random32()]);
  assert.notDeepEqual(sa, [c.random32(), c.random32(), c.random32()]);
  for (let i = 0; i < 1000; i++) {
    const r = a.random32();
    assert.ok(Number.isInteger(r) && r >= 0 && r <= 0xffffffff);
  }
  a.advance(1500);
  assert.equal(a.now(), 1500);
  assert.throws(() => a.set(10));
});

Deno.test("errno: Linux numbers and names", () => {
  assert.equal(ECONNREFUSED, 111);
  assert.equal(EINPROGRESS, 115);
  assert.equal(errnoName(11), "EAGAIN");
  assert.equal(errnoFromName("EWOULDBLOCK"), 11);
  assert.equal(errnoFromName("ETIMEDOUT"), 110);
  assert.equal(errnoFromName("ENOPE"), undefined);
});

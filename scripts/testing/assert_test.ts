import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";

Deno.test("assertEquals: deep plain data and bigints pass; any difference throws", () => {
  assertEquals({ a: 1n, b: [2, { c: "x" }] }, { a: 1n, b: [2, { c: "x" }] });
  assertEquals(NaN, NaN);
  assertThrows(() => assertEquals({ a: 1n }, { a: 2n }), 'expected {"a":"2n"}');
  assertThrows(() => assertEquals([1, 2], [2, 1]));
  assertThrows(() => assertEquals<unknown>(1, "1"));
  assertThrows(() => assertEquals<unknown>(NaN, null));
  assertThrows(() => assertEquals(1, 2, "count"), "count: expected 2, got 1");
});

Deno.test("assert, assertThrows, assertRejects: each fails when it should", async () => {
  assertThrows(() => assert(false, "nope"), "nope");
  assertThrows(() => assertThrows(() => {}), "expected an exception");
  assertThrows(() => assertThrows(() => assert(false, "a"), "b"), 'include "b"');
  const e = await assertRejects(() => Promise.reject(new RangeError("far")), RangeError, "far");
  assert(e instanceof RangeError);
  let failed = false;
  await assertRejects(() => Promise.resolve(), Error).catch(() => (failed = true));
  assert(failed, "a promise that resolves must fail assertRejects");
  failed = false;
  await assertRejects(() => Promise.reject(new Error("x")), TypeError).catch(() => (failed = true));
  assert(failed, "the wrong error class must fail assertRejects");
});

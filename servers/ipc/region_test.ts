import { assert, assertEquals } from "./_assert.ts";
import { Region } from "./region.ts";

Deno.test("region: create, write, map again through /proc, dispose", () => {
  using a = Region.create(10000);
  assertEquals(a.size, 12288);
  a.u8[5000] = 42;
  Atomics.store(a.i32, 10, 7);
  using b = Region.open(`/proc/${Deno.pid}/fd/${a.fd}`);
  assertEquals(b.size, a.size);
  assertEquals(b.u8[5000], 42);
  assertEquals(Atomics.add(b.i32, 10, 1), 7);
  assertEquals(Atomics.load(a.i32, 10), 8);
  b.close();
  assert(b.closed);
  assertEquals(b.fd, -1);
});

Deno.test("region: bad sizes and paths are refused with a clear error", () => {
  let msg = "";
  try {
    Region.create(0);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.startsWith("Cannot create region"), msg);
  try {
    Region.open("/nonexistent/joyride-region");
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.startsWith("Cannot open region"), msg);
});

import { assert, assertEquals, assertThrows } from "./_assert.ts";
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

Deno.test("region: open with a smaller view; bytesAt reaches the rest as arrays of their own", () => {
  const path = `/dev/shm/joyride-test-region-${Deno.pid}`;
  Deno.writeFileSync(path, new Uint8Array(3 * 4096));
  try {
    using r = Region.open(path, 4096);
    assertEquals(r.u8.length, 4096);
    const far = r.bytesAt(8192, 4096);
    far[5] = 42;
    assertEquals(r.bytesAt(8192 + 5, 1)[0], 42);
    assertEquals(Deno.readFileSync(path)[8192 + 5], 42);
    assertThrows(() => r.bytesAt(8192, 4097));
  } finally {
    Deno.removeSync(path);
  }
});

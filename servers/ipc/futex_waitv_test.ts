import { assert, assertEquals } from "./_assert.ts";
import { FUTEX_WAITV_MAX, FutexWaitv } from "./futex_waitv.ts";
import { Region } from "./region.ts";

Deno.test("futex_waitv: a word that no longer holds its value ends the wait at once", () => {
  using r = Region.create(4096);
  r.u32[0] = 5;
  r.u32[1] = 7;
  const w = new FutexWaitv();
  assertEquals(w.wait(1000), -1); // empty list: nothing to sleep on
  w.add(r.pointer(0), 5);
  w.add(r.pointer(4), 8); // holds 7: changed
  const t = performance.now();
  assertEquals(w.wait(5_000_000), -1);
  assert(performance.now() - t < 2000, "slept although a word had changed");
  assertEquals(w.stats.woken, 0);
});

Deno.test("futex_waitv: times out after the timeout; the list is bounded", () => {
  using r = Region.create(4096);
  const w = new FutexWaitv();
  w.add(r.pointer(0), 0);
  const t = performance.now();
  assertEquals(w.wait(20_000), -1);
  assert(performance.now() - t >= 19, `woke after ${performance.now() - t} ms`);
  w.clear();
  for (let i = 0; i < FUTEX_WAITV_MAX; i++) assert(w.add(r.pointer(0), 0));
  assert(!w.add(r.pointer(0), 0), "more words than the kernel takes");
  assertEquals(w.length, FUTEX_WAITV_MAX);
});

Deno.test("futex_waitv: a wake on any word (another thread) ends the wait with its index", async () => {
  using r = Region.create(4096);
  const w = new FutexWaitv();
  w.add(r.pointer(0), 0);
  w.add(r.pointer(64), 0);
  const worker = new Worker(
    `data:text/javascript,${
      encodeURIComponent(`
      const lib = Deno.dlopen("libc.so.6", { syscall: { parameters: ["i64", "pointer", "i32", "i32", "pointer", "pointer", "i32"], result: "i64" } });
      self.onmessage = (e) => {
        const p = Deno.UnsafePointer.create(BigInt(e.data));
        setTimeout(() => {
          new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(p, 4))[0] = 1;
          lib.symbols.syscall(202n, p, 1, 0x7fffffff, null, null, 0);
          self.postMessage("woke");
        }, 30);
      };`)
    }`,
    { type: "module" },
  );
  const done = new Promise((res) => worker.onmessage = res);
  worker.postMessage(String(Deno.UnsafePointer.value(r.pointer(64))));
  // Blocks this thread; the worker wakes word 1 after 30 ms (10 s: the bound if it never does).
  const got = w.wait(10_000_000);
  await done;
  worker.terminate();
  assertEquals(got, 1);
  assertEquals(r.u32[16], 1);
  assertEquals(w.stats.woken, 1);
});

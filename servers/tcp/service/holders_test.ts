import { assertEquals } from "../../supervisor/_assert.ts";
import { CTL, HOLDERS, SLOT } from "../../naming/apps_region.ts";
import { holdersOf, HolderWatch, reclaimHolder } from "./holders.ts";

/** A control block, 8 slots and the holder rows, as one app region would have them. */
function fakeRegion(maxSockets = 8) {
  const slots = CTL.SIZE;
  const rows = slots + maxSockets * SLOT.SIZE;
  const buf = new SharedArrayBuffer(rows + HOLDERS * maxSockets);
  const u32 = new Uint32Array(buf);
  const u8 = new Uint8Array(buf);
  const refs = (slot: number) => (slots + slot * SLOT.SIZE + SLOT.OFF_REFS) / 4;
  return { u32, u8, rows, refs, maxSockets };
}

Deno.test("holders: an ended holder's counts come off the slots; those left at 0 are returned", () => {
  const r = fakeRegion();
  const entry = 5, pid = 4242;
  r.u32[CTL.OFF_HOLDERS / 4 + entry] = pid;
  const row = r.rows + entry * r.maxSockets;
  // slot 1: held by the dead process only; slot 2: by it twice and another process once;
  // slot 3: by it 255 times ("too many to count": left alone); slot 4: not by it.
  r.u32[r.refs(1)] = 1, r.u8[row + 1] = 1;
  r.u32[r.refs(2)] = 3, r.u8[row + 2] = 2;
  r.u32[r.refs(3)] = 300, r.u8[row + 3] = 255;
  r.u32[r.refs(4)] = 2;
  const closed = reclaimHolder(r.u32, r.u8, r.rows, r.maxSockets, r.refs, { entry, pid });
  assertEquals(closed, [1]);
  assertEquals([1, 2, 3, 4].map((s) => r.u32[r.refs(s)]), [0, 1, 300, 2]);
  assertEquals([...r.u8.subarray(row, row + r.maxSockets)], new Array(r.maxSockets).fill(0));
  assertEquals(r.u32[CTL.OFF_HOLDERS / 4 + entry], 0, "the entry is free again");
});

Deno.test("holders: a row that says more than the slot holds never wraps the count", () => {
  const r = fakeRegion();
  const row = r.rows + 0 * r.maxSockets;
  r.u32[CTL.OFF_HOLDERS / 4] = 77;
  r.u32[r.refs(6)] = 1, r.u8[row + 6] = 9; // a hostile or torn row
  r.u32[r.refs(7)] = 0, r.u8[row + 7] = 1; // already closed by the app
  const closed = reclaimHolder(r.u32, r.u8, r.rows, r.maxSockets, r.refs, { entry: 0, pid: 77 });
  assertEquals(closed, [6], "only the slot this reclaim took to 0");
  assertEquals([r.u32[r.refs(6)], r.u32[r.refs(7)]], [0, 0]);
});

Deno.test("holders: a watched process is reported once it ends, a given-back entry is forgotten", async () => {
  const r = fakeRegion();
  const watch = new HolderWatch();
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const other = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    r.u32[CTL.OFF_HOLDERS / 4 + 2] = child.pid;
    r.u32[CTL.OFF_HOLDERS / 4 + 9] = other.pid;
    assertEquals(watch.ended(r.u32), [], "both alive");
    assertEquals(watch.size, 2);
    r.u32[CTL.OFF_HOLDERS / 4 + 9] = 0; // `other` let go normally (its exit hook)
    assertEquals(watch.ended(r.u32), []);
    assertEquals(watch.size, 1);
    child.kill("SIGKILL");
    await child.status; // reaped: its pid no longer exists
    assertEquals(watch.ended(r.u32), [{ entry: 2, pid: child.pid }]);
    assertEquals(watch.size, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // ended above
    }
    other.kill("SIGKILL");
    await other.status;
    watch.close();
  }
});

Deno.test("holders: a killed process counts as ended before it is reaped; a pid already gone at once", async () => {
  const r = fakeRegion();
  const watch = new HolderWatch();
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  r.u32[CTL.OFF_HOLDERS / 4 + 1] = child.pid;
  assertEquals(watch.ended(r.u32), []);
  child.kill("SIGKILL");
  // Not awaited yet: a zombie until the runtime reaps it, and its pidfd is readable either way.
  let got = watch.ended(r.u32);
  for (let i = 0; i < 100 && got.length === 0; i++) {
    await new Promise((res) => setTimeout(res, 10));
    got = watch.ended(r.u32);
  }
  assertEquals(got, [{ entry: 1, pid: child.pid }]);
  await child.status;
  r.u32[CTL.OFF_HOLDERS / 4 + 1] = 0;
  // A pid that is gone by the time the entry is first seen.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  r.u32[CTL.OFF_HOLDERS / 4 + 4] = gone.pid;
  assertEquals(watch.ended(r.u32), [{ entry: 4, pid: gone.pid }]);
  watch.close();
});

Deno.test("holders: the processes holding a slot now, by their rows; none for a bad slot", () => {
  const r = fakeRegion();
  r.u32[CTL.OFF_HOLDERS / 4 + 0] = 100; // the maker: closed its copy of slot 3
  r.u32[CTL.OFF_HOLDERS / 4 + 7] = 200; // a forked child holding slot 3
  r.u32[CTL.OFF_HOLDERS / 4 + 9] = 300; // holds slot 3 twice
  r.u8[r.rows + 0 * r.maxSockets + 2] = 1;
  r.u8[r.rows + 7 * r.maxSockets + 3] = 1;
  r.u8[r.rows + 9 * r.maxSockets + 3] = 2;
  r.u8[r.rows + 11 * r.maxSockets + 3] = 1; // a row whose entry is free: no process
  assertEquals(holdersOf(r.u32, r.u8, r.rows, r.maxSockets, 3), [200, 300]);
  assertEquals(holdersOf(r.u32, r.u8, r.rows, r.maxSockets, 2), [100]);
  assertEquals(holdersOf(r.u32, r.u8, r.rows, r.maxSockets, 8), []);
  assertEquals(holdersOf(r.u32, r.u8, r.rows, r.maxSockets, -1), []);
});

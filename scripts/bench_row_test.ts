import { assert, assertEquals } from "./testing/assert.ts";
import { benchLocked, flockHolders } from "./bench_row.ts";

Deno.test("flockHolders: holders of the file's inode, not waiters or other files", () => {
  const locks = [
    "16: FLOCK  ADVISORY  WRITE 15446 fe:00:2146575 0 EOF",
    "16: -> FLOCK  ADVISORY  WRITE 29182 fe:00:2146575 0 EOF",
    "17: FLOCK  ADVISORY  WRITE 777 fe:00:99 0 EOF",
    "18: POSIX  ADVISORY  WRITE 888 fe:00:2146575 0 EOF",
  ].join("\n");
  assertEquals(flockHolders(locks, 2146575), [15446]);
  assertEquals(flockHolders(locks, 99), [777]);
  assertEquals(flockHolders("", 1), []);
});

Deno.test("benchLocked: under an outer flock of the same file (held by an ancestor) it does not wait for itself", async () => {
  // The child runs benchLocked inside `flock FILE`: it must finish, not wait forever.
  const lock = Deno.makeTempFileSync({ prefix: "jr-benchlock-" });
  const code = `
    const m = await import(${JSON.stringify(new URL("./bench_row.ts", import.meta.url).href)});
    console.log(await m.benchLocked(async () => "ran"));`;
  try {
    const child = new Deno.Command("timeout", {
      args: ["20", "flock", lock, Deno.execPath(), "eval", code],
      env: { JOYRIDE_BENCH_LOCK: lock },
      stdout: "piped",
      stderr: "piped",
    });
    const o = await child.output();
    const out = new TextDecoder().decode(o.stdout).trim();
    assert(o.code === 0 && out === "ran", `${o.code} ${out} ${new TextDecoder().decode(o.stderr)}`);
    // Not held: it locks and runs (the test's own file, not the machine's).
    Deno.env.set("JOYRIDE_BENCH_LOCK", lock);
    assertEquals(await benchLocked(() => Promise.resolve(7)), 7);
    Deno.env.delete("JOYRIDE_BENCH_LOCK");
  } finally {
    Deno.removeSync(lock);
  }
});

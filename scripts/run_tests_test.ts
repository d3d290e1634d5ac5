import { assertEquals } from "../servers/supervisor/_assert.ts";
import { cleanupAfter, durationMs, fileTimes, testCounts } from "./run_tests.ts";

Deno.test("run_tests: deno test's summary and per-file times are read", () => {
  const out = [
    "running 2 tests from ./tests/a_test.ts",
    "a: one ... \x1b[32mok\x1b[0m \x1b[90m(1m2s)\x1b[0m",
    "a: two ...",
    "  step ... ok (5s)",
    "a: two ... FAILED (3s)",
    "running 1 test from ./tests/b_test.ts",
    "b ... ok (850ms)",
    "c ...'c' has been running for over (1m0s)",
    " ok (1m6s)",
    "",
    "\x1b[31mFAILED\x1b[0m | 2 passed (1 step) | 1 failed | 1 ignored (1m6s)",
  ].join("\n");
  assertEquals(testCounts(out), { passed: 2, failed: 1, ignored: 1 });
  assertEquals(testCounts("nothing"), undefined);
  assertEquals(
    [...fileTimes(out)],
    [["./tests/a_test.ts", 65_000], ["./tests/b_test.ts", 66_850]],
  );
  assertEquals(durationMs("1h2m3s"), 3_723_000);
  assertEquals(durationMs("12ms"), 12);
});

Deno.test("run_tests: cleanupAfter removes only what is named with the pid", async () => {
  const pid = 99999; // above pid_max: no real test process has it
  const mine = `/dev/shm/jr-nictest-${pid}x0`, other = `/dev/shm/jr-nictest-${pid}1x0`;
  Deno.writeTextFileSync(mine, "");
  Deno.writeTextFileSync(other, "");
  try {
    assertEquals(await cleanupAfter(pid), [mine]);
    assertEquals(Deno.statSync(other).isFile, true);
  } finally {
    Deno.removeSync(other);
    try {
      Deno.removeSync(mine);
    } catch {
      // removed
    }
  }
});

import { assertEquals } from "../servers/supervisor/_assert.ts";
import { cleanupAfter, fileStarted, fileTimes, testCounts } from "./run_tests.ts";

Deno.test("run_tests: deno test's summary, test files and their times are read", () => {
  const out = [
    "running 2 tests from ./tests/a_test.ts",
    "a: one ... \x1b[32mok\x1b[0m \x1b[90m(1m2s)\x1b[0m",
    "",
    "\x1b[31mFAILED\x1b[0m | 2 passed (1 step) | 1 failed | 1 ignored (1m6s)",
  ].join("\n");
  assertEquals(testCounts(out), { passed: 2, failed: 1, ignored: 1 });
  assertEquals(testCounts("nothing"), undefined);
  assertEquals(
    fileStarted("\x1b[90mrunning 1 test from ./tests/b_test.ts\x1b[0m"),
    "./tests/b_test.ts",
  );
  assertEquals(fileStarted("a: one ... ok (1s)"), undefined);
  assertEquals(
    [...fileTimes([["./a_test.ts", 100], ["./b_test.ts", 1100], ["./a_test.ts", 1200]], 1500)],
    [["./a_test.ts", 1300], ["./b_test.ts", 100]],
  );
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

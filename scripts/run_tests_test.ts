import { assertEquals } from "../servers/supervisor/_assert.ts";
import {
  cleanupAfter,
  fileStarted,
  fileTimes,
  loaderFailure,
  LogRelay,
  relayLine,
  testCounts,
} from "./run_tests.ts";

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

Deno.test("run_tests: deno test's file and summary lines are reworded, whole, as they come", () => {
  assertEquals(
    relayLine("running 4 tests from ./tests/cli_test.ts"),
    "test file ./tests/cli_test.ts: 4 tests",
  );
  assertEquals(
    relayLine("\x1b[90mrunning 1 test from ./a_test.ts\x1b[0m"),
    "test file ./a_test.ts: 1 test",
  );
  assertEquals(
    relayLine("FAILED | 2 passed (1 step) | 1 failed (1m6s)"),
    "deno test FAILED: 2 passed (1 step) | 1 failed (1m6s)",
  );
  assertEquals(
    relayLine("ok | 45 passed | 0 failed (8m6s)"),
    "deno test done: 45 passed | 0 failed (8m6s)",
  );
  assertEquals(relayLine("a: one ... ok (1s)"), "a: one ... ok (1s)");

  const relay = new LogRelay();
  // a test's name shows before its verdict comes
  assertEquals(relay.push("runn"), "");
  assertEquals(
    relay.push("ing 2 tests from ./b_test.ts\nb: slow ..."),
    "test file ./b_test.ts: 2 tests\nb: slow ...",
  );
  assertEquals(relay.push(" ok (1s)\nok"), " ok (1s)\n");
  assertEquals(relay.push(" | 2 passed | 0 fa"), "");
  assertEquals(relay.push("iled (2s)\n\nokay"), "deno test done: 2 passed | 0 failed (2s)\n\nokay");
  assertEquals(relay.end(), "");
  assertEquals(relay.push("ok | 1 passed"), "");
  assertEquals(relay.end(), "deno test done: 1 passed");
});

Deno.test("run_tests: deno's own failure to load a cached module is told from a test's", () => {
  const out = "FAILED | 440 passed | 1 failed (16s)\n\nerror: Unable to load " +
    "/root/.cache/deno/npm/registry.npmjs.org/capnp-es/0.0.16/dist/shared/x.mjs imported " +
    "from file:///root/.cache/deno/npm/registry.npmjs.org/capnp-es/0.0.16/dist/index.mjs\n";
  assertEquals(
    loaderFailure(out),
    "/root/.cache/deno/npm/registry.npmjs.org/capnp-es/0.0.16/dist/shared/x.mjs",
  );
  assertEquals(loaderFailure("error: AssertionError: Unable to load the page"), undefined);
  assertEquals(loaderFailure("FAILED | 1 passed | 1 failed (1s)\nerror: Test failed"), undefined);
});

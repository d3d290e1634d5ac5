/**
 * `./joyride test`: the whole test suite, what CI runs. Stages run in order and the first
 * failing stage fails the run. Every stage prints how long it took (with the passed/failed
 * counts of deno test's stages, and the slowest test files of the system stage); a stage that
 * runs past its time limit is killed (its whole process group, then what its tests' instances
 * left behind) and fails the run with a message saying so. A line gives the total time, and the
 * last one the tests of all stages added up ("N passed, N failed"). deno test's own file and
 * summary lines are reworded on the way (relayLine).
 *
 * Usage: ./joyride test [--only STAGE[,STAGE…]]
 */
import { conformanceSuiteDir } from "./paths.ts";
import { cleanupInstance } from "../servers/supervisor/supervisor.ts";
import { configFrom } from "../servers/supervisor/config.ts";
import { listNamespaces, namespacePids } from "../servers/supervisor/topology.ts";

interface Stage {
  name: string;
  cmd: string[];
  /** Time limit (minutes); past it the stage is killed and fails. */
  limitMin: number;
  /** Skip (with the reason printed) instead of running. */
  skip?: () => string | undefined;
}

const deno = Deno.execPath();
// Limits: about 3× what each stage takes on the loaded 2-vCPU machine, and 90 minutes (the
// CI limit) in all, so a hung test fails the run with a message instead of hanging CI.
const stages: Stage[] = [
  { name: "fmt", cmd: [deno, "fmt", "--check", "-q"], limitMin: 3 },
  { name: "lint", cmd: [deno, "lint", "-q"], limitMin: 3 },
  { name: "check", cmd: [deno, "run", "-A", "scripts/check.ts"], limitMin: 6 },
  {
    name: "unit",
    cmd: [deno, "test", "-A", "--quiet", "--parallel", "schema", "ffi", "servers", "scripts"],
    limitMin: 15,
  },
  {
    name: "conformance",
    cmd: [deno, "run", "-A", "servers/tcp/conformance/main.ts", "--gate"],
    limitMin: 15,
    skip: () => conformanceSuiteDir() ? undefined : "FreeBSD suite not found next to the repo",
  },
  { name: "system", cmd: [deno, "test", "-A", "--quiet", "tests"], limitMin: 40 },
];

function parseOnly(args: string[]): Set<string> | undefined {
  const i = args.indexOf("--only");
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (!value) throw new Error("Cannot run tests: --only needs a comma-separated stage list");
  const names = new Set(value.split(","));
  for (const n of names) {
    if (!stages.some((s) => s.name === n)) {
      throw new Error(`Cannot run tests: unknown stage "${n}"`);
    }
  }
  return names;
}

async function hasTests(stage: Stage): Promise<boolean> {
  if (stage.name !== "unit" && stage.name !== "system") return true;
  // deno test fails when a folder has no test files; a stage with none is reported, not failed.
  const roots = stage.cmd.slice(stage.cmd.findIndex((a) => a === "--quiet") + 1)
    .filter((a) => !a.startsWith("-"));
  for (const r of roots) {
    for await (const f of walk(r)) if (/_test\.ts$/.test(f)) return true;
  }
  return false;
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = Array.from(Deno.readDirSync(dir));
  } catch {
    return;
  }
  for (const e of entries) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else yield p;
  }
}

/** Removes terminal colour codes. */
export function plain(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

/** deno test's summary ("ok | 12 passed (3 steps) | 1 failed (…)"), or undefined. */
export function testCounts(
  output: string,
): { passed: number; failed: number; ignored: number } | undefined {
  const lines = plain(output).split("\n").filter((l) => /^(ok|FAILED) \| \d+ passed/.test(l));
  const last = lines.at(-1);
  if (!last) return undefined;
  const n = (what: string) => Number(last.match(new RegExp(`(\\d+) ${what}`))?.[1] ?? 0);
  return { passed: n("passed"), failed: n("failed"), ignored: n("ignored") };
}

/**
 * Wall-clock time per test file (ms): deno test runs the files one after the other and says
 * "running N tests from FILE" as each starts; `starts` are those lines' arrival times, `end`
 * the stage's end.
 */
export function fileTimes(starts: [string, number][], end: number): Map<string, number> {
  const times = new Map<string, number>();
  starts.forEach(([file, t], i) => {
    const next = i + 1 < starts.length ? starts[i + 1][1] : end;
    times.set(file, (times.get(file) ?? 0) + next - t);
  });
  return times;
}

/**
 * A whole line of deno test's output as this run's log prints it. CI's log reader knows the
 * closing lines of other test runners, and deno test's "running N tests from FILE" and
 * "ok | N passed | N failed" look like cargo test's and go test's; a landing whose log held
 * them was recorded as having run no test although the log ended on the plain line. So they
 * are reworded, and the run's own last line stays the only summary of that kind.
 */
export function relayLine(line: string): string {
  const p = plain(line);
  const file = p.match(/^running (\d+) (tests?) from (\S+)(.*)$/);
  if (file) return `test file ${file[3]}: ${file[1]} ${file[2]}${file[4]}`;
  const sum = p.match(/^(ok|FAILED) \| (.*)$/);
  if (sum) return `deno test ${sum[1] === "ok" ? "done" : "FAILED"}: ${sum[2]}`;
  return line;
}

/** Line starts that relayLine rewords. */
const REWORDED = ["running ", "ok | ", "FAILED | "];

/**
 * Passes a child's output on as it comes, whole lines through relayLine. The start of a line
 * that cannot be one relayLine rewords goes out at once, so a test's name shows while it runs.
 */
export class LogRelay {
  #line = "";
  #shown = 0;

  /** What to write for the next piece of output. */
  push(text: string): string {
    let out = "";
    text.split("\n").forEach((piece, i) => {
      if (i > 0) out += this.#finish() + "\n";
      this.#line += piece;
    });
    const p = plain(this.#line);
    if (!REWORDED.some((r) => p.startsWith(r) || r.startsWith(p))) {
      out += this.#line.slice(this.#shown);
      this.#shown = this.#line.length;
    }
    return out;
  }

  /** What is left when the output ends. */
  end(): string {
    return this.#finish();
  }

  #finish(): string {
    const out = this.#shown > 0 ? this.#line.slice(this.#shown) : relayLine(this.#line);
    this.#line = "";
    this.#shown = 0;
    return out;
  }
}

/**
 * The module deno test itself failed to load from its npm cache ("error: Unable to load FILE
 * imported from …", the whole run's error, not a test's), or undefined.
 */
export function loaderFailure(output: string): string | undefined {
  return plain(output).match(/^error: Unable to load (\S+) imported from \S+/m)?.[1];
}

/** The test file a line of deno test's output starts, if any. */
export function fileStarted(line: string): string | undefined {
  return plain(line).match(/^running \d+ tests? from (\S+)/)?.[1];
}

function minSec(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/**
 * Removes what a test process (`pid`) left: whole-system tests name their instances,
 * namespaces and shared-memory files with the pid of the deno test process
 * (tests/_system.ts uniqueInstance, jr-nt<pid>x…, jr-rlyt<pid>-…), so a `jr-`/`joyride`
 * name holding that pid as a whole number is theirs.
 */
export async function cleanupAfter(pid: number): Promise<string[]> {
  const removed: string[] = [];
  const ours = new RegExp(`^(?:jr-|joyride)[a-z.-]*(?<![0-9])${pid}(?![0-9])`);
  const instanceNs = new RegExp(`^jr-([a-z]+${pid})(?:-peer)?$`);
  const instances = new Set<string>();
  let namespaces: string[] = [];
  try {
    namespaces = (await listNamespaces()).filter((n) => ours.test(n));
  } catch {
    // no ip
  }
  for (const ns of namespaces) {
    const m = ns.match(instanceNs);
    if (m) instances.add(m[1]);
  }
  try {
    for (const e of Deno.readDirSync("/run/joyride")) {
      if (new RegExp(`^[a-z]+${pid}$`).test(e.name)) instances.add(e.name);
    }
  } catch {
    // no runtime dir
  }
  for (const instance of instances) {
    try {
      removed.push(...await cleanupInstance(configFrom({ instance })));
    } catch {
      // not a valid instance name: its namespaces are removed below
    }
  }
  // namespaces of tests that make their own (jr-nt<pid>x…, jr-rlyt<pid>-…)
  for (const ns of namespaces) {
    for (const p of await namespacePids(ns)) {
      try {
        Deno.kill(p, "SIGKILL");
        removed.push(`process ${p}`);
      } catch {
        // gone
      }
    }
    const r = await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" })
      .output().catch(() => undefined);
    if (r?.success) removed.push(`namespace ${ns}`);
  }
  // the caps test's second user (tests/_caps.ts testUser)
  const user = `jrt${pid}`;
  const id = await new Deno.Command("id", { args: ["-u", user], stdout: "null", stderr: "null" })
    .output().catch(() => undefined);
  if (id?.success) {
    const del = await new Deno.Command("userdel", { args: ["-f", user], stderr: "null" })
      .output().catch(() => undefined);
    if (del?.success) removed.push(`user ${user}`);
  }
  try {
    for (const e of Deno.readDirSync("/dev/shm")) {
      if (!ours.test(e.name)) continue;
      Deno.removeSync(`/dev/shm/${e.name}`, { recursive: true });
      removed.push(`/dev/shm/${e.name}`);
    }
  } catch {
    // no /dev/shm
  }
  return removed;
}

/** Runs a stage in its own process group (setsid), killing the group past the limit. */
async function runStage(
  stage: Stage,
): Promise<
  {
    code: number;
    timedOut: boolean;
    out: string;
    err: string;
    pid: number;
    files: Map<string, number>;
  }
> {
  /** Test files as they start, with the time. */
  const starts: [string, number][] = [];
  const child = new Deno.Command("setsid", {
    args: stage.cmd,
    stdout: "piped",
    stderr: "piped",
    // Off a terminal (CI), deno test's summaries stay plain text that log readers can parse.
    env: Deno.stdout.isTerminal() ? {} : { NO_COLOR: "1" },
  }).spawn();
  let timedOut = false;
  const kill = (sig: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, sig); // setsid made the child a group leader (pgid = pid)
    } catch {
      // gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    const file = starts.at(-1)?.[0];
    console.log(
      `\n-- ${stage.name}: TIMED OUT after ${stage.limitMin} min; killing it (a test hangs?` +
        `${file ? ` the last test file started: ${file}` : ""})`,
    );
    kill("SIGTERM");
    setTimeout(() => kill("SIGKILL"), 5000);
  }, stage.limitMin * 60_000);
  // Forward the output as it comes, keeping it for the summary (deno test's output is small).
  const dec = new TextDecoder();
  const enc = new TextEncoder();
  const relay = new LogRelay();
  let out = "";
  let partial = "";
  // Errors pass through as they come; the last 64 kB are kept (deno's own errors: loaderFailure).
  let err = "";
  const errDone = (async () => {
    const d = new TextDecoder();
    for await (const chunk of child.stderr) {
      await Deno.stderr.write(chunk);
      err = (err + d.decode(chunk, { stream: true })).slice(-65536);
    }
  })();
  for await (const chunk of child.stdout) {
    const text = dec.decode(chunk, { stream: true });
    await Deno.stdout.write(enc.encode(relay.push(text)));
    out += text;
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const l of lines) {
      const f = fileStarted(l);
      if (f) starts.push([f, performance.now()]);
    }
  }
  await Deno.stdout.write(enc.encode(relay.end()));
  const { code } = await child.status;
  // A process the stage left behind may hold its stderr open: a short grace, then go on (the
  // reader keeps forwarding meanwhile).
  let grace: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([errDone, new Promise((r) => grace = setTimeout(r, 2000))]);
  clearTimeout(grace);
  clearTimeout(timer);
  if (timedOut) kill("SIGKILL");
  return {
    code,
    timedOut,
    out,
    err,
    pid: child.pid,
    files: fileTimes(starts, performance.now()),
  };
}

if (import.meta.main) {
  const only = parseOnly(Deno.args);
  const t0 = performance.now();
  const summary: string[] = [];
  let failed = false;
  const tally = { passed: 0, failed: 0 };
  for (const stage of stages) {
    if (only && !only.has(stage.name)) continue;
    const reason = stage.skip?.() ?? (await hasTests(stage) ? undefined : "no tests yet");
    if (reason) {
      console.log(`-- ${stage.name}: skipped (${reason})`);
      summary.push(`${stage.name}: skipped`);
      continue;
    }
    console.log(`-- ${stage.name}`);
    const s0 = performance.now();
    let { code, timedOut, out, err, pid, files } = await runStage(stage);
    const why = code !== 0 && !timedOut ? loaderFailure(`${out}\n${err}`) : undefined;
    if (why) {
      // Not a test's verdict: deno itself failed to read a module from its cache (seen once in
      // about 30 unit runs, the file being there). The stage runs once more, and says so.
      console.log(`-- ${stage.name}: deno could not load ${why}; running the stage once more`);
      ({ code, timedOut, out, err, pid, files } = await runStage(stage));
    }
    const secs = ((performance.now() - s0) / 1000).toFixed(1);
    const counts = testCounts(out);
    tally.passed += counts?.passed ?? 0;
    tally.failed += counts?.failed ?? 0;
    const n = counts
      ? ` (${counts.passed} passed, ${counts.failed} failed` +
        (counts.ignored ? `, ${counts.ignored} ignored)` : ")")
      : "";
    const verdict = timedOut
      ? `FAILED: timed out after ${stage.limitMin} min`
      : code === 0
      ? "ok"
      : `FAILED (exit ${code})`;
    if (stage.name === "system") {
      const times = [...files].sort((a, b) => b[1] - a[1]);
      if (times.length) {
        console.log(`-- system: time per test file`);
        for (const [f, ms] of times) console.log(`   ${minSec(ms).padStart(7)}  ${f}`);
      }
    }
    if (stage.name === "system") {
      // Tests clean up after themselves; what is left (a killed run, a test's bug) goes here.
      const removed = await cleanupAfter(pid).catch((e) => [`(cleanup failed: ${e})`]);
      if (removed.length) {
        console.log(`-- system: WARNING: removed what the tests left: ${removed.join(", ")}`);
      }
    }
    console.log(`-- ${stage.name}: ${verdict}${n} in ${secs} s`);
    summary.push(`${stage.name}: ${verdict}${n} in ${secs} s`);
    if (code !== 0 || timedOut) {
      failed = true;
      break;
    }
  }
  const total = (performance.now() - t0) / 1000;
  console.log(`-- summary: ${summary.join("; ")}`);
  console.log(`-- total: ${failed ? "FAILED" : "ok"} in ${minSec(total * 1000)}`);
  // The plain closing line CI reads ("N passed, N failed" alone on the last line): deno
  // test's tests of every stage that ran, added up. Nothing may follow it.
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  Deno.exit(failed ? 1 : 0);
}

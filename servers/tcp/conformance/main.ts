/**
 * `./joyride conformance [PATH…] [--json FILE] [--gate] [--write-expected] [--jobs N]
 * [--verbose] [--reasons] [--depth N]`: runs packetdrill-format scripts (files or folders,
 * resolved against the directory ./joyride was run in) against the engine in virtual time.
 *
 * - Without PATH: the whole suite (conformanceSuiteDir()).
 * - `--gate`: the suite's core folders; every script not listed in expected_failures.txt must
 *   pass (exit 1 otherwise); a listed script that passes is an "unexpected pass" (reported,
 *   not a failure).
 * - `--write-expected`: with --gate, rewrites expected_failures.txt from this run's results.
 * - `--reasons`: the most common failure reasons; `--depth N`: summary by N folder levels.
 * - `--json FILE`: writes `{"results":[{"script","result","reason"}]}`.
 *
 * @module
 */

import { conformanceSuiteDir, userPath } from "../../../scripts/paths.ts";
import {
  collectScripts,
  CORE_FOLDERS,
  formatSummary,
  readExpected,
  scriptName,
  type ScriptResult,
  topReasons,
  writeExpected,
} from "./runner.ts";

const EXPECTED = new URL("./expected_failures.txt", import.meta.url).pathname;
/** A script that takes longer than this (wall clock) is stopped and reported as an error. */
const SCRIPT_TIMEOUT_MS = 20_000;

interface Args {
  paths: string[];
  json?: string;
  gate: boolean;
  writeExpected: boolean;
  jobs: number;
  verbose: boolean;
  reasons: boolean;
  depth: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    paths: [],
    gate: false,
    writeExpected: false,
    jobs: 2,
    verbose: false,
    reasons: false,
    depth: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === "--json") {
      const f = argv[++i];
      if (!f) throw new Error("Cannot run conformance: --json needs a file name");
      a.json = userPath(f);
    } else if (x === "--gate") a.gate = true;
    else if (x === "--write-expected") a.writeExpected = true;
    else if (x === "--verbose" || x === "-v") a.verbose = true;
    else if (x === "--reasons") a.reasons = true;
    else if (x === "--depth") a.depth = Math.max(1, parseInt(argv[++i] ?? "1") || 1);
    else if (x === "--jobs") a.jobs = Math.max(1, parseInt(argv[++i] ?? "2") || 1);
    else if (x.startsWith("-")) {
      throw new Error(`Cannot run conformance: unknown flag ${x}\n${usage}`);
    } else a.paths.push(userPath(x));
  }
  return a;
}

/** Runs scripts on a pool of workers, one script per message, with a per-script timeout. */
async function runPool(
  items: { path: string; name: string }[],
  jobs: number,
): Promise<ScriptResult[]> {
  const results: ScriptResult[] = new Array(items.length);
  let next = 0;
  const url = new URL("./worker.ts", import.meta.url).href;
  const lane = async () => {
    let w: Worker | undefined;
    while (next < items.length) {
      const i = next++;
      const it = items[i];
      if (!w) w = new Worker(url, { type: "module" });
      const worker = w;
      const r = await new Promise<ScriptResult | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), SCRIPT_TIMEOUT_MS);
        worker.onmessage = (e: MessageEvent<ScriptResult>) => {
          clearTimeout(timer);
          resolve(e.data);
        };
        worker.onerror = (e) => {
          e.preventDefault();
          clearTimeout(timer);
          resolve({
            script: it.name,
            result: "error",
            reason: `runner crashed: ${e.message}`,
            version: 4,
          });
        };
        worker.postMessage(it);
      });
      if (!r || r.reason?.startsWith("runner crashed")) {
        worker.terminate();
        w = undefined;
      }
      results[i] = r ?? {
        script: it.name,
        result: "error",
        reason: `timed out after ${SCRIPT_TIMEOUT_MS / 1000} s of wall-clock time`,
        version: /ipv6/.test(it.name) ? 6 : 4,
      };
    }
    w?.terminate();
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, lane));
  return results;
}

const usage = "usage: ./joyride conformance [PATH…] [--json FILE] [--gate] [--write-expected]" +
  " [--jobs N] [--verbose] [--reasons] [--depth N]";

async function main(): Promise<number> {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(usage);
    return 0;
  }
  const args = parseArgs(Deno.args);
  const suite = conformanceSuiteDir();
  let paths = args.paths;
  if (args.gate) {
    if (!suite) throw new Error("Cannot run the conformance gate: the FreeBSD suite is missing");
    if (paths.length === 0) paths = CORE_FOLDERS.map((f) => `${suite}/${f}`);
  } else if (paths.length === 0) {
    if (!suite) throw new Error("Cannot run conformance: no PATH and no suite found");
    paths = [suite];
  }
  const files = collectScripts(paths);
  const started = performance.now();
  const results = await runPool(
    files.map((p) => ({ path: p, name: scriptName(p, suite) })),
    args.jobs,
  );
  const secs = ((performance.now() - started) / 1000).toFixed(1);

  if (args.verbose || (!args.gate && files.length <= 20)) {
    for (const r of results) {
      console.log(`${r.result.padEnd(5)} ${r.script}${r.reason ? `\n      ${r.reason}` : ""}`);
    }
  }
  console.log(formatSummary(results, args.depth));
  console.log(`${results.length} scripts in ${secs} s`);
  if (args.reasons) {
    console.log("most common reasons:");
    for (const { reason, count } of topReasons(results, 25)) {
      console.log(`${String(count).padStart(5)}  ${reason}`);
    }
  }
  if (args.json) {
    const out = results.map((r) => ({
      script: r.script,
      result: r.result,
      reason: r.reason ?? "",
    }));
    Deno.writeTextFileSync(args.json, JSON.stringify({ results: out }, null, 1) + "\n");
  }
  if (!args.gate) return 0;
  if (args.writeExpected) {
    writeExpected(EXPECTED, results);
    console.log(`wrote ${EXPECTED}`);
    return 0;
  }
  const expected = readExpected(EXPECTED);
  const unexpected = results.filter((r) => r.result !== "pass" && !expected.has(r.script));
  const fixed = results.filter((r) => r.result === "pass" && expected.has(r.script));
  for (const r of fixed) console.log(`unexpected pass: ${r.script}`);
  for (const r of unexpected) {
    console.log(`UNEXPECTED ${r.result.toUpperCase()}: ${r.script}\n      ${r.reason ?? ""}`);
  }
  console.log(
    `gate: ${unexpected.length} unexpected failure(s), ${fixed.length} unexpected pass(es), ` +
      `${expected.size} listed in expected_failures.txt`,
  );
  return unexpected.length ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(2);
  }
}

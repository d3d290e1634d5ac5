/**
 * `./joyride bench [NAME…] [--json FILE]`: runs benchmarks, prints Joyride beside its baseline
 * from the same run as a table, and writes the JSON rows of DESIGN §8 (to build/bench/results.json
 * and to --json FILE). Each benchmark runs holding /tmp/joyride-bench.lock (bench_row.ts
 * `benchLocked`): do not wrap this command in `flock` on that file (or set
 * JOYRIDE_BENCH_LOCKED=1 when you do).
 */
import { type Bench, benchLocked, type BenchRow } from "./bench_row.ts";
import { userPath } from "./paths.ts";

/** Registry: name → module exporting `bench: Bench`. Add new benchmarks here. */
const registry: Record<string, string> = {
  ipc: "../servers/ipc/bench.ts",
  engine: "../servers/tcp/engine/bench.ts",
  nic: "../servers/nic/bench.ts",
  apps: "../tests/bench_apps.ts",
  restart: "../tests/bench_restart.ts",
  perf: "./bench_perf.ts",
};

async function exists(modulePath: string): Promise<boolean> {
  try {
    await Deno.stat(new URL(modulePath, import.meta.url));
    return true;
  } catch {
    return false;
  }
}

const args = [...Deno.args];
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    `usage: ./joyride bench [NAME…] [--json FILE] [options of the benchmarks]\n` +
      `benchmarks: ${Object.keys(registry).join(", ")} (all when none is named)`,
  );
  Deno.exit(0);
}
let jsonFile: string | undefined;
const j = args.indexOf("--json");
if (j >= 0) {
  jsonFile = args[j + 1];
  if (!jsonFile) {
    console.error("joyride bench: --json needs a file name");
    Deno.exit(2);
  }
  args.splice(j, 2);
}
const names = args.filter((a) => !a.startsWith("-"));
const rest = args.filter((a) => a.startsWith("-"));
for (const n of names) {
  if (!(n in registry)) {
    console.error(
      `joyride bench: unknown benchmark "${n}" (known: ${Object.keys(registry).join(", ")})`,
    );
    Deno.exit(2);
  }
}
const selected = names.length > 0 ? names : Object.keys(registry);
const rows: BenchRow[] = [];
for (const name of selected) {
  if (!(await exists(registry[name]))) {
    console.error(`joyride bench: ${name}: not built yet (${registry[name]} is missing)`);
    if (names.length > 0) Deno.exit(1);
    continue;
  }
  const mod = await import(registry[name]) as { bench: Bench };
  console.log(`== ${name}: ${mod.bench.description}`);
  // One measurement at a time on this machine: the lock around each benchmark (or around each
  // group inside one that locks itself), so that nobody needs to wrap `./joyride bench` in flock.
  const got = mod.bench.locksItself
    ? await mod.bench.run(rest)
    : await benchLocked(() => mod.bench.run(rest));
  for (const r of got) {
    console.log(
      `${r.bench.padEnd(40)} ${fmt(r.joyride).padStart(12)} vs ${fmt(r.baseline).padStart(12)} ${
        r.unit.padEnd(8)
      } (${r.baseline_name}) ratio ${r.ratio.toFixed(3)} (${r.better} is better)`,
    );
  }
  rows.push(...got);
}
// The rows always go to build/bench/results.json too (beside perf's figures), and to --json FILE.
const defaultJson = new URL("../build/bench/results.json", import.meta.url).pathname;
await Deno.mkdir(new URL("../build/bench/", import.meta.url).pathname, { recursive: true });
for (const f of jsonFile ? [userPath(jsonFile), defaultJson] : [defaultJson]) {
  await Deno.writeTextFile(f, JSON.stringify(rows, null, 2) + "\n");
}
console.log(`rows: ${jsonFile ? `${userPath(jsonFile)} and ` : ""}${defaultJson}`);

function fmt(n: number): string {
  return Math.abs(n) >= 1000 ? n.toFixed(0) : n.toPrecision(4);
}

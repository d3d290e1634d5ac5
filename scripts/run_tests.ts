/**
 * `./joyride test`: the whole test suite, what CI runs. Stages run in order and the first
 * failing stage fails the run. Every stage prints how long it took.
 *
 * Usage: ./joyride test [--only STAGE[,STAGE…]]
 */
import { conformanceSuiteDir } from "./paths.ts";

interface Stage {
  name: string;
  cmd: string[];
  /** Skip (with the reason printed) instead of running. */
  skip?: () => string | undefined;
}

const deno = Deno.execPath();
const stages: Stage[] = [
  { name: "fmt", cmd: [deno, "fmt", "--check", "-q"] },
  { name: "lint", cmd: [deno, "lint", "-q"] },
  { name: "check", cmd: [deno, "run", "-A", "scripts/check.ts"] },
  {
    name: "unit",
    cmd: [deno, "test", "-A", "--quiet", "--parallel", "schema", "ffi", "servers", "scripts"],
  },
  {
    name: "conformance",
    cmd: [deno, "run", "-A", "servers/tcp/conformance/main.ts", "--gate"],
    skip: () => conformanceSuiteDir() ? undefined : "FreeBSD suite not found next to the repo",
  },
  { name: "system", cmd: [deno, "test", "-A", "--quiet", "tests"] },
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

const only = parseOnly(Deno.args);
let failed = false;
for (const stage of stages) {
  if (only && !only.has(stage.name)) continue;
  const reason = stage.skip?.() ?? (await hasTests(stage) ? undefined : "no tests yet");
  if (reason) {
    console.log(`== ${stage.name}: skipped (${reason})`);
    continue;
  }
  console.log(`== ${stage.name}`);
  const t0 = performance.now();
  const { code } = await new Deno.Command(stage.cmd[0], {
    args: stage.cmd.slice(1),
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`== ${stage.name}: ${code === 0 ? "ok" : `FAILED (exit ${code})`} in ${secs} s`);
  if (code !== 0) {
    failed = true;
    break;
  }
}
Deno.exit(failed ? 1 : 0);

/** `./joyride check`: type-checks every TypeScript file of the repository (deno check). */
import { repoRoot } from "./paths.ts";

const skip = new Set([".git", ".tools", "build", "run", "node_modules"]);

function collect(dir: string, out: string[]): void {
  for (const e of Deno.readDirSync(dir)) {
    if (skip.has(e.name)) continue;
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) collect(p, out);
    else if (e.name.endsWith(".ts")) out.push(p);
  }
}

const files: string[] = [];
collect(repoRoot, files);
const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["check", "-q", ...files.map((f) => f.slice(repoRoot.length + 1))],
  cwd: repoRoot,
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(code);

/**
 * Circular imports: the static `import … from` / `export … from` graph of the repository's
 * TypeScript files and its cycles (strongly connected components of more than one file, or a
 * file importing itself). Dynamic `import()` is not followed: it is how a module loads a
 * sibling on demand without a static edge.
 *
 * `deno run -A scripts/cycles.ts` prints the cycles and exits 1 when there are any;
 * `cycles_test.ts` keeps the repository at none (unit stage).
 */
import { repoRoot } from "./paths.ts";

const skip = new Set([".git", ".tools", "build", "run", "node_modules"]);
const staticImport =
  /(?:^|[\n;])\s*(?:(?:import|export)\b[^;"'`]*?\bfrom\s*|import\s*)["']([^"']+)["']/g;

/** The relative module specifiers a source text imports statically. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const m of code.matchAll(staticImport)) {
    if (m[1].startsWith("./") || m[1].startsWith("../")) out.push(m[1]);
  }
  return out;
}

/** Every `.ts` file below `dir` (absolute paths), skipping tool and build folders. */
export function tsFiles(dir: string, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(dir)) {
    if (skip.has(e.name)) continue;
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) tsFiles(p, out);
    else if (e.isFile && e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** The cycles of a graph (file → files it imports), each as a sorted list of its files. */
export function cycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's strongly connected components, iterative so deep graphs cannot overflow.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: [string, number][] = [[root, 0]];
    index.set(root, next), low.set(root, next++), stack.push(root), onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const [v, i] = top;
      const edges = graph.get(v) ?? [];
      if (i < edges.length) {
        top[1]++;
        const w = edges[i];
        if (!index.has(w)) {
          index.set(w, next), low.set(w, next++), stack.push(w), onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const u = work[work.length - 1][0];
        low.set(u, Math.min(low.get(u)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1 || edges.includes(v)) found.push(scc.sort());
      }
    }
  }
  return found;
}

/** The repository's import graph, paths relative to `root`. */
export function importGraph(root: string = repoRoot): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(root)) {
    const rel = file.slice(root.length + 1);
    const targets = importsOf(Deno.readTextFileSync(file))
      .map((s) => new URL(s, `file://${file}`).pathname)
      .filter((p) => p.startsWith(root + "/"))
      .map((p) => p.slice(root.length + 1));
    graph.set(rel, targets);
  }
  return graph;
}

if (import.meta.main) {
  const found = cycles(importGraph());
  for (const c of found) console.log(`circular imports: ${c.join(" ↔ ")}`);
  if (found.length === 0) console.log("no circular imports");
  Deno.exit(found.length === 0 ? 0 : 1);
}

import { assertEquals } from "./testing/assert.ts";
import { cycles, importGraph, importsOf } from "./cycles.ts";

Deno.test("importsOf: static imports and re-exports, multi-line, not comments or import()", () => {
  const text = [
    'import { a } from "./a.ts";',
    "import {",
    "  b,",
    '} from "../b.ts";',
    'export * from "./c.ts";',
    'import type { D } from "./d.ts";',
    'import "./e.ts";',
    'import fc from "fast-check";',
    '// import { x } from "./commented.ts";',
    '/* import { y } from "./block.ts"; */',
    'const m = await import("./dynamic.ts");',
    'export const path = "./not_an_import.ts";',
  ].join("\n");
  assertEquals(importsOf(text), ["./a.ts", "../b.ts", "./c.ts", "./d.ts", "./e.ts"]);
});

Deno.test("cycles: finds a two-file cycle, a longer one and a self-import; none in a DAG", () => {
  const g = new Map([
    ["a", ["b"]],
    ["b", ["a", "c"]],
    ["c", ["d"]],
    ["d", ["e"]],
    ["e", ["c"]],
    ["f", ["f"]],
    ["g", ["a"]],
  ]);
  assertEquals(cycles(g).map((c) => c.join(",")).sort(), ["a,b", "c,d,e", "f"]);
  assertEquals(cycles(new Map([["x", ["y", "z"]], ["y", ["z"]], ["z", []]])), []);
});

Deno.test("the repository has no circular imports", () => {
  const graph = importGraph();
  assertEquals(graph.has("scripts/cycles.ts"), true);
  assertEquals(cycles(graph), []);
});

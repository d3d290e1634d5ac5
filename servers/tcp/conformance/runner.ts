/**
 * Runs script files: parse, build a fresh engine, execute, and report pass / fail / error.
 * Also the per-folder summary table and the expected-failures file.
 *
 * @module
 */

import { parseScript } from "./parser.ts";
import { runScript } from "./executor.ts";
import { EngineHost, loadSocketsFactory, socketsFactoryError } from "./engine_host.ts";
import type { Host } from "./host.ts";

/** One script's outcome, as written to --json. */
export interface ScriptResult {
  script: string;
  result: "pass" | "fail" | "error";
  reason?: string;
  /** IP version the script runs with. */
  version: 4 | 6;
}

/** The suite's core folders, run by --gate. */
export const CORE_FOLDERS = [
  "state-event-engine",
  "rcv-data-segments",
  "snd-syn",
  "rcv-icmp",
  "socket-api",
  "snippets",
];

/** All .pkt files under the given files or folders, sorted. */
export function collectScripts(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = Deno.statSync(p);
    if (st.isDirectory) {
      for (const e of Deno.readDirSync(p)) walk(`${p.replace(/\/$/, "")}/${e.name}`);
    } else if (p.endsWith(".pkt") || st.isFile && paths.includes(p)) out.push(p);
  };
  for (const p of paths) walk(p);
  return out.sort();
}

/** A script's name for reports: relative to the suite when inside it. */
export function scriptName(path: string, suiteDir: string | undefined): string {
  if (suiteDir) {
    const root = suiteDir.replace(/\/$/, "") + "/";
    const real = tryReal(path), realRoot = tryReal(suiteDir).replace(/\/$/, "") + "/";
    if (path.startsWith(root)) return path.slice(root.length);
    if (real.startsWith(realRoot)) return real.slice(realRoot.length);
  }
  return path;
}

function tryReal(p: string): string {
  try {
    return Deno.realPathSync(p);
  } catch {
    return p;
  }
}

/** The IP version a script source asks for (ipv4 by default). */
export function scriptVersion(source: string): 4 | 6 {
  return /^--ip_version\s*=\s*ipv6\b/m.test(source) ? 6 : 4;
}

/** Parses and runs one script file on a fresh engine. */
export async function runFile(path: string, name: string): Promise<ScriptResult> {
  let source: string;
  try {
    source = Deno.readTextFileSync(path);
  } catch (e) {
    return {
      script: name,
      result: "error",
      reason: `cannot read: ${(e as Error).message}`,
      version: 4,
    };
  }
  const version = scriptVersion(source);
  let script;
  try {
    script = parseScript(source);
  } catch (e) {
    return {
      script: name,
      result: "error",
      reason: `parse error: ${(e as Error).message}`,
      version,
    };
  }
  const make = await loadSocketsFactory();
  if (!make) {
    return {
      script: name,
      result: "error",
      reason: `engine not available: ${socketsFactoryError()}`,
      version,
    };
  }
  let host: Host;
  try {
    const mtu = script.options.get("mtu");
    host = new EngineHost(make, { mtu: mtu ? parseInt(mtu) : undefined });
  } catch (e) {
    return {
      script: name,
      result: "error",
      reason: `cannot build the engine: ${(e as Error).message.split("\n")[0]}`,
      version,
    };
  }
  const r = runScript(script, host);
  return { script: name, result: r.result, reason: r.reason, version };
}

/** Pass/fail/error counts for one folder and IP version. */
export interface Counts {
  pass: number;
  fail: number;
  error: number;
}

/**
 * The folder a result is summarised under: the first `depth` path components (or the dirname
 * for a path outside the suite).
 */
export function folderOf(name: string, depth = 1): string {
  if (name.startsWith("/")) return name.slice(0, name.lastIndexOf("/")) || "/";
  const parts = name.split("/").slice(0, -1);
  return parts.length === 0 ? "." : parts.slice(0, depth).join("/");
}

/** Counts per folder and version. */
export function summarize(
  results: ScriptResult[],
  depth = 1,
): Map<string, { v4: Counts; v6: Counts }> {
  const m = new Map<string, { v4: Counts; v6: Counts }>();
  for (const r of results) {
    const f = folderOf(r.script, depth);
    let e = m.get(f);
    if (!e) {
      e = { v4: { pass: 0, fail: 0, error: 0 }, v6: { pass: 0, fail: 0, error: 0 } };
      m.set(f, e);
    }
    (r.version === 6 ? e.v6 : e.v4)[r.result]++;
  }
  return m;
}

/** The summary as a text table. */
export function formatSummary(results: ScriptResult[], depth = 1): string {
  const m = summarize(results, depth);
  const rows: string[][] = [[
    "folder",
    "v4 pass",
    "v4 fail",
    "v4 error",
    "v6 pass",
    "v6 fail",
    "v6 error",
    "pass %",
  ]];
  const tot = { v4: { pass: 0, fail: 0, error: 0 }, v6: { pass: 0, fail: 0, error: 0 } };
  const row = (name: string, c: { v4: Counts; v6: Counts }) => {
    const all = c.v4.pass + c.v4.fail + c.v4.error + c.v6.pass + c.v6.fail + c.v6.error;
    const pct = all ? ((100 * (c.v4.pass + c.v6.pass)) / all).toFixed(1) : "-";
    return [
      name,
      ...[c.v4.pass, c.v4.fail, c.v4.error, c.v6.pass, c.v6.fail, c.v6.error].map(String),
      pct,
    ];
  };
  for (const [f, c] of [...m.entries()].sort()) {
    rows.push(row(f, c));
    for (const v of ["v4", "v6"] as const) {
      for (const k of ["pass", "fail", "error"] as const) tot[v][k] += c[v][k];
    }
  }
  rows.push(row("total", tot));
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => i === 0 ? c.padEnd(w[i]) : c.padStart(w[i])).join("  "))
    .join("\n");
}

/** Reads expected_failures.txt: script (relative to the suite) → reason. */
export function readExpected(path: string): Map<string, string> {
  const m = new Map<string, string>();
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return m;
  }
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const sp = t.search(/\s/);
    if (sp < 0) m.set(t, "");
    else m.set(t.slice(0, sp), t.slice(sp).trim());
  }
  return m;
}

/** Writes expected_failures.txt from results (every non-pass, with its reason's first line). */
export function writeExpected(path: string, results: ScriptResult[]): void {
  const lines = [
    "# Scripts of the FreeBSD suite's core folders that do not pass yet, with the reason.",
    "# Generated by `./joyride conformance --gate --write-expected`; one script per line:",
    "# <path relative to the suite> <result>: <reason>",
  ];
  for (const r of [...results].sort((a, b) => a.script.localeCompare(b.script))) {
    if (r.result === "pass") continue;
    const reason = (r.reason ?? "").split("\n")[0].replace(/\s+/g, " ").slice(0, 200);
    lines.push(`${r.script} ${r.result}: ${reason}`);
  }
  Deno.writeTextFileSync(path, lines.join("\n") + "\n");
}

/**
 * The most common reasons among non-passing results, with numbers blanked so that similar
 * reasons group ("win 65535, expected 1027" → "win N, expected N").
 */
export function topReasons(results: ScriptResult[], n = 15): { reason: string; count: number }[] {
  const m = new Map<string, number>();
  for (const r of results) {
    if (r.result === "pass") continue;
    const key = `${r.result}: ` + (r.reason ?? "").split("\n")[0]
      .replace(/^line \d+: /, "")
      .replace(/\d+(\.\d+)?/g, "N");
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([reason, count]) => ({ reason, count }));
}

/** Well-known paths of the repository, resolved from this file's location. */

/** The repository root. */
export const repoRoot: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Resolves a path given on the command line against the directory the user ran ./joyride in. */
export function userPath(p: string): string {
  if (p.startsWith("/")) return p;
  const base = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  return `${base}/${p}`;
}

/**
 * The FreeBSD TCP test suite: $JOYRIDE_CONFORMANCE_DIR, or ../shared/conformance next to the
 * repository. Undefined when neither exists.
 */
export function conformanceSuiteDir(): string | undefined {
  const candidates = [
    Deno.env.get("JOYRIDE_CONFORMANCE_DIR"),
    `${repoRoot}/../shared/conformance/freebsd-tcp-testsuite`,
    "/work/shared/conformance/freebsd-tcp-testsuite",
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isDirectory) return c;
    } catch {
      // not there
    }
  }
  return undefined;
}

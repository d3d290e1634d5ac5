/** Well-known paths of the repository, resolved from this file's location. */

/** The repository root. */
export const repoRoot: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The directory the user ran ./joyride in (the launcher keeps it in JOYRIDE_CWD before it
 * runs deno task from the repository): where `run`, `peer` and `shell` start the command.
 */
export function userCwd(): string {
  return Deno.env.get("JOYRIDE_CWD") ?? Deno.env.get("INIT_CWD") ?? Deno.cwd();
}

/** Resolves a path given on the command line against the directory the user ran ./joyride in. */
export function userPath(p: string): string {
  if (p.startsWith("/")) return p;
  return `${userCwd()}/${p}`;
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

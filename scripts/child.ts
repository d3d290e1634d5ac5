/**
 * Runs a command in the foreground of a launcher (`./joyride run`, `peer`, `shell`) as a shell
 * would: the command's exit status becomes the launcher's, and a signal that ends the launcher
 * reaches the command instead of leaving it running without its parent.
 *
 * - SIGTERM and SIGHUP (`kill PID`, a closed terminal, `timeout`) are passed to the command;
 *   the launcher waits for it and exits with its status.
 * - SIGINT and SIGQUIT too, unless standard input is a terminal: there Ctrl-C and Ctrl-\ reach
 *   the whole foreground process group already, and a second copy would make the command see
 *   two. The launcher then only stays alive, to report how the command ended.
 * - A command ended by signal N gives 128 + N, as a shell reports it (Deno's `code` already
 *   says so); one that cannot be started gives 127 (not found) or 126 (not executable), as
 *   shells do, with the reason on stderr.
 */

const ALWAYS: Deno.Signal[] = ["SIGTERM", "SIGHUP"];
const FROM_TERMINAL: Deno.Signal[] = ["SIGINT", "SIGQUIT"];

/** Spawns `command` (stdio inherited by the caller's options) and waits as described above. */
export async function runForeground(command: Deno.Command, name = "command"): Promise<number> {
  // Listening before the spawn: a signal that comes while it starts is passed on right after.
  let child: Deno.ChildProcess | undefined;
  const early: Deno.Signal[] = [];
  const pass = new Map<Deno.Signal, () => void>();
  const terminal = Deno.stdin.isTerminal();
  for (const sig of [...ALWAYS, ...FROM_TERMINAL]) {
    const forward = !(terminal && FROM_TERMINAL.includes(sig));
    pass.set(sig, () => {
      if (!forward) return;
      if (!child) return void early.push(sig);
      try {
        child.kill(sig);
      } catch {
        // Already gone: its status is on the way.
      }
    });
  }
  for (const [sig, fn] of pass) Deno.addSignalListener(sig, fn);
  try {
    try {
      child = command.spawn();
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) {
        throw e;
      }
      console.error(`joyride: cannot run ${name}: ${(e as Error).message}`);
      return e instanceof Deno.errors.NotFound ? 127 : 126;
    }
    for (const sig of early) pass.get(sig)!();
    return (await child.status).code;
  } finally {
    for (const [sig, fn] of pass) Deno.removeSignalListener(sig, fn);
  }
}

/**
 * `./joyride run -- CMD…` and `./joyride shell`: programs with the shim, attached to a running
 * instance (scripts/cli.ts calls these).
 *
 * - `run`: CMD with `LD_PRELOAD=build/libjoyride.so` and `JOYRIDE_RUNTIME_DIR` naming the
 *   instance. It runs in the caller's network namespace: Joyride sockets go to the TCP/IP
 *   server through shared memory, whatever the namespace; AF_UNIX, netlink and loopback stay
 *   the kernel's (the host's).
 * - `shell`: a shell in a new mount namespace (`unshare -m`) where a file naming the shim is
 *   bind-mounted over /etc/ld.so.preload, so every program started in it uses Joyride with no
 *   wrapper (the paper's system-wide mode). The host's /etc/ld.so.preload is never written:
 *   when it does not exist, the bind mount goes over an empty file created inside the private
 *   namespace only (a tmpfs over /etc would hide the rest of /etc, so the file is made by
 *   mounting a tmpfs on a fresh directory and binding it instead).
 *
 * @module
 */

/** Where the shim is built (by the root Makefile → shim/Makefile). */
export function shimPath(repoRoot: string): string {
  return `${repoRoot}/build/libjoyride.so`;
}

/** The environment that attaches a program to an instance. */
export function shimEnv(repoRoot: string, runtimeDir: string, instance: string) {
  return {
    LD_PRELOAD: shimPath(repoRoot),
    JOYRIDE_INSTANCE: instance,
    JOYRIDE_RUNTIME_DIR: runtimeDir,
  };
}

function checkBuilt(repoRoot: string): void {
  try {
    Deno.statSync(shimPath(repoRoot));
  } catch {
    throw new Error(`cannot run with the shim: ${shimPath(repoRoot)} is not built (make shim)`);
  }
}

/** Runs argv with the shim; resolves to its exit code. */
export async function runWithShim(
  repoRoot: string,
  runtimeDir: string,
  instance: string,
  argv: string[],
): Promise<number> {
  checkBuilt(repoRoot);
  if (argv.length === 0) throw new Error("usage: ./joyride run -- CMD…");
  const { code } = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: shimEnv(repoRoot, runtimeDir, instance),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  return code;
}

/**
 * The script run by `unshare -m` for `./joyride shell`: inside the private mount namespace,
 * /etc/ld.so.preload names the shim — bind-mounted over the host's file when it exists, else
 * written into an overlay of /etc whose upper layer is a temporary directory (the host's /etc
 * is the read-only lower layer and never changes). Then execs the command.
 */
export function shellScript(shim: string): string {
  return [
    "set -e",
    "mount --make-rprivate /",
    'd="$JOYRIDE_SHELL_DIR"',
    'mount -t tmpfs -o size=1m joyride-shell "$d"',
    'mkdir -p "$d/upper" "$d/work"',
    `printf '%s\\n' '${shim}' > "$d/ld.so.preload"`,
    "if [ -e /etc/ld.so.preload ]; then",
    '  mount --bind "$d/ld.so.preload" /etc/ld.so.preload',
    "else",
    '  mount -t overlay joyride-etc -o "lowerdir=/etc,upperdir=$d/upper,workdir=$d/work" /etc',
    '  cp "$d/ld.so.preload" /etc/ld.so.preload',
    "fi",
    'exec "$@"',
  ].join("\n");
}

/** Opens `./joyride shell` (or runs argv inside it); resolves to its exit code. */
export async function shellWithShim(
  repoRoot: string,
  runtimeDir: string,
  instance: string,
  argv: string[],
): Promise<number> {
  checkBuilt(repoRoot);
  const shim = shimPath(repoRoot);
  const cmd = argv.length > 0 ? argv : [Deno.env.get("SHELL") ?? "/bin/bash", "-i"];
  // An empty directory on the host, the mount point of a tmpfs inside the namespace only;
  // removed when the shell ends.
  const dir = Deno.makeTempDirSync({ prefix: "joyride-shell-" });
  const env: Record<string, string> = {
    JOYRIDE_SHELL_DIR: dir,
    JOYRIDE_INSTANCE: instance,
    JOYRIDE_RUNTIME_DIR: runtimeDir,
    PS1: `(joyride ${instance}) \\w\\$ `,
  };
  try {
    const { code } = await new Deno.Command("unshare", {
      args: [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        shellScript(shim),
        "joyride-shell",
        ...cmd,
      ],
      env,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    return code;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

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
import { runForeground } from "../scripts/child.ts";
import { userCwd } from "../scripts/paths.ts";

/** Where the shim is built (by the root Makefile → shim/Makefile). */
export function shimPath(repoRoot: string): string {
  return `${repoRoot}/build/libjoyride.so`;
}

/**
 * The environment that attaches a program to an instance. `preload`, the caller's LD_PRELOAD,
 * is kept, with the shim after it: another interposer (proxychains, a tracer) wraps the
 * socket calls and hands them on to the shim. Replaced, proxychains4 around `joyride run`
 * was silently dropped and its connections went direct (a helper's run).
 */
export function shimEnv(repoRoot: string, runtimeDir: string, instance: string, preload = "") {
  const shim = shimPath(repoRoot);
  const others = preload.split(/[\s:]+/).filter((p) => p !== "" && p !== shim);
  return {
    LD_PRELOAD: [...others, shim].join(" "),
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

/** Finds a command the way execvp would (a name without a slash goes through PATH). */
export function resolveCommand(cmd: string): string | undefined {
  if (cmd.includes("/")) return cmd;
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    const p = `${dir || "."}/${cmd}`;
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * What LD_PRELOAD cannot reach in an executable, detected from its bytes: "static" (an ELF
 * without a PT_INTERP program header: no dynamic loader, so no shim), "go" (Go's build-info
 * magic: the Go runtime makes raw syscalls for its sockets), or undefined (dynamically linked,
 * or not an ELF file, e.g. a script whose interpreter is dynamic).
 */
export function unreachable(bytes: Uint8Array): "static" | "go" | undefined {
  if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c) {
    return undefined;
  }
  if (bytes[4] !== 2 || bytes[5] !== 1) return undefined; // 64-bit little-endian only
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  let interp = false;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > bytes.length) break;
    if (v.getUint32(at, true) === 3) interp = true; // PT_INTERP
  }
  if (!interp) return "static";
  // Go's build info starts with "\xff Go buildinf:".
  const magic = new TextEncoder().encode(" Go buildinf:");
  outer: for (let i = 1; i + magic.length <= bytes.length; i++) {
    if (bytes[i - 1] !== 0xff || bytes[i] !== magic[0]) continue;
    for (let k = 1; k < magic.length; k++) if (bytes[i + k] !== magic[k]) continue outer;
    return "go";
  }
  return undefined;
}

/** A warning for `./joyride run` when the shim cannot see the command's sockets. */
export function reachWarning(cmd: string): string | undefined {
  const path = resolveCommand(cmd);
  if (!path) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return undefined;
  }
  const what = unreachable(bytes);
  if (what === "static") {
    return `joyride: ${path} is statically linked: the shim cannot see its sockets, which stay the kernel's`;
  }
  if (what === "go") {
    return `joyride: ${path} is a Go program: it makes raw system calls the shim cannot see; its sockets stay the kernel's`;
  }
  return undefined;
}

/** Runs argv with the shim; resolves to its exit code. */
export async function runWithShim(
  repoRoot: string,
  runtimeDir: string,
  instance: string,
  argv: string[],
  prefix: string[] = [],
): Promise<number> {
  checkBuilt(repoRoot);
  if (argv.length === 0) throw new Error("usage: ./joyride run -- CMD…");
  const warning = reachWarning(argv[0]);
  if (warning) console.error(warning);
  // `prefix`: a command that execs the program in place (taskset for the apps' CPUs).
  const all = [...prefix, ...argv];
  return await runForeground(
    new Deno.Command(all[0], {
      args: all.slice(1),
      cwd: userCwd(),
      env: shimEnv(repoRoot, runtimeDir, instance, Deno.env.get("LD_PRELOAD")),
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }),
    argv[0],
  );
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
    return await runForeground(
      new Deno.Command("unshare", {
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
        cwd: userCwd(),
        env,
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      }),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

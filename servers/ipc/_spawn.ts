/**
 * Starting the ring peers (native/ipc/ipc_peer.c and _peer.ts) for the cross-process tests
 * and the benchmark. Private to servers/ipc.
 *
 * @module
 */

/** Which implementation runs on the other side. */
export type PeerKind = "c" | "deno";

const repo = new URL("../../", import.meta.url).pathname;
/** The C peer binary, built by native/ipc/Makefile. */
export const cPeerPath = `${repo}build/ipc/ipc_peer`;
const denoPeerPath = new URL("./_peer.ts", import.meta.url).pathname;

/** Builds the C peer if it is missing or older than its sources (make decides). */
export function buildCPeer(): void {
  const r = new Deno.Command("make", {
    args: ["-s", "-C", `${repo}native/ipc`],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!r.success) {
    throw new Error(`Cannot build the C ipc peer: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** Starts a peer of `kind` with `args`; stdout is piped, stderr inherited. */
export function spawnPeer(
  kind: PeerKind,
  args: string[],
  env: Record<string, string> = {},
): Deno.ChildProcess {
  const cmd = kind === "c" ? cPeerPath : Deno.execPath();
  const full = kind === "c" ? args : ["run", "-A", "--quiet", denoPeerPath, ...args];
  return new Deno.Command(cmd, {
    args: full,
    env,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
}

/** Waits for a peer and returns its exit code, signal and stdout. */
export async function finish(
  child: Deno.ChildProcess,
): Promise<{ code: number; signal: Deno.Signal | null; out: string }> {
  const r = await child.output();
  return { code: r.code, signal: r.signal, out: new TextDecoder().decode(r.stdout).trim() };
}

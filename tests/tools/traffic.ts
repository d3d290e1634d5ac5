/**
 * Traffic from the peer host (the Linux kernel) to Joyride's built-in services, for the fault,
 * hostile-network and load tests; and Joyride's counters through `./joyride status --json`.
 * Every function runs `peer_load.py` in the instance's peer namespace and parses its JSON line.
 */
import type { Status } from "../../servers/supervisor/supervisor.ts";
import { repoRoot, run, type TestInstance } from "../_system.ts";

const script = `${repoRoot}/tests/tools/peer_load.py`;
/** Debian's python3 (it has scapy); the peer runs it with `ip netns exec`. */
export const python = "/usr/bin/python3";

/** Result of an echo transfer. */
export interface Echo {
  sent: string;
  got: string;
  len: number;
  secs: number;
  errors: string[];
}

async function peerJson<T>(jr: TestInstance, args: string[], timeoutMs: number): Promise<T> {
  const r = await run(["ip", "netns", "exec", jr.peerNs, python, script, ...args], {
    timeoutMs,
  });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `peer_load.py ${args.join(" ")} failed (exit ${r.code}): ${r.stdout}${r.stderr}`,
    );
  }
}

/** BYTES seeded bytes through the TCP echo (port 7); byte-exact when `sent === got`. */
export function echo(jr: TestInstance, bytes: number, seed: number, timeoutS: number) {
  const a = jr.config.topology.joyrideAddress;
  return peerJson<Echo>(
    jr,
    ["echo", a, "7", String(bytes), String(seed), String(timeoutS)],
    timeoutS * 1000 + 10_000,
  );
}

/** BYTES to the discard service (port 9): upload only. */
export function discard(jr: TestInstance, bytes: number, timeoutS: number) {
  const a = jr.config.topology.joyrideAddress;
  return peerJson<{ sent: number; back: number; secs: number }>(
    jr,
    ["discard", a, "9", String(bytes), String(timeoutS)],
    timeoutS * 1000 + 10_000,
  );
}

/** N connections open at once to the echo, each echoing 64 bytes. */
export function concurrent(jr: TestInstance, n: number, timeoutS: number) {
  const a = jr.config.topology.joyrideAddress;
  return peerJson<{ ok: number; errors: string[]; secs: number }>(
    jr,
    ["concurrent", a, "7", String(n), String(timeoutS)],
    timeoutS * 1000 + 10_000,
  );
}

/** N short connections in a row to the echo (connect, 32 bytes, close). */
export function sequential(jr: TestInstance, n: number, timeoutS: number) {
  const a = jr.config.topology.joyrideAddress;
  return peerJson<{ ok: number; errors: string[]; secs: number }>(
    jr,
    ["sequential", a, "7", String(n), String(timeoutS)],
    n * 20 + timeoutS * 1000 + 60_000,
  );
}

/** COUNT datagrams of SIZE bytes to the UDP echo; `ok` came back equal. */
export function udpEcho(jr: TestInstance, size: number, count: number) {
  const a = jr.config.topology.joyrideAddress;
  return peerJson<{ ok: number; secs: number }>(
    jr,
    ["udp", a, "7", String(size), String(count)],
    count * 8_000 + 10_000,
  );
}

/** `./joyride status --json` of the instance. */
export async function status(jr: TestInstance): Promise<Status> {
  const r = await jr.cli(["status", "--json"], 30_000);
  if (r.code !== 0) throw new Error(`Cannot read status: ${r.stderr}`);
  return JSON.parse(r.stdout) as Status;
}

/** The TCP/IP server's stats (server counters and `engine` counters), from a status. */
export function tcpStats(s: Status): Record<string, unknown> {
  const tcp = s.servers.find((x) => x.name === "tcp");
  return (tcp?.stats ?? {}) as Record<string, unknown>;
}

/** The engine's counters (name → value; absent means 0). */
export function engineCounters(s: Status): Record<string, number> {
  return (tcpStats(s).engine ?? {}) as Record<string, number>;
}

/** Resident set size of a process in kB (VmRSS), or undefined when it is gone. */
export function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Pids and states of the servers, for "every server stayed up" checks. */
export function servers(
  s: Status,
): { name: string; pid?: number; state: string; restarts: number }[] {
  return s.servers.map((x) => ({
    name: x.name,
    pid: x.pid ?? undefined,
    state: String(x.state),
    restarts: Number(x.restarts ?? 0),
  }));
}

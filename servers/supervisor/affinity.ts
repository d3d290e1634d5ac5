/**
 * CPU affinity of the servers (config `affinity`, issue 9).
 *
 * On a machine with few CPUs the scheduler moves the spinning TCP/IP and NIC servers, the app
 * and the kernel's softirq work between CPUs; the supervisor can pin each server to a CPU list
 * instead. `affinity.mode`:
 *
 * - `"auto"` (default): pin only when the machine has exactly `affinity.autoCpus` CPUs (2), with
 *   the lists in `affinity.servers`; on any other machine leave placement to the scheduler.
 * - `"on"`: always pin with `affinity.servers` (CPUs the machine lacks are dropped; a list left
 *   empty means not pinned).
 * - `"off"`: never pin.
 *
 * `affinity.servers` maps a server name (naming, nic, tcp) to a CPU list in taskset's syntax
 * ("0", "1", "0-1", "0,2"); a server not named is not pinned. Pinning is done by starting the
 * server under `taskset -c LIST` (taskset execs in place, so the pid stays the server's), which
 * covers all of its threads. `apps` names the CPUs `./joyride run` starts programs on (the
 * same rule): an app beside its own instance's servers wakes them without a hop to the other
 * CPU (issue 9, two instances joined by memif on 2 CPUs, iperf3 through each, 6 s runs
 * alternated: 5.88/6.90 Gbit/s with the apps unpinned, 7.12/7.80 each on its instance's CPU,
 * 4.71/4.97 each on the other instance's; then through `./joyride run` and memifPair's `apps`,
 * four alternations: 6.15–7.43 Gbit/s, mean 6.91, against 5.29–7.36, mean 6.25 unpinned).
 */
import { ConfigError } from "./config_error.ts";

/** The `affinity` section of the configuration. */
export interface AffinityConfig {
  mode: "auto" | "on" | "off";
  /** The CPU count at which "auto" pins. */
  autoCpus: number;
  /** Server name → CPU list ("0", "0-1", "0,2"). */
  servers: Record<string, string>;
}

/**
 * Default: nothing pinned ("auto" with no server named). On the 2-vCPU machine pinning the TCP/IP
 * server to CPU 0 and the NIC server to CPU 1 did not change single-flow throughput measurably
 * (README, issue 9); name servers here to pin them.
 */
export function defaultAffinity(): AffinityConfig {
  return { mode: "auto", autoCpus: 2, servers: {} };
}

const listPattern = /^\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?){0,63}$/;

/** Parses a CPU list ("0", "1-3", "0,2-3") into sorted distinct CPU numbers; undefined if bad. */
export function parseCpuList(s: string): number[] | undefined {
  if (!listPattern.test(s)) return undefined;
  const out = new Set<number>();
  for (const part of s.split(",")) {
    const [a, b] = part.split("-").map(Number);
    const hi = b ?? a;
    if (hi < a) return undefined;
    for (let i = a; i <= hi; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** Checks an `affinity` section (already merged over the defaults); throws a ConfigError. */
export function validateAffinity(a: AffinityConfig): void {
  if (!["auto", "on", "off"].includes(a.mode)) {
    throw new ConfigError("affinity.mode", `must be "auto", "on" or "off", got ${a.mode}`);
  }
  if (!Number.isInteger(a.autoCpus) || a.autoCpus < 1 || a.autoCpus > 4096) {
    throw new ConfigError("affinity.autoCpus", `must be an integer in 1..4096, got ${a.autoCpus}`);
  }
  if (typeof a.servers !== "object" || a.servers === null || Array.isArray(a.servers)) {
    throw new ConfigError("affinity.servers", "must be an object of server name → CPU list");
  }
  for (const [k, v] of Object.entries(a.servers)) {
    if (!["naming", "nic", "tcp", "apps"].includes(k)) {
      throw new ConfigError(`affinity.servers.${k}`, "is not a server (naming, nic, tcp) or apps");
    }
    if (typeof v !== "string" || parseCpuList(v) === undefined) {
      throw new ConfigError(
        `affinity.servers.${k}`,
        `must be a CPU list like "0", "0-1" or "0,2", got ${JSON.stringify(v)}`,
      );
    }
  }
}

/**
 * The CPUs to pin `server` to on a machine with `cpus` CPUs, or undefined for no pinning.
 * CPUs the machine lacks are dropped; nothing left → not pinned.
 */
export function serverCpus(a: AffinityConfig, server: string, cpus: number): number[] | undefined {
  if (a.mode === "off" || (a.mode === "auto" && cpus !== a.autoCpus)) return undefined;
  const list = a.servers[server];
  if (list === undefined) return undefined;
  const mine = (parseCpuList(list) ?? []).filter((c) => c < cpus);
  return mine.length > 0 && mine.length < cpus ? mine : undefined;
}

/** `cmd` started on CPU `cpu` (taskset), or as it is on a machine without that CPU. */
export function onCpu(cpu: number, cmd: string[], cpus = navigator.hardwareConcurrency): string[] {
  return cpu < cpus ? ["taskset", "-c", String(cpu), ...cmd] : cmd;
}

/** The command prefix that starts a server pinned (`taskset -c LIST`), or [] for none. */
export function affinityPrefix(a: AffinityConfig, server: string, cpus: number): string[] {
  const mine = serverCpus(a, server, cpus);
  return mine ? ["taskset", "-c", mine.join(",")] : [];
}

/** Whether the TCP/IP server is pinned to a CPU its NIC server is pinned to as well. */
export function sharesNicCpu(a: AffinityConfig, cpus: number): boolean {
  const tcp = serverCpus(a, "tcp", cpus), nic = serverCpus(a, "nic", cpus);
  return tcp !== undefined && nic !== undefined && tcp.some((c) => nic.includes(c));
}

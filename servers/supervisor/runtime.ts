/**
 * The runtime directory of an instance, `<runtimeDir>/<instance>/` (default
 * /run/joyride/default/):
 *
 * | path | what |
 * | --- | --- |
 * | `supervisor.sock` | control socket (`./joyride status/restart/stop`, server heartbeats) |
 * | `supervisor.pid` | the supervisor's pid |
 * | `supervisor.log` | the detached supervisor's output |
 * | `naming.sock` | the naming server's socket |
 * | `registry.json` | the naming registry, saved after every change (survives naming restarts) |
 * | `config.json` | the effective configuration every server of the instance reads |
 * | `log/<server>.log` | each server's stdout and stderr, appended across restarts |
 *
 * Shared-memory files of the instance live in /dev/shm with the instance in their name
 * (see `shmPrefixes`). `./joyride stop` removes all of it.
 */
import type { Config } from "./config.ts";

/** Paths of an instance's runtime directory. */
export interface RuntimePaths {
  dir: string;
  control: string;
  pidFile: string;
  supervisorLog: string;
  naming: string;
  registry: string;
  config: string;
  logDir: string;
  /** Joyride's addresses, one "IFNAME ADDRESS/PREFIX" line each, for the shim's getifaddrs. */
  addresses: string;
}

/** The runtime paths of the configured instance. */
export function runtimePaths(config: Pick<Config, "runtimeDir" | "instance">): RuntimePaths {
  const dir = `${config.runtimeDir}/${config.instance}`;
  return {
    dir,
    control: `${dir}/supervisor.sock`,
    pidFile: `${dir}/supervisor.pid`,
    supervisorLog: `${dir}/supervisor.log`,
    naming: `${dir}/naming.sock`,
    registry: `${dir}/registry.json`,
    config: `${dir}/config.json`,
    logDir: `${dir}/log`,
    addresses: `${dir}/addresses`,
  };
}

/**
 * The `addresses` file's text: Joyride's IPv4 and (when configured) IPv6 address with their
 * prefixes, on the interface name the instance's namespace gives its NIC (shim/ifaddrs.c lists
 * them in getifaddrs, where the kernel's interfaces have none of them).
 */
export function addressesText(
  t: Pick<Config["topology"], "joyrideAddress" | "prefixLength" | "joyrideAddress6">,
  ifName: string,
): string {
  const lines = [`${ifName} ${t.joyrideAddress}/${t.prefixLength}`];
  if (t.joyrideAddress6) {
    const a6 = t.joyrideAddress6.includes("/") ? t.joyrideAddress6 : `${t.joyrideAddress6}/64`;
    lines.push(`${ifName} ${a6}`);
  }
  return lines.join("\n") + "\n";
}

/** Log file of one server. */
export function serverLog(paths: RuntimePaths, server: string): string {
  return `${paths.logDir}/${server}.log`;
}

/**
 * Name prefixes (in /dev/shm) of the instance's shared-memory files. Servers that create
 * files there name them with one of these, so `stop` can find and remove them.
 */
export function shmPrefixes(instance: string): string[] {
  return [`joyride-${instance}-`, `joyride.${instance}.`, `jr-${instance}-`];
}

/** The instance's shared-memory files that exist now (full paths). */
export function shmFiles(instance: string, shmDir = "/dev/shm"): string[] {
  const prefixes = shmPrefixes(instance);
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync(shmDir)) {
      if (prefixes.some((p) => e.name.startsWith(p))) out.push(`${shmDir}/${e.name}`);
    }
  } catch {
    // no /dev/shm
  }
  return out.sort();
}

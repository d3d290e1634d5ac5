/**
 * Joyride's configuration: one JSON file, every field optional, defaults below.
 *
 * Looked up in this order: `--config FILE`, `$JOYRIDE_CONFIG`, `joyride.json` at the
 * repository root; none: the defaults. A bad file fails with a message naming the field:
 * `Cannot load configuration joyride.json: topology.mtu must be an integer in 576..9000, got 70000`.
 *
 * @example joyride.json
 * ```json
 * { "topology": { "mtu": 9000 }, "tcp": { "services": { "discard": false } } }
 * ```
 */
import { policyProblem } from "../naming/policy.ts";
import { type AffinityConfig, defaultAffinity, validateAffinity } from "./affinity.ts";

/** The whole configuration. */
export interface Config {
  /** Instance name: separates namespaces, runtime directory and shared memory of instances. */
  instance: string;
  /** Parent of the per-instance runtime directories (`<runtimeDir>/<instance>/`). */
  runtimeDir: string;
  topology: {
    /** Joyride's address on the default topology. */
    joyrideAddress: string;
    /** The peer host's address (the Linux kernel's stack). */
    peerAddress: string;
    /** Prefix length of the shared subnet. */
    prefixLength: number;
    /** Joyride's IPv6 address with its prefix length, in fd00:198:18::/64; "" for none. */
    joyrideAddress6: string;
    /** The peer's IPv6 address with its prefix length (same prefix); "" for none. */
    peerAddress6: string;
    mtu: number;
    /** MAC of Joyride's veth end (the NIC server's port); locally administered. */
    joyrideMac: string;
    /** MAC of the peer's veth end. */
    peerMac: string;
  };
  /**
   * The NIC server's options; `port` (and `memif` when the port is memif) are checked here,
   * other fields belong to the NIC server.
   */
  nic: { port: string; [key: string]: unknown };
  /** App policy: limits, privileged-port grants, per-app stack (servers/naming/policy.ts). */
  policy: Record<string, unknown>;
  tcp: {
    /** Built-in diagnostic services on Joyride's address (BSD inetd's). */
    services: { echo: boolean; discard: boolean };
    /** How long the loop spins on an empty ring before it sleeps. */
    spinMicros: number;
    /**
     * Connections the state region holds for restarts (default 4096, 2 MB of ring each while
     * they hold data). More are served, but a restart resets them (the app sees ECONNRESET).
     */
    stateRecords: number;
    /**
     * After a restart, how long apps have to take their connections back (default 60 s): then
     * the rest is closed, reset where the app had not closed it (persist.ts reapUnclaimed).
     */
    reapSeconds: number;
    /**
     * How long the sockets of an app that ended may drain what they hold (default 60 s): then
     * they are reset and the app's region is let go (service.ts #reap).
     */
    drainSeconds: number;
  };
  /** CPU pinning of the servers (affinity.ts; default: pinned on 2 CPUs only). */
  affinity: AffinityConfig;
  supervisor: {
    /** How often servers report to the supervisor. */
    heartbeatMs: number;
    /** A server silent for this long is killed and restarted. */
    heartbeatTimeoutMs: number;
    /** Restart backoff: first delay, doubled on each restart within a minute, up to max. */
    backoffMinMs: number;
    backoffMaxMs: number;
    /** A server that is not ready after this long counts as failed to start. */
    startTimeoutMs: number;
    /** Grace between SIGTERM and SIGKILL when stopping a server. */
    stopTimeoutMs: number;
  };
}

/** Port kinds the NIC server knows. */
export const nicPortKinds = ["af_packet", "af_xdp", "memif", "tap", "pci"] as const;

/**
 * A memif link between two Joyride instances (`nic.port` "memif", `nic.memif`): one instance
 * is the memif server (it creates the socket), the other the client. There is no veth and no
 * kernel peer: the other end is the other instance's NIC server.
 */
export interface MemifLink {
  role: "server" | "client";
  /** The memif control socket both instances name (a path; the server creates it). */
  socket: string;
  /** memif interface id (both ends give the same). */
  id: number;
  /**
   * Both ends are Joyride NIC servers that carry TSO frames whole over the link, checksums
   * left partial (the NIC server's `--memif-gso`); both must say so (default false).
   */
  gso: boolean;
}

/**
 * The memif link of a configuration whose `nic.port` is "memif" (defaults: role server, socket
 * `<runtimeDir>/memif.sock`, id 0), undefined for other ports. Throws a ConfigError naming the
 * field for a bad `nic.memif`.
 */
export function memifLink(c: Config): MemifLink | undefined {
  if (c.nic.port !== "memif") return undefined;
  const m = c.nic.memif ?? {};
  if (typeof m !== "object" || m === null || Array.isArray(m)) {
    throw new ConfigError("nic.memif", `must be an object, got ${show(m)}`);
  }
  const r = m as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!["role", "socket", "id", "gso"].includes(k)) {
      throw new ConfigError(`nic.memif.${k}`, "is not a known field");
    }
  }
  const role = r.role ?? "server";
  if (role !== "server" && role !== "client") {
    throw new ConfigError("nic.memif.role", `must be "server" or "client", got ${show(role)}`);
  }
  const socket = r.socket ?? `${c.runtimeDir}/memif.sock`;
  if (typeof socket !== "string" || !/^\/[A-Za-z0-9._/-]{1,100}$/.test(socket)) {
    throw new ConfigError(
      "nic.memif.socket",
      `must be an absolute path of letters, digits and ._-/ (≤ 100), got ${show(socket)}`,
    );
  }
  const id = r.id ?? 0;
  int(id, "nic.memif.id", 0, 65535);
  const gso = r.gso ?? false;
  if (typeof gso !== "boolean") {
    throw new ConfigError("nic.memif.gso", `must be true or false, got ${show(gso)}`);
  }
  return { role, socket, id: id as number, gso };
}

/**
 * Configuration inputs (JSON file format) for two instances joined by memif (issue 9's
 * Joyride↔Joyride): `a` is the memif server at 198.18.0.2, `b` the client at 198.18.0.1, each
 * the other's peer, with distinct MACs. `extra` is merged into both (e.g. `tcp`).
 *
 * On a machine with exactly 2 CPUs each instance's NIC and TCP/IP servers share one CPU, `a`
 * CPU 0 and `b` CPU 1 (affinity "auto"): the scheduler otherwise moves four spinning servers
 * and two apps between the two CPUs. Issue 9, iperf3 between the two, 5 interleaved runs each:
 * 4.2–5.2 Gbit/s (mean 4.5) unpinned, 4.7–6.1 (mean 5.5) pinned.
 */
export function memifPair(
  a: string,
  b: string,
  socket: string,
  extra: Record<string, unknown> = {},
): [Record<string, unknown>, Record<string, unknown>] {
  const d = defaultConfig().topology;
  const one = (
    instance: string,
    role: "server" | "client",
    addr: string,
    peer: string,
    mac: string,
    peerMac: string,
    addr6: string,
    peer6: string,
  ) => ({
    ...extra,
    instance,
    topology: {
      joyrideAddress: addr,
      peerAddress: peer,
      joyrideMac: mac,
      peerMac,
      joyrideAddress6: addr6,
      peerAddress6: peer6,
    },
    nic: { port: "memif", memif: { role, socket, gso: true } },
    affinity: extra.affinity ?? {
      mode: "auto",
      autoCpus: 2,
      servers: {
        nic: role === "server" ? "0" : "1",
        tcp: role === "server" ? "0" : "1",
        apps: role === "server" ? "0" : "1",
      },
    },
  });
  return [
    one(
      a,
      "server",
      d.joyrideAddress,
      d.peerAddress,
      d.joyrideMac,
      d.peerMac,
      d.joyrideAddress6,
      d.peerAddress6,
    ),
    one(
      b,
      "client",
      d.peerAddress,
      d.joyrideAddress,
      d.peerMac,
      d.joyrideMac,
      d.peerAddress6,
      d.joyrideAddress6,
    ),
  ];
}

/** The defaults. */
export function defaultConfig(): Config {
  return {
    instance: "default",
    runtimeDir: "/run/joyride",
    topology: {
      joyrideAddress: "198.18.0.2",
      peerAddress: "198.18.0.1",
      prefixLength: 24,
      joyrideAddress6: "fd00:198:18::2/64",
      peerAddress6: "fd00:198:18::1/64",
      mtu: 1500,
      joyrideMac: "02:4a:52:00:00:02",
      peerMac: "02:4a:52:00:00:01",
    },
    nic: { port: "af_packet" },
    tcp: {
      services: { echo: true, discard: true },
      spinMicros: 50,
      stateRecords: 4096,
      reapSeconds: 60,
      drainSeconds: 60,
    },
    policy: {},
    affinity: defaultAffinity(),
    supervisor: {
      heartbeatMs: 4000,
      heartbeatTimeoutMs: 10000,
      backoffMinMs: 250,
      backoffMaxMs: 8000,
      startTimeoutMs: 30000,
      stopTimeoutMs: 3000,
    },
  };
}

import { ConfigError } from "./config_error.ts";
export { ConfigError };

/** Objects whose unknown fields are kept (they belong to another server). */
const openObjects = new Set(["nic", "policy", "affinity.servers"]);

/** Merges `input` over `defaults`, checking types and rejecting unknown fields. */
function merge(defaults: unknown, input: unknown, path: string): unknown {
  if (typeof defaults === "object" && defaults !== null) {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw new ConfigError(path || "configuration", `must be an object, got ${show(input)}`);
    }
    const out: Record<string, unknown> = { ...defaults as Record<string, unknown> };
    for (const [k, v] of Object.entries(input)) {
      const field = path ? `${path}.${k}` : k;
      if (!(k in out)) {
        if (openObjects.has(path)) {
          out[k] = v;
          continue;
        }
        throw new ConfigError(field, "is not a known field");
      }
      out[k] = merge(out[k], v, field);
    }
    return out;
  }
  if (typeof input !== typeof defaults) {
    throw new ConfigError(path, `must be a ${typeof defaults}, got ${show(input)}`);
  }
  return input;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function int(c: unknown, field: string, lo: number, hi: number): void {
  if (!Number.isInteger(c) || (c as number) < lo || (c as number) > hi) {
    throw new ConfigError(field, `must be an integer in ${lo}..${hi}, got ${show(c)}`);
  }
}

/** Parses dotted-quad IPv4; undefined if malformed. */
export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

/** The benchmarking range every Joyride address must come from (RFC 2544): 198.18.0.0/15. */
/** Parses an IPv6 address (no zone, no embedded IPv4) into its eight groups. */
export function parseIpv6(s: string): number[] | undefined {
  if (!/^[0-9a-f:]+$/i.test(s) || s.split("::").length > 2) return undefined;
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const part = (x: string) => (x === "" ? [] : x.split(":"));
  const h = part(head), t = tail === undefined ? [] : part(tail);
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  if ((tail === undefined && h.length !== 8) || fill < 0 || (tail !== undefined && fill < 1)) {
    return undefined;
  }
  const g = [...h, ...Array(fill).fill("0"), ...t];
  if (g.some((x) => !/^[0-9a-f]{1,4}$/i.test(x))) return undefined;
  return g.map((x) => parseInt(x, 16));
}

/** Checks `topology.joyrideAddress6`/`peerAddress6`: "ADDR/LEN" in fd00:198:18::/64, or "". */
function checkIpv6(t: Config["topology"]): void {
  const f6 = ["joyrideAddress6", "peerAddress6"] as const;
  if (t.joyrideAddress6 === "" && t.peerAddress6 === "") return;
  const parsed: { g: number[]; len: number }[] = [];
  for (const f of f6) {
    const [a, len, extra] = t[f].split("/");
    const g = parseIpv6(a ?? "");
    const n = Number(len);
    if (!g || extra !== undefined || !Number.isInteger(n) || n < 64 || n > 126) {
      throw new ConfigError(
        `topology.${f}`,
        `must be an IPv6 address with a prefix length of 64..126 (or "" with the other ""), ` +
          `got ${show(t[f])}`,
      );
    }
    if (g[0] !== 0xfd00 || g[1] !== 0x198 || g[2] !== 0x18 || g[3] !== 0) {
      throw new ConfigError(`topology.${f}`, `must be in fd00:198:18::/64, got ${t[f]}`);
    }
    parsed.push({ g, len: n });
  }
  const [j, p] = parsed;
  if (j.len !== p.len) {
    throw new ConfigError("topology.peerAddress6", "must have joyrideAddress6's prefix length");
  }
  const bits = (g: number[]) => g.reduce((acc, x) => (acc << 16n) | BigInt(x), 0n);
  const mask = ((1n << BigInt(j.len)) - 1n) << BigInt(128 - j.len);
  if ((bits(j.g) & mask) !== (bits(p.g) & mask)) {
    throw new ConfigError(
      "topology.peerAddress6",
      `must be in the same /${j.len} as joyrideAddress6`,
    );
  }
  if (bits(j.g) === bits(p.g)) {
    throw new ConfigError("topology.peerAddress6", "must differ from joyrideAddress6");
  }
}

function inBenchRange(a: number): boolean {
  return (a >>> 17) === (0xc6120000 >>> 17);
}

const macPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const instancePattern = /^[a-z][a-z0-9]{0,19}$/;

/** Validates field values beyond their types. */
export function validate(c: Config): Config {
  if (!instancePattern.test(c.instance)) {
    throw new ConfigError(
      "instance",
      `must be 1-20 lower-case letters or digits, starting with a letter, got ${show(c.instance)}`,
    );
  }
  if (!c.runtimeDir.startsWith("/")) {
    throw new ConfigError("runtimeDir", `must be an absolute path, got ${show(c.runtimeDir)}`);
  }
  const t = c.topology;
  int(t.prefixLength, "topology.prefixLength", 16, 30);
  int(t.mtu, "topology.mtu", 576, 9000);
  const addrs: Record<string, number> = {};
  for (const f of ["joyrideAddress", "peerAddress"] as const) {
    const a = parseIpv4(t[f]);
    if (a === undefined) {
      throw new ConfigError(`topology.${f}`, `must be an IPv4 address, got ${show(t[f])}`);
    }
    if (!inBenchRange(a)) {
      throw new ConfigError(`topology.${f}`, `must be in 198.18.0.0/15, got ${t[f]}`);
    }
    addrs[f] = a;
  }
  const mask = (~0 << (32 - t.prefixLength)) >>> 0;
  if (((addrs.joyrideAddress ^ addrs.peerAddress) & mask) !== 0) {
    throw new ConfigError(
      "topology.peerAddress",
      `must be in the same /${t.prefixLength} as joyrideAddress`,
    );
  }
  if (addrs.joyrideAddress === addrs.peerAddress) {
    throw new ConfigError("topology.peerAddress", "must differ from joyrideAddress");
  }
  for (const f of ["joyrideMac", "peerMac"] as const) {
    if (!macPattern.test(t[f]) || (parseInt(t[f].slice(0, 2), 16) & 1) !== 0) {
      throw new ConfigError(
        `topology.${f}`,
        `must be a unicast MAC like 02:00:00:00:00:01 (lower case), got ${show(t[f])}`,
      );
    }
  }
  checkIpv6(t);
  if (t.joyrideMac === t.peerMac) {
    throw new ConfigError("topology.peerMac", "must differ from joyrideMac");
  }
  if (!(nicPortKinds as readonly string[]).includes(c.nic.port)) {
    throw new ConfigError(
      "nic.port",
      `must be one of ${nicPortKinds.join(", ")}, got ${show(c.nic.port)}`,
    );
  }
  memifLink(c);
  int(c.tcp.spinMicros, "tcp.spinMicros", 0, 1_000_000);
  int(c.tcp.stateRecords, "tcp.stateRecords", 1, 65_536);
  int(c.tcp.reapSeconds, "tcp.reapSeconds", 1, 86_400);
  int(c.tcp.drainSeconds, "tcp.drainSeconds", 1, 86_400);
  validateAffinity(c.affinity);
  const pp = policyProblem(c.policy); // checked field by field in servers/naming/policy.ts
  if (pp) throw new ConfigError(pp.field, pp.reason);
  const s = c.supervisor;
  for (const f of Object.keys(s) as (keyof Config["supervisor"])[]) {
    int(s[f], `supervisor.${f}`, 1, 3_600_000);
  }
  if (s.heartbeatTimeoutMs <= 2 * s.heartbeatMs) {
    throw new ConfigError("supervisor.heartbeatTimeoutMs", "must be over twice heartbeatMs");
  }
  if (s.backoffMaxMs < s.backoffMinMs) {
    throw new ConfigError("supervisor.backoffMaxMs", "must not be below backoffMinMs");
  }
  return c;
}

/** Builds a configuration from parsed JSON (defaults filled in), or throws a ConfigError. */
export function configFrom(input: unknown): Config {
  return validate(merge(defaultConfig(), input, "") as Config);
}

/** Parses configuration text; errors name the source and the field. */
export function parseConfig(text: string, source: string): Config {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `Cannot load configuration ${source}: not valid JSON (${(e as Error).message})`,
    );
  }
  try {
    return configFrom(data);
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new Error(`Cannot load configuration ${source}: ${e.message}`);
    }
    throw e;
  }
}

/** Where the configuration comes from: an explicit path, $JOYRIDE_CONFIG, or the repo's file. */
export function configPath(explicit: string | undefined, repoRoot: string): string | undefined {
  if (explicit) return explicit;
  const env = Deno.env.get("JOYRIDE_CONFIG");
  if (env) return env;
  const p = `${repoRoot}/joyride.json`;
  try {
    Deno.statSync(p);
    return p;
  } catch {
    return undefined;
  }
}

/**
 * Loads the configuration (defaults if there is no file); `instance`, when given (from
 * `--instance`), overrides the file's.
 */
export function loadConfig(path: string | undefined, instance?: string): Config {
  let c: Config;
  if (path) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      throw new Error(`Cannot load configuration ${path}: ${(e as Error).message}`);
    }
    c = parseConfig(text, path);
  } else c = configFrom({});
  if (instance !== undefined) {
    c.instance = instance;
    try {
      validate(c);
    } catch (e) {
      if (e instanceof ConfigError) throw new Error(`Cannot use --instance: ${e.message}`);
      throw e;
    }
  }
  return c;
}

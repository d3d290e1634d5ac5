/**
 * The naming server's registry of live servers: label → endpoint and generation.
 *
 * Plain data and functions, no I/O. A label's generation goes up by one on every registration
 * and never goes back, also across restarts of the naming server (the registry is saved and
 * loaded as JSON), so a peer that sees a generation change knows the server behind a label is
 * a new incarnation and re-resolves.
 */

/** Where a server is reached (schema/naming.capnp `Endpoint`). */
export interface Endpoint {
  /** "unixSocket": `path` is a Unix socket; "ring": a ring in a shared-memory region. */
  kind: "unixSocket" | "ring";
  /** Socket path, or the region's file (e.g. the NIC region in /dev/shm). */
  path: string;
  regionId: number;
  ringOffset: number;
}

/** An endpoint with defaults filled in. */
export function endpoint(kind: Endpoint["kind"], path: string): Endpoint {
  return { kind, path, regionId: 0, ringOffset: 0 };
}

/** One registered server. */
export interface Entry {
  /** Who the server is, e.g. "tcp", "nic". */
  label: string;
  /** How to reach it. */
  endpoint: Endpoint;
  /** Incarnation number of this label, starting at 1. */
  generation: number;
  /** Process id, for status only: peers never use it to find a server. */
  pid: number;
  /** Wall-clock milliseconds of the registration. */
  registeredAt: number;
  /** False once the server unregistered or its connection to naming closed. */
  alive: boolean;
}

/** The registry: entries by label. */
export interface Registry {
  entries: Map<string, Entry>;
}

/** An empty registry. */
export function emptyRegistry(): Registry {
  return { entries: new Map() };
}

const labelPattern = /^[a-z][a-z0-9_.:-]{0,63}$/;

/** Checks a label; returns the reason it is bad, or undefined if it is good. */
export function badLabel(label: unknown): string | undefined {
  if (typeof label !== "string") return "label must be a string";
  if (!labelPattern.test(label)) return `label "${label}" must match ${labelPattern.source}`;
  return undefined;
}

/**
 * Registers (or re-registers) a label. `generation` is the incarnation number the server was
 * given by the supervisor; 0 lets the registry pick the next one. An announcement older than
 * the registered generation is stale (a dead incarnation's) and refused; the same generation
 * again (a server re-announcing after a restart of the naming server) keeps the entry.
 */
export function register(
  reg: Registry,
  label: string,
  ep: Endpoint,
  pid: number,
  now: number,
  generation = 0,
): Entry | "stale" {
  const prev = reg.entries.get(label);
  const prevGen = prev?.generation ?? 0;
  if (generation !== 0 && generation < prevGen) return "stale";
  const entry: Entry = {
    label,
    endpoint: { ...ep },
    generation: generation !== 0 ? generation : prevGen + 1,
    pid,
    registeredAt: prev && generation === prevGen ? prev.registeredAt : now,
    alive: true,
  };
  reg.entries.set(label, entry);
  return entry;
}

/**
 * Marks a label dead if it is still at the given generation (a late goodbye from an old
 * incarnation must not kill the new one). Returns whether anything changed.
 */
export function markDead(reg: Registry, label: string, generation: number): boolean {
  const e = reg.entries.get(label);
  if (!e || e.generation !== generation || !e.alive) return false;
  e.alive = false;
  return true;
}

/** The live entry of a label, if any. */
export function resolve(reg: Registry, label: string): Entry | undefined {
  const e = reg.entries.get(label);
  return e && e.alive ? e : undefined;
}

/** All entries, sorted by label. */
export function list(reg: Registry): Entry[] {
  return [...reg.entries.values()].sort((a, b) => a.label < b.label ? -1 : 1);
}

/** Serialises for the save file. */
export function toJson(reg: Registry): string {
  return JSON.stringify({ version: 1, entries: list(reg) }, null, 1);
}

/**
 * Loads a saved registry (what survives a restart of the naming server): entries keep their
 * generation and liveness; live servers reconnect and resume their registration.
 * Malformed entries are skipped.
 */
export function fromJson(text: string): Registry {
  const reg = emptyRegistry();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return reg;
  }
  const entries = (data as { entries?: unknown })?.entries;
  if (!Array.isArray(entries)) return reg;
  for (const e of entries) {
    const ep = e?.endpoint;
    if (
      typeof e !== "object" || e === null || badLabel(e.label) ||
      typeof ep !== "object" || ep === null || (ep.kind !== "unixSocket" && ep.kind !== "ring") ||
      typeof ep.path !== "string" || !Number.isSafeInteger(e.generation) || e.generation < 1
    ) continue;
    reg.entries.set(e.label, {
      label: e.label,
      endpoint: {
        kind: ep.kind,
        path: ep.path,
        regionId: Number.isSafeInteger(ep.regionId) ? ep.regionId : 0,
        ringOffset: Number.isSafeInteger(ep.ringOffset) ? ep.ringOffset : 0,
      },
      generation: e.generation,
      pid: Number.isSafeInteger(e.pid) ? e.pid : 0,
      registeredAt: typeof e.registeredAt === "number" ? e.registeredAt : 0,
      alive: typeof e.alive === "boolean" ? e.alive : false,
    });
  }
  return reg;
}

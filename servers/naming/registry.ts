/**
 * The naming server's registry of live servers: label → endpoint and generation.
 *
 * Plain data and functions, no I/O. A label's generation goes up by one on every registration
 * and never goes back, also across restarts of the naming server (the registry is saved and
 * loaded as JSON), so a peer that sees a generation change knows the server behind a label is
 * a new incarnation and re-resolves.
 */

/** One registered server. */
export interface Entry {
  /** Who the server is, e.g. "tcp", "nic". */
  label: string;
  /** How to reach it: an opaque string (a socket path, a region name …). */
  endpoint: string;
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
 * Registers (or re-registers) a label; returns the new entry with its new generation.
 *
 * `resume` is for a server that was registered before the naming server restarted: if it
 * names the current generation and the pid matches, the server keeps its generation (it is the
 * same incarnation, peers need not re-resolve).
 */
export function register(
  reg: Registry,
  label: string,
  endpoint: string,
  pid: number,
  now: number,
  resume?: number,
): Entry {
  const prev = reg.entries.get(label);
  const same = prev !== undefined && resume === prev.generation && prev.pid === pid &&
    prev.endpoint === endpoint;
  const entry: Entry = {
    label,
    endpoint,
    generation: same ? prev.generation : (prev?.generation ?? 0) + 1,
    pid,
    registeredAt: now,
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
    if (
      typeof e !== "object" || e === null || badLabel(e.label) ||
      typeof e.endpoint !== "string" || !Number.isSafeInteger(e.generation) || e.generation < 1
    ) continue;
    reg.entries.set(e.label, {
      label: e.label,
      endpoint: e.endpoint,
      generation: e.generation,
      pid: Number.isSafeInteger(e.pid) ? e.pid : 0,
      registeredAt: typeof e.registeredAt === "number" ? e.registeredAt : 0,
      alive: typeof e.alive === "boolean" ? e.alive : false,
    });
  }
  return reg;
}

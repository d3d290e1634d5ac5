/**
 * App policy (DESIGN §7, issue 6): which stack an app gets, its limits and its privileged-port
 * grants, decided by the naming server when the app registers, from the `policy` section of
 * the instance configuration. The TCP/IP server enforces what naming decided (it learns it in
 * the app's card, {@link AppCard}, sent with the region grant).
 *
 * ```json
 * { "policy": {
 *     "limits": { "sockets": 4096, "bufferBytes": 1342177280, "pending": 64 },
 *     "privilegedPorts": [{ "uid": 1000, "ports": [80, 443] }],
 *     "apps": [
 *       { "command": "curl", "stack": "kernel" },
 *       { "uid": 1001, "limits": { "sockets": 8 } }
 *     ] } }
 * ```
 *
 * - Privileged ports (< 1024) need uid 0 or a grant naming the app's uid (Linux: EACCES).
 * - Limits: `sockets` open at once (EMFILE past it; 1–4096, default 4096: the app's region gets
 *   that many socket slots, see apps_region.ts — a sparse memfd), `bufferBytes` of socket rings (ENOBUFS
 *   past it), `pending` calls queued at once (those beyond are refused with ENOBUFS), `apps`:
 *   connections to apps.sock of one uid at once (uid 0 has none; past it a connection is
 *   closed at once, `limitApps`).
 * - `apps`: the first entry whose every given field matches (`uid`, `command`) applies. The
 *   command is what the app's process calls itself (/proc/PID/comm), which the app chooses:
 *   it may pick the stack (only itself is affected) but never widen its limits, so an entry
 *   with `limits` must name a `uid`, and grants are by uid only.
 * - `stack: "kernel"`: registration is refused with EOPNOTSUPP and the shim uses the kernel.
 *
 * Pure functions; no I/O except {@link commandOf}.
 *
 * @module
 */

/** Per-app limits. */
export interface Limits {
  /** Sockets open at once (EMFILE past it). */
  sockets: number;
  /** Bytes of socket send + receive rings (ENOBUFS past it). */
  bufferBytes: number;
  /** Calls served per turn; more queued at once are refused with ENOBUFS. */
  pending: number;
  /** Connections to apps.sock (registered apps included) of one uid at once; uid 0: no limit. */
  apps: number;
}

/** A privileged-port grant. */
export interface PortGrant {
  uid: number;
  ports: number[];
}

/** A per-app rule. */
export interface AppRule {
  uid?: number;
  command?: string;
  stack?: "joyride" | "kernel";
  limits?: Partial<Limits>;
}

/** The parsed `policy` section. */
export interface Policy {
  limits: Limits;
  privilegedPorts: PortGrant[];
  apps: AppRule[];
}

/** Who an app is (from SO_PEERCRED and /proc). */
export interface AppIdentity {
  uid: number;
  command: string;
}

/** What naming decided for an app: sent to the TCP/IP server with the app's region. */
export interface AppCard {
  pid: number;
  uid: number;
  gid: number;
  command: string;
  /** A public id of the token (random, unrelated to the secret), for status. */
  tokenId: string;
  limits: Limits;
  /** Privileged ports (< 1024) this app may bind besides uid 0's right to all. */
  ports: number[];
}

/**
 * Default limits: what the region can hold. The ring bytes are 1.25 GiB so that the socket
 * limit is the one met: a socket's two 128 KiB rings with their headers take 260 KiB of the
 * region, and 1 GiB ran out at socket 4,033 (ENOBUFS, where programs expect EMFILE: nginx
 * pauses accepting on EMFILE only).
 */
export const DEFAULT_LIMITS: Limits = {
  sockets: 4096,
  bufferBytes: 5 * 2 ** 28,
  pending: 64,
  apps: 256,
};

/** A problem with the `policy` section: the field (full path) and why. */
export interface PolicyProblem {
  field: string;
  reason: string;
}

class Bad extends Error {
  constructor(readonly field: string, readonly reason: string) {
    super(`${field} ${reason}`);
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function obj(v: unknown, field: string, known: string[]): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Bad(field, `must be an object, got ${show(v)}`);
  }
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) throw new Bad(`${field}.${k}`, "is not a known field");
  }
  return v as Record<string, unknown>;
}

function int(v: unknown, field: string, lo: number, hi: number): number {
  if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) {
    throw new Bad(field, `must be an integer in ${lo}..${hi}, got ${show(v)}`);
  }
  return v as number;
}

function arr(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new Bad(field, `must be an array, got ${show(v)}`);
  return v;
}

const limitKeys = ["sockets", "bufferBytes", "pending", "apps"] as const;
const limitRange: Record<keyof Limits, [number, number]> = {
  sockets: [1, 4096],
  bufferBytes: [4096, 2 ** 40],
  pending: [1, 65536],
  apps: [1, 65536],
};

function limits(v: unknown, field: string): Partial<Limits> {
  const o = obj(v, field, [...limitKeys]);
  const out: Partial<Limits> = {};
  for (const k of limitKeys) {
    if (o[k] !== undefined) out[k] = int(o[k], `${field}.${k}`, ...limitRange[k]);
  }
  return out;
}

function parse(input: unknown): Policy {
  const p = obj(input ?? {}, "policy", ["limits", "privilegedPorts", "apps"]);
  const out: Policy = { limits: { ...DEFAULT_LIMITS }, privilegedPorts: [], apps: [] };
  if (p.limits !== undefined) Object.assign(out.limits, limits(p.limits, "policy.limits"));
  if (p.privilegedPorts !== undefined) {
    arr(p.privilegedPorts, "policy.privilegedPorts").forEach((g, i) => {
      const f = `policy.privilegedPorts[${i}]`;
      const o = obj(g, f, ["uid", "ports"]);
      if (o.uid === undefined) throw new Bad(`${f}.uid`, "is required (grants are by uid)");
      const uid = int(o.uid, `${f}.uid`, 0, 0xfffffffe);
      const ports = arr(o.ports, `${f}.ports`).map((x, j) => int(x, `${f}.ports[${j}]`, 1, 1023));
      out.privilegedPorts.push({ uid, ports });
    });
  }
  if (p.apps !== undefined) {
    arr(p.apps, "policy.apps").forEach((a, i) => {
      const f = `policy.apps[${i}]`;
      const o = obj(a, f, ["uid", "command", "stack", "limits"]);
      const rule: AppRule = {};
      if (o.uid !== undefined) rule.uid = int(o.uid, `${f}.uid`, 0, 0xfffffffe);
      if (o.command !== undefined) {
        if (typeof o.command !== "string" || o.command.length === 0 || o.command.length > 15) {
          throw new Bad(
            `${f}.command`,
            `must be a name of 1-15 characters, got ${show(o.command)}`,
          );
        }
        rule.command = o.command;
      }
      if (rule.uid === undefined && rule.command === undefined) {
        throw new Bad(f, "must name a uid or a command");
      }
      if (o.stack !== undefined) {
        if (o.stack !== "joyride" && o.stack !== "kernel") {
          throw new Bad(`${f}.stack`, `must be "joyride" or "kernel", got ${show(o.stack)}`);
        }
        rule.stack = o.stack;
      }
      if (o.limits !== undefined) {
        if (rule.uid === undefined) {
          throw new Bad(
            `${f}.limits`,
            "needs a uid in the same entry (an app chooses its command name)",
          );
        }
        rule.limits = limits(o.limits, `${f}.limits`);
      }
      out.apps.push(rule);
    });
  }
  return out;
}

/** The problem with a `policy` section, or undefined when it is valid (for config.ts). */
export function policyProblem(input: unknown): PolicyProblem | undefined {
  try {
    parse(input);
    return undefined;
  } catch (e) {
    if (e instanceof Bad) return { field: e.field, reason: e.reason };
    throw e;
  }
}

/** Parses the `policy` section (undefined: defaults); throws naming the field. */
export function parsePolicy(input: unknown): Policy {
  try {
    return parse(input);
  } catch (e) {
    if (e instanceof Bad) throw new Error(`Cannot use the policy: ${e.message}`);
    throw e;
  }
}

/** The first rule matching the app, or undefined. */
export function ruleFor(p: Policy, who: AppIdentity): AppRule | undefined {
  return p.apps.find((r) =>
    (r.uid === undefined || r.uid === who.uid) &&
    (r.command === undefined || r.command === who.command)
  );
}

/** The stack the app gets. */
export function stackFor(p: Policy, who: AppIdentity): "joyride" | "kernel" {
  return ruleFor(p, who)?.stack ?? "joyride";
}

/** The app's limits: the rule's (only uid-bound rules have limits) over the defaults. */
export function limitsFor(p: Policy, who: AppIdentity): Limits {
  return { ...p.limits, ...(ruleFor(p, who)?.limits ?? {}) };
}

/** Privileged ports granted to the app's uid (sorted, unique). */
export function portsFor(p: Policy, uid: number): number[] {
  const s = new Set<number>();
  for (const g of p.privilegedPorts) if (g.uid === uid) g.ports.forEach((x) => s.add(x));
  return [...s].sort((a, b) => a - b);
}

/** A fresh public token id: 8 random hex digits, unrelated to the secret. */
export function newTokenId(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** The app's card for the TCP/IP server. */
export function cardFor(
  p: Policy,
  cred: { pid: number; uid: number; gid: number },
  command: string,
  tokenId: string,
): AppCard {
  const who = { uid: cred.uid, command };
  return {
    pid: cred.pid,
    uid: cred.uid,
    gid: cred.gid,
    command,
    tokenId,
    limits: limitsFor(p, who),
    ports: portsFor(p, cred.uid),
  };
}

/** Encodes a card (it travels as the Text `name` of a RegisterApp from naming to tcp). */
export function encodeCard(c: AppCard): string {
  return JSON.stringify(c);
}

/** Decodes a card; undefined when it is not one. */
export function decodeCard(s: string): AppCard | undefined {
  try {
    const c = JSON.parse(s);
    const n = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;
    if (
      !c || !n(c.pid) || !n(c.uid) || !n(c.gid) || typeof c.command !== "string" ||
      typeof c.tokenId !== "string" || !c.limits || !n(c.limits.sockets) ||
      !n(c.limits.bufferBytes) || !n(c.limits.pending) || !Array.isArray(c.ports) ||
      !c.ports.every(n)
    ) return undefined;
    return c as AppCard;
  } catch {
    return undefined;
  }
}

/** The command name of a process (/proc/PID/comm), "" when it cannot be read. */
export function commandOf(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim().slice(0, 15);
  } catch {
    return "";
  }
}

/** Constant-time comparison of two tokens (false when lengths differ). */
export function sameToken(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** errno EOPNOTSUPP: the answer to an app whose policy says "kernel". */
export const EOPNOTSUPP = 95;

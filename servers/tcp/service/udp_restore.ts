/**
 * Issue 8: apps' UDP sockets survive a tcp server restart. A datagram socket holds no stream
 * state: what the app sees of it is its name (bound address and port), its peer (connect) and
 * its slot in the app's region. The socket service records that per socket in
 * `<instance dir>/tcp-udp.json` (mode 0600: the records carry 48 bits of the app's token) when
 * the socket is made, named (bind, connect: the name the engine chose, so an ephemeral port
 * stays the same) and closed; the next incarnation re-creates each socket from its record when
 * naming grants the app's region again (same app only: the token bits must match), binds it to
 * the same name, connects it to the same peer and takes the slot's rings as they are.
 * Datagrams the dead server held are lost, as UDP allows; datagrams in the rings stay.
 *
 * A socket that sends with sendto(2) before any bind or connect is bound by the engine on the
 * first send: {@link UdpRecords.sent} records that name then (a set lookup per datagram, empty
 * once every socket is named).
 *
 * @module
 */
import type { SockAddr, SocketApi } from "../engine/socket/api.ts";
import {
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../engine/socket/api.ts";

/** What is kept of one app UDP socket. */
export interface UdpRecord {
  appId: number;
  /** 48 bits of the app's token (the same app, not one given a reused id). */
  token48: number;
  /** The socket id (reuse count and slot). */
  id: number;
  slot: number;
  /** The placeholder eventfd: process and fd number in it. */
  pid: number;
  placeholder: number;
  domain: number;
  local?: SockAddr;
  peer?: SockAddr;
  /** SO_REUSEADDR, SO_REUSEPORT as set at bind (a reuseport group binds again only with them). */
  reuseAddr?: boolean;
  reusePort?: boolean;
  /** IPV6_V6ONLY (no IPv4 twin for a dual-stack socket on ::). */
  v6only?: boolean;
  /** A dual-stack socket's IPv4 peer, connected through its IPv4 twin (not the socket). */
  twinPeer?: SockAddr;
  /**
   * IP- and IPv6-level options set on it, in order (multicast memberships, TTLs…): level,
   * name, and the value (a number, or its bytes); replayed after the bind and connect.
   */
  opts?: [number, number, number | number[]][];
}

/** Options a record keeps (then later ones are not kept: they do not survive a restart). */
export const MAX_RECORDED_OPTIONS = 64;
/** Shortest time between two writes of the records file (ms). */
export const FLUSH_GAP_MS = 100;

/** What the socket service knows of a socket beyond the engine's socket. */
export interface UdpExtra {
  v6only?: boolean;
  twinPeer?: SockAddr;
}

function key(appId: number, slot: number): string {
  return `${appId}:${slot}`;
}

function validAddr(a: unknown): boolean {
  const x = a as SockAddr | undefined;
  return x === undefined ||
    (typeof x.addr === "string" && Number.isInteger(x.port) && Number.isInteger(x.family));
}

function validOpt(o: unknown): boolean {
  if (!Array.isArray(o) || o.length !== 3) return false;
  const [level, name, v] = o;
  const byte = (b: unknown) => Number.isInteger(b) && (b as number) >= 0 && (b as number) < 256;
  return Number.isInteger(level) && Number.isInteger(name) &&
    (Number.isInteger(v) || (Array.isArray(v) && v.length <= 256 && v.every(byte)));
}

/** Parses a records file; throws on a malformed one. */
export function parseUdpRecords(text: string): UdpRecord[] {
  const v = JSON.parse(text) as { version?: number; sockets?: UdpRecord[] };
  if (v?.version !== 1 || !Array.isArray(v.sockets)) throw new Error("udp records: bad header");
  for (const r of v.sockets) {
    const ints = [r.appId, r.token48, r.id, r.slot, r.pid, r.placeholder, r.domain];
    const addrs = [r.local, r.peer, r.twinPeer];
    const opts = r.opts === undefined || (Array.isArray(r.opts) &&
      r.opts.length <= MAX_RECORDED_OPTIONS && r.opts.every(validOpt));
    if (!ints.every((n) => Number.isSafeInteger(n)) || !addrs.every(validAddr) || !opts) {
      throw new Error("udp records: bad socket");
    }
  }
  return v.sockets;
}

/** The records of this incarnation, and those the previous one left. */
export class UdpRecords {
  readonly path: string;
  #live = new Map<string, UdpRecord>();
  #restored = new Map<string, UdpRecord>();
  /** Live sockets with no recorded name yet (appId * 2^16 + slot). */
  #unnamed = new Set<number>();
  /** Sockets re-created from records, and records refused (another app, a bad placeholder). */
  readonly counters = { restored: 0, refused: 0 };

  constructor(path: string) {
    this.path = path;
    try {
      for (const r of parseUdpRecords(Deno.readTextFileSync(path))) {
        this.#restored.set(key(r.appId, r.slot), r);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) console.error(`tcp: ignoring ${path}: ${e}`);
    }
  }

  /** A new UDP socket of an app. */
  opened(r: Omit<UdpRecord, "local" | "peer">): void {
    this.#restored.delete(key(r.appId, r.slot)); // the slot is in use again: the old one is over
    this.#live.set(key(r.appId, r.slot), { ...r });
    this.#unnamed.add(r.appId * 65536 + r.slot);
    this.#save();
  }

  /** The socket sent a datagram: the first send of an unnamed socket bound it. */
  sent(appId: number, slot: number, api: SocketApi, fd: number): void {
    if (this.#unnamed.size === 0 || !this.#unnamed.has(appId * 65536 + slot)) return;
    this.named(appId, slot, api, fd);
  }

  /**
   * The socket was bound or connected: records its name, peer and sharing options as the engine
   * has them, and what the service adds (`extra`: IPV6_V6ONLY, the twin's IPv4 peer).
   */
  named(appId: number, slot: number, api: SocketApi, fd: number, extra: UdpExtra = {}): void {
    const r = this.#live.get(key(appId, slot));
    if (!r) return;
    const l = api.getsockname(fd), p = api.getpeername(fd);
    r.local = l.errno === undefined && l.value.port !== 0 ? l.value : r.local;
    r.peer = p.errno === undefined && p.value.port !== 0 ? p.value : undefined;
    const opt = (name: number) => api.getsockopt(fd, SOL_SOCKET, name).value ? true : undefined;
    r.reuseAddr = opt(SO_REUSEADDR);
    r.reusePort = opt(SO_REUSEPORT);
    r.v6only = extra.v6only || undefined;
    r.twinPeer = extra.twinPeer;
    if (r.local) this.#unnamed.delete(appId * 65536 + slot);
    this.#save();
  }

  /** An IP- or IPv6-level option was set on the socket (kept up to MAX_RECORDED_OPTIONS). */
  option(appId: number, slot: number, level: number, name: number, v: number | Uint8Array): void {
    const r = this.#live.get(key(appId, slot));
    if (!r || (r.opts?.length ?? 0) >= MAX_RECORDED_OPTIONS) return;
    (r.opts ??= []).push([level, name, typeof v === "number" ? v : [...v]]);
    this.#save();
  }

  /** The socket is closed. */
  closed(appId: number, slot: number): void {
    this.#unnamed.delete(appId * 65536 + slot);
    if (this.#live.delete(key(appId, slot))) this.#save();
  }

  /** Records the previous incarnation left for `appId`, not yet taken back. */
  restoredOf(appId: number): UdpRecord[] {
    return [...this.#restored.values()].filter((r) => r.appId === appId);
  }

  /** A restored record is dealt with (taken back as a live socket, or refused). */
  done(r: UdpRecord, taken: boolean): void {
    this.#restored.delete(key(r.appId, r.slot));
    if (taken) {
      this.counters.restored++;
      this.#live.set(key(r.appId, r.slot), r);
    } else this.counters.refused++;
    this.#save();
  }

  /** Forgets restored records of an app that is gone. */
  forget(appId: number): void {
    for (const r of this.restoredOf(appId)) {
      this.#restored.delete(key(r.appId, r.slot));
      this.#save();
    }
  }

  /**
   * Marks the file out of date; {@link flush} writes it. Written at every change, a program
   * opening 4,000 UDP sockets rewrote a file of up to 4,000 records 4,000 times (the server at
   * 60-90 % of a core for 8 s), and a restart taking back 5,855 records one by one missed its
   * heartbeats: the supervisor killed it, and every next incarnation met the same file.
   */
  #save(): void {
    this.#dirty = true;
  }

  #dirty = false;
  #lastWrite = -Infinity;
  #timer?: ReturnType<typeof setTimeout>;

  /**
   * Writes the records soon if they changed: at once when the last write is
   * {@link FLUSH_GAP_MS} old, else when it will be. The socket service calls it at the end
   * of each turn; its one-call-at-a-time apps made every turn a write. What a crash of the
   * server loses is the changes of that last gap (sockets made then are not taken back); a
   * stop (`restart tcp`) writes everything ({@link flush}).
   */
  flushSoon(now = performance.now()): void {
    if (!this.#dirty || this.#timer !== undefined) return;
    const wait = this.#lastWrite + FLUSH_GAP_MS - now;
    if (wait <= 0) return this.flush();
    this.#timer = setTimeout(() => this.flush(), wait);
  }

  /** Writes the records now if they changed. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#dirty) return;
    this.#dirty = false;
    this.#lastWrite = performance.now();
    // Records not yet taken back stay: a second restart before the app's grant keeps them.
    const sockets = [...this.#live.values(), ...this.#restored.values()];
    const tmp = `${this.path}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify({ version: 1, sockets }), { mode: 0o600 });
      Deno.chmodSync(tmp, 0o600);
      Deno.renameSync(tmp, this.path);
    } catch (e) {
      console.error(`tcp: cannot save ${this.path}: ${e}`);
    }
  }
}

/**
 * Re-creates a recorded socket in the engine: a new non-blocking datagram socket with the
 * recorded SO_REUSEADDR/SO_REUSEPORT, bound to the recorded name and connected to the recorded
 * peer (a dual-stack socket's twin is the service's: `twinPeer`, `v6only`). Returns its fd, or undefined (closed again)
 * when the engine refuses.
 */
export function recreateUdp(api: SocketApi, r: UdpRecord): number | undefined {
  const s = api.socket(r.domain, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (s.errno !== undefined) return undefined;
  const fd = s.value;
  if (r.reuseAddr) api.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (r.reusePort) api.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (
    (r.local && api.bind(fd, r.local).errno !== undefined) ||
    (r.peer && api.connect(fd, r.peer).errno !== undefined)
  ) {
    api.close(fd);
    return undefined;
  }
  return fd;
}

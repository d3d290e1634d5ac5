/**
 * Isolation and policy checks of the socket service (issue 6, DESIGN §7), kept apart from the
 * service's mechanics (service/service.ts calls these):
 *
 * - Who each app is: the naming server sends the app's card (servers/naming/policy.ts:
 *   pid, uid, command, public token id, limits, privileged-port grants) and its token with the
 *   region grant; {@link AppDirectory} keeps them and forgets them when naming revokes the app.
 * - Header checks: a call whose header names another app, or carries a token that is not the
 *   app's (forged, or replayed from an app that is gone), is refused with EPERM and counted.
 *   The region itself is the capability (only the app and its forked children hold it); the
 *   header check catches a confused or malicious app presenting someone else's identity.
 * - Policy: privileged ports, socket and buffer limits, pending calls per turn.
 * - Placeholders: the server duplicates the shim's placeholder eventfd with pidfd_getfd(2) from
 *   a pid the app names. An app could name another process (a root daemon's fd 3) and have the
 *   server write into it; so the process must run as the app's uid and the fd must be an
 *   eventfd, or the call is refused (EPERM, `badPlaceholder`).
 *
 * @module
 */
import type { AppCard } from "../naming/policy.ts";
import { sameToken } from "../naming/policy.ts";
import { type RefusalReason, Refusals } from "../naming/policy_refusals.ts";
import { closeFd, pidfdOpen, readLinkFast, readSmall } from "../naming/apps_ffi.ts";

export const EPERM = 1, EBADF = 9, EACCES = 13, EMFILE = 24, EADDRINUSE = 98, ENOBUFS = 105;

/** A refusal: reason and errno. */
export interface Refusal {
  reason: RefusalReason;
  errno: number;
}

/** What the service knows about an app from naming. */
export interface AppInfo {
  appId: number;
  card: AppCard;
  token: Uint8Array;
  bytesIn: number;
  bytesOut: number;
  /**
   * Processes already found fit to hold this app's placeholders: pid → a pidfd of that
   * process, held open (placeholderProcess).
   */
  verified?: Map<number, number>;
}

/**
 * How many verified processes an app keeps (then the set starts over): each is an open pidfd
 * of the TCP/IP server. A program's processes that make sockets are few (nginx: a worker a
 * core); a fork-per-connection server's children come and go, and their pidfds with them.
 */
const REMEMBER_VERIFIED = 64;

/**
 * Handles of processes: a pidfd names one process, never a later one that got its pid, and
 * pidfd_getfd through it fails once that process has ended.
 */
export interface ProcessHandles {
  /** A handle of process `pid` now, or -1 when there is no such process. */
  open(pid: number): number;
  close(handle: number): void;
}

/** pidfd_open(2) handles. */
export const pidfds: ProcessHandles = {
  open: (pid) => Math.max(-1, pidfdOpen(pid)),
  close: closeFd,
};

/** How many revoked apps are remembered (to tell `revoked` from `foreignApp`). */
const REMEMBER_REVOKED = 4096;

/** The apps the service serves, as naming described them, and the refusal counters. */
export class AppDirectory {
  readonly refusals = new Refusals();
  #apps = new Map<number, AppInfo>();
  /** Tokens of revoked apps, oldest first (bounded). */
  #revoked = new Map<number, Uint8Array>();
  /** Bound ports: socket key → (uid, "type/port"), and "type/port" → keys holding it. */
  #bound = new Map<number, { uid: number; port: string }>();
  #holders = new Map<string, Set<number>>();
  /** Handles of processes of apps naming never described (placeholderProcess). */
  #unchecked = new Map<number, number>();

  /** Naming described app `appId`. */
  learn(appId: number, card: AppCard, token: Uint8Array): void {
    this.#apps.set(appId, { appId, card, token: token.slice(), bytesIn: 0, bytesOut: 0 });
    this.#revoked.delete(appId);
  }

  /** The app's info, if naming described it. */
  get(appId: number): AppInfo | undefined {
    return this.#apps.get(appId);
  }

  /** Naming revoked app `appId` (it exited or was killed). */
  forget(appId: number, handles: ProcessHandles = pidfds): void {
    const a = this.#apps.get(appId);
    if (!a) return;
    for (const h of a.verified?.values() ?? []) handles.close(h);
    this.#apps.delete(appId);
    this.refusals.count("appsGone");
    this.#revoked.set(appId, a.token);
    if (this.#revoked.size > REMEMBER_REVOKED) {
      this.#revoked.delete(this.#revoked.keys().next().value!);
    }
  }

  /** Whether `appId` was revoked (and is remembered). */
  wasRevoked(appId: number): boolean {
    return this.#revoked.has(appId);
  }

  /**
   * Checks a call's header on app `appId`'s ring: the header's app id and token must be the
   * app's own. An app naming (or without a card from naming) is let through: the ring is the
   * capability.
   */
  checkHeader(appId: number, headerAppId: number, token: Uint8Array | undefined): Refusal | null {
    const a = this.#apps.get(appId);
    if (!a) return null;
    if (headerAppId !== appId) {
      const old = this.#revoked.get(headerAppId);
      const replay = old !== undefined && sameToken(token, old);
      return { reason: replay ? "revoked" : "foreignApp", errno: EPERM };
    }
    if (!sameToken(token, a.token)) {
      for (const old of this.#revoked.values()) {
        if (sameToken(token, old)) return { reason: "revoked", errno: EPERM };
      }
      return { reason: "badToken", errno: EPERM };
    }
    return null;
  }

  /** Checks a bind of `port` by app `appId`: < 1024 needs uid 0 or a grant (EACCES). */
  checkBind(appId: number, port: number): Refusal | null {
    if (port === 0 || port >= 1024) return null;
    const a = this.#apps.get(appId);
    // An app naming never described has no known uid: treat it as unprivileged.
    if (a && (a.card.uid === 0 || a.card.ports.includes(port))) return null;
    return { reason: "privilegedPort", errno: EACCES };
  }

  /**
   * Checks that app `appId` may bind port `port` of socket type `type` next to the sockets of
   * other apps already bound to it: never across uids (Linux and FreeBSD refuse SO_REUSEPORT
   * and SO_REUSEADDR sharing between users, which would let one user take over another's
   * port): EADDRINUSE. Sharing within a uid is the engine's to decide.
   */
  checkPortShare(appId: number, type: number, port: number): Refusal | null {
    if (port === 0) return null;
    const uid = this.#apps.get(appId)?.card.uid;
    for (const k of this.#holders.get(`${type}/${port}`) ?? []) {
      if (this.#bound.get(k)?.uid !== uid) return { reason: "portShare", errno: EADDRINUSE };
    }
    return null;
  }

  /** Socket `key` (unique while open) of app `appId` is bound to `port` of type `type`. */
  portBound(key: number, appId: number, type: number, port: number): void {
    const uid = this.#apps.get(appId)?.card.uid ?? -1;
    this.portReleased(key);
    const p = `${type}/${port}`;
    this.#bound.set(key, { uid, port: p });
    let h = this.#holders.get(p);
    if (!h) this.#holders.set(p, h = new Set());
    h.add(key);
  }

  /** Socket `key` is closed. */
  portReleased(key: number): void {
    const b = this.#bound.get(key);
    if (!b) return;
    this.#bound.delete(key);
    const h = this.#holders.get(b.port);
    h?.delete(key);
    if (h && h.size === 0) this.#holders.delete(b.port);
  }

  /**
   * Checks a new socket of app `appId` that has `open` sockets, each taking `socketBytes` of
   * ring memory: EMFILE past `sockets`, ENOBUFS past `bufferBytes`.
   */
  checkNewSocket(appId: number, open: number, socketBytes: number): Refusal | null {
    const a = this.#apps.get(appId);
    if (!a) return null;
    if (open >= a.card.limits.sockets) return { reason: "limitSockets", errno: EMFILE };
    if ((open + 1) * socketBytes > a.card.limits.bufferBytes) {
      return { reason: "limitBuffers", errno: ENOBUFS };
    }
    return null;
  }

  /** Calls of app `appId` served in one turn; more queued at once are refused (ENOBUFS). */
  pendingLimit(appId: number): number {
    return this.#apps.get(appId)?.card.limits.pending ?? 64;
  }

  /** Counts bytes moved for app `appId` (in: to the app, out: from the app). */
  addBytes(appId: number, bytesIn: number, bytesOut: number): void {
    const a = this.#apps.get(appId);
    if (!a) return;
    a.bytesIn += bytesIn;
    a.bytesOut += bytesOut;
  }

  /**
   * A handle (pidfd) of process `pid` if it may hold app `appId`'s placeholders, else -1: it
   * runs as the app's uid (every one of real, effective, saved and filesystem uid), or it maps
   * the app's region (`mapsRegion`): a forked child that dropped privileges (nginx's workers
   * setuid to www-data) inherited its parent's capability, the region, and keeps using it; a
   * process that never got the region (another user's daemon) cannot be named. `readStatus`
   * reads /proc/PID/status. The caller takes placeholders through the handle (pidfd_getfd),
   * so only from the process that was checked; it must not close it.
   *
   * A process found fit is remembered with its handle, held open: the checks read /proc, and
   * reading /proc/PID/maps for each new socket of a forked worker took a third of the server's
   * time under a connection storm (issue 9: nginx workers, ab without keep-alive); so did
   * reading /proc/PID/stat for the start time that remembered it before (~40 µs of system
   * calls on a cold cache per accepted connection). When a take through the handle fails, the
   * process ended and its pid may be another's: {@link forgetProcess}, and check afresh.
   * An app naming never described is not checked (its ring is the capability).
   */
  placeholderProcess(
    appId: number,
    pid: number,
    readStatus: (pid: number) => string | undefined = procStatus,
    mapsRegion: (pid: number) => boolean = () => false,
    handles: ProcessHandles = pidfds,
  ): number {
    if (!Number.isInteger(pid) || pid <= 0) return -1;
    const a = this.#apps.get(appId);
    const known = a ? (a.verified ??= new Map()) : this.#unchecked;
    const held = known.get(pid);
    if (held !== undefined) return held;
    // The handle first: the status read next is of the process it names, or of a later one
    // with its pid (then takes through the handle fail, and the next call checks again).
    const h = handles.open(pid);
    if (h < 0) return -1;
    if (a) {
      const uids = uidsOf(readStatus(pid));
      if (uids === undefined || !(uids.every((u) => u === a.card.uid) || mapsRegion(pid))) {
        handles.close(h);
        return -1;
      }
    }
    if (known.size >= REMEMBER_VERIFIED) {
      for (const old of known.values()) handles.close(old);
      known.clear();
    }
    known.set(pid, h);
    return h;
  }

  /** Process `pid`'s handle is stale (a take through it failed): closed, checked anew next. */
  forgetProcess(appId: number, pid: number, handles: ProcessHandles = pidfds): void {
    const known = this.#apps.get(appId)?.verified ?? this.#unchecked;
    const h = known.get(pid);
    if (h === undefined) return;
    known.delete(pid);
    handles.close(h);
  }

  /** Status rows: one per app naming described, with `sockets` from the service. */
  list(sockets: (appId: number) => number): Record<string, unknown>[] {
    return [...this.#apps.values()].map((a) => ({
      appId: a.appId,
      pid: a.card.pid,
      uid: a.card.uid,
      command: a.card.command,
      tokenId: a.card.tokenId,
      sockets: sockets(a.appId),
      bytesIn: a.bytesIn,
      bytesOut: a.bytesOut,
    }));
  }
}

/** The Uid line of /proc/PID/status as numbers; undefined when absent. */
export function uidsOf(status: string | undefined): number[] | undefined {
  if (!status) return undefined;
  const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/m.exec(status);
  return m ? m.slice(1).map(Number) : undefined;
}

function procStatus(pid: number): string | undefined {
  return readSmall(`/proc/${pid}/status`);
}

/**
 * Whether process `pid` maps the file our fd `fd` is open on (a memfd region): its inode in
 * /proc/PID/maps, on a shared "/memfd:" mapping. `read` reads /proc/PID/maps, `inode` stats fd.
 */
export function processMaps(
  pid: number,
  fd: number,
  read: (pid: number) => string | undefined = procMaps,
  inode: (fd: number) => number | undefined = fdInode,
): boolean {
  const ino = inode(fd);
  const maps = read(pid);
  if (ino === undefined || !maps) return false;
  for (const line of maps.split("\n")) {
    const f = line.split(/\s+/, 6);
    if (f.length >= 6 && f[1][3] === "s" && Number(f[4]) === ino && f[5].startsWith("/memfd:")) {
      return true;
    }
  }
  return false;
}

function procMaps(pid: number): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/maps`);
  } catch {
    return undefined;
  }
}

function fdInode(fd: number): number | undefined {
  try {
    return Deno.statSync(`/proc/self/fd/${fd}`).ino ?? undefined;
  } catch {
    return undefined;
  }
}

/** Whether our fd `fd` is an eventfd (what a placeholder must be). */
export function isEventfd(fd: number, readLink = readLinkFast): boolean {
  try {
    return readLink(`/proc/self/fd/${fd}`) === "anon_inode:[eventfd]";
  } catch {
    return false;
  }
}

/**
 * Why a socket id was refused: `staleSocket` when this app was issued it and closed it (its
 * reuse count `idGen` is below the slot's current count `slotGen`), `unknownSocket` otherwise
 * (never issued to this app: another app's id, or made up).
 */
export function badSocketReason(idGen: number, slotGen: number): RefusalReason {
  return idGen < slotGen ? "staleSocket" : "unknownSocket";
}

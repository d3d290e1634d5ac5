/**
 * Issue 8: app registrations survive a naming restart (DESIGN §1: "tokens and regions already
 * issued"). What naming knows of its apps goes to `<runtime dir>/<instance>/apps.json` (mode
 * 0600, root's: it holds the tokens) after every change; the file descriptors cannot go in a
 * file, so the new incarnation takes them back from the live processes that already hold them:
 *
 * - an app's region (a sealed memfd with no path) is held by the app itself (the shim keeps the
 *   fd for its life, forked and exec'd children inherit it) and by the TCP/IP server; the record
 *   names it by its inode (st_dev, st_ino), the new naming finds the fd whose inode matches in
 *   `/proc/<pid>/fd` of the app, then of the TCP/IP server, then of any process, and duplicates
 *   it with pidfd_getfd(2). An inode names one live file: an app cannot pass another file off
 *   as its region (it would need the same inode), and the region must still be size-sealed.
 * - the service eventfd (which apps signal, which the TCP/IP server waits on) is named by its
 *   `eventfd-id` (/proc/<pid>/fdinfo) and taken back from the TCP/IP server or an app, so apps
 *   and the server keep using the same one.
 *
 * The app's registration connection dies with the old naming (the shim never uses it after
 * registering, so the app notices nothing). Exit is then watched by holder instead
 * ({@link AppPersist.watch}): once a second, the holder process must still hold the region's fd;
 * when it does not (nor maps the region), every process is searched (excluding naming and the
 * TCP/IP server) for another holder (a forked child), and when none is left the app is gone and
 * revoked, as a closed connection would have told.
 *
 * @module
 */
import type { AppCard } from "./policy.ts";
import type { Region } from "../ipc/region.ts";
import { closeFd, takeFd } from "./apps_ffi.ts";
import { sizeSealed } from "./policy_seal.ts";

/** A file's identity: device and inode. */
export interface FileId {
  dev: number;
  ino: number;
}

/** What is saved of one app. */
export interface AppRecord {
  appId: number;
  pid: number;
  uid: number;
  gid: number;
  name: string;
  /** The secret token, hex (the file is 0600). */
  token: string;
  card?: AppCard;
  region: FileId & { size: number };
}

/** The saved state. */
export interface AppsState {
  version: 1;
  nextApp: number;
  /** eventfd-id of the service eventfd (0: unknown). */
  svcEventfdId: number;
  /** The last TCP/IP server's pid (0: none seen). */
  tcpPid: number;
  apps: AppRecord[];
}

/** An app entry as apps.ts keeps it (the fields this module reads and fills). */
export interface PersistedApp {
  appId: number;
  pid: number;
  uid: number;
  gid: number;
  name: string;
  token: Uint8Array;
  region: Region;
  conn: number;
  card?: AppCard;
}

/** The identity of `/proc/<pid>/fd/<fd>` (`pid` "self" for ours), or undefined. */
export function fileIdAt(pid: number | "self", fd: number): FileId | undefined {
  try {
    const st = Deno.statSync(`/proc/${pid}/fd/${fd}`);
    return { dev: st.dev, ino: st.ino ?? 0 };
  } catch {
    return undefined;
  }
}

/** Whether two of our fds are the same file (same device and inode). */
export function sameFile(a: number, b: number): boolean {
  const x = fileIdAt("self", a), y = fileIdAt("self", b);
  return !!x && !!y && x.dev === y.dev && x.ino === y.ino;
}

/** The eventfd-id of fd `fd` of `pid` (/proc fdinfo), or 0 when it is not an eventfd. */
export function eventfdIdAt(pid: number | "self", fd: number): number {
  try {
    const m = /^eventfd-id:\s*(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd}`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The fd numbers `pid` has open (empty when it is gone or hidden). */
export function fdsOf(pid: number): number[] {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => Number(e.name)).filter((n) =>
      Number.isInteger(n)
    );
  } catch {
    return [];
  }
}

/** Pids of all processes. */
export function allPids(): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    const n = Number(e.name);
    if (Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}

/** The fd of `pid` whose file is `id`, or -1. */
export function findFileFd(pid: number, id: FileId): number {
  for (const fd of fdsOf(pid)) {
    const f = fileIdAt(pid, fd);
    if (f && f.dev === id.dev && f.ino === id.ino) return fd;
  }
  return -1;
}

/**
 * Whether `pid` maps the file `id` (/proc/<pid>/maps: an app that closed the fd, e.g. with
 * close_range(2), still uses its region through the mapping).
 */
export function mapsFile(pid: number, id: FileId): boolean {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/maps`);
  } catch {
    return false;
  }
  const major = Math.floor(id.dev / 256) & 0xfff,
    minor = (id.dev & 0xff) | ((id.dev >>> 12) & 0xfff00);
  const dev = `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
  return text.includes(` ${dev} ${id.ino} `);
}

/** The fd of `pid` that is the eventfd with id `eid`, or -1. */
export function findEventfd(pid: number, eid: number): number {
  if (eid <= 0) return -1;
  for (const fd of fdsOf(pid)) if (eventfdIdAt(pid, fd) === eid) return fd;
  return -1;
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Checks a parsed file's shape; throws on anything unexpected. */
export function parseState(text: string): AppsState {
  const s = JSON.parse(text) as AppsState;
  const int = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (s?.version !== 1 || !int(s.nextApp) || !int(s.svcEventfdId) || !int(s.tcpPid)) {
    throw new Error("apps state: bad header");
  }
  if (!Array.isArray(s.apps)) throw new Error("apps state: no apps");
  for (const a of s.apps) {
    if (
      !int(a.appId) || !int(a.pid) || !int(a.uid) || !int(a.gid) || typeof a.name !== "string" ||
      typeof a.token !== "string" || !/^([0-9a-f]{2}){16}$/.test(a.token) ||
      !int(a.region?.dev) || !int(a.region?.ino) || !int(a.region?.size)
    ) throw new Error(`apps state: bad app ${JSON.stringify(a?.appId)}`);
  }
  return s;
}

/** A restored app, as apps.ts keeps it (conn -1: its connection died with the old naming). */
export interface Restored {
  apps: PersistedApp[];
  /** The old service eventfd taken back, or -1. */
  svcEfd: number;
  nextApp: number;
  /** Apps whose region nobody holds any more (they exited while naming was down). */
  lost: number;
}

interface Watched {
  app: PersistedApp;
  id: FileId;
  holder: { pid: number; fd: number };
}

/** Saves and restores apps.ts's registrations; watches restored apps for exit. */
export class AppPersist {
  readonly path: string;
  #tcpPid = 0;
  #watched = new Map<number, Watched>();
  #stop = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The watch's turn once watch() was called. */
  #turn?: () => void;
  #everyMs = 1000;
  /** Opens a region from an fd (Region.adopt; replaceable in tests). */
  adopt: (fd: number) => Region;

  constructor(path: string, adopt: (fd: number) => Region) {
    this.path = path;
    this.adopt = adopt;
  }

  /** Writes the state (atomically, mode 0600). */
  save(nextApp: number, svcEfd: number, apps: Iterable<PersistedApp>, tcpPid = 0): void {
    if (tcpPid > 0) this.#tcpPid = tcpPid;
    const s: AppsState = {
      version: 1,
      nextApp,
      svcEventfdId: svcEfd >= 0 ? eventfdIdAt("self", svcEfd) : 0,
      tcpPid: this.#tcpPid,
      apps: [],
    };
    for (const a of apps) {
      const id = fileIdAt("self", a.region.fd);
      if (!id) continue;
      s.apps.push({
        appId: a.appId,
        pid: a.pid,
        uid: a.uid,
        gid: a.gid,
        name: a.name,
        token: hex(a.token),
        card: a.card,
        region: { ...id, size: a.region.size },
      });
    }
    const tmp = `${this.path}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
      Deno.chmodSync(tmp, 0o600); // an old file's mode is kept by writeTextFile
      Deno.renameSync(tmp, this.path);
    } catch (e) {
      console.error(`naming: cannot save ${this.path}: ${e}`);
    }
  }

  /** Reads the saved state, if any (undefined on none or a bad file). */
  load(): AppsState | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch {
      return undefined;
    }
    try {
      return parseState(text);
    } catch (e) {
      console.error(`naming: ignoring ${this.path}: ${e}`);
      return undefined;
    }
  }

  /**
   * Takes back what the previous incarnation had: each app whose region some live process
   * still holds (its app, the TCP/IP server, a child), and the service eventfd.
   */
  restore(): Restored {
    const out: Restored = { apps: [], svcEfd: -1, nextApp: 1, lost: 0 };
    const s = this.load();
    if (!s) return out;
    this.#tcpPid = s.tcpPid;
    out.nextApp = s.nextApp;
    let everyone: number[] | undefined;
    for (const r of s.apps) {
      const tryPids = [r.pid, s.tcpPid].filter((p) => p > 0 && p !== Deno.pid);
      let fd = -1, holder = { pid: 0, fd: -1 };
      for (let i = 0; fd < 0; i++) {
        if (i === tryPids.length) {
          everyone ??= allPids().filter((p) => p !== Deno.pid);
          tryPids.push(...everyone.filter((p) => !tryPids.includes(p)));
        }
        if (i >= tryPids.length) break;
        const theirs = findFileFd(tryPids[i], r.region);
        if (theirs < 0) continue;
        const got = takeFd(tryPids[i], theirs);
        if (got < 0) continue;
        const id = fileIdAt("self", got);
        if (!id || id.dev !== r.region.dev || id.ino !== r.region.ino || !sizeSealed(got)) {
          closeFd(got);
          continue;
        }
        fd = got;
        holder = { pid: tryPids[i], fd: theirs };
      }
      if (fd < 0) {
        out.lost++;
        continue;
      }
      let region: Region;
      try {
        region = this.adopt(fd);
      } catch {
        closeFd(fd);
        out.lost++;
        continue;
      }
      if (region.size !== r.region.size) {
        region.close();
        out.lost++;
        continue;
      }
      const app: PersistedApp = {
        appId: r.appId,
        pid: r.pid,
        uid: r.uid,
        gid: r.gid,
        name: r.name,
        token: unhex(r.token),
        card: r.card,
        region,
        conn: -1,
      };
      out.apps.push(app);
      // The TCP/IP server is no app: exit is watched from another holder (found on the watch).
      this.#watched.set(app.appId, {
        app,
        id: r.region,
        holder: holder.pid === s.tcpPid ? { pid: 0, fd: -1 } : holder,
      });
    }
    const svcPids = [s.tcpPid, ...s.apps.map((a) => a.pid)].filter((p) => p > 0);
    for (const p of svcPids) {
      const fd = findEventfd(p, s.svcEventfdId);
      if (fd < 0) continue;
      const got = takeFd(p, fd);
      if (got >= 0 && eventfdIdAt("self", got) === s.svcEventfdId) {
        out.svcEfd = got;
        break;
      }
      if (got >= 0) closeFd(got);
    }
    return out;
  }

  /** Watches app `appId` held by `pid` (tests; restore() sets up the real ones). */
  watchForTest(appId: number, id: FileId, pid: number): void {
    this.#watched.set(appId, {
      app: { appId } as PersistedApp,
      id,
      holder: { pid, fd: findFileFd(pid, id) },
    });
    this.#arm();
  }

  /** Restored apps still watched (for tests and status). */
  watching(): number[] {
    return [...this.#watched.keys()];
  }

  /** Stops watching an app (it left by other means). */
  forget(appId: number): void {
    this.#watched.delete(appId);
  }

  /**
   * One look at the restored apps: an app whose holder no longer holds its region and that no
   * other process (but naming and `serverPid`) holds is passed to `gone`.
   */
  check(serverPid: number, gone: (appId: number) => void): void {
    let everyone: number[] | undefined;
    for (const [appId, w] of [...this.#watched]) {
      const h = w.holder;
      const f = h.pid > 0 && h.fd >= 0 ? fileIdAt(h.pid, h.fd) : undefined;
      if (f && f.dev === w.id.dev && f.ino === w.id.ino) continue;
      if (h.pid > 0 && h.pid !== serverPid && mapsFile(h.pid, w.id)) {
        h.fd = -1; // holds it by its mapping only
        continue;
      }
      everyone ??= allPids().filter((p) => p !== Deno.pid && p !== serverPid);
      const next = everyone.find((p) => findFileFd(p, w.id) >= 0) ??
        everyone.find((p) => mapsFile(p, w.id));
      if (next !== undefined) {
        w.holder = { pid: next, fd: findFileFd(next, w.id) };
        continue;
      }
      this.#watched.delete(appId);
      gone(appId);
    }
  }

  /**
   * Watches restored apps once per `everyMs` while `ready()` (a TCP/IP server is attached, so
   * the revocation reaches it). With none left to watch the timer stops: an idle naming server
   * does not wake once a second for nothing (issue 9's idle).
   */
  watch(
    ready: () => boolean,
    serverPid: () => number,
    gone: (appId: number) => void,
    everyMs = 1000,
  ): void {
    this.#everyMs = everyMs;
    this.#turn = () => {
      this.#timer = undefined;
      if (this.#stop) return;
      if (this.#watched.size > 0 && ready()) this.check(serverPid(), gone);
      this.#arm();
    };
    this.#turn();
  }

  /** Arms the next turn if watching and anything is left to watch. */
  #arm(): void {
    if (this.#timer !== undefined || this.#stop || !this.#turn || this.#watched.size === 0) return;
    this.#timer = setTimeout(this.#turn, this.#everyMs);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Stops the watch. */
  close(): void {
    this.#stop = true;
    clearTimeout(this.#timer);
  }
}

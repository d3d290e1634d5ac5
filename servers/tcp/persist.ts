/**
 * The TCP/IP server's state in shared memory (DESIGN §5, issue 8): the region file, output
 * commit, and the restore of a new incarnation.
 *
 * - The region is `/dev/shm/joyride-<instance>-tcp-state` (mode 0600, named with the instance's
 *   shm prefix so `./joyride stop` removes it). The file outlives the process: a new
 *   incarnation maps it again. A fresh `./joyride start` finds none (start removes leftovers).
 * - Output commit: frames the engine sends during a loop turn are held and leave only after
 *   {@link ShmTcbStore.commit} at the turn's flush, so nothing the peer sees (an ACK, a window,
 *   data) is newer than the records.
 * - The clock continues: the new incarnation's engine time starts where the records' last
 *   commit left it (timers and TCP timestamps never go backwards; the downtime is not counted).
 * - Restore: the store rebuilds connections, listeners and accept queues into the engine
 *   (store/shm_store.ts), the socket table gets them back under their descriptors, and the
 *   built-in services adopt theirs.
 *
 * @module
 */
import { Region } from "../ipc/region.ts";
import { reconcile, type RestoredConn, ShmTcbStore } from "./engine/store/shm_store.ts";
import { ringsOffset, type StoreGeometry } from "./engine/store/layout.ts";
import type { Sockets } from "./engine/socket/sockets.ts";
import {
  AF_INET,
  AF_INET6,
  err,
  F_SETFL,
  O_NONBLOCK,
  ok,
  type ProtoSocket,
  SO_LINGER,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./engine/socket/api.ts";
import { TcpSocket } from "./engine/tcp/usrreq.ts";
import { TCPS_CLOSE_WAIT, TCPS_ESTABLISHED, TCPS_LISTEN } from "./engine/tcp/tcpcb.ts";
import { EPROTONOSUPPORT } from "./engine/errno.ts";
import type { FrameLink } from "./loop.ts";

/**
 * Default geometry: 4096 connections (listeners included; one app's default socket limit) with
 * 2 MiB send and receive rings: a sparse file of 16 GiB in tmpfs, of which only the records
 * written and the ring pages a connection's data went through are memory (about 2 KB per
 * connection, its record). A ring must hold its socket buffer plus what one loop turn drops
 * from it before the commit (the committed bytes are never overwritten): 2 × the buffer at
 * least: the server's 1 MB buffers (main.ts), and SO_SNDBUF/SO_RCVBUF up to 1 MB. A
 * connection without a record (past 4096) or that outgrows its ring is counted in `lost` and
 * does not survive a restart. It was 256: a restart lost the connections and listeners of an
 * app that had more (a helper's report: 48 of 300 connections hung, a listener refused). The
 * rings are mapped as arrays of their own (Region.open's view, shm_store.ts RingViews): one
 * 16 GiB ArrayBuffer made V8 collect without end.
 */
export const DEFAULT_GEOMETRY: StoreGeometry = { records: 4096, ringBytes: 1 << 21 };

/** A protocol number the socket layer never sees from users: the restore's fd allocator. */
const IPPROTO_RESTORE = 253;

/** A descriptor holder that is no socket (closed again at once). */
function placeholder(): ProtoSocket {
  return {
    setNotify() {},
    poll: () => 0,
    close: () => ok(0),
  } as unknown as ProtoSocket;
}

/** The region file of an instance. */
export function statePath(instance: string, shmDir = "/dev/shm"): string {
  return `${shmDir}/joyride-${instance}-tcp-state`;
}

/**
 * What the socket service gets from the server's persistence (issue 8): it tags each stream
 * socket it makes for an app, and after a restart takes back the app's restored ones.
 */
export interface ServiceRestart {
  /**
   * Tags the TCP socket `fd` (app id, socket id, placeholder pid, placeholder fd, 48 bits of
   * the app's token).
   */
  tag(fd: number, tag: number[]): void;
  /** Restored connections tagged with `appId` (each under its descriptor). */
  restoredOf(appId: number): RestoredConn[];
  /** The service took back the restored socket `fd` (it is not reaped). */
  claim(fd: number): void;
  /** The user side has the receive stream up to `delivered`: drop or skip the rest. */
  delivered(r: RestoredConn, delivered: number): void;
}

/** What {@link Persistence} counts (status). */
export interface PersistCounters {
  restored: number;
  commits: number;
  heldFrames: number;
  lost: number;
  torn: number;
  droppedOnRestore: number;
  restores: number;
  /** Restored sockets nobody took back, closed. */
  reaped: number;
  /** Of those, the ones reset (the app had not closed them: its unsent bytes went with it). */
  reapedReset: number;
}

/** The server's persistence: open once at start, before the engine. */
export class Persistence {
  readonly region: Region;
  readonly store: ShmTcbStore;
  /** The region held a previous incarnation's records. */
  readonly resumed: boolean;
  /** Why the region was not resumed (fresh, or unreadable), for the log. */
  readonly note: string;
  #held: Uint8Array[] = [];
  #heldMss: number[] = [];
  #heldTotal = 0;
  #restored: RestoredConn[] = [];
  #afterCommit: (() => void)[] = [];
  /** Restored descriptors a user took back (services, the socket service). */
  #claimed = new Set<number>();
  /** The state file, open and locked for as long as this incarnation lives. */
  #lock: Deno.FsFile;

  private constructor(
    lock: Deno.FsFile,
    region: Region,
    store: ShmTcbStore,
    resumed: boolean,
    note: string,
  ) {
    this.#lock = lock;
    this.region = region;
    this.store = store;
    // A freed record's ring pages go back to the system (tmpfs): kept, they stayed resident
    // for as long as the server ran.
    store.onRingFreed = (offset, bytes) => {
      region.release(offset, bytes);
    };
    this.resumed = resumed;
    this.note = note;
  }

  /**
   * Maps (creating it if needed) the instance's region and opens or formats the store. Takes an
   * exclusive lock on the file first (waiting for it): one writer at a time, even if a previous
   * incarnation were still alive; the kernel drops the lock when that process dies.
   */
  static open(path: string, g: StoreGeometry = DEFAULT_GEOMETRY): Persistence {
    const need = ShmTcbStore.bytes(g);
    const f = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
    let region: Region | undefined;
    try {
      f.lockSync(true);
      Deno.chmodSync(path, 0o600);
      if (f.statSync().size < need) f.truncateSync(need);
      // The header and records as one array, each ring as its own (shm_store.ts RingViews).
      region = Region.open(path, ringsOffset(g));
      const r = region;
      const rings = (offset: number, len: number) => r.bytesAt(offset, len);
      const opened = ShmTcbStore.open(region.u8, rings);
      if (typeof opened !== "string") return new Persistence(f, region, opened, true, "resumed");
      // A new store: the file emptied and grown again is all zeros without a page written
      // (formatting zeroed every record: 8 MB of tmpfs for 4096 records).
      f.truncateSync(0);
      f.truncateSync(need);
      const store = ShmTcbStore.format(region.u8, g, true, rings);
      return new Persistence(f, region, store, false, opened);
    } catch (e) {
      region?.close();
      f.close();
      throw e;
    }
  }

  /** The engine clock origin for RealContext: continues the records' clock. */
  get clockOrigin(): number {
    return this.resumed ? this.store.clock + 1 : 0;
  }

  /**
   * Holds a frame the engine sent until the turn's commit. The frame is kept, not copied: the
   * stack never touches a frame after handing it to its link (LinkEndpoint.transmit).
   * `tsoMss` is the stack's segment size for a TSO frame (0: none).
   */
  hold(frame: Uint8Array, tsoMss = 0): void {
    this.#held.push(frame);
    this.#heldMss.push(tsoMss);
  }

  /**
   * Wraps the loop's link: its flush commits the records, then lets the held frames out
   * through `transmit`, then flushes. A quiet flush (the loop's turn changed nothing, see
   * FrameLink.flush) with no frame held skips the commit: the records are already current. A
   * sender's loop spins through 5–10 empty turns per busy one (J2J over memif: 397,000 of
   * 446,000), and the commit of every connection was a third of its time.
   */
  wrap(
    link: FrameLink,
    commit: () => void,
    transmit: (frame: Uint8Array, tsoMss: number) => void,
  ): FrameLink {
    const release = () => {
      commit();
      for (const fn of this.#afterCommit) fn();
      const frames = this.#held;
      if (frames.length === 0) return;
      const mss = this.#heldMss;
      this.#heldTotal += frames.length;
      this.#held = [];
      this.#heldMss = [];
      for (let i = 0; i < frames.length; i++) transmit(frames[i], mss[i]);
    };
    return {
      receive: (d, m) => link.receive(d, m),
      flush: (quiet) => {
        if (!quiet || this.#held.length > 0) release();
        link.flush(quiet);
      },
      get pending() {
        return link.pending;
      },
      wait: (t) => link.wait(t),
    };
  }

  /**
   * Brings the previous incarnation's connections back into `api` (its Tcp must use this
   * store and have no connection yet): each under its old descriptor. Returns them.
   */
  restore(api: Sockets): RestoredConn[] {
    if (!this.resumed) return [];
    const restored = this.store.restore(api.tcp);
    this.#restored = restored;
    const tcp = api.tcp;
    // The socket layer hands out the lowest free descriptor: take them in order, filling gaps
    // with placeholders closed afterwards, so each connection gets its old number back.
    let next: ProtoSocket | undefined;
    let restoring = true;
    // Only during this call: afterwards the protocol is refused like any unknown one (an app
    // asking for it through the socket service gets EPROTONOSUPPORT, never a placeholder).
    api.register(
      SOCK_STREAM,
      IPPROTO_RESTORE,
      () => restoring ? ok(next ?? placeholder()) : err(EPROTONOSUPPORT),
    );
    // A connection its user already closed (lingering FIN exchange, TIME_WAIT) has no socket.
    for (const r of restored) if (r.conn.closed) r.fd = -1;
    const withFd = restored.filter((r) => r.fd >= 0).sort((a, b) => a.fd - b.fd);
    const placeholders: number[] = [];
    for (const r of withFd) {
      const domain = r.conn.version === 6 ? AF_INET6 : AF_INET;
      for (;;) {
        next = undefined;
        const probe = api.socket(AF_INET, SOCK_STREAM, IPPROTO_RESTORE);
        if (probe.errno !== undefined) break;
        if (probe.value >= r.fd) {
          api.close(probe.value);
          break;
        }
        placeholders.push(probe.value);
      }
      next = new TcpSocket(tcp, domain, r.conn);
      const got = api.socket(domain, SOCK_STREAM, IPPROTO_RESTORE);
      next = undefined;
      if (got.errno === undefined) r.fd = got.value;
      api.fcntl(r.fd, F_SETFL, O_NONBLOCK);
    }
    for (const fd of placeholders) api.close(fd);
    restoring = false;
    return restored;
  }

  /**
   * Hands the restored listeners and connections of ports 7 and 9 to the built-in services;
   * the rest (apps' sockets) stay in the socket table for the socket service.
   */
  adoptServices(services: { adopt(fd: number, port: number, listening: boolean): boolean }): void {
    for (const r of this.#restored) {
      if (r.fd < 0) continue;
      if (services.adopt(r.fd, r.conn.lport, r.conn.tp.state === TCPS_LISTEN)) {
        this.#claimed.add(r.fd);
      }
    }
  }

  /**
   * Closes the restored sockets nobody took back (their app exited while the server was down,
   * or never comes back): as the kernel does for a process that died, the engine ends their
   * connections. One the app had not closed yet (established, or the peer's FIN only) is
   * reset: what the app wrote after the records was in its ring, which went with the app, so a
   * FIN would end a truncated stream as if complete (a helper's 1.2 MB reply ended cleanly at
   * 1,167,028 bytes). Call it once users have had time to claim theirs. Returns how many.
   */
  reapUnclaimed(api: Sockets): number {
    let n = 0;
    for (const r of this.#restored) {
      if (r.fd < 0 || this.#claimed.has(r.fd)) continue;
      if (api.protoSocket(r.fd) === undefined) continue;
      const st = r.conn.tp.state;
      if (st === TCPS_ESTABLISHED || st === TCPS_CLOSE_WAIT) {
        api.setsockopt(r.fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 0 });
        this.reapedReset++;
      }
      api.close(r.fd);
      n++;
    }
    this.#restored = this.#restored.filter((r) => this.#claimed.has(r.fd));
    this.reaped += n;
    return n;
  }

  /** Restored sockets closed by {@link reapUnclaimed}. */
  reaped = 0;
  /** Of those, the ones reset (the app had not closed them). */
  reapedReset = 0;

  /**
   * Runs `fn` after every commit, before the turn's frames leave: where a user side that must
   * not forget bytes (the socket service's send rings) releases what the records now hold.
   */
  afterCommit(fn: () => void): void {
    this.#afterCommit.push(fn);
  }

  /**
   * Tags the TCP connection behind `fd` for its user side (the socket service: app id, socket
   * id, placeholder pid and fd): restored connections carry it back (`RestoredConn.owner`).
   * False when `fd` is not a TCP socket.
   */
  tag(api: Sockets, fd: number, tag: number[]): boolean {
    const s = api.protoSocket(fd);
    if (!(s instanceof TcpSocket)) return false;
    this.store.setOwner(s.conn.tp, tag);
    return true;
  }

  /** Restored connections whose owner tag starts with `appId`, under a descriptor. */
  restoredOf(appId: number): RestoredConn[] {
    return this.#restored.filter((r) => r.fd >= 0 && r.owner[0] === appId);
  }

  /** The hooks the socket service uses (see {@link ServiceRestart}). */
  serviceHooks(api: Sockets): ServiceRestart {
    return {
      tag: (fd, t) => {
        this.tag(api, fd, t);
      },
      restoredOf: (id) => this.restoredOf(id),
      claim: (fd) => {
        this.#claimed.add(fd);
      },
      delivered: (r, d) => {
        reconcile(r, d, r.sndTail);
      },
    };
  }

  /** The restored connection now behind descriptor `fd` (for the user side to reconcile). */
  restoredAt(fd: number): RestoredConn | undefined {
    return this.#restored.find((r) => r.fd === fd);
  }

  /** Counters for status. */
  counters(): PersistCounters {
    const c = this.store.counters;
    return {
      restored: c.restored,
      commits: c.commits,
      heldFrames: this.#heldTotal,
      lost: c.lost,
      torn: c.torn,
      droppedOnRestore: c.droppedOnRestore,
      restores: this.store.restores,
      reaped: this.reaped,
      reapedReset: this.reapedReset,
    };
  }

  /** Unmaps and unlocks (the file stays for the next incarnation). */
  close(): void {
    this.region.close();
    this.#lock.close();
  }
}

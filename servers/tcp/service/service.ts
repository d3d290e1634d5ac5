/**
 * The socket service inside the TCP/IP server (DESIGN §6, §7): apps' socket calls, taken off
 * each app's request ring (SocketCall, read in place with the hot accessors), mapped onto the
 * engine's socket API, answered on the reply ring (SocketReply); data moved between each
 * socket's byte rings in the app's region and the engine; readiness published in the socket's
 * slot and signalled on the app's placeholder eventfd.
 *
 * - Apps come from the naming server (servers/naming/apps.ts): the service connects to
 *   `apps.sock`, announces itself as "tcp" and receives the service eventfd, then a
 *   `grantRegion` (with the region's memfd) per app and a `revoke` when an app is gone (its
 *   sockets are closed).
 * - Every request is checked against that app's own sockets: the socket id's slot must be open
 *   in that app and its reuse count must match; anything else is EBADF, counted in `refused`.
 *   Malformed messages are answered with EINVAL and counted.
 * - Readiness: per socket slot, `events` (EPOLLIN/OUT/ERR/HUP/RDHUP) and `seq` (a futex word,
 *   bumped on every change, woken when a shim thread announced it waits). When bits appear that
 *   were not set before, the socket's placeholder eventfd (the shim's, taken with
 *   pidfd_getfd(2) at socket()/accept()) gets a write: so the app's poll/select/epoll over
 *   kernel fds and Joyride fds wakes up.
 * - Sleeping: {@link AppService.wrap} turns the NIC link's wait into a wait for the NIC or the
 *   service eventfd (which apps signal when they publish while `srvSleeping` is 1). While
 *   traffic is recent the loop naps instead ({@link AppService.nap}): one futex_waitv on the
 *   NIC's RX doorbell and every app's `srvSleeping` word set to 2, which the shim futex-wakes.
 *
 * @module
 */
import { hotOpen, HotStruct, HotWriter } from "../../../schema/hot_runtime.ts";
import {
  RequestHeaderHot,
  SockAddrHot,
  SocketCallHot,
  SocketReplyHot,
} from "../../../schema/gen/hot.ts";
import { Message } from "capnp-es";
import { NamingReply, NamingRequest } from "../../../schema/gen/naming.ts";
import { Region } from "../../ipc/region.ts";
import { ByteRing } from "../../ipc/byte_ring.ts";
import { MessageRing } from "../../ipc/message_ring.ts";
import { libc } from "../../../ffi/libc.ts";
import { DGRAM, RING } from "../../ipc/layout.ts";
import {
  type AppLayout,
  CTL,
  readAppLayout,
  SLOT,
  SLOT_BITS,
  slotRings,
  SRV_CLOSING,
  SRV_SHUT_WR,
} from "../../naming/apps_region.ts";
import { AppsKind, decodePacket, encodePacket } from "../../naming/apps.ts";
import {
  closeFd,
  connectSeqpacket,
  eventfdDrain,
  eventfdSignal,
  pollAsync,
  pollfds,
  recvPacket,
  revents,
  sendPacket,
  takeFdFrom,
} from "../../naming/apps_ffi.ts";
import {
  AF_INET,
  AF_INET6,
  FIONREAD,
  IPPROTO_IP,
  IPPROTO_TCP,
  MSG_NOSIGNAL,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  POLLRDHUP,
  SHUT_RD,
  SHUT_WR,
  SIOCOUTQ,
  SO_ERROR,
  SO_LINGER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  type SockAddr,
  type SocketApi,
  type SockResult,
  SOL_SOCKET,
  TCP_CORK,
  TCP_NODELAY,
  TCP_NOPUSH,
} from "../engine/socket/api.ts";
import { ipFromBytes, ipToBytes } from "../engine/ip/addr.ts";
import type { FrameLink } from "../loop.ts";
import {
  AppDirectory,
  badSocketReason,
  isEventfd,
  processMaps,
  type Refusal,
} from "../service_policy.ts";
import type { ServiceRestart } from "../persist.ts";
import { decodeCard } from "../../naming/policy.ts";
import { sizeSealed } from "../../naming/policy_seal.ts";
import { sameFile } from "../../naming/app_persist.ts";
import { recreateUdp, UdpRecords } from "./udp_restore.ts";
import { holdersOf, HolderWatch, reclaimHolder } from "./holders.ts";
import {
  getOption,
  inheritOptions,
  type OptionHost,
  type RawOption,
  setOption,
} from "./sockopts.ts";
import { hopTrace } from "../../nic/hoptrace.ts";
import { FUTEX_WAITV_MAX, FutexWaitv } from "../../ipc/futex_waitv.ts";

/** A doorbell the service's nap sleeps on besides the apps' words (the NIC's RX ring). */
export interface NapBell {
  /** Announces the sleep; the value to sleep on, or -1 when there is work already. */
  begin(): number;
  /** Ends the sleep. */
  end(): void;
  /** The bell word's address. */
  readonly pointer: Deno.PointerValue;
}
import { openDpdk } from "../../../ffi/dpdk.ts";

/**
 * Hop trace of the socket service (JOYRIDE_HOPTRACE, servers/nic/hoptrace.ts): `app.in N` bytes
 * handed to an app's receive ring, `app.out N` bytes taken from its send ring.
 */
const trace = Deno.env.get("JOYRIDE_HOPTRACE")
  ? hopTrace("svc", () => openDpdk().sym.jr_now_ns() as bigint)
  : undefined;

const EPERM = 1, ENOBUFS = 105;
/** The pid field of a dual-stack twin's restart tag (no process has it). */
const TWIN_TAG = -2;
/** Linux's default UDP socket buffer (net.core.rmem_default, wmem_default). */
const LINUX_UDP_BUF = 212992;
const EBADF = 9, EAGAIN = 11, EINVAL = 22, EMFILE = 24, EPIPE = 32, EAFNOSUPPORT = 97;
const ENETUNREACH = 101, EISCONN = 106, ENOTCONN = 107;
const ECONNRESET = 104, EINPROGRESS = 115, ECONNABORTED = 103, EADDRINUSE = 98;
const EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000;

/**
 * Bytes in a ring as both indices in shared memory say (the other side's view: this side's
 * ByteRing keeps only its own index privately).
 */
function used(r: ByteRing): number {
  const n = (ringTail(r) - ringHead(r)) >>> 0;
  return n > r.capacity ? r.capacity : n;
}

/** The producer's index of a ring (the app's, for a send ring). */
function ringTail(r: ByteRing): number {
  return r.region.u32[(r.offset + RING.OFF_TAIL) / 4];
}

/** The consumer's index of a ring (the app's, for a receive ring). */
function ringHead(r: ByteRing): number {
  return r.region.u32[(r.offset + RING.OFF_HEAD) / 4];
}

/**
 * A stream socket's send ring is writable (EPOLLOUT, and a blocked writer woken) with a third
 * of it free, as Linux's TCP sockets are (writable while the free space is at least half of
 * what is queued): a bulk writer then wakes once per third of a ring, not once per segment
 * acknowledged. Sets the ring's wake threshold (ByteRing.spaceWakeMin); returns the ring.
 */
function streamSendRing(r: ByteRing): ByteRing {
  r.spaceWakeMin = Math.ceil(r.capacity / 3);
  return r;
}

/** The most a send ring may hold and still be writable (see {@link streamSendRing}). */
function writableLimit(r: ByteRing): number {
  return r.capacity - r.spaceWakeMin;
}

/**
 * Whether consuming `consumed` bytes of `r` (just done) made room a writer may be waiting for:
 * the ring is writable now and was not before. "Before" is what is there now plus what was
 * consumed: at least what the writer last saw (it only adds), so a writer that saw the ring too
 * full is always told.
 */
function roomAppeared(r: ByteRing, consumed: number): boolean {
  const limit = writableLimit(r);
  const now = used(r);
  return consumed > 0 && now <= limit && now + consumed > limit;
}

/** Bytes before each datagram in a datagram socket's rings (layout.ts DGRAM, #pumpDgram). */
export const DGRAM_HEADER = DGRAM.HEADER_SIZE;

/** Copies `out.length` bytes starting `off` bytes into a ring's two views. */
function copyOut(views: [Uint8Array, Uint8Array], off: number, out: Uint8Array): void {
  const [a, b] = views;
  for (let i = 0; i < out.length; i++) {
    const k = off + i;
    out[i] = k < a.length ? a[k] : b[k - a.length];
  }
}

/** Copies `src` into a ring's two free-space views, starting `off` bytes in. */
function copyIn(views: [Uint8Array, Uint8Array], off: number, src: Uint8Array): void {
  const [a, b] = views;
  const first = Math.max(0, Math.min(src.length, a.length - off));
  if (first > 0) a.set(src.subarray(0, first), off);
  if (first < src.length) b.set(src.subarray(first), Math.max(0, off - a.length));
}

/** A socket of an app. */
interface Sock {
  app: App;
  slot: number;
  id: number;
  fd: number;
  type: number;
  send: ByteRing;
  recv: ByteRing;
  /** The shim's placeholder eventfd (our duplicate), or -1. */
  efd: number;
  events: number;
  soError: number;
  /**
   * The error came after the end of the stream (the peer's FIN, then a reset): the reading side
   * ended already and a reader sees end of file. Not so for a reset with data still queued: the
   * reader gets the data, then the error (curl under Joyride took a download cut by a reset
   * for complete, exit 0 where Linux's gives 56).
   */
  errAfterEof?: boolean;
  listening: boolean;
  /** The engine said end of stream (or an error): the receive ring is closed. */
  eof: boolean;
  /** The app asked for SHUT_WR: done once the send ring is drained. */
  shutWr: boolean;
  /**
   * A stream socket made here and neither connected nor listening yet: Linux polls it as
   * writable and hung up (unbound waits for that before its first send on a new socket).
   */
  fresh?: boolean;
  /** The app closed: the engine socket is closed once the send ring is drained. */
  closing: boolean;
  /** Sending failed: the send ring is closed. */
  sendDead: boolean;
  /**
   * Dual stack (Linux's default, IPV6_V6ONLY off): the engine's AF_INET listener on 0.0.0.0
   * beside an AF_INET6 stream socket bound to ::, whose accepts are merged (peers shown as
   * ::ffff:a.b.c.d); undefined when none.
   */
  twin?: number;
  /** IPV6_V6ONLY was set: no twin. */
  v6only?: boolean;
  /** Options the engine does not model, as set, and Linux's doubled SO_SNDBUF/SO_RCVBUF. */
  opts?: Map<number, number | Uint8Array>;
  /** TCP_CORK's 200 ms ceiling while corked (#cork). */
  corkTimer?: ReturnType<typeof setTimeout>;
  /** A dual-stack UDP socket connected to an IPv4-mapped peer through its twin. */
  twinConnected?: boolean;
  /** SO_LINGER as a datagram socket's app set it (no effect, read back: Linux). */
  linger?: { onoff: boolean; linger: number };
  /** Accepted through a twin: addresses are shown IPv4-mapped. */
  mapped?: boolean;
  /**
   * Issue 8: bytes sent to the engine, still in the send ring until the tcp server's next
   * commit holds them (then consumed: a restart never loses what the app was told was sent).
   */
  pendingConsume: number;
  /**
   * A stream's last pump moved nothing; with what it saw then (the app's send tail and receive
   * head, the engine's notes for the socket) unchanged, the next pump would do nothing either
   * and is skipped (see AppService's #settled). Calls on the socket clear it.
   */
  quiet?: boolean;
  sawTail?: number;
  sawHead?: number;
  sawNotes?: number;
  /** The engine's live note count for the socket (SocketApi.noteCounter), once looked up. */
  noted?: { readonly notes: number };
  /** Round-robin looks that found it settled since its last pump (see {@link SAFETY_LOOKS}). */
  skipped?: number;
}

/**
 * Every slot of an app is looked at once per this many turns (a slice each turn), besides the
 * looks that the shim's activity word and the engine's notes bring (AppService's #lookAtQuiet).
 */
const SWEEP_TURNS = 256;

/**
 * A socket the round-robin look finds settled this many times in a row is pumped anyway: a
 * change that no ring index, activity word or engine note shows is seen late, never missed.
 */
const SAFETY_LOOKS = 4;

/** How often the apps' holder tables are looked at (#reclaimHolders). */
const HOLDERS_PERIOD_MS = 1000;

/** A registered app. */
interface App {
  appId: number;
  region: Region;
  layout: AppLayout;
  req: MessageRing;
  rep: MessageRing;
  socks: Map<number, Sock>;
  /**
   * The sockets pumped every turn: all but the settled ones (#settled). A socket joins when a
   * call, the engine (a note) or the app (its activity word) may have given it something to
   * do, and leaves when a pump finds it settled.
   */
  awake: Set<Sock>;
  /** The shim's activity word (CTL.OFF_ACTIVITY) when this app's sockets were last looked at. */
  sawActivity: number;
  /** The next slot the round-robin look takes. */
  cursor: number;
  /** Reuse count per slot. */
  gens: Uint32Array;
  /** No slot below this one is free (#newSock looks from here). */
  lowFree: number;
  /** The app is gone: its sockets drain what they hold, then the region is unmapped. */
  gone: boolean;
  /** When it went (performance.now() ms): what has not drained by `drainMs` is reset. */
  goneAt?: number;
  /**
   * Slots of sockets a restart could not bring back (slot → socket id): reset for the app, kept
   * from reuse until it closes them (#deadAfterRestart).
   */
  dead?: Map<number, number>;
  /** The app's processes holding its sockets, watched (#reclaimHolders). */
  holders?: HolderWatch;
}

/** What the service counts (reported in status). */
export interface ServiceCounters {
  apps: number;
  calls: number;
  refused: number;
  malformed: number;
  bytesIn: number;
  bytesOut: number;
  signals: number;
  sendErrors: number;
  lastSendErrno: number;
  /** Naps on the NIC doorbell and the apps' words (AppService.nap). */
  naps: number;
  /** Closes with data the app never read, answered with a RST (Linux). */
  resetOnUnread: number;
  /** Apps' sockets a restart could not bring back (beyond the records): reset for the app. */
  deadOnRestart: number;
  /** Processes of apps that ended holding socket references (killed by a signal). */
  holdersEnded: number;
  /** Sockets closed because the processes that ended held their last references. */
  closedForEndedHolder: number;
  /** Apps' sockets pumped every turn after the last one (the others are settled). */
  awake: number;
  /** Sockets of gone apps reset because they had not drained in time (AppService.drainMs). */
  abandoned: number;
}

/** The socket service. */
export class AppService {
  readonly api: SocketApi;
  /** Who each app is, its policy, and the refusal counters (issue 6, service_policy.ts). */
  readonly directory = new AppDirectory();
  readonly counters: ServiceCounters = {
    apps: 0,
    calls: 0,
    refused: 0,
    malformed: 0,
    bytesIn: 0,
    bytesOut: 0,
    signals: 0,
    sendErrors: 0,
    lastSendErrno: 0,
    naps: 0,
    resetOnUnread: 0,
    deadOnRestart: 0,
    holdersEnded: 0,
    closedForEndedHolder: 0,
    awake: 0,
    abandoned: 0,
  };
  #appsPath: string;
  #conn = -1;
  #svcEfd = -1;
  readonly #waitv = new FutexWaitv();
  #lastConnect = 0;
  #apps = new Map<number, App>();
  /** Apps' sockets by engine fd (the engine's notes wake them, SocketApi.onNote). */
  #byFd = new Map<number, Sock>();
  #turns = 0;
  #holdersAt = 0;
  #connReadable = true;
  #call = new HotStruct();
  #sub = new HotStruct();
  #out = new HotStruct();
  #sub2 = new HotStruct();
  #writer: HotWriter;
  #replyBuf = new Uint8Array(4096);
  #dgHdr = new Uint8Array(DGRAM_HEADER);

  /** Issue 8: the tcp server's persistence, when it has one (set by main.ts). */
  restart: ServiceRestart | undefined;
  /** Issue 8: apps' UDP sockets, re-created after a restart (udp_restore.ts). */
  readonly udp: UdpRecords;

  /**
   * A nap that found an app's work (a bulk sender polling for its next ACK, see
   * #announceSleep) gives the CPU away first (sched_yield). For a server pinned to the CPU of
   * its NIC server (main.ts): the ACK it polls for comes through that server. Issue 9, 4
   * interleaved pairs each: two instances over memif 2.22-3.12 -> 3.12-4.01 Gbit/s; unpinned,
   * to a kernel peer, it cost 10.2-11.6 -> 7.0-9.6, so it is off there.
   */
  napYield = false;

  /**
   * How long the sockets of an app that ended may drain what they hold (ms; configuration's
   * tcp.drainSeconds): then they are reset and its region is let go.
   */
  drainMs = 60_000;

  /** What the option rules (sockopts.ts) need of the service. */
  readonly #options: OptionHost<Sock>;

  constructor(api: SocketApi, appsPath: string) {
    this.api = api;
    this.#options = {
      api,
      pump: (s) => this.#pump(s),
      cork: (s, on) => this.#cork(s, on),
      keepDgramOption: (s, level, name, v) => this.udp.option(s.app.appId, s.slot, level, name, v),
      takeError: (s) => {
        this.#pump(s);
        const e = s.soError;
        s.soError = 0;
        this.#publish(s, s.events & ~EPOLLERR, false);
        return e;
      },
    };
    api.onNote = (fd) => {
      const s = this.#byFd.get(fd);
      if (s) this.#wake(s);
    };
    this.#appsPath = appsPath;
    this.udp = new UdpRecords(appsPath.replace(/[^/]*$/, "tcp-udp.json"));
    this.#writer = new HotWriter(this.#replyBuf);
  }

  /** Ids of sockets per app (for status). */
  list(): Record<string, unknown>[] {
    // Issue 6: pid, uid, command, public token id, sockets, bytes (never the token).
    return this.directory.list((id) => this.#apps.get(id)?.socks.size ?? 0);
  }

  #connect(): void {
    const now = performance.now();
    if (now - this.#lastConnect < 500) return;
    this.#lastConnect = now;
    const fd = connectSeqpacket(this.#appsPath);
    if (fd < 0) return;
    const m = new Message();
    const r = m.initRoot(NamingRequest);
    r._initHeader().requestId = 1n;
    const a = r._initAnnounce();
    a.label = "tcp";
    a.pid = Deno.pid;
    if (sendPacket(fd, encodePacket(AppsKind.request, m)) < 0) {
      closeFd(fd);
      return;
    }
    this.#conn = fd;
    this.#connReadable = true;
  }

  #readConn(): number {
    let n = 0;
    for (;;) {
      const p = recvPacket(this.#conn);
      if (p === "again") return n;
      if (p === "eof") {
        closeFd(this.#conn);
        this.#conn = -1;
        return n;
      }
      n++;
      try {
        const { kind, message } = decodePacket(p.data);
        if (kind === AppsKind.reply) {
          const r = message.getRoot(NamingReply);
          if (r.errno === 0 && p.fds.length > 0) {
            if (this.#svcEfd >= 0) closeFd(this.#svcEfd);
            this.#svcEfd = p.fds.shift()!;
          } else if (r.errno !== 0) console.error(`tcp: apps.sock refused us: errno ${r.errno}`);
        } else if (kind === AppsKind.request) {
          const r = message.getRoot(NamingRequest);
          if (r.which() === NamingRequest.GRANT_REGION && p.fds.length > 0) {
            this.#grant(r.grantRegion.appId, p.fds.shift()!);
          } else if (r.which() === NamingRequest.REGISTER_APP) {
            // Issue 6: the app's card (who it is, its policy), sent before its region.
            const card = decodeCard(r.registerApp.name);
            const h = r.header;
            if (card && h._hasToken()) {
              this.directory.learn(h.appId, card, new Uint8Array(h.token.toUint8Array()));
            }
          } else if (r.which() === NamingRequest.REVOKE) {
            this.udp.forget(r.revoke.appId);
            this.#drop(r.revoke.appId);
            this.directory.forget(r.revoke.appId);
          }
        }
      } catch (e) {
        console.error(`tcp: bad packet on apps.sock: ${e}`);
      }
      for (const f of p.fds) closeFd(f);
    }
  }

  #grant(appId: number, fd: number): void {
    let region: Region | undefined;
    if (!sizeSealed(fd)) {
      // Issue 6: an app could shrink an unsealed memfd under us (SIGBUS on the next touch).
      this.directory.refusals.count("unsealedRegion");
      console.error(`tcp: refusing the region of app ${appId}: its size is not sealed`);
      closeFd(fd);
      return;
    }
    // Issue 8: a restarted naming grants again the regions we hold: the app's sockets stay.
    const had = this.#apps.get(appId);
    if (had && !had.gone && sameFile(had.region.fd, fd)) {
      closeFd(fd);
      return;
    }
    try {
      region = Region.adopt(fd);
      const layout = readAppLayout(region);
      const app: App = {
        appId,
        region,
        layout,
        req: MessageRing.attach(region, layout.reqRing),
        rep: MessageRing.attach(region, layout.repRing),
        socks: new Map(),
        awake: new Set(),
        sawActivity: -1,
        cursor: 0,
        gens: new Uint32Array(layout.maxSockets),
        lowFree: 0,
        gone: false,
      };
      this.#drop(appId, true);
      this.#apps.set(appId, app);
      this.counters.apps = this.#apps.size;
      this.#readopt(app);
    } catch (e) {
      console.error(`tcp: cannot attach the region of app ${appId}: ${e}`);
      if (region) region.close();
      else closeFd(fd);
    }
  }

  /**
   * An app is gone. Like the kernel after a process exits, its sockets still send what they
   * hold, then close; `now` closes them at once (the region is being replaced).
   */
  #drop(appId: number, now = false): void {
    const app = this.#apps.get(appId);
    if (!app) return;
    app.gone = true;
    app.goneAt ??= performance.now();
    app.holders?.close();
    for (const s of [...app.socks.values()]) {
      if (now || s.listening) this.#free(s);
      else {
        if (!s.closing) this.#resetIfUnread(s);
        s.closing = true; // drained, then freed by its pumps
        this.#wake(s);
      }
    }
    this.#reap(app);
  }

  #reap(app: App): void {
    if (!app.gone) return;
    if (app.socks.size > 0 && performance.now() - (app.goneAt ?? 0) > this.drainMs) {
      // What did not drain (a peer that stopped reading keeps a send ring full for ever): reset
      // and freed, so the region goes. Kept, such connections stayed ESTABLISHED or in
      // FIN_WAIT_1 for good after their app had exited, each holding the app's whole region
      // (a helper's run: still there after 12 minutes). Linux gives an orphan a few minutes of
      // probes at most.
      for (const s of [...app.socks.values()]) {
        this.api.setsockopt(s.fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 0 });
        this.counters.abandoned++;
        this.#free(s);
      }
    }
    if (app.socks.size > 0) return;
    this.#apps.delete(app.appId);
    app.region.close();
    this.counters.apps = this.#apps.size;
  }

  /** Enters a new socket in its app's table, awake, and by its engine fd. */
  #adopt(app: App, s: Sock): void {
    app.socks.set(s.slot, s);
    app.awake.add(s);
    this.#byFd.set(s.fd, s);
  }

  /** The socket may have something to do: it is pumped this turn (and until settled). */
  #wake(s: Sock): void {
    s.quiet = false;
    s.app.awake.add(s);
  }

  #free(s: Sock): void {
    clearTimeout(s.corkTimer);
    s.corkTimer = undefined;
    if (this.#byFd.get(s.fd) === s) this.#byFd.delete(s.fd);
    s.app.awake.delete(s);
    if (s.type === SOCK_DGRAM) this.udp.closed(s.app.appId, s.slot);
    this.directory.portReleased(s.fd);
    this.api.close(s.fd);
    if (s.twin !== undefined) this.api.close(s.twin);
    s.twin = undefined;
    closeFd(s.efd);
    s.efd = -1;
    s.app.socks.delete(s.slot);
    this.#releaseSlot(s.app, s.slot);
  }

  /**
   * A call on a socket a restart could not bring back (#deadAfterRestart): close lets its slot
   * go, SO_ERROR reports the reset once (as Linux), anything else fails with ENOTCONN.
   */
  #serveDead(app: App, c: HotStruct, requestId: bigint, id: number): void {
    const slot = id & ((1 << SLOT_BITS) - 1);
    const which = SocketCallHot.callWhich(c);
    if (which === SocketCallHot.CALL_CLOSE) {
      app.dead!.delete(slot);
      this.#releaseSlot(app, slot);
      return this.#fail(app, requestId, id, 0);
    }
    if (
      which === SocketCallHot.CALL_GETSOCKOPT &&
      SocketCallHot.callGetsockoptLevel(c) === SOL_SOCKET &&
      SocketCallHot.callGetsockoptName(c) === SO_ERROR
    ) {
      const word = (this.#slotBase(app, slot) + SLOT.OFF_SO_ERROR) / 4;
      const out = this.#begin(requestId, id, 0);
      SocketReplyHot.setResultSockoptInt(out, app.region.u32[word]);
      app.region.u32[word] = 0;
      return this.#reply(app, this.#writer.finish());
    }
    return this.#fail(app, requestId, id, ENOTCONN);
  }

  /**
   * Notes error `e` (0: none) for the app, unless one is noted already, in the socket's slot at
   * once: a send or recv that a closed ring is about to wake reads it there. Written only with
   * the socket's events (#publish) before, a recv blocked when the peer's RST came took the
   * closed ring for an end of file, 14-20 times in 30 (helper's repro).
   */
  #failWith(s: Sock, e: number): void {
    if (!s.soError && e) s.errAfterEof = s.eof;
    s.soError ||= e;
    s.app.region.u32[(this.#slotBase(s.app, s.slot) + SLOT.OFF_SO_ERROR) / 4] = s.soError;
  }

  /** The engine's pending error of `s` (SO_ERROR, taken), 0 when none. */
  #engineError(s: Sock): number {
    const e = this.api.getsockopt(s.fd, SOL_SOCKET, SO_ERROR);
    return typeof e.value === "number" ? e.value : 0;
  }

  /**
   * The engine took a new connect() on a stream whose earlier one failed (Linux lets a socket
   * try again: a program retrying on one socket until its server is up): the rings the failure
   * closed start afresh, and the readiness the reply is read with is the new attempt's.
   */
  #connectAgain(s: Sock): void {
    const app = s.app;
    ({ send: s.send, recv: s.recv } = this.#freshRings(app, s.slot, SOCK_STREAM));
    s.eof = s.sendDead = s.shutWr = false;
    s.soError = 0;
    s.pendingConsume = 0;
    s.quiet = false;
    s.sawTail = s.sawHead = s.sawNotes = undefined;
    app.region.u32[(this.#slotBase(app, s.slot) + SLOT.OFF_SO_ERROR) / 4] = 0;
    this.#wake(s);
    this.#pump(s);
  }

  /** Slot `slot`'s two rings, laid out empty (a stream's send ring as streams use it). */
  #freshRings(app: App, slot: number, type: number): { send: ByteRing; recv: ByteRing } {
    const r = slotRings(app.layout, slot);
    const send = ByteRing.init(app.region, r.send, app.layout.ringSize);
    if (type !== SOCK_DGRAM) streamSendRing(send);
    return { send, recv: ByteRing.init(app.region, r.recv, app.layout.ringSize) };
  }

  /** The app let go of socket `s` (its last reference). */
  #close(s: Sock): void {
    if (s.closing) return;
    this.#resetIfUnread(s);
    s.closing = true;
    this.#srvFlags(s, SRV_CLOSING, true);
    this.#pump(s);
  }

  /**
   * Keeps what the server owes socket `s` (a FIN, its freeing) in its slot, where a restarted
   * server finds it (#readopt): kept only here, a close or shutdown made just before
   * `restart tcp` was forgotten, and the connection stayed open until the app exited.
   */
  #srvFlags(s: Sock, bit: number, on: boolean): void {
    const w = (this.#slotBase(s.app, s.slot) + SLOT.OFF_SRV_FLAGS) / 4;
    const u32 = s.app.region.u32;
    u32[w] = on ? u32[w] | bit : u32[w] & ~bit;
  }

  /**
   * Linux (RFC 2525 §2.17): closing a stream with data the app never read resets the
   * connection, so the peer learns its data was not taken (FreeBSD sends a FIN). For a close,
   * and for the sockets of an app that ended without closing them (killed by a signal: the
   * peer read an end of file, then EPIPE, where Linux gives ECONNRESET at once).
   */
  #resetIfUnread(s: Sock): void {
    if (
      s.type === SOCK_STREAM && !s.listening &&
      (used(s.recv) > 0 || (this.api.ioctl?.(s.fd, FIONREAD).value ?? 0) > 0)
    ) {
      this.api.setsockopt(s.fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 0 });
      this.counters.resetOnUnread++;
    }
  }

  /**
   * Once a second: the app's processes that ended holding references (killed by a signal: no
   * exit hook gave them back) have them taken off, and the sockets left with none close, as the
   * kernel closes a dead process's descriptors (holders.ts). Returns the sockets closed.
   */
  #reclaimHolders(app: App): number {
    const l = app.layout;
    const u32 = app.region.u32;
    let closed = 0;
    for (const h of (app.holders ??= new HolderWatch()).ended(u32)) {
      this.counters.holdersEnded++;
      const slots = reclaimHolder(
        u32,
        app.region.u8,
        l.holderRows,
        l.maxSockets,
        (slot) => (this.#slotBase(app, slot) + SLOT.OFF_REFS) / 4,
        h,
      );
      for (const slot of slots) {
        const s = app.socks.get(slot);
        if (s) this.#close(s);
        else if (app.dead?.has(slot)) {
          app.dead.delete(slot);
          this.#releaseSlot(app, slot);
        } else continue;
        this.counters.closedForEndedHolder++;
        closed++;
      }
      // A process killed inside close(), after its last reference went and before its close
      // call was queued: no process holds the socket and no close comes (a helper's pre-fork
      // server, a child killed while closing: the peer waited for the FIN until the app
      // exited). A socket at no references is closed as its close call would have.
      for (const s of app.socks.values()) {
        if (s.closing || u32[(this.#slotBase(app, s.slot) + SLOT.OFF_REFS) / 4] !== 0) continue;
        this.#close(s);
        this.counters.closedForEndedHolder++;
        closed++;
      }
    }
    return closed;
  }

  /** #reclaimHolders for every app now; returns the sockets closed. */
  #reclaimAll(): number {
    let n = 0;
    for (const app of this.#apps.values()) if (!app.gone) n += this.#reclaimHolders(app);
    return n;
  }

  /** Marks `slot` free in the app's region; its next socket gets a new id. */
  #releaseSlot(app: App, slot: number): void {
    Atomics.store(app.region.u32, (this.#slotBase(app, slot) + SLOT.OFF_STATE) / 4, 0);
    app.gens[slot] = (app.gens[slot] + 1) & 0xfffff;
    app.lowFree = Math.min(app.lowFree, slot);
  }

  /**
   * After a restart: the app's sockets the records did not hold (connections beyond the state
   * region's records, `tcp.stateRecords`, which a restart loses) are reset for the app: SO_ERROR
   * ECONNRESET, both rings closed (a blocked send or recv wakes and fails, poll says
   * IN|OUT|ERR|HUP), and the slot kept until the app closes the socket. Left as they were, a
   * blocked recv waited forever. An app asleep in epoll_wait learns it at its next wake (the
   * placeholder is not known without the record).
   */
  #deadAfterRestart(app: App): void {
    const u32 = app.region.u32;
    for (let slot = 0; slot < app.layout.maxSockets; slot++) {
      const base = this.#slotBase(app, slot) / 4;
      if (app.socks.has(slot) || Atomics.load(u32, base + SLOT.OFF_STATE / 4) === 0) continue;
      const id = u32[base + SLOT.OFF_SOCKET_ID / 4] >>> 0;
      if ((id & ((1 << SLOT_BITS) - 1)) !== slot) continue; // not a socket id: left alone
      const rings = slotRings(app.layout, slot);
      try {
        ByteRing.attach(app.region, rings.recv).close("producer");
        ByteRing.attach(app.region, rings.send).close("consumer");
      } catch {
        // rings the app scribbled over: its calls on the socket fail anyway
      }
      u32[base + SLOT.OFF_SO_ERROR / 4] = ECONNRESET;
      Atomics.store(
        u32,
        base + SLOT.OFF_EVENTS / 4,
        EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP,
      );
      app.gens[slot] = id >>> SLOT_BITS;
      (app.dead ??= new Map()).set(slot, id);
      this.counters.deadOnRestart++;
    }
  }

  /** The shim's interest flags of a socket (SLOT.OFF_INTEREST). */
  #interest(s: Sock): number {
    return s.app.region.u32[(this.#slotBase(s.app, s.slot) + SLOT.OFF_INTEREST) / 4];
  }

  #slotBase(app: App, slot: number): number {
    return app.layout.slots + slot * SLOT.SIZE;
  }

  /** Serves apps: calls, data, readiness. Returns how much it did (keeps the loop awake). */
  run(): number {
    let work = 0, awake = 0;
    const t = performance.now();
    const holders = t - this.#holdersAt >= HOLDERS_PERIOD_MS;
    if (holders) this.#holdersAt = t;
    if (this.#conn < 0) this.#connect();
    if (this.#conn >= 0 && (this.#connReadable || (++this.#turns & 63) === 0)) {
      this.#connReadable = false;
      work += this.#readConn();
    }
    for (const app of this.#apps.values()) {
      // Issue 6: more calls queued at once than the app's `pending` limit is a flood (the shim
      // has one call in flight per app): those beyond it are refused with ENOBUFS. Calls that
      // arrive during the turn (a fast app answering our replies) are not counted.
      const limit = this.directory.pendingLimit(app.appId);
      const queuedTo = app.region.u32[(app.req.offset + RING.OFF_TAIL) / 4];
      let queued = 0;
      for (let i = 0; i < 64 && !app.gone; i++) {
        const msg = app.req.peek();
        if (!msg) break;
        const ahead = (queuedTo - app.req.consumed) >>> 0;
        const early = ahead > 0 && ahead <= app.req.capacity;
        if (early && ++queued > limit) this.#refuseFlood(app, msg);
        else this.#serveCall(app, msg);
        app.req.release();
        work++;
      }
      if (!app.gone && (app.req.error || app.rep.error)) {
        this.directory.refusals.count("badRing");
        this.#drop(app.appId);
        work++; // its sockets closed: the turn's commit must store that
      }
      // A gone app's sockets are all awake (closing), and its region may be unmapped already.
      if (!app.gone) this.#lookAtQuiet(app);
      if (holders && !app.gone) work += this.#reclaimHolders(app);
      for (const s of app.awake) {
        work += this.#pump(s);
        if (this.#settled(s)) app.awake.delete(s);
      }
      awake += app.awake.size;
      if (app.gone) this.#reap(app);
    }
    this.counters.awake = awake;
    this.udp.flushSoon(); // what the calls did to UDP sockets, for a restart (issue 8)
    return work;
  }

  #reply(app: App, len: number): void {
    if (this.#oneWay) return;
    if (!app.rep.push(this.#replyBuf.subarray(0, len))) {
      this.counters.refused++;
      this.directory.refusals.count("replyOverflow");
    }
  }

  /** Counts a refusal (issue 6) and answers it. */
  #refuse(app: App, requestId: bigint, socketId: number, r: Refusal): void {
    this.counters.refused++;
    this.directory.refusals.count(r.reason);
    this.#fail(app, requestId, socketId, r.errno);
  }

  /** Answers a call queued beyond the app's `pending` limit with ENOBUFS. */
  #refuseFlood(app: App, msg: Uint8Array<ArrayBuffer>): void {
    const c = this.#call, h = this.#sub;
    const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const ok = hotOpen(dv, c) === 0 && SocketCallHot.header(c, h) === 0;
    const requestId = ok ? RequestHeaderHot.requestId(h) : 0n;
    this.#refuse(app, requestId, ok ? SocketCallHot.socketId(c) : 0, {
      reason: "limitPending",
      errno: ENOBUFS,
    });
  }

  /** Starts a reply; returns the root. */
  #begin(requestId: bigint, socketId: number, errno: number): HotStruct {
    const out = this.#out;
    SocketReplyHot.initRoot(this.#writer, out);
    const h = this.#sub2;
    SocketReplyHot.initHeader(this.#writer, out, h);
    h.dv.setBigUint64(h.data, requestId, true);
    SocketReplyHot.setSocketId(out, socketId);
    SocketReplyHot.setErrno(out, errno);
    SocketReplyHot.setResultNone(out);
    return out;
  }

  #fail(app: App, requestId: bigint, socketId: number, errno: number): void {
    this.#begin(requestId, socketId, errno);
    this.#reply(app, this.#writer.finish());
  }

  #sockOf(app: App, id: number): Sock | undefined {
    const s = app.socks.get(id & ((1 << SLOT_BITS) - 1));
    return s && s.id === id && !s.closing ? s : undefined;
  }

  /**
   * Settled sockets that may have something to do now join the app's awake set: every one
   * whose rings moved when the shim's activity word moved since the last look (the app wrote or
   * read a ring, made a call or waited), none otherwise; and each turn a round-robin slice of
   * the slots, so that every socket is looked at once per SWEEP_TURNS turns and pumped anyway
   * after SAFETY_LOOKS such looks. An app whose sockets all idle costs a load a turn, not a
   * look at each (issue 9: 2,000 sockets an app held idle cut another flow to a third).
   */
  #lookAtQuiet(app: App): void {
    const i32 = app.region.i32;
    const act = Atomics.load(i32, CTL.OFF_ACTIVITY / 4);
    if (act !== app.sawActivity) {
      app.sawActivity = act;
      // Only the sockets whose rings the shim moved (CTL.OFF_TOUCHED); a bit set after the
      // exchange comes with a later move of the activity word, seen next turn.
      const words = Math.ceil(app.layout.maxSockets / 32);
      for (let w = 0, at = CTL.OFF_TOUCHED / 4; w < words; w++, at++) {
        if (i32[at] === 0) continue;
        let bits = Atomics.exchange(i32, at, 0);
        while (bits !== 0) {
          const low = bits & -bits;
          bits ^= low;
          const s = app.socks.get(w * 32 + 31 - Math.clz32(low));
          if (s && !app.awake.has(s) && !this.#settled(s)) app.awake.add(s);
        }
      }
    }
    const slots = app.layout.maxSockets;
    for (let i = Math.ceil(slots / SWEEP_TURNS); i > 0; i--) {
      const s = app.socks.get(app.cursor);
      app.cursor = app.cursor + 1 < slots ? app.cursor + 1 : 0;
      if (!s || app.awake.has(s)) continue;
      if (!this.#settled(s) || (s.skipped = (s.skipped ?? 0) + 1) > SAFETY_LOOKS) app.awake.add(s);
    }
  }

  /**
   * Nothing happened to a quiet socket since its last pump: the app neither wrote nor read,
   * and the engine noted nothing for it. Idle sockets then cost a few loads a turn instead of a
   * pump: an iperf3 flow beside 2,000 connections an app held idle fell from 13.8 to
   * 1.8 Gbit/s when every socket was pumped every turn. Datagram sockets too: pumped every
   * turn, an app's 4,000 idle ones kept the server at 30 % of a core, and making them took
   * 8 s (each socket() a turn that pumped all those before it).
   */
  #settled(s: Sock): boolean {
    if (
      !s.quiet || s.listening || s.closing || s.shutWr ||
      s.pendingConsume !== 0 || s.twin !== undefined
    ) return false;
    return s.noted !== undefined && s.noted.notes === s.sawNotes &&
      ringTail(s.send) === s.sawTail && ringHead(s.recv) === s.sawHead;
  }

  #addr(s: HotStruct): SockAddr | undefined {
    const fam = SockAddrHot.family(s);
    const b = SockAddrHot.addr(s);
    if (!b) return undefined;
    if (fam === 1 && b.length === 4) {
      return { family: AF_INET, addr: ipFromBytes(b, 0, 4), port: SockAddrHot.port(s) };
    }
    if (fam === 2 && b.length === 16) {
      return { family: AF_INET6, addr: ipFromBytes(b, 0, 6), port: SockAddrHot.port(s) };
    }
    if (fam === 0 && b.length === 4) {
      // AF_UNSPEC (a UDP connect that dissolves the association); only CALL_CONNECT takes it.
      return { family: 0, addr: "0.0.0.0", port: 0 } as unknown as SockAddr;
    }
    return undefined;
  }

  #writeAddr(out: HotStruct, a: SockAddr): void {
    SockAddrHot.setFamily(out, a.family === AF_INET ? 1 : 2);
    SockAddrHot.setPort(out, a.port);
    SockAddrHot.setAddr(this.#writer, out, ipToBytes(a.addr));
  }

  /**
   * Socket `s` (stream) was bound to `a`: an AF_INET6 socket on :: without IPV6_V6ONLY gets an
   * IPv4 twin on 0.0.0.0 and the same port (the engine's TCP is IPv6-only; Linux's default is
   * dual stack: node, openssl s_server and others listen on :: for IPv4 clients). A port
   * the twin cannot take leaves the socket IPv6-only.
   */
  #dualStack(s: Sock, a: SockAddr): void {
    if (a.family !== AF_INET6 || a.addr !== "::" || s.v6only || s.twin !== undefined) return;
    const api = this.api;
    const port = a.port !== 0 ? a.port : api.getsockname(s.fd).value?.port;
    if (!port) return;
    const t = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (t.errno !== undefined) return;
    api.setsockopt(t.value, SOL_SOCKET, SO_REUSEADDR, 1);
    this.#shareTwin(s, t.value);
    if (api.bind(t.value, { family: AF_INET, addr: "0.0.0.0", port }).errno !== undefined) {
      api.close(t.value);
      return;
    }
    s.twin = t.value;
    // Tagged as socket s's twin (pid TWIN_TAG, no placeholder): a restarted server gives it
    // back to s, so a `::` listener keeps taking IPv4 after `joyride restart tcp`.
    this.restart?.tag(t.value, [s.app.appId, s.id, TWIN_TAG, -1, this.#token48(s.app.appId)]);
  }

  /**
   * The IPv4 twin of a dual-stack UDP socket (AF_INET6, no IPV6_V6ONLY; the engine's UDP is
   * per version): an AF_INET socket on 0.0.0.0 and the same port, made on a bind to :: or
   * the first IPv4-mapped destination. Datagrams from it show IPv4-mapped sources; those to
   * ::ffff:a.b.c.d go out through it (iperf3 -u serves IPv4 clients on such a socket).
   * False when the socket is IPv6-only, IPv4, or the port cannot be had.
   */
  #udpTwin(s: Sock): boolean {
    if (s.twin !== undefined) return true;
    const api = this.api;
    if (s.v6only || s.type !== SOCK_DGRAM) return false;
    const name = api.getsockname(s.fd).value;
    if (!name || name.family !== AF_INET6 || name.addr !== "::") return false;
    const t = api.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (t.errno !== undefined) return false;
    api.setsockopt(t.value, SOL_SOCKET, SO_RCVBUF, LINUX_UDP_BUF);
    api.setsockopt(t.value, SOL_SOCKET, SO_SNDBUF, LINUX_UDP_BUF);
    this.#shareTwin(s, t.value);
    const port = name.port;
    if (api.bind(t.value, { family: AF_INET, addr: "0.0.0.0", port }).errno !== undefined) {
      api.close(t.value);
      return false;
    }
    s.twin = t.value;
    // IPv4 options the app set before the twin existed (IP_TTL, IP_TOS… were kept for it):
    // IPv4 datagrams went out with the defaults while getsockopt read back what was set.
    for (const [k, v] of s.opts ?? []) {
      if (k < 65536 && (typeof v === "number" || v instanceof Uint8Array)) {
        api.setsockopt(t.value, IPPROTO_IP, k, v);
      }
    }
    return true;
  }

  /**
   * A twin of an SO_REUSEPORT socket shares its IPv4 port too: the twins of a `[::]:port
   * reuseport` group (nginx workers) form the engine's IPv4 group, so IPv4 peers spread over
   * every member, not only the first (whose twin alone could bind).
   */
  #shareTwin(s: Sock, twin: number): void {
    if (this.api.getsockopt(s.fd, SOL_SOCKET, SO_REUSEPORT).value) {
      this.api.setsockopt(twin, SOL_SOCKET, SO_REUSEPORT, 1);
    }
  }

  /**
   * The slot a new socket of the app gets, or the refusal's errno (negated, counted): the
   * limits first (the region has as many slots as the `sockets` limit, R5), then the lowest free
   * slot (an app's region pages stay few), looked for from the lowest one that may be free: from
   * 0 each time, each socket cost a look at every one in use (an app opening 2,000 connections:
   * 0.3 s per 250 at first, 3.4 s at the end, under load).
   */
  #freeSlot(app: App): number {
    const lim = this.directory.checkNewSocket(app.appId, app.socks.size, app.layout.socketBytes);
    if (lim) return -this.directory.refusals.count(lim.reason, lim.errno);
    for (let i = app.lowFree; i < app.layout.maxSockets; i++) {
      if (!app.socks.has(i) && !app.dead?.has(i)) return i;
    }
    return -EMFILE;
  }

  #newSock(app: App, fd: number, type: number, pid: number, placeholder: number): Sock | number {
    // Issue 6: limits, and a placeholder only from a process of the app's uid or one that
    // inherited its region (a forked child that dropped privileges), only an eventfd.
    const slot = this.#freeSlot(app);
    if (slot < 0) return -slot;
    let efd = -1;
    if (placeholder >= 0) {
      const mapsRegion = (p: number) => processMaps(p, app.region.fd);
      let h = this.directory.placeholderProcess(app.appId, pid, undefined, mapsRegion);
      efd = h < 0 ? -1 : takeFdFrom(h, placeholder);
      if (h >= 0 && efd < 0) {
        // The process the handle names may have ended and its pid be another's: check afresh.
        this.directory.forgetProcess(app.appId, pid);
        h = this.directory.placeholderProcess(app.appId, pid, undefined, mapsRegion);
        efd = h < 0 ? -1 : takeFdFrom(h, placeholder);
      }
      if (h < 0) return this.directory.refusals.count("badPlaceholder", EPERM);
      if (efd < 0 || !isEventfd(efd)) {
        if (efd >= 0) closeFd(efd);
        return this.directory.refusals.count("badPlaceholder", EPERM);
      }
    }
    app.lowFree = slot + 1; // taken (a refused placeholder above leaves it free)
    const { send, recv } = this.#freshRings(app, slot, type);
    const id = ((app.gens[slot] << SLOT_BITS) | slot) >>> 0;
    const s: Sock = {
      app,
      slot,
      id,
      fd,
      type,
      send,
      recv,
      efd: efd < 0 ? -1 : efd,
      events: 0,
      soError: 0,
      listening: false,
      eof: false,
      shutWr: false,
      closing: false,
      sendDead: false,
      pendingConsume: 0,
    };
    this.#adopt(app, s);
    const base = this.#slotBase(app, slot) / 4;
    const u32 = app.region.u32;
    u32[base + SLOT.OFF_EVENTS / 4] = 0;
    u32[base + SLOT.OFF_SO_ERROR / 4] = 0;
    u32[base + SLOT.OFF_REFS / 4] = 1;
    u32[base + SLOT.OFF_INTEREST / 4] = 0;
    u32[base + SLOT.OFF_SEND_LOCK / 4] = 0;
    u32[base + SLOT.OFF_RECV_LOCK / 4] = 0;
    u32[base + SLOT.OFF_SOCKET_ID / 4] = id;
    u32[base + SLOT.OFF_TYPE / 4] = type === SOCK_DGRAM ? 2 : 1;
    u32[base + SLOT.OFF_EFD_ID / 4] = u32[base + SLOT.OFF_EFD_ID / 4 + 1] = 0;
    u32[base + SLOT.OFF_HANDOFF / 4] = 0;
    u32[base + SLOT.OFF_FLAGS / 4] = 0;
    u32[base + SLOT.OFF_SRV_FLAGS / 4] = 0;
    u32[base + SLOT.OFF_OUTQ / 4] = 0;
    Atomics.store(u32, base + SLOT.OFF_STATE / 4, 1);
    if (type !== SOCK_DGRAM && this.restart) {
      this.restart.tag(fd, [app.appId, id, pid, placeholder, this.#token48(app.appId)]);
    }
    return s;
  }

  /**
   * Issue 8: after a tcp server restart, takes back the app's stream sockets the engine
   * restored (tagged by #newSock), and lines their rings up with the records: receive bytes
   * the app already has are skipped, send bytes the records hold are consumed.
   */
  #readopt(app: App): void {
    this.#readoptUdp(app);
    const hooks = this.restart;
    if (!hooks) return;
    const token = this.#token48(app.appId);
    const twins: ReturnType<ServiceRestart["restoredOf"]> = [];
    for (const r of hooks.restoredOf(app.appId)) {
      // The same app, not a later one given the same id: its token must match too.
      if (token === 0 || r.owner[4] !== token) {
        this.directory.refusals.count("foreignApp");
        continue;
      }
      if (r.owner[2] === TWIN_TAG) {
        twins.push(r); // a dual-stack listener's IPv4 twin: given back below
        continue;
      }
      const id = r.owner[1] >>> 0;
      const slot = id & ((1 << SLOT_BITS) - 1);
      if (slot >= app.layout.maxSockets || app.socks.has(slot)) continue;
      const rings = slotRings(app.layout, slot);
      let send: ByteRing, recv: ByteRing;
      try {
        send = streamSendRing(ByteRing.attach(app.region, rings.send));
        recv = ByteRing.attach(app.region, rings.recv);
      } catch {
        continue;
      }
      const efd = this.#placeholderAgain(app, slot, r.owner[2], r.owner[3]);
      // What the previous incarnation owed it: a FIN after the send ring, or its close (also
      // when no process of the app holds it any more: the close call may not have come).
      const slotWord = (this.#slotBase(app, slot) + SLOT.OFF_SRV_FLAGS) / 4;
      const owed = app.region.u32[slotWord];
      const unheld = app.region.u32[(this.#slotBase(app, slot) + SLOT.OFF_REFS) / 4] === 0;
      const s: Sock = {
        app,
        slot,
        id,
        fd: r.fd,
        type: SOCK_STREAM,
        send,
        recv,
        efd,
        events: 0,
        soError: 0,
        listening: r.conn.tp.state === 1, // TCPS_LISTEN
        eof: false,
        shutWr: (owed & SRV_SHUT_WR) !== 0,
        closing: (owed & SRV_CLOSING) !== 0 || unheld,
        sendDead: false,
        pendingConsume: 0,
      };
      this.#adopt(app, s);
      app.gens[slot] = id >>> SLOT_BITS;
      hooks.claim(r.fd);
      // Issue 6: a restored listener holds its port against other uids again.
      const name = s.listening ? this.api.getsockname(r.fd) : undefined;
      if (name?.errno === undefined && name?.value.port) {
        this.directory.portBound(r.fd, app.appId, SOCK_STREAM, name.value.port);
      }
      const u32 = app.region.u32;
      // Free-running u32 byte counters on both sides (the records' offsets start with the socket).
      const got = (u32[(rings.recv + RING.OFF_TAIL) / 4] - (r.rcvHead >>> 0)) >>> 0;
      if (got <= recv.capacity) hooks.delivered(r, r.rcvHead + got);
      const held = ((r.sndTail >>> 0) - u32[(rings.send + RING.OFF_HEAD) / 4]) >>> 0;
      if (held <= send.capacity) send.consume(held);
    }
    for (const r of twins) {
      const s = app.socks.get((r.owner[1] >>> 0) & ((1 << SLOT_BITS) - 1));
      if (!s || s.id !== r.owner[1] >>> 0 || s.twin !== undefined) continue;
      s.twin = r.fd;
      hooks.claim(r.fd);
    }
    this.#deadAfterRestart(app);
  }

  /** Issue 8: re-creates the app's UDP sockets the previous incarnation recorded. */
  /**
   * After a restart: the placeholder of a restored socket in `slot`, taken again from a process
   * that holds it now (-1: none found). The records name the process that made the socket and
   * its fd; that process may have closed it since while a forked child kept it (PostgreSQL's
   * postmaster closes each connection it hands to a backend: the backend's epoll_wait never
   * woke again after `./joyride restart tcp`). So the holder table decides: the maker if it
   * still holds the slot, else each holder in turn under the same fd number (what a fork
   * inherits). Without holder entries, the maker's fd as recorded.
   */
  #placeholderAgain(app: App, slot: number, pid: number, fd: number): number {
    if (fd < 0) return -1;
    const held = holdersOf(
      app.region.u32,
      app.region.u8,
      app.layout.holderRows,
      app.layout.maxSockets,
      slot,
    );
    const order = held.length === 0 ? [pid] : [
      ...(held.includes(pid) ? [pid] : []),
      ...held.filter((p) => p !== pid),
    ];
    // Each candidate passes the check a new socket's process passes (#newSock): the holder
    // table is the app's to write, and a pid put there made the server take that process's
    // descriptor, any process on the host (a helper's hostile app).
    const mapsRegion = (q: number) => processMaps(q, app.region.fd);
    for (const p of order) {
      const h = this.directory.placeholderProcess(app.appId, p, undefined, mapsRegion);
      if (h < 0) {
        this.directory.refusals.count("badPlaceholder");
        continue;
      }
      const efd = takeFdFrom(h, fd);
      if (efd >= 0 && isEventfd(efd)) return efd;
      if (efd >= 0) closeFd(efd);
    }
    return -1;
  }

  #readoptUdp(app: App): void {
    const token = this.#token48(app.appId);
    for (const r of this.udp.restoredOf(app.appId)) {
      const slot = r.slot, rings = slotRings(app.layout, slot);
      let send: ByteRing | undefined, recv: ByteRing | undefined, fd: number | undefined;
      const ok = token !== 0 && r.token48 === token && slot < app.layout.maxSockets &&
        !app.socks.has(slot);
      try {
        if (ok) [send, recv] = [rings.send, rings.recv].map((o) => ByteRing.attach(app.region, o));
      } catch {
        send = undefined;
      }
      if (send && recv) fd = recreateUdp(this.api, r);
      if (!send || !recv || fd === undefined) {
        this.udp.done(r, false);
        continue;
      }
      const efd = this.#placeholderAgain(app, slot, r.pid, r.placeholder);
      const s: Sock = {
        app,
        slot,
        id: r.id,
        fd,
        type: SOCK_DGRAM,
        send,
        recv,
        efd,
        events: 0,
        soError: 0,
        listening: false,
        eof: false,
        shutWr: false,
        closing: false,
        sendDead: false,
        pendingConsume: 0,
        v6only: r.v6only,
      };
      this.#adopt(app, s);
      app.gens[slot] = r.id >>> SLOT_BITS;
      this.api.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, LINUX_UDP_BUF);
      this.api.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, LINUX_UDP_BUF);
      if (r.local?.port) this.directory.portBound(fd, app.appId, SOCK_DGRAM, r.local.port);
      // A dual-stack socket on :: gets its IPv4 twin again, connected to its IPv4 peer if it was.
      if (r.local?.addr === "::" && !r.v6only && this.#udpTwin(s) && r.twinPeer) {
        s.twinConnected = this.api.connect(s.twin!, r.twinPeer).errno === undefined;
      }
      // Its IP-level options again (multicast memberships: a receiver heard its group no more).
      for (const [level, name, v] of r.opts ?? []) {
        const value = typeof v === "number" ? v : new Uint8Array(v);
        const twin = s.twin !== undefined && level === IPPROTO_IP;
        this.api.setsockopt(twin ? s.twin! : fd, level, name, value);
      }
      this.udp.done(r, true);
    }
  }

  /** 48 bits of the app's token (0: unknown), as a safe integer for the records' owner tag. */
  #token48(appId: number): number {
    const t = this.directory.get(appId)?.token;
    if (!t || t.length < 6) return 0;
    let v = 0;
    for (let i = 0; i < 6; i++) v = v * 256 + t[i];
    return v;
  }

  /** Issue 8: the tcp server committed its records: release what the engine now holds. */
  committed(): void {
    for (const app of this.#apps.values()) {
      // A socket with bytes to release is never settled: it is awake.
      for (const s of app.awake) {
        if (s.pendingConsume > 0) {
          const consumed = s.pendingConsume;
          s.send.consume(consumed);
          s.pendingConsume = 0;
          // The room the app may wait for appears only now: tell it.
          if (roomAppeared(s.send, consumed) && !s.sendDead) {
            this.#publish(s, s.events | EPOLLOUT, true);
          }
        }
      }
    }
  }

  #ringsReply(out: HotStruct, s: Sock, accept: boolean): void {
    const r = this.#sub;
    if (accept) SocketReplyHot.initResultAcceptRings(this.#writer, out, r);
    else SocketReplyHot.initResultSocketRings(this.#writer, out, r);
    const o = slotRings(s.app.layout, s.slot);
    r.dv.setBigUint64(r.data, BigInt(o.send), true);
    r.dv.setBigUint64(r.data + 8, BigInt(o.recv), true);
    r.dv.setUint32(r.data + 16, s.app.layout.ringSize, true);
  }

  /**
   * The call being served wants no reply: its request id's low half is 0 (the shim's
   * oneway_call, for options that cannot fail: TCP_NODELAY, TCP_CORK).
   */
  #oneWay = false;

  #serveCall(app: App, msg: Uint8Array<ArrayBuffer>): void {
    try {
      this.#serveCallOnce(app, msg);
    } finally {
      this.#oneWay = false;
    }
  }

  #serveCallOnce(app: App, msg: Uint8Array<ArrayBuffer>): void {
    this.counters.calls++;
    const c = this.#call;
    const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    if (hotOpen(dv, c) !== 0) {
      this.counters.malformed++;
      this.directory.refusals.count("malformed");
      return this.#fail(app, 0n, 0, EINVAL);
    }
    const h = this.#sub;
    const requestId = SocketCallHot.header(c, h) === 0 && h.dataBytes >= 8
      ? h.dv.getBigUint64(h.data, true)
      : 0n;
    this.#oneWay = requestId !== 0n && (requestId & 0xffffffffn) === 0n;
    const id = SocketCallHot.socketId(c);
    const which = SocketCallHot.callWhich(c);
    const api = this.api;
    // Issue 6: the header must carry this app's own id and token.
    const hasHeader = SocketCallHot.header(c, h) === 0;
    const bad = this.directory.checkHeader(
      app.appId,
      hasHeader ? RequestHeaderHot.appId(h) : 0,
      hasHeader ? RequestHeaderHot.token(h) : undefined,
    );
    if (bad) return this.#refuse(app, requestId, id, bad);
    if (which === SocketCallHot.CALL_SOCKET) {
      const fam = SocketCallHot.callSocketFamily(c);
      const af = fam === 1 ? AF_INET : fam === 2 ? AF_INET6 : -1;
      if (af < 0) return this.#fail(app, requestId, 0, EAFNOSUPPORT);
      const type = SocketCallHot.callSocketType(c) === 1 ? SOCK_DGRAM : SOCK_STREAM;
      const r = api.socket(af, type | SOCK_NONBLOCK, SocketCallHot.callSocketProtocol(c));
      if (r.errno !== undefined) return this.#fail(app, requestId, 0, r.errno);
      const s = this.#newSock(
        app,
        r.value,
        type,
        SocketCallHot.pid(c),
        SocketCallHot.placeholderFd(c),
      );
      if (typeof s === "number") {
        api.close(r.value);
        return this.#fail(app, requestId, 0, s);
      }
      if (type === SOCK_DGRAM) {
        // Linux's net.core.rmem_default/wmem_default (FreeBSD's 42080 would drop a datagram
        // over 42 KB; Linux takes 65,507 bytes).
        api.setsockopt(r.value, SOL_SOCKET, SO_RCVBUF, LINUX_UDP_BUF);
        api.setsockopt(r.value, SOL_SOCKET, SO_SNDBUF, LINUX_UDP_BUF);
        this.udp.opened({
          appId: app.appId,
          token48: this.#token48(app.appId),
          id: s.id,
          slot: s.slot,
          pid: SocketCallHot.pid(c),
          placeholder: SocketCallHot.placeholderFd(c),
          domain: af,
        });
      }
      if (type === SOCK_STREAM) {
        s.fresh = true;
        this.#publish(s, EPOLLOUT | EPOLLHUP, false);
      }
      const out = this.#begin(requestId, s.id, 0);
      SocketReplyHot.setResultSocket(out);
      SocketReplyHot.setResultSocketSocketId(out, s.id);
      this.#ringsReply(out, s, false);
      return this.#reply(app, this.#writer.finish());
    }
    const s = this.#sockOf(app, id);
    if (!s) {
      const slot = id & ((1 << SLOT_BITS) - 1);
      if (app.dead?.get(slot) === id) return this.#serveDead(app, c, requestId, id);
      const reason = app.socks.get(slot)?.id === id
        ? "staleSocket" // closed, still draining
        : badSocketReason(id >>> SLOT_BITS, app.gens[slot] ?? 0);
      return this.#refuse(app, requestId, id, { reason, errno: EBADF });
    }
    this.#wake(s); // a call may change anything: the socket is pumped this turn
    switch (which) {
      case SocketCallHot.CALL_BIND:
      case SocketCallHot.CALL_CONNECT: {
        const got = which === SocketCallHot.CALL_BIND
          ? SocketCallHot.callBind(c, h)
          : SocketCallHot.callConnect(c, h);
        const a = got === 0 ? this.#addr(h) : undefined;
        if (!a) return this.#fail(app, requestId, id, EINVAL);
        const bind = which === SocketCallHot.CALL_BIND;
        if ((a.family as number) === 0) {
          if (bind || s.type !== SOCK_DGRAM) return this.#fail(app, requestId, id, EAFNOSUPPORT);
          if (s.twin !== undefined) api.connect(s.twin, a);
          s.twinConnected = false;
          const r0 = api.connect(s.fd, a);
          this.udp.named(app.appId, s.slot, api, s.fd, { v6only: s.v6only }); // issue 8
          return this.#fail(app, requestId, id, r0.errno ?? 0);
        }
        if (bind) {
          // Issue 6: ports < 1024, and no port shared with another uid's sockets.
          const no = this.directory.checkBind(app.appId, a.port) ??
            this.directory.checkPortShare(app.appId, s.type, a.port);
          if (no) return this.#refuse(app, requestId, id, no);
        }
        // An IPv6-only socket reaches no IPv4 peer: its mapped addresses are unreachable.
        if (!bind && s.v6only && unmappedAddr(a)) {
          return this.#fail(app, requestId, id, ENETUNREACH);
        }
        // A listener connects nowhere: EISCONN as Linux (the engine's FreeBSD says EOPNOTSUPP).
        if (!bind && s.listening) return this.#fail(app, requestId, id, EISCONN);
        const v4 = s.type === SOCK_DGRAM && !bind ? unmappedAddr(a) : undefined;
        if (v4 && this.#udpTwin(s)) {
          // A dual-stack UDP socket connected to an IPv4-mapped peer: its IPv4 twin carries it.
          const r4 = api.connect(s.twin!, v4);
          if (r4.errno === undefined) s.twinConnected = true;
          // Issue 8: the twin's peer is recorded, so a restarted server connects it again.
          if (r4.errno === undefined) {
            this.udp.named(app.appId, s.slot, api, s.fd, { v6only: s.v6only, twinPeer: v4 });
          }
          return this.#fail(app, requestId, id, r4.errno ?? 0);
        }
        const failedBefore = !bind && s.type === SOCK_STREAM && (s.eof || s.sendDead);
        let r = bind ? api.bind(s.fd, a) : api.connect(s.fd, a);
        // The port may be held by a socket whose last holder was killed a moment ago (its
        // references not yet taken off: #reclaimHolders runs once a second): look now, as
        // the kernel would have closed it (varnish reopens its listener after its child dies).
        if (bind && r.errno === EADDRINUSE && this.#reclaimAll() > 0) r = api.bind(s.fd, a);
        // A connect() that reports how an earlier one failed takes the error (Linux): the
        // engine's, or the one the service took from it for the app's SO_ERROR (the engine
        // then says ECONNABORTED: Linux's "error already taken").
        if (!bind && r.errno === ECONNABORTED && s.soError !== 0) r = { errno: s.soError };
        if (!bind && r.errno !== undefined && r.errno === s.soError) {
          s.soError = 0;
          app.region.u32[(this.#slotBase(app, s.slot) + SLOT.OFF_SO_ERROR) / 4] = 0;
        }
        if (failedBefore && r.errno === EINPROGRESS) this.#connectAgain(s);
        if (!bind && s.fresh) {
          // Connecting: readiness from the engine before the reply (not writable until up).
          s.fresh = false;
          this.#pump(s);
        }
        if (s.type === SOCK_DGRAM && r.errno === undefined) {
          this.udp.named(app.appId, s.slot, api, s.fd, { v6only: s.v6only });
        }
        if (bind && r.errno === undefined && a.port !== 0) {
          this.directory.portBound(s.fd, app.appId, s.type, a.port);
        }
        if (bind && r.errno === undefined && s.type === SOCK_STREAM) this.#dualStack(s, a);
        // Linux: bound to a specific IPv6 address (not IPv4-mapped), a socket is IPv6-only.
        if (
          bind && r.errno === undefined && a.family === AF_INET6 && a.addr !== "::" &&
          !unmappedAddr(a)
        ) {
          s.v6only = true;
        }
        if (bind && r.errno === undefined && s.type === SOCK_DGRAM && a.addr === "::") {
          this.#udpTwin(s);
        }
        return this.#fail(app, requestId, id, r.errno ?? 0);
      }
      case SocketCallHot.CALL_LISTEN: {
        const backlog = Math.max(1, Math.min(SocketCallHot.callListen(c), 4096));
        const r = api.listen(s.fd, backlog);
        if (r.errno === undefined) s.listening = true;
        if (r.errno === undefined && s.fresh) {
          s.fresh = false;
          this.#pump(s);
        }
        if (r.errno === undefined && s.twin !== undefined) api.listen(s.twin, backlog);
        return this.#fail(app, requestId, id, r.errno ?? 0);
      }
      case SocketCallHot.CALL_ACCEPT: {
        // Past the app's limits the connection stays queued (Linux's EMFILE leaves it in the
        // accept queue): refused after taking it, it was closed and its client read an EOF.
        const room = this.#freeSlot(app);
        if (room < 0) return this.#fail(app, requestId, id, -room);
        let r = api.accept(s.fd);
        let mapped = false;
        if (r.errno === EAGAIN && s.twin !== undefined) {
          const r4 = api.accept(s.twin);
          if (r4.errno === undefined) {
            r = { value: { ...r4.value, peer: mappedAddr(r4.value.peer) } };
            mapped = true;
          }
        }
        // The listener's readiness now (an emptied queue drops EPOLLIN: the next connection
        // is a new edge).
        this.#pump(s);
        if (r.errno !== undefined) return this.#fail(app, requestId, id, r.errno);
        const n = this.#newSock(
          app,
          r.value.fd,
          s.type,
          SocketCallHot.pid(c),
          SocketCallHot.placeholderFd(c),
        );
        if (typeof n === "number") {
          api.close(r.value.fd);
          return this.#fail(app, requestId, id, n);
        }
        if (mapped) n.mapped = true;
        inheritOptions(s, n);
        // What came before the accept (data, a FIN, a reset) is in the rings and the slot
        // before the app has the socket: a poll(0) or recv right after accept() sees it (it
        // found nothing for ~1 ms, not even POLLOUT).
        this.#pump(n);
        const out = this.#begin(requestId, id, 0);
        SocketReplyHot.setResultAccept(out);
        SocketReplyHot.setResultAcceptSocketId(out, n.id);
        this.#ringsReply(out, n, true);
        const p = this.#sub;
        SocketReplyHot.initResultAcceptPeer(this.#writer, out, p);
        this.#writeAddr(p, r.value.peer);
        return this.#reply(app, this.#writer.finish());
      }
      case SocketCallHot.CALL_SHUTDOWN: {
        const how = SocketCallHot.callShutdown(c);
        if (how === 0 || how === 2) {
          api.shutdown(s.fd, SHUT_RD);
          // A listener stops listening (Linux): its IPv4 twin too.
          if (s.listening && s.twin !== undefined) api.shutdown(s.twin, SHUT_RD);
        }
        if (how === 1 || how === 2) {
          s.shutWr = true;
          this.#srvFlags(s, SRV_SHUT_WR, true);
        }
        this.#pump(s);
        return this.#fail(app, requestId, id, 0);
      }
      case SocketCallHot.CALL_CLOSE: {
        this.#close(s);
        return this.#fail(app, requestId, id, 0);
      }
      case SocketCallHot.CALL_SETSOCKOPT: {
        const level = SocketCallHot.callSetsockoptLevel(c);
        const name = SocketCallHot.callSetsockoptName(c);
        let raw: RawOption;
        if (SocketCallHot.callSetsockoptValueWhich(c) === 0) {
          raw = { int: SocketCallHot.callSetsockoptValueInt(c) };
        } else {
          const b = SocketCallHot.callSetsockoptValueBytes(c);
          if (!b) return this.#fail(app, requestId, id, EINVAL);
          raw = { bytes: b };
        }
        return this.#fail(app, requestId, id, setOption(this.#options, s, level, name, raw));
      }
      case SocketCallHot.CALL_GETSOCKOPT: {
        const level = SocketCallHot.callGetsockoptLevel(c);
        const name = SocketCallHot.callGetsockoptName(c);
        const r = getOption(this.#options, s, level, name);
        if (r.errno !== undefined) return this.#fail(app, requestId, id, r.errno);
        const out = this.#begin(requestId, id, 0);
        if (typeof r.value === "number") SocketReplyHot.setResultSockoptInt(out, r.value);
        else SocketReplyHot.setResultSockoptBytes(this.#writer, out, r.value);
        return this.#reply(app, this.#writer.finish());
      }
      case SocketCallHot.CALL_GETSOCKNAME:
      case SocketCallHot.CALL_GETPEERNAME: {
        // A dual-stack datagram socket connected to an IPv4 peer talks through its IPv4 twin:
        // both names are the twin's, IPv4-mapped (the socket's own said [::]:0).
        const viaTwin = s.twinConnected === true;
        const r = which === SocketCallHot.CALL_GETSOCKNAME
          ? api.getsockname(viaTwin ? s.twin! : s.fd)
          : api.getpeername(viaTwin ? s.twin! : s.fd);
        if (r.errno !== undefined) return this.#fail(app, requestId, id, r.errno);
        if (viaTwin) r.value = mappedAddr(r.value);
        const out = this.#begin(requestId, id, 0);
        const p = this.#sub;
        SocketReplyHot.initResultAddr(this.#writer, out, p);
        this.#writeAddr(p, s.mapped ? mappedAddr(r.value) : r.value);
        return this.#reply(app, this.#writer.finish());
      }
      case SocketCallHot.CALL_FIONREAD: {
        const out = this.#begin(requestId, id, 0);
        SocketReplyHot.setResultFionread(out, used(s.recv));
        return this.#reply(app, this.#writer.finish());
      }
      default:
        this.counters.malformed++;
        this.directory.refusals.count("unknownCall");
        return this.#fail(app, requestId, id, EINVAL);
    }
  }

  /** recv then a write into the app's ring, for an engine without recvInto (test doubles). */
  #recvCopy(s: Sock, max: number): SockResult<number> {
    const r = this.api.recv(s.fd, max, 0);
    if (r.errno !== undefined) return r;
    return { value: s.recv.write(r.value.data) };
  }

  /**
   * Linux's TCP_CORK on the engine's TCP_NOPUSH (FreeBSD's): while corked only full segments
   * leave; uncorking sends what is queued at once, Nagle or not, and a cork holds data at most
   * 200 ms (Linux's ceiling; it stays corked). Accepted and ignored before, so nginx's
   * `tcp_nopush on` (Debian's default) sent each response's headers apart from its body and
   * the body's tail waited for an ACK (Nagle): 7.0k against 22k requests/s for 10 KB files.
   * What the app wrote before the call goes by the old setting.
   */
  #cork(s: Sock, on: boolean): number {
    this.#pump(s);
    clearTimeout(s.corkTimer);
    s.corkTimer = undefined;
    const r = this.api.setsockopt(s.fd, IPPROTO_TCP, TCP_NOPUSH, on ? 1 : 0);
    if (r.errno !== undefined) return r.errno;
    (s.opts ??= new Map()).set(IPPROTO_TCP * 65536 + TCP_CORK, on ? 1 : 0);
    if (!on) {
      this.#push(s);
      return 0;
    }
    s.corkTimer = setTimeout(() => {
      s.corkTimer = undefined;
      this.#pump(s);
      this.api.setsockopt(s.fd, IPPROTO_TCP, TCP_NOPUSH, 0);
      this.#push(s);
      this.api.setsockopt(s.fd, IPPROTO_TCP, TCP_NOPUSH, 1);
      if (this.#svcEfd >= 0) eventfdSignal(this.#svcEfd); // the loop lets the frames out
    }, 200);
    return 0;
  }

  /** Sends what the engine holds for `s` now, past Nagle (TCP_NODELAY set and cleared). */
  #push(s: Sock): void {
    const nd = this.api.getsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY);
    if (nd.value === 0) {
      this.api.setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, 1);
      this.api.setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, 0);
    }
  }

  /**
   * The app can send no more on `s`: its writes fail at once (the shim finds the send ring's
   * consumer closed) and the socket polls writable. Returns whether that is new.
   */
  #endSend(s: Sock): boolean {
    if (s.sendDead) return false;
    s.sendDead = true;
    s.send.close("consumer");
    return true;
  }

  /** Moves data for one socket and publishes its readiness. Returns bytes moved + 0/1. */
  #pump(s: Sock): number {
    const api = this.api;
    let moved = 0;
    if (!s.closing && (s.send.error || s.recv.error)) {
      // Issue 6: the app scribbled over this socket's ring indices: the socket is closed.
      this.directory.refusals.count("badRing");
      s.closing = true;
      s.sendDead = true;
    }
    if (s.type === SOCK_DGRAM) return this.#pumpDgram(s);
    if (s.listening) {
      if (s.closing) {
        // A closed listener lets its port go at once (its queue is reset), so the program can
        // bind it again; freed only at the app's exit before, EADDRINUSE until then.
        this.#free(s);
        return 1;
      }
      const p = api.poll(s.fd) | (s.twin !== undefined ? api.poll(s.twin) : 0);
      this.#publish(s, (p & POLLIN ? EPOLLIN : 0) | (p & POLLERR ? EPOLLERR : 0), false);
      return 0;
    }
    // What this pump sees: if it moves nothing and none of it changes, the next one is skipped.
    s.quiet = false;
    s.skipped = 0;
    const sawTail = ringTail(s.send), sawHead = ringHead(s.recv);
    s.noted ??= api.noteCounter?.(s.fd);
    const sawNotes = s.noted?.notes;
    // A full send ring that gets room, like an empty receive ring that gets data, is an edge
    // the app may wait for (EPOLLET) even when the readiness bits stay the same.
    let edge = false;
    // app → engine
    if (!s.sendDead) {
      let consumed = 0;
      // Views only when the app wrote something not sent yet: an idle socket costs no array.
      for (let i = 0; i < 8 && s.send.readable() > s.pendingConsume; i++) {
        const [a, b] = s.send.peekViews();
        // Skip what was sent but is not released yet (released after the commit, issue 8).
        const p = s.pendingConsume;
        const chunk = p < a.length ? a.subarray(p) : b.subarray(p - a.length);
        if (chunk.length === 0) break;
        // A view of the ring: TCP's send copies into its ByteQueue before returning and keeps
        // no reference (engine/tcp/usrreq.ts send, tcp/buffer.ts push), so no copy here.
        const r = api.send(s.fd, chunk.subarray(0, Math.min(chunk.length, 65536)), MSG_NOSIGNAL);
        if (r.errno !== undefined) {
          if (r.errno === EAGAIN || r.errno === EINPROGRESS) break;
          this.#failWith(s, r.errno);
          this.#endSend(s);
          this.counters.sendErrors++;
          this.counters.lastSendErrno = r.errno;
          break;
        }
        if (this.restart) s.pendingConsume += r.value; // room appears at the commit
        else {
          s.send.consume(r.value);
          consumed += r.value;
        }
        moved += r.value;
        trace?.mark("app.out", r.value);
        this.counters.bytesOut += r.value;
        this.directory.addBytes(s.app.appId, 0, r.value);
        if (r.value < chunk.length) break;
      }
      if (roomAppeared(s.send, consumed)) edge = true;
    }
    const drained = s.sendDead || s.send.readable() - s.pendingConsume === 0;
    if (s.closing && drained) {
      this.#free(s);
      return moved + 1;
    }
    if (s.shutWr && drained) {
      api.shutdown(s.fd, SHUT_WR);
      s.shutWr = false;
      this.#srvFlags(s, SRV_SHUT_WR, false);
      // Later writes fail at once (EPIPE) and the socket polls writable, as Linux says; they
      // went into the ring and were lost, and a poll for POLLOUT waited forever.
      if (this.#endSend(s)) edge = true;
      moved++; // the connection changed: the turn's commit must store it
    }
    const p = api.poll(s.fd);
    // engine → app
    if (!s.eof && (p & (POLLIN | POLLERR | POLLHUP))) {
      const wasEmpty = used(s.recv) === 0;
      let written = 0;
      for (let i = 0; i < 8; i++) {
        const room = s.recv.writable();
        if (room === 0) break;
        // Straight into the app's ring (the part before it wraps; the rest next turn): no
        // array from the engine, one copy less (SocketApi.recvInto).
        const into = s.recv.writeViews()[0];
        const r = api.recvInto
          ? api.recvInto(s.fd, into.subarray(0, Math.min(into.length, 65536)), 0)
          : this.#recvCopy(s, Math.min(room, 65536));
        if (r.errno !== undefined) {
          if (r.errno === EAGAIN) break;
          this.#failWith(s, r.errno);
          s.eof = true;
          s.recv.close("producer");
          this.#endSend(s);
          break;
        }
        const got = r.value;
        if (got === 0) {
          if (p & POLLERR) this.#failWith(s, this.#engineError(s)); // a reset, not an EOF
          s.eof = true;
          s.recv.close("producer");
          break;
        }
        if (api.recvInto) s.recv.commitWrite(got);
        trace?.mark("app.in", got);
        written += got;
        // Linux's EPOLLET reports every arrival: when the shim says an edge-triggered waiter
        // watches this socket, each write is an edge, not only empty → data.
        if (wasEmpty || (this.#interest(s) & 1)) edge = true;
        moved += got;
        this.counters.bytesIn += got;
        this.directory.addBytes(s.app.appId, got, 0);
      }
      // The app may have emptied the ring after `wasEmpty` was read and gone to sleep on its
      // placeholder (poll/select/epoll): everything in the ring is ours, so it is an edge.
      if (written > 0 && used(s.recv) <= written) edge = true;
    }
    if ((p & POLLERR) && s.soError === 0) this.#failWith(s, this.#engineError(s));
    if (s.eof && !s.sendDead && s.soError !== 0 && (p & POLLHUP)) {
      // The connection ended with an error: later writes fail at once instead of going into
      // the ring. If the peer's FIN came first, then a reset (the answer to what was sent
      // after it), the receiving side ended already, so only this sees it: Linux names the
      // reset of a CLOSE_WAIT connection EPIPE, which reads do not report (end of file). A
      // reset with data still queued stays ECONNRESET: the reader gets it after the data.
      if (s.soError === ECONNRESET && s.errAfterEof) s.soError = EPIPE;
      this.#endSend(s);
      edge = true;
    }
    let ev = 0;
    if (used(s.recv) > 0 || s.eof) ev |= EPOLLIN;
    if (s.eof) ev |= EPOLLRDHUP;
    if ((p & POLLOUT) && !s.sendDead && used(s.send) <= writableLimit(s.send)) ev |= EPOLLOUT;
    if (s.sendDead) ev |= EPOLLOUT; // a write fails at once: writable, as Linux says
    if (s.soError) ev |= EPOLLERR;
    // Hung up only once everything the engine held is in the app's ring (s.eof): Linux's
    // EPOLLHUP comes with all the data in the socket, and libuv (node) takes a short read
    // after it for the end. Before, a half-closed receiver saw HUP while up to a ring's worth
    // per turn still waited in the engine, and node lost the stream's tail (6 of 30 runs).
    if (s.eof && ((p & POLLHUP) || s.sendDead)) ev |= EPOLLHUP;
    if (s.fresh) ev = EPOLLOUT | EPOLLHUP;
    // SIOCOUTQ's engine part (the shim adds its send ring): it counted the ring alone, and a
    // program waiting for its queue to drain was told so while ~1 MB was unacknowledged.
    const outq = api.ioctl?.(s.fd, SIOCOUTQ).value ?? 0;
    s.app.region.u32[(this.#slotBase(s.app, s.slot) + SLOT.OFF_OUTQ) / 4] = outq;
    this.#publish(s, ev, edge);
    if (moved === 0) {
      s.quiet = true;
      s.sawTail = sawTail;
      s.sawHead = sawHead;
      s.sawNotes = sawNotes;
    }
    return moved;
  }

  /**
   * A datagram socket: records `DGRAM_HEADER` + payload in both rings (u32 payload length,
   * u16 family 0/AF_INET/AF_INET6, u16 port, 16 address bytes; the shim writes a record with
   * one tail update). Datagrams the engine refuses for good (no route, too big…) are dropped and
   * their error left in SO_ERROR, as Linux reports asynchronous UDP errors.
   */
  #pumpDgram(s: Sock): number {
    const api = this.api;
    let moved = 0;
    let edge = false;
    // As a stream's pump (#settled): what it saw, to skip the next one if nothing changed.
    s.quiet = false;
    s.skipped = 0;
    const sawTail = ringTail(s.send), sawHead = ringHead(s.recv);
    s.noted ??= api.noteCounter?.(s.fd);
    const sawNotes = s.noted?.notes;
    const hdr = this.#dgHdr;
    const wasFull = used(s.send) + DGRAM_HEADER >= s.send.capacity;
    let consumed = 0;
    // A closing socket sends what its ring still holds first (datagrams sent right before
    // close(): logger's lines to a syslog server were lost), unless sending failed.
    let blocked = false;
    for (let i = 0; i < 64 && !s.sendDead; i++) {
      const avail = s.send.readable();
      if (avail > 0 && avail < DGRAM_HEADER) {
        // Part of a header: the shim publishes a whole record with one tail update, so no more
        // is coming. Waited for, it kept the server awake (66-102 % of a core) for as long as
        // the socket lived (a helper's hostile app).
        this.counters.malformed++;
        s.sendDead = true;
        s.closing = true;
        break;
      }
      if (avail < DGRAM_HEADER) break;
      const views = s.send.peekViews();
      copyOut(views, 0, hdr);
      const hv = new DataView(hdr.buffer);
      const len = hv.getUint32(DGRAM.OFF_LEN, true);
      if (len > s.send.capacity - DGRAM_HEADER || DGRAM_HEADER + len > avail) {
        // A record the shim could not have written: the ring is broken for this socket.
        this.counters.malformed++;
        s.sendDead = true;
        s.closing = true;
        break;
      }
      const data = new Uint8Array(len);
      copyOut(views, DGRAM_HEADER, data);
      const fam = hv.getUint16(DGRAM.OFF_FAMILY, true);
      const port = hv.getUint16(DGRAM.OFF_PORT, true);
      let to: SockAddr | undefined;
      if (fam === AF_INET) {
        to = { family: AF_INET, addr: ipFromBytes(hdr, DGRAM.OFF_ADDR, 4), port };
      } else if (fam === AF_INET6) {
        to = { family: AF_INET6, addr: ipFromBytes(hdr, DGRAM.OFF_ADDR, 6), port };
      }
      // Dual stack: an IPv4-mapped destination (or the twin's connected peer) goes as IPv4.
      const to4 = to ? unmappedAddr(to) : undefined;
      const viaTwin = (to4 !== undefined || (!to && s.twinConnected)) && this.#udpTwin(s);
      const r = viaTwin
        ? api.send(s.twin!, data, MSG_NOSIGNAL, to4)
        : api.send(s.fd, data, MSG_NOSIGNAL, to);
      if (r.errno === EAGAIN) {
        blocked = true;
        break;
      }
      if (r.errno !== undefined) s.soError = r.errno;
      else this.udp.sent(s.app.appId, s.slot, api, s.fd); // issue 8: the name a send bound
      s.send.consume(DGRAM_HEADER + len);
      consumed += DGRAM_HEADER + len;
      if (wasFull) edge = true;
      moved += len;
      this.counters.bytesOut += len;
    }
    // The app may have found no room for a record after `wasFull` was read (its tail published
    // meanwhile) and gone to sleep: room is an edge for it too.
    if (consumed > 0 && used(s.send) + consumed + DGRAM_HEADER + 65535 > s.send.capacity) {
      edge = true;
    }
    if (s.closing && (s.sendDead || s.send.readable() < DGRAM_HEADER)) {
      this.#free(s);
      return moved + 1;
    }
    if (s.closing) return moved + (blocked ? 0 : 1); // the rest next turn
    // Taken once: a recv changes only POLLIN (looked at per datagram below), not RDHUP/HUP/ERR.
    const p = api.poll(s.fd);
    if (s.soError === 0 && (p & POLLERR)) {
      // An asynchronous error (ICMP port unreachable on a connected socket): into SO_ERROR,
      // for the app's next recv/send or getsockopt (Linux reports ECONNREFUSED so).
      this.#failWith(s, this.#engineError(s));
    }
    const wasEmpty = used(s.recv) === 0;
    let written = 0;
    for (let i = 0; i < 64 && !s.recv.producerClosed; i++) {
      // Room for the largest datagram first: a datagram taken from the engine is not put back.
      if (s.recv.writable() < DGRAM_HEADER + 65535) break;
      // The IPv4 twin first when it has a datagram (dual stack), shown IPv4-mapped.
      const tw = s.twin !== undefined && (api.poll(s.twin) & (POLLIN | POLLERR)) ? s.twin : -1;
      if (tw < 0 && !(api.poll(s.fd) & POLLIN)) break;
      const r = api.recv(tw >= 0 ? tw : s.fd, 65535, 0);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN) s.soError = r.errno;
        break;
      }
      const d = r.value.data;
      if (r.value.from === undefined && d.length === 0) {
        // Shut down for reading, its queue read: the end of the stream of datagrams. The app's
        // recv returns 0 from now on (Linux), a blocked one at once.
        s.recv.close("producer");
        edge = true;
        break;
      }
      const from = tw >= 0 && r.value.from ? mappedAddr(r.value.from) : r.value.from;
      hdr.fill(0);
      const hv = new DataView(hdr.buffer);
      hv.setUint32(DGRAM.OFF_LEN, d.length, true);
      if (from) {
        hv.setUint16(DGRAM.OFF_FAMILY, from.family, true);
        hv.setUint16(DGRAM.OFF_PORT, from.port, true);
        hdr.set(ipToBytes(from.addr), DGRAM.OFF_ADDR);
      }
      if (r.value.dst !== undefined) {
        // For IP_PKTINFO / IPV6_RECVPKTINFO and IP_RECVTTL / IPV6_RECVHOPLIMIT (the shim).
        const dst = ipToBytes(r.value.dst);
        if (tw >= 0 && dst.length === 4) {
          hdr[DGRAM.OFF_DST + 10] = hdr[DGRAM.OFF_DST + 11] = 0xff; // IPv4-mapped
          hdr.set(dst, DGRAM.OFF_DST + 12);
        } else hdr.set(dst, DGRAM.OFF_DST);
        // Numbered as Linux does (the shim's 0 means "not known"): the engine's loopback,
        // interface 0, is 1 (lo), its NIC 2. Datagrams between two sockets of this host came
        // with no control data before.
        hv.setUint32(DGRAM.OFF_IFINDEX, (r.value.ifIndex ?? 0) + 1, true);
        hdr[DGRAM.OFF_TTL] = r.value.ttl ?? 0;
      }
      // One record, one tail update (the shim must never see a header without its payload).
      const views = s.recv.writeViews();
      copyIn(views, 0, hdr);
      copyIn(views, DGRAM_HEADER, d);
      s.recv.commitWrite(DGRAM_HEADER + d.length);
      written += DGRAM_HEADER + d.length;
      if (wasEmpty || (this.#interest(s) & 1)) edge = true;
      moved += d.length;
      this.counters.bytesIn += d.length;
    }
    if (written > 0 && used(s.recv) <= written) edge = true; // emptied meanwhile (as streams)
    let ev = 0;
    if (used(s.recv) > 0 || s.recv.producerClosed) ev |= EPOLLIN;
    if (used(s.send) + DGRAM_HEADER < s.send.capacity) ev |= EPOLLOUT;
    if (s.soError) ev |= EPOLLERR;
    // Linux: shut for reading is EPOLLRDHUP, both ways EPOLLHUP (the service keeps the
    // writing half: s.shutWr).
    if (p & POLLRDHUP) ev |= EPOLLRDHUP;
    if ((p & POLLRDHUP) && ((p & POLLHUP) || s.shutWr)) ev |= EPOLLHUP;
    this.#publish(s, ev, edge);
    if (consumed === 0 && written === 0 && !blocked && !s.sendDead) {
      s.quiet = true;
      s.sawTail = sawTail;
      s.sawHead = sawHead;
      s.sawNotes = sawNotes;
    }
    return moved;
  }

  /**
   * Stores a socket's readiness. On a change (or an edge) bumps the slot's seq and wakes its
   * waiters; bits that appeared (or an edge) are signalled on the placeholder eventfd.
   */
  #publish(s: Sock, ev: number, edge: boolean): void {
    const u32 = s.app.region.u32;
    const i32 = s.app.region.i32;
    const base = this.#slotBase(s.app, s.slot) / 4;
    u32[base + SLOT.OFF_SO_ERROR / 4] = s.soError;
    if (ev === s.events && !edge) return;
    const rising = ev & ~s.events;
    s.events = ev;
    Atomics.store(u32, base + SLOT.OFF_EVENTS / 4, ev);
    const seqIdx = base + SLOT.OFF_SEQ / 4;
    const w = Atomics.add(i32, seqIdx, 2);
    if (w & 1) {
      Atomics.and(i32, seqIdx, ~1);
      libc.futexWake(s.app.region.pointer(seqIdx * 4), 0x7fffffff);
    }
    if ((rising || edge) && s.efd >= 0) {
      eventfdSignal(s.efd);
      this.counters.signals++;
    }
  }

  /**
   * Sets every app's server-sleeping word (0 awake, 1 asleep: signal the service eventfd, 2
   * napping: futex-wake the word itself); true when some app has work already: a call, room for
   * data the engine holds, or data the engine can take. Data an app queued behind a full send
   * buffer is work for a nap (`on` = 2, traffic within the last 2 ms): a bulk sender polls
   * for its next ACK instead of paying a wake-up for it (app-to-peer iperf3, 4 interleaved runs
   * each: 10.7–13.8 Gbit/s polling, 7.1–12.6 napping). It is not work for the full sleep: only
   * an ACK, which ends the sleep, makes room. It was, and a server whose app was blocked on a
   * peer that stopped reading spun a whole core for as long as the connection lasted.
   */
  #announceSleep(on: boolean | 2): boolean {
    let busy = false;
    const v = on === 2 ? 2 : on ? 1 : 0;
    for (const app of this.#apps.values()) {
      Atomics.store(app.region.i32, CTL.OFF_SRV_SLEEPING / 4, v);
      if (on && app.req.hasData()) busy = true;
      // The app changed something since its sockets were last looked at: a turn looks again.
      if (on && Atomics.load(app.region.i32, CTL.OFF_ACTIVITY / 4) !== app.sawActivity) {
        busy = true;
      }
      if (on && !busy) {
        // A settled socket did nothing new since a pump that found nothing to do. A listener
        // whose queue waits for accept() is the app's work, not ours (it kept the server
        // spinning at 100 % for as long as a connection waited), and a datagram moves only
        // into room for the largest one.
        for (const s of app.awake) {
          if (
            (!s.sendDead && !s.listening && s.send.readable() > s.pendingConsume &&
              (on === 2 || s.type === SOCK_DGRAM || (this.api.poll(s.fd) & POLLOUT))) ||
            (!s.eof && !s.listening &&
              s.recv.writable() >= (s.type === SOCK_DGRAM ? DGRAM_HEADER + 65535 : 1) &&
              !this.#settled(s) && (this.api.poll(s.fd) & POLLIN))
          ) {
            busy = true;
            break;
          }
        }
      }
    }
    return busy;
  }

  /**
   * The loop's short synchronous sleep (LoopOptions.nap, issue 9): on the NIC's RX doorbell and
   * every app's server-sleeping word at once (futex_waitv), so that a frame or an app's call
   * (the shim's kick() futex-wakes a word set to 2) ends it — no eventfd, no thread-pool hop.
   * Returns false when it cannot nap (more apps than one futex_waitv takes, or not attached to
   * naming yet: the full sleep watches that connection), and the loop sleeps as usual.
   */
  nap(bell: NapBell, timeoutUs: number): boolean {
    if (this.#svcEfd < 0 || this.#conn < 0 || this.#apps.size >= FUTEX_WAITV_MAX) return false;
    const w = this.#waitv;
    w.clear();
    const v = bell.begin();
    if (v >= 0) {
      w.add(bell.pointer, v);
      for (const app of this.#apps.values()) {
        w.add(app.region.pointer(CTL.OFF_SRV_SLEEPING), 2);
      }
      // The words say "napping" before the last look at the rings: an app that publishes after
      // this look finds 2 and wakes us; one that published before it is seen here.
      if (!this.#announceSleep(2)) {
        w.wait(timeoutUs);
        this.counters.naps++;
      } else if (this.napYield) libc.schedYield();
      this.#announceSleep(false);
    }
    bell.end();
    return true;
  }

  /** The NIC link, whose wait also ends when an app signals the service eventfd. */
  wrap(link: FrameLink): FrameLink {
    return {
      receive: (deliver, max) => link.receive(deliver, max),
      flush: (quiet) => link.flush(quiet),
      get pending() {
        return link.pending;
      },
      wait: (timeoutUs) => this.#wait(link, timeoutUs),
    };
  }

  async #wait(link: FrameLink, timeoutUs: number): Promise<void | false> {
    if (this.#svcEfd < 0 || this.#conn < 0) {
      // Not attached to naming yet (or its reply is not read yet): wake often enough to retry,
      // and look at the connection after every sleep.
      await link.wait(Math.min(timeoutUs, 100_000));
      this.#connReadable = true;
      return;
    }
    if (this.#announceSleep(true)) {
      this.#announceSleep(false);
      return false; // work to do: not slept
    }
    const pfds = pollfds([this.#svcEfd, this.#conn]);
    let nicDone = false, pollDone = false;
    const nic = link.wait(timeoutUs).then(() => {
      nicDone = true;
    });
    const poll = pollAsync(pfds, Math.max(1, Math.ceil(timeoutUs / 1000))).then(() => {
      pollDone = true;
    });
    await Promise.race([nic, poll]);
    if (!pollDone) eventfdSignal(this.#svcEfd);
    if (!nicDone) kickLink(link);
    await Promise.all([nic, poll]);
    eventfdDrain(this.#svcEfd);
    if (revents(pfds, 1)) this.#connReadable = true;
    this.#announceSleep(false);
  }

  /** Closes every app socket and the connection to naming. */
  close(): void {
    // The server is stopping (SIGTERM: `./joyride restart tcp`); its last turn is never
    // committed and the next incarnation takes the apps' sockets back (issue 8). Nothing of the
    // apps' is closed here: freeing the sockets would mark their slots closed in the apps'
    // regions and drop their UDP records (tcp-udp.json), so they could not come back.
    this.udp.flush();
    for (const app of this.#apps.values()) {
      for (const s of app.socks.values()) closeFd(s.efd);
      app.region.close();
    }
    this.#apps.clear();
    closeFd(this.#conn);
    closeFd(this.#svcEfd);
    this.#conn = this.#svcEfd = -1;
  }
}

/** Ends a NicLink's sleep early (its RX ring's doorbell), if the link is one. */
function kickLink(link: FrameLink): void {
  const l = link as unknown as { region?: { rings?: { publish?: () => void }[] } };
  // RX is ring 0 of a NIC region (servers/nic/region.ts).
  l.region?.rings?.[0]?.publish?.();
}

/** An IPv4 address as an AF_INET6 socket shows it (::ffff:a.b.c.d); others unchanged. */
export function mappedAddr(a: SockAddr): SockAddr {
  return a.family === AF_INET ? { family: AF_INET6, addr: `::ffff:${a.addr}`, port: a.port } : a;
}

/** The IPv4 address of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else undefined. */
export function unmappedAddr(a: SockAddr): SockAddr | undefined {
  if (a.family !== AF_INET6 || !a.addr.toLowerCase().startsWith("::ffff:")) return undefined;
  const v4 = a.addr.slice(7);
  return /^\d+\.\d+\.\d+\.\d+$/.test(v4) ? { family: AF_INET, addr: v4, port: a.port } : undefined;
}

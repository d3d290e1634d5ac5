/**
 * The layout of an app's shared-memory region: what the naming server creates at registration,
 * the socket service (servers/tcp/service/) attaches to, and the shim (shim/shim.h, which
 * mirrors these constants; `apps_region_test.ts` checks that both agree) maps.
 *
 * ```
 *   0        control block (4096 bytes, CTL.*): magic, app id, the call lock, srvSleeping
 *   4096     request ring  (message ring, app → server: SocketCall)
 *   …        reply ring    (message ring, server → app: SocketReply)
 *   …        socket slots  (maxSockets × 64 bytes, SLOT.*): readiness of each socket
 *   …        holder rows   (HOLDERS × maxSockets bytes): per holding process, its fds per slot
 *   …        socket rings  (maxSockets × (send byte ring + receive byte ring))
 * ```
 *
 * Holders: a slot's `refs` counts the fds of all the app's processes that refer to the socket.
 * A process that ends normally lets go of its own (the shim's exit hooks); one killed by a
 * signal cannot. So each process holding Joyride sockets takes an entry of the holder table
 * (CTL.OFF_HOLDERS: its pid) and keeps, in its row (CTL.OFF_HOLDER_ROWS + entry × maxSockets),
 * one byte per slot: how many of its fds refer to that socket (255: too many to count, never
 * given back). The socket service watches the pids (pidfd) and, when one ends with its entry
 * still taken, takes its counts off the slots' `refs` and closes the sockets left with none,
 * as the kernel closes a dead process's descriptors. Past HOLDERS processes a process takes no
 * entry (its references then stay until the app ends, as before).
 *
 * Socket ids: the low 12 bits are the slot index, the bits above a per-slot reuse count, so an
 * id is never reused while its slot is (a stale id is refused).
 *
 * Size: the naming server gives an app as many slots as its policy's `sockets` limit allows
 * ({@link slotsFor}: up to 4096 = 1 << SLOT_BITS; 4096 by default), each with its two byte
 * rings (2 × 128 kB). The region is a memfd, so it is sparse: a 4096-socket region is ~1 GB of
 * address space, but only the pages that are touched (control block, slots, the rings of
 * sockets actually used — the service takes the lowest free slot) take memory. The
 * per-app bound is the policy's `sockets` (EMFILE past it) and `bufferBytes` (ENOBUFS).
 *
 * @module
 */
import { MessageRing } from "../ipc/message_ring.ts";
import type { Region } from "../ipc/region.ts";
import { alignUp, KIND, ringBytes } from "../ipc/layout.ts";

/** Control block field offsets (bytes). All u32. */
export const CTL = {
  MAGIC: 0x5050414a, // "JAPP"
  VERSION: 1,
  OFF_MAGIC: 0,
  OFF_VERSION: 4,
  OFF_APP_ID: 8,
  OFF_MAX_SOCKETS: 12,
  /** The call lock: 0 free, else the pid of the process holding it (futex word). */
  OFF_LOCK: 16,
  /** 1 while the server sleeps: a shim that publishes something then signals the eventfd. */
  OFF_SRV_SLEEPING: 24,
  /**
   * Bumped by the shim after each change it publishes (kick: a ring written or read, a call, a
   * wait): the server looks at this app's quiet sockets only when it moved (issue 9: 2,000
   * idle sockets of one app cost every turn a look at each).
   */
  OFF_ACTIVITY: 28,
  OFF_REQ_RING: 32,
  OFF_REP_RING: 36,
  OFF_SLOTS: 40,
  OFF_RINGS: 44,
  OFF_RING_SIZE: 48,
  OFF_SLOT_SIZE: 52,
  OFF_SOCKET_BYTES: 56,
  /** u32: offset of the holder rows (HOLDERS rows of maxSockets bytes). */
  OFF_HOLDER_ROWS: 60,
  /**
   * 4096-bit map (512 bytes), bit s for slot s: the shim sets it when it moves a ring of that
   * socket, before it bumps OFF_ACTIVITY; the server takes the words it finds set (atomic
   * exchange) and looks at those sockets only. It looked at every socket of the app whose
   * word moved (issue 9: nginx under wrk, 1,000 connections, 7.6k requests/s against 22k with
   * 100).
   */
  OFF_TOUCHED: 1024,
  /** The holder table: HOLDERS u32 pids (0: free), taken and freed by the shim (CAS). */
  OFF_HOLDERS: 2048,
  SIZE: 4096,
} as const;

/** Socket slot field offsets (bytes). */
export const SLOT = {
  SIZE: 64,
  /** u32: 0 free, 1 open (server). */
  OFF_STATE: 0,
  /** u32: EPOLL* readiness bits (server). */
  OFF_EVENTS: 4,
  /** i32: pending SO_ERROR (server). */
  OFF_SO_ERROR: 8,
  /** u32 futex word: bumped by 2 on every readiness change; bit 0 = a shim thread waits. */
  OFF_SEQ: 12,
  /** u32 flags from the shim: 1 = an EPOLLET waiter wants an edge on every arrival. */
  OFF_INTEREST: 16,
  /** u32: processes/fds of the app referring to this socket (shim). */
  OFF_REFS: 20,
  /** u32 locks of the shim's send and receive side (threads and forked processes). */
  OFF_SEND_LOCK: 24,
  OFF_RECV_LOCK: 28,
  /** u32: the socket id (server). */
  OFF_SOCKET_ID: 32,
  /** u32: 1 stream, 2 datagram (server). */
  OFF_TYPE: 36,
  /**
   * u64: the kernel's eventfd-id (+ 2) of the socket's placeholder, written by a shim handing
   * the socket to another process of the app over a UNIX socket (SCM_RIGHTS); 0 until then
   * (zeroed by the server with the slot). The receiving shim finds the socket by it.
   */
  OFF_EFD_ID: 40,
  /** u32: the hand-over's fd state: domain (bits 0-7), O_NONBLOCK (8), listening (9), connected (10). */
  OFF_HANDOFF: 48,
  /**
   * u32: the socket's file status flags, kept by the shim (bit 0: O_NONBLOCK), shared by every
   * fd and process that holds the socket, as an open file description's are (a dup's or a
   * forked child's fcntl is seen by all); zeroed by the server with the slot.
   */
  OFF_FLAGS: 52,
  /**
   * u32: what the server owes the socket, kept where a restarted server finds it (zeroed by the
   * server with the slot): {@link SRV_SHUT_WR} a FIN once the send ring drains,
   * {@link SRV_CLOSING} the app closed it (freed once drained).
   */
  OFF_SRV_FLAGS: 56,
  /**
   * u32: bytes the engine holds to send for a stream, unsent and unacknowledged, as of the
   * server's last look at it (server): the shim's SIOCOUTQ adds them to its send ring's.
   */
  OFF_OUTQ: 60,
} as const;

/** OFF_SRV_FLAGS bits. */
export const SRV_SHUT_WR = 1, SRV_CLOSING = 2;

/** Entries of the holder table: processes of one app whose references are counted apart. */
export const HOLDERS = 256;

/** Socket id: slot index bits. */
export const SLOT_BITS = 12;

/** Default sizes. */
export const DEFAULTS = {
  maxSockets: 256,
  ringSize: 128 * 1024,
  callRingSize: 64 * 1024,
} as const;

/** The number of slots of a region for an app whose policy allows `limit` sockets. */
export function slotsFor(limit: number): number {
  return Math.max(1, Math.min(Math.floor(limit), 1 << SLOT_BITS));
}

/** Where things are in a region of the given shape. */
export interface AppLayout {
  reqRing: number;
  repRing: number;
  slots: number;
  /** The holder rows (HOLDERS × maxSockets bytes). */
  holderRows: number;
  rings: number;
  ringSize: number;
  socketBytes: number;
  maxSockets: number;
  total: number;
}

/** Computes a region's layout. */
export function appLayout(
  maxSockets: number = DEFAULTS.maxSockets,
  ringSize: number = DEFAULTS.ringSize,
  callRingSize: number = DEFAULTS.callRingSize,
): AppLayout {
  const reqRing = CTL.SIZE;
  const repRing = alignUp(reqRing + ringBytes(KIND.MESSAGE, callRingSize), 64);
  const slots = alignUp(repRing + ringBytes(KIND.MESSAGE, callRingSize), 64);
  const holderRows = alignUp(slots + maxSockets * SLOT.SIZE, 4096);
  const rings = alignUp(holderRows + HOLDERS * maxSockets, 4096);
  const socketBytes = alignUp(2 * ringBytes(KIND.BYTE, ringSize), 4096);
  return {
    reqRing,
    repRing,
    slots,
    holderRows,
    rings,
    ringSize,
    socketBytes,
    maxSockets,
    total: rings + maxSockets * socketBytes,
  };
}

/** Send and receive ring offsets of slot `i`. */
export function slotRings(l: AppLayout, i: number): { send: number; recv: number } {
  const send = l.rings + i * l.socketBytes;
  return { send, recv: send + ringBytes(KIND.BYTE, l.ringSize) };
}

/** Writes a fresh control block and the two call rings into a new region. */
export function initAppRegion(region: Region, appId: number, l: AppLayout): void {
  if (region.size < l.total) {
    throw new RangeError(`Cannot lay out an app region: ${region.size} < ${l.total} bytes`);
  }
  const u32 = region.u32;
  u32[CTL.OFF_VERSION / 4] = CTL.VERSION;
  u32[CTL.OFF_APP_ID / 4] = appId;
  u32[CTL.OFF_MAX_SOCKETS / 4] = l.maxSockets;
  u32[CTL.OFF_REQ_RING / 4] = l.reqRing;
  u32[CTL.OFF_REP_RING / 4] = l.repRing;
  u32[CTL.OFF_SLOTS / 4] = l.slots;
  u32[CTL.OFF_RINGS / 4] = l.rings;
  u32[CTL.OFF_RING_SIZE / 4] = l.ringSize;
  u32[CTL.OFF_SLOT_SIZE / 4] = SLOT.SIZE;
  u32[CTL.OFF_SOCKET_BYTES / 4] = l.socketBytes;
  u32[CTL.OFF_HOLDER_ROWS / 4] = l.holderRows;
  // Until the server first looks, the app's first request must wake it.
  u32[CTL.OFF_SRV_SLEEPING / 4] = 1;
  MessageRing.init(region, l.reqRing, DEFAULTS.callRingSize);
  MessageRing.init(region, l.repRing, DEFAULTS.callRingSize);
  Atomics.store(region.i32, CTL.OFF_MAGIC / 4, CTL.MAGIC);
}

/** Reads the layout back from a region's control block; throws when it is not an app region. */
export function readAppLayout(region: Region): AppLayout {
  const u32 = region.u32;
  if (region.size < CTL.SIZE || u32[CTL.OFF_MAGIC / 4] !== CTL.MAGIC) {
    throw new Error("Cannot attach an app region: bad magic");
  }
  const l = appLayout(u32[CTL.OFF_MAX_SOCKETS / 4], u32[CTL.OFF_RING_SIZE / 4]);
  if (
    l.maxSockets > 1 << SLOT_BITS || l.total > region.size ||
    u32[CTL.OFF_RINGS / 4] !== l.rings || u32[CTL.OFF_SOCKET_BYTES / 4] !== l.socketBytes ||
    u32[CTL.OFF_HOLDER_ROWS / 4] !== l.holderRows
  ) {
    throw new Error("Cannot attach an app region: its layout does not match its size");
  }
  return l;
}

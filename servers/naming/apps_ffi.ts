/**
 * The libc calls of app registration (servers/naming/apps.ts) and of the socket service
 * (servers/tcp/service/): SOCK_SEQPACKET Unix sockets carrying one Cap'n Proto message per
 * packet with file descriptors beside it (SCM_RIGHTS), SO_PEERCRED, poll(2) off the JS thread,
 * eventfd reads and writes, pidfd_getfd(2) for the shim's placeholder eventfds, and the small
 * /proc reads of the placeholder checks.
 *
 * @module
 */

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  poll_nb: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  syscall3: { name: "syscall", parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const lib = Deno.dlopen("libc.so.6", symbols);
const s = lib.symbols;

export const AF_UNIX = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const POLLIN = 1;
export const POLLERR = 8;
export const POLLHUP = 0x10;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SYS_pidfd_open = 434n;
const SYS_pidfd_getfd = 438n;

/** errno of the last failed call on this thread. */
export function errno(): number {
  const p = s.__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

const enc = new TextEncoder();

function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const p = enc.encode(path);
  if (p.byteLength > 107) throw new RangeError(`Unix socket path too long: ${path}`);
  const a = new Uint8Array(110);
  a[0] = AF_UNIX;
  a.set(p, 2);
  return a;
}

function ptr(buf: Uint8Array<ArrayBuffer>): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf));
}

const O_RDONLY_CLOEXEC = 0o2000000;
/** Paths are NUL-terminated; /proc texts read here are small (stat, status: under 2 KB). */
const procBuf = new Uint8Array(8192);
const dec = new TextDecoder();

function cpath(path: string): Uint8Array<ArrayBuffer> {
  return enc.encode(path + "\0");
}

/**
 * The text of a small file (up to 8 KB: a /proc stat or status file), or undefined when it
 * cannot be read. Three system calls through FFI: Deno's file API took ~40 µs for a
 * /proc/PID/stat in the socket service, per accepted connection (issue 9).
 */
export function readSmall(path: string): string | undefined {
  const fd = s.open(cpath(path), O_RDONLY_CLOEXEC);
  if (fd < 0) return undefined;
  let n = 0;
  for (;;) {
    const r = Number(s.read(fd, procBuf.subarray(n), BigInt(procBuf.byteLength - n)));
    if (r <= 0) break;
    n += r;
    if (n === procBuf.byteLength) break;
  }
  s.close(fd);
  return n > 0 ? dec.decode(procBuf.subarray(0, n)) : undefined;
}

/** readlink(2) of `path`; throws when it fails (as Deno.readLinkSync). */
export function readLinkFast(path: string): string {
  const r = Number(s.readlink(cpath(path), procBuf, BigInt(procBuf.byteLength)));
  if (r < 0) throw new Error(`readlink ${path}: errno ${errno()}`);
  return dec.decode(procBuf.subarray(0, r));
}

/** A listening SEQPACKET socket at `path` (non-blocking, close-on-exec); throws on failure. */
export function listenSeqpacket(path: string): number {
  try {
    Deno.removeSync(path);
  } catch {
    // no stale socket
  }
  const fd = s.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`Cannot create the apps socket: errno ${errno()}`);
  const a = sockaddrUn(path);
  if (s.bind(fd, a, a.byteLength) !== 0 || s.listen(fd, 128) !== 0) {
    const e = errno();
    s.close(fd);
    throw new Error(`Cannot listen on ${path}: errno ${e}`);
  }
  Deno.chmodSync(path, 0o666);
  return fd;
}

/** Connects a SEQPACKET socket to `path` (non-blocking afterwards); -errno on failure. */
export function connectSeqpacket(path: string): number {
  const fd = s.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno();
  const a = sockaddrUn(path);
  if (s.connect(fd, a, a.byteLength) !== 0) {
    const e = errno();
    s.close(fd);
    return -e;
  }
  return fd;
}

/** accept4 (non-blocking, close-on-exec): the new fd or -errno. */
export function acceptConn(fd: number): number {
  const c = s.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return c < 0 ? -errno() : c;
}

/** SO_PEERCRED of a connected Unix socket. */
export function peerCred(fd: number): { pid: number; uid: number; gid: number } | undefined {
  const buf = new Uint8Array(12);
  const len = new Uint32Array([12]);
  if (s.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, new Uint8Array(len.buffer)) !== 0) {
    return undefined;
  }
  const v = new DataView(buf.buffer);
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}

/** Sends one packet with `fds` beside it; bytes sent or -errno. */
export function sendPacket(fd: number, data: Uint8Array<ArrayBuffer>, fds: number[] = []): number {
  const iov = new Uint8Array(16);
  const iv = new DataView(iov.buffer);
  iv.setBigUint64(0, ptr(data), true);
  iv.setBigUint64(8, BigInt(data.byteLength), true);
  const ctrl = new Uint8Array(fds.length ? 16 + Math.ceil((fds.length * 4) / 8) * 8 : 8);
  const hdr = new Uint8Array(56);
  const hv = new DataView(hdr.buffer);
  hv.setBigUint64(16, ptr(iov), true);
  hv.setBigUint64(24, 1n, true);
  if (fds.length) {
    const cv = new DataView(ctrl.buffer);
    cv.setBigUint64(0, BigInt(16 + fds.length * 4), true);
    cv.setInt32(8, SOL_SOCKET, true);
    cv.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((f, i) => cv.setInt32(16 + i * 4, f, true));
    hv.setBigUint64(32, ptr(ctrl), true);
    hv.setBigUint64(40, BigInt(ctrl.byteLength), true);
  }
  const n = Number(s.sendmsg(fd, hdr, MSG_NOSIGNAL | MSG_DONTWAIT));
  return n < 0 ? -errno() : n;
}

/** A received packet: its bytes and the fds that came with it. */
export interface Packet {
  data: Uint8Array<ArrayBuffer>;
  fds: number[];
}

/**
 * Receives one packet without blocking: the packet, "again" when none is waiting (or on an
 * error), or "eof" when the peer closed.
 */
export function recvPacket(fd: number, max = 65536): Packet | "again" | "eof" {
  const r = max <= recvBuffers.data.byteLength ? recvBuffers : new RecvBuffers(max);
  r.prepare(max);
  const n = Number(s.recvmsg(fd, r.hdr, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  // -1 is taken as "nothing now" (errno is not reliable across FFI calls): a broken
  // connection shows as POLLHUP/POLLERR in poll, or as 0 here once the peer is gone.
  if (n < 0) return "again";
  if (n === 0) return "eof";
  const fds: number[] = [];
  const clen = r.controlLength();
  const cv = new DataView(r.ctrl.buffer);
  if (clen >= 16 && cv.getInt32(8, true) === SOL_SOCKET && cv.getInt32(12, true) === SCM_RIGHTS) {
    const len = Number(cv.getBigUint64(0, true));
    for (let off = 16; off + 4 <= Math.min(len, clen); off += 4) fds.push(cv.getInt32(off, true));
  }
  return { data: r.data.slice(0, n), fds };
}

/**
 * One recvmsg's buffers: the data, its iovec, room for 4 fds (SCM_RIGHTS) and the msghdr, each
 * over its own ArrayBuffer (off the V8 heap: the pointers stay valid). One set serves every
 * call: the TCP/IP server looks at naming's connection every 64 loop turns, and a fresh 64 KB
 * buffer each time (zeroed, then garbage) was 3 % of a bulk sender's profile.
 */
class RecvBuffers {
  readonly data: Uint8Array<ArrayBuffer>;
  readonly ctrl = new Uint8Array(new ArrayBuffer(16 + 8 * 4));
  readonly hdr = new Uint8Array(new ArrayBuffer(56));
  readonly #iov = new DataView(new ArrayBuffer(16));
  readonly #hv = new DataView(this.hdr.buffer);

  constructor(size: number) {
    this.data = new Uint8Array(new ArrayBuffer(size));
    this.#iov.setBigUint64(0, ptr(this.data), true);
    this.#hv.setBigUint64(16, ptr(new Uint8Array(this.#iov.buffer)), true);
    this.#hv.setBigUint64(24, 1n, true);
    this.#hv.setBigUint64(32, ptr(this.ctrl), true);
  }

  /** Sets the lengths a previous call changed: `max` data bytes, the whole control area. */
  prepare(max: number): void {
    this.#iov.setBigUint64(8, BigInt(max), true);
    this.#hv.setBigUint64(40, BigInt(this.ctrl.byteLength), true);
    this.#hv.setUint32(48, 0, true); // msg_flags
  }

  /** The control bytes the kernel filled in. */
  controlLength(): number {
    return Number(this.#hv.getBigUint64(40, true));
  }
}

const recvBuffers = new RecvBuffers(65536);

/** Closes an fd. */
export function closeFd(fd: number): void {
  if (fd >= 0) s.close(fd);
}

/** A non-blocking, close-on-exec eventfd. */
export function eventfd(): number {
  return s.eventfd(0, 0o4000 | 0o2000000);
}

const one = new BigUint64Array([1n]);
const oneBytes = new Uint8Array(one.buffer);
const drainBuf = new Uint8Array(8);

/** Adds 1 to an eventfd (makes it readable). */
export function eventfdSignal(fd: number): void {
  s.write(fd, oneBytes, 8n);
}

/** Reads (resets) an eventfd; true if it was readable. */
export function eventfdDrain(fd: number): boolean {
  return Number(s.read(fd, drainBuf, 8n)) === 8;
}

/** poll(2) on the JS thread: a `pollfd` array buffer (8 bytes per fd) and a timeout (ms). */
export function pollNow(pfds: Uint8Array<ArrayBuffer>, timeoutMs: number): number {
  return s.poll(pfds, BigInt(pfds.byteLength / 8), timeoutMs);
}

/** poll(2) on Deno's blocking thread pool. */
export function pollAsync(pfds: Uint8Array<ArrayBuffer>, timeoutMs: number): Promise<number> {
  return s.poll_nb(pfds, BigInt(pfds.byteLength / 8), timeoutMs);
}

/** Builds a pollfd array for `fds` (events POLLIN). */
export function pollfds(fds: number[]): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(fds.length * 8);
  const v = new DataView(b.buffer);
  fds.forEach((fd, i) => {
    v.setInt32(i * 8, fd, true);
    v.setInt16(i * 8 + 4, POLLIN, true);
  });
  return b;
}

/** revents of entry `i` of a pollfd array. */
export function revents(pfds: Uint8Array<ArrayBuffer>, i: number): number {
  return new DataView(pfds.buffer).getInt16(i * 8 + 6, true);
}

/**
 * A pidfd of process `pid` (pidfd_open(2), close-on-exec): readable once the process has ended
 * (also while a zombie); -errno on failure (ESRCH: no such process).
 */
export function pidfdOpen(pid: number): number {
  const r = Number(s.syscall3(SYS_pidfd_open, BigInt(pid), 0n, 0n));
  return r < 0 ? -errno() : r;
}

/**
 * A duplicate of fd `fd` of process `pid` (pidfd_getfd(2)); -errno on failure. The socket
 * service uses it to hold the shim's placeholder eventfd of a socket.
 */
export function takeFd(pid: number, fd: number): number {
  const pidfd = pidfdOpen(pid);
  if (pidfd < 0) return pidfd;
  const r = takeFdFrom(pidfd, fd);
  s.close(pidfd);
  return r;
}

/** A duplicate of fd `fd` of the process pidfd `pidfd` names (pidfd_getfd(2)); -errno. */
export function takeFdFrom(pidfd: number, fd: number): number {
  const r = Number(s.syscall3(SYS_pidfd_getfd, BigInt(pidfd), BigInt(fd), 0n));
  return r < 0 ? -errno() : r;
}

/**
 * The one binding of glibc (`libc.so.6`) for Joyride's Deno processes: shared memory (memfd,
 * mmap), futexes, eventfds, and the few file calls around them. Other modules import the typed
 * wrappers below rather than opening libc again.
 *
 * Calls that fail return -1 (or a null pointer) and leave the reason in `errno()`, read right
 * after the failing call on the same thread.
 *
 * @example
 * ```ts
 * import { libc } from "./libc.ts";
 * const fd = libc.memfdCreate("ring", libc.MFD_CLOEXEC);
 * ```
 * @module
 */

const symbols = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  getpid: { parameters: [], result: "i32" },
  sched_yield: { parameters: [], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  // syscall(2) is variadic; on x86-64 and aarch64 integer arguments travel in the same registers
  // as for a fixed-argument call, so a fixed six-argument signature is sound for futex(2).
  syscall: {
    parameters: ["i64", "pointer", "i32", "i32", "buffer", "pointer", "i32"],
    result: "i64",
  },
  // The same futex call run on Deno's blocking thread pool, for waiting without stalling the
  // event loop.
  syscall_async: {
    name: "syscall",
    parameters: ["i64", "pointer", "i32", "i32", "buffer", "pointer", "i32"],
    result: "i64",
    nonblocking: true,
  },
} as const;

const lib = Deno.dlopen("libc.so.6", symbols);
const s = lib.symbols;

const SYS_futex = Deno.build.arch === "aarch64" ? 98n : 202n;
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;

const enc = new TextEncoder();
function cstr(text: string): Uint8Array<ArrayBuffer> {
  return enc.encode(text + "\0");
}

/** A `struct timespec` per call site would allocate; waits reuse this one (one JS thread). */
const timespec = new BigInt64Array(2);
function setTimeout(ns: number): void {
  const n = Math.max(0, Math.floor(ns));
  timespec[0] = BigInt(Math.floor(n / 1e9));
  timespec[1] = BigInt(n % 1e9);
}

/** Result of {@link libc.futexWait}. */
export type FutexWaitResult = "woken" | "changed" | "timeout" | "interrupted" | "error";

function waitResult(r: bigint): FutexWaitResult {
  if (r === 0n) return "woken";
  switch (errno()) {
    case EAGAIN:
      return "changed";
    case ETIMEDOUT:
      return "timeout";
    case EINTR:
      return "interrupted";
    default:
      return "error";
  }
}

/** errno values used here. */
export const EAGAIN = 11;
export const EINTR = 4;
export const ETIMEDOUT = 110;

/** The calling thread's errno, valid right after a failed call. */
export function errno(): number {
  const p = s.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
}

/** strerror(3) of an errno value. */
export function strerror(e: number): string {
  const p = s.strerror(e);
  return p === null ? `errno ${e}` : Deno.UnsafePointerView.getCString(p);
}

// struct msghdr / iovec / cmsghdr on 64-bit Linux.
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const CMSG_LEN_INT = 16 + 4;
const CMSG_SPACE_INT = 16 + 8;

function addr(buf: Uint8Array<ArrayBuffer>): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf));
}

/** A msghdr with one iovec over `data` and `ctrl` as control buffer (kept alive with it). */
function msghdr(
  data: Uint8Array<ArrayBuffer>,
  ctrl: Uint8Array<ArrayBuffer>,
): { hdr: Uint8Array<ArrayBuffer>; iov: Uint8Array<ArrayBuffer> } {
  const iov = new Uint8Array(16);
  const iv = new DataView(iov.buffer);
  iv.setBigUint64(0, addr(data), true);
  iv.setBigUint64(8, BigInt(data.byteLength), true);
  const hdr = new Uint8Array(56);
  const hv = new DataView(hdr.buffer);
  hv.setBigUint64(16, addr(iov), true);
  hv.setBigUint64(24, 1n, true);
  hv.setBigUint64(32, addr(ctrl), true);
  hv.setBigUint64(40, BigInt(ctrl.byteLength), true);
  return { hdr, iov };
}

/** A `struct sockaddr_un` for `path` (at most 107 bytes). */
function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const p = enc.encode(path);
  if (p.byteLength > 107) throw new RangeError(`Unix socket path too long: ${path}`);
  const a = new Uint8Array(2 + 108);
  a[0] = 1; // AF_UNIX, little-endian sa_family_t
  a.set(p, 2);
  return a;
}

/** Typed wrappers over libc. */
export const libc = {
  MFD_CLOEXEC: 1,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  O_RDWR: 2,
  O_CLOEXEC: 0o2000000,
  SEEK_END: 2,
  EFD_CLOEXEC: 0o2000000,
  EFD_NONBLOCK: 0o4000,
  EFD_SEMAPHORE: 1,
  AF_UNIX: 1,
  SOCK_STREAM: 1,
  SOCK_CLOEXEC: 0o2000000,

  /** memfd_create(2): an anonymous file for shared memory. */
  memfdCreate(name: string, flags: number): number {
    return s.memfd_create(cstr(name), flags);
  },
  /** ftruncate(2). */
  ftruncate(fd: number, size: number): number {
    return s.ftruncate(fd, BigInt(size));
  },
  /** The size of a file: lseek(fd, 0, SEEK_END); -1 on error. */
  fileSize(fd: number): number {
    return Number(s.lseek(fd, 0n, 2));
  },
  /** mmap(2) of a whole file, shared, read-write; null on failure. */
  mmapShared(fd: number, size: number, offset = 0): Deno.PointerValue {
    const p = s.mmap(null, BigInt(size), 3, 1, fd, BigInt(offset));
    // MAP_FAILED is (void *)-1.
    if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) return null;
    return p;
  },
  /** munmap(2). */
  munmap(p: Deno.PointerObject, size: number): number {
    return s.munmap(p, BigInt(size));
  },
  /** open(2). */
  open(path: string, flags: number, mode = 0): number {
    return s.open(cstr(path), flags, mode);
  },
  /** close(2). */
  close(fd: number): number {
    return s.close(fd);
  },
  /** read(2) into `buf`; bytes read or -1. */
  read(fd: number, buf: Uint8Array<ArrayBuffer>): number {
    return Number(s.read(fd, buf, BigInt(buf.byteLength)));
  },
  /** write(2) of `buf`; bytes written or -1. */
  write(fd: number, buf: Uint8Array<ArrayBuffer>): number {
    return Number(s.write(fd, buf, BigInt(buf.byteLength)));
  },
  /** socket(2). */
  socket(domain: number, type: number, protocol = 0): number {
    return s.socket(domain, type, protocol);
  },
  /** bind(2) to a Unix socket path. */
  bindUnix(fd: number, path: string): number {
    const a = sockaddrUn(path);
    return s.bind(fd, a, a.byteLength);
  },
  /** connect(2) to a Unix socket path. */
  connectUnix(fd: number, path: string): number {
    const a = sockaddrUn(path);
    return s.connect(fd, a, a.byteLength);
  },
  /** listen(2). */
  listen(fd: number, backlog: number): number {
    return s.listen(fd, backlog);
  },
  /** accept4(2) without the peer address. */
  accept(fd: number, flags = 0o2000000): number {
    return s.accept4(fd, null, null, flags);
  },
  /**
   * Raises this process's RLIMIT_NOFILE to `want` descriptors, or as far as it may (the hard
   * limit; with CAP_SYS_RESOURCE the hard limit too). Returns the soft limit now.
   */
  raiseFdLimit(want: number): number {
    const RLIMIT_NOFILE = 7;
    const r = new BigUint64Array(2); // struct rlimit { rlim_cur, rlim_max }
    if (s.getrlimit(RLIMIT_NOFILE, r) !== 0) return -1;
    const w = BigInt(want), hard = r[1];
    if (r[0] >= w) return Number(r[0]);
    r[0] = w;
    r[1] = hard > w ? hard : w;
    if (s.setrlimit(RLIMIT_NOFILE, r) !== 0) {
      r[0] = r[1] = hard; // without the capability: the soft limit up to the hard one
      if (s.setrlimit(RLIMIT_NOFILE, r) !== 0) return -1;
    }
    return Number(r[0]);
  },
  /**
   * madvise(MADV_REMOVE): the pages of a shared mapping's range are given back (the file's too:
   * they read as zeros after). `len` a multiple of the page size. 0 or -1 (errno set).
   */
  madviseRemove(ptr: Deno.PointerValue, len: number): number {
    return s.madvise(ptr, BigInt(len), 9);
  },
  /** sched_yield(2): lets another runnable thread have this CPU. */
  schedYield(): number {
    return s.sched_yield();
  },
  /** socketpair(2): two connected sockets, or null (errno set). */
  socketpair(domain: number, type: number, protocol = 0): [number, number] | null {
    const fds = new Int32Array(2);
    if (s.socketpair(domain, type, protocol, fds) !== 0) return null;
    return [fds[0], fds[1]];
  },
  /**
   * Sends `fd` over the Unix socket `sock` with SCM_RIGHTS, along with `data` (at least one
   * byte travels with it). Returns the bytes sent or -1.
   */
  sendFd(sock: number, fd: number, data: Uint8Array<ArrayBuffer> = new Uint8Array([0])): number {
    const ctrl = new Uint8Array(CMSG_SPACE_INT);
    const cv = new DataView(ctrl.buffer);
    cv.setBigUint64(0, BigInt(CMSG_LEN_INT), true);
    cv.setInt32(8, SOL_SOCKET, true);
    cv.setInt32(12, SCM_RIGHTS, true);
    cv.setInt32(16, fd, true);
    const msg = msghdr(data, ctrl);
    return Number(s.sendmsg(sock, msg.hdr, MSG_NOSIGNAL));
  },
  /**
   * Receives one message from the Unix socket `sock` into `data`, and the fd passed with it:
   * `{ bytes, fd }` (fd -1 when none came), or null on error or end of stream.
   */
  recvFd(
    sock: number,
    data: Uint8Array<ArrayBuffer> = new Uint8Array(1),
  ): { bytes: number; fd: number } | null {
    const ctrl = new Uint8Array(CMSG_SPACE_INT);
    const msg = msghdr(data, ctrl);
    const n = Number(s.recvmsg(sock, msg.hdr, MSG_CMSG_CLOEXEC));
    if (n <= 0) return null;
    const cv = new DataView(ctrl.buffer);
    const controllen = Number(new DataView(msg.hdr.buffer).getBigUint64(40, true));
    const ok = controllen >= CMSG_LEN_INT && cv.getInt32(8, true) === SOL_SOCKET &&
      cv.getInt32(12, true) === SCM_RIGHTS;
    return { bytes: n, fd: ok ? cv.getInt32(16, true) : -1 };
  },
  /** getpid(2). */
  getpid(): number {
    return s.getpid();
  },
  /** eventfd(2). */
  eventfd(initval: number, flags: number): number {
    return s.eventfd(initval, flags);
  },
  /**
   * futex(FUTEX_WAIT) on the 32-bit word at `addr` (shared, not private: the word may be mapped
   * by other processes): sleeps while the word equals `expected`, at most `timeoutNs`.
   */
  futexWait(addr: Deno.PointerObject, expected: number, timeoutNs: number): FutexWaitResult {
    setTimeout(timeoutNs);
    return waitResult(s.syscall(SYS_futex, addr, FUTEX_WAIT, expected | 0, timespec, null, 0));
  },
  /**
   * The same wait on Deno's blocking thread pool (the event loop keeps running). Slower to wake
   * than {@link libc.futexWait}; errno is not available, so the result is "woken" or "other".
   */
  async futexWaitAsync(
    addr: Deno.PointerObject,
    expected: number,
    timeoutNs: number,
  ): Promise<"woken" | "other"> {
    const ts = new BigInt64Array(2);
    const n = Math.max(0, Math.floor(timeoutNs));
    ts[0] = BigInt(Math.floor(n / 1e9));
    ts[1] = BigInt(n % 1e9);
    const r = await s.syscall_async(SYS_futex, addr, FUTEX_WAIT, expected | 0, ts, null, 0);
    return r === 0n ? "woken" : "other";
  },
  /** futex(FUTEX_WAKE): wakes up to `count` waiters; returns how many were woken, or -1. */
  futexWake(addr: Deno.PointerObject, count: number): number {
    return Number(s.syscall(SYS_futex, addr, FUTEX_WAKE, count, null, null, 0));
  },
};

import { EAGAIN, errno, libc, strerror } from "./libc.ts";

function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

Deno.test("libc: memfd, ftruncate, size, mmap, munmap, close", () => {
  const fd = libc.memfdCreate("libc-test", libc.MFD_CLOEXEC);
  assert(fd >= 0);
  assert(libc.ftruncate(fd, 8192) === 0);
  assert(libc.fileSize(fd) === 8192);
  const p = libc.mmapShared(fd, 8192);
  assert(p !== null);
  const view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, 8192));
  view[8191] = 9;
  assert(libc.munmap(p, 8192) === 0);
  assert(libc.close(fd) === 0);
  assert(libc.close(fd) === -1 && errno() === 9, "EBADF after a second close");
  assert(strerror(9).length > 0);
});

Deno.test("libc: futex wait times out, sees a changed word, wake counts nobody", () => {
  const fd = libc.memfdCreate("futex-test", libc.MFD_CLOEXEC);
  libc.ftruncate(fd, 4096);
  const p = libc.mmapShared(fd, 4096)!;
  const word = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p, 4));
  Atomics.store(word, 0, 5);
  const t0 = performance.now();
  assert(libc.futexWait(p, 5, 2e6) === "timeout");
  assert(performance.now() - t0 >= 1, "waited about the timeout");
  assert(libc.futexWait(p, 6, 1e9) === "changed");
  assert(errno() === EAGAIN);
  assert(libc.futexWake(p, 1) === 0);
  libc.munmap(p, 4096);
  libc.close(fd);
});

Deno.test("libc: eventfd counts, Unix socket connects and carries bytes", () => {
  const efd = libc.eventfd(0, libc.EFD_CLOEXEC | libc.EFD_NONBLOCK);
  assert(efd >= 0);
  const one = new Uint8Array(8);
  new DataView(one.buffer).setBigUint64(0, 3n, true);
  assert(libc.write(efd, one) === 8);
  const got = new Uint8Array(8);
  assert(libc.read(efd, got) === 8);
  assert(new DataView(got.buffer).getBigUint64(0, true) === 3n);
  assert(libc.read(efd, got) === -1 && errno() === EAGAIN);
  libc.close(efd);

  const path = `/tmp/joyride-libc-test-${Deno.pid}.sock`;
  const l = libc.socket(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC);
  assert(libc.bindUnix(l, path) === 0 && libc.listen(l, 1) === 0);
  const c = libc.socket(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC);
  assert(libc.connectUnix(c, path) === 0);
  const a = libc.accept(l);
  assert(a >= 0);
  assert(libc.write(c, new Uint8Array([1, 2, 3])) === 3);
  const buf = new Uint8Array(3);
  assert(libc.read(a, buf) === 3 && buf[2] === 3);
  for (const fd of [a, c, l]) libc.close(fd);
  Deno.removeSync(path);
  assert(libc.getpid() === Deno.pid);
});

Deno.test("libc: an fd passed with SCM_RIGHTS maps the same memory", () => {
  const pair = libc.socketpair(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC);
  assert(pair !== null);
  const fd = libc.memfdCreate("scm-test", libc.MFD_CLOEXEC);
  libc.ftruncate(fd, 4096);
  const p = libc.mmapShared(fd, 4096)!;
  new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, 4096))[100] = 77;
  assert(libc.sendFd(pair[0], fd, new Uint8Array([42])) === 1);
  const data = new Uint8Array(1);
  const got = libc.recvFd(pair[1], data);
  assert(got !== null && got.bytes === 1 && data[0] === 42);
  assert(got.fd >= 0 && got.fd !== fd, `a new fd, got ${got.fd}`);
  const q = libc.mmapShared(got.fd, 4096)!;
  assert(new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(q, 4096))[100] === 77);
  // Without an fd, recvFd says so.
  assert(libc.write(pair[0], new Uint8Array([1])) === 1);
  assert(libc.recvFd(pair[1])?.fd === -1);
  libc.munmap(p, 4096);
  libc.munmap(q, 4096);
  for (const f of [fd, got.fd, ...pair]) libc.close(f);
});

/**
 * The socket layer over a Stack: file descriptors, O_NONBLOCK, readiness bookkeeping and the
 * dispatch to protocol sockets ({@link ProtoSocket}). TCP is registered by the constructor;
 * other protocols (UDP) register a factory with {@link Sockets.register}.
 *
 * @example
 * ```ts
 * const s = new Sockets(stack);
 * s.onEvent = (fd, ev) => console.log(fd, ev);
 * const fd = s.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
 * ```
 * @module
 */
import { LowestFree } from "./fd_alloc.ts";
import type { TcpStack } from "../tcp/conn.ts";
import {
  type AcceptValue,
  err,
  F_GETFL,
  F_SETFL,
  IPPROTO_TCP,
  IPPROTO_UDP,
  MSG_DONTWAIT,
  O_NONBLOCK,
  O_RDWR,
  ok,
  POLLNVAL,
  type ProtoSocket,
  type ProtoSocketFactory,
  type RecvValue,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  type SockAddr,
  type SocketApi,
  type SockOptValue,
  type SockResult,
  type TcpInfo,
} from "./api.ts";
import { AF_INET, AF_INET6, FIONBIO, FIONREAD, SIOCATMARK, SIOCOUTQ, SOCK_DGRAM } from "./api.ts";
import {
  EAFNOSUPPORT,
  EAGAIN,
  EBADF,
  EINVAL,
  EMFILE,
  ENOPROTOOPT,
  ENOTTY,
  EPROTONOSUPPORT,
} from "../errno.ts";
import { type ConnListing, Tcp } from "../tcp/tcp.ts";
import { TcpSocket } from "../tcp/usrreq.ts";
import { Stack } from "../stack.ts";
import { Udp } from "../udp/udp.ts";

interface Entry {
  sock: ProtoSocket;
  nonblock: boolean;
  last: number;
  /** The engine's notifications for this socket so far (SocketApi.noteCounter). */
  notes: number;
}

/** Options for {@link Sockets}. */
export interface SocketsOptions {
  /** The first file descriptor number handed out (3, as after stdin/stdout/stderr). */
  firstFd?: number;
  /** Most descriptors at once. */
  maxFds?: number;
}

/** The engine's socket table. */
export class Sockets implements SocketApi {
  readonly stack: TcpStack;
  readonly tcp: Tcp;
  onEvent: ((fd: number, events: number) => void) | undefined;
  onNote: ((fd: number) => void) | undefined;
  #fds = new Map<number, Entry>();
  #factories = new Map<string, ProtoSocketFactory>();
  #fdNumbers: LowestFree;

  constructor(stack: TcpStack, opts: SocketsOptions = {}) {
    this.stack = stack;
    this.#fdNumbers = new LowestFree(opts.firstFd ?? 3, opts.maxFds ?? 65536);
    this.tcp = Tcp.of(stack);
    this.tcp.onNotify = (c) => {
      if (c.fd >= 0) this.#changed(c.fd);
    };
    const tcp = this.tcp;
    this.register(SOCK_STREAM, IPPROTO_TCP, (domain) => ok(new TcpSocket(tcp, domain)));
    // UDP plugs in through the same ProtoSocket interface when running over a real Stack.
    if (stack instanceof Stack) {
      const udp = Udp.of(stack);
      this.register(SOCK_DGRAM, IPPROTO_UDP, udp.factory);
      this.tcp.attachUdp(udp); // TCP over UDP (net.inet.tcp.udp_tunneling_port)
    }
  }

  /** Registers the protocol socket constructor for (type, protocol); protocol 0 = default. */
  register(type: number, protocol: number, f: ProtoSocketFactory): void {
    this.#factories.set(`${type}/${protocol}`, f);
    if (!this.#factories.has(`${type}/0`)) this.#factories.set(`${type}/0`, f);
  }

  #alloc(sock: ProtoSocket, nonblock: boolean): SockResult<number> {
    const fd = this.#fdNumbers.take();
    if (fd === undefined) return err(EMFILE);
    const e: Entry = { sock, nonblock, last: 0, notes: 0 };
    this.#fds.set(fd, e);
    if (sock instanceof TcpSocket) sock.conn.fd = fd;
    sock.setNotify(() => this.#changed(fd));
    e.last = sock.poll();
    return ok(fd);
  }

  #changed(fd: number): void {
    const e = this.#fds.get(fd);
    if (!e) return;
    e.notes++;
    this.onNote?.(fd);
    const ev = e.sock.poll();
    if (ev !== e.last) {
      e.last = ev;
      this.onEvent?.(fd, ev);
    }
  }

  #get(fd: number): Entry | undefined {
    return this.#fds.get(fd);
  }

  noteCounter(fd: number): { readonly notes: number } | undefined {
    return this.#fds.get(fd);
  }

  pathMtu(dst: string): number {
    return this.stack.pathMtu(dst);
  }

  /** The protocol socket behind `fd` (for tests and the socket service). */
  protoSocket(fd: number): ProtoSocket | undefined {
    return this.#fds.get(fd)?.sock;
  }

  socket(domain: number, type: number, protocol: number): SockResult<number> {
    if (domain !== AF_INET && domain !== AF_INET6) return err(EAFNOSUPPORT);
    const base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    const f = this.#factories.get(`${base}/${protocol}`);
    if (!f) return err(this.#factories.has(`${base}/0`) ? EPROTONOSUPPORT : EPROTONOSUPPORT);
    const r = f(domain);
    if (r.errno !== undefined) return err(r.errno);
    return this.#alloc(r.value, (type & SOCK_NONBLOCK) !== 0);
  }

  bind(fd: number, addr: SockAddr): SockResult<0> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return this.#after(fd, e.sock.bind(addr));
  }

  listen(fd: number, backlog: number): SockResult<0> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return this.#after(fd, e.sock.listen(backlog));
  }

  accept(fd: number): SockResult<AcceptValue> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    const r = e.sock.accept(e.nonblock);
    this.#changed(fd);
    if (r.errno !== undefined) return r;
    const n = this.#alloc(r.value.sock, false);
    if (n.errno !== undefined) {
      r.value.sock.close();
      return err(n.errno);
    }
    return ok({ fd: n.value, peer: r.value.peer });
  }

  connect(fd: number, addr: SockAddr): SockResult<0> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return this.#after(fd, e.sock.connect(addr, e.nonblock));
  }

  send(fd: number, data: Uint8Array, flags = 0, to?: SockAddr): SockResult<number> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    const nb = e.nonblock || (flags & MSG_DONTWAIT) !== 0;
    return this.#after(fd, e.sock.send(data, flags, nb, to));
  }

  recv(fd: number, maxLen: number, flags = 0): SockResult<RecvValue> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    if (maxLen < 0) return err(EINVAL);
    const nb = e.nonblock || (flags & MSG_DONTWAIT) !== 0;
    return this.#after(fd, e.sock.recv(maxLen, flags, nb));
  }

  recvInto(fd: number, dst: Uint8Array, flags = 0): SockResult<number> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    const nb = e.nonblock || (flags & MSG_DONTWAIT) !== 0;
    if (e.sock.recvInto) return this.#after(fd, e.sock.recvInto(dst, flags, nb));
    const r = e.sock.recv(dst.length, flags, nb);
    if (r.errno !== undefined) return this.#after<number>(fd, r);
    dst.set(r.value.data);
    return this.#after(fd, ok(r.value.data.length));
  }

  shutdown(fd: number, how: number): SockResult<0> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return this.#after(fd, e.sock.shutdown(how));
  }

  close(fd: number): SockResult<0> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    const r = e.sock.close(e.nonblock);
    if (r.wouldBlock) return r; // SO_LINGER: the fd stays until the retry completes
    this.#fds.delete(fd);
    this.#fdNumbers.release(fd);
    e.sock.setNotify(() => {});
    return r;
  }

  getsockopt(fd: number, level: number, name: number): SockResult<SockOptValue> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return this.#after(fd, e.sock.getsockopt(level, name));
  }

  setsockopt(fd: number, level: number, name: number, value: SockOptValue): SockResult<0> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return this.#after(fd, e.sock.setsockopt(level, name, value));
  }

  fcntl(fd: number, cmd: number, arg = 0): SockResult<number> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    if (cmd === F_GETFL) return ok(O_RDWR | (e.nonblock ? O_NONBLOCK : 0));
    if (cmd === F_SETFL) {
      e.nonblock = (arg & O_NONBLOCK) !== 0;
      return ok(0);
    }
    return err(EINVAL);
  }

  getsockname(fd: number): SockResult<SockAddr> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return e.sock.getsockname();
  }

  getpeername(fd: number): SockResult<SockAddr> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    return e.sock.getpeername();
  }

  ioctl(fd: number, request: number, arg = 0): SockResult<number> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    switch (request) {
      case FIONREAD:
        return e.sock.available ? ok(e.sock.available()) : err(ENOTTY);
      case SIOCOUTQ:
        return ok(e.sock.sendQueued?.() ?? 0);
      case SIOCATMARK:
        return ok(e.sock.atMark?.() ? 1 : 0);
      case FIONBIO:
        e.nonblock = arg !== 0;
        return ok(0);
    }
    return err(ENOTTY);
  }

  poll(fd: number): number {
    const e = this.#get(fd);
    if (!e) return POLLNVAL;
    return e.sock.poll();
  }

  tcpInfo(fd: number): SockResult<TcpInfo> {
    const e = this.#get(fd);
    if (!e) return err(EBADF);
    if (!e.sock.tcpInfo) return err(ENOPROTOOPT);
    return ok(e.sock.tcpInfo());
  }

  /** Open descriptors. */
  fds(): number[] {
    return [...this.#fds.keys()].sort((a, b) => a - b);
  }

  /** Every TCP connection incl. embryonic and TIME_WAIT ones (sockstat). */
  connections(): ConnListing[] {
    return this.tcp.connections();
  }

  /** tcpdrop -s STATE: drops every TCP connection in `state` (TCPS_*). */
  dropConnections(state: number): number {
    return this.tcp.dropConnections(state);
  }

  /**
   * After a call on `fd`: its readiness may have changed (a note, an event). A call refused
   * with EAGAIN changed nothing and notes nothing: the socket service skips a stream whose
   * note count stands still, and a send into a full buffer, retried every loop turn, kept its
   * own count moving (the sending TCP/IP server pumped the socket ~55,000 times a second for
   * ~2,000 sends that took data, issue 9).
   */
  #after<T>(fd: number, r: SockResult<T>): SockResult<T> {
    if (r.errno === EAGAIN) return r;
    this.#changed(fd);
    return r;
  }
}

/**
 * Built-in diagnostic services on Joyride's address, as BSD inetd had them (DESIGN §8):
 * TCP and UDP echo (port 7, RFC 862) and discard (port 9, RFC 863), through the engine's
 * socket API like any other program; on the IPv4 address and, when there is one, the IPv6
 * address (a socket of each family: the engine's sockets are single-stack).
 *
 * Event-driven and non-blocking: the socket layer reports readiness through `onEvent`; the
 * fds are queued and served by `run()`, which the server loop calls after each batch of input
 * and timers (never re-entrantly from inside the engine). An echo connection holds at most one
 * read's worth of unsent data: it reads again only once that is sent, so a slow reader slows
 * the writer down through TCP's window instead of growing memory here.
 */
import { EAGAIN } from "./engine/errno.ts";
import {
  type AcceptValue,
  AF_INET,
  AF_INET6,
  F_SETFL,
  IPPROTO_TCP,
  IPPROTO_UDP,
  MSG_NOSIGNAL,
  MSG_PEEK,
  O_NONBLOCK,
  POLLERR,
  POLLHUP,
  POLLIN,
  SHUT_WR,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  type SockAddr,
  type SocketApi,
  SOL_SOCKET,
} from "./engine/socket/api.ts";

/** Which services to run. */
export interface ServicesConfig {
  echo: boolean;
  discard: boolean;
}

type Kind = "echo" | "discard";

interface Conn {
  kind: Kind;
  /** Received, not yet sent back (echo). */
  pending?: Uint8Array;
  /** The peer finished sending. */
  eof: boolean;
}

/** How much one recv takes. */
const readSize = 64 * 1024;

/** The services' counters (reported in status). */
export interface ServicesCounters {
  accepted: number;
  closed: number;
  tcpBytesIn: number;
  tcpBytesOut: number;
  udpDatagramsIn: number;
  udpDatagramsOut: number;
  errors: number;
}

/** The running services. */
export class Services {
  readonly api: SocketApi;
  readonly counters: ServicesCounters = {
    accepted: 0,
    closed: 0,
    tcpBytesIn: 0,
    tcpBytesOut: 0,
    udpDatagramsIn: 0,
    udpDatagramsOut: 0,
    errors: 0,
  };
  #listeners = new Map<number, Kind>();
  #udp = new Map<number, Kind>();
  #conns = new Map<number, Conn>();
  #ready = new Set<number>();

  constructor(api: SocketApi) {
    this.api = api;
  }

  /**
   * Opens the listening sockets on `addr` (IPv4) and `addr6` (IPv6, if given). Returns one
   * message per service that could not be opened (the others still run).
   */
  start(addr: string, cfg: ServicesConfig, addr6?: string): string[] {
    const errors: string[] = [];
    const want: [Kind, number][] = [];
    if (cfg.echo) want.push(["echo", 7]);
    if (cfg.discard) want.push(["discard", 9]);
    const addrs: [number, string][] = [[AF_INET, addr]];
    if (addr6) addrs.push([AF_INET6, addr6.split("/")[0]]); // the topology's may have a prefix
    for (const [kind, port] of want) {
      for (const [family, a] of addrs) {
        const where: SockAddr = { family, addr: a, port } as SockAddr;
        const at = family === AF_INET6 ? `[${a}]:${port}` : `${a}:${port}`;
        // A restarted server adopted this service's listener with its connections (persist.ts).
        if (!this.#hasListener(kind, family)) {
          const t = this.#open(SOCK_STREAM, IPPROTO_TCP, where, true);
          if (typeof t === "string") errors.push(`Cannot open TCP ${kind} on ${at}: ${t}`);
          else {
            this.#listeners.set(t, kind);
            this.#ready.add(t);
          }
        }
        const u = this.#open(SOCK_DGRAM, IPPROTO_UDP, where, false);
        if (typeof u === "string") errors.push(`Cannot open UDP ${kind} on ${at}: ${u}`);
        else {
          this.#udp.set(u, kind);
          this.#ready.add(u);
        }
      }
    }
    return errors;
  }

  /** Whether a listener of `kind` and `family` is open (opened, or adopted after a restart). */
  #hasListener(kind: Kind, family: number): boolean {
    for (const [fd, k] of this.#listeners) {
      if (k === kind && this.api.getsockname(fd).value?.family === family) return true;
    }
    return false;
  }

  #open(type: number, proto: number, where: SockAddr, listen: boolean): number | string {
    const s = this.api.socket(where.family, type | SOCK_NONBLOCK, proto);
    if (s.errno !== undefined) return `socket: errno ${s.errno}`;
    const fd = s.value;
    this.api.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    const b = this.api.bind(fd, where);
    if (b.errno !== undefined) {
      this.api.close(fd);
      return `bind: errno ${b.errno}`;
    }
    if (listen) {
      const l = this.api.listen(fd, 128);
      if (l.errno !== undefined) {
        this.api.close(fd);
        return `listen: errno ${l.errno}`;
      }
    }
    return fd;
  }

  /**
   * Takes over a TCP socket a previous incarnation of the server left (a listener or a
   * connection on port 7 or 9, restored from shared memory). False if it is not a service's.
   */
  adopt(fd: number, port: number, listening: boolean): boolean {
    const kind: Kind | undefined = port === 7 ? "echo" : port === 9 ? "discard" : undefined;
    if (kind === undefined) return false;
    if (listening) this.#listeners.set(fd, kind);
    else this.#conns.set(fd, { kind, eof: false });
    this.#ready.add(fd);
    return true;
  }

  /** The socket layer's readiness callback: remember the fd, serve it in `run()`. */
  onEvent(fd: number, _events: number): void {
    if (this.#listeners.has(fd) || this.#udp.has(fd) || this.#conns.has(fd)) this.#ready.add(fd);
  }

  /** Whether `run()` has work. */
  get busy(): boolean {
    return this.#ready.size > 0;
  }

  /** Number of open service connections. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Serves every fd that became ready. Bounded work per call; returns fds served. */
  run(): number {
    const fds = [...this.#ready];
    this.#ready.clear();
    for (const fd of fds) {
      const lk = this.#listeners.get(fd);
      if (lk) this.#accept(fd, lk);
      else if (this.#udp.has(fd)) this.#datagrams(fd, this.#udp.get(fd)!);
      else {
        const c = this.#conns.get(fd);
        if (c) this.#serve(fd, c);
      }
    }
    return fds.length;
  }

  #accept(fd: number, kind: Kind): void {
    for (let i = 0; i < 64; i++) {
      const r = this.api.accept(fd);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN) this.counters.errors++;
        return;
      }
      const a: AcceptValue = r.value;
      this.api.fcntl(a.fd, F_SETFL, O_NONBLOCK);
      this.#conns.set(a.fd, { kind, eof: false });
      this.counters.accepted++;
      this.#ready.add(a.fd);
    }
    this.#ready.add(fd); // more may be waiting
  }

  #serve(fd: number, c: Conn): void {
    // Bounded: a few reads per turn, so one connection cannot starve the loop.
    for (let i = 0; i < 16; i++) {
      if (c.pending) {
        const s = this.api.send(fd, c.pending, MSG_NOSIGNAL);
        if (s.errno !== undefined) {
          if (s.errno === EAGAIN) return; // POLLOUT will bring us back
          return this.#close(fd, true);
        }
        this.counters.tcpBytesOut += s.value;
        c.pending = s.value < c.pending.length ? c.pending.subarray(s.value) : undefined;
        if (c.pending) return;
      }
      if (c.eof) {
        return this.#close(fd, false);
      }
      // Echo peeks and consumes only what it could send back: nothing is held here between
      // turns, so a restarted server (whose records hold both queues) loses nothing.
      const echo = c.kind === "echo";
      const r = this.api.recv(fd, readSize, echo ? MSG_PEEK : 0);
      if (r.errno !== undefined) {
        if (r.errno === EAGAIN) {
          const ev = this.api.poll(fd);
          if (ev & (POLLERR | POLLHUP) && !(ev & POLLIN)) this.#close(fd, true);
          return;
        }
        return this.#close(fd, true);
      }
      const data = r.value.data;
      if (data.length === 0) {
        c.eof = true;
        continue;
      }
      if (echo) {
        const s = this.api.send(fd, data, MSG_NOSIGNAL);
        if (s.errno !== undefined) {
          if (s.errno === EAGAIN) return; // POLLOUT will bring us back
          return this.#close(fd, true);
        }
        this.api.recv(fd, s.value, 0);
        this.counters.tcpBytesIn += s.value;
        this.counters.tcpBytesOut += s.value;
        if (s.value < data.length) return;
        continue;
      }
      this.counters.tcpBytesIn += data.length;
    }
    this.#ready.add(fd); // still more to do: next turn
  }

  #close(fd: number, error: boolean): void {
    if (error) this.counters.errors++;
    else this.api.shutdown(fd, SHUT_WR);
    this.api.close(fd);
    this.#conns.delete(fd);
    this.counters.closed++;
  }

  #datagrams(fd: number, kind: Kind): void {
    for (let i = 0; i < 64; i++) {
      const r = this.api.recv(fd, 65536, 0);
      if (r.errno !== undefined) {
        if (r.errno !== EAGAIN) this.counters.errors++;
        return;
      }
      this.counters.udpDatagramsIn++;
      if (kind === "echo" && r.value.from) {
        const s = this.api.send(fd, r.value.data, 0, r.value.from);
        if (s.errno === undefined) this.counters.udpDatagramsOut++;
        else this.counters.errors++;
      }
    }
    this.#ready.add(fd);
  }

  /** Closes every service socket. */
  close(): void {
    for (const fd of [...this.#conns.keys(), ...this.#listeners.keys(), ...this.#udp.keys()]) {
      this.api.close(fd);
    }
    this.#conns.clear();
    this.#listeners.clear();
    this.#udp.clear();
    this.#ready.clear();
  }
}

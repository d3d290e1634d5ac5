/**
 * A bulk-transfer application for the simulator: a client on one node connects to a server
 * on another, writes a seeded payload, half-closes; the server reads to EOF and closes; the
 * client reads EOF and closes. It is pumped after every simulator event (non-blocking
 * sockets) and records what arrived, so properties can check "exactly once, in order".
 *
 * @module
 */
import {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  POLLERR,
  POLLIN,
  POLLOUT,
  SHUT_WR,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_SNDBUF,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_CONGESTION,
} from "../socket/api.ts";
import { EAGAIN, EINPROGRESS, errnoName } from "../errno.ts";
import type { Sim, SimNode } from "./sim.ts";
import { Rng } from "./rng.ts";

export interface TransferOptions {
  bytes: number;
  port?: number;
  /** IP version of the connection. */
  version?: 4 | 6;
  /** Largest single send() (default 16 KiB). */
  chunk?: number;
  /** Largest single recv() (default 16 KiB). */
  readChunk?: number;
  /** SO_SNDBUF / SO_RCVBUF to set on both sides (default: the stack's). */
  sndbuf?: number;
  rcvbuf?: number;
  /** Set SO_KEEPALIVE on both ends (so an idle receiver notices a dead path). */
  keepalive?: boolean;
  /**
   * A slow reader: the server reads at most `readChunk` bytes once every `readEveryUs` of
   * simulated time (0 = as fast as possible), so the receive window closes and reopens.
   */
  readEveryUs?: number;
  /** Congestion control for the client (sender) socket (TCP_CONGESTION), e.g. "cubic". */
  cc?: string;
  /** The server address to use (default: the server's first address of the version). */
  serverAddr?: string;
}

type Phase = "init" | "connecting" | "sending" | "draining" | "closed";

/** One client→server transfer. */
export class Transfer {
  readonly payload: Uint8Array;
  readonly received: Uint8Array;
  /** Bytes the server has read. More than `payload.length` means duplicated delivery. */
  receivedLen = 0;
  /** Bytes the client has handed to send(). */
  sentLen = 0;
  /** Errors seen, as "side: call errno". */
  readonly errors: string[] = [];
  /** The server delivered bytes beyond the payload (duplicate delivery). */
  overflow = false;
  clientPhase: Phase = "init";
  serverPhase: Phase = "init";
  /** The server saw EOF / the client saw EOF. */
  serverEof = false;
  clientEof = false;
  #nextRead = 0;
  #wakeAt = -1;
  #lfd = -1;
  #cfd = -1;
  #sfd = -1;
  readonly opts:
    & Required<Pick<TransferOptions, "bytes" | "port" | "version" | "chunk" | "readChunk">>
    & TransferOptions;

  constructor(
    readonly sim: Sim,
    readonly client: SimNode,
    readonly server: SimNode,
    opts: TransferOptions,
  ) {
    this.opts = { port: 5001, version: 4, chunk: 16384, readChunk: 16384, ...opts };
    const rng = new Rng(sim.seed ^ 0xa5a5a5a5);
    this.payload = new Uint8Array(opts.bytes);
    for (let i = 0; i < this.payload.length; i++) this.payload[i] = rng.u32() & 0xff;
    this.received = new Uint8Array(opts.bytes);
    sim.afterEvent.push(() => this.pump());
  }

  #addr(n: SimNode): string {
    if (n === this.server && this.opts.serverAddr) return this.opts.serverAddr;
    const v6 = this.opts.version === 6;
    return n.addrs.find((a) => a.includes(":") === v6)!;
  }

  #family(): number {
    return this.opts.version === 6 ? AF_INET6 : AF_INET;
  }

  #bufs(fd: number, s: SimNode): void {
    if (this.opts.sndbuf) s.sockets.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, this.opts.sndbuf);
    if (this.opts.rcvbuf) s.sockets.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, this.opts.rcvbuf);
    if (this.opts.keepalive) s.sockets.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  }

  /** Opens the listener and starts the connect. */
  start(): void {
    const S = this.server.sockets, C = this.client.sockets;
    const fam = this.#family() as typeof AF_INET;
    const l = S.socket(fam, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (l.errno !== undefined) throw new Error(`Cannot open listener: ${errnoName(l.errno)}`);
    this.#lfd = l.value;
    this.#bufs(this.#lfd, this.server);
    const b = S.bind(this.#lfd, {
      family: fam,
      addr: this.#addr(this.server),
      port: this.opts.port,
    });
    if (b.errno !== undefined) throw new Error(`Cannot bind: ${errnoName(b.errno)}`);
    S.listen(this.#lfd, 16);
    this.serverPhase = "connecting";
    const c = C.socket(fam, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c.errno !== undefined) throw new Error(`Cannot open client: ${errnoName(c.errno)}`);
    this.#cfd = c.value;
    this.#bufs(this.#cfd, this.client);
    if (this.opts.cc) {
      const r = C.setsockopt(this.#cfd, IPPROTO_TCP, TCP_CONGESTION, this.opts.cc);
      if (r.errno !== undefined) {
        throw new Error(`Cannot select cc "${this.opts.cc}": ${errnoName(r.errno)}`);
      }
    }
    const r = C.connect(this.#cfd, {
      family: fam,
      addr: this.#addr(this.server),
      port: this.opts.port,
    });
    if (r.errno !== undefined && r.errno !== EINPROGRESS) {
      this.#fail("client", "connect", r.errno);
      return;
    }
    this.clientPhase = "connecting";
    this.pump();
  }

  /** Both sides have closed their sockets. */
  get done(): boolean {
    return this.clientPhase === "closed" && this.serverPhase === "closed";
  }

  /** The server got exactly the payload. */
  get complete(): boolean {
    return this.receivedLen === this.payload.length && !this.overflow && this.serverEof;
  }

  /** Whatever arrived is a prefix of the payload (no loss in the middle, no duplicate, no reorder). */
  prefixOk(): boolean {
    if (this.overflow) return false;
    for (let i = 0; i < this.receivedLen; i++) {
      if (this.received[i] !== this.payload[i]) return false;
    }
    return true;
  }

  #fail(side: "client" | "server", call: string, errno: number): void {
    this.errors.push(`${side}: ${call} ${errnoName(errno)}`);
    const api = side === "client" ? this.client.sockets : this.server.sockets;
    if (side === "client") {
      if (this.#cfd >= 0) api.close(this.#cfd);
      this.#cfd = -1;
      this.clientPhase = "closed";
    } else {
      if (this.#sfd >= 0) api.close(this.#sfd);
      this.#sfd = -1;
      this.serverPhase = "closed";
    }
  }

  /**
   * Aborts the client: SO_LINGER with a zero timeout, then close, which sends a RST
   * (RFC 9293 §3.10.4 ABORT; FreeBSD's tcp_drop).
   */
  abortClient(): void {
    if (this.#cfd < 0) return;
    const C = this.client.sockets;
    C.setsockopt(this.#cfd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 0 });
    C.close(this.#cfd);
    this.#cfd = -1;
    this.clientPhase = "closed";
    this.errors.push("client: aborted");
  }

  /**
   * Closes every socket still open (an application giving up), e.g. when forged segments
   * left one side waiting forever in a legitimate state (FIN-WAIT-2 of a half-closed socket).
   */
  closeAll(): void {
    const C = this.client.sockets, S = this.server.sockets;
    if (this.#cfd >= 0) C.close(this.#cfd);
    if (this.#sfd >= 0) S.close(this.#sfd);
    if (this.#lfd >= 0) S.close(this.#lfd);
    this.#cfd = this.#sfd = this.#lfd = -1;
    this.clientPhase = "closed";
    this.serverPhase = "closed";
  }

  /** Closes the listener if the server never accepted (end of a test). */
  stopListening(): void {
    if (this.#lfd >= 0) this.server.sockets.close(this.#lfd);
    this.#lfd = -1;
    if (this.serverPhase === "connecting") this.serverPhase = "closed";
  }

  /** Makes all the progress the sockets allow right now. */
  pump(): void {
    this.#pumpServer();
    this.#pumpClient();
    if (this.serverPhase === "closed" && this.#lfd >= 0) {
      this.server.sockets.close(this.#lfd);
      this.#lfd = -1;
    }
  }

  #pumpServer(): void {
    const S = this.server.sockets;
    if (this.serverPhase === "connecting") {
      const a = S.accept(this.#lfd);
      if (a.errno === EAGAIN) return;
      if (a.errno !== undefined) return this.#fail("server", "accept", a.errno);
      this.#sfd = a.value.fd;
      this.#bufs(this.#sfd, this.server);
      this.serverPhase = "draining";
      S.close(this.#lfd);
      this.#lfd = -1;
    }
    if (this.serverPhase !== "draining") return;
    const slow = (this.opts.readEveryUs ?? 0) > 0;
    if (slow && this.sim.now < this.#nextRead) {
      this.#wake();
      return;
    }
    for (let guard = 0; guard < (slow ? 1 : 1000); guard++) {
      const r = S.recv(this.#sfd, this.opts.readChunk, 0);
      if (r.errno === EAGAIN) return;
      if (r.errno !== undefined) return this.#fail("server", "recv", r.errno);
      const d = r.value.data;
      if (d.length === 0) {
        this.serverEof = true;
        S.close(this.#sfd);
        this.#sfd = -1;
        this.serverPhase = "closed";
        return;
      }
      if (slow) {
        this.#nextRead = this.sim.now + this.opts.readEveryUs!;
        this.#wake();
      }
      if (this.receivedLen + d.length > this.received.length) {
        this.overflow = true;
        this.received.set(d.subarray(0, this.received.length - this.receivedLen), this.receivedLen);
        this.receivedLen = this.received.length;
      } else {
        this.received.set(d, this.receivedLen);
        this.receivedLen += d.length;
      }
    }
  }

  /** Makes sure the slow reader runs at its next read time even if the network is quiet. */
  #wake(): void {
    if (this.#wakeAt !== this.#nextRead) {
      this.#wakeAt = this.#nextRead;
      this.sim.at(this.#nextRead, () => {});
    }
  }

  #pumpClient(): void {
    const C = this.client.sockets;
    const fd = this.#cfd;
    if (this.clientPhase === "connecting") {
      const ev = C.poll(fd);
      if (ev & POLLERR) {
        const e = C.getsockopt(fd, SOL_SOCKET, SO_ERROR);
        return this.#fail("client", "connect", typeof e.value === "number" ? e.value : 0);
      }
      if (!(ev & POLLOUT)) return;
      this.clientPhase = "sending";
    }
    if (this.clientPhase === "sending") {
      while (this.sentLen < this.payload.length) {
        const n = Math.min(this.opts.chunk, this.payload.length - this.sentLen);
        const r = C.send(fd, this.payload.subarray(this.sentLen, this.sentLen + n), 0);
        if (r.errno === EAGAIN) return;
        if (r.errno !== undefined) return this.#fail("client", "send", r.errno);
        this.sentLen += r.value;
      }
      C.shutdown(fd, SHUT_WR);
      this.clientPhase = "draining";
    }
    if (this.clientPhase === "draining") {
      if (!(C.poll(fd) & (POLLIN | POLLERR))) return;
      const r = C.recv(fd, 4096, 0);
      if (r.errno === EAGAIN) return;
      if (r.errno !== undefined) return this.#fail("client", "recv", r.errno);
      if (r.value.data.length === 0) {
        this.clientEof = true;
        C.close(fd);
        this.#cfd = -1;
        this.clientPhase = "closed";
      }
    }
  }
}

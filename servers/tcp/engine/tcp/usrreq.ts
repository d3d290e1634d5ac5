/**
 * tcp_usrreq: the socket calls on a TCP socket (bind, listen, connect, accept, send, recv,
 * shutdown, close, options), implementing the socket layer's {@link ProtoSocket}.
 *
 * @module
 */
import {
  AF_INET,
  AF_INET6,
  block,
  err,
  IP_TOS,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_TCLASS,
  IPV6_UNICAST_HOPS,
  type Linger,
  MSG_OOB,
  MSG_PEEK,
  MSG_WAITALL,
  ok,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  POLLPRI,
  POLLRDHUP,
  type ProtoSocket,
  type RecvValue,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_ACCEPTCONN,
  SO_DOMAIN,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_OOBINLINE,
  SO_PROTOCOL,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_TYPE,
  SOCK_STREAM,
  type SockAddr,
  type SockOptValue,
  type SockResult,
  SOL_SOCKET,
  TCP_CONGESTION,
  TCP_FASTOPEN,
  TCP_FUNCTION_BLK,
  TCP_INFO,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINIT,
  TCP_KEEPINTVL,
  TCP_MAXSEG,
  TCP_NODELAY,
  TCP_NOOPT,
  TCP_NOPUSH,
  TCP_RACK_PACE_ALWAYS,
  TCP_RACK_PACE_MAX_SEG,
  TCP_RACK_PACE_RATE_SS,
  TCP_REMOTE_UDP_ENCAPS_PORT,
  TCP_SYNCNT,
  TCP_USER_TIMEOUT,
  TCPI_OPT_ECN,
  TCPI_OPT_SACK,
  TCPI_OPT_TIMESTAMPS,
  TCPI_OPT_WSCALE,
  type TcpInfo,
} from "../socket/api.ts";
import {
  EADDRINUSE,
  EADDRNOTAVAIL,
  EAFNOSUPPORT,
  EAGAIN,
  EALREADY,
  ECONNABORTED,
  ECONNRESET,
  EINPROGRESS,
  EINVAL,
  EISCONN,
  ENOPROTOOPT,
  ENOTCONN,
  EOPNOTSUPP,
  EPIPE,
} from "../errno.ts";
import type { Tcp } from "./tcp.ts";
import { isAny, windowScaleFor } from "./tcp.ts";
import { type TcpConn, timerActivate } from "./conn.ts";
import {
  newTcpcb,
  TCPS_CLOSE_WAIT,
  TCPS_CLOSED,
  TCPS_ESTABLISHED,
  TCPS_FIN_WAIT_1,
  TCPS_FIN_WAIT_2,
  TCPS_LAST_ACK,
  TCPS_LISTEN,
  TCPS_SYN_RECEIVED,
  TCPS_SYN_SENT,
  TCPS_TIME_WAIT,
  TF_ECN_PERMIT,
  TF_NEEDFIN,
  TF_NODELAY,
  TF_NOOPT,
  TF_NOPUSH,
  TF_RCVD_SCALE,
  TF_RCVD_TSTMP,
  TF_REQ_SCALE,
  TF_REQ_TSTMP,
  TF_SACK_PERMIT,
  TT_2MSL,
  TT_KEEP,
} from "./tcpcb.ts";
import { seqAdd, seqDiff } from "./seq.ts";
import { recvWindow, tcpOutput } from "./output.ts";
import { rttReset, rttSrtt, rttVar } from "./rtt.ts";
import { offeredMss, rttConfig, tcpClose, tcpDrop } from "./subr.ts";
import { keepIdle, keepInit } from "./timers.ts";
import { type IpAddr, ipToBytes, ipVersion, parseIp } from "../ip/addr.ts";
import { ccSwitch } from "./cc/builtin.ts";

const MS = 1000;
/** Linux's net.ipv4.tcp_syn_retries default, TCP_SYNCNT's value until set. */
const LINUX_SYN_RETRIES = 6;

/** A TCP socket. */
export class TcpSocket implements ProtoSocket {
  readonly type = SOCK_STREAM;
  readonly protocol = IPPROTO_TCP;
  readonly domain: number;
  readonly tcp: Tcp;
  conn: TcpConn;
  #bound = false;
  #notify: () => void = () => {};
  /** A blocking connect is waiting for its outcome. */
  #connectPending = false;
  #connectReported = false;
  /** The last connect's outcome reported was success (a connected socket stays EISCONN). */
  #connected = false;
  /** connect() chose the local port (no bind before it): a new attempt chooses again. */
  #autoBound = false;
  /**
   * An AF_INET6 socket used with IPv4-mapped addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5, IPv4-mapped):
   * the connection is IPv4, the socket shows its addresses mapped. Taken on the first bind or
   * connect to a mapped address (a socket bound to :: stays IPv6-only, as with FreeBSD's
   * default net.inet6.ip6.v6only=1).
   */
  #mapped = false;

  constructor(tcp: Tcp, domain: number, conn?: TcpConn) {
    this.tcp = tcp;
    this.domain = domain;
    this.conn = conn ?? tcp.newConn();
    if (!conn) this.conn.version = domain === AF_INET6 ? 6 : 4;
    if (conn) this.#bound = true;
  }

  // Every call that may change the connection (all but the pure queries: names, poll, tcpInfo)
  // starts with tcp.touch(conn): the state store then stores it at the next commit.

  setNotify(fn: () => void): void {
    this.#notify = fn;
  }
  /** Called by Tcp when the connection's readiness may have changed. */
  changed(): void {
    this.#notify();
  }

  #family(): typeof AF_INET | typeof AF_INET6 {
    return this.conn.version === 6 || this.#mapped ? AF_INET6 : AF_INET;
  }

  /** An address as this socket shows it (IPv4 ones mapped on a dual-stack socket). */
  #show(a: IpAddr): IpAddr {
    return this.#mapped ? `::ffff:${a}` : a;
  }

  /**
   * The IPv4 address inside `a` when this AF_INET6 socket is (or becomes) a mapped one; switches
   * the connection to IPv4 then. Undefined for an ordinary address.
   */
  #unmap(a: IpAddr): IpAddr | undefined {
    if (this.domain !== AF_INET6 || ipVersion(a) !== 6) return undefined;
    const b = ipToBytes(a);
    for (let i = 0; i < 10; i++) if (b[i] !== 0) return undefined;
    if (b[10] !== 0xff || b[11] !== 0xff) return undefined;
    this.#mapped = true;
    this.conn.version = 4;
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }

  bind(addr: SockAddr): SockResult<0> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    if (this.#bound) return err(EINVAL);
    const want = this.domain === AF_INET6 ? AF_INET6 : AF_INET;
    if (addr.family !== want) return err(EAFNOSUPPORT);
    const parsed = parseIp(addr.addr);
    if (parsed === undefined) return err(EINVAL);
    const a = this.#unmap(parsed) ?? parsed;
    // Only our own addresses can be bound. (Asking the routes was not enough: an address of
    // an on-link subnet has a route, so 198.18.0.77 was bound and its SYNs never left.)
    if (!isAny(a) && !this.tcp.stack.isLocalAddress(a)) return err(EADDRNOTAVAIL);
    let port = addr.port;
    if (port === 0) {
      port = this.tcp.ephemeralPort(c.version, a);
      if (port === 0) return err(EADDRINUSE); // Linux: the ephemeral range is used up
    } else {
      const other = this.tcp.portInUse(c.version, a, port, c);
      if (
        other && !(c.reusePort && other.reusePort) &&
        !(c.reuseAddr && other.tp.state !== TCPS_LISTEN)
      ) return err(EADDRINUSE);
    }
    c.laddr = a;
    c.lport = port;
    this.#bound = true;
    this.tcp.addListener(c); // bound endpoints are found by port (bind conflicts, closed-port replies)
    return ok(0);
  }

  listen(backlog: number): SockResult<0> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    if (c.tp.state !== TCPS_CLOSED && c.tp.state !== TCPS_LISTEN) return err(EINVAL);
    if (!this.#bound) {
      const r = this.bind({
        family: this.#family(),
        addr: c.version === 6 ? "::" : "0.0.0.0",
        port: 0,
      });
      if (r.errno !== undefined) return r;
    }
    c.backlog = Math.max(0, backlog);
    c.tp.state = TCPS_LISTEN;
    c.cantRcvMore = false; // listening again after a shutdown
    c.tp.requestRScale = windowScaleFor(this.tcp.num("kern.ipc.maxsockbuf"));
    this.tcp.addListener(c);
    return ok(0);
  }

  accept(nonblock: boolean): SockResult<{ sock: ProtoSocket; peer: SockAddr }> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    if (c.tp.state !== TCPS_LISTEN) return err(EINVAL);
    const child = c.acceptQueue.shift();
    if (child === undefined) return nonblock ? err(EAGAIN) : block(EAGAIN, POLLIN);
    child.parent = undefined;
    this.tcp.touch(child);
    const s = new TcpSocket(this.tcp, this.domain, child);
    s.#mapped = this.#mapped;
    return ok({
      sock: s,
      peer: { family: this.#family(), addr: this.#show(child.faddr), port: child.fport },
    });
  }

  connect(addr: SockAddr, nonblock: boolean): SockResult<0> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    const tp = c.tp;
    if (this.#connectPending) {
      // Retry of a connect: report the outcome once.
      if (tp.state === TCPS_SYN_SENT || tp.state === TCPS_SYN_RECEIVED) {
        return nonblock ? err(EALREADY) : block(EAGAIN, POLLOUT);
      }
      this.#connectPending = false;
      this.#connectReported = true;
      if (c.soError) {
        const e = c.soError;
        c.soError = 0;
        return err(e);
      }
      if (tp.state >= TCPS_ESTABLISHED) {
        this.#connected = true;
        return ok(0);
      }
      // Failed, its error taken already (SO_ERROR): Linux says ECONNABORTED, once; the next
      // connect is a new attempt (#again).
      return err(ECONNABORTED);
    }
    if (tp.state === TCPS_LISTEN) return err(EOPNOTSUPP);
    if (tp.state === TCPS_SYN_SENT || tp.state === TCPS_SYN_RECEIVED) return err(EALREADY);
    if (
      tp.state === TCPS_CLOSED && c.isDisconnected && this.#connectReported && !this.#connected
    ) {
      this.#again(c);
    }
    if (tp.state !== TCPS_CLOSED || c.isDisconnected || this.#connectReported) return err(EISCONN);
    const want = this.domain === AF_INET6 ? AF_INET6 : AF_INET;
    if (addr.family !== want) return err(EAFNOSUPPORT);
    const parsedDst = parseIp(addr.addr);
    if (parsedDst === undefined || addr.port === 0) return err(EINVAL);
    let dst = parsedDst;
    if (c.version === 4 || !this.#bound || isAny(c.laddr)) {
      // A mapped destination on an unbound (or wildcard-bound) AF_INET6 socket goes out as IPv4.
      const v4 = c.version === 6 && this.#bound ? undefined : this.#unmap(parsedDst);
      if (v4 !== undefined) dst = v4;
    }
    if (ipVersion(dst) !== c.version) return err(101); // ENETUNREACH
    if (isAny(dst)) {
      // This host (Stack.thisHost), over the loopback: a SYN to 0.0.0.0 left by the NIC.
      const own = this.tcp.stack.thisHost?.(c.version, c.laddr);
      if (own === undefined) return err(101); // ENETUNREACH
      dst = own;
    }
    const src = isAny(c.laddr) || c.laddr === "" ? this.tcp.stack.sourceFor(dst) : c.laddr;
    if (src === undefined) return err(101); // ENETUNREACH
    c.laddr = src;
    c.faddr = dst;
    c.fport = addr.port;
    if (!this.#bound || c.lport === 0) {
      const port = this.tcp.ephemeralPort(c.version, src, dst, addr.port);
      if (port === 0) return err(EADDRNOTAVAIL); // Linux: no local port left for this peer
      c.lport = port;
      this.#bound = true;
      this.#autoBound = true;
    }
    if (this.tcp.conns.has(`${c.version}|${c.laddr}|${c.lport}|${c.faddr}|${c.fport}`)) {
      return err(EADDRINUSE);
    }
    // tcp_connect: ISS (RFC 6528), options we will ask for, SYN-SENT, connection timer.
    const host = this.tcp;
    const rfc1323 = host.num("net.inet.tcp.rfc1323");
    if (!(tp.tFlags & TF_NOOPT)) {
      if (rfc1323 & 1) tp.tFlags |= TF_REQ_SCALE;
      if (rfc1323 === 1 || rfc1323 === 3 || rfc1323 === 2) tp.tFlags |= TF_REQ_TSTMP;
      if (host.num("net.inet.tcp.sack.enable")) tp.tFlags |= TF_SACK_PERMIT;
    }
    tp.requestRScale = windowScaleFor(host.num("kern.ipc.maxsockbuf"));
    tp.tMaxopd = offeredMss(host, c, c.userMss);
    tp.tMaxseg = Math.min(
      tp.tMaxopd,
      host.num(c.version === 6 ? "net.inet.tcp.v6mssdflt" : "net.inet.tcp.mssdflt"),
    );
    tp.iss = host.isnFor(c);
    tp.tsOffset = host.tsOffsetFor(c);
    tp.sndUna =
      tp.sndNxt =
      tp.sndMax =
      tp.sndUp =
      tp.sndRecover =
        tp.iss;
    tp.state = TCPS_SYN_SENT;
    tp.tRxtcur = host.num("net.inet.tcp.rexmit_initial") * MS;
    host.insert(c);
    timerActivate(c, TT_KEEP, keepInit(c));
    tcpOutput(c);
    // A later connect() reports how this one ended, once (Linux): a non-blocking caller that
    // retries to learn the outcome (Perl's IO::Socket, Ruby's Socket.tcp) got EISCONN for a
    // refused connection and took it for success.
    this.#connectPending = true;
    if (nonblock) return err(EINPROGRESS);
    return block(EINPROGRESS, POLLOUT);
  }

  /**
   * Readies a socket whose connect failed (refused, timed out, unreachable; its outcome
   * reported) for another attempt: Linux lets it connect again (a program retrying on the same
   * socket until a server is up), where FreeBSD says EISCONN, and this said so from then on.
   * A fresh control block keeps the options set on the socket; a port connect() chose is
   * chosen again.
   */
  #again(c: TcpConn): void {
    const tp = c.tp;
    const keep = {
      tFlags: tp.tFlags & (TF_NODELAY | TF_NOPUSH | TF_NOOPT),
      tMaxseg: tp.tMaxseg,
      tKeepidle: tp.tKeepidle,
      tKeepintvl: tp.tKeepintvl,
      tKeepinit: tp.tKeepinit,
      tKeepcnt: tp.tKeepcnt,
    };
    Object.assign(tp, newTcpcb(), keep);
    rttReset(tp, rttConfig(this.tcp));
    c.isDisconnected =
      c.cantRcvMore =
      c.cantSendMore =
      c.dropped =
        false;
    c.soError = 0;
    c.sackBlocks = [];
    c.dsack = undefined;
    if (this.#autoBound) {
      this.#bound = this.#autoBound = false;
      c.lport = 0;
      c.laddr = "";
    }
    this.#connectReported = false;
  }

  send(data: Uint8Array, flags: number, nonblock: boolean, to?: SockAddr): SockResult<number> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    const tp = c.tp;
    if (
      to !== undefined && tp.state === TCPS_CLOSED && !c.isDisconnected && c.tfo &&
      this.tcp.num("net.inet.tcp.fastopen.client_enable")
    ) {
      // RFC 7413 §4.2: sendto() on a TFO socket opens the connection; the data rides on the
      // SYN when a cookie is cached, else it waits for the handshake.
      const n = Math.min(data.length, c.sndHiwat);
      c.snd.push(data.subarray(0, n));
      c.tfoConnect = true;
      const r = this.connect(to, true);
      if (r.errno !== undefined && r.errno !== EINPROGRESS) {
        c.snd.clear();
        c.tfoConnect = false;
        return err(r.errno);
      }
      return ok(n);
    }
    if (c.soError) {
      const e = c.soError;
      c.soError = 0;
      return err(e);
    }
    if (c.cantSendMore || tp.state === TCPS_TIME_WAIT) return err(EPIPE);
    if (tp.state === TCPS_CLOSED && c.isDisconnected) return err(EPIPE);
    if (
      tp.state < TCPS_ESTABLISHED && tp.state !== TCPS_SYN_SENT && tp.state !== TCPS_SYN_RECEIVED
    ) {
      return err(ENOTCONN);
    }
    if (tp.state === TCPS_SYN_SENT || tp.state === TCPS_SYN_RECEIVED) {
      return nonblock ? err(EAGAIN) : block(EAGAIN, POLLOUT);
    }
    if (data.length === 0) return ok(0);
    const space = c.sndHiwat - c.snd.length;
    if (space <= 0) return nonblock ? err(EAGAIN) : block(EAGAIN, POLLOUT);
    const n = Math.min(space, data.length);
    c.snd.push(data.subarray(0, n));
    if (flags & MSG_OOB) {
      // The urgent pointer points just past the last byte of this send (RFC 6093).
      tp.sndUp = seqAdd(seqAdd(tp.sndUna, c.snd.length), 0);
      this.tcp.count("tcp.tx.urgent");
    }
    tcpOutput(c);
    return ok(n);
  }

  recv(maxLen: number, flags: number, nonblock: boolean): SockResult<RecvValue> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    const tp = c.tp;
    if (flags & MSG_OOB) {
      if (c.oobInline || !tp.oobHave) return err(EINVAL);
      const b = new Uint8Array([tp.oobByte]);
      if (!(flags & MSG_PEEK)) tp.oobHave = 0;
      return ok({ data: b });
    }
    if (tp.state === TCPS_LISTEN) return err(ENOTCONN);
    const avail = c.rcv.length;
    if (avail === 0) {
      if (c.soError) {
        const e = c.soError;
        if (!(flags & MSG_PEEK)) c.soError = 0;
        return err(e);
      }
      if (c.cantRcvMore) return ok({ data: new Uint8Array(0) });
      if (tp.state === TCPS_CLOSED && !c.isDisconnected && !this.#bound) return err(ENOTCONN);
      if (tp.state === TCPS_CLOSED && !c.isDisconnected) return err(ENOTCONN);
      return nonblock ? err(EAGAIN) : block(EAGAIN, POLLIN);
    }
    if (
      (flags & MSG_WAITALL) && !nonblock && avail < maxLen && !c.cantRcvMore && !c.soError &&
      avail < c.rcvHiwat
    ) return block(EAGAIN, POLLIN);
    const n = Math.min(maxLen, avail);
    // Stop at the urgent mark so the reader can test SIOCATMARK (BSD semantics).
    const data = c.rcv.copy(0, n);
    if (!(flags & MSG_PEEK)) {
      c.rcv.drop(n);
      if (c.oobMark >= 0) c.oobMark = c.oobMark >= n ? c.oobMark - n : -1;
      // The window opened: tcp_output decides whether a window update is due.
      if (tp.state >= TCPS_ESTABLISHED) tcpOutput(c);
    }
    return ok({ data });
  }

  /**
   * recv into `dst` (ProtoSocket.recvInto): with data queued and no flags, the receive queue
   * is copied straight into `dst` (no array allocated); anything else goes through recv.
   */
  recvInto(dst: Uint8Array, flags: number, nonblock: boolean): SockResult<number> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    const tp = c.tp;
    const avail = c.rcv.length;
    if (flags !== 0 || avail === 0 || tp.state === TCPS_LISTEN) {
      const r = this.recv(dst.length, flags, nonblock);
      if (r.errno !== undefined) return r;
      dst.set(r.value.data);
      return ok(r.value.data.length);
    }
    const n = Math.min(dst.length, avail);
    c.rcv.copyInto(0, n, dst, 0);
    // As recv without MSG_PEEK.
    c.rcv.drop(n);
    if (c.oobMark >= 0) c.oobMark = c.oobMark >= n ? c.oobMark - n : -1;
    if (tp.state >= TCPS_ESTABLISHED) tcpOutput(c);
    return ok(n);
  }

  shutdown(how: number): SockResult<0> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    const tp = c.tp;
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) return err(EINVAL);
    if (tp.state === TCPS_LISTEN && how !== SHUT_WR) {
      // Linux (inet_shutdown): the listener stops listening. Its queue is reset, new SYNs are
      // refused, accept() fails with EINVAL and the socket reads as shut (POLLIN), which wakes
      // a thread blocked in accept(). It keeps its port.
      // FreeBSD keeps listening and answers ENOTCONN. Apps are Linux programs: "shutdown the
      // listener to stop the accept thread" waited forever.
      for (const ch of [...c.acceptQueue, ...c.incomplete]) tcpDrop(ch, 0);
      c.acceptQueue = [];
      c.incomplete.clear();
      tp.state = TCPS_CLOSED;
      c.cantRcvMore = true;
      this.changed();
      return ok(0);
    }
    if (tp.state === TCPS_LISTEN || (tp.state === TCPS_CLOSED && !c.isDisconnected)) {
      return err(ENOTCONN);
    }
    if (tp.state === TCPS_SYN_SENT) {
      // Linux (inet_shutdown → tcp_disconnect): any shutdown aborts the attempt, nothing goes
      // out, the connect() waiting for it fails with ECONNRESET (SO_ERROR, POLLERR) and the
      // socket may connect again. FreeBSD closes it without an error: a thread blocked in
      // connect() returned 0 for a connection that never was (the JVM's close() of a
      // connecting socket shuts it down first).
      tcpDrop(c, ECONNRESET);
      this.#connectPending = false;
      this.#connectReported = true;
      this.changed();
      return ok(0);
    }
    if (how === SHUT_RD || how === SHUT_RDWR) {
      c.cantRcvMore = true;
      c.rcv.clear();
    }
    if (how === SHUT_WR || how === SHUT_RDWR) {
      if (!c.cantSendMore) {
        c.cantSendMore = true;
        usrClosed(c);
        if (c.tp.state !== TCPS_CLOSED) tcpOutput(c);
      }
    }
    this.changed();
    return ok(0);
  }

  /** Deadline (µs) of a blocking close lingering for SO_LINGER, 0 when not lingering. */
  #lingerUntil = 0;
  #lingerTimer = 0;

  #lingerDone(): boolean {
    const c = this.conn;
    return c.isDisconnected || c.tp.state === TCPS_CLOSED || c.tp.state === TCPS_TIME_WAIT ||
      (this.#lingerUntil !== 0 && this.tcp.now() >= this.#lingerUntil);
  }

  close(nonblock = true): SockResult<0> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    if (this.#lingerUntil !== 0) {
      // Retry of a lingering close (SO_LINGER, FreeBSD's soclose sleep).
      if (!this.#lingerDone()) return block(EAGAIN, POLLHUP);
      this.tcp.stack.timers.cancel(this.#lingerTimer);
      this.#lingerUntil = 0;
      c.fd = -1;
      return ok(0);
    }
    const r = this.#close();
    if (
      r.errno === undefined && !nonblock && c.lingerOn && c.lingerSecs > 0 &&
      c.tp.state !== TCPS_CLOSED && !this.#lingerDone()
    ) {
      this.#lingerUntil = this.tcp.now() + c.lingerSecs * 1e6;
      this.#lingerTimer = this.tcp.stack.timers.schedule(this.#lingerUntil, () => this.changed());
      return block(EAGAIN, POLLHUP);
    }
    c.fd = -1;
    return r;
  }

  #close(): SockResult<0> {
    const c = this.conn;
    const tp = c.tp;
    c.closed = true;
    if (tp.state === TCPS_LISTEN) {
      // Pending connections of a listener are reset (soabort).
      for (const ch of [...c.acceptQueue, ...c.incomplete]) tcpDrop(ch, 0);
      c.acceptQueue = [];
      c.incomplete.clear();
      tcpClose(c);
      return ok(0);
    }
    if (tp.state === TCPS_CLOSED) {
      if (!c.isDisconnected) this.tcp.detach(c);
      return ok(0);
    }
    if (c.lingerOn && c.lingerSecs === 0) {
      // SO_LINGER with zero time: abort with a RST (tcp_drop).
      tcpDrop(c, 0);
      return ok(0);
    }
    if (tp.state < TCPS_ESTABLISHED && tp.state !== TCPS_SYN_RECEIVED) {
      tcpClose(c);
      return ok(0);
    }
    if (tp.state === TCPS_SYN_RECEIVED) {
      tcpClose(c);
      return ok(0);
    }
    c.rcv.clear();
    c.cantRcvMore = true;
    if (!c.cantSendMore) {
      c.cantSendMore = true;
      usrClosed(c);
    } else if (tp.state === TCPS_FIN_WAIT_2) {
      timerActivate(c, TT_2MSL, this.tcp.num("net.inet.tcp.finwait2_timeout") * MS);
    }
    if (c.tp.state !== TCPS_CLOSED) tcpOutput(c);
    return ok(0);
  }

  getsockopt(level: number, name: number): SockResult<SockOptValue> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    const tp = c.tp;
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_RCVBUF:
          return ok(c.rcvHiwat);
        case SO_SNDBUF:
          return ok(c.sndHiwat);
        case SO_ERROR: {
          const e = c.soError;
          c.soError = 0;
          return ok(e);
        }
        case SO_REUSEADDR:
          return ok(c.reuseAddr ? 1 : 0);
        case SO_REUSEPORT:
          return ok(c.reusePort ? 1 : 0);
        case SO_KEEPALIVE:
          return ok(c.keepalive ? 1 : 0);
        case SO_OOBINLINE:
          return ok(c.oobInline ? 1 : 0);
        case SO_LINGER:
          return ok({ onoff: c.lingerOn, linger: c.lingerSecs } as Linger);
        case SO_TYPE:
          return ok(SOCK_STREAM);
        case SO_PROTOCOL:
          return ok(IPPROTO_TCP);
        case SO_DOMAIN:
          return ok(this.domain);
        case SO_ACCEPTCONN:
          return ok(tp.state === TCPS_LISTEN ? 1 : 0);
      }
      return err(ENOPROTOOPT);
    }
    if (level === IPPROTO_TCP) {
      switch (name) {
        case TCP_NODELAY:
          return ok(tp.tFlags & TF_NODELAY ? 1 : 0);
        case TCP_NOPUSH:
          return ok(tp.tFlags & TF_NOPUSH ? 1 : 0);
        case TCP_NOOPT:
          return ok(tp.tFlags & TF_NOOPT ? 1 : 0);
        case TCP_MAXSEG: {
          // Connected, Linux reads the payload of a full segment: the MSS less the timestamps
          // option when the connection uses it (1448 of 1460).
          const ts = TF_REQ_TSTMP | TF_RCVD_TSTMP;
          const withTs = tp.state >= TCPS_ESTABLISHED && (tp.tFlags & ts) === ts;
          return ok(withTs ? tp.tMaxseg - 12 : tp.tMaxseg);
        }
        case TCP_KEEPIDLE:
          return ok(Math.floor(keepIdle(c) / 1e6));
        case TCP_KEEPINTVL:
          return ok(
            Math.floor((tp.tKeepintvl || this.tcp.num("net.inet.tcp.keepintvl") * MS) / 1e6),
          );
        case TCP_KEEPCNT:
          return ok(tp.tKeepcnt || this.tcp.num("net.inet.tcp.keepcnt"));
        case TCP_KEEPINIT:
          return ok(Math.floor(keepInit(c) / 1e6));
        case TCP_INFO:
          return ok(this.tcpInfo());
        case TCP_CONGESTION:
          return ok(c.ccv.algo.name);
        case TCP_USER_TIMEOUT:
          return ok(Math.floor(c.maxUnack / 1000));
        case TCP_SYNCNT:
          return ok(c.synRetries || LINUX_SYN_RETRIES);
        case TCP_FASTOPEN:
          return ok(c.tfo ? 1 : 0);
        case TCP_FUNCTION_BLK:
          return ok(c.rack !== undefined ? "rack" : "freebsd");
        case TCP_REMOTE_UDP_ENCAPS_PORT:
          return ok(c.tPort);
      }
      return err(ENOPROTOOPT);
    }
    if (level === IPPROTO_IP || level === IPPROTO_IPV6) {
      if (name === IP_TTL || name === IPV6_UNICAST_HOPS) return ok(c.ipTtl || 64);
      if (name === IP_TOS || name === IPV6_TCLASS) return ok(c.ipTos);
      return err(ENOPROTOOPT);
    }
    return err(ENOPROTOOPT);
  }

  setsockopt(level: number, name: number, value: SockOptValue): SockResult<0> {
    this.tcp.touch(this.conn);
    const c = this.conn;
    const tp = c.tp;
    const n = typeof value === "number" ? value : undefined;
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_RCVBUF:
        case SO_SNDBUF: {
          if (n === undefined) return err(EINVAL);
          // Linux clamps what it is given (0: its minimum, past the maximum: the maximum)
          // where FreeBSD fails with EINVAL/ENOBUFS: programs ask for more than they may have.
          const v = Math.min(
            Math.max(n, name === SO_SNDBUF ? 4608 : 2304),
            this.tcp.num("kern.ipc.maxsockbuf"),
          );
          if (name === SO_RCVBUF) c.rcvHiwat = v;
          else c.sndHiwat = v;
          this.changed();
          return ok(0);
        }
        case SO_REUSEADDR:
          c.reuseAddr = !!n;
          return ok(0);
        case SO_REUSEPORT:
          c.reusePort = !!n;
          return ok(0);
        case SO_KEEPALIVE:
          c.keepalive = !!n;
          if (c.keepalive && tp.state >= TCPS_ESTABLISHED && tp.state <= TCPS_CLOSE_WAIT) {
            timerActivate(c, TT_KEEP, keepIdle(c));
          }
          return ok(0);
        case SO_OOBINLINE:
          c.oobInline = !!n;
          return ok(0);
        case SO_LINGER: {
          if (typeof value !== "object" || value instanceof Uint8Array || !("onoff" in value)) {
            return err(EINVAL);
          }
          c.lingerOn = !!value.onoff;
          c.lingerSecs = Math.max(0, value.linger | 0);
          return ok(0);
        }
      }
      if (n !== undefined) return ok(0); // accepted and ignored (SO_DEBUG, timeouts, …)
      return err(ENOPROTOOPT);
    }
    if (level === IPPROTO_TCP) {
      switch (name) {
        case TCP_NODELAY:
          if (n) tp.tFlags |= TF_NODELAY;
          else tp.tFlags &= ~TF_NODELAY;
          if (n && tp.state >= TCPS_ESTABLISHED) tcpOutput(c);
          return ok(0);
        case TCP_NOPUSH:
          if (n) tp.tFlags |= TF_NOPUSH;
          else {
            tp.tFlags &= ~TF_NOPUSH;
            if (tp.state >= TCPS_ESTABLISHED) tcpOutput(c);
          }
          return ok(0);
        case TCP_NOOPT:
          if (n) tp.tFlags |= TF_NOOPT;
          else tp.tFlags &= ~TF_NOOPT;
          return ok(0);
        case TCP_MAXSEG:
          // Linux: 0 (none) or 88..32767; before the handshake it bounds the MSS offered and
          // used (iperf -M: the SYN said 1460 and 1448-byte segments went out), after it
          // only lowers the segments sent.
          if (n === undefined || n < 0 || n > 32767 || (n > 0 && n < 88)) return err(EINVAL);
          if (tp.state < TCPS_ESTABLISHED) {
            this.conn.userMss = n;
            if (n > 0) tp.tMaxseg = n;
          } else if (n > 0 && n < tp.tMaxseg) tp.tMaxseg = n;
          return ok(0);
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL:
        case TCP_KEEPINIT:
          // Linux's range (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL: 32767 s); varnish sets 7200.
          if (n === undefined || n < 1 || n > 32767) return err(EINVAL);
          if (name === TCP_KEEPIDLE) {
            tp.tKeepidle = n * 1e6;
            // A running keepalive timer follows the new idle time (FreeBSD re-arms it).
            if (tp.state >= TCPS_ESTABLISHED && tp.state <= TCPS_CLOSE_WAIT) {
              timerActivate(c, TT_KEEP, keepIdle(c));
            }
          } else if (name === TCP_KEEPINTVL) tp.tKeepintvl = n * 1e6;
          else tp.tKeepinit = n * 1e6;
          return ok(0);
        case TCP_KEEPCNT:
          if (n === undefined || n < 1 || n > 127) return err(EINVAL); // Linux: 1..127
          tp.tKeepcnt = n;
          return ok(0);
        case TCP_CONGESTION:
          if (typeof value !== "string" || !ccSwitch(c.ccv, value)) return err(2); // ENOENT
          return ok(0);
        case TCP_USER_TIMEOUT:
          // Milliseconds, 0 for none; Linux refuses a negative value only.
          if (n === undefined || n < 0) return err(EINVAL);
          c.maxUnack = n * 1000;
          return ok(0);
        case TCP_SYNCNT:
          if (n === undefined || n < 1 || n > 127) return err(EINVAL); // Linux: 1..127
          c.synRetries = n;
          return ok(0);
        case TCP_FUNCTION_BLK:
          // One stack ("freebsd"); selecting it is a no-op.
          return ok(0);
        case TCP_RACK_PACE_MAX_SEG:
        case TCP_RACK_PACE_RATE_SS:
        case TCP_RACK_PACE_ALWAYS:
          // Pacing knobs of FreeBSD's RACK stack: accepted, no pacing here.
          return n !== undefined && n >= 0 ? ok(0) : err(EINVAL);
        case TCP_FASTOPEN:
          // RFC 7413 client: the next sendto() opens the connection with TFO.
          if (n === undefined) return err(EINVAL);
          if (tp.state !== TCPS_CLOSED && tp.state !== TCPS_LISTEN) return err(EINVAL);
          c.tfo = n !== 0;
          return ok(0);
        case TCP_REMOTE_UDP_ENCAPS_PORT:
          // TCP over UDP towards this UDP port of the peer (needs udp_tunneling_port).
          if (n === undefined || n < 0 || n > 65535) return err(EINVAL);
          if (tp.state !== TCPS_CLOSED) return err(EINVAL);
          if (n !== 0 && this.tcp.num("net.inet.tcp.udp_tunneling_port") === 0) return err(EINVAL);
          c.tPort = n;
          return ok(0);
      }
      return err(ENOPROTOOPT);
    }
    if (level === IPPROTO_IP || level === IPPROTO_IPV6) {
      if (name === IP_TTL || name === IPV6_UNICAST_HOPS) {
        if (n === undefined || n < -1 || n > 255) return err(EINVAL);
        c.ipTtl = n <= 0 ? 0 : n;
      } else if (name === IP_TOS || name === IPV6_TCLASS) {
        if (n === undefined || n < -1 || n > 255) return err(EINVAL);
        c.ipTos = n <= 0 ? 0 : n & 0xfc;
      }
      return ok(0);
    }
    return err(ENOPROTOOPT);
  }

  getsockname(): SockResult<SockAddr> {
    const c = this.conn;
    return ok({
      family: this.#family(),
      addr: this.#show(c.laddr || (c.version === 6 ? "::" : "0.0.0.0")),
      port: c.lport,
    });
  }

  getpeername(): SockResult<SockAddr> {
    const c = this.conn;
    if (c.tp.state < TCPS_SYN_RECEIVED && !(c.tp.state === TCPS_SYN_SENT)) return err(ENOTCONN);
    if (c.tp.state === TCPS_SYN_SENT || c.isDisconnected) return err(ENOTCONN);
    return ok({ family: this.#family(), addr: this.#show(c.faddr), port: c.fport });
  }

  poll(): number {
    const c = this.conn;
    const tp = c.tp;
    let ev = 0;
    if (tp.state === TCPS_LISTEN) return c.acceptQueue.length > 0 ? POLLIN : 0;
    if (c.rcv.length > 0 || c.cantRcvMore || c.soError) ev |= POLLIN;
    if (tp.oobHave || (c.oobMark >= 0)) ev |= POLLPRI;
    if (c.cantRcvMore) ev |= POLLRDHUP;
    if (c.soError) ev |= POLLERR;
    const connected = tp.state >= TCPS_ESTABLISHED && tp.state !== TCPS_TIME_WAIT;
    if (connected && !c.cantSendMore && c.sndHiwat - c.snd.length > 0) ev |= POLLOUT;
    if (c.isDisconnected || (c.cantRcvMore && c.cantSendMore)) {
      ev |= POLLHUP;
      if (c.cantSendMore) ev |= POLLOUT;
    }
    if (tp.state === TCPS_CLOSED && c.soError) ev |= POLLOUT;
    // A lingering close waits for POLLHUP: it means "disconnected or linger time over".
    if (this.#lingerUntil !== 0) ev = this.#lingerDone() ? ev | POLLHUP : ev & ~POLLHUP;
    return ev;
  }

  available(): number {
    return this.conn.rcv.length;
  }

  sendQueued(): number {
    return this.conn.snd.length;
  }

  atMark(): boolean {
    return this.conn.oobMark === 0;
  }

  tcpInfo(): TcpInfo {
    const c = this.conn;
    const tp = c.tp;
    let opts = 0;
    if (tp.tFlags & TF_RCVD_TSTMP && tp.tFlags & TF_REQ_TSTMP) opts |= TCPI_OPT_TIMESTAMPS;
    if (tp.tFlags & TF_SACK_PERMIT && tp.state >= TCPS_ESTABLISHED) opts |= TCPI_OPT_SACK;
    if ((tp.tFlags & (TF_REQ_SCALE | TF_RCVD_SCALE)) === (TF_REQ_SCALE | TF_RCVD_SCALE)) {
      opts |= TCPI_OPT_WSCALE;
    }
    if (tp.tFlags & TF_ECN_PERMIT) opts |= TCPI_OPT_ECN;
    return {
      tcpi_state: tp.state,
      tcpi_options: opts,
      tcpi_snd_wscale: tp.sndScale,
      tcpi_rcv_wscale: tp.rcvScale,
      tcpi_rto: Math.round(tp.tRxtcur),
      tcpi_snd_mss: tp.tMaxseg,
      tcpi_rcv_mss: tp.tMaxseg,
      tcpi_rtt: rttSrtt(tp),
      tcpi_rttvar: rttVar(tp),
      tcpi_snd_ssthresh: tp.sndSsthresh,
      tcpi_snd_cwnd: tp.sndCwnd,
      tcpi_rcv_space: recvWindow(c),
      tcpi_snd_wnd: tp.sndWnd,
      tcpi_snd_nxt: seqDiff(tp.sndNxt, tp.iss) >>> 0,
      tcpi_rcv_nxt: seqDiff(tp.rcvNxt, tp.irs) >>> 0,
      tcpi_snd_rexmitpack: tp.tSndRexmitpack,
      tcpi_rcv_ooopack: tp.tRcvOoopack,
      tcpi_snd_zerowin: tp.tSndZerowin,
      tcpi_last_data_recv: Math.floor((this.tcp.now() - tp.tRcvtime) / 1000),
      tcpi_unacked: tp.state === TCPS_LISTEN
        ? c.acceptQueue.length
        : Math.ceil(seqDiff(tp.sndMax, tp.sndUna) / Math.max(1, tp.tMaxseg)),
      tcpi_sacked: tp.state === TCPS_LISTEN ? c.backlog : 0,
      tcpi_pmtu: tp.state >= TCPS_SYN_SENT && c.faddr ? this.tcp.stack.pathMtu(c.faddr) : 0,
    };
  }
}

/** tcp_usrclosed: the user will send no more; advance the state machine (RFC 9293 §3.10.4). */
export function usrClosed(c: TcpConn): void {
  const tp = c.tp;
  switch (tp.state) {
    case TCPS_LISTEN:
    case TCPS_CLOSED:
    case TCPS_SYN_SENT:
      tcpClose(c);
      return;
    case TCPS_SYN_RECEIVED:
      tp.tFlags |= TF_NEEDFIN;
      return;
    case TCPS_ESTABLISHED:
      tp.state = TCPS_FIN_WAIT_1;
      break;
    case TCPS_CLOSE_WAIT:
      tp.state = TCPS_LAST_ACK;
      break;
  }
  if (tp.state >= TCPS_FIN_WAIT_2 && tp.state !== TCPS_LAST_ACK) {
    c.isDisconnected = true;
    if (tp.state === TCPS_FIN_WAIT_2) {
      timerActivate(c, TT_2MSL, c.host.num("net.inet.tcp.finwait2_timeout") * MS);
    }
  }
}

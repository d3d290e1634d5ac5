/**
 * A tiny fake engine for the runner's own tests: one active-open TCP client that sends a SYN
 * (retransmitted every second), completes the handshake on a SYN-ACK, and sends a FIN on close.
 * Just enough to exercise the executor end to end without the real engine.
 *
 * @module
 */

import type { Captured, Host } from "./host.ts";
import * as api from "../engine/socket/api.ts";
import { EAGAIN, EINPROGRESS, ENOPROTOOPT, ENOTCONN } from "../engine/errno.ts";
import { encodeOptions, inetChecksum, ipBytes, ipPacket, parseOutbound } from "./packet.ts";

const ISN = 0x10000;
const LOCAL_PORT = 50000;

/** The fake. `sysctls` records what was set. */
export class FakeHost implements Host {
  time = 1_000_000;
  out: Captured[] = [];
  sysctls = new Map<string, string>();
  state = api.TCPS_CLOSED;
  rexmitAt?: number;
  sndNxt = ISN;
  rcvNxt = 0;
  nonblock = false;
  sockets: api.SocketApi;

  constructor() {
    // deno-lint-ignore no-this-alias
    const h = this;
    const notImpl = () => ({ errno: ENOPROTOOPT });
    this.sockets = {
      socket: () => ({ value: 3 }),
      bind: () => ({ value: 0 }),
      listen: () => ({ value: 0 }),
      accept: notImpl,
      connect: () => {
        if (h.state === api.TCPS_ESTABLISHED) return { value: 0 };
        if (h.state === api.TCPS_CLOSED) {
          h.state = api.TCPS_SYN_SENT;
          h.sendSyn();
        }
        return h.nonblock ? { errno: EINPROGRESS } : api.block(EAGAIN, api.POLLOUT);
      },
      send: notImpl,
      recv: notImpl,
      shutdown: () => ({ value: 0 }),
      close: () => {
        if (h.state === api.TCPS_ESTABLISHED) {
          h.emit(0x11, h.sndNxt, []);
          h.state = api.TCPS_FIN_WAIT_1;
        }
        return { value: 0 };
      },
      getsockopt: (_fd, _level, name) =>
        name === api.SO_ERROR
          ? { value: 0 }
          : name === api.SO_RCVBUF
          ? { value: 65536 }
          : notImpl(),
      setsockopt: () => ({ value: 0 }),
      fcntl: (_fd, cmd, arg) => {
        if (cmd === api.F_GETFL) return { value: api.O_RDWR | (h.nonblock ? api.O_NONBLOCK : 0) };
        h.nonblock = ((arg ?? 0) & api.O_NONBLOCK) !== 0;
        return { value: 0 };
      },
      getsockname: () => ({
        value: { family: api.AF_INET, addr: "198.18.0.2", port: LOCAL_PORT },
      }),
      getpeername: () => ({ errno: ENOTCONN }),
      poll: () => 0,
      tcpInfo: () => ({ value: { tcpi_state: h.state } as api.TcpInfo }),
    };
  }

  now(): number {
    return this.time;
  }
  advanceTo(t: number): void {
    while (this.rexmitAt !== undefined && this.rexmitAt <= t) {
      this.time = Math.max(this.time, this.rexmitAt);
      this.sendSyn();
    }
    this.time = Math.max(this.time, t);
  }
  nextDeadline(): number | undefined {
    return this.rexmitAt;
  }
  takeOutput(): Captured[] {
    const o = this.out;
    this.out = [];
    return o;
  }
  sysctl(name: string, value: string): string | undefined {
    if (!name.startsWith("net.inet.tcp.")) return `unknown sysctl ${name}`;
    this.sysctls.set(name, value);
    return undefined;
  }

  sendSyn(): void {
    this.emit(0x02, ISN, [{ kind: "mss", value: 1460 }]);
    this.rexmitAt = this.time + 1_000_000;
  }

  emit(flags: number, seq: number, opts: Parameters<typeof encodeOptions>[0]): void {
    const ob = encodeOptions(opts);
    const tcp = new Uint8Array(20 + ob.length);
    const v = new DataView(tcp.buffer);
    v.setUint16(0, LOCAL_PORT);
    v.setUint16(2, 8080);
    v.setUint32(4, seq);
    v.setUint32(8, flags & 0x10 ? this.rcvNxt : 0);
    tcp[12] = (tcp.length / 4) << 4;
    tcp[13] = flags;
    v.setUint16(14, 65535);
    tcp.set(ob, 20);
    const ph = new Uint8Array(12);
    ph.set(ipBytes("198.18.0.2"), 0);
    ph.set(ipBytes("198.18.0.1"), 4);
    ph[9] = 6;
    ph[11] = tcp.length;
    v.setUint16(16, inetChecksum([ph, tcp]));
    this.out.push({ time: this.time, bytes: ipPacket(4, "198.18.0.2", "198.18.0.1", 6, tcp) });
  }

  inject(packet: Uint8Array): void {
    // Reuse the outbound parser: it reads any IPv4/TCP packet.
    const p = parseOutbound(packet);
    if (!p.tcp) return;
    const t = p.tcp;
    if (this.state === api.TCPS_SYN_SENT && t.flags === 0x12 && t.ack === ISN + 1) {
      this.rexmitAt = undefined;
      this.sndNxt = ISN + 1;
      this.rcvNxt = (t.seq + 1) >>> 0;
      this.state = api.TCPS_ESTABLISHED;
      this.emit(0x10, this.sndNxt, []);
    }
  }
}

import { assertEquals } from "../../supervisor/_assert.ts";
import { ScriptPeer, value } from "../engine/tcp/_testpeer.ts";
import { IPPROTO_TCP, TCP_INFO, type TcpInfo } from "../engine/socket/api.ts";
import { linuxTcpInfo } from "./sockopts.ts";

/** The fields of Linux's struct tcp_info that programs read (iperf3, ss-like tools). */
function fields(b: Uint8Array) {
  const v = new DataView(b.buffer);
  return {
    state: v.getUint8(0),
    sndMss: v.getUint32(16, true),
    rcvMss: v.getUint32(20, true),
    unacked: v.getUint32(24, true),
    pmtu: v.getUint32(60, true),
    advmss: v.getUint32(84, true),
  };
}

Deno.test("TCP_INFO in Linux's layout: MSS without the timestamp option, unacked segments, path MTU", () => {
  const p = new ScriptPeer();
  const fresh = p.socket();
  const info = (fd: number) =>
    fields(linuxTcpInfo(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_INFO)) as TcpInfo));
  // Linux: a fresh socket has no MSS yet (it said 536) and no path.
  assertEquals(info(fresh), { state: 7, sndMss: 0, rcvMss: 0, unacked: 0, pmtu: 0, advmss: 0 });
  const fd = p.activeOpen([{ kind: "mss", mss: 1460 }, { kind: "ts", val: 1, ecr: 1 }]);
  value(p.sockets.send(fd, new Uint8Array(3000)));
  const i = info(fd);
  assertEquals(i.state, 1); // TCP_ESTABLISHED
  assertEquals([i.sndMss, i.rcvMss, i.advmss], [1448, 1448, 1448]); // 1460 less 12 (TS)
  assertEquals(i.unacked, 3); // 3000 bytes in segments of 1448 (the peer window allows it)
  assertEquals(i.pmtu, 1500);
});

Deno.test("TCP_INFO of a listener: its accept queue and backlog, as Linux reports them", () => {
  const p = new ScriptPeer();
  const l = p.listen(5);
  const raw = () =>
    new DataView(
      linuxTcpInfo(value(p.sockets.getsockopt(l, IPPROTO_TCP, TCP_INFO)) as TcpInfo).buffer,
    );
  assertEquals([raw().getUint8(0), raw().getUint32(24, true), raw().getUint32(28, true)], [
    10, // TCP_LISTEN
    0,
    5,
  ]);
  // A handshake completed and not accepted yet: one in the queue.
  p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
  p.ourIsn = p.next().th.seq;
  p.inject({ flags: ".", seq: 1, ack: 1 });
  assertEquals(raw().getUint32(24, true), 1); // php-fpm's "listen queue"
});

import assert from "node:assert/strict";
import { ScriptPeer, value } from "./_testpeer.ts";
import {
  MSG_PEEK,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  SHUT_RDWR,
  SHUT_WR,
  SO_ERROR,
  SO_LINGER,
  SO_RCVBUF,
  SOL_SOCKET,
  TCPS_CLOSE_WAIT,
  TCPS_ESTABLISHED,
  TCPS_FIN_WAIT_2,
  TCPS_LAST_ACK,
  TCPS_SYN_SENT,
  TCPS_TIME_WAIT,
} from "../socket/api.ts";
import {
  EACCES,
  EADDRINUSE,
  EADDRNOTAVAIL,
  ECONNREFUSED,
  ECONNRESET,
  EHOSTUNREACH,
  EINPROGRESS,
  EINVAL,
  ENETUNREACH,
  ETIMEDOUT,
} from "../errno.ts";

Deno.test("CLOSED: connect sends FreeBSD's SYN (mss, nop, wscale 6, sackOK, TS)", () => {
  const p = new ScriptPeer();
  const { syn } = p.connect();
  assert.equal(syn.th.window, 65535);
  const kinds = syn.th.options.map((o) => o.kind);
  assert.deepEqual(kinds, ["mss", "nop", "wscale", "sackOk", "ts"]);
  assert.equal(syn.to.mss, 1460);
  assert.equal(syn.to.wscale, 6);
  assert.equal(syn.to.ts?.ecr, 0);
});

Deno.test("CLOSED: IPv6 SYN offers MSS 1440 (MTU 1500)", () => {
  const p = new ScriptPeer(6);
  const { syn } = p.connect();
  assert.equal(syn.to.mss, 1440);
});

Deno.test("CLOSED: a segment to a closed port gets a RST (RFC 9293 §3.10.7.1)", () => {
  const p = new ScriptPeer();
  p.inject({ flags: "S", seq: 0 });
  p.expect({ flags: "R.", seq: 0, ack: 1 });
  p.ourIsn = 0;
  p.inject({ flags: ".", seq: 1, ack: 100 });
  p.expect({ flags: "R", seq: 100 });
  p.inject({ flags: "R", seq: 1 });
  p.expectNone();
});

Deno.test("SYN-SENT: SYN-ACK establishes, buffer rounded to MSS multiple", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  assert.equal(value(p.sockets.tcpInfo(fd)).tcpi_state, TCPS_ESTABLISHED);
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)), 65700);
  assert.ok(p.sockets.poll(fd) & POLLOUT);
});

Deno.test("SYN-SENT: RST with bad ACK is ignored", () => {
  const p = new ScriptPeer();
  const { fd } = p.connect();
  p.inject({ flags: "R.", seq: 0, ack: 5 });
  p.expectNone();
  assert.equal(value(p.sockets.tcpInfo(fd)).tcpi_state, TCPS_SYN_SENT);
});

Deno.test("SYN-SENT: RST without ACK is ignored, SYN retransmitted after 1 s", () => {
  const p = new ScriptPeer();
  const { fd } = p.connect();
  p.inject({ flags: "R", seq: 0, len: 3 });
  p.expectNone();
  p.stack.advance(999);
  p.expectNone();
  p.stack.advance(2);
  p.expect({ flags: "S", seq: 0 });
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), 0);
});

Deno.test("SYN-SENT: RST with acceptable ACK refuses the connection", () => {
  const p = new ScriptPeer();
  const { fd } = p.connect();
  p.inject({ flags: "R.", seq: 0, ack: 1 });
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), ECONNREFUSED);
});

Deno.test("SYN-SENT: SYN retransmissions back off 1, 2.2, 4.2 s; keepinit times out", () => {
  const p = new ScriptPeer();
  const { fd } = p.connect();
  // Each timer fires one 1 ms tick after its deadline.
  p.stack.advance(1001);
  p.expect({ flags: "S", seq: 0 });
  p.stack.advance(2201);
  p.expect({ flags: "S", seq: 0 });
  p.stack.advance(4201);
  p.expect({ flags: "S", seq: 0 });
  p.stack.advance(75000);
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), ETIMEDOUT);
});

Deno.test("SYN-SENT: shutdown aborts the attempt (Linux): ECONNRESET, nothing sent, may connect again", () => {
  const p = new ScriptPeer();
  const { fd } = p.connect();
  assert.equal(value(p.sockets.shutdown(fd, SHUT_WR)), 0);
  p.expectNone(); // no RST: the peer never answered
  const ev = p.sockets.poll(fd);
  assert.equal(ev & (POLLOUT | POLLERR | POLLHUP), POLLOUT | POLLERR | POLLHUP, `poll ${ev}`);
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), ECONNRESET);
  p.stack.advance(5000);
  p.expectNone(); // no SYN retransmission either
  // A new attempt, as Linux: EINPROGRESS and a fresh SYN.
  const r = p.sockets.connect(fd, { family: p.family, addr: p.remote, port: 8080 });
  assert.equal(r.errno, EINPROGRESS);
  assert.equal(p.next().th.flags & 0x02, 0x02);
  assert.equal(value(p.sockets.tcpInfo(fd)).tcpi_state, TCPS_SYN_SENT);
});

Deno.test("SYN-SENT: simultaneous open answers SYN with SYN-ACK", () => {
  const p = new ScriptPeer();
  const { fd } = p.connect();
  p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
  const sa = p.expect({ flags: "S.", seq: 0, ack: 1 });
  assert.equal(sa.to.mss, 1460);
  p.inject({ flags: "S.", seq: 0, ack: 1 });
  assert.equal(value(p.sockets.tcpInfo(fd)).tcpi_state, TCPS_ESTABLISHED);
});

Deno.test("LISTEN: SYN gets SYN-ACK echoing options; ACK completes; accept", () => {
  const p = new ScriptPeer();
  const l = p.listen();
  p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }, { kind: "sackOk" }] });
  const sa = p.next();
  p.ourIsn = sa.th.seq;
  assert.deepEqual(sa.th.options.map((o) => o.kind), ["mss", "sackOk", "eol", "eol"]);
  assert.equal(sa.th.window, 65535);
  assert.equal(p.sockets.accept(l).errno, 11);
  p.inject({ flags: ".", seq: 1, ack: 1 });
  assert.ok(p.sockets.poll(l) & POLLIN);
  const a = value(p.sockets.accept(l));
  assert.equal(a.peer.port, 40000);
  assert.equal(value(p.sockets.tcpInfo(a.fd)).tcpi_state, TCPS_ESTABLISHED);
});

Deno.test("LISTEN: ACK gets RST seq=ack; RST ignored", () => {
  const p = new ScriptPeer();
  p.listen();
  p.inject({ flags: ".", seq: 1, ack: 77 });
  p.expect({ flags: "R", seq: 77 });
  p.inject({ flags: "R", seq: 1 });
  p.expectNone();
});

Deno.test("ESTABLISHED: in-order data, delayed ACK after 100 ms, peek and read", () => {
  const p = new ScriptPeer();
  const l = p.listen();
  const fd = p.passiveOpen(l);
  p.inject({ flags: "P.", seq: 1, ack: 1, len: 99 });
  p.expectNone();
  assert.equal(value(p.sockets.recv(fd, 1024, MSG_PEEK)).data.length, 99);
  p.stack.advance(99);
  p.expectNone();
  p.stack.advance(2);
  p.expect({ flags: ".", seq: 1, ack: 100 });
  assert.equal(value(p.sockets.recv(fd, 1024, 0)).data.length, 99);
});

Deno.test("ESTABLISHED: out-of-order data is SACKed; the hole filled gets a D-SACK", () => {
  const p = new ScriptPeer();
  const l = p.listen();
  const fd = p.passiveOpen(l, [{ kind: "mss", mss: 1460 }, { kind: "sackOk" }]);
  p.inject({ flags: ".", seq: 1, ack: 1, len: 99 });
  p.inject({ flags: ".", seq: 200, ack: 1, len: 100 });
  const a = p.expect({ flags: ".", seq: 1, ack: 100, win: 65535 });
  assert.deepEqual(a.to.sack, [[p.peerIsn + 200, p.peerIsn + 300]]);
  p.inject({ flags: ".", seq: 400, ack: 1, len: 100 });
  const b = p.expect({ flags: ".", seq: 1, ack: 100 });
  assert.deepEqual(b.to.sack, [[p.peerIsn + 400, p.peerIsn + 500], [
    p.peerIsn + 200,
    p.peerIsn + 300,
  ]]);
  p.inject({ flags: ".", seq: 100, ack: 1, len: 300 });
  const c = p.expect({ flags: ".", seq: 1, ack: 500, win: 65201 });
  assert.deepEqual(c.to.sack, [[p.peerIsn + 200, p.peerIsn + 300]]);
  assert.equal(value(p.sockets.recv(fd, 1024, MSG_PEEK)).data.length, 499);
});

Deno.test("ESTABLISHED: queued out-of-order data survives the peer's frames being reused", () => {
  // The stack passes segments that are valid only during input() (copyRx false): the peer
  // helper scribbles every injected segment afterwards, so a kept view would read 0xa5.
  const p = new ScriptPeer();
  const l = p.listen();
  const fd = p.passiveOpen(l, [{ kind: "mss", mss: 1460 }, { kind: "sackOk" }]);
  const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => from + i);
  p.inject({ flags: ".", seq: 201, ack: 1, data: bytes(200, 50) }); // queued
  p.inject({ flags: ".", seq: 101, ack: 1, data: bytes(100, 50) }); // queued
  p.inject({ flags: ".", seq: 1, ack: 1, data: bytes(0, 100) }); // fills the first hole
  p.inject({ flags: ".", seq: 151, ack: 1, data: bytes(150, 50) }); // fills the second
  const got = value(p.sockets.recv(fd, 1024, 0)).data;
  assert.deepEqual([...got], [...bytes(0, 250)]);
});

Deno.test("ESTABLISHED: in-window SYN gets a challenge ACK (RFC 5961 §4.2)", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.inject({ flags: "S", seq: 1 });
  p.expect({ flags: ".", seq: 1, ack: 1 });
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), 0);
});

Deno.test("ESTABLISHED: insecure_syn resets on an in-window SYN", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.stack.sysctl.set("net.inet.tcp.insecure_syn", 1);
  p.inject({ flags: "S", seq: 65700 });
  p.expect({ flags: "R.", seq: 1, ack: 1, win: 0 });
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), ECONNRESET);
});

Deno.test("ESTABLISHED: RST in window but not at rcv_nxt is challenged; at rcv_nxt resets", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.inject({ flags: "R", seq: 10 });
  p.expect({ flags: ".", seq: 1, ack: 1 });
  p.inject({ flags: "R", seq: 1 });
  p.expectNone();
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), ECONNRESET);
});

Deno.test("ESTABLISHED: close sends FIN; FIN-ACK leads to TIME_WAIT", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  const conn = p.sockets.tcp.connections()[0];
  assert.equal(conn.state, TCPS_ESTABLISHED);
  assert.equal(p.sockets.tcp.connections(0).length, 0, "a limit of none lists none");
  value(p.sockets.close(fd));
  p.expect({ flags: "F.", seq: 1, ack: 1 });
  p.inject({ flags: ".", seq: 1, ack: 2 });
  assert.equal(p.sockets.tcp.connections()[0].state, TCPS_FIN_WAIT_2);
  p.inject({ flags: "F.", seq: 1, ack: 2 });
  p.expect({ flags: ".", seq: 2, ack: 2 });
  assert.equal(p.sockets.tcp.connections()[0].state, TCPS_TIME_WAIT);
  p.stack.advance(60001);
  assert.equal(p.sockets.tcp.connections().length, 0);
});

Deno.test("ESTABLISHED: peer FIN → CLOSE_WAIT, EOF; close → LAST_ACK → CLOSED", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.inject({ flags: "F.", seq: 1, ack: 1 });
  p.expect({ flags: ".", seq: 1, ack: 2 });
  assert.equal(value(p.sockets.tcpInfo(fd)).tcpi_state, TCPS_CLOSE_WAIT);
  assert.equal(value(p.sockets.recv(fd, 10, 0)).data.length, 0);
  value(p.sockets.close(fd));
  p.expect({ flags: "F.", seq: 1, ack: 2 });
  assert.equal(p.sockets.tcp.connections()[0].state, TCPS_LAST_ACK);
  p.inject({ flags: ".", seq: 2, ack: 2 });
  assert.equal(p.sockets.tcp.connections().length, 0);
});

Deno.test("ESTABLISHED: send is segmented, retransmitted on RTO, and acked", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  assert.equal(value(p.sockets.send(fd, new Uint8Array(3000))), 3000);
  p.expect({ flags: ".", seq: 1, len: 1460 });
  p.expect({ flags: ".", seq: 1461, len: 1460 });
  p.expect({ flags: "P.", seq: 2921, len: 80 });
  // First RTT sample ~0: RTO = rexmit_min (30 ms) + slop (200 ms).
  p.stack.advance(229);
  p.expectNone();
  p.stack.advance(2);
  p.expect({ flags: ".", seq: 1, len: 1460 });
  p.expectNone();
  p.inject({ flags: ".", seq: 1, ack: 3001 });
  p.stack.advance(5000);
  p.expectNone();
});

Deno.test("ESTABLISHED: SO_LINGER 0 close sends RST", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 0 }));
  value(p.sockets.close(fd));
  p.expect({ flags: "R.", seq: 1, ack: 1 });
});

Deno.test("ESTABLISHED: data beyond the window is trimmed; zero-window probe gets ACK", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.inject({ flags: ".", seq: 70000, ack: 1, len: 10 });
  p.expect({ flags: ".", seq: 1, ack: 1 });
  assert.equal(p.sockets.recv(fd, 10, 0).errno, 11);
});

Deno.test("TIME_WAIT: RST is ignored (RFC 1337), retransmitted FIN is re-ACKed", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.close(fd));
  p.expect({ flags: "F.", seq: 1, ack: 1 });
  p.inject({ flags: "F.", seq: 1, ack: 2 });
  p.expect({ flags: ".", seq: 2, ack: 2 });
  p.inject({ flags: "R", seq: 2 });
  p.expectNone();
  p.inject({ flags: "F.", seq: 1, ack: 2 });
  p.expect({ flags: ".", seq: 2, ack: 2 });
  assert.equal(p.sockets.tcp.connections()[0].state, TCPS_TIME_WAIT);
});

Deno.test("Hostile input: garbage segments are dropped and counted, never thrown", () => {
  const p = new ScriptPeer();
  p.listen();
  const meta = {
    version: 4 as const,
    src: "198.18.0.1",
    dst: "198.18.0.2",
    proto: 6,
    ttl: 64,
    ecn: 0,
    ifIndex: 1,
  };
  let seed = 1;
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(i % 70);
    for (let j = 0; j < b.length; j++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      b[j] = seed >>> 24;
    }
    if (b.length >= 4) {
      b[2] = 0x1f;
      b[3] = 0x90; // port 8080 sometimes hits the listener
    }
    p.stack.proto!.input(meta, b);
  }
  assert.ok(p.stack.counters.sum("tcp.drop.") > 0);
});

Deno.test("LISTEN: with syncookies_only a SYN cookie completes the handshake statelessly", () => {
  const p = new ScriptPeer();
  p.stack.sysctl.set("net.inet.tcp.syncookies_only", 1);
  const l = p.listen();
  p.inject({
    flags: "S",
    seq: 0,
    options: [{ kind: "mss", mss: 1400 }, { kind: "nop" }, { kind: "wscale", shift: 4 }, {
      kind: "sackOk",
    }],
  });
  const sa = p.next();
  p.ourIsn = sa.th.seq;
  assert.deepEqual(sa.th.options.map((o) => o.kind), [
    "mss",
    "nop",
    "wscale",
    "sackOk",
    "eol",
    "eol",
  ]);
  assert.equal(p.sockets.tcp.conns.size, 0, "no state kept for a cookie");
  // A forged ACK (wrong cookie) is reset.
  p.inject({ flags: ".", seq: 1, ack: 2 });
  p.expect({ flags: "R", seq: 2 });
  p.inject({ flags: ".", seq: 1, ack: 1 });
  const a = value(p.sockets.accept(l));
  const info = value(p.sockets.tcpInfo(a.fd));
  assert.equal(info.tcpi_state, TCPS_ESTABLISHED);
  assert.equal(info.tcpi_snd_mss, 1400); // an entry of the cookie MSS table
  assert.equal(info.tcpi_snd_wscale, 4);
  assert.equal(p.stack.counters.get("tcp.syncookie.accepted"), 1);
});

Deno.test("LISTEN: past the syncache bucket limit SYNs are answered with cookies", () => {
  const p = new ScriptPeer();
  p.stack.sysctl.set("net.inet.tcp.syncache.bucketlimit", 2);
  p.listen(16);
  for (let i = 0; i < 5; i++) {
    p.remotePort = 41000 + i;
    p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
    p.next();
  }
  assert.equal(p.sockets.tcp.conns.size, 2);
  assert.equal(p.stack.counters.get("tcp.syncookie.sent"), 3);
});

Deno.test("ESTABLISHED: with TSO on the link, one large segment of whole MSS units goes out", () => {
  const p = new ScriptPeer();
  p.stack.tso = 65535;
  const fd = p.activeOpen();
  assert.equal(value(p.sockets.send(fd, new Uint8Array(20000))), 20000);
  // cwnd = 10 segments: one 14600-byte TSO segment.
  const s = p.expect({ flags: ".", seq: 1, len: 14600 });
  assert.equal(s.th.payload.length % 1460, 0);
  p.expectNone();
  p.inject({ flags: ".", seq: 1, ack: 14601, win: 65535 });
  p.expect({ flags: "P.", seq: 14601, len: 5400 });
});

Deno.test("ESTABLISHED: no TSO when the peer's MSS is below what the link MTU would cut", () => {
  const p = new ScriptPeer();
  p.stack.tso = 65535;
  const fd = p.activeOpen([{ kind: "mss", mss: 1000 }]);
  value(p.sockets.send(fd, new Uint8Array(5000)));
  p.expect({ flags: ".", seq: 1, len: 1000 });
});

Deno.test("ESTABLISHED: SACK recovery retransmits the hole once 3 segments above it are SACKed", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen([{ kind: "mss", mss: 1460 }, { kind: "sackOk" }]);
  value(p.sockets.send(fd, new Uint8Array(1460 * 6)));
  for (let i = 0; i < 6; i++) p.next();
  const base = p.ourIsn;
  // Segment 1 lost; 2..4 arrive: one ACK SACKing 3 segments (RFC 6675 IsLost).
  p.inject({
    flags: ".",
    seq: 1,
    ack: 1,
    options: [{ kind: "nop" }, { kind: "nop" }, {
      kind: "sack",
      blocks: [[base + 1461, base + 1461 + 3 * 1460]],
    }],
  });
  p.expect({ flags: ".", seq: 1, len: 1460 });
  // NextSeg rule 4: one rescue retransmission of the last segment.
  p.expect({ flags: "P.", seq: 1 + 5 * 1460, len: 1460 });
  p.expectNone();
  assert.equal(p.stack.counters.get("tcp.fastRetransmit"), 1);
  // The cumulative ACK for everything ends recovery.
  p.inject({ flags: ".", seq: 1, ack: 1 + 6 * 1460 });
  p.stack.advance(2000);
  p.expectNone();
});

Deno.test("CLOSED: TFO sendto asks for a cookie, then carries data on the next SYN (RFC 7413)", () => {
  const p = new ScriptPeer();
  const open = () => {
    const fd = p.socket();
    value(p.sockets.setsockopt(fd, 6, 23, /* TCP_FASTOPEN */ 1));
    const to = { family: 2 as const, addr: p.remote, port: 8080 };
    assert.equal(value(p.sockets.send(fd, new Uint8Array(100), 0, to)), 100);
    const syn = p.next();
    p.ourIsn = syn.th.seq;
    p.localPort = syn.th.srcPort;
    p.remotePort = syn.th.dstPort;
    return { fd, syn };
  };
  const first = open();
  assert.equal(first.syn.to.fastopen?.length, 0, "a cookie request");
  assert.equal(first.syn.th.payload.length, 0);
  const cookie = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  p.inject({ flags: "S.", seq: 0, ack: 1, options: [{ kind: "fastopen", cookie }] });
  p.expect({ flags: "P.", seq: 1, ack: 1, len: 100 });
  const second = open();
  assert.deepEqual(second.syn.to.fastopen, cookie);
  assert.equal(second.syn.th.payload.length, 100);
  p.inject({ flags: "S.", seq: 0, ack: 101 });
  p.expect({ flags: ".", seq: 101, ack: 1, len: 0 });
});

Deno.test("LISTEN: the accept queue holds at most 3/2 of the backlog; the rest is reset", () => {
  const p = new ScriptPeer();
  p.listen(1);
  let resets = 0;
  for (let i = 0; i < 5; i++) {
    p.remotePort = 42000 + i;
    p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
    p.ourIsn = p.next().th.seq;
    p.inject({ flags: ".", seq: 1, ack: 1 });
    const r = p.stack.out.shift();
    if (r && (r.th.flags & 0x04)) resets++;
  }
  const l = p.sockets.tcp.listeners.get(8080)!.find((x) => x.tp.state === 1)!;
  assert.equal(l.acceptQueue.length, 2);
  assert.equal(resets, 3);
  assert.equal(p.stack.counters.get("tcp.listen.queueOverflow"), 3);
});

Deno.test("FIN-WAIT-1: simultaneous close goes through CLOSING to TIME_WAIT", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.close(fd));
  p.expect({ flags: "F.", seq: 1, ack: 1 });
  p.inject({ flags: "F.", seq: 1, ack: 1 }); // their FIN crosses ours
  p.expect({ flags: "F.", seq: 1, ack: 2 }); // FreeBSD's ACK in CLOSING carries the FIN again
  assert.equal(p.sockets.tcp.connections()[0].state, 7 /* CLOSING */);
  p.inject({ flags: ".", seq: 2, ack: 2 });
  assert.equal(p.sockets.tcp.connections()[0].state, TCPS_TIME_WAIT);
});

Deno.test("SYN-SENT: ICMP port unreachable quoting our SYN aborts with ECONNREFUSED", () => {
  const p = new ScriptPeer();
  const { fd, syn } = p.connect();
  const quoted = new Uint8Array(8);
  const dv = new DataView(quoted.buffer);
  dv.setUint16(0, syn.th.srcPort);
  dv.setUint16(2, syn.th.dstPort);
  const icmp = (seq: number) => ({
    version: 4 as const,
    type: 3,
    code: 3,
    src: "198.18.0.2",
    dst: p.remote,
    proto: 6,
    quoted: (dv.setUint32(4, seq), quoted.slice()),
  });
  p.stack.proto!.icmpError(icmp(syn.th.seq + 1)); // not in flight: ignored (RFC 5927)
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), 0);
  p.stack.proto!.icmpError(icmp(syn.th.seq));
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR)), ECONNREFUSED);
});

Deno.test("SYN-SENT: with icmp_linux_errors, any ICMP error fails the connect with Linux's errno", () => {
  // version, type, code, Linux's errno, FreeBSD's (0: a soft error, the SYN is retried)
  const cases: [4 | 6, number, number, number, number][] = [
    [4, 3, 1, EHOSTUNREACH, 0], // host unreachable
    [4, 3, 0, ENETUNREACH, 0],
    [4, 3, 13, EHOSTUNREACH, ECONNREFUSED], // administratively prohibited
    [4, 11, 0, EHOSTUNREACH, EHOSTUNREACH], // time exceeded
    [6, 1, 1, EACCES, ECONNREFUSED], // IPv6 administratively prohibited
    [6, 1, 3, EHOSTUNREACH, 0], // IPv6 address unreachable
  ];
  for (const [version, type, code, errno, freebsd] of cases) {
    for (const linux of [0, 1]) {
      const p = new ScriptPeer(version);
      p.stack.sysctl.set("net.inet.tcp.icmp_linux_errors", linux);
      const { fd, syn } = p.connect();
      const quoted = new Uint8Array(8);
      const dv = new DataView(quoted.buffer);
      dv.setUint16(0, syn.th.srcPort);
      dv.setUint16(2, syn.th.dstPort);
      dv.setUint32(4, syn.th.seq);
      const ours = p.stack.proto!.icmpError({
        version,
        type,
        code,
        src: p.local,
        dst: p.remote,
        proto: 6,
        quoted,
      });
      assert.equal(ours, true);
      const got = value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR));
      const want = linux ? errno : freebsd;
      assert.equal(got, want, `v${version} type ${type} code ${code} linux ${linux}`);
    }
  }
});

Deno.test("TIME_WAIT: a new SYN above the old sequence space reopens through the listener", () => {
  const p = new ScriptPeer();
  const l = p.listen();
  const fd = p.passiveOpen(l);
  value(p.sockets.close(fd));
  p.expect({ flags: "F.", seq: 1, ack: 1 });
  p.inject({ flags: "F.", seq: 1, ack: 2 });
  p.expect({ flags: ".", seq: 2, ack: 2 });
  assert.equal(p.sockets.tcp.connections().find((c) => c.state === TCPS_TIME_WAIT)?.state, 10);
  p.inject({ flags: "S", seq: 100000, options: [{ kind: "mss", mss: 1460 }] });
  const sa = p.next();
  assert.equal(sa.th.flags & 0x12, 0x12, "SYN-ACK for the new incarnation");
  assert.equal(sa.th.ack, (p.peerIsn + 100001) >>> 0);
});

Deno.test("TIME_WAIT with timestamps: a newer SYN reopens below the old space, an older one is ACKed (RFC 6191)", () => {
  const cases: [number, number, boolean][] = [
    [0, 5000, true], // a reused port after a long upload: sequence below, timestamp newer
    [100000, 50, false], // sequence above, timestamp older: an old duplicate
  ];
  for (const [seq, tsval, reopens] of cases) {
    const p = new ScriptPeer();
    const l = p.listen();
    const ts = (val: number, ecr = 0) => ({ kind: "ts" as const, val, ecr });
    p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }, ts(100)] });
    const sa = p.next();
    p.ourIsn = sa.th.seq;
    const ecr = sa.to.ts!.val;
    p.inject({ flags: ".", seq: 1, ack: 1, options: [ts(101, ecr)] });
    const fd = value(p.sockets.accept(l)).fd;
    value(p.sockets.close(fd));
    assert.equal(p.next().th.flags & 0x01, 0x01, "our FIN");
    p.inject({ flags: "F.", seq: 1, ack: 2, options: [ts(102, ecr)] });
    p.next(); // the ACK of their FIN: TIME_WAIT
    assert.ok(p.sockets.tcp.connections().some((c) => c.state === TCPS_TIME_WAIT));
    p.inject({ flags: "S", seq, options: [{ kind: "mss", mss: 1460 }, ts(tsval)] });
    const r = p.next();
    if (reopens) {
      assert.equal(r.th.flags & 0x12, 0x12, "SYN-ACK for the new incarnation");
      assert.equal(r.th.ack, (p.peerIsn + seq + 1) >>> 0);
    } else {
      assert.equal(r.th.flags, 0x10, "a plain ACK of the old connection");
    }
  }
});

Deno.test("persist: a closed connection behind a shut window is dropped after orphan_probes probes", () => {
  for (const probes of [0, 8]) {
    const p = new ScriptPeer();
    p.stack.sysctl.set("net.inet.tcp.orphan_probes", probes);
    const fd = p.activeOpen();
    // The peer shuts its window and keeps it shut, answering every probe.
    value(p.sockets.send(fd, new Uint8Array(3000)));
    p.inject({ flags: ".", seq: 1, ack: 1, win: 0 });
    value(p.sockets.close(fd));
    for (let i = 0; i < 20; i++) {
      p.stack.advance(120_000);
      while (p.stack.out.length > 0) p.next(); // probes (and a reset, at the end)
      p.inject({ flags: ".", seq: 1, ack: 1, win: 0 });
    }
    const alive = p.sockets.tcp.connections().length;
    assert.equal(alive, probes ? 0 : 1, `orphan_probes ${probes}`);
    assert.equal(p.stack.counters.get("tcp.persist.orphanDrop") ?? 0, probes ? 1 : 0);
  }
});

Deno.test("ESTABLISHED: every second full-size segment is ACKed at once (RFC 1122 §4.2.3.2)", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.inject({ flags: ".", seq: 1, ack: 1, len: 1460 });
  p.expectNone();
  p.inject({ flags: ".", seq: 1461, ack: 1, len: 1460 });
  p.expect({ flags: ".", seq: 1, ack: 2921 });
  assert.equal(value(p.sockets.recv(fd, 5000)).data.length, 2920);
});

Deno.test("ESTABLISHED: ECN — CE is echoed with ECE until CWR; ECE halves cwnd and sends CWR", () => {
  const p = new ScriptPeer();
  p.stack.sysctl.set("net.inet.tcp.ecn.enable", 1);
  const { fd, syn } = p.connect();
  assert.equal(syn.th.flags & 0xc0, 0xc0, "ECN-setup SYN carries ECE and CWR");
  p.inject({ flags: "SE.", seq: 0, ack: 1, options: [{ kind: "mss", mss: 1460 }] });
  p.expect({ flags: ".", seq: 1, ack: 1 });
  // Data we send is ECT(0).
  value(p.sockets.send(fd, new Uint8Array(1000)));
  const d = p.next();
  assert.equal(d.meta.ecn, 2);
  // A CE-marked segment is answered with ECE at once, and ECE stays on until CWR.
  p.inject({ flags: ".", seq: 1, ack: 1001, len: 10, ecn: 3 });
  const a1 = p.next();
  assert.ok(a1.th.flags & 0x40, "ECE set");
  p.inject({ flags: "W.", seq: 11, ack: 1001, len: 10 });
  p.stack.advance(101); // delayed ACK
  const a2 = p.next();
  assert.equal(a2.th.flags & 0x40, 0, "ECE cleared after CWR");
  // Their ECE on new data: cwnd reduced, our next data segment carries CWR.
  const conn = (p.sockets.protoSocket(fd) as unknown as { conn: { tp: { sndCwnd: number } } })
    .conn;
  const before = conn.tp.sndCwnd;
  value(p.sockets.send(fd, new Uint8Array(1000)));
  p.next();
  p.inject({ flags: "E.", seq: 21, ack: 2001 });
  assert.ok(conn.tp.sndCwnd < before, "cwnd reduced");
  value(p.sockets.send(fd, new Uint8Array(100)));
  const w = p.next();
  assert.ok(w.th.flags & 0x80, "CWR on the next new data");
});

Deno.test("ESTABLISHED: challenge ACKs are rate limited (RFC 5961 §7, ack_war_cnt per window)", () => {
  const p = new ScriptPeer();
  p.activeOpen();
  for (let i = 0; i < 10; i++) p.inject({ flags: "R", seq: 100 + i });
  assert.equal(p.stack.out.length, 5);
  assert.equal(p.stack.counters.get("tcp.challengeAck.ratelimited"), 5);
  p.stack.out.length = 0;
  p.stack.advance(1001);
  p.inject({ flags: "R", seq: 200 });
  assert.equal(p.stack.out.length, 1);
});

Deno.test("ESTABLISHED: PAWS drops a segment with an old timestamp and ACKs (RFC 7323 §5)", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen([{ kind: "mss", mss: 1460 }, { kind: "ts", val: 1000, ecr: 0 }]);
  p.inject({ flags: ".", seq: 1, ack: 1, len: 10, options: [{ kind: "ts", val: 2000, ecr: 0 }] });
  p.stack.advance(200);
  p.stack.out.length = 0;
  p.inject({ flags: ".", seq: 11, ack: 1, len: 10, options: [{ kind: "ts", val: 1500, ecr: 0 }] });
  p.expect({ flags: ".", seq: 1, ack: 11 });
  assert.equal(value(p.sockets.recv(fd, 100)).data.length, 10);
  assert.equal(p.stack.counters.get("tcp.drop.paws"), 1);
});

Deno.test("ESTABLISHED: Nagle holds a small segment while data is in flight; TCP_NODELAY sends it", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.send(fd, new Uint8Array(100)));
  p.expect({ flags: "P.", seq: 1, len: 100 });
  value(p.sockets.send(fd, new Uint8Array(100)));
  p.expectNone(); // Nagle: unacknowledged data outstanding
  p.inject({ flags: ".", seq: 1, ack: 101 });
  p.expect({ flags: "P.", seq: 101, len: 100 });
  value(p.sockets.setsockopt(fd, 6, 1, /* TCP_NODELAY */ 1));
  value(p.sockets.send(fd, new Uint8Array(100)));
  p.expect({ flags: "P.", seq: 201, len: 100 });
});

Deno.test("ESTABLISHED: window scaling — SYN unscaled, later windows shifted by wscale 6", () => {
  const p = new ScriptPeer();
  p.activeOpen([{ kind: "mss", mss: 1460 }, { kind: "nop" }, { kind: "wscale", shift: 2 }]);
  p.inject({ flags: ".", seq: 1, ack: 1, len: 1000 });
  p.stack.advance(101);
  const a = p.expect({ flags: ".", seq: 1, ack: 1001 });
  // The right edge advertised before (65728 = 1027 · 64) never moves left: 64728 bytes
  // remain, rounded up to the scale unit → 1012 · 64.
  assert.equal(a.th.window, 1012);
});

Deno.test("LISTEN: TFO server gives a cookie, then takes the SYN's data at once (RFC 7413 §4.2)", () => {
  const p = new ScriptPeer();
  p.stack.sysctl.set("net.inet.tcp.fastopen.server_enable", 1);
  const l = p.socket();
  value(p.sockets.bind(l, { family: p.family, addr: p.local, port: p.localPort }));
  value(p.sockets.setsockopt(l, 6, 23, /* TCP_FASTOPEN */ 1));
  value(p.sockets.listen(l, 4));
  const data = new Uint8Array([10, 20, 30, 40, 50]);
  // 1. A cookie request: the SYN-ACK carries an 8-byte cookie, the data waits for the ACK.
  p.remotePort = 41001;
  p.inject({ flags: "S", seq: 0, options: [{ kind: "fastopen", cookie: new Uint8Array(0) }] });
  const sa = p.next();
  assert.equal(sa.th.ack, (p.peerIsn + 1) >>> 0);
  const cookie = sa.to.fastopen;
  assert.equal(cookie?.length, 8);
  assert.equal(p.sockets.accept(l).errno, 11, "nothing to accept before the handshake");
  // 2. The cookie back with data: acknowledged by the SYN-ACK, readable before the ACK.
  p.remotePort = 41002;
  p.inject({ flags: "S", seq: 0, data, options: [{ kind: "fastopen", cookie: cookie! }] });
  const sa2 = p.next();
  assert.equal(sa2.th.ack, (p.peerIsn + 1 + data.length) >>> 0);
  assert.equal(sa2.to.fastopen, undefined);
  const fd = value(p.sockets.accept(l)).fd;
  assert.deepEqual([...value(p.sockets.recv(fd, 100, 0)).data], [...data]);
  p.ourIsn = sa2.th.seq;
  p.inject({ flags: ".", seq: 1 + data.length, ack: 1 });
  assert.equal(p.sockets.tcp.conns.size, 2, "the two children");
  assert.ok([...p.sockets.tcp.conns.values()].some((c) => c.tp.state === TCPS_ESTABLISHED));
  // 3. A wrong cookie: the data is not taken, a valid cookie is offered again.
  p.remotePort = 41003;
  const bad = cookie!.map((b) => b ^ 0xff);
  p.inject({ flags: "S", seq: 0, data, options: [{ kind: "fastopen", cookie: bad }] });
  const sa3 = p.next();
  assert.equal(sa3.th.ack, (p.peerIsn + 1) >>> 0);
  assert.deepEqual(sa3.to.fastopen, cookie);
  assert.equal(p.stack.counters.get("tcp.tfo.server.accepted"), 1);
});

Deno.test("a new incarnation of a 4-tuple sends a later TSval; another 4-tuple another clock", () => {
  // RFC 7323 §5.4: the timestamp offset is a keyed hash of the 4-tuple, not random per
  // connection, so a peer still holding the tuple in TIME-WAIT accepts the next SYN (Linux
  // refuses an older TSval by PAWS and answers with an ACK; the client waits a retransmission).
  const p = new ScriptPeer();
  const synFrom = (port: number, to: number) => {
    const fd = p.socket();
    value(p.sockets.bind(fd, { family: p.family, addr: p.local, port }));
    const r = p.sockets.connect(fd, { family: p.family, addr: p.remote, port: to });
    assert.equal(r.errno, 115);
    const syn = p.next();
    assert.equal(syn.th.srcPort, port);
    value(p.sockets.close(fd));
    p.stack.out.length = 0;
    return syn.to.ts!.val;
  };
  const first = synFrom(50000, 8080);
  p.stack.advance(7000);
  const again = synFrom(50000, 8080);
  assert.equal((again - first) >>> 0, 7000, "the same clock, 7 s (1 ms ticks) later");
  const other = synFrom(50001, 8080);
  const gap = (other - again) >>> 0;
  assert.ok(gap > 1000 && gap < 0xffffffff - 1000, `an unrelated offset (${gap})`);
});

Deno.test("ephemeral ports: each serves many destinations; a used-up range is an error", () => {
  // net.inet.ip.portrange narrowed to 4 ports: 4 connections to one destination take them all,
  // the 5th finds none (EADDRNOTAVAIL, as Linux); another destination reuses the 4 (FreeBSD's
  // in_pcb_lport_dest), and a bind to port 0 finds none unused (EADDRINUSE).
  const p = new ScriptPeer();
  p.stack.sysctl.set("net.inet.ip.portrange.first", 50003); // backwards: used forwards
  p.stack.sysctl.set("net.inet.ip.portrange.last", 50000);
  const connectTo = (port: number): number => {
    const fd = p.socket();
    const r = p.sockets.connect(fd, { family: p.family, addr: p.remote, port });
    if (r.errno !== 115) return -(r.errno ?? 0);
    return p.next().th.srcPort;
  };
  const a = [1, 2, 3, 4].map(() => connectTo(8080));
  assert.deepEqual([...a].sort(), [50000, 50001, 50002, 50003]);
  assert.equal(connectTo(8080), -EADDRNOTAVAIL);
  const b = [1, 2, 3, 4].map(() => connectTo(8081));
  assert.deepEqual([...b].sort(), [50000, 50001, 50002, 50003]);
  const fd = p.socket();
  const r = p.sockets.bind(fd, { family: p.family, addr: p.local, port: 0 });
  assert.equal(r.errno, EADDRINUSE);
});

Deno.test("LISTEN: a child the peer resets before accept() is still accepted, its data then the reset", () => {
  const p = new ScriptPeer();
  const lfd = p.listen(1);
  p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
  p.ourIsn = p.next().th.seq;
  p.inject({ flags: ".", seq: 1, ack: 1 });
  p.inject({ flags: "P.", seq: 1, ack: 1, data: new TextEncoder().encode("hello") });
  // RFC 5961: the reset is not at the last ACK sent (the data's is delayed), so it is
  // challenged; the peer, closed, answers the challenge with another, now exact.
  p.inject({ flags: "R.", seq: 6, ack: 1 });
  p.expect({ flags: ".", seq: 1, ack: 6 });
  p.inject({ flags: "R", seq: 6 });
  const fd = value(p.sockets.accept(lfd)).fd;
  const got = value(p.sockets.recv(fd, 100, 0));
  assert.equal(new TextDecoder().decode(got.data), "hello");
  assert.equal(p.sockets.recv(fd, 100, 0).errno, ECONNRESET);
});

Deno.test("LISTEN: shutdown stops listening (Linux): queue reset, accept EINVAL, POLLIN, SYNs refused", () => {
  const p = new ScriptPeer();
  const lfd = p.listen(4);
  p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
  p.ourIsn = p.next().th.seq;
  p.inject({ flags: ".", seq: 1, ack: 1 }); // queued, not accepted
  assert.equal(value(p.sockets.shutdown(lfd, SHUT_RDWR)), 0);
  p.expect({ flags: "R.", seq: 1, ack: 1 }); // the queued connection is reset
  assert.equal(p.sockets.accept(lfd).errno, EINVAL);
  assert.equal(p.sockets.poll(lfd) & POLLIN, POLLIN);
  p.remotePort = 43000;
  p.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
  assert.equal(p.next().th.flags & 0x04, 0x04); // refused
});

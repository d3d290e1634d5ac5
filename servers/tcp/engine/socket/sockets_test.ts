import assert from "node:assert/strict";
import { ScriptPeer, value } from "../tcp/_testpeer.ts";
import {
  AF_INET,
  F_GETFL,
  F_SETFL,
  FIONBIO,
  FIONREAD,
  IPPROTO_TCP,
  MSG_OOB,
  MSG_WAITALL,
  O_NONBLOCK,
  O_RDWR,
  POLLHUP,
  POLLIN,
  POLLOUT,
  POLLPRI,
  POLLRDHUP,
  SHUT_WR,
  SIOCOUTQ,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_SNDBUF,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_CONGESTION,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_MAXSEG,
  TCP_NODELAY,
  TCP_SYNCNT,
  TCP_USER_TIMEOUT,
  TCPS_FIN_WAIT_1,
} from "./api.ts";
import {
  EADDRINUSE,
  EAGAIN,
  EBADF,
  ECONNREFUSED,
  EINPROGRESS,
  EINVAL,
  ENOTCONN,
  ETIMEDOUT,
} from "../errno.ts";

Deno.test("sockets: fds start at 3, lowest free first; bad fd is EBADF", () => {
  const p = new ScriptPeer();
  const a = value(p.sockets.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  const b = value(p.sockets.socket(AF_INET, SOCK_STREAM, 0));
  assert.deepEqual([a, b], [3, 4]);
  value(p.sockets.close(a));
  assert.equal(value(p.sockets.socket(AF_INET, SOCK_STREAM, 0)), 3);
  assert.equal(p.sockets.close(99).errno, EBADF);
  assert.equal(value(p.sockets.fcntl(b, F_GETFL)), O_RDWR);
  value(p.sockets.fcntl(b, F_SETFL, O_RDWR | O_NONBLOCK));
  assert.equal(value(p.sockets.fcntl(b, F_GETFL)), O_RDWR | O_NONBLOCK);
});

Deno.test("sockets: bind conflicts give EADDRINUSE; getsockname reports the port", () => {
  const p = new ScriptPeer();
  p.listen();
  const s = value(p.sockets.socket(AF_INET, SOCK_STREAM, 0));
  assert.equal(
    p.sockets.bind(s, { family: AF_INET, addr: "0.0.0.0", port: 8080 }).errno,
    EADDRINUSE,
  );
  value(p.sockets.setsockopt(s, SOL_SOCKET, SO_REUSEADDR, 1));
  value(p.sockets.bind(s, { family: AF_INET, addr: "198.18.0.2", port: 8081 }));
  assert.deepEqual(value(p.sockets.getsockname(s)), {
    family: AF_INET,
    addr: "198.18.0.2",
    port: 8081,
  });
  assert.equal(p.sockets.getpeername(s).errno, ENOTCONN);
});

Deno.test("sockets: blocking connect waits for POLLOUT then the retry returns 0", () => {
  const p = new ScriptPeer();
  const fd = value(p.sockets.socket(AF_INET, SOCK_STREAM, 0));
  const events: number[] = [];
  p.sockets.onEvent = (_fd, ev) => events.push(ev);
  const r = p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 });
  assert.equal(r.wouldBlock, true);
  assert.equal(r.waitFor, POLLOUT);
  const syn = p.next();
  p.ourIsn = syn.th.seq;
  p.localPort = syn.th.srcPort;
  p.remotePort = syn.th.dstPort;
  assert.equal(
    p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 }).wouldBlock,
    true,
  );
  p.inject({ flags: "S.", seq: 0, ack: 1, options: [{ kind: "mss", mss: 1460 }] });
  assert.ok(events.some((e) => e & POLLOUT), "an event with POLLOUT was reported");
  assert.deepEqual(p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 }), {
    value: 0,
  });
});

Deno.test("sockets: blocking connect refused reports ECONNREFUSED on retry", () => {
  const p = new ScriptPeer();
  const fd = value(p.sockets.socket(AF_INET, SOCK_STREAM, 0));
  p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 });
  const syn = p.next();
  p.ourIsn = syn.th.seq;
  p.localPort = syn.th.srcPort;
  p.remotePort = syn.th.dstPort;
  p.inject({ flags: "R.", seq: 0, ack: 1 });
  assert.equal(
    p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 }).errno,
    ECONNREFUSED,
  );
});

Deno.test("sockets: non-blocking recv is EAGAIN; MSG_WAITALL on a blocking socket waits for all", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  assert.equal(p.sockets.recv(fd, 10).errno, EAGAIN);
  value(p.sockets.fcntl(fd, F_SETFL, O_RDWR));
  p.inject({ flags: "P.", seq: 1, ack: 1, len: 5 });
  const w = p.sockets.recv(fd, 10, MSG_WAITALL);
  assert.equal(w.wouldBlock, true);
  p.inject({ flags: "P.", seq: 6, ack: 1, len: 5 });
  assert.equal(value(p.sockets.recv(fd, 10, MSG_WAITALL)).data.length, 10);
});

Deno.test("sockets: shutdown(SHUT_WR) sends FIN; peer FIN gives POLLIN|POLLRDHUP|POLLHUP", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.shutdown(fd, SHUT_WR));
  p.expect({ flags: "F.", seq: 1, ack: 1 });
  assert.equal(value(p.sockets.tcpInfo(fd)).tcpi_state, TCPS_FIN_WAIT_1);
  p.inject({ flags: "F.", seq: 1, ack: 2 });
  p.expect({ flags: ".", seq: 2, ack: 2 });
  const ev = p.sockets.poll(fd);
  assert.ok(ev & POLLIN && ev & POLLRDHUP && ev & POLLHUP, `events ${ev}`);
  assert.equal(value(p.sockets.recv(fd, 10)).data.length, 0);
});

Deno.test("sockets: urgent data (MSG_OOB) is sent with URG and read out of band", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.send(fd, new Uint8Array([1, 2, 3]), MSG_OOB));
  const s = p.next();
  assert.ok(s.th.flags & 0x20, "URG set");
  assert.equal(s.th.urgent, 3);
  // Inbound: the byte before the urgent pointer (RFC 6093) comes out of band.
  p.inject({ flags: "UP.", seq: 1, ack: 4, urgent: 3, data: new Uint8Array([10, 20, 99]) });
  assert.ok(p.sockets.poll(fd) & POLLPRI);
  assert.deepEqual([...value(p.sockets.recv(fd, 1, MSG_OOB)).data], [99]);
  assert.deepEqual([...value(p.sockets.recv(fd, 100)).data], [10, 20]);
  assert.equal(p.sockets.recv(fd, 1, MSG_OOB).errno, 22);
});

Deno.test("sockets: keepalive probes after TCP_KEEPIDLE, drop after TCP_KEEPCNT", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1));
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 10));
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, 2));
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3));
  p.stack.advance(10_001);
  p.expect({ flags: ".", seq: 0, ack: 1 }); // probe: seq = snd_una - 1
  p.inject({ flags: ".", seq: 1, ack: 1 }); // answered: idle restarts
  p.stack.advance(9_000);
  p.expectNone();
  p.stack.advance(1_100);
  p.expect({ flags: ".", seq: 0, ack: 1 });
  p.stack.advance(2_000);
  p.expect({ flags: ".", seq: 0, ack: 1 });
  p.stack.advance(2_000);
  p.expect({ flags: ".", seq: 0, ack: 1 });
  p.stack.advance(2_000);
  p.expect({ flags: "R.", seq: 1, ack: 1 });
  assert.equal(p.sockets.recv(fd, 1).errno, ETIMEDOUT);
});

Deno.test("sockets: zero window is probed by the persist timer (RFC 9293 §3.8.6.1)", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.inject({ flags: ".", seq: 1, ack: 1, win: 0 });
  value(p.sockets.send(fd, new Uint8Array(100)));
  p.expectNone();
  p.stack.advance(5_300);
  p.expect({ flags: ".", seq: 1, len: 1 });
  // The peer took the probe byte and opened its window: the rest follows.
  p.inject({ flags: ".", seq: 1, ack: 2, win: 1000 });
  p.expect({ flags: "P.", seq: 2, len: 99 });
});

Deno.test("sockets: TCP_NODELAY, TCP_MAXSEG, SO_RCVBUF, TCP_CONGESTION round trip", () => {
  const p = new ScriptPeer();
  const fd = p.socket();
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1));
  assert.equal(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)), 1);
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 100000));
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)), 100000);
  // Linux clamps: 0 is its minimum, more than kern.ipc.maxsockbuf the maximum (no errors).
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 0));
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)), 2304);
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 0x7fffffff));
  assert.equal(value(p.sockets.getsockopt(fd, SOL_SOCKET, SO_RCVBUF)), 2097152);
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 100000));
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "cubic"));
  assert.equal(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION)), "cubic");
  assert.equal(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "bogus").errno, 2);
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, 1000));
  assert.equal(
    p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 }).errno,
    EINPROGRESS,
  );
});

Deno.test("sockets: ioctl FIONREAD counts readable bytes, FIONBIO sets non-blocking", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  assert.equal(value(p.sockets.ioctl(fd, FIONREAD)), 0);
  p.inject({ flags: "P.", seq: 1, ack: 1, len: 42 });
  assert.equal(value(p.sockets.ioctl(fd, FIONREAD)), 42);
  value(p.sockets.ioctl(fd, FIONBIO, 0));
  assert.equal(value(p.sockets.fcntl(fd, F_GETFL)), O_RDWR);
  assert.equal(p.sockets.ioctl(fd, 0x1234).errno, 25); // ENOTTY
});

Deno.test("sockets: a blocking close with SO_LINGER waits for the FIN to be acknowledged", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.fcntl(fd, F_SETFL, O_RDWR));
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 5 }));
  const r = p.sockets.close(fd);
  assert.equal(r.wouldBlock, true);
  assert.equal(r.waitFor, POLLHUP);
  p.expect({ flags: "F.", seq: 1, ack: 1 });
  assert.equal(p.sockets.poll(fd) & POLLHUP, 0);
  p.inject({ flags: ".", seq: 1, ack: 2 });
  assert.ok(p.sockets.poll(fd) & POLLHUP);
  assert.deepEqual(p.sockets.close(fd), { value: 0 });
  assert.equal(p.sockets.poll(fd), 0x20); // POLLNVAL: the fd is gone
});

Deno.test("sockets: a lingering close gives up after the linger time", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.fcntl(fd, F_SETFL, O_RDWR));
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 2 }));
  assert.equal(p.sockets.close(fd).wouldBlock, true);
  let hup = false;
  p.sockets.onEvent = (f, ev) => {
    if (f === fd && ev & POLLHUP) hup = true;
  };
  p.stack.advance(2001);
  assert.ok(hup, "POLLHUP reported when the linger time is over");
  assert.deepEqual(p.sockets.close(fd), { value: 0 });
});

Deno.test("sockets: recvInto reads the same bytes as recv into the caller's array; 0 at FIN", () => {
  const a = new ScriptPeer(), b = new ScriptPeer();
  const fa = a.activeOpen(), fb = b.activeOpen();
  const dst = new Uint8Array(64).fill(0xee);
  assert.equal(a.sockets.recvInto(fa, dst).errno, EAGAIN);
  for (const p of [a, b]) p.inject({ flags: "P.", seq: 1, ack: 1, len: 10 });
  const want = value(b.sockets.recv(fb, 10)).data;
  // A short dst takes what fits; the rest stays for the next call.
  assert.equal(value(a.sockets.recvInto(fa, dst.subarray(0, 4))), 4);
  assert.equal(value(a.sockets.ioctl(fa, FIONREAD)), 6);
  assert.equal(value(a.sockets.recvInto(fa, dst.subarray(4))), 6);
  assert.deepEqual(dst.subarray(0, 10), want);
  assert.equal(dst[10], 0xee, "nothing written past the bytes read");
  assert.equal(a.sockets.recvInto(fa, dst).errno, EAGAIN);
  a.inject({ flags: "F.", seq: 11, ack: 1 });
  assert.equal(value(a.sockets.recvInto(fa, dst)), 0);
  assert.equal(a.sockets.recvInto(99, dst).errno, EBADF);
});

Deno.test("sockets: a call refused with EAGAIN notes nothing; the ACK that makes room does", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.fcntl(fd, F_SETFL, O_RDWR | O_NONBLOCK));
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, 4096));
  const counter = p.sockets.noteCounter(fd)!;
  // Fill the send buffer (the peer's window is shut: nothing leaves, nothing is acknowledged).
  p.inject({ flags: ".", seq: 1, ack: 1, win: 0 });
  let sent = 0;
  for (let r = p.sockets.send(fd, new Uint8Array(1000)); r.errno === undefined;) {
    sent += r.value;
    r = p.sockets.send(fd, new Uint8Array(1000));
  }
  assert.ok(sent > 0);
  const before = counter.notes;
  assert.equal(p.sockets.send(fd, new Uint8Array(1000)).errno, EAGAIN);
  assert.equal(p.sockets.recv(fd, 10).errno, EAGAIN);
  assert.equal(counter.notes, before, "EAGAIN calls moved the note count");
  // The window opens and data is acknowledged: room appears, and that is a note.
  p.stack.advance(5_300); // the persist probe
  p.inject({ flags: ".", seq: 1, ack: 2, win: 65535 });
  assert.ok(counter.notes > before, "the ACK that made room noted nothing");
});

Deno.test("sockets: TCP_MAXSEG before the handshake bounds the MSS offered and the segments sent", () => {
  const mssOf = (s: { th: { options: { kind: string; mss?: number }[] } }) =>
    s.th.options.find((o) => o.kind === "mss")?.mss;
  // Active open: the SYN offers 1000, and the peer's 1460 does not raise what is sent.
  const p = new ScriptPeer();
  const fd = p.socket();
  assert.equal(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, 40).errno, EINVAL); // < 88
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, 1000));
  assert.equal(
    p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 }).errno,
    EINPROGRESS,
  );
  const syn = p.next();
  assert.equal(mssOf(syn), 1000);
  p.ourIsn = syn.th.seq;
  p.localPort = syn.th.srcPort;
  p.remotePort = syn.th.dstPort;
  p.inject({ flags: "S.", seq: 0, ack: 1, win: 65535, options: [{ kind: "mss", mss: 1460 }] });
  p.expect({ flags: ".", seq: 1, ack: 1 });
  assert.equal(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG)), 1000);
  value(p.sockets.send(fd, new Uint8Array(3000)));
  assert.equal(p.next().th.payload.length, 1000);
  // Passive open: the listener's value reaches its connections' SYN-ACK.
  const q = new ScriptPeer();
  const l = q.socket();
  value(q.sockets.setsockopt(l, IPPROTO_TCP, TCP_MAXSEG, 900));
  value(q.sockets.bind(l, { family: AF_INET, addr: q.local, port: q.localPort }));
  value(q.sockets.listen(l, 1));
  q.inject({ flags: "S", seq: 0, options: [{ kind: "mss", mss: 1460 }] });
  assert.equal(mssOf(q.next()), 900);
});

Deno.test("sockets: TCP_MAXSEG of a connection with timestamps reads the MSS less their option", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen([{ kind: "mss", mss: 1460 }, { kind: "ts", val: 1000, ecr: 0 }]);
  assert.equal(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG)), 1448);
  const q = new ScriptPeer();
  const plain = q.activeOpen([{ kind: "mss", mss: 1460 }]);
  assert.equal(value(q.sockets.getsockopt(plain, IPPROTO_TCP, TCP_MAXSEG)), 1460);
});

Deno.test("sockets: SIOCOUTQ counts bytes unsent and unacknowledged", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  value(p.sockets.send(fd, new Uint8Array(3000)));
  assert.equal(value(p.sockets.ioctl(fd, SIOCOUTQ)), 3000);
  p.inject({ flags: ".", seq: 1, ack: 1001 });
  assert.equal(value(p.sockets.ioctl(fd, SIOCOUTQ)), 2000);
});

Deno.test("sockets: TCP_USER_TIMEOUT drops a connection whose data waits for an ACK that long", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  assert.equal(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, -1).errno, EINVAL);
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 2000));
  assert.equal(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT)), 2000);
  value(p.sockets.send(fd, new Uint8Array(100)));
  p.expect({ flags: "P.", seq: 1, ack: 1, len: 100 });
  // The peer is silent: retransmitted, and dropped at 2 s.
  p.stack.advance(1_900);
  assert.equal(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR).value, 0);
  p.stack.advance(200);
  assert.equal(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR).value, ETIMEDOUT);
  assert.equal(p.stack.counters.get("tcp.timeout.userTimeout"), 1);
  // Backed off from a 30 ms minimum: ~6 retransmissions in 2 s, not the 12 that end TCP.
  assert.ok(p.stack.counters.get("tcp.rexmt.timeout") < 10, "a retransmission storm");
  // Without it (0), the same silence keeps the connection.
  const q = new ScriptPeer();
  const g = q.activeOpen();
  value(q.sockets.send(g, new Uint8Array(100)));
  q.stack.advance(10_000);
  assert.equal(q.sockets.getsockopt(g, SOL_SOCKET, SO_ERROR).value, 0);
});

Deno.test("sockets: TCP_USER_TIMEOUT bounds an active open too (Linux), from its first SYN", () => {
  const p = new ScriptPeer();
  const fd = p.socket();
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 3000));
  assert.equal(
    p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 }).errno,
    EINPROGRESS,
  );
  p.stack.advance(2_900);
  assert.equal(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR).value, 0, "still trying");
  p.stack.advance(200);
  assert.equal(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR).value, ETIMEDOUT);
  assert.equal(p.stack.counters.get("tcp.timeout.userTimeout"), 1);
});

Deno.test("sockets: TCP_SYNCNT bounds an active open's SYN retransmissions (ETIMEDOUT)", () => {
  const p = new ScriptPeer();
  const fd = p.socket();
  assert.equal(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, 0).errno, EINVAL);
  assert.equal(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_SYNCNT)), 6); // Linux's default
  value(p.sockets.setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, 2));
  assert.equal(value(p.sockets.getsockopt(fd, IPPROTO_TCP, TCP_SYNCNT)), 2);
  assert.equal(
    p.sockets.connect(fd, { family: AF_INET, addr: p.remote, port: 8080 }).errno,
    EINPROGRESS,
  );
  p.stack.out.shift(); // the SYN
  let syns = 0;
  for (let t = 0; t < 20_000; t += 100) {
    p.stack.advance(100);
    syns += p.stack.out.splice(0).length;
  }
  assert.equal(syns, 2); // two retransmissions, then given up
  assert.equal(p.sockets.getsockopt(fd, SOL_SOCKET, SO_ERROR).value, ETIMEDOUT);
  assert.equal(p.stack.counters.get("tcp.timeout.synRetries"), 1);
  // Without it the same silence is still retried after 20 s.
  const q = new ScriptPeer();
  const g = q.socket();
  q.sockets.connect(g, { family: AF_INET, addr: q.remote, port: 8080 });
  q.stack.advance(20_000);
  assert.equal(q.sockets.getsockopt(g, SOL_SOCKET, SO_ERROR).value, 0);
});

Deno.test("sockets: quickack_segments ACKs a connection's first data segments at once, then delays", () => {
  const p = new ScriptPeer();
  p.stack.sysctl.set("net.inet.tcp.quickack_segments", 2);
  p.stack.sysctl.set("net.inet.tcp.delacktime", 40);
  p.activeOpen();
  p.inject({ flags: "P.", seq: 1, ack: 1, len: 10 });
  p.expect({ flags: ".", seq: 1, ack: 11 }); // at once
  p.inject({ flags: "P.", seq: 11, ack: 1, len: 10 });
  p.expect({ flags: ".", seq: 1, ack: 21 }); // at once
  p.inject({ flags: "P.", seq: 21, ack: 1, len: 10 });
  p.expectNone(); // the third waits for the delayed-ACK timer
  p.stack.advance(39);
  p.expectNone();
  p.stack.advance(2);
  p.expect({ flags: ".", seq: 1, ack: 31 });
  // FreeBSD's default (0): the first is delayed already.
  const q = new ScriptPeer();
  q.activeOpen();
  q.inject({ flags: "P.", seq: 1, ack: 1, len: 10 });
  q.expectNone();
});

Deno.test("sockets: an abortive close (SO_LINGER 0) with data unsent sends a RST without data", () => {
  const p = new ScriptPeer();
  const fd = p.activeOpen();
  p.inject({ flags: ".", seq: 1, ack: 1, win: 100 }); // a window too small to send into
  value(p.sockets.send(fd, new Uint8Array(500)));
  p.expectNone(); // silly-window avoidance: all 500 wait
  value(p.sockets.setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 0 }));
  value(p.sockets.close(fd));
  const rst = p.next();
  assert.equal(rst.th.flags & 0x4, 0x4, "a RST");
  assert.equal(rst.th.payload.length, 0, "with no data");
});

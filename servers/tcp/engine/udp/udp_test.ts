import assert from "node:assert/strict";
import { FakeEthernet, ipLinkStack } from "../_testnet.ts";
import { Udp } from "./udp.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IPPROTO_IP,
  MSG_PEEK,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLRDHUP,
  SO_ACCEPTCONN,
  SO_BROADCAST,
  SO_ERROR,
  SO_REUSEADDR,
  SOL_SOCKET,
} from "../socket/api.ts";
import {
  EACCES,
  EADDRINUSE,
  EADDRNOTAVAIL,
  EAGAIN,
  ECONNREFUSED,
  EDESTADDRREQ,
  EHOSTUNREACH,
  EINVAL,
  EMSGSIZE,
  ENOTCONN,
} from "../errno.ts";
import { parseIcmp } from "../wire/icmp.ts";
import { emitIpv4 } from "../wire/ipv4.ts";
import { emitUdp, udpChecksum } from "../wire/udp.ts";
import { ipToBytes } from "../ip/addr.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const BCAST = "198.18.0.255";
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function pair() {
  const net = new FakeEthernet(3);
  const a = net.add(["198.18.0.2/24", "fd00:198:18::2/64"]);
  const b = net.add(["198.18.0.1/24", "fd00:198:18::1/64"]);
  return { net, a, b, ua: Udp.of(a), ub: Udp.of(b) };
}

for (
  const [fam, A, B] of [[AF_INET, "198.18.0.2", "198.18.0.1"], [
    AF_INET6,
    "fd00:198:18::2",
    "fd00:198:18::1",
  ]] as const
) {
  Deno.test(`udp (${fam === AF_INET ? "v4" : "v6"}): echo between two stacks, unconnected server, connected client`, () => {
    const { net, ua, ub } = pair();
    const server = ub.socket(fam);
    assert.deepEqual(
      server.bind({ family: fam, addr: fam === AF_INET ? "0.0.0.0" : "::", port: 7 }),
      { value: 0 },
    );
    const client = ua.socket(fam);
    assert.deepEqual(client.send(enc("x"), 0, true), { errno: EDESTADDRREQ });
    assert.deepEqual(client.connect({ family: fam, addr: B, port: 7 }, true), { value: 0 });
    const name = client.getsockname().value!;
    assert.equal(name.addr, A);
    assert.ok(name.port >= 49152);
    assert.deepEqual(client.send(enc("hello"), 0, true), { value: 5 });
    net.run();
    const got = server.recv(100, 0, true);
    assert.equal(dec(got.value!.data), "hello");
    assert.deepEqual(got.value!.from, { family: fam, addr: A, port: name.port });
    assert.deepEqual(server.recv(100, 0, true), { errno: EAGAIN });
    assert.deepEqual(server.recv(100, 0, false), {
      errno: EAGAIN,
      wouldBlock: true,
      waitFor: POLLIN,
    });
    // Echo back with sendto.
    assert.deepEqual(server.send(enc("hello back"), 0, true, got.value!.from), { value: 10 });
    net.run();
    assert.equal(client.poll() & POLLIN, POLLIN);
    const peek = client.recv(4, MSG_PEEK, true);
    assert.equal(dec(peek.value!.data), "hell");
    assert.equal(peek.value!.truncated, true);
    assert.equal(dec(client.recv(100, 0, true).value!.data), "hello back");
    // A connected socket ignores datagrams from others.
    const other = ub.socket(fam);
    other.send(enc("spam"), 0, true, name);
    net.run();
    assert.deepEqual(client.recv(100, 0, true), { errno: EAGAIN });
  });

  Deno.test(`udp (${fam === AF_INET ? "v4" : "v6"}): port unreachable → ECONNREFUSED on the connected socket`, () => {
    const { net, ua, b } = pair();
    const client = ua.socket(fam);
    client.connect({ family: fam, addr: B, port: 9999 }, true);
    assert.deepEqual(client.send(enc("anyone?"), 0, true), { value: 7 });
    net.run();
    assert.equal(b.counters.get("udp.rx.noPort"), 1);
    assert.equal(client.poll() & POLLERR, POLLERR);
    assert.deepEqual(client.recv(100, 0, true), { errno: ECONNREFUSED });
    assert.deepEqual(client.recv(100, 0, true), { errno: EAGAIN });
    client.send(enc("again"), 0, true);
    net.run();
    assert.deepEqual(client.getsockopt(SOL_SOCKET, SO_ERROR), { value: ECONNREFUSED });
    assert.deepEqual(client.getsockopt(SOL_SOCKET, SO_ERROR), { value: 0 });
    // An unconnected socket hears nothing about it.
    const u = ua.socket(fam);
    u.send(enc("x"), 0, true, { family: fam, addr: B, port: 9998 });
    net.run();
    assert.deepEqual(u.recv(10, 0, true), { errno: EAGAIN });
  });
}

Deno.test("udp: bind rules, shutdown, disconnect, buffer limit", () => {
  const { net, ua, ub } = pair();
  const s1 = ub.socket(AF_INET);
  assert.deepEqual(s1.bind({ family: AF_INET, addr: "198.18.0.9", port: 5000 }), {
    errno: EADDRNOTAVAIL,
  });
  assert.deepEqual(s1.bind({ family: AF_INET, addr: "198.18.0.1", port: 5000 }), { value: 0 });
  // A broadcast address binds (Linux; nmbd's subnet socket), and takes the subnet's
  // broadcasts to its port.
  const sb = ub.socket(AF_INET);
  assert.deepEqual(sb.bind({ family: AF_INET, addr: "255.255.255.255", port: 5001 }), { value: 0 });
  const sb2 = ub.socket(AF_INET);
  assert.deepEqual(sb2.bind({ family: AF_INET, addr: BCAST, port: 5002 }), { value: 0 });
  const bc = ua.socket(AF_INET);
  bc.setsockopt(SOL_SOCKET, 6, /* SO_BROADCAST */ 1);
  bc.send(enc("all"), 0, true, { family: AF_INET, addr: BCAST, port: 5002 });
  net.run();
  assert.equal(sb2.queued, 1);
  sb.close();
  sb2.close();
  bc.close();
  const s2 = ub.socket(AF_INET);
  assert.deepEqual(s2.bind({ family: AF_INET, addr: "0.0.0.0", port: 5000 }), {
    errno: EADDRINUSE,
  });
  const s3 = ub.socket(AF_INET);
  s3.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  s1.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  assert.deepEqual(s3.bind({ family: AF_INET, addr: "0.0.0.0", port: 5000 }), { value: 0 });
  // The more specific binding wins.
  const c = ua.socket(AF_INET);
  c.send(enc("to s1"), 0, true, { family: AF_INET, addr: "198.18.0.1", port: 5000 });
  net.run();
  assert.equal(s1.queued, 1);
  assert.equal(s3.queued, 0);
  // Not connected: ENOTCONN, and shut down all the same (FreeBSD, Linux): a reader wakes.
  const shut = ub.socket(AF_INET);
  assert.deepEqual(shut.shutdown(2), { errno: ENOTCONN });
  assert.equal(shut.poll() & (POLLIN | POLLHUP | POLLRDHUP), POLLIN | POLLHUP | POLLRDHUP);
  assert.equal(shut.recv(10, 0, true).value?.data.length, 0);
  // Receive buffer limit: datagrams beyond it are dropped and counted.
  s1.setsockopt(SOL_SOCKET, 8, /* SO_RCVBUF */ 1000);
  for (let i = 0; i < 5; i++) {
    c.send(new Uint8Array(300), 0, true, { family: AF_INET, addr: "198.18.0.1", port: 5000 });
  }
  net.run();
  assert.equal(s1.queued, 4); // 5 + 3 × 300 ≤ 1000; the 4th and 5th overflow
  assert.equal(ub.stack.counters.get("udp.rx.fullSocket"), 2);
  // An empty queue takes a datagram larger than the buffer (Linux), and only that one.
  while (s1.queued > 0) s1.recv(2000, 0, true);
  for (let i = 0; i < 2; i++) {
    c.send(new Uint8Array(1500), 0, true, { family: AF_INET, addr: "198.18.0.1", port: 5000 });
  }
  net.run();
  assert.equal(s1.queued, 1);
  assert.equal(s1.recv(2000, 0, true).value?.data.length, 1500);
  // connect(AF_UNSPEC) dissolves the association.
  c.connect({ family: AF_INET, addr: "198.18.0.1", port: 5000 }, true);
  assert.equal(c.getpeername().value!.port, 5000);
  c.connect({ family: AF_UNSPEC as typeof AF_INET, addr: "0.0.0.0", port: 0 }, true);
  assert.deepEqual(c.getpeername(), { errno: ENOTCONN });
  s1.close();
  s3.close();
  const s4 = ub.socket(AF_INET);
  assert.deepEqual(s4.bind({ family: AF_INET, addr: "0.0.0.0", port: 5000 }), { value: 0 });
});

Deno.test("udp: hostile datagrams are counted; large datagrams fragment and reassemble", () => {
  const { stack, ifIndex, out } = ipLinkStack();
  const u = Udp.of(stack);
  const s = u.socket(AF_INET);
  s.bind({ family: AF_INET, addr: "0.0.0.0", port: 7 });
  const pkt = (udpLen: number, csum = true) => {
    const d = new Uint8Array(8 + 4);
    emitUdp({ srcPort: 1000, dstPort: 7, payloadLength: 4 }, d);
    d[4] = udpLen >> 8;
    d[5] = udpLen & 0xff;
    if (csum) {
      const c = udpChecksum(ipToBytes("198.18.0.1"), ipToBytes("198.18.0.2"), d);
      d[6] = c >> 8;
      d[7] = c & 0xff;
    }
    const b = new Uint8Array(20 + d.length);
    emitIpv4({
      src: "198.18.0.1",
      dst: "198.18.0.2",
      proto: 17,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: 1,
      dontFragment: false,
      moreFragments: false,
      fragOffset: 0,
      payloadLength: d.length,
      options: new Uint8Array(),
    }, b);
    b.set(d, 20);
    return b;
  };
  stack.receive(ifIndex, pkt(12));
  assert.equal(s.queued, 1);
  stack.receive(ifIndex, pkt(13)); // longer than the datagram: checksum covers garbage → bad
  stack.receive(ifIndex, pkt(12, false)); // zero checksum: allowed in IPv4
  assert.equal(s.queued, 2);
  assert.equal(stack.counters.sum("udp.rx.bad"), 1);
  // Port unreachable goes out for an unbound port.
  const c = u.socket(AF_INET);
  const big = new Uint8Array(4000).map((_, i) => i);
  assert.deepEqual(c.send(big, 0, true, { family: AF_INET, addr: "198.18.0.1", port: 7 }), {
    value: 4000,
  });
  assert.equal(out.length, 3);
  assert.equal(stack.counters.get("ip.tx.fragmented"), 1);
  // IP_MTU_DISCOVER DO: DF set, and above the path MTU EMSGSIZE instead of fragments.
  const df = u.socket(AF_INET);
  assert.deepEqual(df.getsockopt(IPPROTO_IP, 10), { value: 1 }); // IP_PMTUDISC_WANT
  assert.deepEqual(df.setsockopt(IPPROTO_IP, 10, 6), { errno: EINVAL });
  assert.deepEqual(df.setsockopt(IPPROTO_IP, 10, 2), { value: 0 });
  const to = { family: AF_INET, addr: "198.18.0.1", port: 7 } as const;
  assert.deepEqual(df.send(big, 0, true, to), { errno: EMSGSIZE });
  assert.equal(out.length, 3);
  assert.deepEqual(df.send(big.subarray(0, 1000), 0, true, to), { value: 1000 });
  assert.equal(out.length, 4);
  assert.equal(out[3][6] & 0x40, 0x40); // DF
  // Deliver those fragments back to ourselves by rewriting addresses is overkill; instead check
  // the unreachable path.
  const n = out.length;
  const p = pkt(12);
  p[23] = 9; // dst port 9: nobody
  const d = p.subarray(20);
  d[6] = 0;
  d[7] = 0;
  stack.receive(ifIndex, p);
  assert.equal(out.length, n + 1);
  const icmp = parseIcmp(out[n].subarray(20));
  assert.ok(typeof icmp !== "string");
  assert.deepEqual([icmp.type, icmp.code], [3, 3]);
});

Deno.test("udp: a connected socket hears hard ICMP errors only (Linux without IP_RECVERR)", () => {
  const { ua } = pair();
  const client = ua.socket(AF_INET);
  client.connect({ family: AF_INET, addr: "198.18.0.1", port: 53 }, true);
  const port = (client.getsockname() as { value: { port: number } }).value.port;
  const quoted = new Uint8Array(8);
  new DataView(quoted.buffer).setUint16(0, port);
  new DataView(quoted.buffer).setUint16(2, 53);
  const err = (type: number, code: number) =>
    ua.icmpError({
      version: 4,
      type,
      code,
      src: "198.18.0.2",
      dst: "198.18.0.1",
      proto: 17,
      quoted,
    });
  // Host and net unreachable are soft: recv() keeps waiting (it failed with EHOSTUNREACH).
  assert.equal(err(3, 1), true);
  assert.equal(err(3, 0), true);
  assert.equal(err(11, 0), true);
  assert.deepEqual(client.getsockopt(SOL_SOCKET, SO_ERROR), { value: 0 });
  // Port unreachable and administratively prohibited are hard.
  err(3, 3);
  assert.deepEqual(client.getsockopt(SOL_SOCKET, SO_ERROR), { value: ECONNREFUSED });
  err(3, 13);
  assert.deepEqual(client.getsockopt(SOL_SOCKET, SO_ERROR), { value: EHOSTUNREACH });
  // A port no socket has: not ours (the stack keeps no path MTU from it).
  new DataView(quoted.buffer).setUint16(0, port + 1);
  assert.equal(err(3, 4), false);
});

Deno.test("udp: a tunnel takes its port's datagrams and ICMP errors; sendRaw", () => {
  const { net, ua, ub } = pair();
  const got: string[] = [];
  const errs: number[] = [];
  ub.setTunnel(9811, {
    input: (meta, sp, dp, p) => got.push(`${meta.src} ${sp}>${dp} ${dec(p)}`),
  });
  ua.setTunnel(9811, { input: () => {}, icmpError: (e) => errs.push(e.quoted.length) > 0 });
  assert.equal(ua.sendRaw({ version: 4, dst: "198.18.0.1" }, 9811, 9811, enc("tcp!"), false), 0);
  net.run();
  assert.deepEqual(got, ["198.18.0.2 9811>9811 tcp!"]);
  ub.clearTunnel(9811);
  assert.equal(
    ua.sendRaw({ version: 4, dst: "198.18.0.1" }, 9811, 9811, enc("0123456789"), true),
    0,
  );
  net.run();
  assert.equal(got.length, 1);
  assert.deepEqual(errs, [0]); // port unreachable quotes 8 bytes past IP: the UDP header only
});

Deno.test("udp: datagrams to our own address loop back through poll()", () => {
  const { stack, out, ctx } = ipLinkStack();
  const u = Udp.of(stack);
  const srv = u.socket(AF_INET6);
  srv.bind({ family: AF_INET6, addr: "::", port: 53 });
  const cli = u.socket(AF_INET6);
  assert.deepEqual(
    cli.send(enc("self"), 0, true, { family: AF_INET6, addr: "fd00:198:18::2", port: 53 }),
    { value: 4 },
  );
  assert.equal(srv.queued, 0); // not re-entrantly
  assert.equal(stack.nextDeadline(), ctx.now());
  stack.poll(ctx.now());
  assert.equal(dec(srv.recv(10, 0, true).value!.data), "self");
  assert.equal(out.length, 0); // nothing left through the link
  const c4 = u.socket(AF_INET);
  c4.send(enc("lo"), 0, true, { family: AF_INET, addr: "127.0.0.1", port: 9 });
  stack.poll(ctx.now());
  stack.poll(ctx.now());
  assert.equal(stack.counters.get("udp.rx.noPort"), 1);
});

Deno.test("udp: a broadcast, limited or of the subnet, needs SO_BROADCAST (EACCES without)", () => {
  const { net, ua, ub } = pair();
  const server = ub.socket(AF_INET);
  server.bind({ family: AF_INET, addr: "0.0.0.0", port: 7 });
  const s = ua.socket(AF_INET);
  for (const addr of ["198.18.0.255", "255.255.255.255"]) {
    assert.deepEqual(s.send(enc("x"), 0, true, { family: AF_INET, addr, port: 7 }), {
      errno: EACCES,
    });
  }
  assert.deepEqual(s.send(enc("x"), 0, true, { family: AF_INET, addr: "198.18.0.1", port: 7 }), {
    value: 1,
  });
  assert.deepEqual(s.setsockopt(SOL_SOCKET, SO_BROADCAST, 1), { value: 0 });
  assert.deepEqual(
    s.send(enc("all"), 0, true, { family: AF_INET, addr: "198.18.0.255", port: 7 }),
    {
      value: 3,
    },
  );
  net.run();
  // The unicast waited for ARP, the broadcast did not.
  const got = [0, 1].map(() => dec(server.recv(100, 0, true).value!.data)).sort();
  assert.deepEqual(got, ["all", "x"]);
  assert.deepEqual(server.recv(100, 0, true), { errno: EAGAIN });
});

Deno.test("udp: SO_ACCEPTCONN reads 0 (Linux), not ENOPROTOOPT", () => {
  const { ua } = pair();
  assert.deepEqual(ua.socket(AF_INET).getsockopt(SOL_SOCKET, SO_ACCEPTCONN), { value: 0 });
});

Deno.test("udp: a datagram to the unspecified address is this host's, never the wire's", () => {
  for (const [fam, any] of [[AF_INET, "0.0.0.0"], [AF_INET6, "::"]] as const) {
    const { net, a, ua } = pair();
    const server = ua.socket(fam);
    assert.deepEqual(server.bind({ family: fam, addr: any, port: 7 }), { value: 0 });
    const client = ua.socket(fam);
    const before = net.log.length;
    assert.deepEqual(client.send(enc("here"), 0, true, { family: fam, addr: any, port: 7 }), {
      value: 4,
    });
    net.run();
    a.poll(net.ctx.now());
    const got = server.recv(100, 0, true);
    assert.equal(dec(got.value!.data), "here", `${any}`);
    assert.equal(net.log.length, before, `nothing left stack a for ${any}`);
  }
});

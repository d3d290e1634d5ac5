// Multicast in the engine. Groups are IPv6 ones of link scope (ff12::/16): the project's tests
// use only its own addresses, and an IPv6 group of link scope stays on the link (an IPv4 group
// would be an address outside 198.18.0.0/15). The IPv4 paths that need no group address
// (ip_mreq checks, IPv4 option values, the limited broadcast) are tested with IPv4.
import assert from "node:assert/strict";
import { FakeEthernet } from "../_testnet.ts";
import { Udp } from "./udp.ts";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_IP,
  IPPROTO_IPV6,
  SO_BROADCAST,
  SO_REUSEADDR,
  type SockAddr,
  SOL_SOCKET,
} from "../socket/api.ts";
import {
  EADDRINUSE,
  EADDRNOTAVAIL,
  EAGAIN,
  EINVAL,
  ENOBUFS,
  ENOPROTOOPT,
  EOPNOTSUPP,
} from "../errno.ts";
import { ipFromBytes, ipToBytes } from "../ip/addr.ts";
import { emitIgmp, IGMP_QUERY, parseIgmp } from "../wire/igmp.ts";
import {
  IP_ADD_MEMBERSHIP,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IPV6_JOIN_GROUP,
  IPV6_LEAVE_GROUP,
  IPV6_MULTICAST_ALL,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_LOOP,
  MAX_MEMBERSHIPS,
  MCAST_JOIN_GROUP,
} from "./multicast.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const GROUP = "ff12::1234";
const A6 = "fd00:198:18::2";

function pair() {
  const net = new FakeEthernet(5);
  const a = net.add(["198.18.0.2/24", `${A6}/64`, "fe80::2/64"]);
  const b = net.add(["198.18.0.1/24", "fd00:198:18::1/64", "fe80::1/64"]);
  return { net, a, b, ua: Udp.of(a), ub: Udp.of(b) };
}

/** struct ipv6_mreq: the group, then the interface index (0: the stack picks). */
function mreq6(group: string, ifIndex = 0): Uint8Array {
  const m = new Uint8Array(20);
  m.set(ipToBytes(group), 0);
  new DataView(m.buffer).setUint32(16, ifIndex, true);
  return m;
}

/** struct ip_mreq: the group, then the local address (any). */
function mreq4(group: string, local = "0.0.0.0"): Uint8Array {
  const m = new Uint8Array(8);
  m.set(ipToBytes(group), 0);
  m.set(ipToBytes(local), 4);
  return m;
}

/** MLD messages stack `from` sent: [ICMPv6 type, group, the whole frame]. */
function mldOf(net: FakeEthernet, from: number): [number, string, Uint8Array][] {
  return net.log.filter((l) => l.from === from && l.frame[12] === 0x86 && l.frame[14 + 6] === 0)
    .map((l) => [l.frame[14 + 48], ipFromBytes(l.frame, 14 + 48 + 8, 6), l.frame]);
}

const to = (port: number, addr = GROUP): SockAddr => ({ family: AF_INET6, addr, port });

Deno.test("udp multicast: a member receives a group's datagrams; MLD report on join, done on the last leave", () => {
  const { net, ua, ub } = pair();
  const r = ub.socket(AF_INET6);
  assert.deepEqual(r.bind({ family: AF_INET6, addr: "::", port: 7000 }), { value: 0 });
  const s = ua.socket(AF_INET6);
  // Not a member yet: the datagram is dropped.
  assert.deepEqual(s.send(enc("before"), 0, true, to(7000)), { value: 6 });
  net.run();
  assert.deepEqual(r.recv(100, 0, true), { errno: EAGAIN });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP)), { value: 0 });
  const reports = mldOf(net, 1);
  assert.equal(reports.length, 1);
  const [type, group, f] = reports[0];
  assert.deepEqual([type, group], [131, GROUP], "an MLD report for the group");
  assert.deepEqual([...f.subarray(0, 6)], [0x33, 0x33, 0, 0, 0x12, 0x34], "the group's MAC");
  assert.equal(f[14 + 7], 1, "hop limit 1");
  // ICMPv6 behind a hop-by-hop header with the Router Alert (RFC 2710 §3).
  assert.deepEqual([...f.subarray(54, 60)], [58, 0, 5, 2, 0, 0], "HBH: Router Alert");
  assert.equal(ipFromBytes(f, 14 + 8, 6), "fe80::1", "from the link-local address");
  const before = net.log.length;
  s.send(enc("hello group"), 0, true, to(7000));
  net.run();
  assert.equal(net.log[before].frame[14 + 7], 1, "multicast hop limit 1 by default");
  const got = r.recv(100, 0, true).value!;
  assert.equal(dec(got.data), "hello group");
  // The last leave sends MLD done to all-routers; then nothing arrives.
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_LEAVE_GROUP, mreq6(GROUP)), { value: 0 });
  const done = mldOf(net, 1).at(-1)!;
  assert.deepEqual([done[0], done[1]], [132, GROUP]);
  assert.equal(ipFromBytes(done[2], 14 + 24, 6), "ff02::2");
  s.send(enc("after"), 0, true, to(7000));
  net.run();
  assert.deepEqual(r.recv(100, 0, true), { errno: EAGAIN });
});

Deno.test("udp multicast: every socket on the port gets a copy; loop and hop-limit options", () => {
  const { net, a, ua, ub } = pair();
  const rs = [ub.socket(AF_INET6), ub.socket(AF_INET6)];
  for (const r of rs) {
    r.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    assert.deepEqual(r.bind({ family: AF_INET6, addr: "::", port: 6000 }), { value: 0 });
  }
  // One socket joins (through MCAST_JOIN_GROUP); both receive (IP_MULTICAST_ALL).
  const gr = new Uint8Array(8 + 24);
  gr[8] = AF_INET6;
  gr.set(ipToBytes(GROUP), 16);
  assert.deepEqual(rs[0].setsockopt(IPPROTO_IPV6, MCAST_JOIN_GROUP, gr), { value: 0 });
  // The sender is a member too: its own copy comes back over the loopback (IPV6_MULTICAST_LOOP).
  const s = ua.socket(AF_INET6);
  assert.deepEqual(s.bind({ family: AF_INET6, addr: "::", port: 6000 }), { value: 0 });
  assert.deepEqual(s.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP)), { value: 0 });
  assert.deepEqual(s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 5), { value: 0 });
  assert.deepEqual(s.getsockopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS), { value: 5 });
  const before = net.log.length;
  s.send(enc("one"), 0, true, to(6000));
  net.run();
  a.poll(net.ctx.now());
  assert.equal(net.log[before].frame[14 + 7], 5, "IPV6_MULTICAST_HOPS");
  for (const r of rs) assert.equal(dec(r.recv(100, 0, true).value!.data), "one");
  assert.equal(dec(s.recv(100, 0, true).value!.data), "one", "looped back");
  assert.deepEqual(s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0), { value: 0 });
  assert.deepEqual(s.getsockopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP), { value: 0 });
  s.send(enc("two"), 0, true, to(6000));
  net.run();
  a.poll(net.ctx.now());
  assert.deepEqual(s.recv(100, 0, true), { errno: EAGAIN }, "no loop");
  assert.equal(dec(rs[1].recv(100, 0, true).value!.data), "two");
  // Closing the only member socket of b leaves the group: no more copies.
  rs[0].close();
  s.send(enc("three"), 0, true, to(6000));
  net.run();
  assert.deepEqual(rs[1].recv(100, 0, true), { errno: EAGAIN });
});

Deno.test("udp multicast: with IPV6_MULTICAST_ALL 0 only a socket that joined gets the group's datagrams", () => {
  const { net, a, ua, ub } = pair();
  const [member, other] = [ub.socket(AF_INET6), ub.socket(AF_INET6)];
  for (const r of [member, other]) {
    r.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    assert.deepEqual(r.bind({ family: AF_INET6, addr: "::", port: 6002 }), { value: 0 });
    assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0), { value: 0 });
  }
  assert.deepEqual(other.getsockopt(IPPROTO_IPV6, IPV6_MULTICAST_ALL), { value: 0 });
  assert.deepEqual(member.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP)), { value: 0 });
  const s = ua.socket(AF_INET6);
  s.send(enc("one"), 0, true, to(6002));
  net.run();
  a.poll(net.ctx.now());
  assert.equal(dec(member.recv(100, 0, true).value!.data), "one");
  assert.deepEqual(other.recv(100, 0, true), { errno: EAGAIN }, "it joined no group");
  // Back to Linux's default: the host's membership is enough.
  assert.deepEqual(other.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_ALL, 1), { value: 0 });
  s.send(enc("two"), 0, true, to(6002));
  net.run();
  assert.equal(dec(other.recv(100, 0, true).value!.data), "two");
});

Deno.test("udp multicast: Linux's errors for bad memberships and values", () => {
  const { ua, ub } = pair();
  const r = ub.socket(AF_INET6);
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(A6)), { errno: EINVAL });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, new Uint8Array(12)), {
    errno: EINVAL,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP)), { value: 0 });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP)), {
    errno: EADDRINUSE,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_LEAVE_GROUP, mreq6("ff12::9999")), {
    errno: EADDRNOTAVAIL,
  });
  for (let i = 1; i < MAX_MEMBERSHIPS; i++) {
    assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(`ff12::1:${i}`)), {
      value: 0,
    });
  }
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6("ff12::2:0")), {
    errno: ENOBUFS,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 256), { errno: EINVAL });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 2), { errno: EINVAL });
  // IPv4: ip_mreq naming a group that is not one, a short value; TTL and loop as a char.
  const v4 = ua.socket(AF_INET);
  assert.deepEqual(v4.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq4("198.18.0.9")), {
    errno: EINVAL,
  });
  assert.deepEqual(v4.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, new Uint8Array(5)), {
    errno: EINVAL,
  });
  assert.deepEqual(v4.setsockopt(IPPROTO_IP, IP_MULTICAST_TTL, 256), { errno: EINVAL });
  assert.deepEqual(v4.setsockopt(IPPROTO_IP, IP_MULTICAST_TTL, new Uint8Array([5])), {
    value: 0,
  });
  assert.deepEqual(v4.getsockopt(IPPROTO_IP, IP_MULTICAST_TTL), { value: 5 });
  assert.deepEqual(v4.setsockopt(IPPROTO_IP, IP_MULTICAST_LOOP, new Uint8Array([0])), {
    value: 0,
  });
  assert.deepEqual(v4.getsockopt(IPPROTO_IP, IP_MULTICAST_LOOP), { value: 0 });
  // Source-specific joins are not modelled: said so; IP_OPTIONS is left to the service.
  assert.deepEqual(v4.setsockopt(IPPROTO_IP, 39, new Uint8Array(12)), { errno: EOPNOTSUPP });
  assert.deepEqual(v4.setsockopt(IPPROTO_IP, 4, new Uint8Array(4)), { errno: ENOPROTOOPT });
});

Deno.test("igmp: a message round-trips with its checksum; a corrupt one is refused", () => {
  const q = emitIgmp({ type: IGMP_QUERY, maxResp: 100, group: "0.0.0.0" });
  assert.deepEqual(parseIgmp(q), { type: IGMP_QUERY, maxResp: 100, group: "0.0.0.0" });
  const bad = q.slice();
  bad[1] ^= 1; // the checksum no longer holds
  assert.equal(parseIgmp(bad), undefined);
  assert.equal(parseIgmp(q.subarray(0, 7)), undefined, "short");
});

Deno.test("udp multicast: the looped copy reaches this host's members with checksums left to the NIC", () => {
  const net = new FakeEthernet(7);
  const a = net.add([`${A6}/64`], 1500, true); // checksum offload
  const ua = Udp.of(a);
  const r = ua.socket(AF_INET6);
  r.bind({ family: AF_INET6, addr: "::", port: 6100 });
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP)), { value: 0 });
  const s = ua.socket(AF_INET6);
  s.send(enc("mine"), 0, true, to(6100));
  net.run();
  a.poll(net.ctx.now());
  assert.equal(dec(r.recv(100, 0, true).value!.data), "mine");
});

Deno.test("udp multicast: connect to a group; limited broadcast from a bound address", () => {
  const { net, ua, ub } = pair();
  const r = ub.socket(AF_INET6);
  r.bind({ family: AF_INET6, addr: "::", port: 6200 });
  r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, mreq6(GROUP));
  const c = ua.socket(AF_INET6);
  assert.deepEqual(c.connect(to(6200), true), { value: 0 });
  assert.deepEqual(c.send(enc("connected"), 0, true), { value: 9 });
  net.run();
  assert.equal(dec(r.recv(100, 0, true).value!.data), "connected");
  // 255.255.255.255 from a socket bound to its address: no route needed.
  const rb = ub.socket(AF_INET);
  rb.bind({ family: AF_INET, addr: "0.0.0.0", port: 6400 });
  const b = ua.socket(AF_INET);
  b.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
  b.bind({ family: AF_INET, addr: "198.18.0.2", port: 0 });
  assert.deepEqual(
    b.send(enc("all"), 0, true, { family: AF_INET, addr: "255.255.255.255", port: 6400 }),
    { value: 3 },
  );
  net.run();
  assert.equal(dec(rb.recv(100, 0, true).value!.data), "all");
});

Deno.test("udp multicast: a link-scope group is sent from the link-local address", () => {
  const net = new FakeEthernet(9);
  const a = net.add([`${A6}/64`, "fe80::2/64"]);
  const s = Udp.of(a).socket(AF_INET6);
  s.send(enc("x"), 0, true, to(5353, "ff02::fb"));
  const f = net.log.filter((l) => l.frame[12] === 0x86 && l.frame[14 + 6] === 17).at(-1)!.frame;
  assert.equal(ipFromBytes(f, 14 + 8, 6), "fe80::2");
});

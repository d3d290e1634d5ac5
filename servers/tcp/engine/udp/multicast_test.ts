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
import { emitIgmp, IGMP_LEAVE, IGMP_QUERY, IGMP_V2_REPORT, parseIgmp } from "../wire/igmp.ts";
import {
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IPV6_JOIN_GROUP,
  MAX_MEMBERSHIPS,
  MCAST_JOIN_GROUP,
} from "./multicast.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const GROUP = "239.1.2.3";

function pair() {
  const net = new FakeEthernet(5);
  const a = net.add(["198.18.0.2/24", "fd00:198:18::2/64"]);
  const b = net.add(["198.18.0.1/24", "fd00:198:18::1/64"]);
  return { net, a, b, ua: Udp.of(a), ub: Udp.of(b) };
}

/** struct ip_mreq: the group, then the local address (any). */
function mreq(group: string, local = "0.0.0.0"): Uint8Array {
  const m = new Uint8Array(8);
  m.set(ipToBytes(group), 0);
  m.set(ipToBytes(local), 4);
  return m;
}

/** IPv4 frames sent by stack `from` (its index in the hub) with IP protocol `proto`. */
function ipv4Frames(net: FakeEthernet, from: number, proto: number) {
  return net.log.filter((l) =>
    l.from === from && l.frame[12] === 0x08 && l.frame[13] === 0 && l.frame[14 + 9] === proto
  ).map((l) => l.frame);
}

Deno.test("udp multicast: a member receives a group's datagrams; IGMP report on join, leave on the last leave", () => {
  const { net, ua, ub } = pair();
  const r = ub.socket(AF_INET);
  assert.deepEqual(r.bind({ family: AF_INET, addr: "0.0.0.0", port: 5353 }), { value: 0 });
  const s = ua.socket(AF_INET);
  // Not a member yet: the datagram is dropped.
  assert.deepEqual(s.send(enc("before"), 0, true, { family: AF_INET, addr: GROUP, port: 5353 }), {
    value: 6,
  });
  net.run();
  assert.deepEqual(r.recv(100, 0, true), { errno: EAGAIN });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP)), { value: 0 });
  const reports = ipv4Frames(net, 1, 2);
  assert.equal(reports.length, 1);
  assert.deepEqual([...reports[0].subarray(0, 6)], [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
  assert.equal(reports[0][14 + 8], 1, "IGMP goes out with TTL 1");
  // IHL 6: the Router Alert option; precedence 6 (TOS 0xc0), as Linux sends IGMP.
  assert.equal(reports[0][14] & 15, 6);
  assert.deepEqual([...reports[0].subarray(34, 38)], [148, 4, 0, 0], "Router Alert");
  assert.equal(reports[0][15], 0xc0);
  assert.deepEqual(parseIgmp(reports[0].subarray(38)), {
    type: IGMP_V2_REPORT,
    maxResp: 0,
    group: GROUP,
  });
  const before = net.log.length;
  s.send(enc("hello group"), 0, true, { family: AF_INET, addr: GROUP, port: 5353 });
  net.run();
  const f = net.log[before].frame;
  assert.deepEqual([...f.subarray(0, 6)], [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03], "group MAC");
  assert.equal(f[14 + 8], 1, "multicast TTL 1 by default");
  const got = r.recv(100, 0, true).value!;
  assert.equal(dec(got.data), "hello group");
  assert.equal(got.from?.addr, "198.18.0.2");
  // The last leave sends IGMP leave to all-routers; then nothing arrives.
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq(GROUP)), { value: 0 });
  const leaves = ipv4Frames(net, 1, 2).map((x) => parseIgmp(x.subarray(38))!);
  assert.equal(leaves.at(-1)?.type, IGMP_LEAVE);
  assert.equal(ipv4Frames(net, 1, 2).at(-1)![14 + 16], 224);
  s.send(enc("after"), 0, true, { family: AF_INET, addr: GROUP, port: 5353 });
  net.run();
  assert.deepEqual(r.recv(100, 0, true), { errno: EAGAIN });
});

Deno.test("udp multicast: every socket on the port gets a copy; loop and TTL options", () => {
  const { net, a, ua, ub } = pair();
  const rs = [ub.socket(AF_INET), ub.socket(AF_INET)];
  for (const r of rs) {
    r.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    assert.deepEqual(r.bind({ family: AF_INET, addr: "0.0.0.0", port: 6000 }), { value: 0 });
  }
  // One socket joins (through MCAST_JOIN_GROUP); both receive (IP_MULTICAST_ALL).
  const gr = new Uint8Array(8 + 16);
  gr[8] = AF_INET;
  gr.set(ipToBytes(GROUP), 12);
  assert.deepEqual(rs[0].setsockopt(IPPROTO_IP, MCAST_JOIN_GROUP, gr), { value: 0 });
  // The sender is a member too: its own copy comes back over the loopback (IP_MULTICAST_LOOP).
  const s = ua.socket(AF_INET);
  assert.deepEqual(s.bind({ family: AF_INET, addr: "0.0.0.0", port: 6000 }), { value: 0 });
  assert.deepEqual(s.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP)), { value: 0 });
  assert.deepEqual(s.setsockopt(IPPROTO_IP, IP_MULTICAST_TTL, 5), { value: 0 });
  assert.deepEqual(s.getsockopt(IPPROTO_IP, IP_MULTICAST_TTL), { value: 5 });
  const before = net.log.length;
  s.send(enc("one"), 0, true, { family: AF_INET, addr: GROUP, port: 6000 });
  net.run();
  a.poll(net.ctx.now());
  assert.equal(net.log[before].frame[14 + 8], 5, "IP_MULTICAST_TTL");
  for (const r of rs) assert.equal(dec(r.recv(100, 0, true).value!.data), "one");
  assert.equal(dec(s.recv(100, 0, true).value!.data), "one", "looped back");
  assert.deepEqual(s.setsockopt(IPPROTO_IP, IP_MULTICAST_LOOP, new Uint8Array([0])), { value: 0 });
  assert.deepEqual(s.getsockopt(IPPROTO_IP, IP_MULTICAST_LOOP), { value: 0 });
  s.send(enc("two"), 0, true, { family: AF_INET, addr: GROUP, port: 6000 });
  net.run();
  a.poll(net.ctx.now());
  assert.deepEqual(s.recv(100, 0, true), { errno: EAGAIN }, "no loop");
  assert.equal(dec(rs[1].recv(100, 0, true).value!.data), "two");
  // Closing the only member socket of b leaves the group: no more copies.
  rs[0].close();
  s.send(enc("three"), 0, true, { family: AF_INET, addr: GROUP, port: 6000 });
  net.run();
  assert.deepEqual(rs[1].recv(100, 0, true), { errno: EAGAIN });
});

Deno.test("udp multicast: Linux's errors for bad memberships", () => {
  const { ub } = pair();
  const r = ub.socket(AF_INET);
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq("198.18.0.9")), {
    errno: EINVAL,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, new Uint8Array(5)), {
    errno: EINVAL,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP)), { value: 0 });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP)), {
    errno: EADDRINUSE,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq("239.9.9.9")), {
    errno: EADDRNOTAVAIL,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP, "198.18.0.77")), {
    errno: 19, // ENODEV: not a local address
  });
  for (let i = 1; i < MAX_MEMBERSHIPS; i++) {
    assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(`239.0.0.${i}`)), {
      value: 0,
    });
  }
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq("239.0.1.0")), {
    errno: ENOBUFS,
  });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_MULTICAST_TTL, 256), { errno: EINVAL });
});

Deno.test("udp multicast: an IGMP query is answered with a report for each group", () => {
  const { net, ua, b } = pair();
  const r = ua.socket(AF_INET);
  r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP));
  r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq("239.5.5.5"));
  const before = ipv4Frames(net, 0, 2).length;
  // b plays a querier: a general query to all-systems, TTL 1.
  const q = emitIgmp({ type: IGMP_QUERY, maxResp: 100, group: "0.0.0.0" });
  b.ipOutput({ version: 4, src: "198.18.0.1", dst: "224.0.0.1", proto: 2, ttl: 1 }, q);
  net.run();
  const after = ipv4Frames(net, 0, 2).slice(before).map((f) => parseIgmp(f.subarray(38))!.group);
  assert.deepEqual(after.sort(), ["239.1.2.3", "239.5.5.5"]);
});

Deno.test("udp multicast (v6): IPV6_JOIN_GROUP, an MLD report with hop limit 1, delivery", () => {
  const { net, ua, ub } = pair();
  const r = ub.socket(AF_INET6);
  assert.deepEqual(r.bind({ family: AF_INET6, addr: "::", port: 7000 }), { value: 0 });
  const m = new Uint8Array(20);
  m.set(ipToBytes("ff12::1234"), 0);
  assert.deepEqual(r.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, m), { value: 0 });
  // ICMPv6 behind a hop-by-hop header with the Router Alert (RFC 2710 §3).
  const mld = net.log.filter((l) => l.from === 1 && l.frame[12] === 0x86 && l.frame[14 + 6] === 0);
  assert.equal(mld.length, 1);
  assert.equal(mld[0].frame[14 + 7], 1, "hop limit 1");
  assert.deepEqual([...mld[0].frame.subarray(54, 60)], [58, 0, 5, 2, 0, 0], "HBH: Router Alert");
  assert.equal(mld[0].frame[14 + 48], 131, "MLD report");
  assert.deepEqual([...mld[0].frame.subarray(0, 6)], [0x33, 0x33, 0, 0, 0x12, 0x34]);
  const s = ua.socket(AF_INET6);
  assert.deepEqual(
    s.send(enc("six"), 0, true, { family: AF_INET6, addr: "ff12::1234", port: 7000 }),
    { value: 3 },
  );
  net.run();
  assert.equal(dec(r.recv(100, 0, true).value!.data), "six");
});

Deno.test("udp multicast: the looped copy reaches this host's members with checksums left to the NIC", () => {
  const net = new FakeEthernet(7);
  const a = net.add(["198.18.0.2/24"], 1500, true); // checksum offload
  const ua = Udp.of(a);
  const r = ua.socket(AF_INET);
  r.bind({ family: AF_INET, addr: "0.0.0.0", port: 6100 });
  assert.deepEqual(r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP)), { value: 0 });
  const s = ua.socket(AF_INET);
  s.send(enc("mine"), 0, true, { family: AF_INET, addr: GROUP, port: 6100 });
  net.run();
  a.poll(net.ctx.now());
  assert.equal(dec(r.recv(100, 0, true).value!.data), "mine");
});

Deno.test("udp multicast: connect to a group; the loopback as the interface; limited broadcast from a bound address", () => {
  const { net, a, ua, ub } = pair();
  const r = ub.socket(AF_INET);
  r.bind({ family: AF_INET, addr: "0.0.0.0", port: 6200 });
  r.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP));
  const c = ua.socket(AF_INET);
  assert.deepEqual(c.connect({ family: AF_INET, addr: GROUP, port: 6200 }, true), { value: 0 });
  assert.deepEqual(c.send(enc("connected"), 0, true), { value: 9 });
  net.run();
  assert.equal(dec(r.recv(100, 0, true).value!.data), "connected");
  // Joined on 127.0.0.1, sent by IP_MULTICAST_IF 127.0.0.1: this host only, nothing on the wire.
  const lo = ua.socket(AF_INET);
  lo.bind({ family: AF_INET, addr: "0.0.0.0", port: 6300 });
  assert.deepEqual(lo.setsockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP, "127.0.0.1")), {
    value: 0,
  });
  const ls = ua.socket(AF_INET);
  assert.deepEqual(
    ls.setsockopt(IPPROTO_IP, IP_MULTICAST_IF, new Uint8Array([127, 0, 0, 1])),
    { value: 0 },
  );
  const before = net.log.length;
  ls.send(enc("local"), 0, true, { family: AF_INET, addr: GROUP, port: 6300 });
  net.run();
  a.poll(net.ctx.now());
  assert.equal(dec(lo.recv(100, 0, true).value!.data), "local");
  assert.equal(net.log.length, before, "nothing left the host");
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
  // Source-specific joins are not modelled: said so; IP_OPTIONS is left to the service.
  assert.deepEqual(c.setsockopt(IPPROTO_IP, 39, new Uint8Array(12)), { errno: EOPNOTSUPP });
  assert.deepEqual(c.setsockopt(IPPROTO_IP, 4, new Uint8Array(4)), { errno: ENOPROTOOPT });
});

Deno.test("udp multicast (v6): a link-scope group is sent from the link-local address", () => {
  const net = new FakeEthernet(9);
  const a = net.add(["fd00:198:18::2/64", "fe80::2/64"]);
  const s = Udp.of(a).socket(AF_INET6);
  s.send(enc("x"), 0, true, { family: AF_INET6, addr: "ff02::fb", port: 5353 });
  const f = net.log.filter((l) => l.frame[12] === 0x86 && l.frame[14 + 6] === 17).at(-1)!.frame;
  assert.equal(ipFromBytes(f, 14 + 8, 6), "fe80::2");
});

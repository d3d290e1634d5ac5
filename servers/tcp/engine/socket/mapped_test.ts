/**
 * Dual-stack AF_INET6 sockets with IPv4-mapped addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5, IPv4-mapped),
 * over the simulator: the connection is IPv4 on the wire, the socket shows mapped addresses;
 * a socket bound to :: stays IPv6-only (FreeBSD's default net.inet6.ip6.v6only=1).
 */
import assert from "node:assert/strict";
import { Sim } from "../sim/sim.ts";
import { AF_INET, AF_INET6, SOCK_NONBLOCK, SOCK_STREAM } from "./api.ts";
import { EINPROGRESS } from "../errno.ts";

Deno.test("mapped: AF_INET6 sockets connect, accept and talk over IPv4 with ::ffff: addresses", () => {
  const sim = new Sim(3);
  const a = sim.addNode("a"), b = sim.addNode("b");
  sim.link(a, b);
  const [a4, b4] = [a.addrs[0], b.addrs[0]];
  const S = b.sockets, C = a.sockets;
  const l = S.socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  assert.equal(S.bind(l, { family: AF_INET6, addr: `::ffff:${b4}`, port: 80 }).errno, undefined);
  assert.equal(S.listen(l, 4).errno, undefined);
  assert.deepEqual(S.getsockname(l).value, { family: AF_INET6, addr: `::ffff:${b4}`, port: 80 });
  const c = C.socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  assert.equal(
    C.connect(c, { family: AF_INET6, addr: `::ffff:${b4}`, port: 80 }).errno,
    EINPROGRESS,
  );
  sim.runTo(50_000, 1000);
  const acc = S.accept(l);
  assert.equal(acc.errno, undefined);
  const { fd, peer } = acc.value!;
  assert.equal(peer.family, AF_INET6);
  assert.equal(peer.addr, `::ffff:${a4}`);
  assert.deepEqual(C.getpeername(c).value, { family: AF_INET6, addr: `::ffff:${b4}`, port: 80 });
  assert.equal(C.getsockname(c).value!.addr, `::ffff:${a4}`);
  assert.equal(C.send(c, new Uint8Array([1, 2, 3]), 0).value, 3);
  sim.runTo(100_000, 1000);
  assert.deepEqual([...S.recv(fd, 10, 0).value!.data], [1, 2, 3]);
  // IPv4 on the wire: the connection is in the IPv4 table.
  for (const conn of a.tcp.conns.values()) assert.equal(conn.version, 4);
});

Deno.test("mapped: an AF_INET6 socket bound to :: does not reach IPv4 destinations", () => {
  const sim = new Sim(4);
  const a = sim.addNode("a"), b = sim.addNode("b");
  sim.link(a, b);
  const S = b.sockets, C = a.sockets;
  const l = S.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  S.bind(l, { family: AF_INET, addr: b.addrs[0], port: 80 });
  S.listen(l, 4);
  const c = C.socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  assert.equal(C.bind(c, { family: AF_INET6, addr: "::", port: 0 }).errno, undefined);
  assert.equal(
    C.connect(c, { family: AF_INET6, addr: `::ffff:${b.addrs[0]}`, port: 80 }).errno,
    101,
  );
  // A plain IPv6 destination still works from an AF_INET6 socket.
  const d = C.socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  assert.equal(C.connect(d, { family: AF_INET6, addr: b.addrs[1], port: 80 }).errno, EINPROGRESS);
});

import fc from "fast-check";
import { assert, assertEquals } from "../../supervisor/_assert.ts";
import { flowHash, pickReusePort } from "./reuseport.ts";
import { ethernetStack } from "./_testnet.ts";
import { Stack } from "./stack.ts";
import { Sockets } from "./socket/sockets.ts";
import { Udp } from "./udp/udp.ts";
import { emitUdp } from "./wire/udp.ts";
import {
  AF_INET,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./socket/api.ts";

const m = (id: number, reusePort = true) => ({ id, reusePort });
const rp = (s: { reusePort: boolean }) => s.reusePort;

Deno.test("reuseport: one flow always reaches the same member; flows spread over all", () => {
  const g = [m(0), m(1), m(2)];
  const seen = new Map<number, number>();
  for (let p = 40000; p < 40300; p++) {
    const a = pickReusePort(g, g[2], rp, "198.18.0.2", 80, "198.18.0.1", p)!;
    assertEquals(pickReusePort(g, g[2], rp, "198.18.0.2", 80, "198.18.0.1", p), a);
    seen.set(a.id, (seen.get(a.id) ?? 0) + 1);
  }
  // 300 flows over 3 members: each gets a fair share (a deterministic hash, fixed inputs).
  for (const id of [0, 1, 2]) assert((seen.get(id) ?? 0) > 60, `member ${id}: ${seen.get(id)}`);
});

Deno.test("reuseport: a group not all SO_REUSEPORT, a single socket, no peer: the fallback", () => {
  const mixed = [m(0), m(1, false)];
  assertEquals(pickReusePort(mixed, mixed[1], rp, "::", 80, "fd00:198:18::1", 1234), mixed[1]);
  assertEquals(pickReusePort([m(0)], m(9), rp, "::", 80, "fd00:198:18::1", 1234)?.id, 9);
  assertEquals(pickReusePort([m(0), m(1)], m(9), rp, "::", 80, undefined, 0)?.id, 9);
});

Deno.test("reuseport: after a member leaves, every flow reaches a remaining member", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 8 }),
      fc.nat(),
      fc.integer({ min: 1, max: 65535 }),
      (n, gone, fport) => {
        const g = Array.from({ length: n }, (_, i) => m(i));
        const rest = g.filter((x) => x.id !== gone % n);
        const a = pickReusePort(rest, rest[0], rp, "198.18.0.2", 53, "198.18.0.1", fport)!;
        assert(rest.includes(a));
        const h = flowHash("198.18.0.2", 53, "198.18.0.1", fport);
        assertEquals(a, rest.length === 1 ? rest[0] : rest[h % rest.length]);
      },
    ),
    { seed: 8, numRuns: 300 },
  );
});

/** A stack with one IPv4 interface and its socket table. */
function sockets(): Sockets {
  return new Sockets(ethernetStack());
}

Deno.test("reuseport: TCP listeners of a group share new connections by flow; one closes, the rest take its flows", () => {
  const api = sockets();
  const any = { family: AF_INET, addr: "0.0.0.0", port: 8080 } as const;
  const fds = [0, 1, 2].map(() => {
    const fd = api.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
    assertEquals(api.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1).errno, undefined);
    assertEquals(api.bind(fd, any).errno, undefined);
    assertEquals(api.listen(fd, 8).errno, undefined);
    return fd;
  });
  const pick = (p: number) => api.tcp.findListener(4, "198.18.0.2", 8080, "198.18.0.1", p)?.fd;
  const first = Array.from({ length: 60 }, (_, i) => pick(40000 + i));
  assertEquals(new Set(first).size, 3, `${first}`);
  // The same flow again (the handshake's ACK) reaches the same listener.
  assertEquals(Array.from({ length: 60 }, (_, i) => pick(40000 + i)), first);
  api.close(fds[1]);
  const after = Array.from({ length: 60 }, (_, i) => pick(40000 + i));
  assertEquals(new Set(after), new Set([fds[0], fds[2]]));
  // Without a peer (a lookup that is not a new connection) and without SO_REUSEPORT: as before.
  assertEquals(api.tcp.findListener(4, "198.18.0.2", 8080)?.fd, fds[2]);
});

Deno.test("reuseport: UDP datagrams spread over a group; the same flow always reaches the same socket", () => {
  const api = sockets();
  const fds = [0, 1, 2].map(() => {
    const fd = api.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0).value!;
    api.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    assertEquals(api.bind(fd, { family: AF_INET, addr: "0.0.0.0", port: 5353 }).errno, undefined);
    return fd;
  });
  // Datagrams from the peer, through the stack's input: the socket that has one is the member.
  const udp = Udp.of(api.stack as Stack);
  const meta = { version: 4, src: "198.18.0.1", dst: "198.18.0.2", proto: 17, ttl: 64, ecn: 0 };
  const member = (sport: number) => {
    const seg = new Uint8Array(8 + 2);
    emitUdp({ srcPort: sport, dstPort: 5353, payloadLength: 2 }, seg);
    udp.input({ ...meta, version: 4, ifIndex: 1 }, seg);
    const got = fds.filter((fd) => api.recv(fd, 100, 0).errno === undefined);
    assertEquals(got.length, 1, `port ${sport}: ${got}`);
    return got[0];
  };
  const first = Array.from({ length: 30 }, (_, i) => member(30000 + i));
  assertEquals(new Set(first).size, 3, `${first}`);
  assertEquals(Array.from({ length: 30 }, (_, i) => member(30000 + i)), first);
});

import { assert, assertEquals } from "../supervisor/_assert.ts";
import { FakeContext } from "./engine/context.ts";
import { Stack } from "./engine/stack.ts";
import { Sockets } from "./engine/socket/sockets.ts";
import { Udp } from "./engine/udp/udp.ts";
import { EAGAIN } from "./engine/errno.ts";
import {
  AF_INET,
  IPPROTO_UDP,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./engine/socket/api.ts";
import { Services } from "./services.ts";

/** Two stacks on one wire, a fake clock; Joyride's side runs the services. */
function world() {
  const ctx = new FakeContext(7, 1_000_000);
  const queue: { to: number; frame: Uint8Array }[] = [];
  const stacks: Stack[] = [];
  const ifs: number[] = [];
  for (const [i, addr] of ["198.18.0.2/24", "198.18.0.1/24"].entries()) {
    const s = new Stack(ctx);
    ifs.push(s.addInterface({
      kind: "ethernet",
      mtu: 1500,
      mac: Uint8Array.of(2, 0, 0, 0, 0, i + 1),
      caps: { txChecksum: false, rxChecksum: false, tso: false },
      transmit: (f) => queue.push({ to: 1 - i, frame: f.slice() }),
    }, { addrs: [addr] }));
    stacks.push(s);
  }
  const sockets = stacks.map((s) => {
    const so = new Sockets(s);
    so.register(SOCK_DGRAM, IPPROTO_UDP, Udp.of(s).factory);
    return so;
  });
  const services = new Services(sockets[0]);
  sockets[0].onEvent = (fd, ev) => services.onEvent(fd, ev);
  assertEquals(services.start("198.18.0.2", { echo: true, discard: true }), []);
  /** Runs the wire, the services and the timers until nothing is left to do now. */
  const settle = () => {
    for (let i = 0; i < 100_000; i++) {
      if (queue.length > 0) {
        const { to, frame } = queue.shift()!;
        stacks[to].receive(ifs[to], frame);
        continue;
      }
      if (services.run() > 0) continue;
      for (const s of stacks) s.poll(ctx.now());
      if (queue.length === 0 && !services.busy) return;
    }
    throw new Error("no quiescence");
  };
  /** Moves the clock to the next timer (delayed ACKs, retransmissions). */
  const tick = () => {
    const ds = stacks.map((s) => s.nextDeadline()).filter((d) => d !== undefined) as number[];
    if (ds.length > 0) ctx.set(Math.max(ctx.now(), Math.min(...ds)));
    settle();
  };
  return { client: sockets[1], services, settle, tick };
}

function seeded(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const to = (port: number) => ({ family: AF_INET, addr: "198.18.0.2", port } as const);

Deno.test("services: TCP echo returns 600 KB byte-exact through a bounded window, then closes", () => {
  const w = world();
  const c = w.client;
  const fd = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  c.connect(fd, to(7));
  w.settle();
  const data = seeded(600_000, 1);
  const got: Uint8Array[] = [];
  let sent = 0, received = 0, eof = false, shut = false;
  for (let round = 0; round < 20_000 && !eof; round++) {
    if (sent < data.length) {
      const r = c.send(fd, data.subarray(sent, Math.min(data.length, sent + 32_768)));
      if (r.errno === undefined) sent += r.value;
    } else if (!shut) {
      c.shutdown(fd, SHUT_WR);
      shut = true;
    }
    for (;;) {
      const r = c.recv(fd, 65_536, 0);
      if (r.errno !== undefined) break;
      if (r.value.data.length === 0) {
        eof = true;
        break;
      }
      got.push(r.value.data.slice());
      received += r.value.data.length;
    }
    w.settle();
    if (round % 8 === 7) w.tick();
  }
  assert(eof, `echo connection closed after ${received} bytes`);
  const all = new Uint8Array(received);
  let o = 0;
  for (const g of got) {
    all.set(g, o);
    o += g.length;
  }
  assertEquals(received, data.length);
  assert(all.every((b, i) => b === data[i]), "echoed bytes equal the sent ones");
  assertEquals(w.services.counters.tcpBytesOut, data.length);
  assertEquals(w.services.connections, 0);
  c.close(fd);
});

Deno.test("services: TCP discard takes everything and sends nothing; UDP echo and discard", () => {
  const w = world();
  const c = w.client;
  const fd = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  c.connect(fd, to(9));
  w.settle();
  const data = seeded(100_000, 2);
  let sent = 0, eof = false, back = 0;
  for (let round = 0; round < 5000 && !eof; round++) {
    if (sent < data.length) {
      const r = c.send(fd, data.subarray(sent));
      if (r.errno === undefined) sent += r.value;
      if (sent === data.length) c.shutdown(fd, SHUT_WR);
    }
    const r = c.recv(fd, 65_536, 0);
    if (r.errno === undefined) {
      if (r.value.data.length === 0) eof = true;
      back += r.value.data.length;
    }
    w.settle();
    if (round % 8 === 7) w.tick();
  }
  assert(eof, "discard closed after the client's FIN");
  assertEquals(back, 0);
  assertEquals(w.services.counters.tcpBytesIn, data.length);

  const u = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0).value!;
  for (const [port, expect] of [[7, true], [9, false]] as const) {
    const msg = seeded(300 + port, port);
    assertEquals(c.send(u, msg, 0, to(port)).value, msg.length);
    w.settle();
    const r = c.recv(u, 2048, 0);
    if (expect) {
      assert(r.errno === undefined, `UDP echo answered (errno ${r.errno})`);
      assert(r.value!.data.every((b, i) => b === msg[i]) && r.value!.data.length === msg.length);
      assertEquals(r.value!.from?.port, 7);
    } else assertEquals(r.errno, EAGAIN);
  }
  assertEquals(w.services.counters.udpDatagramsIn, 2);
  assertEquals(w.services.counters.udpDatagramsOut, 1);
});

import assert from "node:assert/strict";
import { FakeEthernet } from "../_testnet.ts";
import { Udp } from "./udp.ts";
import { AF_INET, IPPROTO_UDP, POLLIN, SOCK_DGRAM, type SockAddr } from "../socket/api.ts";
import { Sockets } from "../socket/sockets.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function pair() {
  const net = new FakeEthernet(3);
  const a = net.add(["198.18.0.2/24", "fd00:198:18::2/64"]);
  const b = net.add(["198.18.0.1/24", "fd00:198:18::1/64"]);
  return { net, a, b };
}

Deno.test("udp: works through the engine socket layer (Sockets.register)", () => {
  const { net, a, b } = pair();
  const sa = new Sockets(a), sb = new Sockets(b);
  sa.register(SOCK_DGRAM, IPPROTO_UDP, Udp.of(a).factory);
  sb.register(SOCK_DGRAM, IPPROTO_UDP, Udp.of(b).factory);
  const srv = sb.socket(AF_INET, SOCK_DGRAM, 0).value!;
  assert.deepEqual(sb.bind(srv, { family: AF_INET, addr: "0.0.0.0", port: 7 }), { value: 0 });
  const events: number[] = [];
  sb.onEvent = (_fd, ev) => events.push(ev);
  const cli = sa.socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP).value!;
  const to: SockAddr = { family: AF_INET, addr: "198.18.0.1", port: 7 };
  assert.deepEqual(sa.send(cli, enc("ping"), 0, to), { value: 4 });
  net.run();
  assert.ok(events.some((e) => (e & POLLIN) !== 0));
  const r = sb.recv(srv, 100, 0);
  assert.equal(dec(r.value!.data), "ping");
  assert.equal(r.value!.from!.addr, "198.18.0.2");
});

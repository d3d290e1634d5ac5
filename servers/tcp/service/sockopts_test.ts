import { assertEquals } from "../../supervisor/_assert.ts";
import { ScriptPeer, value } from "../engine/tcp/_testpeer.ts";
import { ethernetStack } from "../engine/_testnet.ts";
import { Sockets } from "../engine/socket/sockets.ts";
import {
  AF_INET,
  IPPROTO_IP,
  IPPROTO_TCP,
  SO_LINGER,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_CONGESTION,
  TCP_CORK,
} from "../engine/socket/api.ts";
import {
  getOption,
  inheritOptions,
  type OptionHost,
  type OptionSock,
  type RawOption,
  setOption,
} from "./sockopts.ts";

const ENOPROTOOPT = 92, EOPNOTSUPP = 95, ENODEV = 19;

/** A host over a ScriptPeer's engine sockets that records what the rules asked of it. */
function host(p: ScriptPeer) {
  const asked: string[] = [];
  const h: OptionHost<OptionSock> = {
    api: p.sockets,
    pump: () => asked.push("pump"),
    cork: (_s, on) => (asked.push(`cork ${on}`), 0),
    keepDgramOption: (_s, level, name) => asked.push(`keep ${level}/${name}`),
    takeError: () => 0,
  };
  return { h, asked };
}

const int = (n: number): RawOption => ({ int: n });
const bytes = (b: number[] | Uint8Array): RawOption => ({ bytes: Uint8Array.from(b) });

Deno.test("sockopts: options the engine does not model read back as set, Linux's defaults before", () => {
  const p = new ScriptPeer();
  const { h } = host(p);
  const s: OptionSock = { fd: p.socket(), type: SOCK_STREAM };
  assertEquals(getOption(h, s, IPPROTO_TCP, 8), { value: 60 }); // TCP_LINGER2
  assertEquals(getOption(h, s, IPPROTO_TCP, 25), { value: 0 }); // TCP_NOTSENT_LOWAT
  assertEquals(setOption(h, s, IPPROTO_TCP, 8, int(7)), 0);
  assertEquals(getOption(h, s, IPPROTO_TCP, 8), { value: 7 });
  // Linux reads SO_SNDBUF back doubled.
  assertEquals(setOption(h, s, SOL_SOCKET, SO_SNDBUF, int(65536)), 0);
  assertEquals(getOption(h, s, SOL_SOCKET, SO_SNDBUF), { value: 131072 });
  // Past the last option Linux has at a level: ENOPROTOOPT, as programs probing expect.
  assertEquals(setOption(h, s, IPPROTO_TCP, 200, int(1)), ENOPROTOOPT);
  // SO_INCOMING_CPU and SO_INCOMING_NAPI_ID read 0 (the JVM probes the latter at start); the
  // NAPI id cannot be set.
  assertEquals(getOption(h, s, SOL_SOCKET, 49), { value: 0 });
  assertEquals(getOption(h, s, SOL_SOCKET, 56), { value: 0 });
  assertEquals(setOption(h, s, SOL_SOCKET, 56, int(1)), ENOPROTOOPT);
});

Deno.test("sockopts: wrong levels, read-only options, devices and congestion names as Linux says", () => {
  const p = new ScriptPeer();
  const { h, asked } = host(p);
  const s: OptionSock = { fd: p.socket(), type: SOCK_STREAM };
  // Datagram sockets need a whole stack (the script peer's has TCP only).
  const udp = new Sockets(ethernetStack());
  const uh: OptionHost<OptionSock> = { ...h, api: udp };
  const u: OptionSock = { fd: value(udp.socket(AF_INET, SOCK_DGRAM, 0)), type: SOCK_DGRAM };
  assertEquals(setOption(uh, u, IPPROTO_TCP, 1, int(1)), ENOPROTOOPT); // TCP_NODELAY on UDP
  assertEquals(getOption(uh, u, IPPROTO_TCP, 1), { errno: EOPNOTSUPP });
  assertEquals(setOption(h, s, SOL_SOCKET, 30, int(1)), ENOPROTOOPT); // SO_ACCEPTCONN
  assertEquals(setOption(h, s, SOL_SOCKET, 60, int(1)), EOPNOTSUPP); // SO_ZEROCOPY: no errqueue
  assertEquals(getOption(h, s, SOL_SOCKET, 60), { value: 0 });
  const dev = new TextEncoder().encode("nosuch0\0");
  assertEquals(setOption(h, s, SOL_SOCKET, 25, bytes(dev)), ENODEV); // SO_BINDTODEVICE
  assertEquals(getOption(h, s, SOL_SOCKET, 25), { value: new Uint8Array() });
  // "reno" is the engine's newreno, read back by Linux's name in 16 bytes.
  assertEquals(
    setOption(h, s, IPPROTO_TCP, TCP_CONGESTION, bytes(new TextEncoder().encode("reno"))),
    0,
  );
  const cc = getOption(h, s, IPPROTO_TCP, TCP_CONGESTION).value as Uint8Array;
  assertEquals(new TextDecoder().decode(cc).replace(/\0+$/, ""), "reno");
  assertEquals(cc.length, 16);
  // TCP_CORK is the service's; a datagram's options wait for what was sent before them.
  assertEquals(setOption(h, s, IPPROTO_TCP, TCP_CORK, int(1)), 0);
  assertEquals(setOption(uh, u, IPPROTO_IP, 2, int(9)), 0); // IP_TTL
  assertEquals(asked, ["cork true", "pump", "keep 0/2"]);
  // A datagram socket's SO_LINGER: no effect, read back.
  assertEquals(setOption(uh, u, SOL_SOCKET, SO_LINGER, bytes([1, 0, 0, 0, 5, 0, 0, 0])), 0);
  assertEquals(getOption(uh, u, SOL_SOCKET, SO_LINGER), {
    value: Uint8Array.from([1, 0, 0, 0, 5, 0, 0, 0]),
  });
});

Deno.test("sockopts: an accepted socket takes the listener's kept options but those Linux does not copy", () => {
  const p = new ScriptPeer();
  const { h } = host(p);
  const l: OptionSock = { fd: p.socket(), type: SOCK_STREAM };
  setOption(h, l, IPPROTO_TCP, 8, int(7)); // TCP_LINGER2: copied
  setOption(h, l, SOL_SOCKET, 12, int(5)); // SO_PRIORITY: not copied
  setOption(h, l, IPPROTO_TCP, 9, int(3)); // TCP_DEFER_ACCEPT: not copied
  const child: OptionSock = { fd: p.socket(), type: SOCK_STREAM };
  inheritOptions(l, child);
  assertEquals(getOption(h, child, IPPROTO_TCP, 8), { value: 7 });
  assertEquals(getOption(h, child, SOL_SOCKET, 12), { value: 0 });
  assertEquals(getOption(h, child, IPPROTO_TCP, 9), { value: 0 });
});

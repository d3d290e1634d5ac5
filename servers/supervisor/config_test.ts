import { assertEquals, assertThrows } from "./_assert.ts";
import {
  configFrom,
  defaultConfig,
  loadConfig,
  memifLink,
  memifPair,
  parseConfig,
  parseIpv6,
} from "./config.ts";

Deno.test("config: defaults are valid and match DESIGN §8", () => {
  const c = configFrom({});
  assertEquals(c, defaultConfig());
  assertEquals(c.topology.joyrideAddress, "198.18.0.2");
  assertEquals(c.topology.peerAddress, "198.18.0.1");
  assertEquals(c.topology.mtu, 1500);
});

Deno.test("config: a partial file overrides only its fields, and keeps NIC extras", () => {
  const c = configFrom({ topology: { mtu: 9000 }, nic: { port: "af_xdp", queues: 2 } });
  assertEquals(c.topology.mtu, 9000);
  assertEquals(c.topology.peerAddress, "198.18.0.1");
  assertEquals(c.nic.queues, 2);
});

Deno.test("config: bad values name the field", () => {
  const cases: [unknown, string][] = [
    [{ topology: { mtu: 70000 } }, "topology.mtu must be an integer in 576..9000, got 70000"],
    [{ topology: { mtu: "big" } }, 'topology.mtu must be a number, got "big"'],
    [{ topology: { mtuu: 1 } }, "topology.mtuu is not a known field"],
    // An address outside 198.18.0.0/15, built so no literal outside the range appears here.
    [
      { topology: { joyrideAddress: [10, 0, 0, 2].join(".") } },
      "topology.joyrideAddress must be in 198.18",
    ],
    [{ topology: { peerAddress: "198.19.5.1" } }, "topology.peerAddress must be in the same /24"],
    [{ topology: { peerMac: "01:00:00:00:00:01" } }, "topology.peerMac must be a unicast MAC"],
    [{ nic: { port: "wifi" } }, "nic.port must be one of af_packet"],
    [{ instance: "Has Space" }, "instance must be 1-20"],
    [{ tcp: { services: { echo: "yes" } } }, "tcp.services.echo must be a boolean"],
    [{ supervisor: { heartbeatTimeoutMs: 100 } }, "supervisor.heartbeatTimeoutMs must be over"],
    [[1], "configuration must be an object"],
  ];
  for (const [input, msg] of cases) assertThrows(() => configFrom(input), msg);
  assertThrows(
    () => parseConfig("{", "x.json"),
    "Cannot load configuration x.json: not valid JSON",
  );
  assertThrows(
    () => parseConfig('{"topology":{"mtu":1}}', "x.json"),
    "Cannot load configuration x.json: topology.mtu",
  );
  assertThrows(() => loadConfig(undefined, "BAD"), "Cannot use --instance: instance");
  assertThrows(() => loadConfig("/nonexistent/joyride.json"), "/nonexistent/joyride.json");
});

Deno.test("config: IPv6 topology (R3) — defaults, none, and bad values name the field", () => {
  const c = configFrom({});
  assertEquals(c.topology.joyrideAddress6, "fd00:198:18::2/64");
  assertEquals(c.topology.peerAddress6, "fd00:198:18::1/64");
  const none = configFrom({ topology: { joyrideAddress6: "", peerAddress6: "" } });
  assertEquals(none.topology.joyrideAddress6, "");
  assertEquals(parseIpv6("fd00:198:18::2"), [0xfd00, 0x198, 0x18, 0, 0, 0, 0, 2]);
  assertEquals(parseIpv6("1:2:3:4:5:6:7:8"), [1, 2, 3, 4, 5, 6, 7, 8]);
  for (const bad of ["1::2::3", "1:2:3:4:5:6:7", "12345::", "g::1", "1:2:3:4:5:6:7:8::"]) {
    assertEquals(parseIpv6(bad), undefined, bad);
  }
  const cases: [unknown, string][] = [
    [{ topology: { joyrideAddress6: "fd00:198:18::2" } }, "topology.joyrideAddress6 must be an"],
    [{ topology: { joyrideAddress6: "fd00:1::2/64" } }, "topology.joyrideAddress6 must be in"],
    [{ topology: { peerAddress6: "" } }, "topology.peerAddress6 must be an IPv6"],
    [{ topology: { peerAddress6: "fd00:198:18::2/64" } }, "topology.peerAddress6 must differ"],
    [
      { topology: { joyrideAddress6: "fd00:198:18::1:2/112", peerAddress6: "fd00:198:18::1/112" } },
      "topology.peerAddress6 must be in the same /112",
    ],
    [{ topology: { peerAddress6: "fd00:198:18::1/96" } }, "topology.peerAddress6 must have"],
  ];
  for (const [input, msg] of cases) assertThrows(() => configFrom(input), msg);
});

Deno.test("config: memif link defaults, a pair's two ends mirror each other, bad fields named", () => {
  assertEquals(memifLink(configFrom({})), undefined);
  assertEquals(memifLink(configFrom({ nic: { port: "memif" } })), {
    role: "server",
    socket: "/run/joyride/memif.sock",
    id: 0,
    gso: false,
  });
  const [ia, ib] = memifPair("a", "b", "/run/joyride/memif-ab.sock", { tcp: { spinMicros: 7 } });
  const a = configFrom(ia), b = configFrom(ib);
  assertEquals(memifLink(a), {
    role: "server",
    socket: "/run/joyride/memif-ab.sock",
    id: 0,
    gso: true,
  });
  assertEquals(memifLink(b)?.gso, true); // both ends carry whole TSO frames
  assertEquals(memifLink(b)?.role, "client");
  assertEquals(memifLink(b)?.socket, memifLink(a)?.socket);
  assertEquals([a.topology.joyrideAddress, b.topology.joyrideAddress], [
    "198.18.0.2",
    "198.18.0.1",
  ]);
  assertEquals(a.topology.peerAddress, b.topology.joyrideAddress);
  assertEquals(b.topology.peerAddress, a.topology.joyrideAddress);
  assertEquals(a.topology.peerMac, b.topology.joyrideMac);
  assertEquals(b.topology.peerMac, a.topology.joyrideMac);
  assertEquals(a.topology.peerAddress6, b.topology.joyrideAddress6);
  assertEquals(b.tcp.spinMicros, 7);
  // On 2 CPUs each instance's servers and apps share one CPU, a different one per instance.
  assertEquals([a.affinity.servers, b.affinity.servers], [{ nic: "0", tcp: "0", apps: "0" }, {
    nic: "1",
    tcp: "1",
    apps: "1",
  }]);
  assertEquals([a.affinity.mode, a.affinity.autoCpus], ["auto", 2]);
  const cases: [unknown, string][] = [
    [{ nic: { port: "memif", memif: { role: "peer" } } }, 'nic.memif.role must be "server"'],
    [{ nic: { port: "memif", memif: { socket: "rel.sock" } } }, "nic.memif.socket must be an"],
    [{ nic: { port: "memif", memif: { id: -1 } } }, "nic.memif.id must be an integer"],
    [{ nic: { port: "memif", memif: { sock: "/x" } } }, "nic.memif.sock is not a known field"],
    [{ nic: { port: "memif", memif: [] } }, "nic.memif must be an object"],
    [{ nic: { port: "memif", memif: { gso: "yes" } } }, "nic.memif.gso must be true or false"],
  ];
  for (const [input, msg] of cases) assertThrows(() => configFrom(input), msg);
});

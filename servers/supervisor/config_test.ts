import { assertEquals, assertThrows } from "./_assert.ts";
import { configFrom, defaultConfig, loadConfig, parseConfig } from "./config.ts";

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
    [{ topology: { joyrideAddress: "10.0.0.2" } }, "topology.joyrideAddress must be in 198.18"],
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

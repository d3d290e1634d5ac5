import { assertEquals, assertThrows } from "./_assert.ts";
import fc from "fast-check";
import {
  type AffinityConfig,
  affinityPrefix,
  defaultAffinity,
  parseCpuList,
  serverCpus,
  sharesNicCpu,
} from "./affinity.ts";
import { configFrom } from "./config.ts";

const pinned = (mode: AffinityConfig["mode"]): AffinityConfig => ({
  mode,
  autoCpus: 2,
  servers: { tcp: "0", nic: "1" },
});

Deno.test("affinity: CPU lists parse like taskset's, bad ones do not", () => {
  assertEquals(parseCpuList("0"), [0]);
  assertEquals(parseCpuList("1-3"), [1, 2, 3]);
  assertEquals(parseCpuList("3,0-1,1"), [0, 1, 3]);
  for (const bad of ["", "a", "1-", "-1", "3-1", "0,,1", " 0"]) {
    assertEquals(parseCpuList(bad), undefined, bad);
  }
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { minLength: 1 }), (cpus) => {
      assertEquals(parseCpuList(cpus.join(",")), [...cpus].sort((a, b) => a - b));
    }),
    { seed: 9, numRuns: 200 },
  );
});

Deno.test("affinity: auto pins only on autoCpus CPUs, on always, off never", () => {
  const auto = pinned("auto");
  assertEquals(affinityPrefix(auto, "tcp", 2), ["taskset", "-c", "0"]);
  assertEquals(affinityPrefix(auto, "nic", 2), ["taskset", "-c", "1"]);
  assertEquals(affinityPrefix(auto, "naming", 2), []); // not named: not pinned
  assertEquals(affinityPrefix(auto, "tcp", 4), []); // more CPUs: the scheduler decides
  assertEquals(affinityPrefix(auto, "tcp", 1), []);
  assertEquals(affinityPrefix(pinned("on"), "nic", 8), ["taskset", "-c", "1"]);
  assertEquals(affinityPrefix(pinned("off"), "nic", 2), []);
  // apps: the CPUs ./joyride run starts programs on, by the same rule
  const apps: AffinityConfig = { mode: "auto", autoCpus: 2, servers: { apps: "1" } };
  assertEquals(affinityPrefix(apps, "apps", 2), ["taskset", "-c", "1"]);
  assertEquals(affinityPrefix(apps, "apps", 8), []);
  assertEquals(configFrom({ affinity: { servers: { apps: "0" } } }).affinity.servers, {
    apps: "0",
  });
  // CPUs the machine lacks are dropped; a list covering every CPU is no pinning.
  const wide: AffinityConfig = { mode: "on", autoCpus: 2, servers: { tcp: "1-5", nic: "0-1" } };
  assertEquals(serverCpus(wide, "tcp", 4), [1, 2, 3]);
  assertEquals(serverCpus(wide, "tcp", 1), undefined);
  assertEquals(serverCpus(wide, "nic", 2), undefined);
});

Deno.test("affinity: the configuration section has defaults and names bad fields", () => {
  assertEquals(configFrom({}).affinity, defaultAffinity());
  const c = configFrom({ affinity: { mode: "on", servers: { tcp: "0,1" } } });
  assertEquals(c.affinity, { mode: "on", autoCpus: 2, servers: { tcp: "0,1" } });
  const cases: [unknown, string][] = [
    [{ affinity: { mode: "always" } }, "affinity.mode must be"],
    [{ affinity: { autoCpus: 0 } }, "affinity.autoCpus must be an integer"],
    [{ affinity: { servers: { tcp: "x" } } }, "affinity.servers.tcp must be a CPU list"],
    [{ affinity: { servers: { tcp: 1 } } }, "affinity.servers.tcp must be a CPU list"],
    [{ affinity: { servers: { app: "0" } } }, "affinity.servers.app is not a server"],
    [{ affinity: { cpus: 2 } }, "affinity.cpus is not a known field"],
  ];
  for (const [input, msg] of cases) assertThrows(() => configFrom(input), msg);
});

Deno.test("affinity: the TCP/IP server shares a CPU with its NIC server only when both are pinned to it", () => {
  const a = (servers: Record<string, string>, mode: "auto" | "on" | "off" = "auto") => ({
    mode,
    autoCpus: 2,
    servers,
  });
  assertEquals(sharesNicCpu(a({ nic: "0", tcp: "0" }), 2), true);
  assertEquals(sharesNicCpu(a({ nic: "0", tcp: "1" }), 2), false);
  assertEquals(sharesNicCpu(a({ tcp: "0" }), 2), false);
  assertEquals(sharesNicCpu(a({ nic: "0", tcp: "0" }), 4), false);
  assertEquals(sharesNicCpu(a({ nic: "0", tcp: "0" }, "off"), 2), false);
  assertEquals(sharesNicCpu(a({ nic: "2,3", tcp: "1-3" }, "on"), 4), true);
});

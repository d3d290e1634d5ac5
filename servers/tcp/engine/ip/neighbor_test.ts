import assert from "node:assert/strict";
import { NeighborCache, type NeighborConfig } from "./neighbor.ts";
import { Timers } from "../timers.ts";
import { Counters } from "../counters.ts";
import { EHOSTUNREACH, ENOBUFS } from "../errno.ts";

const CFG: NeighborConfig = {
  maxEntries: 2,
  maxHold: 2,
  retransUs: 1000,
  maxSolicits: 3,
  reachableUs: 30_000,
  downUs: 20_000,
  delayUs: 5000,
};
const MAC1 = new Uint8Array([2, 0, 0, 0, 0, 1]);
const MAC2 = new Uint8Array([2, 0, 0, 0, 0, 2]);

function cache() {
  const t = new Timers();
  const c = new Counters();
  const log: string[] = [];
  const n = new NeighborCache({ ...CFG }, t, c, "nd", {
    solicit: (ip, mac) => log.push(`solicit ${ip} ${mac ? "unicast" : "multicast"}`),
    transmit: (mac, p) => log.push(`tx ${mac[5]} ${p[0]}`),
    failed: (ip, d) => log.push(`failed ${ip} ${d.length}`),
  });
  return { t, c, log, n };
}

Deno.test("neighbor: incomplete → reachable releases held packets in order; oldest dropped when full", () => {
  const { c, log, n } = cache();
  assert.equal(n.output("a", new Uint8Array([1]), 0), 0);
  n.output("a", new Uint8Array([2]), 0);
  n.output("a", new Uint8Array([3]), 0);
  assert.equal(c.get("nd.holdDropped"), 1);
  n.update("a", MAC1, 10, { confirmed: true, override: true, create: false });
  assert.deepEqual(log, ["solicit a multicast", "tx 1 2", "tx 1 3"]);
  assert.equal(n.lookup("a")?.[5], 1);
});

Deno.test("neighbor: unanswered solicitations fail, hold down, then retry", () => {
  const { t, log, n } = cache();
  n.output("a", new Uint8Array([1]), 0);
  t.run(3000);
  assert.deepEqual(log, [
    "solicit a multicast",
    "solicit a multicast",
    "solicit a multicast",
    "failed a 1",
  ]);
  assert.equal(n.output("a", new Uint8Array([2]), 3000), EHOSTUNREACH);
  t.run(23_000);
  assert.equal(n.output("a", new Uint8Array([3]), 23_000), 0);
  assert.equal(n.entries()[0].state, "incomplete");
});

Deno.test("neighbor: non-override advertisement with another address only marks stale", () => {
  const { n } = cache();
  n.update("a", MAC1, 0, { confirmed: true, override: true, create: true });
  assert.equal(n.entries()[0].state, "reachable");
  n.update("a", MAC2, 1, { confirmed: true, override: false, create: false });
  assert.equal(n.entries()[0].state, "stale");
  assert.equal(n.lookup("a")?.[5], 1);
  n.update("a", MAC2, 2, { confirmed: true, override: true, create: false });
  assert.equal(n.lookup("a")?.[5], 2);
  assert.equal(n.entries()[0].state, "reachable");
});

Deno.test("neighbor: full cache evicts an idle stale entry, else refuses", () => {
  const { c, n } = cache();
  n.update("a", MAC1, 0, { confirmed: false, override: true, create: true }); // stale
  n.output("b", new Uint8Array([1]), 0); // incomplete, holding
  assert.equal(n.output("c", new Uint8Array([1]), 0), 0); // evicts a
  assert.equal(c.get("nd.evicted"), 1);
  assert.equal(n.output("d", new Uint8Array([1]), 0), ENOBUFS); // b and c hold packets
  assert.equal(c.get("nd.cacheFull"), 1);
});

Deno.test("neighbor: stale in use → delay → unicast probe; no answer deletes it", () => {
  const { t, log, n } = cache();
  n.update("a", MAC1, 0, { confirmed: true, override: true, create: true });
  t.run(30_000);
  assert.equal(n.entries()[0].state, "stale");
  n.output("a", new Uint8Array([7]), 30_000);
  assert.equal(n.entries()[0].state, "delay");
  t.run(35_000);
  assert.equal(n.entries()[0].state, "probe");
  t.run(40_000);
  assert.deepEqual(log.filter((l) => l.startsWith("solicit")), [
    "solicit a unicast",
    "solicit a unicast",
    "solicit a unicast",
  ]);
  assert.equal(n.size, 0);
});

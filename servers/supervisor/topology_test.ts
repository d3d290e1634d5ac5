import { assert, assertEquals } from "./_assert.ts";
import { configFrom } from "./config.ts";
import {
  createTopology,
  existingNamespaces,
  peerKeepsOffloads,
  removeTopology,
  sh,
  topologyNames,
} from "./topology.ts";

Deno.test("topology: created inside its namespaces, offloads off on Joyride's end, root namespace untouched, removed", async () => {
  // Unique per test process: two runs of the suite at once must not share namespaces.
  const instance = `topo${Deno.pid}`;
  const config = configFrom({ instance });
  const n = topologyNames(instance);
  try {
    await createTopology(config);
    assertEquals((await existingNamespaces(instance)).sort(), [n.ns, n.peerNs].sort());
    const j = await sh(["ip", "-n", n.ns, "-o", "link", "show", n.joyrideIf], "show");
    assert(j.includes("mtu 1500") && j.includes(config.topology.joyrideMac), j);
    assert(j.includes("state UP") || j.includes("LOWER_UP"), j);
    // Joyride's side has no kernel IPv4 address: the TCP/IP server owns 198.18.0.2.
    const ja = await sh(["ip", "-n", n.ns, "-o", "addr", "show", n.joyrideIf], "show");
    assert(!ja.includes("inet "), ja);
    const pa = await sh(["ip", "-n", n.peerNs, "-o", "addr", "show", n.peerIf], "show");
    assert(pa.includes("198.18.0.1/24"), pa);
    const off = await sh(
      ["ip", "netns", "exec", n.peerNs, "ethtool", "-k", n.peerIf],
      "show offloads",
    );
    // af_packet with the NIC server's kernel-GRO socket: the peer keeps TSO and tx checksums.
    assert(/tx-checksumming: on/.test(off) && /tcp-segmentation-offload: on/.test(off), off);
    const jo = await sh(["ip", "netns", "exec", n.ns, "ethtool", "-k", n.joyrideIf], "show");
    assert(/tx-checksumming: off/.test(jo) && /tcp-segmentation-offload: off/.test(jo), jo);
    // Neither veth end is in the root namespace (other interfaces there are none of ours).
    const root = await sh(["ip", "-o", "link", "show"], "list root links");
    assert(!/^\d+: jr0p?[@:]/m.test(root), root);
  } finally {
    const removed = await removeTopology(instance);
    assert(removed.includes(`namespace ${n.ns}`), String(removed));
  }
  assertEquals(await existingNamespaces(instance), []);
  assertEquals(await removeTopology(instance), []);
});

Deno.test("topology: a memif instance has its servers' namespace only (no veth, no peer)", async () => {
  const instance = `topm${Deno.pid}`;
  const config = configFrom({ instance, nic: { port: "memif" } });
  const n = topologyNames(instance);
  try {
    await createTopology(config);
    assertEquals(await existingNamespaces(instance), [n.ns]);
    const links = await sh(["ip", "-n", n.ns, "-o", "link", "show"], "show");
    assert(!links.includes(n.joyrideIf) && links.includes("lo"), links);
  } finally {
    assertEquals(await removeTopology(instance), [`namespace ${n.ns}`]);
  }
});

Deno.test("topology: the peer keeps its offloads only for af_packet's kernel-GRO receive", () => {
  assert(peerKeepsOffloads(configFrom({})));
  assert(!peerKeepsOffloads(configFrom({ nic: { port: "af_packet", args: ["--no-kernel-gro"] } })));
  for (const port of ["af_xdp", "tap", "pci"]) {
    assert(!peerKeepsOffloads(configFrom({ nic: { port } })), port);
  }
});

/**
 * The default topology (DESIGN §8): two network namespaces joined by a veth pair.
 *
 * ```
 *  netns jr-<instance>            netns jr-<instance>-peer
 *  ┌──────────────────────┐       ┌─────────────────────────────┐
 *  │ jr0 (no kernel addr) ├─veth──┤ jr0p 198.18.0.1/24 (kernel) │
 *  │ NIC server's port    │       │ the peer host               │
 *  └──────────────────────┘       └─────────────────────────────┘
 * ```
 *
 * Joyride's address (198.18.0.2) is not configured in the kernel: the TCP/IP server owns it.
 * Everything is created inside the namespaces (commands run with `ip netns exec`), so the root
 * namespace's interfaces are never touched. Offloads are switched off on Joyride's end (the NIC
 * server turns on what it uses). The peer's end keeps TSO/GSO and tx checksum offload when the
 * NIC server receives through its kernel-GRO socket (af_packet, `peerKeepsOffloads`): the peer
 * then hands 64 KB packets over whole, as it would to another kernel. With any other port the
 * peer's offloads are off too, so every frame has a full checksum and fits the MTU.
 *
 * With `nic.port` "memif" (two Joyride instances joined by memif, `memifPair` in config.ts)
 * there is no veth and no peer namespace: only `jr-<instance>`, in which the servers run; the
 * other end of the link is the other instance's NIC server, through the memif socket.
 */
import { type Config, memifLink } from "./config.ts";

/** Names of what the topology of an instance is made of. */
export interface TopologyNames {
  /** Namespace the servers run in. */
  ns: string;
  /** Namespace of the peer host. */
  peerNs: string;
  /** Joyride's veth end, inside `ns` (the NIC server's port). */
  joyrideIf: string;
  /** The peer's veth end, inside `peerNs`. */
  peerIf: string;
}

/** The names for an instance. */
export function topologyNames(instance: string): TopologyNames {
  return { ns: `jr-${instance}`, peerNs: `jr-${instance}-peer`, joyrideIf: "jr0", peerIf: "jr0p" };
}

/** Runs a command; throws with its stderr when it fails. */
export async function sh(cmd: string[], what: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
      .output();
  } catch (e) {
    throw new Error(`Cannot ${what}: ${cmd[0]}: ${(e as Error).message}`);
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`Cannot ${what}: \`${cmd.join(" ")}\` failed: ${err || `exit ${out.code}`}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Namespaces that exist now. */
export async function listNamespaces(): Promise<string[]> {
  const out = await sh(["ip", "netns", "list"], "list network namespaces");
  return out.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.length > 0);
}

/** Which of the instance's namespaces exist. */
export async function existingNamespaces(instance: string): Promise<string[]> {
  const n = topologyNames(instance);
  const all = await listNamespaces();
  return [n.ns, n.peerNs].filter((x) => all.includes(x));
}

/** Pids of processes whose network namespace is `ns` (all started by us: we made `ns`). */
export async function namespacePids(ns: string): Promise<number[]> {
  try {
    const out = await sh(["ip", "netns", "pids", ns], `list processes in ${ns}`);
    return out.split("\n").map((l) => parseInt(l, 10)).filter((p) => p > 0);
  } catch {
    return [];
  }
}

/** Creates the topology of `config.instance`. Fails if any part of it exists already. */
export async function createTopology(config: Config): Promise<TopologyNames> {
  const n = topologyNames(config.instance);
  const t = config.topology;
  const inNs = (ns: string, cmd: string[], what: string) =>
    sh(["ip", "netns", "exec", ns, ...cmd], what);
  await sh(["ip", "netns", "add", n.ns], `create namespace ${n.ns}`);
  const memif = memifLink(config);
  if (memif) {
    await inNs(n.ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"], "disable IPv6");
    await loopbackV6(n.ns);
    await inNs(n.ns, ["ip", "link", "set", "lo", "up"], "bring lo up");
    return n; // a stale memif socket was removed by cleanupInstance (supervisor.ts)
  }
  await sh(["ip", "netns", "add", n.peerNs], `create namespace ${n.peerNs}`);
  // Run inside Joyride's namespace so that no interface ever appears in the root namespace.
  await inNs(n.ns, [
    "ip",
    "link",
    "add",
    n.joyrideIf,
    "address",
    t.joyrideMac,
    "mtu",
    String(t.mtu),
    "type",
    "veth",
    "peer",
    "name",
    n.peerIf,
    "netns",
    n.peerNs,
    "address",
    t.peerMac,
    "mtu",
    String(t.mtu),
  ], "create the veth pair");
  // Joyride's side: no kernel addresses (IPv6 off so the kernel sends no NDP/MLD of its own).
  await inNs(n.ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"], "disable IPv6");
  await inNs(n.ns, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"], "disable IPv6");
  await loopbackV6(n.ns);
  await inNs(n.ns, ["ip", "link", "set", "lo", "up"], "bring lo up");
  await offloadsOff(n.ns, n.joyrideIf);
  await inNs(n.ns, ["ip", "link", "set", n.joyrideIf, "up"], `bring ${n.joyrideIf} up`);
  // The peer: a plain Linux host.
  await inNs(n.peerNs, ["ip", "link", "set", "lo", "up"], "bring the peer's lo up");
  await inNs(
    n.peerNs,
    ["ip", "addr", "add", `${t.peerAddress}/${t.prefixLength}`, "dev", n.peerIf],
    "address the peer",
  );
  if (t.peerAddress6) {
    // nodad: usable at once (Joyride answers neighbour solicitations, not DAD's).
    await inNs(
      n.peerNs,
      ["ip", "-6", "addr", "add", t.peerAddress6, "dev", n.peerIf, "nodad"],
      "address the peer (IPv6)",
    );
  }
  await peerOffloads(config, n.peerNs, n.peerIf);
  await inNs(n.peerNs, ["ip", "link", "set", n.peerIf, "up"], `bring ${n.peerIf} up`);
  return n;
}

/**
 * Whether the peer's veth end keeps the kernel's segmentation and checksum offloads (issue 9):
 * only with an af_packet port whose NIC server receives through its PACKET_VNET_HDR socket
 * (kernel GRO, on unless `nic.args` has --no-kernel-gro: nic_entry.ts), which takes a 64 KB GSO packet whole and
 * reads the virtio header's checksum flags. The PMDs' own rx (af_packet without that socket,
 * af_xdp, tap, pci) sees raw frames: a GSO packet would not fit their buffers and a partial
 * checksum would look corrupt, so there the peer cuts and checksums every frame itself.
 */
export function peerKeepsOffloads(config: Config): boolean {
  const args = Array.isArray(config.nic.args) ? config.nic.args.map(String) : [];
  return config.nic.port === "af_packet" && !args.includes("--no-kernel-gro");
}

async function peerOffloads(config: Config, ns: string, dev: string): Promise<void> {
  if (!peerKeepsOffloads(config)) return await offloadsOff(ns, dev);
  // The kernel↔kernel baseline's veth defaults: TSO/GSO and tx checksum offload on, GRO off.
  await sh(
    ["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "on", "tso", "on", "gso", "on"],
    `switch offloads on on ${dev} in ${ns}`,
  );
}

/**
 * IPv6 stays on for the namespace's loopback (off on the veth, so that the kernel sends no
 * NDP/MLD of its own): with it off everywhere, ::1 could not be bound and
 * /proc/net/if_inet6 was empty, and gRPC and Java took the whole host for IPv4-only (an [::]
 * server refused IPv6, a helper found).
 */
async function loopbackV6(ns: string): Promise<void> {
  await sh(
    ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.lo.disable_ipv6=0"],
    "keep IPv6 on the loopback",
  );
}

async function offloadsOff(ns: string, dev: string): Promise<void> {
  // tx checksumming off: the kernel writes full checksums (no CHECKSUM_PARTIAL frames reach
  // AF_PACKET); tso/gso/gro off: no frame larger than the MTU.
  await sh(
    [
      "ip",
      "netns",
      "exec",
      ns,
      "ethtool",
      "-K",
      dev,
      "tx",
      "off",
      "tso",
      "off",
      "gso",
      "off",
      "gro",
      "off",
    ],
    `switch offloads off on ${dev} in ${ns}`,
  );
}

/**
 * Removes the topology of an instance: ends the processes left in its namespaces (by pid;
 * they were started by Joyride) and deletes both namespaces, which deletes the veth pair.
 * Safe to call when nothing exists. Returns what was removed.
 */
export async function removeTopology(instance: string): Promise<string[]> {
  const n = topologyNames(instance);
  const existing = await existingNamespaces(instance);
  const removed: string[] = [];
  for (const ns of existing) {
    const pids = await namespacePids(ns);
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
        removed.push(`process ${pid}`);
      } catch {
        // already gone
      }
    }
    if (pids.length > 0) await waitGone(pids, 2000);
  }
  for (const ns of [n.ns, n.peerNs]) {
    if (!existing.includes(ns)) continue;
    await sh(["ip", "netns", "del", ns], `delete namespace ${ns}`);
    removed.push(`namespace ${ns}`);
  }
  return removed;
}

/** Whether a process exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Waits until none of `pids` is alive, or the timeout passes. Returns those still alive. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    left = left.filter(alive);
  }
  return left;
}

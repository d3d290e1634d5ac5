/**
 * The TCP/IP server process: `deno run -A servers/tcp/main.ts --config FILE [--generation N]`,
 * started by the supervisor inside the instance's namespace.
 *
 * Finds the NIC server through the naming server (label "nic", a ring endpoint naming the region file),
 * attaches to its frame region, puts the engine (servers/tcp/engine) on it with Joyride's
 * address, opens the built-in services (echo and discard, TCP and UDP; `tcp.services` in the
 * configuration), registers as "tcp", and runs the one loop (loop.ts). When the NIC server
 * comes back as a new generation, it re-attaches to the region.
 *
 * Survives its restart (issue 8, persist.ts): listening sockets, connections and their unread
 * and unacknowledged data, accept queues and timer deadlines — records in the shared-memory file
 * /dev/shm/joyride-<instance>-tcp-state that the new incarnation maps again, restores (with a
 * retransmission from sndUna) and continues; the built-in services and the socket service (apps'
 * stream sockets) take their sockets back, and apps' UDP sockets are made again from their
 * records (service/udp_restore.ts). Lost: frames in flight, out-of-order data (the peer
 * retransmits it), ARP entries. See servers/supervisor/RESTART.md.
 * Peers see at most a retransmission; the NIC follower and the naming registration are redone.
 */
import { libc } from "../../ffi/libc.ts";
import { Agent, serverContext } from "../supervisor/agent.ts";
import { endpoint, type Entry, Follower, Registration, resolveLabel } from "../naming/client.ts";
import { Stack } from "./engine/stack.ts";
import { IPPROTO_UDP, SOCK_DGRAM } from "./engine/socket/api.ts";
import { Sockets } from "./engine/socket/sockets.ts";
import { Udp } from "./engine/udp/udp.ts";
import { RealContext } from "./clock.ts";
import { NicLink, offloadFlags } from "./nic_link.ts";
import { heapTrimmer, ServerLoop, type TrimCounters } from "./loop.ts";
import { Services } from "./services.ts";
import { AppService } from "./service/service.ts";
import { flatRefusals } from "../naming/policy_refusals.ts";
import { DEFAULT_GEOMETRY, Persistence, statePath } from "./persist.ts";
import { installStore } from "./engine/store/shm_store.ts";
import { sharesNicCpu } from "../supervisor/affinity.ts";

const ctx = serverContext("tcp");
// One descriptor per app socket (its placeholder's duplicate): the limit the server inherited
// (20,000 here) let five unprivileged apps of 4,000 sockets each take them all, and every other
// app's socket() failed (a helper's hostile apps). Raised to 2^20 (Linux's nr_open) where
// allowed; the apps' own limits (policy) bound what one uid holds.
libc.raiseFdLimit(1 << 20);
const cfg = ctx.config;
const t = cfg.topology;

/** What the heartbeat reports, filled in as the server comes up. */
const parts: {
  link?: NicLink;
  loop?: ServerLoop;
  services?: Services;
  stack?: Stack;
  sockets?: Sockets;
  apps?: AppService;
} = {};
/** Full collections when quiet (issue 9, loop.ts heapTrimmer). */
const trim: TrimCounters = { gcs: 0, gcMicros: 0, heapAfter: 0 };
const agent = await Agent.connect(ctx, () => ({
  ...(parts.link?.counters ?? {}),
  ...(parts.loop?.counters ?? {}),
  ...(parts.services
    ? { serviceConnections: parts.services.connections, ...parts.services.counters }
    : {}),
  engine: parts.stack?.counters.snapshot() ?? {},
  sockets: parts.sockets ? socketList(parts.sockets) : [],
  ...(parts.stack ? { persist: persist.counters() } : {}),
  ...(parts.apps ? { appService: parts.apps.counters, apps: parts.apps.list() } : {}),
  ...(parts.apps ? flatRefusals("refusals", parts.apps.directory.refusals) : {}), // issue 6
  memory: Deno.memoryUsage(), // issue 9: where the bytes per connection go (heap or not)
  idleGc: trim,
}));

const tcpStates = [
  "CLOSED",
  "LISTEN",
  "SYN_SENT",
  "SYN_RECEIVED",
  "ESTABLISHED",
  "CLOSE_WAIT",
  "FIN_WAIT_1",
  "CLOSING",
  "LAST_ACK",
  "FIN_WAIT_2",
  "TIME_WAIT",
];

/** TCP connections and listeners for status (at most 200). */
function socketList(s: Sockets): Record<string, unknown>[] {
  const hp = (a: string, p: number) => a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`;
  return s.tcp.connections(200).map((c) => ({
    proto: "tcp",
    local: hp(c.localAddr, c.localPort),
    remote: c.state === 1 ? "*" : hp(c.remoteAddr, c.remotePort),
    state: tcpStates[c.state] ?? String(c.state),
    ...(c.fd !== undefined ? { fd: c.fd } : {}),
  }));
}

/** Waits until the naming server knows a live NIC server; returns its region path. */
async function findNic(): Promise<{ entry: Entry; region: string }> {
  for (let delay = 50;; delay = Math.min(delay * 2, 1000)) {
    const e = await resolveLabel(ctx.paths.naming, "nic").catch(() => undefined);
    if (e && e.endpoint.kind === "ring") return { entry: e, region: e.endpoint.path };
    await new Promise((r) => setTimeout(r, delay));
  }
}

const nic = await findNic();
let link = new NicLink(nic.region);
parts.link = link;
let nicGeneration = nic.entry.generation;

// State in shared memory (persist.ts): opened first, as the clock continues the records'.
const persist = Persistence.open(statePath(cfg.instance), {
  ...DEFAULT_GEOMETRY,
  records: cfg.tcp.stateRecords,
});
// No earlier incarnation runs now (the state file's lock): the NIC buffers it held are ours.
const back = link.reclaim();
if (back.tx + back.rx > 0) {
  console.error(`tcp: took back ${back.tx} tx and ${back.rx} rx buffers a previous server held`);
}
const clock = new RealContext(persist.clockOrigin);
// copyRx false: every transport copies what it keeps of a received frame (issue 9: one copy
// and one allocation less per frame).
const stack = new Stack(clock, { copyRx: false });
parts.stack = stack;
// Offloads the NIC server provides (issue 9): it fills checksums (F.txCsum) and segments TCP
// frames up to a tx buffer (F.txTso; over IPv6 too where it says so, OFF.tso6), so TypeScript
// neither sums nor cuts payload bytes. The region's offloads are fixed per NIC server
// configuration, so a new NIC incarnation keeps them.
const txOffload = link.txChecksum;
const ifIndex = stack.addInterface({
  kind: "ethernet",
  mtu: t.mtu,
  mac: link.mac(),
  caps: {
    txChecksum: txOffload,
    rxChecksum: false,
    tso: txOffload && link.tso,
    tso6: txOffload && link.tso && link.tso6,
    maxSegment: Math.min(65535, link.maxTxFrame - 14),
  },
  transmit: (frame, tsoMss) => {
    persist.hold(frame, tsoMss ?? 0); // leaves after the turn's commit (output commit)
  },
  // Frames are built in the NIC region's tx buffers and queued from there without a copy
  // (issue 9); the turn's flush (after the commit) sends them or takes unused ones back.
  alloc: (len) => link.alloc(len),
}, {
  addrs: [
    `${t.joyrideAddress}/${t.prefixLength}`,
    ...(t.joyrideAddress6 ? [t.joyrideAddress6] : []),
  ],
});

/** The socket layer, with TCP and UDP. */
function socketLayer(s: Stack): Sockets {
  const sockets = new Sockets(s);
  sockets.register(SOCK_DGRAM, IPPROTO_UDP, Udp.of(s).factory);
  return sockets;
}

const api = socketLayer(stack);
// Socket buffers for bulk transfer (issue 9): FreeBSD's 64 KB/32 KB defaults without its
// autotuning cap one flow at a window per wake-up round trip. A flow between two instances over
// memif has a round trip of 2-5 ms under load (each of its eight process hops waits 30-130 µs
// for a CPU at p50, up to 2 ms at p99: JOYRIDE_HOPTRACE), so the window bounds it: J2J with a
// 256 KB send buffer 1.8-1.95 Gbit/s; interleaved 512 KB / 1 MB / 1.5 MB: 2.86/3.15/3.22,
// 2.87/2.94/3.28, 3.04/3.71/3.80; the 1 MB receive buffer took it from 2.5-3.4 to 3.3-4.0.
// 1 MB each is the most the state region's 2 MB rings keep across a restart (persist.ts: a ring
// holds twice its buffer).
stack.sysctl.set("net.inet.tcp.recvspace", 1 << 20);
stack.sysctl.set("net.inet.tcp.sendspace", 1 << 20);
// Apps are Linux programs: keepalive gives up after 9 probes (tcp_keepalive_probes), not 8.
stack.sysctl.set("net.inet.tcp.keepcnt", 9);
// ACKs as Linux times them: the first 16 data segments at once (its quick-ack mode), then
// delayed 40 ms, not 100. A kernel peer's Nagle holds a small reply until its last segment is
// acknowledged: an MQTT client under Joyride waited ~105 ms for every PUBREC (paho to the
// peer's mosquitto: 23 s for 200 loops, 1.4 s the other way), 104 ms per exchange in a
// helper's two-writes request/reply against the kernel's 0.4 ms, then 44 ms.
stack.sysctl.set("net.inet.tcp.delacktime", 40);
stack.sysctl.set("net.inet.tcp.quickack_segments", 16);
// A full accept queue drops the handshake's ACK (the peer retries)
// instead of a RST (a python http.server, backlog 5, under `ab -c 50` failed).
stack.sysctl.set("net.inet.tcp.syncache.rst_on_sock_fail", 0);
// ...and the SYN-ACK is resent 5 times (Linux's tcp_synack_retries: 1, 3, 7, 15 and 31 s), not
// FreeBSD's 3: a burst over the backlog of a server slow to accept lost its half-open
// connections after 7 s, and the clients' requests, sent meanwhile, drew resets (a helper's
// repro: 6 of 10 reset where Linux answers all).
stack.sysctl.set("net.inet.tcp.syncache.rexmtlimit", 5);
// A connect() to a neighbor that never answers ARP fails with EHOSTUNREACH after ARP's tries
// instead of FreeBSD's 75 s ETIMEDOUT: what Linux programs expect. Three requests a second
// apart, as Linux's mcast_solicit (FreeBSD asks five times: squid's 3 s connect_timeout met
// 5 s here, 3 s on Linux).
stack.sysctl.set("net.link.ether.inet.unreach_on_fail", 1);
stack.sysctl.set("net.link.ether.inet.maxtries", 3);
// ...and the next connect or send to it asks again, as Linux's failed neighbor entries do,
// not FreeBSD's 20 s hold-down: a host that came up a second after a failed connect was
// refused for 20 s, each connect failing within milliseconds (a helper's Deno fetch with a 1 s
// timeout failed at once instead of timing out).
stack.sysctl.set("net.link.ether.inet.wait", 0);
stack.sysctl.set("net.inet6.icmp6.nd6_down", 0);
// A neighbor not yet resolved holds 64 packets, not FreeBSD's 16: the first UDP datagram of
// 60 kB to it is 41 fragments, and all but the last 16 were lost (Linux holds by bytes,
// unres_qlen_bytes, which fits such a datagram).
stack.sysctl.set("net.link.ether.inet.maxhold", 64);
stack.sysctl.set("net.inet6.icmp6.nd6_maxqueuelen", 64);
// connect() fails at once on an ICMP error, with the errno Linux gives (tcp/sysctls.ts).
stack.sysctl.set("net.inet.tcp.icmp_linux_errors", 1);
// SYN+FIN is dropped, as Linux drops it (it only fingerprints a stack; a listener answered it
// with a SYN-ACK: a helper's scapy frames).
stack.sysctl.set("net.inet.tcp.drop_synfin", 1);
// A closed connection whose peer keeps its window shut is dropped after 8 probes (Linux's
// tcp_orphan_retries), not kept for ever.
stack.sysctl.set("net.inet.tcp.orphan_probes", 8);
parts.sockets = api;
installStore(api.tcp, persist.store);
const restored = persist.restore(api);
console.error(`tcp: state region ${persist.note}; ${restored.length} connections restored`);
/** The loop's link: commit the records, then let the turn's frames out. */
const persisted = (l: NicLink) =>
  persist.wrap(apps.wrap(l), () => persist.store.commit(api.tcp, clock.now()), (f, mss) => {
    link.transmit(f, txOffload ? offloadFlags(f, mss) : 0, mss);
  });
let services: Services | undefined;
if (cfg.tcp.services.echo || cfg.tcp.services.discard) {
  services = new Services(api);
  parts.services = services;
  persist.adoptServices(services);
  const before = api.onEvent;
  api.onEvent = (fd, ev) => {
    before?.(fd, ev);
    services!.onEvent(fd, ev);
  };
  for (const err of services.start(t.joyrideAddress, cfg.tcp.services, t.joyrideAddress6)) {
    console.error(`tcp: ${err}`);
  }
}

// The socket service for apps under the shim (issue 5), registered through naming's apps.sock.
const apps = new AppService(api, `${ctx.paths.dir}/apps.sock`);
parts.apps = apps;
// Issue 8: apps' stream sockets are tagged in the records and taken back after a restart; what
// apps sent leaves their rings only once committed.
apps.restart = persist.serviceHooks(api);
apps.napYield = sharesNicCpu(cfg.affinity, navigator.hardwareConcurrency);
apps.drainMs = cfg.tcp.drainSeconds * 1000;
persist.afterCommit(() => apps.committed());
// Restored sockets no app took back within a minute (it exited meanwhile) are closed.
if (restored.length > 0) {
  setTimeout(() => {
    persist.reapUnclaimed(api);
    link.kick(); // the resets leave on the loop's next turn
  }, cfg.tcp.reapSeconds * 1000);
}
const loop = new ServerLoop(
  persisted(link),
  stack,
  ifIndex,
  clock,
  () => (services?.run() ?? 0) + apps.run(),
  {
    spinMicros: cfg.tcp.spinMicros,
    // Naps while traffic is recent, on the current link's RX doorbell and every app's word at
    // once (futex_waitv, issue 9): a frame or an app's call ends one, no thread-pool hop.
    nap: (us) => apps.nap(link.rxBell, us),
    onQuiet: heapTrimmer(trim),
  },
);
parts.loop = loop;

// A new NIC incarnation may have made a new region: attach to what it announces.
const follower = new Follower(ctx.paths.naming, "nic", (e) => {
  if (!e || e.generation === nicGeneration || e.endpoint.kind !== "ring") return;
  nicGeneration = e.generation;
  const path = e.endpoint.path;
  if (link.sameFile(path)) return; // the new NIC server took over the same region
  let next: NicLink;
  try {
    next = new NicLink(path);
  } catch (err) {
    console.error(`tcp: cannot attach to nic generation ${e.generation}: ${err}`);
    return;
  }
  const old = link;
  link = next;
  parts.link = next;
  // Unmap the old region only once the loop no longer sleeps on it.
  loop.setLink(persisted(next)).then(() => old.close());
  old.kick(); // it may sleep on the old region's doorbell (up to 10 s)
  console.error(`tcp: attached to the new region of nic generation ${e.generation}`);
});

// The socket service's endpoint (issue 5) will be this socket.
const reg = await Registration.start(
  ctx.paths.naming,
  "tcp",
  endpoint("unixSocket", `${ctx.paths.dir}/tcp.sock`),
  ctx.generation,
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  agent.close();
  follower.close();
  reg.close();
  const stopped = loop.stop();
  link.kick(); // end its sleep now (up to 10 s)
  await stopped;
  services?.close();
  apps.close();
  link.flush();
  link.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);

console.error(
  `tcp: ${t.joyrideAddress}/${t.prefixLength} on nic region ${nic.region}, ` +
    `generation ${reg.generation}, services ${services ? "on" : "off"}`,
);
agent.ready();
await loop.run();

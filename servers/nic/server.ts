/**
 * The NIC server: one DPDK port, one NIC region, one loop.
 *
 *   rx burst → RX ring (wakes the TCP side if it sleeps)
 *   TX ring → tx burst (buffers back on TX_FREE at once, wakes the TCP side if it sleeps)
 *
 * Busy: spins on bursts. After `spinPolls` empty turns it sleeps: a futex wait on the TX ring's
 * doorbell together with, for af_packet/tap, an Rx watch (a packet socket whose BPF filter keeps
 * nothing while busy and one byte per frame while asleep) — so an idle server makes a syscall
 * every 2 s (heartbeat word, link state) and wakes at once on traffic in either direction. Port kinds
 * without a watch (memif, af_xdp, pci) poll with a backoff from 50 µs to 10 ms instead.
 *
 * What survives a restart: the region. A restarted server attaches to it and carries on from the
 * ring indices it finds there; at most the frames in flight in the dead process are lost.
 */
import { type Dpdk, openDpdk, type PortInfo, type PortKind } from "../../ffi/dpdk.ts";
import { C, DEFAULT_GEOMETRY, type Geometry, GRO_GEOMETRY, H, NicRegion } from "./region.ts";
import { CaptureWriter } from "./capture.ts";
import { hopTrace } from "./hoptrace.ts";
import { setImmediate } from "node:timers";
import { libc } from "../../ffi/libc.ts";
import { linkBellPath } from "./link_bell.ts";
/**
 * Whether an empty poll while spinning yields the CPU (sched_yield; JOYRIDE_NIC_SPIN_YIELD=0
 * turns it off): on 2 vCPUs the TCP/IP server, the app and the peer need the CPU for the reply
 * the spin waits for (issue 9: sockperf p50 382–436 µs without, 115–145 µs with, loaded).
 */
const NIC_SPIN_YIELD = Deno.env.get("JOYRIDE_NIC_SPIN_YIELD") !== "0";

/**
 * Lets timers, signals and finished I/O run, then resumes. setImmediate, not setTimeout(0):
 * Deno's setTimeout(0) resumes only after ~1-4 ms (2.8 ms on average measured here), during
 * which no burst is polled; setImmediate takes ~40 µs (issue 9).
 */
const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** Configuration of a NIC server (see main.ts for the command line). */
export interface NicConfig {
  kind: PortKind;
  /** Kernel interface (af_packet, af_xdp, tap). */
  iface?: string;
  /** memif: role and socket path, interface id. */
  memifRole?: "server" | "client";
  memifSocket?: string;
  memifId?: number;
  /** memif: the port's MAC (two Joyride instances on one memif need different ones). */
  memifMac?: string;
  /**
   * af_xdp kernel coexistence: only IPv4/ARP for these addresses go to Joyride (through the
   * jr_xdp program, build/jr_xdp.o), the rest stays with the kernel. Unset: the PMD's default
   * program takes every frame of the queue.
   */
  steer?: string[];
  /** pci: device address, e.g. 0000:00:08.0. */
  pci?: string;
  mtu: number;
  /** Region file; created if missing or `fresh`. */
  region: string;
  fresh?: boolean;
  geometry?: Geometry;
  /** Use hugepages (needed for DPDK multi-process); default: --no-huge. */
  hugepages?: boolean;
  /** Software GRO on received TCP/IPv4 (needs 64 KB rx buffers, GRO_GEOMETRY; main.ts turns it on by default). */
  gro?: boolean;
  /**
   * af_packet: send TCP/UDP frames through a PACKET_VNET_HDR socket (TSO frames as one GSO
   * packet, checksums left to the kernel) instead of segmenting them with rte_gso: 0 off,
   * 1 on, 2 on and turn on the interface's TSO and tx checksumming so the GSO packet reaches a
   * veth peer whole (native/dpdk/jr_nic.c jr_nic_kernel_gso).
   */
  kernelGso?: number;
  /**
   * af_packet with GRO: receive through a PACKET_VNET_HDR socket straight into the region with
   * GRO turned on on the interface (the kernel coalesces and verifies; default true), instead of
   * the PMD and rte_gro (native/dpdk/jr_nic.c jr_nic_kernel_gro).
   */
  kernelGro?: boolean;
  /**
   * memif to another Joyride NIC server configured alike: TSO frames cross whole (64 KB memif
   * buffers) and TCP/UDP checksums stay partial, taken as right by the other end, as between
   * virtio-net ends (native/dpdk/jr_nic.c jr_nic_gso_link). Needs the GRO geometry.
   */
  memifGso?: boolean;
  /** Extra EAL arguments. */
  eal?: string[];
  /** Empty polls before sleeping (default 20000, ~a few ms of spinning). */
  spinPolls?: number;
  /** Longest Rx poll period when idle, for ports without an Rx wake-up (default POLL_MAX_US). */
  pollMaxUs?: number;
  /** Port index for DPDK device names (net_af_packet<N>). */
  index?: number;
  /** Capture into this pcapng file from the start (as `./joyride capture` would ask). */
  capture?: string;
  /** Remove the region file on exit. */
  cleanup?: boolean;
}

/** The CPUs this process may run on ("0-1"), from /proc/self/status. */
function allowedCpus(): string {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(Deno.readTextFileSync("/proc/self/status"));
    if (m) return m[1];
  } catch {
    // not Linux /proc: fall through
  }
  return "0-" + String(navigator.hardwareConcurrency - 1);
}

/** EAL arguments for a NIC server process. */
export function ealArgs(cfg: NicConfig): string[] {
  const args = ["jr-nic", "--no-telemetry", "--log-level=lib.eal:error"];
  // No files left behind: --in-memory with hugepages; --no-huge implies legacy memory, which
  // --in-memory refuses, so then --no-shconf and a per-process prefix.
  if (cfg.hugepages) args.push("--in-memory");
  else args.push("--no-huge", "-m", "256", "--no-shconf");
  // EAL makes /var/run/dpdk/<prefix> even in memory: one per process, removed at exit (or by
  // the next server if this one was killed).
  args.push(`--file-prefix=jr-nic-${Deno.pid}`);
  // Let the main lcore float over the CPUs this process may use instead of pinning it.
  const cpus = Deno.env.get("JOYRIDE_NIC_CPUS") ?? allowedCpus();
  args.push(`--lcores=0@(${cpus})`);
  if (cfg.kind === "pci") {
    if (!cfg.pci) throw new Error("Cannot start NIC server: kind pci needs --pci ADDRESS");
    args.push("-a", cfg.pci);
  } else {
    args.push("--no-pci");
  }
  args.push(...(cfg.eal ?? []));
  return args;
}

/** The XDP program of af_xdp kernel coexistence (native/dpdk/jr_xdp.bpf.c). */
export const xdpProgram: string = new URL("../../build/jr_xdp.o", import.meta.url).pathname;

/** DPDK devargs for the configured port. */
export function devargs(cfg: NicConfig): { devargs: string; ifname: string } {
  const i = cfg.index ?? 0;
  const need = (what: string, v: string | undefined): string => {
    if (!v) throw new Error(`Cannot start NIC server: kind ${cfg.kind} needs ${what}`);
    return v;
  };
  switch (cfg.kind) {
    case "af_packet": {
      const ifn = need("--iface", cfg.iface);
      // A TPACKET frame holds its header (< 100 bytes) and the whole Ethernet frame.
      let framesz = 2048;
      while (framesz < cfg.mtu + 18 + 128) framesz *= 2;
      const blocksz = Math.max(65536, framesz);
      const framecnt = Math.max(64, Math.floor((2 << 20) / framesz));
      return {
        devargs: `net_af_packet${i},iface=${ifn},qpairs=1,blocksz=${blocksz},framesz=${framesz},` +
          `framecnt=${framecnt}`,
        ifname: ifn,
      };
    }
    case "af_xdp": {
      const ifn = need("--iface", cfg.iface);
      const prog = cfg.steer?.length ? `,xdp_prog=${xdpProgram}` : "";
      return {
        devargs: `net_af_xdp${i},iface=${ifn},start_queue=0,queue_count=1${prog}`,
        ifname: ifn,
      };
    }
    case "memif": {
      const sock = need("--memif-socket", cfg.memifSocket);
      const role = cfg.memifRole ?? "server";
      return {
        devargs: `net_memif${i},role=${role},socket=${sock},id=${cfg.memifId ?? 0},` +
          // A GSO link's buffers hold a whole TSO frame (≤ 14 + 65502 bytes): fewer of them.
          `socket-abstract=no,${cfg.memifGso ? "bsize=65535,rsize=8" : "bsize=2048,rsize=11"}` +
          (cfg.memifMac ? `,mac=${cfg.memifMac}` : ""),
        ifname: "",
      };
    }
    case "tap": {
      const ifn = need("--iface", cfg.iface);
      return { devargs: `net_tap${i},iface=${ifn}`, ifname: ifn };
    }
    case "pci":
      return { devargs: need("--pci", cfg.pci), ifname: "" };
  }
}

/** Where DPDK (running as root) keeps its per-process runtime directories. */
const DPDK_RUN = "/var/run/dpdk";

/**
 * Removes the DPDK runtime directories of NIC servers that are gone (a SIGKILLed server cannot
 * remove its own). Called when a NIC server starts and stops. With `removeRoot` (for
 * `./joyride stop`, once no NIC server runs) also /var/run/dpdk itself if nothing else is in it;
 * servers do not, as another one may be creating its directory there at that moment.
 */
export function removeStaleDpdkDirs(opts: { removeRoot?: boolean } = {}): void {
  let entries: Deno.DirEntry[];
  try {
    entries = Array.from(Deno.readDirSync(DPDK_RUN));
  } catch {
    return;
  }
  for (const e of entries) {
    const m = /^jr-nic-(\d+)$/.exec(e.name);
    if (!m) continue;
    try {
      Deno.statSync(`/proc/${m[1]}`);
      continue; // its process lives
    } catch {
      // gone
    }
    try {
      Deno.removeSync(`${DPDK_RUN}/${e.name}`, { recursive: true });
    } catch {
      // raced with someone else
    }
  }
  if (!opts.removeRoot) return;
  try {
    Deno.removeSync(DPDK_RUN); // only if empty
  } catch {
    // not empty or not there
  }
}

/** The shortest spin after traffic, once spins keep catching nothing (ms). */
export const MIN_SPIN_MS = 0.05;

/**
 * A GSO link's server polls with short sleeps (50 µs doubling) until this period between polls
 * is reached (~3 ms without traffic), then sleeps on the link's doorbells. Issue 9, two
 * instances: doorbell sleeps at once cost 5-10 % of iperf3's throughput (a thread hop per wake,
 * 3.35/3.53 vs 3.84/3.68 Gbit/s); polling only kept the idle pair at 2.2-2.6 % of a core (1.0 %
 * with the doorbells).
 */
export const LINK_BELL_AFTER_US = 1600;

/**
 * Empty polls before a memif server sleeps (other ports: 20000, bounded by JOYRIDE_NIC_SPIN_MS).
 * A memif link joins two instances on one machine: two NIC servers, two TCP/IP servers and the
 * apps share the CPUs, and a spin's sched_yield does not hand the CPU to another session's
 * (autogroup's) process. Issue 9, iperf3 between two instances, 3 interleaved runs each: 20000
 * polls 2.2/3.0/3.7 Gbit/s at 0.93/0.68/0.55 CPU-s per Gbit, 64 polls 3.9/4.5/4.3 at
 * 0.48/0.42/0.43. (af_packet to a kernel peer keeps its spin: 64 polls cut app-to-peer iperf3
 * from 0.59-0.60× the kernel's to 0.40-0.51×.)
 */
export const MEMIF_SPIN_POLLS = 64;

/** Longest sleep between two Rx polls of a port without an Rx wake-up (memif, af_xdp). */
export const POLL_MAX_US = 10_000;

/**
 * Longest sleep of an idle server (ms). Each wake-up of an idle server costs CPU (issue 9:
 * under 1 % of a core for all servers; ~1 ms of CPU a wake on this VM when the machine is
 * quiet), and nothing needs one: traffic, a stop and a capture request ring a doorbell. A
 * wake refreshes the heartbeat word and link state, which only status reads (their age shows).
 */
export const IDLE_SLEEP_MS = 10_000;

/** The region geometry for a configuration: rx buffers hold a whole frame of the MTU. */
export function geometryFor(cfg: NicConfig): Geometry {
  // 64 KB rx buffers for what GRO merges or a GSO link carries whole.
  const g = cfg.geometry ?? (cfg.gro || cfg.memifGso ? GRO_GEOMETRY : DEFAULT_GEOMETRY);
  const need = Math.ceil((cfg.mtu + 18) / 64) * 64;
  return g.rxSlotSize >= need ? g : { ...g, rxSlotSize: need };
}

/** A running NIC server. */
export class NicServer {
  readonly cfg: NicConfig;
  readonly dpdk: Dpdk;
  readonly region: NicRegion;
  readonly port: number;
  readonly info: PortInfo;
  readonly ctx: Deno.PointerObject;
  readonly watch: boolean;
  /** TCP/UDP frames leave through the kernel-GSO socket (NicConfig.kernelGso). */
  readonly kernelGso: boolean;
  /** The memif link carries whole TSO frames with partial checksums (NicConfig.memifGso). */
  readonly gsoLink: boolean;
  /** The GSO link has doorbells (linkBellPath): an idle server sleeps instead of polling. */
  readonly linkBell: boolean;
  /** Frames arrive through the kernel-GRO socket (NicConfig.kernelGro). */
  readonly kernelGro: boolean;
  readonly capture: CaptureWriter;
  #stop = false;
  #stopped: Promise<void> | undefined;

  constructor(cfg: NicConfig) {
    this.cfg = cfg;
    this.dpdk = openDpdk();
    removeStaleDpdkDirs();
    this.dpdk.ealInit(ealArgs(cfg));
    const { devargs: da, ifname } = devargs(cfg);
    this.port = this.dpdk.portOpen(cfg.kind, da, ifname, cfg.mtu);
    if (cfg.steer?.length) {
      if (cfg.kind !== "af_xdp") {
        throw new Error("Cannot start NIC server: --xdp-steer needs af_xdp");
      }
      this.dpdk.portSteer(this.port, cfg.steer);
    }
    this.info = this.dpdk.portInfo(this.port);
    let region: NicRegion | undefined;
    if (!cfg.fresh) {
      try {
        region = NicRegion.attach(this.dpdk, cfg.region);
      } catch {
        region = undefined; // missing or not a region: make a new one
      }
    }
    this.region = region ?? NicRegion.create(this.dpdk, cfg.region, geometryFor(cfg));
    const ctx = this.dpdk.sym.jr_nic_attach(
      this.port,
      this.region.ptr,
      BigInt(this.region.size),
      cfg.gro ? 1 : 0,
    );
    if (!ctx) throw new Error(`Cannot attach port to region: ${this.dpdk.lastError()}`);
    this.ctx = ctx;
    const kg = cfg.kernelGso ?? 2;
    this.kernelGso = kg > 0 && this.dpdk.sym.jr_nic_kernel_gso(ctx, kg > 1 ? 1 : 0) === 0;
    this.kernelGro = (cfg.kernelGro ?? true) && this.dpdk.sym.jr_nic_kernel_gro(ctx) === 0;
    this.gsoLink = cfg.memifGso === true;
    if (this.gsoLink && this.dpdk.sym.jr_nic_gso_link(ctx, 1) !== 0) {
      throw new Error("--memif-gso needs a memif port and 64 KB rx buffers");
    }
    // Both ends are Joyride NIC servers: doorbells beside the memif socket wake an idle one.
    this.linkBell = this.gsoLink && cfg.memifSocket !== undefined &&
      this.dpdk.sym.jr_nic_link_bell(
          ctx,
          new TextEncoder().encode(`${linkBellPath(cfg.memifSocket)}\0`),
          cfg.memifRole === "client" ? 1 : 0,
        ) === 0;
    const v = this.region.view;
    v.setUint32(H.nicPid, Deno.pid, true);
    v.setUint32(H.generation, v.getUint32(H.generation, true) + 1, true);
    v.setUint32(H.linkUp, this.info.link.up ? 1 : 0, true);
    this.region.setCString(C.portInfo, 2048, JSON.stringify(this.info));
    this.watch = this.dpdk.sym.jr_nic_watch_open(ctx) === 0;
    this.capture = new CaptureWriter(
      this.region,
      cfg.iface ?? this.info.name,
      (buf) => this.dpdk.sym.jr_nic_capture(ctx, buf, BigInt(buf ? buf.length : 0)),
    );
    if (cfg.capture) {
      // Capture from the first frame: the same request capture.ts makes on a running server.
      const r = this.region;
      r.setCString(C.capturePath, C.portInfo - C.capturePath, cfg.capture);
      r.setU32(C.captureMaxFrames, 0);
      r.setU32(C.captureSeq, (r.u32(C.captureSeq) + 1) >>> 0);
      r.setU32(C.captureOn, 1);
      this.capture.poll();
    }
  }

  /** A small status object (also in the region: counters and the control block). */
  status(): Record<string, unknown> {
    return {
      kind: this.cfg.kind,
      iface: this.cfg.iface,
      region: this.region.path,
      pid: Deno.pid,
      generation: this.region.view.getUint32(H.generation, true),
      port: this.info,
      offloads: this.region.offloads,
      kernelGso: this.kernelGso,
      gsoLink: this.gsoLink,
      kernelGro: this.kernelGro,
      idleWake: this.linkBell
        ? "link-doorbell"
        : ["poll", "packet-socket", "rx-interrupt"][this.dpdk.sym.jr_nic_watch_kind(this.ctx)],
      counters: this.region.counters(),
      steering: this.dpdk.portSteerStats(this.port),
      stats: Object.fromEntries(
        Object.entries(this.dpdk.portStats(this.port)).map(([k, v]) => [k, Number(v)]),
      ),
    };
  }

  /** Runs the loop until stop(). */
  run(): Promise<void> {
    this.#stopped ??= this.#loop();
    return this.#stopped;
  }

  /** Ends the loop (wakes it if it sleeps) and waits for it. */
  async stop(): Promise<void> {
    this.#stop = true;
    this.#wakeStop?.();
    this.dpdk.sym.jr_nic_kick_tx(this.ctx);
    this.dpdk.sym.jr_nic_watch_kick(this.ctx);
    await this.#stopped;
  }

  /** Releases the port, the region mapping (and file if cleanup) and the glue's handle. */
  close(): void {
    this.capture.stop();
    this.dpdk.sym.jr_nic_detach(this.ctx);
    this.dpdk.portClose(this.port);
    this.region.close();
    this.dpdk.sym.jr_eal_cleanup();
    try {
      Deno.removeSync(`${DPDK_RUN}/jr-nic-${Deno.pid}`, { recursive: true });
    } catch {
      // not created
    }
    removeStaleDpdkDirs();
    if (this.cfg.cleanup) {
      try {
        Deno.removeSync(this.cfg.region);
      } catch {
        // already gone
      }
    }
  }

  /** Resolves the link-doorbell sleep's wait for stop(). */
  #wakeStop?: () => void;

  async #loop(): Promise<void> {
    const s = this.dpdk.sym;
    const ctx = this.ctx;
    const spin = this.cfg.spinPolls ?? (Number(Deno.env.get("JOYRIDE_NIC_SPIN_POLLS")) ||
      (this.cfg.kind === "memif" ? MEMIF_SPIN_POLLS : 20000));
    const hb = this.region.view;
    let idle = 0;
    let backoffUs = 50;
    let lastYield = performance.now();
    let lastBusy = lastYield;
    const spinMs = Number(Deno.env.get("JOYRIDE_NIC_SPIN_MS")) || 5;
    // The spin after traffic adapts between MIN_SPIN_MS and spinMs (below).
    let spinBudgetMs = spinMs;
    let spinning = false;
    const trace = hopTrace("nic", () => s.jr_now_ns() as bigint);
    // The last sleep's two waits (TX doorbell, Rx watch), each on a thread of Deno's pool. The
    // loop polls as soon as the first returns, and collects the other before sleeping again:
    // one thread hop less on the wake-up path (issue 9).
    let waits: Promise<void> | undefined;
    let waitsDone = true;
    const collect = async () => {
      // A kick can land before the other thread began its wait (then it sleeps its whole
      // timeout): kick again until it is back.
      while (!waitsDone) {
        s.jr_nic_kick_tx(ctx);
        s.jr_nic_watch_kick(ctx);
        await Promise.race([waits, new Promise((r) => setTimeout(r, 1))]);
      }
      waits = undefined;
      s.jr_nic_watch_arm(ctx, 0);
    };
    while (!this.#stop) {
      const rx = s.jr_nic_rx(ctx, 64);
      const tx = s.jr_nic_tx(ctx, 256);
      if (trace && rx > 0) trace.mark("nic.rx", rx);
      if (trace && tx > 0) trace.mark("nic.tx", tx);
      if (this.capture.active || (idle & 1023) === 0) this.capture.poll();
      if (rx > 0 || tx > 0) {
        // Traffic during the spin: it paid, the next one may be as long as allowed.
        if (spinning) spinBudgetMs = Math.min(spinMs, spinBudgetMs * 2);
        spinning = false;
        idle = 0;
        backoffUs = 50;
      } else if (
        (++idle & 63) === 0 && idle < spin && performance.now() - lastBusy > spinBudgetMs
      ) {
        // The spin is bounded in time too: empty polls that yield take ~1 µs each, so 20000
        // of them spun ~20-40 ms after every stray frame (issue 9: idle CPU). A spin that
        // caught nothing halves the next one (a stray frame nobody answers, issue 9: 5 ms of
        // CPU each), down to MIN_SPIN_MS.
        idle = spin;
        if (spinning) spinBudgetMs = Math.max(MIN_SPIN_MS, spinBudgetMs / 2);
        spinning = false;
      } else if (idle === 1) {
        lastBusy = performance.now(); // the first empty poll after traffic: a spin begins
        spinning = true;
      }
      if (idle < spin) {
        if (NIC_SPIN_YIELD && rx + tx === 0) libc.schedYield();
        if ((idle & 255) === 0 || (rx + tx > 0 && (idle & 63) === 0)) {
          const now = performance.now();
          if (now - lastYield > 5) {
            hb.setBigUint64(H.counters, s.jr_now_ns() as bigint, true);
            await yieldToEventLoop(); // signals, timers, capture requests
            lastYield = performance.now();
          }
        }
        continue;
      }
      // Idle: sleep until traffic in either direction, or the heartbeat period. The last
      // sleep's waits come back first, so that the capture request checked below is the last
      // thing looked at before sleeping (a request rings the doorbell only of a sleeper).
      if (waits) await collect();
      hb.setBigUint64(H.counters, s.jr_now_ns() as bigint, true);
      hb.setUint32(H.linkUp, s.jr_port_link_status(this.port) === 1 ? 1 : 0, true);
      this.capture.poll();
      if (this.linkBell && backoffUs >= LINK_BELL_AFTER_US) {
        // A GSO link quiet for a few ms: sleep until the other NIC server rings (it does when it
        // sends and this one sleeps). Until then, short polls (below): no thread hop per wake.
        s.jr_nic_link_arm(ctx, 1);
        if (s.jr_nic_rx(ctx, 64) > 0) {
          s.jr_nic_link_arm(ctx, 0);
          idle = 0;
          continue;
        }
        waitsDone = false;
        waits = s.jr_nic_wait_link(ctx, IDLE_SLEEP_MS * 1000).then(() => {
          waitsDone = true;
        });
        // stop() ends the wait (a kick that came before the wait began is repeated by collect).
        await Promise.race([waits, new Promise<void>((r) => this.#wakeStop = r)]);
        this.#wakeStop = undefined;
        this.capture.poll();
        trace?.mark("nic.wake");
        idle = spin - 64;
        lastYield = performance.now();
      } else if (this.watch) {
        s.jr_nic_watch_arm(ctx, 1);
        if (s.jr_nic_rx(ctx, 64) > 0) {
          s.jr_nic_watch_arm(ctx, 0);
          idle = 0;
          continue;
        }
        // Up to IDLE_SLEEP_MS: traffic either way, a kick or a capture request end it sooner.
        const a = s.jr_nic_wait_tx(ctx, IDLE_SLEEP_MS * 1000);
        const b = s.jr_nic_watch_wait(ctx, IDLE_SLEEP_MS);
        waitsDone = false;
        waits = Promise.all([a, b]).then(() => {
          waitsDone = true;
        });
        await Promise.race([a, b]);
        s.jr_nic_kick_tx(ctx);
        s.jr_nic_watch_kick(ctx);
        // A capture request made while this sleep began rang no doorbell: look before the
        // frames that woke us are taken.
        this.capture.poll();
        trace?.mark("nic.wake");
        idle = spin - 64; // a few polls before sleeping again
        lastYield = performance.now();
      } else {
        // No Rx wake-up: sleep on the TX doorbell in this thread (no thread hop), one poll
        // per period, the period doubling to POLL_MAX_US; let the event loop run now and then.
        s.jr_nic_wait_tx_sync(ctx, backoffUs);
        backoffUs = Math.min(backoffUs * 2, this.cfg.pollMaxUs ?? POLL_MAX_US);
        idle = spin - 1;
        if (performance.now() - lastYield > 100) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
    }
    if (waits) await collect(); // no thread may still use the port once the loop is done
  }
}

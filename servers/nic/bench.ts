/**
 * `./joyride bench nic`: frames/s and Gbit/s the NIC server moves, per port kind and frame size
 * (64 B and 1500 B, Ethernet frame without FCS), beside a plain AF_PACKET program
 * (native/dpdk/afp_baseline.c, sendmmsg/recvmmsg) doing the same on the same veth in the same run.
 *
 * - `<kind>.tx`: the bench process plays the TCP server, keeping the NIC region's TX ring full;
 *   counted: frames arriving at the veth's other end (kernel rx_packets). Baseline: afp_baseline
 *   tx on the same interface.
 * - `<kind>.rx`: afp_baseline tx floods the veth from the peer namespace; counted: frames the NIC
 *   server puts on the RX ring (the bench drains it and gives the buffers back). Baseline:
 *   afp_baseline rx on the same interface under the same flood.
 * - `memif`: two NIC servers joined by memif; the bench fills one's TX ring and drains the
 *   other's RX ring. Baseline: afp_baseline tx → veth → afp_baseline rx.
 *
 * Options: `--seconds=N` (per measurement, default 2), `--kinds=af_packet,af_xdp,memif`,
 * `--verbose` (the NIC server's counters after each kind).
 * On 2 vCPUs every side shares the cores with the traffic generator (and, here, with other
 * work): rates swing with the machine's load. Each case also reports frames per CPU-second of
 * the mover (the NIC server process(es), resp. the baseline program(s)), which swings less.
 */
import { type BenchRow, row } from "../../scripts/bench_row.ts";
import type { Bench } from "../../scripts/bench_row.ts";
import { type Desc, type NicRegion, RX, RX_FREE, TX, TX_FREE } from "./region.ts";
import { NicChild } from "./_child.ts";

const root = new URL("../..", import.meta.url).pathname;
const baselineBin = `${root}build/afp_baseline`;

async function sh(...args: string[]): Promise<string> {
  const r = await new Deno.Command(args[0], {
    args: args.slice(1),
    stderr: "piped",
    stdout: "piped",
  })
    .output();
  if (r.code !== 0) {
    throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
  return new TextDecoder().decode(r.stdout);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Topology {
  readonly a: string;
  readonly b: string;
  readonly ifA: string;
  readonly ifB: string;
  constructor() {
    const t = `${Deno.pid % 100000}`;
    this.a = `jr-nb${t}-a`;
    this.b = `jr-nb${t}-b`;
    this.ifA = `jrba${t}`;
    this.ifB = `jrbb${t}`;
  }
  async up(): Promise<void> {
    await sh("ip", "netns", "add", this.a);
    await sh("ip", "netns", "add", this.b);
    await sh(
      "ip",
      "link",
      "add",
      this.ifA,
      "netns",
      this.a,
      "type",
      "veth",
      "peer",
      "name",
      this.ifB,
      "netns",
      this.b,
    ); // deno-fmt-ignore
    await sh("ip", "-n", this.a, "link", "set", this.ifA, "up");
    await sh("ip", "-n", this.b, "link", "set", this.ifB, "up");
    // No IPv6 chatter on the bench link.
    for (const [ns, ifn] of [[this.a, this.ifA], [this.b, this.ifB]]) {
      await sh("ip", "netns", "exec", ns, "sysctl", "-qw", `net.ipv6.conf.${ifn}.disable_ipv6=1`)
        .catch(() => "");
    }
  }
  async down(): Promise<void> {
    for (const ns of [this.a, this.b]) {
      await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output();
    }
  }
  async rxPackets(ns: string, ifn: string): Promise<number> {
    return Number(
      (await sh("ip", "netns", "exec", ns, "cat", `/sys/class/net/${ifn}/statistics/rx_packets`))
        .trim(),
    );
  }
}

function frame(size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0xbe, 0x4c, 1], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (let i = 14; i < size; i++) f[i] = i & 0xff;
  return f;
}

/** Keeps `tx`'s TX ring full of `size`-byte frames for `ms`; drains `rx`'s RX ring if given. */
async function pump(
  tx: NicRegion | undefined,
  rx: NicRegion | undefined,
  size: number,
  ms: number,
): Promise<void> {
  const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  const f = frame(size);
  // Write the frame into every tx buffer once (they come back unchanged), keeping them in a
  // local free list first: TX_FREE is the NIC's ring to produce into, never ours.
  const local: number[] = [];
  if (tx) {
    while (tx.rings[TX_FREE].pop(d)) local.push(d.off);
    for (const o of local) tx.bytes.set(f, o);
  }
  const end = performance.now() + ms;
  let turns = 0;
  while (performance.now() < end) {
    let moved = 0;
    if (tx) {
      const free = tx.rings[TX_FREE], out = tx.rings[TX];
      for (let i = 0; i < 256; i++) {
        const o = local.length > 0 ? local.pop()! : free.pop(d) ? d.off : -1;
        if (o < 0) break;
        if (!out.push(o, size)) {
          local.push(o);
          break;
        }
        moved++;
      }
      out.publish();
    }
    if (rx) {
      const inr = rx.rings[RX], back = rx.rings[RX_FREE];
      for (let i = 0; i < 256 && inr.pop(d); i++) {
        back.push(d.off, 0);
        moved++;
      }
      back.publish();
    }
    if (moved === 0) {
      if (rx && !tx) await rx.rings[RX].wait(2000);
      else if (tx) await tx.rings[TX_FREE].wait(2000);
    } else if ((++turns & 63) === 0) {
      await sleep(0);
    }
  }
}

/** Runs afp_baseline in a namespace; returns its JSON result. */
function baseline(
  ns: string,
  args: string[],
): Promise<{ frames: number; seconds: number; cpu: number }> {
  return sh("ip", "netns", "exec", ns, baselineBin, ...args).then((o) => JSON.parse(o));
}

/** A rate and what it cost: frames per second, and frames per CPU-second of the mover. */
interface Rate {
  fps: number;
  perCpu: number;
}

function rows(name: string, size: number, jr: Rate, base: Rate, baseName: string): BenchRow[] {
  const gbit = (fps: number) => fps * size * 8 / 1e9;
  const n = `nic.${name}.${size}B`;
  return [
    row(n, "frames/s", jr.fps, base.fps, baseName, "higher"),
    row(`${n}.gbit`, "Gbit/s", gbit(jr.fps), gbit(base.fps), baseName, "higher"),
    // On a shared 2-vCPU machine the rate depends on who else runs; frames per CPU-second of
    // the NIC server (resp. the baseline program) is the steadier figure.
    row(`${n}.per_cpu`, "frames/cpu-s", jr.perCpu, base.perCpu, baseName, "higher"),
  ];
}

async function afPacketLike(
  kind: "af_packet" | "af_xdp",
  topo: Topology,
  secs: number,
  sizes: number[],
  args: string[],
): Promise<BenchRow[]> {
  // Baselines first, with no NIC server on the interface (af_xdp's XDP program would steal
  // the baseline's frames).
  const base = new Map<string, Rate>();
  for (const size of sizes) {
    const p0 = await topo.rxPackets(topo.b, topo.ifB);
    const t0 = performance.now();
    const t = await baseline(topo.a, ["tx", topo.ifA, String(size), String(secs)]);
    const sent = await topo.rxPackets(topo.b, topo.ifB) - p0;
    base.set(`tx${size}`, { fps: sent / ((performance.now() - t0) / 1000), perCpu: sent / t.cpu });
    await sleep(200);
    const recv = baseline(topo.a, ["rx", topo.ifA, String(secs)]);
    await sleep(50);
    await baseline(topo.b, ["tx", topo.ifB, String(size), String(secs)]);
    const r = await recv;
    base.set(`rx${size}`, { fps: r.frames / r.seconds, perCpu: r.frames / r.cpu });
    await sleep(200);
  }
  const out: BenchRow[] = [];
  const srv = await NicChild.start(
    topo.a,
    ["--kind", kind, "--iface", topo.ifA, "--no-gro"],
    `/dev/shm/jr-nicbench-${Deno.pid}-${kind}`,
  );
  try {
    for (const size of sizes) {
      // tx: NIC server → veth, counted at the other end
      const p0 = await topo.rxPackets(topo.b, topo.ifB);
      let cpu0 = srv.cpuSeconds();
      let t0 = performance.now();
      await pump(srv.region, undefined, size, secs * 1000);
      const sent = await topo.rxPackets(topo.b, topo.ifB) - p0;
      const tx = {
        fps: sent / ((performance.now() - t0) / 1000),
        perCpu: sent / Math.max(0.01, srv.cpuSeconds() - cpu0),
      };
      out.push(...rows(`${kind}.tx`, size, tx, base.get(`tx${size}`)!, "AF_PACKET sendmmsg"));
      await sleep(200);
      // rx: veth flood → NIC server's RX ring
      const c0 = srv.region.counter("rxFrames");
      cpu0 = srv.cpuSeconds();
      t0 = performance.now();
      const gen = baseline(topo.b, ["tx", topo.ifB, String(size), String(secs)]);
      await pump(undefined, srv.region, size, secs * 1000);
      await gen;
      const got = Number(srv.region.counter("rxFrames") - c0);
      const rx = {
        fps: got / ((performance.now() - t0) / 1000),
        perCpu: got / Math.max(0.01, srv.cpuSeconds() - cpu0),
      };
      out.push(...rows(`${kind}.rx`, size, rx, base.get(`rx${size}`)!, "AF_PACKET recvmmsg"));
      await sleep(200);
    }
    const c = srv.region.counters();
    const st = await topo.rxPackets(topo.b, topo.ifB);
    if (args.includes("--verbose")) {
      console.error(`nic bench: ${kind}: counters ${JSON.stringify(c)}, peer rx_packets ${st}`);
    }
    if (c.txDropped > 0 || c.rxNoBuf > 0 || c.rxRingFull > 0) {
      console.error(
        `nic bench: ${kind}: txDropped ${c.txDropped}, rxNoBuf ${c.rxNoBuf}, rxRingFull ${c.rxRingFull}`,
      );
    }
  } finally {
    await srv.stop();
  }
  return out;
}

async function memif(topo: Topology, secs: number, sizes: number[]): Promise<BenchRow[]> {
  const out: BenchRow[] = [];
  const sock = `/tmp/jr-nicbench-${Deno.pid}.sock`;
  const a = await NicChild.start(undefined, [
    "--kind",
    "memif",
    "--memif-role",
    "server",
    "--memif-socket",
    sock,
  ], `/dev/shm/jr-nicbench-${Deno.pid}-ma`);
  let b: NicChild | undefined;
  try {
    b = await NicChild.start(undefined, [
      "--kind",
      "memif",
      "--memif-role",
      "client",
      "--memif-socket",
      sock,
    ], `/dev/shm/jr-nicbench-${Deno.pid}-mb`);
    // memif connects in the background: wait until frames cross.
    const linkBy = Date.now() + 10000;
    while (Date.now() < linkBy && b.region.counter("rxFrames") === 0n) {
      await pump(a.region, b.region, 64, 100);
    }
    for (const size of sizes) {
      const c0 = b.region.counter("rxFrames");
      const cpu0 = a.cpuSeconds() + b.cpuSeconds();
      const t0 = performance.now();
      await pump(a.region, b.region, size, secs * 1000);
      const got = Number(b.region.counter("rxFrames") - c0);
      const jr = {
        fps: got / ((performance.now() - t0) / 1000),
        perCpu: got / Math.max(0.01, a.cpuSeconds() + b.cpuSeconds() - cpu0),
      };
      await sleep(200);
      const recv = baseline(topo.b, ["rx", topo.ifB, String(secs)]);
      await sleep(50);
      const t = await baseline(topo.a, ["tx", topo.ifA, String(size), String(secs)]);
      const r = await recv;
      const base = { fps: r.frames / r.seconds, perCpu: r.frames / (r.cpu + t.cpu) };
      out.push(...rows("memif", size, jr, base, "AF_PACKET sendmmsg→veth→recvmmsg"));
    }
  } finally {
    await b?.stop();
    await a.stop();
    await Deno.remove(sock).catch(() => {});
  }
  return out;
}

/** The registered benchmark. */
export const bench: Bench = {
  name: "nic",
  description:
    "NIC server frames/s and Gbit/s per port kind and frame size, beside a plain AF_PACKET program",
  async run(args: string[]): Promise<BenchRow[]> {
    // `./joyride bench` passes only dashed arguments through: --seconds=N --kinds=a,b
    const opt = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
    const secs = Number(opt("seconds") ?? 2);
    const kinds = (opt("kinds") ?? "af_packet,memif,af_xdp").split(",");
    const sizes = [64, 1500];
    const topo = new Topology();
    const out: BenchRow[] = [];
    try {
      await topo.up();
      for (const k of kinds) {
        try {
          if (k === "af_packet" || k === "af_xdp") {
            out.push(...await afPacketLike(k, topo, secs, sizes, args));
          } else if (k === "memif") out.push(...await memif(topo, secs, sizes));
        } catch (e) {
          console.error(`nic bench: ${k}: ${(e as Error).message}`);
        }
      }
    } finally {
      await topo.down();
    }
    return out;
  },
};

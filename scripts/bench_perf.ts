/**
 * `./joyride bench perf`: Joyride's whole data path (peer kernel ⇄ veth ⇄ NIC server ⇄ TCP/IP
 * server ⇄ app through the shim) beside the Linux kernel's stack over a veth pair at the same
 * MTU (two namespaces this bench makes), measured in the same run (issue 9):
 *
 * - `bulk.iperf3.app-to-peer` / `.peer-to-app`: unmodified iperf3 through the shim (`-R` for the
 *   second) against iperf3 on the peer host; baseline iperf3 ⇄ iperf3 kernel↔kernel.
 *   Also against the kernel with the veth's offloads off (a lower bar: Joyride's NIC server
 *   sends and receives 64 KB GSO/GRO packets through its veth with the offloads on).
 * - `bulk.iperf3.joyride-joyride`: two more instances joined by a memif GSO link (config.ts
 *   memifPair: TSO frames cross whole, idle NIC servers sleep on the link's doorbells),
 *   iperf3 through the shim on both ends (server in one, client in the other), single flow;
 *   baseline iperf3 ⇄ iperf3 kernel↔kernel over the veth (and `.vs-offloads-off`).
 *   `cpu.per-gbit.joyride-joyride`: both instances' servers and both iperf3 vs both kernel
 *   iperf3 processes.
 *   `idle.cpu.joyride-joyride`: both instances' servers idle over 5 s (target under 1 %).
 *   `.no-gro`: the pair again started with `--no-gro` (when GRO is on). On the GSO link GRO
 *   never sees the pair's TCP frames (they cross whole), so the two rows differ by noise: the
 *   row shows how far apart two runs of one setup land.
 * - `instances.N`: aggregate iperf3 throughput of N whole instances (each its own NIC and TCP/IP
 *   server and peer host, one flow each, at once) vs N flows over the kernel's veth; figure
 *   `aggregate_vs_instances.svg`. (Several TCP/IP servers behind one NIC server with flow
 *   steering do not exist yet; this measures what they could give here.)
 * - `bulk.discard` / `bulk.echo`: a peer-side Python sender into the built-in discard (9) and
 *   echo (7) services; baseline: the same sender into a Python discard/echo server.
 * - `rtt.1byte.p50/p99`: one-byte ping-pong from the peer to the echo service; baseline the
 *   same client against a kernel echo server. `rtt.sockperf.p50/p99`: sockperf ping-pong
 *   (14-byte messages, full round trip) to a sockperf server through the shim vs on the kernel,
 *   the server pinned to CPU 0 and the client to CPU 1 in both; `rtt.sockperf.one-cpu.*` with
 *   both on CPU 0.
 * - `cpu.per-gbit.app-to-peer`: CPU seconds per Gbit on the sending side (servers + iperf3 vs
 *   iperf3 alone, whose system time holds the kernel's TCP work).
 * - `idle.cpu`: CPU of all servers together over `--idle-seconds` (target: under 1 % of a core),
 *   from every thread's schedstat (ns, not 10 ms ticks); a note gives each server's share.
 * - `mem.per-connection`: the TCP server's resident memory (PSS) growth per established idle
 *   connection vs the kernel's slab growth per connection (kernel↔kernel connections have two
 *   ends in the one kernel: halved), read once the connections have been idle for
 *   {@link MEM_SETTLE_MS}: the handshakes' garbage (~40 kB each) is collected and given back
 *   by then. `mem.per-connection.peak`: the same 1 s after the last handshake, garbage and all
 *   (measured in one run: 236 MB for 10,000 at 1 s, 133 MB at 6 s, 93 MB at 16 s, from 39 MB
 *   idle). `mem.idle`: the servers' resident memory (PSS: shared
 *   pages counted once) idle; the kernel has no twin of it, so its baseline is the same servers
 *   with the connections held.
 * - Figures (SVG, `--out DIR`, default build/bench/): Figure 3, single-process throughput vs
 *   write size, blocking and non-blocking (Python sender, on Joyride through the shim vs on the
 *   kernel); Figure 4, aggregate throughput vs sender processes.
 *   Bar charts: `cpu_per_gbit.svg` (CPU per Gbit beside Linux) and `memory.svg` (servers idle
 *   and with `--conns` connections; growth beside the kernel's slab for the same connections).
 * - `mem.connections.N`: the servers' growth for N connections vs the kernel's slab growth for
 *   N connection ends. `bulk.iperf3.app-to-peer.beside-N-idle`: one iperf3 flow while those N
 *   connections are held, vs the kernel's flow beside its own N; `.beside-M-idle-app`: the
 *   same beside M (2,000) connections a program under the shim accepted and holds.
 *
 * Options: `--seconds=N` (bulk runs, default 3), `--fig-seconds=N` (each figure point, 1.5),
 * `--idle-seconds=N` (10), `--conns=N` (idle connections, 10000), `--out=DIR`,
 * `--gro`/`--no-gro` (the NIC server's receive coalescing, default on), `--spin-us=N` (the TCP
 * server's spin before sleeping, tcp.spinMicros; default: the configuration's), `--skip=a,b` (groups:
 * iperf3, j2j, instances, py, rtt, sockperf, idle, mem, fig3, fig4). Each group holds the benchmark lock
 * (bench_row.ts benchLocked); others' measurements may run between groups.
 * On 2 vCPUs shared with other work, absolute rates swing; the ratios come from one run.
 */
import { benchLocked, type BenchRow, row } from "./bench_row.ts";
import type { Bench } from "./bench_row.ts";
import { barChart, lineChart, type Series } from "./bench_svg.ts";
import { memifPair } from "../servers/supervisor/config.ts";
import { onCpu } from "../servers/supervisor/affinity.ts";
import { userPath } from "./paths.ts";

const root = new URL("..", import.meta.url).pathname;
const peerPy = `${root}scripts/_bench_peer.py`;
const JR = "198.18.0.2", PEER = "198.18.0.1";
const KA = "198.19.0.1", KB = "198.19.0.2";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dec = new TextDecoder();

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function sh(cmd: string[], timeoutMs = 120_000): Promise<Out> {
  const child = new Deno.Command("setsid", {
    args: cmd,
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      Deno.kill(-child.pid, "SIGKILL"); // its process group (setsid)
    } catch {
      // gone
    }
  }, timeoutMs);
  const o = await child.output();
  clearTimeout(timer);
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

async function must(cmd: string[]): Promise<string> {
  const r = await sh(cmd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Last JSON line of a program's output. */
function lastJson(s: string): Record<string, number> {
  const lines = s.trim().split("\n").filter((l) => l.startsWith("{"));
  if (lines.length === 0) throw new Error(`no result in: ${s.slice(0, 300)}`);
  return JSON.parse(lines[lines.length - 1]);
}

/** A background process (server, connection holder), killed by pid at the end. */
class Bg {
  readonly child: Deno.ChildProcess;
  #lines: string[] = [];
  #waiters: (() => void)[] = [];
  #stdin?: WritableStreamDefaultWriter<Uint8Array>;
  constructor(cmd: string[], stdin = false) {
    // setsid: its own process group, so stop() ends what it started too (an app under
    // `./joyride run` is a grandchild).
    const child = new Deno.Command("setsid", {
      args: cmd,
      cwd: root,
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.child = child;
    if (stdin) this.#stdin = child.stdin.getWriter();
    (async () => {
      let buf = "";
      for await (const c of child.stdout) {
        buf += dec.decode(c);
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          this.#lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
          this.#waiters.splice(0).forEach((w) => w());
        }
      }
    })().catch(() => {});
  }
  /** Waits for a first output line (e.g. "listening"), at most `ms`. */
  async line(ms = 60_000): Promise<string> {
    const end = Date.now() + ms;
    while (this.#lines.length === 0) {
      if (Date.now() > end) throw new Error("timed out waiting for a background program");
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), sleep(200)]);
    }
    return this.#lines.shift()!;
  }
  async stop(): Promise<void> {
    try {
      await this.#stdin?.close();
    } catch {
      // gone
    }
    await sleep(100);
    try {
      Deno.kill(-this.child.pid, "SIGKILL");
    } catch {
      // gone
    }
    await this.child.status.catch(() => {});
  }
}

/** Two namespaces joined by a veth pair: the kernel↔kernel baseline. */
class KernelPair {
  readonly a: string;
  readonly b: string;
  readonly ifA: string;
  readonly ifB: string;
  constructor(id: string) {
    this.a = `jr-${id}-ka`;
    this.b = `jr-${id}-kb`;
    this.ifA = `${id}a`;
    this.ifB = `${id}b`;
  }
  async up(mtu: number): Promise<void> {
    await this.down();
    await must(["ip", "netns", "add", this.a]);
    await must(["ip", "netns", "add", this.b]);
    await must([
      "ip",
      "link",
      "add",
      this.ifA,
      "netns",
      this.a,
      "mtu",
      String(mtu),
      "type",
      "veth",
      "peer",
      "name",
      this.ifB,
      "netns",
      this.b,
      "mtu",
      String(mtu),
    ]);
    for (const [ns, ifn, addr] of [[this.a, this.ifA, KA], [this.b, this.ifB, KB]]) {
      await must(["ip", "-n", ns, "addr", "add", `${addr}/24`, "dev", ifn]);
      await must(["ip", "-n", ns, "link", "set", ifn, "up"]);
      await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
  }
  async offloads(on: boolean): Promise<void> {
    const v = on ? "on" : "off";
    for (const [ns, ifn] of [[this.a, this.ifA], [this.b, this.ifB]]) {
      await sh(["ip", "netns", "exec", ns, "ethtool", "-K", ifn, "tso", v, "gso", v, "gro", v]);
      await sh(["ip", "netns", "exec", ns, "ethtool", "-K", ifn, "tx", v, "rx", v]);
    }
  }
  inA(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.a, ...cmd];
  }
  inB(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.b, ...cmd];
  }
  async down(): Promise<void> {
    await sh(["ip", "netns", "del", this.a]);
    await sh(["ip", "netns", "del", this.b]);
  }
}

/** A Joyride instance of this bench (started detached, stopped at the end). */
class Joyride {
  readonly name: string;
  readonly peerNs: string;
  readonly cfgFile: string;
  /** `config`: the instance's configuration file's fields (default: af_packet to a peer). */
  constructor(name: string, gro: boolean, spinMicros?: number, config?: Record<string, unknown>) {
    this.name = name;
    this.peerNs = `jr-${name}-peer`;
    this.cfgFile = Deno.makeTempFileSync({ prefix: `jr-${name}-`, suffix: ".json" });
    const base = config ?? { nic: { port: "af_packet" } };
    Deno.writeTextFileSync(
      this.cfgFile,
      JSON.stringify({
        ...base,
        instance: name,
        nic: { ...base.nic as Record<string, unknown>, args: [gro ? "--gro" : "--no-gro"] },
        ...(spinMicros !== undefined ? { tcp: { spinMicros } } : {}),
      }),
    );
  }
  cli(args: string[]): string[] {
    const i = args.indexOf("--");
    const mine = ["--instance", this.name, "--config", this.cfgFile];
    const full = i < 0 ? [...args, ...mine] : [...args.slice(0, i), ...mine, ...args.slice(i)];
    return [Deno.execPath(), "run", "-A", `${root}scripts/cli.ts`, ...full];
  }
  async start(): Promise<void> {
    const r = await sh(this.cli(["start", "--detach"]), 180_000);
    if (r.code !== 0) throw new Error(`cannot start Joyride: ${r.stderr.trim()}`);
  }
  /** A command run by an app through the shim. */
  app(cmd: string[]): string[] {
    // No fallback to the kernel: if the instance were gone, the traffic would leave through
    // the root namespace's routes instead.
    return ["env", "JOYRIDE_POLICY=refuse", ...this.cli(["run", "--", ...cmd])];
  }
  peer(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.peerNs, ...cmd];
  }
  /** Server pids by name (supervisor, naming, nic, tcp). */
  async pids(): Promise<Record<string, number>> {
    const r = await sh(this.cli(["status", "--json"]));
    const s = JSON.parse(r.stdout) as { servers: { name: string; pid: number }[] };
    const out: Record<string, number> = {};
    for (const x of s.servers) out[x.name] = x.pid;
    try {
      out.supervisor ??= Number(Deno.readTextFileSync(`/run/joyride/${this.name}/supervisor.pid`));
    } catch {
      // not there
    }
    return out;
  }
  async stop(): Promise<void> {
    await sh(this.cli(["stop"]), 60_000);
    try {
      Deno.removeSync(this.cfgFile);
    } catch {
      // gone
    }
  }
}

const HZ = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of a process so far, 0 if gone. */
function cpuSec(pid: number): number {
  try {
    const st = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / HZ;
  } catch {
    return 0;
  }
}

/** Proportional set size: resident memory with shared pages (the NIC region, DPDK's pools)
 * divided among the processes that map them, so a sum over the servers counts them once. */
/** Idle connections an app under the shim holds beside a flow (`beside-N-idle-app`). */
const APP_IDLE_CONNS = 2000;

/** How long held connections stay idle before their memory is read (see `mem.per-connection`). */
const MEM_SETTLE_MS = 20_000;

function rssBytes(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`).match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (ns) so far of each of a process's threads (their schedstat), by thread id. */
function threadNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const st = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`);
        out.set(t.name, Number(st.split(" ")[0]));
      } catch {
        // thread gone
      }
    }
  } catch {
    // process gone
  }
  return out;
}

/** CPU (ns) the threads of `after` used since `before` (a thread that exited meanwhile: 0). */
function threadNsSince(before: Map<string, number>, after: Map<string, number>): number {
  let ns = 0;
  for (const [tid, t] of after) ns += t - (before.get(tid) ?? 0);
  return ns;
}

function slabBytes(): number {
  const m = Deno.readTextFileSync("/proc/meminfo").match(/^Slab:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function opt(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : dflt;
  if (!(v >= 0)) throw new Error(`bench perf: --${name} must be a number`);
  return v;
}

interface Iperf {
  gbps: number;
  clientCpuSec: number;
  /** The iperf3 server's CPU seconds (its end's process, as iperf3 reports it). */
  serverCpuSec: number;
}

function parseIperf(o: Out): Iperf {
  const j = o.stdout.indexOf("{");
  if (j < 0) throw new Error(`iperf3 gave no JSON: ${o.stderr.slice(0, 300)}`);
  const d = JSON.parse(o.stdout.slice(j));
  if (d.error) throw new Error(`iperf3: ${d.error}`);
  const e = d.end;
  const secs = e.sum_received.seconds ?? e.sum_received.end;
  return {
    gbps: e.sum_received.bits_per_second / 1e9,
    clientCpuSec: (e.cpu_utilization_percent.host_total / 100) * secs,
    serverCpuSec: ((e.cpu_utilization_percent.remote_total ?? 0) / 100) * secs,
  };
}

async function run(args: string[]): Promise<BenchRow[]> {
  const secs = opt(args, "seconds", 3);
  const figSecs = opt(args, "fig-seconds", 1.5);
  const idleSecs = opt(args, "idle-seconds", 10);
  const conns = opt(args, "conns", 10000);
  const gro = !args.includes("--no-gro");
  const outArg = args.find((a) => a.startsWith("--out="))?.slice(6);
  const outDir = outArg ? userPath(outArg) : `${root}build/bench`;
  const skip = new Set(
    (args.find((a) => a.startsWith("--skip="))?.slice(7) ?? "").split(",").filter((s) => s),
  );
  const id = `bp${Deno.pid % 100000}`;
  const spinArg = args.find((a) => a.startsWith("--spin-us="));
  const spinMicros = spinArg ? opt(args, "spin-us", 0) : undefined;
  const jr = new Joyride(id, gro, spinMicros);
  const k = new KernelPair(id);
  const rows: BenchRow[] = [];
  const bg: Bg[] = [];
  const note = (s: string) => console.log(`  ${s}`);
  const py = (a: string[]) => ["python3", peerPy, ...a];
  const failed: string[] = [];
  /** Instances of the Joyride↔Joyride pair (stopped at the end if a step failed midway). */
  const pair: Joyride[] = [];
  /** Bars of the CPU-per-Gbit chart: [Joyride, Linux]. */
  const cpuBars: { name: string; values: number[] }[] = [];
  const startBg = (cmd: string[], stdin = false) => {
    const b = new Bg(cmd, stdin);
    bg.push(b);
    return b;
  };
  /** Runs one group of measurements; a failure is reported and the others still run. */
  const step = async (name: string, fn: () => Promise<void>) => {
    if (skip.has(name)) return;
    try {
      await benchLocked(fn); // others' measurements may run between two groups
    } catch (e) {
      failed.push(name);
      note(`${name}: failed: ${e instanceof Error ? e.message : e}`);
    }
  };
  try {
    await k.up(1500);
    await benchLocked(() => jr.start()); // starting Deno servers would disturb a measurement
    const pids = await jr.pids();
    const servers = Object.values(pids).filter((p) => p > 0);
    const dataPids = [pids.tcp, pids.nic].filter((p) => p > 0);
    note(`instance ${id} (GRO ${gro ? "on" : "off"}), servers ${JSON.stringify(pids)}`);

    // Kernel-side servers for the Python programs.
    const kDiscard = startBg(k.inB(py(["discard-server", KB, "5009"])));
    const kEcho = startBg(k.inB(py(["echo-server", KB, "5007"])));
    bg.push(kDiscard, kEcho);
    await kDiscard.line();
    await kEcho.line();

    // ---- iperf3 through the shim ----
    await step("iperf3", async () => {
      for (const [dir, flag] of [["app-to-peer", []], ["peer-to-app", ["-R"]]] as const) {
        const ip = ["iperf3", "-c"];
        const t = ["-t", String(secs), "-J", "-p", "5201"];
        const ps = startBg(jr.peer(["iperf3", "-s", "-1", "-p", "5201"]));
        await sleep(500);
        const c0 = sum(dataPids.map(cpuSec));
        const j = parseIperf(await sh(jr.app([...ip, PEER, ...t, ...flag])));
        const jCpu = sum(dataPids.map(cpuSec)) - c0 + j.clientCpuSec;
        await ps.stop();
        const ks = startBg(k.inB(["iperf3", "-s", "-1", "-p", "5201"]));
        await sleep(300);
        const kk = parseIperf(await sh(k.inA([...ip, KB, ...t, ...flag])));
        await ks.stop();
        await k.offloads(false);
        const ks2 = startBg(k.inB(["iperf3", "-s", "-1", "-p", "5201"]));
        await sleep(300);
        const kOff = parseIperf(await sh(k.inA([...ip, KB, ...t, ...flag])));
        await ks2.stop();
        await k.offloads(true);
        rows.push(
          row(`bulk.iperf3.${dir}`, "Gbit/s", j.gbps, kk.gbps, "kernel veth iperf3", "higher"),
          row(
            `bulk.iperf3.${dir}.vs-offloads-off`,
            "Gbit/s",
            j.gbps,
            kOff.gbps,
            "kernel veth iperf3, offloads off",
            "higher",
          ),
        );
        if (dir === "app-to-peer") {
          rows.push(row(
            "cpu.per-gbit.app-to-peer",
            "CPU-s/Gbit",
            jCpu / (j.gbps * secs),
            kk.clientCpuSec / (kk.gbps * secs),
            "kernel veth iperf3 (client CPU)",
            "lower",
          ));
          cpuBars.push({
            name: "Joyride→kernel peer (sender)",
            values: [jCpu / (j.gbps * secs), kk.clientCpuSec / (kk.gbps * secs)],
          });
        }
      }
    });

    // ---- Joyride↔Joyride: two instances joined by memif, iperf3 through the shim on both ----
    await step("j2j", async () => {
      // The pair's own servers only: the instance above sleeps meanwhile (idle, no traffic).
      // Once as configured (GRO as --gro/--no-gro says) and, when that is GRO on, once more
      // without GRO: rte_gro hands frames it does not merge (PSH set) back after the merged
      // ones of the same burst, which reorders the stream (issue 9 note in the report).
      const sock = `/run/joyride/memif-${id}.sock`;
      const t = ["-t", String(secs), "-J", "-p", "5202"];
      const measure = async (g: boolean) => {
        const [ca, cb] = memifPair(`${id}m`, `${id}n`, sock);
        const a = new Joyride(`${id}m`, g, undefined, ca);
        const b = new Joyride(`${id}n`, g, undefined, cb);
        pair.push(b, a); // stopped in this order in `finally` (client first)
        await a.start();
        await b.start();
        const pairPids = [...Object.values(await a.pids()), ...Object.values(await b.pids())]
          .filter((p) => p > 0);
        const srv = startBg(a.app(["iperf3", "-s", "-1", "-p", "5202"]));
        await sleep(1500); // the shim's registration and the listener
        let c0 = sum(pairPids.map(cpuSec));
        let o = await sh(b.app(["iperf3", "-c", JR, ...t]));
        // Until the listener is in A's TCP/IP server, the connection is refused: again.
        for (let i = 0; i < 20 && /unable to connect/.test(o.stdout + o.stderr); i++) {
          await sleep(500);
          c0 = sum(pairPids.map(cpuSec));
          o = await sh(b.app(["iperf3", "-c", JR, ...t]));
        }
        const j = parseIperf(o);
        const cpu = sum(pairPids.map(cpuSec)) - c0 + j.clientCpuSec + j.serverCpuSec;
        const d = JSON.parse(o.stdout.slice(o.stdout.indexOf("{")));
        note(`Joyride↔Joyride GRO ${g ? "on" : "off"}: ${d.end.sum_sent.retransmits} retransmits`);
        await srv.stop();
        let idle = NaN;
        if (g === gro) {
          // The pair idle (memif has Rx interrupts; the NIC servers sleep as on af_packet).
          await sleep(2000);
          const i0 = pairPids.map(threadNs); // ns of every thread, as the idle group
          await sleep(5000);
          idle = sum(pairPids.map((p, i) => threadNsSince(i0[i], threadNs(p)))) / 1e7 / 5;
        }
        for (const x of pair.splice(0)) await x.stop();
        return { ...j, cpu, idle };
      };
      const j = await measure(gro);
      const jNoGro = gro ? await measure(false) : undefined;
      const ks = startBg(k.inB(["iperf3", "-s", "-1", "-p", "5202"]));
      await sleep(300);
      const kk = parseIperf(await sh(k.inA(["iperf3", "-c", KB, ...t])));
      await ks.stop();
      await k.offloads(false);
      const ks2 = startBg(k.inB(["iperf3", "-s", "-1", "-p", "5202"]));
      await sleep(300);
      const kOff = parseIperf(await sh(k.inA(["iperf3", "-c", KB, ...t])));
      await ks2.stop();
      await k.offloads(true);
      const kCpu = kk.clientCpuSec + kk.serverCpuSec;
      rows.push(
        row(
          "bulk.iperf3.joyride-joyride",
          "Gbit/s",
          j.gbps,
          kk.gbps,
          "kernel veth iperf3",
          "higher",
        ),
        row(
          "bulk.iperf3.joyride-joyride.vs-offloads-off",
          "Gbit/s",
          j.gbps,
          kOff.gbps,
          "kernel veth iperf3, offloads off",
          "higher",
        ),
        row(
          "cpu.per-gbit.joyride-joyride",
          "CPU-s/Gbit",
          j.cpu / (j.gbps * secs),
          kCpu / (kk.gbps * secs),
          "kernel veth iperf3 (both ends' CPU)",
          "lower",
        ),
      );
      rows.push(
        row("idle.cpu.joyride-joyride", "% of a core", j.idle, 1, "target (1 %)", "lower"),
      );
      if (jNoGro) {
        rows.push(
          row(
            "bulk.iperf3.joyride-joyride.no-gro",
            "Gbit/s",
            jNoGro.gbps,
            kk.gbps,
            "kernel veth iperf3",
            "higher",
          ),
        );
      }
      cpuBars.push({
        name: "Joyride↔Joyride",
        values: [j.cpu / (j.gbps * secs), kCpu / (kk.gbps * secs)],
      });
    });

    // ---- aggregate throughput vs instances (each its own NIC and TCP/IP server) ----
    await step("instances", async () => {
      // What several TCP/IP servers would give on this machine, without flow steering: N whole
      // instances, each with its own peer host, one iperf3 flow each, all at once; the kernel:
      // N flows over its veth at once.
      const more = new Joyride(`${id}s`, gro, spinMicros);
      pair.push(more);
      await more.start();
      const insts = [jr, more];
      const js: [number, number][] = [], ks: [number, number][] = [];
      for (const n of [1, 2]) {
        const t = ["-t", String(secs), "-J"];
        const srv = insts.slice(0, n).map((x) =>
          startBg(x.peer(["iperf3", "-s", "-1", "-p", "5204"]))
        );
        await sleep(500);
        const jo = await Promise.all(
          insts.slice(0, n).map((x) => sh(x.app(["iperf3", "-c", PEER, "-p", "5204", ...t]))),
        );
        for (const b of srv) await b.stop();
        const ksrv = Array.from(
          { length: n },
          (_, i) => startBg(k.inB(["iperf3", "-s", "-1", "-p", String(5204 + i)])),
        );
        await sleep(300);
        const ko = await Promise.all(
          Array.from(
            { length: n },
            (_, i) => sh(k.inA(["iperf3", "-c", KB, "-p", String(5204 + i), ...t])),
          ),
        );
        for (const b of ksrv) await b.stop();
        const j = sum(jo.map((o) => parseIperf(o).gbps));
        const kx = sum(ko.map((o) => parseIperf(o).gbps));
        js.push([n, j]);
        ks.push([n, kx]);
        rows.push(
          row(`instances.${n}`, "Gbit/s", j, kx, `kernel veth, ${n} iperf3 flows`, "higher"),
        );
      }
      for (const x of pair.splice(0)) await x.stop();
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(
        `${outDir}/aggregate_vs_instances.svg`,
        lineChart({
          title: "Aggregate iperf3 throughput vs Joyride instances (one flow each)",
          xLabel: "instances (Joyride) / flows (Linux)",
          yLabel: "Gbit/s",
          series: [{ name: "Joyride", points: js }, { name: "Linux", points: ks, dashed: true }],
        }),
      );
    });

    // ---- Python bulk into the built-in services ----
    await step("py", async () => {
      const c0 = sum(dataPids.map(cpuSec));
      const jd = lastJson(
        (await sh(jr.peer(py(["send", JR, "9", String(secs), "65536", "block"])))).stdout,
      );
      const jdCpu = sum(dataPids.map(cpuSec)) - c0;
      const kd = lastJson(
        (await sh(k.inA(py(["send", KB, "5009", String(secs), "65536", "block"])))).stdout,
      );
      rows.push(
        row("bulk.discard", "Gbit/s", jd.gbps, kd.gbps, "kernel veth, Python server", "higher"),
      );
      note(`discard: servers ${(jdCpu / (jd.gbps * secs)).toFixed(2)} CPU-s/Gbit`);
      const je = lastJson((await sh(jr.peer(py(["echo", JR, "7", String(secs)])))).stdout);
      const ke = lastJson((await sh(k.inA(py(["echo", KB, "5007", String(secs)])))).stdout);
      rows.push(
        row("bulk.echo", "Gbit/s", je.gbps, ke.gbps, "kernel veth, Python server", "higher"),
      );
    });

    // ---- round trips ----
    await step("rtt", async () => {
      const n = "3000";
      const jr1 = lastJson((await sh(jr.peer(py(["rtt", JR, "7", n])))).stdout);
      const kr1 = lastJson((await sh(k.inA(py(["rtt", KB, "5007", n])))).stdout);
      rows.push(
        row("rtt.1byte.p50", "us", jr1.p50_us, kr1.p50_us, "kernel veth, Python echo", "lower"),
        row("rtt.1byte.p99", "us", jr1.p99_us, kr1.p99_us, "kernel veth, Python echo", "lower"),
      );
    });
    await step("sockperf", async () => {
      const sp = (o: Out) => {
        const pct = (p: string) => {
          const m = o.stdout.match(new RegExp(`percentile ${p} =\\s+([\\d.]+)`)) ??
            o.stderr.match(new RegExp(`percentile ${p} =\\s+([\\d.]+)`));
          if (!m) throw new Error(`sockperf gave no percentile ${p}: ${o.stderr.slice(-300)}`);
          return Number(m[1]);
        };
        return { p50: pct("50.000"), p99: pct("99.000") };
      };
      const pp = ["sockperf", "ping-pong", "--tcp", "-m", "14", "--full-rtt", "-t", String(secs)];
      // The same placement for Joyride and the kernel (issue 9: "for the same placement"):
      // the server and the client pinned, on two CPUs and then both on one. Unpinned, the
      // kernel's pair landed on one CPU in some runs and on two in others (p50 2.5-6 µs or
      // 33-75 µs, session 15), and the row followed the scheduler. Joyride's own servers are
      // not pinned (affinity config).
      const measure = async (serverCpu: number, clientCpu: number) => {
        const server = (a: string) => ["sockperf", "server", "--tcp", "-i", a, "-p", "11111"];
        const js = startBg(jr.app(onCpu(serverCpu, server(JR))));
        await sleep(2500);
        const jp = sp(await sh(jr.peer(onCpu(clientCpu, [...pp, "-i", JR, "-p", "11111"]))));
        await js.stop();
        const ks = startBg(k.inB(onCpu(serverCpu, server(KB))));
        await sleep(500);
        const kp = sp(await sh(k.inA(onCpu(clientCpu, [...pp, "-i", KB, "-p", "11111"]))));
        await ks.stop();
        return { jp, kp };
      };
      const two = await measure(0, 1);
      const one = await measure(0, 0);
      const on2 = "kernel veth sockperf, server on CPU 0, client on CPU 1";
      const on1 = "kernel veth sockperf, server and client on CPU 0";
      rows.push(
        row("rtt.sockperf.p50", "us", two.jp.p50, two.kp.p50, on2, "lower"),
        row("rtt.sockperf.p99", "us", two.jp.p99, two.kp.p99, on2, "lower"),
        row("rtt.sockperf.one-cpu.p50", "us", one.jp.p50, one.kp.p50, on1, "lower"),
        row("rtt.sockperf.one-cpu.p99", "us", one.jp.p99, one.kp.p99, on1, "lower"),
      );
    });

    // ---- idle CPU of all servers ----
    await step("idle", async () => {
      // Settled: the TCP/IP server's one full collection after a burst (servers/tcp/loop.ts
      // heapTrimmer, up to ~50 ms, at most every 2 s or 100× its duration) is not idle work.
      // After the bulk groups it landed inside a window that began 2 s after the traffic.
      await sleep(6000);
      // Nanoseconds on CPU of every thread (schedstat), not 10 ms ticks: 0.1 % is 1 tick in 10 s.
      const c0 = servers.map(threadNs);
      await sleep(idleSecs * 1000);
      const pcts = servers.map((p, i) => threadNsSince(c0[i], threadNs(p)) / 1e7 / idleSecs);
      rows.push(row("idle.cpu", "% of a core", sum(pcts), 1, "target (1 %)", "lower"));
      const names = Object.fromEntries(Object.entries(pids).map(([k, v]) => [v, k]));
      note(`idle: ${servers.map((p, i) => `${names[p] ?? p} ${pcts[i].toFixed(3)} %`).join(", ")}`);
    });

    // ---- memory: idle, and per established idle connection ----
    await step("mem", async () => {
      if (conns <= 0) return;
      const idle = sum(servers.map(rssBytes));
      const t0 = rssBytes(pids.tcp);
      const h = startBg(jr.peer(py(["hold", JR, "9", String(conns)])), true);
      await h.line(120_000);
      await sleep(1000);
      const t1peak = rssBytes(pids.tcp);
      await sleep(MEM_SETTLE_MS - 1000);
      const t1 = rssBytes(pids.tcp);
      const held = sum(servers.map(rssBytes));
      // One flow beside the idle connections: they must not cost it (each turn's state commit
      // once visited every connection: 1.2 Gbit/s beside 10,000).
      const bulkBeside = async (server: string[], client: string[]) => {
        const s = startBg(server);
        await sleep(400);
        const r = parseIperf(await sh(client));
        await s.stop();
        return r.gbps;
      };
      const iperfArgs = ["-t", String(secs), "-J", "-p", "5203"];
      const jrBeside = () =>
        bulkBeside(
          jr.peer(["iperf3", "-s", "-1", "-p", "5203"]),
          jr.app(["iperf3", "-c", PEER, ...iperfArgs]),
        );
      const jBeside = await jrBeside();
      await h.stop();
      // The same beside connections an app holds (the socket service's sockets), fewer: an
      // app's socket limit is 4096.
      const appConns = Math.min(conns, APP_IDLE_CONNS);
      const ah = startBg(jr.app(py(["hold-server", "0.0.0.0", "5011"])));
      await ah.line();
      const ph = startBg(jr.peer(py(["hold", JR, "5011", String(appConns)])), true);
      await ph.line(120_000);
      await sleep(1000);
      const jBesideApp = await jrBeside();
      await ph.stop();
      await ah.stop();
      const kl = startBg(k.inB(py(["hold-server", KB, "5010"])));
      await kl.line();
      const s0 = slabBytes();
      const kh = startBg(k.inA(py(["hold", KB, "5010", String(conns)])), true);
      await kh.line(120_000);
      await sleep(1000);
      const s1 = slabBytes();
      const kBeside = await bulkBeside(
        k.inB(["iperf3", "-s", "-1", "-p", "5203"]),
        k.inA(["iperf3", "-c", KB, ...iperfArgs]),
      );
      await kh.stop();
      await kl.stop();
      const kernelPerEnd = Math.max(1, (s1 - s0) / (2 * conns));
      const perConn = (name: string, tcpAfter: number) =>
        row(
          name,
          "bytes",
          (tcpAfter - t0) / conns,
          kernelPerEnd,
          "kernel slab per connection end",
          "lower",
        );
      rows.push(
        perConn("mem.per-connection", t1),
        perConn("mem.per-connection.peak", t1peak),
        row(
          `bulk.iperf3.app-to-peer.beside-${appConns}-idle-app`,
          "Gbit/s",
          jBesideApp,
          kBeside,
          `kernel veth iperf3 beside ${conns} idle connections`,
          "higher",
        ),
        row(
          `bulk.iperf3.app-to-peer.beside-${conns}-idle`,
          "Gbit/s",
          jBeside,
          kBeside,
          `kernel veth iperf3 beside ${conns} idle connections`,
          "higher",
        ),
        row("mem.idle", "MB", idle / 1e6, held / 1e6, `servers with ${conns} connections`, "lower"),
        row(
          `mem.connections.${conns}`,
          "MB",
          (held - idle) / 1e6,
          (s1 - s0) / 2e6,
          `kernel slab for ${conns} connection ends`,
          "lower",
        ),
      );
      note(
        `memory: servers ${(idle / 1e6).toFixed(1)} MB idle, ${(held / 1e6).toFixed(1)} MB ` +
          `with ${conns} connections; kernel slab +${((s1 - s0) / 2e6).toFixed(1)} MB for as many`,
      );
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(
        `${outDir}/memory.svg`,
        barChart({
          title: `Memory: servers idle and with ${conns} established idle connections`,
          yLabel: "MB",
          series: ["Joyride (servers' PSS)", "Linux (slab)"],
          groups: [
            { name: "servers idle", values: [idle / 1e6, NaN] },
            { name: `with ${conns} connections`, values: [held / 1e6, NaN] },
            { name: `growth for ${conns}`, values: [(held - idle) / 1e6, (s1 - s0) / 2e6] },
          ],
        }),
      );
    });

    // ---- Figure 3: single process, throughput vs write size ----
    await step("fig3", async () => {
      const sizes = [64, 512, 4096, 16384, 65536];
      const jd = startBg(jr.peer(py(["discard-server", PEER, "5002"])));
      await jd.line();
      const series: Series[] = [];
      for (const mode of ["block", "nonblock"]) {
        const js: [number, number][] = [], ks: [number, number][] = [];
        for (const size of sizes) {
          const a = ["send", PEER, "5002", String(figSecs), String(size), mode];
          const j = lastJson((await sh(jr.app(py(a)))).stdout).gbps;
          a[1] = KB;
          a[2] = "5009";
          const kx = lastJson((await sh(k.inA(py(a)))).stdout).gbps;
          js.push([size, j]);
          ks.push([size, kx]);
          rows.push(row(`fig3.${mode}.${size}`, "Gbit/s", j, kx, "kernel veth", "higher"));
        }
        series.push(
          { name: `Joyride ${mode === "block" ? "blocking" : "non-blocking"}`, points: js },
          {
            name: `Linux ${mode === "block" ? "blocking" : "non-blocking"}`,
            points: ks,
            dashed: true,
          },
        );
      }
      await jd.stop();
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(
        `${outDir}/fig3_throughput_vs_buffer.svg`,
        lineChart({
          title: "Single-process throughput vs write size (Figure 3)",
          xLabel: "bytes per write",
          yLabel: "Gbit/s",
          logX: true,
          series,
        }),
      );
    });

    // ---- Figure 4: aggregate throughput vs processes ----
    await step("fig4", async () => {
      const jd = startBg(jr.peer(py(["discard-server", PEER, "5003"])));
      await jd.line();
      const js: [number, number][] = [], ks: [number, number][] = [];
      for (const n of [1, 2, 4]) {
        const a = (host: string) =>
          py(["send", host, host === KB ? "5009" : "5003", String(figSecs), "65536", "block"]);
        const jr_ = await Promise.all(
          Array.from({ length: n }, () => sh(jr.app(a(PEER)))),
        );
        const kr = await Promise.all(Array.from({ length: n }, () => sh(k.inA(a(KB)))));
        const j = sum(jr_.map((o) => lastJson(o.stdout).gbps));
        const kx = sum(kr.map((o) => lastJson(o.stdout).gbps));
        js.push([n, j]);
        ks.push([n, kx]);
        rows.push(row(`fig4.procs.${n}`, "Gbit/s", j, kx, "kernel veth", "higher"));
      }
      await jd.stop();
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(
        `${outDir}/fig4_aggregate_vs_processes.svg`,
        lineChart({
          title: "Aggregate throughput vs processes (Figure 4)",
          xLabel: "sender processes",
          yLabel: "Gbit/s",
          series: [{ name: "Joyride", points: js }, { name: "Linux", points: ks, dashed: true }],
        }),
      );
    });
    if (cpuBars.length > 0) {
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(
        `${outDir}/cpu_per_gbit.svg`,
        barChart({
          title: "CPU per Gbit/s of iperf3 (lower is better)",
          yLabel: "CPU-seconds per Gbit",
          series: ["Joyride", "Linux (veth)"],
          groups: cpuBars,
        }),
      );
    }
    note(`figures in ${outDir}`);
    if (failed.length > 0) note(`groups that failed: ${failed.join(", ")}`);
  } finally {
    for (const b of bg) await b.stop();
    for (const x of pair) await x.stop();
    await jr.stop();
    await k.down();
  }
  return rows;
}

export const bench: Bench = {
  name: "perf",
  description:
    "Joyride's data path (peer kernel ⇄ NIC ⇄ TCP/IP server ⇄ app via the shim) vs kernel↔kernel over a veth, same run",
  run,
  locksItself: true,
};

/**
 * `./joyride bench apps`: unmodified programs through the shim beside the same programs on the
 * kernel's stack, measured in the same run.
 *
 * - Joyride: an instance ("benchapps"); the program under the shim, its peer on the peer host.
 * - Baseline: two network namespaces joined by a veth made here (198.19.77.1/24 ↔ .2/24, MTU
 *   1500), the same programs on both ends of the kernel's stack.
 *
 * Rows: iperf3 single flow (Joyride → kernel peer vs kernel → kernel), sockperf TCP ping-pong
 * p50 and p99 (peer → sockperf server under Joyride vs across the veth; server on CPU 0, client
 * on CPU 1), wrk requests/s against
 * nginx (1 worker) under Joyride vs nginx on the kernel, and ab's requests/s one at a time
 * (`apps.ab.nginx.keepalive`: one connection; `.new-connection`: a connection per request).
 * `--seconds=N` sets each run's length.
 */
import { type Bench, type BenchRow, row } from "../scripts/bench_row.ts";
import { run, TestInstance } from "./_system.ts";
import { Bg, shimEnvOf } from "./_apps.ts";
import { onCpu } from "../servers/supervisor/affinity.ts";

const NS_A = "jr-benchapps-a", NS_B = "jr-benchapps-b";
const A = "198.19.77.1", B = "198.19.77.2";

async function sh(cmd: string[]): Promise<void> {
  const r = await run(cmd, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
}

async function makeVeth(): Promise<void> {
  await removeVeth();
  await sh(["ip", "netns", "add", NS_A]);
  await sh(["ip", "netns", "add", NS_B]);
  await sh([
    "ip",
    "-n",
    NS_A,
    "link",
    "add",
    "jrba0",
    "type",
    "veth",
    "peer",
    "jrbb0",
    "netns",
    NS_B,
  ]);
  await sh(["ip", "-n", NS_A, "addr", "add", `${A}/24`, "dev", "jrba0"]);
  await sh(["ip", "-n", NS_B, "addr", "add", `${B}/24`, "dev", "jrbb0"]);
  for (const [ns, dev] of [[NS_A, "jrba0"], [NS_B, "jrbb0"]]) {
    await sh(["ip", "-n", ns, "link", "set", dev, "up"]);
    await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
  }
}

async function removeVeth(): Promise<void> {
  for (const ns of [NS_A, NS_B]) await run(["ip", "netns", "del", ns]);
}

function inNs(ns: string, cmd: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...cmd];
}

/** iperf3 -J client: sender bits/s. */
async function iperf(client: string[], env: Record<string, string> | undefined, s: number) {
  const r = await run([...client, "-t", String(s), "-J"], { timeoutMs: (s + 30) * 1000, env });
  const j = JSON.parse(r.stdout);
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return j.end.sum_received.bits_per_second / 1e9;
}

/** sockperf ping-pong: p50 and p99 in µs. */
async function sockperf(client: string[], s: number): Promise<{ p50: number; p99: number }> {
  const r = await run([...client, "-t", String(s)], { timeoutMs: (s + 30) * 1000 });
  const out = r.stdout + r.stderr;
  const p50 = Number(out.match(/percentile 50\.000 =\s+([\d.]+)/)?.[1] ?? NaN);
  const p99 = Number(out.match(/percentile 99\.000 =\s+([\d.]+)/)?.[1] ?? NaN);
  if (!(p50 > 0)) throw new Error(`sockperf: ${out}`);
  return { p50, p99 };
}

/** wrk: requests/s. */
async function wrk(client: string[], s: number): Promise<number> {
  const r = await run([...client, `-d${s}s`], { timeoutMs: (s + 30) * 1000 });
  const v = Number(r.stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  if (!(v > 0)) throw new Error(`wrk: ${r.stdout}${r.stderr}`);
  return v;
}

/** ab, one request at a time, for `s` seconds (`where`: the ip-netns-exec prefix): requests/s. */
async function ab(where: string[], flags: string[], url: string, s: number): Promise<number> {
  const cmd = [...where, "ab", "-q", "-c1", "-t", String(s), "-n", "1000000", ...flags, url];
  const r = await run(cmd, { timeoutMs: (s + 30) * 1000 });
  const v = Number(r.stdout.match(/Requests per second:\s+([\d.]+)/)?.[1] ?? NaN);
  if (!(v > 0)) throw new Error(`ab: ${r.stdout}${r.stderr}`);
  return v;
}

function nginxConf(dir: string, port: number): string {
  return `user root root;
worker_processes 1;
daemon off;
pid ${dir}/nginx-${port}.pid;
error_log ${dir}/error-${port}.log;
events { worker_connections 256; use epoll; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server { listen ${port}; root ${dir}; }
}
`;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const bench: Bench = {
  name: "apps",
  description: "iperf3, sockperf ping-pong and wrk/nginx through the shim vs the kernel (veth)",
  async run(args: string[]): Promise<BenchRow[]> {
    const s = Number(args.find((a) => a.startsWith("--seconds="))?.split("=")[1] ?? 3);
    const jr = new TestInstance("benchapps");
    const addr = jr.config.topology.joyrideAddress;
    const peer = jr.config.topology.peerAddress;
    const env = shimEnvOf(jr);
    const tmp = Deno.makeTempDirSync({ prefix: "jr-benchapps-" });
    Deno.chmodSync(tmp, 0o755);
    Deno.writeTextFileSync(`${tmp}/index.html`, "hello\n");
    const bgs: Bg[] = [];
    const rows: BenchRow[] = [];
    try {
      await jr.cli(["stop"]);
      const st = await jr.cli(["start", "--detach"]);
      if (st.code !== 0) throw new Error(`start: ${st.stderr}`);
      await makeVeth();
      // Warm up: ARP both ways (a connect right after start may find the neighbour unresolved).
      await run(inNs(jr.peerNs, ["ping", "-c", "2", "-i", "0.2", "-W", "2", addr]));
      await run(inNs(NS_A, ["ping", "-c", "2", "-i", "0.2", "-W", "2", B]));

      // iperf3: Joyride client → kernel server on the peer; kernel → kernel over the veth.
      const js = new Bg(inNs(jr.peerNs, ["iperf3", "-s", "-1", "-p", "5201"]));
      bgs.push(js);
      await pause(800);
      const jIperf = await iperf(["iperf3", "-c", peer, "-p", "5201"], env, s);
      const ks = new Bg(inNs(NS_B, ["iperf3", "-s", "-1", "-p", "5201"]));
      bgs.push(ks);
      await pause(800);
      const kIperf = await iperf(inNs(NS_A, ["iperf3", "-c", B, "-p", "5201"]), undefined, s);
      rows.push(row("apps.iperf3.single-flow", "Gbit/s", jIperf, kIperf, "kernel veth", "higher"));

      // sockperf TCP ping-pong: server under Joyride, client on the peer; the server on CPU 0
      // and the client on CPU 1 for both (the same placement: unpinned, the kernel's pair
      // landed on one CPU in some runs, 2.5-6 µs, and on two in others, 33-36 µs).
      const spServer = (a: string) =>
        onCpu(0, ["sockperf", "server", "--tcp", "-i", a, "-p", "11111"]);
      const jsp = new Bg(spServer("0.0.0.0"), env);
      const ksp = new Bg(inNs(NS_A, spServer(A)));
      bgs.push(jsp, ksp);
      await pause(1500);
      const jPp = await sockperf(
        inNs(jr.peerNs, onCpu(1, ["sockperf", "ping-pong", "--tcp", "-i", addr, "-p", "11111"])),
        s,
      );
      const kPp = await sockperf(
        inNs(NS_B, onCpu(1, ["sockperf", "ping-pong", "--tcp", "-i", A, "-p", "11111"])),
        s,
      );
      rows.push(row("apps.sockperf.pingpong.p50", "us", jPp.p50, kPp.p50, "kernel veth", "lower"));
      rows.push(row("apps.sockperf.pingpong.p99", "us", jPp.p99, kPp.p99, "kernel veth", "lower"));

      // wrk against nginx (1 worker).
      Deno.writeTextFileSync(`${tmp}/nginx-j.conf`, nginxConf(tmp, 8090));
      Deno.writeTextFileSync(`${tmp}/nginx-k.conf`, nginxConf(tmp, 8091));
      const jn = new Bg(["nginx", "-c", `${tmp}/nginx-j.conf`, "-p", tmp], env);
      const kn = new Bg(inNs(NS_A, ["nginx", "-c", `${tmp}/nginx-k.conf`, "-p", tmp]));
      bgs.push(jn, kn);
      await pause(1500);
      const jW = await wrk(inNs(jr.peerNs, ["wrk", "-t1", "-c8", `http://${addr}:8090/`]), s);
      const kW = await wrk(inNs(NS_B, ["wrk", "-t1", "-c8", `http://${A}:8091/`]), s);
      rows.push(row("apps.wrk.nginx", "req/s", jW, kW, "kernel veth", "higher"));
      // ab, one request at a time: on one kept-alive connection, and a new connection each
      // (nginx closes it: TIME_WAIT on the server's side, issue 9's short connections).
      for (const [name, k] of [["keepalive", ["-k"]], ["new-connection", []]] as const) {
        const jA = await ab(inNs(jr.peerNs, []), [...k], `http://${addr}:8090/`, s);
        const kA = await ab(inNs(NS_B, []), [...k], `http://${A}:8091/`, s);
        rows.push(row(`apps.ab.nginx.${name}`, "req/s", jA, kA, "kernel veth", "higher"));
      }
      return rows;
    } finally {
      for (const b of bgs) await b.stop();
      await removeVeth();
      await jr.cli(["stop"]);
      Deno.removeSync(tmp, { recursive: true });
      jr.dispose();
    }
  },
};

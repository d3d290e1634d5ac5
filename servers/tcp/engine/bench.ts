/**
 * `./joyride bench engine`: the engine's bulk-transfer cost beside the kernel's.
 *
 * Joyride side: two engines in one process (the simulator, a clean 20 µs link, no loss), one
 * connection moving bytes as fast as the CPU allows; measured as bytes per CPU-second of this
 * process (user + system, `process.cpuUsage`), both ends' work included.
 * Baseline: the kernel's TCP over loopback with iperf3 (`-J`), in the same run: bytes per
 * CPU-second from its `cpu_utilization_percent` (sender host_total + receiver remote_total).
 *
 * Two rows: MTU 1500 with checksums computed in TypeScript (the engine's default path), and
 * MTU 65535 with checksum offload (what the kernel's loopback gets).
 *
 * Options: `--seconds=N` (default 2) roughly bounds each measurement.
 *
 * @module
 */
import process from "node:process";
import { type Bench, type BenchRow, row } from "../../../scripts/bench_row.ts";
import { Sim } from "./sim/sim.ts";
import { cleanLink } from "./sim/link.ts";
import {
  AF_INET,
  SHUT_WR,
  SO_RCVBUF,
  SO_SNDBUF,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./socket/api.ts";
import { EAGAIN, EINPROGRESS } from "./errno.ts";

interface Result {
  bytes: number;
  cpuSec: number;
  wallSec: number;
  events: number;
}

/** Moves `bytes` from node a to node b over one connection; returns the CPU it took. */
function engineRun(bytes: number, mtu: number, offload: boolean): Result {
  const sim = new Sim(1);
  sim.scribbleRx = false;
  const a = sim.addNode("a"), b = sim.addNode("b");
  const caps = { txChecksum: offload, rxChecksum: offload, tso: false };
  sim.link(a, b, cleanLink({ delayUs: 20 }), cleanLink({ delayUs: 20 }), { mtu, caps });
  const S = b.sockets, C = a.sockets;
  const BUF = 1 << 20;
  const l = S.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  S.setsockopt(l, SOL_SOCKET, SO_RCVBUF, BUF);
  S.bind(l, { family: AF_INET, addr: b.addrs[0], port: 5201 });
  S.listen(l, 4);
  const c = C.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
  C.setsockopt(c, SOL_SOCKET, SO_SNDBUF, BUF);
  const r = C.connect(c, { family: AF_INET, addr: b.addrs[0], port: 5201 });
  if (r.errno !== undefined && r.errno !== EINPROGRESS) {
    throw new Error(`Cannot run the engine bench: connect failed with errno ${r.errno}`);
  }
  const chunk = new Uint8Array(65536).map((_, i) => i & 0xff);
  let sent = 0, got = 0, eof = false, srv = -1, shut = false;
  sim.afterEvent.push(() => {
    if (srv < 0) {
      const acc = S.accept(l);
      if (acc.errno === undefined) srv = acc.value.fd;
    }
    while (!shut && sent < bytes) {
      const w = C.send(c, chunk.subarray(0, Math.min(chunk.length, bytes - sent)), 0);
      if (w.errno !== undefined) break;
      sent += w.value;
    }
    if (!shut && sent >= bytes) {
      C.shutdown(c, SHUT_WR);
      shut = true;
    }
    while (srv >= 0 && !eof) {
      const rd = S.recv(srv, 1 << 20, 0);
      if (rd.errno === EAGAIN) break;
      if (rd.errno !== undefined || rd.value.data.length === 0) {
        eof = true;
        break;
      }
      got += rd.value.data.length;
    }
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  sim.runUntil(() => eof, 1e9);
  const cpu = process.cpuUsage(cpu0);
  const wallSec = (performance.now() - t0) / 1000;
  if (got !== bytes) throw new Error(`Engine bench moved ${got} of ${bytes} bytes`);
  return { bytes: got, cpuSec: (cpu.user + cpu.system) / 1e6, wallSec, events: sim.steps };
}

/** Calibrates the size so one measurement takes about `seconds` of CPU, then measures. */
function engineMeasure(seconds: number, mtu: number, offload: boolean): Result {
  engineRun(1 << 20, mtu, offload); // warm up the JIT
  const probe = engineRun(4 << 20, mtu, offload);
  const rate = probe.bytes / Math.max(probe.cpuSec, 1e-3);
  let bytes = Math.max(4 << 20, Math.min(2 ** 31, Math.floor(rate * seconds)));
  let r = engineRun(bytes, mtu, offload);
  // The probe runs partly cold: grow until the measurement is long enough to mean something.
  for (let k = 0; k < 3 && r.cpuSec < seconds / 2 && bytes < 2 ** 31; k++) {
    bytes = Math.min(2 ** 31, Math.floor((bytes * seconds) / Math.max(r.cpuSec, 0.05)));
    r = engineRun(bytes, mtu, offload);
  }
  return r;
}

interface KernelResult {
  bytes: number;
  cpuSec: number;
  seconds: number;
}

/** iperf3 over loopback; undefined (with a note) when iperf3 is missing or fails. */
async function kernelMeasure(seconds: number): Promise<KernelResult | undefined> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  let server: Deno.ChildProcess;
  try {
    server = new Deno.Command("iperf3", {
      args: ["-s", "-1", "-B", "127.0.0.1", "-p", String(port)],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (e) {
    console.error(`engine bench: cannot start iperf3 (${(e as Error).message})`);
    return undefined;
  }
  try {
    let out: Deno.CommandOutput | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      await new Promise((r) => setTimeout(r, 100));
      out = await new Deno.Command("iperf3", {
        args: ["-c", "127.0.0.1", "-p", String(port), "-t", String(seconds), "-J"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (out.success) break;
    }
    if (!out?.success) {
      console.error("engine bench: iperf3 client failed");
      return undefined;
    }
    const j = JSON.parse(new TextDecoder().decode(out.stdout));
    const recv = j.end.sum_received;
    const cpu = j.end.cpu_utilization_percent;
    const secs = recv.seconds as number;
    return {
      bytes: recv.bytes,
      cpuSec: (secs * ((cpu.host_total as number) + (cpu.remote_total as number))) / 100,
      seconds: secs,
    };
  } finally {
    try {
      server.kill("SIGTERM");
    } catch {
      // already exited after its one test (-1)
    }
    await server.status;
  }
}

export const bench: Bench = {
  name: "engine",
  description:
    "bulk TCP transfer, two engines in one process vs the kernel over loopback (iperf3), bytes per CPU-second",
  async run(args: string[]): Promise<BenchRow[]> {
    const opt = args.find((a) => a.startsWith("--seconds="));
    const seconds = opt ? Math.max(1, Number(opt.slice("--seconds=".length)) || 2) : 2;
    const kernel = await kernelMeasure(seconds + 1);
    const kRate = kernel ? kernel.bytes / 1e6 / kernel.cpuSec : NaN;
    if (kernel) {
      console.log(
        `  kernel: ${(kernel.bytes / 1e6).toFixed(0)} MB in ${kernel.seconds.toFixed(2)} s,` +
          ` ${kernel.cpuSec.toFixed(2)} CPU-s -> ${kRate.toFixed(0)} MB/CPU-s`,
      );
    }
    const rows: BenchRow[] = [];
    for (
      const [name, mtu, offload] of [["mtu1500", 1500, false], [
        "mtu65535.offload",
        65535,
        true,
      ]] as const
    ) {
      const r = engineMeasure(seconds, mtu, offload);
      const eRate = r.bytes / 1e6 / r.cpuSec;
      console.log(
        `  engine ${name}: ${(r.bytes / 1e6).toFixed(0)} MB in ${r.wallSec.toFixed(2)} s wall,` +
          ` ${r.cpuSec.toFixed(2)} CPU-s, ${r.events} events -> ${eRate.toFixed(1)} MB/CPU-s`,
      );
      rows.push(
        row(`engine.bulk.${name}`, "MB/CPU-s", eRate, kRate, "kernel loopback iperf3", "higher"),
      );
    }
    return rows;
  },
};

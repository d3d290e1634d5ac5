/**
 * `./joyride bench ipc`: message rings with futex doorbells against a Unix domain stream socket,
 * Deno↔Deno and C↔Deno, all measured in the same run:
 *
 * - round trip (µs, lower is better): a 64-byte message out and echoed back, one at a time;
 * - one way (msg/s, higher is better): 64-byte messages streamed to a sink, one write or push per
 *   message, until the sink acknowledges the last (median of three alternating runs).
 *
 * The socket side uses blocking read(2)/write(2) through FFI (in Deno) or directly (in C): the
 * socket at its fastest, not Deno's async stream API. Ring waits spin (adaptively, yielding the
 * CPU between checks) for up to `--spin-us` (default DEFAULT_SPIN_US) before sleeping on the
 * futex; the `.nospin` rows sleep at once and show what the spin buys. Round-trip batches of
 * the contenders alternate, so load from elsewhere on the machine hits them alike. `--quick`
 * runs fewer iterations, `--no-yield` spins without yielding.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { type Bench, type BenchRow, row } from "../../scripts/bench_row.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import { DEFAULT_SPIN_US, setSpinYield, spinYield } from "./ring.ts";
import { buildCPeer, finish, type PeerKind, spawnPeer } from "./_spawn.ts";
import { readFull, writeFull } from "./_peer.ts";

const MSG_SIZE = 64;
const TIMEOUT_MS = 10_000;
const A = 0;
const A_CAP = 1 << 18;
const B = 1 << 19;
const B_CAP = 4096;

function regionPath(region: Region): string {
  return `/proc/${Deno.pid}/fd/${region.fd}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A ping-pong set up against a peer: `once()` does one round trip; `close()` ends the peer. */
interface PingPong {
  once(): void;
  close(): Promise<void>;
}

export function ringPingPong(kind: PeerKind, spinUs: number): PingPong {
  const region = Region.create(B + 65536);
  const tx = MessageRing.init(region, A, A_CAP);
  const rx = MessageRing.init(region, B, B_CAP);
  const peer = spawnPeer(kind, ["echo", regionPath(region), String(A), String(B)], {
    JR_SPIN_US: String(spinUs),
    JR_SPIN_YIELD: spinYield ? "1" : "0",
  });
  const msg = new Uint8Array(MSG_SIZE);
  return {
    once() {
      while (!tx.push(msg)) tx.waitWritable(MSG_SIZE, TIMEOUT_MS, spinUs);
      while (rx.peekOffset() < 0) {
        if (!rx.waitReadable(TIMEOUT_MS, spinUs)) throw new Error("ipc bench: no echo from peer");
      }
      rx.release();
    },
    async close() {
      tx.close("producer");
      await finish(peer);
      region.close();
    },
  };
}

export function sockPingPong(kind: PeerKind): PingPong {
  const l = listenUnix();
  const peer = spawnPeer(kind, ["sock-echo", l.path, String(MSG_SIZE)]);
  const fd = libc.accept(l.fd);
  const msg = new Uint8Array(MSG_SIZE);
  return {
    once() {
      if (!writeFull(fd, msg) || !readFull(fd, msg)) {
        throw new Error("ipc bench: socket echo failed");
      }
    },
    async close() {
      libc.close(fd);
      libc.close(l.fd);
      await finish(peer);
      Deno.removeSync(l.path);
    },
  };
}

/**
 * Mean round trip (µs) of each contender: after a warm-up, batches alternate between them so
 * that load from elsewhere on the machine hits all alike; the median batch counts.
 */
export async function roundTrips(contenders: PingPong[], iters: number): Promise<number[]> {
  const batches: number[][] = contenders.map(() => []);
  try {
    for (const c of contenders) for (let i = 0; i < Math.max(200, iters / 10); i++) c.once();
    const per = Math.ceil(iters / 9);
    for (let b = 0; b < 9; b++) {
      contenders.forEach((c, k) => {
        const t0 = performance.now();
        for (let i = 0; i < per; i++) c.once();
        batches[k].push((performance.now() - t0) * 1000 / per);
      });
    }
  } finally {
    for (const c of contenders) await c.close();
  }
  return batches.map(median);
}

/** A listening Unix socket (blocking, raw syscalls) and its path; the caller closes both. */
function listenUnix(): { fd: number; path: string } {
  const path = `/tmp/joyride-ipc-bench-${Deno.pid}-${Math.floor(performance.now())}.sock`;
  const fd = libc.socket(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC);
  if (fd < 0 || libc.bindUnix(fd, path) !== 0 || libc.listen(fd, 1) !== 0) {
    throw new Error(`ipc bench: cannot listen on ${path}`);
  }
  return { fd, path };
}

/** Messages per second pushed through a ring to a sink that acknowledges the last. */
async function ringOneWay(kind: PeerKind, n: number, spinUs: number): Promise<number> {
  using region = Region.create(B + 65536);
  const tx = MessageRing.init(region, A, A_CAP);
  const rx = MessageRing.init(region, B, B_CAP);
  const peer = spawnPeer(kind, ["sink", regionPath(region), String(A), String(B), String(n)], {
    JR_SPIN_US: String(spinUs),
    JR_SPIN_YIELD: spinYield ? "1" : "0",
  });
  const msg = new Uint8Array(MSG_SIZE);
  const take = () => {
    while (rx.peekOffset() < 0) {
      if (!rx.waitReadable(TIMEOUT_MS, spinUs)) throw new Error("ipc bench: sink is silent");
    }
    rx.release();
  };
  try {
    take(); // ready
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      while (!tx.push(msg)) {
        if (!tx.waitWritable(MSG_SIZE, TIMEOUT_MS, spinUs)) throw new Error("ipc bench: stuck");
      }
    }
    take(); // ack of the last
    return n / ((performance.now() - t0) / 1000);
  } finally {
    tx.close("producer");
    await finish(peer);
  }
}

async function sockOneWay(kind: PeerKind, n: number): Promise<number> {
  const l = listenUnix();
  const peer = spawnPeer(kind, ["sock-sink", l.path, String(MSG_SIZE), String(n)]);
  const fd = libc.accept(l.fd);
  const msg = new Uint8Array(MSG_SIZE);
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (!writeFull(fd, msg)) throw new Error("ipc bench: socket write failed");
    }
    if (!readFull(fd, new Uint8Array(1))) throw new Error("ipc bench: no ack from socket sink");
    return n / ((performance.now() - t0) / 1000);
  } finally {
    libc.close(fd);
    libc.close(l.fd);
    await finish(peer);
    Deno.removeSync(l.path);
  }
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
}

/** The ipc benchmark (registered as "ipc" in scripts/bench.ts). */
export const bench: Bench = {
  name: "ipc",
  description: "message ring + futex vs Unix domain socket, 64-byte messages, Deno↔Deno and C↔Deno",
  async run(args: string[]): Promise<BenchRow[]> {
    buildCPeer();
    const quick = args.includes("--quick");
    const iters = option(args, "--iters", quick ? 5_000 : 50_000);
    const n = option(args, "--messages", quick ? 20_000 : 200_000);
    const spinUs = option(args, "--spin-us", DEFAULT_SPIN_US);
    setSpinYield(!args.includes("--no-yield"));
    const rows: BenchRow[] = [];
    for (const kind of ["deno", "c"] as PeerKind[]) {
      const pair = `deno-${kind}`;
      const [sockRtt, ringRtt, ringSleepRtt] = await roundTrips([
        sockPingPong(kind),
        ringPingPong(kind, spinUs),
        ringPingPong(kind, 0),
      ], iters);
      rows.push(row(`ipc.roundtrip.${pair}`, "us", ringRtt, sockRtt, "unix socket", "lower"));
      rows.push(
        row(`ipc.roundtrip.${pair}.nospin`, "us", ringSleepRtt, sockRtt, "unix socket", "lower"),
      );
      // Three alternating runs each (fresh peers, start-up not timed); the median counts.
      const sockRates: number[] = [];
      const ringRates: number[] = [];
      for (let rep = 0; rep < 3; rep++) {
        sockRates.push(await sockOneWay(kind, n));
        ringRates.push(await ringOneWay(kind, n, spinUs));
      }
      const [sockRate, ringRate] = [median(sockRates), median(ringRates)];
      rows.push(row(`ipc.oneway.${pair}`, "msg/s", ringRate, sockRate, "unix socket", "higher"));
    }
    return rows;
  },
};

if (import.meta.main) {
  for (const r of await bench.run(Deno.args)) console.log(JSON.stringify(r));
}

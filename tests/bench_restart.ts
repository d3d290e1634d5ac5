/**
 * `./joyride bench restart [--kills=N]`: for each server (tcp, nic, naming), SIGKILL it N times
 * while an echo "ticker" runs from the peer host's kernel (a 64-byte message every 10 ms on one
 * connection through the TCP echo service), and measure
 *
 * - recovery: time from the SIGKILL to the end of the longest gap between echoed messages
 *   after it (traffic flowing again), p50 and max over the kills;
 * - stall: that longest gap (what a running transfer sees). When it is no longer than the
 *   clean run's gaps (traffic never stopped: naming), recovery is the next message's arrival.
 *
 * Baseline: there is no kernel equivalent (a kernel TCP connection does not survive its stack
 * dying), so the baseline is the same ticker's inter-arrival time in a clean stretch of the same
 * run, before any kill (p50 for the p50 row, max for the max rows). The ticker's stream is
 * checked byte-exact at the end; a reset or a difference fails the benchmark.
 */
import { type Bench, type BenchRow, row } from "../scripts/bench_row.ts";
import type { ServerStatus, Status } from "../servers/supervisor/supervisor.ts";
import { repoRoot, TestInstance, uniqueInstance, until } from "./_system.ts";

const INTERVAL_S = 0.01;
const CLEAN_S = 2;
const BETWEEN_MS = 2500;

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
}

async function status(jr: TestInstance): Promise<Status> {
  const r = await jr.cli(["status", "--json"]);
  if (r.code !== 0) throw new Error(`Cannot read status: ${r.stderr}`);
  return JSON.parse(r.stdout) as Status;
}

function server(s: Status, name: string): ServerStatus {
  const x = s.servers.find((v) => v.name === name);
  if (!x) throw new Error(`no ${name} in status`);
  return x;
}

interface Ticker {
  ok: boolean;
  error: string | null;
  arrivals: number[];
  exact: boolean;
}

/** Kills `name` `kills` times under a running ticker; returns per-kill figures (ms). */
async function measure(jr: TestInstance, name: string, kills: number) {
  const addr = jr.config.topology.joyrideAddress;
  const seconds = CLEAN_S + kills * (BETWEEN_MS / 1000 + 1.5) + 2;
  const tick = jr.peer([
    "python3",
    `${repoRoot}/tests/_restart_peer.py`,
    "ticker",
    addr,
    "7",
    String(seconds),
    String(INTERVAL_S),
  ], { timeoutMs: (seconds + 120) * 1000 });
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, CLEAN_S * 1000 + 500));
  const cleanEnd = Date.now();
  const killTimes: number[] = [];
  const ready: number[] = [];
  for (let k = 0; k < kills; k++) {
    const before = server(await status(jr), name);
    const at = Date.now();
    Deno.kill(before.pid!, "SIGKILL");
    killTimes.push(at);
    await until(`${name} back`, async () => {
      const x = server(await status(jr), name);
      return x.state === "running" && x.generation > before.generation;
    }, 30_000);
    ready.push(Date.now() - at);
    await new Promise((r) => setTimeout(r, BETWEEN_MS));
  }
  const r = await tick;
  const t: Ticker = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
  if (!t.ok) {
    throw new Error(`Ticker through ${name} kills failed: ${t.error ?? "stream differs"}`);
  }
  const a = t.arrivals;
  const clean: number[] = [];
  for (let i = 1; i < a.length; i++) {
    if (a[i - 1] >= t0 + 500 && a[i] <= cleanEnd) clean.push(a[i] - a[i - 1]);
  }
  const recovery: number[] = [];
  const stall: number[] = [];
  for (const [j, k] of killTimes.entries()) {
    // The largest gap ending after the kill and before the next kill's window: its end is
    // traffic flowing again (messages already in flight may still arrive just after a kill).
    const end = k + ready[j] + BETWEEN_MS;
    let best = -1;
    for (let i = 1; i < a.length; i++) {
      if (a[i] <= k || a[i] > end) continue;
      if (best < 0 || a[i] - Math.max(a[i - 1], k) > a[best] - Math.max(a[best - 1], k)) best = i;
    }
    if (best < 0) throw new Error(`No traffic after killing ${name}`);
    const gap = a[best] - a[best - 1];
    // No gap beyond the clean run's: traffic never stopped (the next message is the measure).
    const first = a.findIndex((x) => x > k);
    const quiet = gap <= Math.max(100, 3 * Math.max(...clean));
    recovery.push(quiet ? a[first] - k : a[best] - k);
    stall.push(gap);
  }
  return { clean, recovery, stall, ready };
}

export const bench: Bench = {
  name: "restart",
  description:
    "SIGKILL of each server under a running echo ticker: time to traffic flowing again and the " +
    "stall seen (baseline: the ticker's clean-run inter-arrival; a kernel connection does not " +
    "survive its stack)",
  async run(args: string[]): Promise<BenchRow[]> {
    const ka = args.find((x) => x.startsWith("--kills="));
    const kills = ka ? Math.max(1, parseInt(ka.slice(8), 10) || 4) : 4;
    const jr = new TestInstance(uniqueInstance("rb"), {
      // No backoff growth between the repeated kills: the figures are the restart itself, not
      // the restart policy (by default the delay doubles from 250 ms for each restart in a
      // minute).
      supervisor: {
        heartbeatMs: 250,
        heartbeatTimeoutMs: 3000,
        backoffMinMs: 50,
        backoffMaxMs: 50,
      },
    });
    const rows: BenchRow[] = [];
    await jr.cli(["stop"]);
    try {
      const st = await jr.cli(["start", "--detach"]);
      if (st.code !== 0) throw new Error(`Cannot start: ${st.stdout}${st.stderr}`);
      for (const name of ["tcp", "nic", "naming"]) {
        const m = await measure(jr, name, kills);
        const base = "clean-run inter-arrival of the same ticker";
        const cp50 = pct(m.clean, 0.5);
        const cmax = Math.max(...m.clean);
        console.log(
          `restart ${name}: recovery ms ${m.recovery.map((x) => x.toFixed(0)).join(" ")}; ` +
            `stall ms ${m.stall.map((x) => x.toFixed(0)).join(" ")}; process ready ms ` +
            `${m.ready.join(" ")}; clean inter-arrival p50 ${cp50.toFixed(1)} max ${
              cmax.toFixed(1)
            }`,
        );
        rows.push(
          row(`restart.${name}.recovery.p50`, "ms", pct(m.recovery, 0.5), cp50, base, "lower"),
          row(`restart.${name}.recovery.max`, "ms", Math.max(...m.recovery), cmax, base, "lower"),
          row(`restart.${name}.stall.max`, "ms", Math.max(...m.stall), cmax, base, "lower"),
        );
      }
    } finally {
      await jr.cli(["stop"]);
      jr.dispose();
    }
    return rows;
  },
};

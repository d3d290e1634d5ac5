/** One benchmark result row, as written by `./joyride bench --json FILE` (DESIGN §8). */
export interface BenchRow {
  /** What was measured, e.g. "ipc.roundtrip.deno-deno". */
  bench: string;
  /** Unit of `joyride` and `baseline`, e.g. "msg/s", "us", "Gbit/s". */
  unit: string;
  joyride: number;
  baseline: number;
  /** What the baseline is, e.g. "unix socket", "kernel veth". */
  baseline_name: string;
  /** joyride ÷ baseline. */
  ratio: number;
  better: "lower" | "higher";
}

/** A named benchmark: measures Joyride and its baseline in the same run. */
export interface Bench {
  name: string;
  description: string;
  run(args: string[]): Promise<BenchRow[]>;
  /** It takes the benchmark lock itself around each measurement (`benchLocked`); otherwise
   * `./joyride bench` holds the lock for the whole of `run`. */
  locksItself?: boolean;
}

/** Builds a row, computing the ratio. */
export function row(
  bench: string,
  unit: string,
  joyride: number,
  baseline: number,
  baselineName: string,
  better: "lower" | "higher",
): BenchRow {
  return {
    bench,
    unit,
    joyride,
    baseline,
    baseline_name: baselineName,
    ratio: baseline === 0 ? NaN : joyride / baseline,
    better,
  };
}

/** The lock every benchmark run on this machine takes (one measurement at a time). */
export const BENCH_LOCK = "/tmp/joyride-bench.lock";

/**
 * Runs `fn` holding the machine's benchmark lock (flock(2) on BENCH_LOCK, the lock
 * `flock /tmp/joyride-bench.lock CMD` takes), so measurements of different people never overlap.
 * With JOYRIDE_BENCH_LOCKED=1 in the environment (the caller holds the lock already) it just
 * runs `fn`.
 */
export async function benchLocked<T>(fn: () => Promise<T>): Promise<T> {
  if (Deno.env.get("JOYRIDE_BENCH_LOCKED") === "1") return await fn();
  using f = await Deno.open(BENCH_LOCK, { read: true, write: true, create: true, mode: 0o666 });
  await f.lock(true);
  try {
    return await fn();
  } finally {
    await f.unlock();
  }
}

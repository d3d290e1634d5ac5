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

/** The lock file: BENCH_LOCK, or $JOYRIDE_BENCH_LOCK (tests use their own). */
function lockFile(): string {
  return Deno.env.get("JOYRIDE_BENCH_LOCK") || BENCH_LOCK;
}

/**
 * Pids holding a flock(2) on the file with inode `ino`, from /proc/locks (waiters, the lines
 * with "->", are not holders).
 */
export function flockHolders(locks: string, ino: number): number[] {
  const out: number[] = [];
  for (const line of locks.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== "FLOCK") continue; // "->" lines have it at f[2]: waiting, not holding
    const dev = f[5]?.split(":");
    if (dev?.length === 3 && Number(dev[2]) === ino) out.push(Number(f[4]));
  }
  return out;
}

/** This process and its ancestors, from /proc/PID/stat. */
function lineage(): Set<number> {
  const out = new Set<number>();
  let pid = Deno.pid;
  while (pid > 1 && !out.has(pid)) {
    out.add(pid);
    try {
      const st = Deno.readTextFileSync(`/proc/${pid}/stat`);
      pid = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      break;
    }
  }
  return out;
}

/** Whether this process or an ancestor holds the benchmark lock (`flock FILE ./joyride bench`). */
function heldAbove(): boolean {
  try {
    const ino = Deno.statSync(lockFile()).ino;
    if (ino === null) return false;
    const mine = lineage();
    return flockHolders(Deno.readTextFileSync("/proc/locks"), ino).some((p) => mine.has(p));
  } catch {
    return false;
  }
}

/**
 * Runs `fn` holding the machine's benchmark lock (flock(2) on BENCH_LOCK, the lock
 * `flock /tmp/joyride-bench.lock CMD` takes), so measurements of different people never overlap.
 * When this process or one of its ancestors holds the lock already (the command was started
 * under `flock` on that file), or JOYRIDE_BENCH_LOCKED=1, it just runs `fn`: locking again
 * through a new open file would wait for ourselves forever.
 */
export async function benchLocked<T>(fn: () => Promise<T>): Promise<T> {
  if (Deno.env.get("JOYRIDE_BENCH_LOCKED") === "1" || heldAbove()) return await fn();
  using f = await Deno.open(lockFile(), { read: true, write: true, create: true, mode: 0o666 });
  await f.lock(true);
  try {
    return await fn();
  } finally {
    await f.unlock();
  }
}

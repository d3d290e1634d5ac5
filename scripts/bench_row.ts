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

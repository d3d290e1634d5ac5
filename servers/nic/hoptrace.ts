/**
 * Hop trace (issue 9): cheap timestamps along the data path, off unless JOYRIDE_HOPTRACE names
 * a directory. Each process appends lines `<ns> <event> <count>` (CLOCK_MONOTONIC, jr_now_ns,
 * comparable across processes) to `<dir>/<name>-<pid>.log`:
 *
 *   nic.rx N    the NIC server put N frames on the RX ring      nic.tx N  sent N frames
 *   nic.wake    the NIC server woke from its sleep
 *   tcp.rx N    the TCP/IP server took N frames off the RX ring  tcp.tx N  published N frames
 *   tcp.sleep / tcp.wake  the TCP/IP server's sleep on the RX doorbell
 *
 * `deno run -A servers/nic/hoptrace.ts DIR` prints the per-hop latency distribution of a
 * one-frame-in, one-frame-out exchange (1-byte echo): NIC rx → TCP rx (hand-off, with the
 * TCP side's wake-up when it slept), TCP rx → TCP tx (engine and service), TCP tx → NIC tx
 * (hand-off back), NIC tx → next NIC rx (kernel, veth, peer and back).
 */

/** A process's trace buffer; `mark` costs a clock read and an array push. */
export class HopTrace {
  readonly #file: string;
  readonly #now: () => bigint;
  #lines: string[] = [];
  #last = 0n;

  constructor(dir: string, name: string, now: () => bigint) {
    this.#file = `${dir}/${name}-${Deno.pid}.log`;
    this.#now = now;
  }

  /** Records an event now. */
  mark(ev: string, n = 0): void {
    const t = this.#now();
    this.#lines.push(`${t} ${ev} ${n}`);
    if (this.#lines.length >= 4096 || t - this.#last > 1_000_000_000n) this.flush(t);
  }

  /** Appends what was recorded to the file. */
  flush(t: bigint = this.#now()): void {
    this.#last = t;
    if (this.#lines.length === 0) return;
    Deno.writeTextFileSync(this.#file, this.#lines.join("\n") + "\n", { append: true });
    this.#lines = [];
  }
}

/** A trace for this process if JOYRIDE_HOPTRACE is set, else undefined. */
export function hopTrace(name: string, now: () => bigint): HopTrace | undefined {
  const dir = Deno.env.get("JOYRIDE_HOPTRACE");
  return dir ? new HopTrace(dir, name, now) : undefined;
}

/** One event of a trace. */
export interface HopEvent {
  t: number;
  ev: string;
  n: number;
}

/** Parses trace lines (any order, several files concatenated) into events sorted by time. */
export function parseTrace(text: string): HopEvent[] {
  const out: HopEvent[] = [];
  for (const line of text.split("\n")) {
    const [t, ev, n] = line.split(" ");
    if (!ev) continue;
    out.push({ t: Number(BigInt(t)), ev, n: Number(n) });
  }
  return out.sort((a, b) => a.t - b.t);
}

/** Per-hop latencies (µs) of single-frame exchanges: each hop's samples. */
export function hops(events: HopEvent[]): Record<string, number[]> {
  const out: Record<string, number[]> = {
    "nic.rx→tcp.rx": [],
    "  of which tcp asleep→awake": [],
    "tcp.rx→tcp.tx (engine+service)": [],
    "tcp.tx→nic.tx": [],
    "nic.tx→nic.rx (kernel+peer)": [],
  };
  // Follow the chain nic.rx(1) → tcp.rx(1) → tcp.tx(1) → nic.tx(1) → nic.rx(1) …
  let rx: HopEvent | undefined, trx: HopEvent | undefined, ttx: HopEvent | undefined;
  let ntx: HopEvent | undefined, sleep: HopEvent | undefined, wake: HopEvent | undefined;
  const us = (a: HopEvent, b: HopEvent) => (b.t - a.t) / 1000;
  for (const e of events) {
    if (e.ev === "nic.rx") {
      if (ntx && e.n === 1) out["nic.tx→nic.rx (kernel+peer)"].push(us(ntx, e));
      rx = e.n === 1 ? e : undefined;
      trx = ttx = ntx = undefined;
      wake = undefined;
    } else if (e.ev === "tcp.sleep") {
      sleep = e;
    } else if (e.ev === "tcp.wake") {
      wake = sleep && rx && sleep.t < rx.t ? e : undefined;
    } else if (e.ev === "tcp.rx" && rx && !trx) {
      if (e.n !== 1) {
        rx = undefined;
        continue;
      }
      trx = e;
      out["nic.rx→tcp.rx"].push(us(rx, e));
      if (wake) out["  of which tcp asleep→awake"].push(us(rx, wake));
    } else if (e.ev === "tcp.tx" && trx && !ttx) {
      if (e.n !== 1) {
        rx = trx = undefined;
        continue;
      }
      ttx = e;
      out["tcp.rx→tcp.tx (engine+service)"].push(us(trx, e));
    } else if (e.ev === "nic.tx" && ttx && !ntx) {
      ntx = e;
      out["tcp.tx→nic.tx"].push(us(ttx, e));
    }
  }
  return out;
}

/** p50/p90/p99 of samples. */
export function quantiles(xs: number[]): { n: number; p50: number; p90: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99) };
}

if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir) throw new Error("usage: hoptrace.ts DIR");
  let text = "";
  for (const f of Deno.readDirSync(dir)) {
    if (f.name.endsWith(".log")) text += Deno.readTextFileSync(`${dir}/${f.name}`);
  }
  const h = hops(parseTrace(text));
  for (const [k, v] of Object.entries(h)) {
    const q = quantiles(v);
    console.log(
      `${k.padEnd(34)} n=${String(q.n).padStart(6)}  p50 ${q.p50.toFixed(1).padStart(8)} µs` +
        `  p90 ${q.p90.toFixed(1).padStart(8)}  p99 ${q.p99.toFixed(1).padStart(8)}`,
    );
  }
}

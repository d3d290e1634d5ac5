/**
 * Helpers for whole-system tests: run `./joyride` commands for a test instance, run commands
 * on the peer host, read CPU time from /proc.
 */
import { leftovers, type ServerStatus, type Status } from "../servers/supervisor/supervisor.ts";
import { assertEquals } from "../servers/supervisor/_assert.ts";
import { configFrom } from "../servers/supervisor/config.ts";
import { topologyNames } from "../servers/supervisor/topology.ts";

export const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Result of a command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command with a timeout (ms); never throws on a non-zero exit. Past the timeout the
 * command is killed (SIGKILL) and, should something it started keep its output open, its
 * output is given up 5 s later (code -1 then), so a test cannot hang on it.
 */
export async function run(
  cmd: string[],
  opts: { timeoutMs?: number; stdin?: Uint8Array; env?: Record<string, string> } = {},
): Promise<Run> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: repoRoot,
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  const readers = [child.stdout.getReader(), child.stderr.getReader()];
  const texts = ["", ""];
  const reading = readers.map(async (r, i) => {
    const dec = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await r.read();
        if (done) break;
        texts[i] += dec.decode(value, { stream: true });
      }
    } catch {
      // cancelled
    }
  });
  let giveUp: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
    giveUp = setTimeout(() => readers.forEach((r) => r.cancel().catch(() => {})), 5000);
  }, opts.timeoutMs ?? 60_000);
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    try {
      await w.write(opts.stdin);
      await w.close();
    } catch {
      // the command exited without reading it all
    }
  }
  await Promise.all(reading);
  const status = await child.status; // killed by the timer if it does not end in time
  clearTimeout(timer);
  clearTimeout(giveUp);
  return { code: giveUp === undefined ? status.code : -1, stdout: texts[0], stderr: texts[1] };
}

/**
 * An instance name unique to this test process (`base` + pid), so that two runs of the suite
 * on one machine (several people testing at once) never stop each other's instances.
 */
export function uniqueInstance(base: string): string {
  return `${base}${Deno.pid}`;
}

/** A Joyride instance for one test file. */
export class TestInstance {
  readonly name: string;
  readonly peerNs: string;
  readonly config;
  /** A configuration file for the instance, when `overrides` were given. */
  readonly configFile?: string;

  /** `overrides`: configuration fields (JSON file format) for this instance. */
  constructor(name: string, overrides?: Record<string, unknown>) {
    this.name = name;
    this.peerNs = topologyNames(name).peerNs;
    this.config = configFrom({ ...overrides, instance: name });
    if (overrides) {
      this.configFile = Deno.makeTempFileSync({ prefix: `jr-${name}-`, suffix: ".json" });
      Deno.writeTextFileSync(this.configFile, JSON.stringify(this.config));
    }
  }

  /** Removes the configuration file, if any. */
  dispose(): void {
    if (this.configFile) Deno.removeSync(this.configFile);
  }

  /** `./joyride <args> --instance NAME` (through the cli script, as the launcher runs it). */
  cli(args: string[], timeoutMs = 120_000): Promise<Run> {
    const i = args.indexOf("--");
    const mine = [
      "--instance",
      this.name,
      ...(this.configFile ? ["--config", this.configFile] : []),
    ];
    const full = i < 0 ? [...args, ...mine] : [...args.slice(0, i), ...mine, ...args.slice(i)];
    return run([Deno.execPath(), "run", "-A", `${repoRoot}/scripts/cli.ts`, ...full], {
      timeoutMs,
    });
  }

  /**
   * Stops what an earlier run may have left of the instance, then `./joyride start --detach`;
   * fails the test if the start fails.
   */
  async start(): Promise<void> {
    await this.cli(["stop"]);
    const start = await this.cli(["start", "--detach"]);
    assertEquals(start.code, 0, `start --detach failed: ${start.stdout}${start.stderr}`);
  }

  /** `./joyride stop`; fails the test if the stop fails or leaves anything of the instance. */
  async stopClean(): Promise<void> {
    const stop = await this.cli(["stop"]);
    assertEquals(stop.code, 0, `stop: ${stop.stdout}${stop.stderr}`);
    assertEquals(await this.leftovers(), [], "left behind after stop");
  }

  /** `./joyride status --json`; fails the test if it fails. */
  async status(): Promise<Status> {
    const r = await this.cli(["status", "--json"]);
    assertEquals(r.code, 0, `status: ${r.stderr}`);
    return JSON.parse(r.stdout) as Status;
  }

  /**
   * Sends `signal` to the server `name` and waits (30 s at most) until a later generation of it
   * runs (`exactlyNext`: the next generation, not one after it); returns its status from before.
   */
  async killServer(name: string, signal: Deno.Signal, exactlyNext = false): Promise<ServerStatus> {
    const before = serverOf(await this.status(), name);
    Deno.kill(before.pid!, signal);
    const next = before.generation + 1;
    await until(`${name} generation ${next} running`, async () => {
      const x = serverOf(await this.status(), name);
      return x.state === "running" && (exactlyNext ? x.generation === next : x.generation >= next);
    });
    return before;
  }

  /** Runs a command on the peer host. */
  peer(cmd: string[], opts: { timeoutMs?: number; stdin?: Uint8Array } = {}): Promise<Run> {
    return run(["ip", "netns", "exec", this.peerNs, ...cmd], opts);
  }

  /** What is left of the instance (namespaces, processes, runtime dir, shared memory). */
  leftovers(): Promise<string[]> {
    return leftovers(this.config);
  }
}

/**
 * A whole-system test: `Deno.test` without the op and resource sanitizers (the test starts
 * processes and servers whose pipes and timers outlive its awaits).
 */
export function systemTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });
}

/** The server `name` in a status; throws if it is not there. */
export function serverOf(s: Status, name: string): ServerStatus {
  const x = s.servers.find((v) => v.name === name);
  if (!x) throw new Error(`no ${name} in status`);
  return x;
}

/** Polls `cond` every 100 ms until it holds; throws naming `what` after `ms`. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `./joyride restart <server>` of `jr`; returns once a newer incarnation runs and `ready` holds
 * for the status (the apps taken back, say).
 */
export async function restartAndWait(
  jr: TestInstance,
  server: string,
  what = `${server} back`,
  ready: (s: Status) => boolean = () => true,
): Promise<void> {
  const before = serverOf(await jr.status(), server);
  const r = await jr.cli(["restart", server]);
  assertEquals(r.code, 0, `restart ${server}: ${r.stderr}`);
  await until(what, async () => {
    const s = await jr.status();
    const x = serverOf(s, server);
    return x.state === "running" && x.generation > before.generation && ready(s);
  });
}

/** CPU time (user + system) of a process in clock ticks, or undefined if it is gone. */
export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/** Clock ticks per second (USER_HZ). */
export async function clockTicks(): Promise<number> {
  const r = await run(["getconf", "CLK_TCK"]);
  const n = parseInt(r.stdout, 10);
  return n > 0 ? n : 100;
}

/** A process's output read line by line. */
export class Lines {
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line without its newline; at the end of the output, what is left ("" if nothing). */
  async next(): Promise<string> {
    while (!this.#buf.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#buf += value;
    }
    const i = this.#buf.indexOf("\n");
    const line = i < 0 ? this.#buf : this.#buf.slice(0, i);
    this.#buf = i < 0 ? "" : this.#buf.slice(i + 1);
    return line;
  }
}

/** Whether a file (or directory) exists. */
export function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const s = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return s !== "Z" && s !== "X";
  } catch {
    return false;
  }
}

/** Share of a core process `pid` used over 2 s, measured after `settleMs`. */
export async function coreShare(pid: number, settleMs: number): Promise<number> {
  await new Promise((r) => setTimeout(r, settleMs));
  const hz = await clockTicks();
  const before = cpuTicks(pid)!;
  await new Promise((r) => setTimeout(r, 2000));
  return (cpuTicks(pid)! - before) / hz / 2;
}

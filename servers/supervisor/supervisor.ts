/**
 * The supervisor ("reincarnation server"): starts the servers of an instance in dependency
 * order, watches them (exit and heartbeat), restarts a dead or silent one with backoff, and
 * serves the control socket behind `./joyride status`, `restart` and `stop`.
 *
 * Control socket (`<runtime dir>/supervisor.sock`, framed messages, see naming/framing.ts):
 *
 * | request | reply |
 * | --- | --- |
 * | `{op:"status"}` | `{ok:true, status}` — see `Status` |
 * | `{op:"restart", server}` | `{ok:true, server, pid, generation}` once the new incarnation is ready |
 * | `{op:"stop"}` | `{ok:true, removed:[…]}` once everything is stopped and removed; then the supervisor exits |
 * | `{op:"hello", server, pid, generation}` | none: the connection then carries that server's `{op:"ready"}` and `{op:"heartbeat", stats}` |
 *
 * Errors: `{ok:false, error}`. Every request may carry `seq`, echoed in the reply.
 *
 * What survives a restart of the supervisor: the servers keep running (they are in their own
 * sessions); a new supervisor of the same instance starts from a clean slate (`start` removes
 * leftovers first).
 */
import { affinityPrefix } from "./affinity.ts";
import { type Config, memifLink } from "./config.ts";
import { linkBellPath } from "../nic/link_bell.ts";
import { FramedConn, type Message } from "../naming/framing.ts";
import { addressesText, type RuntimePaths, runtimePaths, serverLog, shmFiles } from "./runtime.ts";
import {
  alive,
  createTopology,
  existingNamespaces,
  namespacePids,
  removeTopology,
  sh,
  type TopologyNames,
  topologyNames,
  waitGone,
} from "./topology.ts";

/** A server the supervisor runs. */
export interface ServerSpec {
  name: string;
  /** The entry module, relative to the repository root. */
  main: string;
  /** Extra arguments after the standard ones (tests use them). */
  args?: string[];
  /** Deno flags before the entry module (after `run -A`). */
  denoFlags?: string[];
}

/**
 * The V8 flag of every server: no memory reducer. V8 runs up to three collections over the
 * 10–30 s after a process stops allocating: idle CPU in every server after any traffic
 * (issue 9, idle measured 6–16 s after sockperf, 2 runs each: 0.75/0.80 % of a core with it,
 * 0.50/0.52 % without, as with no traffic before). The TCP/IP server has it off too since it
 * collects once right after traffic itself (loop.ts heapTrimmer): after the bench's iperf3
 * group its reducer's late mark-compact landed in the idle window (TCP/IP server 0.42/0.47 %
 * of a core with it, 0.09/0.10 % without; the whole instance 1.14 % in one full bench run),
 * and memory did not change (10,000 idle connections, 2 runs each: 7.2/6.8 KB per connection
 * with it, 6.6/6.8 KB without; 177–180 MB idle both ways).
 */
export const NO_MEMORY_REDUCER = "--v8-flags=--no-memory-reducer";

/** The servers of an instance, in start order (each depends on those before it). */
export const defaultServers: ServerSpec[] = [
  { name: "naming", main: "servers/naming/main.ts", denoFlags: [NO_MEMORY_REDUCER] },
  { name: "nic", main: "servers/supervisor/nic_entry.ts", denoFlags: [NO_MEMORY_REDUCER] },
  { name: "tcp", main: "servers/tcp/main.ts", denoFlags: [NO_MEMORY_REDUCER] },
];

/** States a server goes through. */
export type ServerState =
  | "starting"
  | "running"
  | "restarting"
  | "stopping"
  | "stopped"
  | "failed";

/** One row of `status.servers`. */
export interface ServerStatus {
  name: string;
  pid: number | null;
  state: ServerState;
  restarts: number;
  generation: number;
  /** Seconds since this incarnation started. */
  uptime: number;
  /** Seconds since the last heartbeat (null: none yet). */
  lastHeartbeat: number | null;
  /** What the server reported with its last heartbeat. */
  stats: Record<string, unknown>;
  /** Why the last incarnation ended, if one did. */
  lastExit?: string;
}

/** What `./joyride status --json` prints. */
export interface Status {
  instance: string;
  servers: ServerStatus[];
  topology: {
    namespace: string;
    peerNamespace: string;
    /** "veth" (the kernel peer host in peerNamespace) or "memif" (another instance). */
    link: string;
    /** memif: the control socket and this instance's role. */
    memif?: { socket: string; role: string };
    interface: string;
    address: string;
    peerAddress: string;
    mtu: number;
  };
  runtimeDir: string;
  /** Apps using Joyride, as a server reports them in `stats.apps` (the TCP/IP server). */
  apps: unknown[];
  /** Sockets of the TCP/IP server, as it reports them in `stats.sockets`. */
  sockets: unknown[];
  /** Counters summed over the servers' reports. */
  counters: Record<string, number>;
}

interface Proc {
  spec: ServerSpec;
  state: ServerState;
  child?: Deno.ChildProcess;
  pid: number | null;
  generation: number;
  restarts: number;
  startedAt: number;
  readyAt?: number;
  lastBeat?: number;
  stats: Record<string, unknown>;
  lastExit?: string;
  /** Restart times within the backoff window. */
  recent: number[];
  /** Resolves when the current incarnation is ready (or fails to start). */
  readyWaiters: ((ok: boolean) => void)[];
  /** Set during a manual restart: respawn at once on exit. */
  manual?: boolean;
  restartTimer?: ReturnType<typeof setTimeout>;
  /** The current incarnation's connection (after its hello): where `{op:"beat"}` goes. */
  session?: FramedConn;
  /** Resolve at its next heartbeat (a status waiting for fresh stats). */
  beatWaiters: (() => void)[];
}

/** Options for tests and special runs. */
export interface SupervisorOptions {
  /** Repository root (where server mains are). */
  repoRoot: string;
  servers?: ServerSpec[];
  /** Create and remove the namespaces (default true). Tests of the process logic pass false. */
  topology?: boolean;
  /** Log progress lines (default: console.error). */
  log?: (line: string) => void;
}

/** A supervisor of one instance. */
export class Supervisor {
  readonly config: Config;
  readonly paths: RuntimePaths;
  readonly names: TopologyNames;
  readonly startedAt = Date.now();
  #opts: Required<SupervisorOptions>;
  #procs: Proc[];
  #listener?: Deno.Listener;
  #tickTimer?: ReturnType<typeof setTimeout>;
  #stopping?: Promise<string[]>;
  #stopped: Promise<void>;
  #resolveStopped!: () => void;
  #sessions = new Set<FramedConn>();

  constructor(config: Config, opts: SupervisorOptions) {
    this.config = config;
    this.paths = runtimePaths(config);
    this.names = topologyNames(config.instance);
    this.#opts = {
      servers: defaultServers,
      topology: true,
      log: (l) => console.error(`supervisor: ${l}`),
      ...opts,
    };
    this.#procs = this.#opts.servers.map((spec) => ({
      spec,
      state: "stopped",
      pid: null,
      generation: 0,
      restarts: 0,
      startedAt: 0,
      stats: {},
      recent: [],
      readyWaiters: [],
      beatWaiters: [],
    }));
    this.#stopped = new Promise((r) => this.#resolveStopped = r);
  }

  /** Resolves once the supervisor has stopped everything. */
  get stopped(): Promise<void> {
    return this.#stopped;
  }

  /**
   * Cleans leftovers of a previous run, creates the runtime directory and the topology,
   * serves the control socket and starts every server in order, each ready before the next.
   * Throws (after cleaning up) if a server does not become ready.
   */
  async start(): Promise<void> {
    if (await answers(this.paths.control)) {
      throw new Error(
        `Cannot start instance ${this.config.instance}: it is running (./joyride stop first)`,
      );
    }
    const removed = await cleanupInstance(this.config, { keepSupervisorLog: true });
    if (removed.length > 0) this.#opts.log(`removed leftovers: ${removed.join(", ")}`);
    Deno.mkdirSync(this.paths.logDir, { recursive: true, mode: 0o750 });
    // Root only (issue 6): the runtime directory is traversable for apps.sock's sake.
    Deno.writeTextFileSync(this.paths.config, JSON.stringify(this.config, null, 2) + "\n", {
      mode: 0o600,
    });
    Deno.writeTextFileSync(this.paths.pidFile, `${Deno.pid} ${processStartTime(Deno.pid)}\n`, {
      mode: 0o600,
    });
    // Every app's (shim/ifaddrs.c): the addresses are no secret, the configuration may be.
    Deno.writeTextFileSync(
      this.paths.addresses,
      addressesText(this.config.topology, topologyNames(this.config.instance).joyrideIf),
      { mode: 0o644 },
    );
    Deno.chmodSync(this.paths.addresses, 0o644); // past the umask
    try {
      if (this.#opts.topology) await createTopology(this.config);
      this.#listener = Deno.listen({ transport: "unix", path: this.paths.control });
      this.#acceptLoop(this.#listener);
      this.#tickTimer = setTimeout(() => this.#tick(), this.config.supervisor.heartbeatMs);
      for (const p of this.#procs) {
        const ok = await this.#spawnAndWait(p);
        if (!ok) {
          throw new Error(
            `Cannot start ${p.spec.name}: ${p.lastExit ?? "not ready in time"} ` +
              `(log: ${serverLog(this.paths, p.spec.name)})`,
          );
        }
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  // ---- processes ----

  #spawn(p: Proc): void {
    p.generation++;
    p.state = "starting";
    p.startedAt = Date.now();
    p.readyAt = undefined;
    p.lastBeat = undefined;
    p.stats = {};
    p.session = undefined;
    for (const r of p.beatWaiters.splice(0)) r(); // the old incarnation will not answer
    const log = serverLog(this.paths, p.spec.name);
    const deno = Deno.execPath();
    const main = `${this.#opts.repoRoot}/${p.spec.main}`;
    const args = [
      deno,
      "run",
      "-A",
      ...(p.spec.denoFlags ?? []),
      main,
      "--config",
      this.paths.config,
      "--generation",
      String(p.generation),
      ...(p.spec.args ?? []),
    ];
    // setsid: the server is in its own session, so a Ctrl-C meant for the supervisor's
    // terminal does not reach it (the supervisor stops servers in order). `ip netns exec` and
    // `setsid` exec in place, so the child's pid is the server's pid.
    const netns = this.#opts.topology ? ["ip", "netns", "exec", this.names.ns] : [];
    // Pinned per `affinity` (affinity.ts; taskset execs in place too).
    const pin = affinityPrefix(this.config.affinity, p.spec.name, navigator.hardwareConcurrency);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("/bin/sh", {
        args: ["-c", 'exec "$@" >>"$JOYRIDE_LOG" 2>&1', "sh", "setsid", ...netns, ...pin, ...args],
        env: { JOYRIDE_LOG: log, JOYRIDE_INSTANCE: this.config.instance },
        cwd: this.#opts.repoRoot,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch (e) {
      // Could not even fork (no memory, no fds): handled like a death, with backoff.
      this.#opts.log(`cannot start ${p.spec.name}: ${(e as Error).message}`);
      p.child = undefined;
      queueMicrotask(() => this.#exited(p, undefined, { success: false, code: 127, signal: null }));
      return;
    }
    p.child = child;
    p.pid = child.pid;
    try {
      Deno.writeTextFileSync(
        log,
        `--- ${
          new Date().toISOString()
        } ${p.spec.name} generation ${p.generation} pid ${child.pid}\n`,
        { append: true },
      );
    } catch {
      // log dir gone (stopping)
    }
    child.status.then((s) => this.#exited(p, child, s));
  }

  #spawnAndWait(p: Proc): Promise<boolean> {
    const ready = new Promise<boolean>((r) => p.readyWaiters.push(r));
    this.#spawn(p);
    return ready;
  }

  #settle(p: Proc, ok: boolean): void {
    const ws = p.readyWaiters.splice(0);
    for (const w of ws) w(ok);
  }

  #exited(p: Proc, child: Deno.ChildProcess | undefined, s: Deno.CommandStatus): void {
    if (p.child !== child) return;
    p.child = undefined;
    p.pid = null;
    p.lastExit = s.signal ? `killed by ${s.signal}` : `exited with code ${s.code}`;
    if (p.state === "stopping" || this.#stopping) {
      p.state = "stopped";
      this.#settle(p, false);
      return;
    }
    const wasStarting = p.state === "starting";
    p.restarts++;
    if (p.manual) {
      p.manual = false;
      this.#opts.log(`${p.spec.name} restarting on request (${p.lastExit})`);
      this.#spawn(p);
      return;
    }
    if (wasStarting && p.restarts === 1 && p.generation === 1) {
      // Failed on its very first start: no point in retrying during start-up.
      p.state = "failed";
      this.#settle(p, false);
      return;
    }
    const now = Date.now();
    const { delay, recent } = backoff(p.recent, now, this.config.supervisor);
    p.recent = recent;
    this.#opts.log(`${p.spec.name} ${p.lastExit}; restarting in ${delay} ms`);
    p.state = "restarting";
    p.restartTimer = setTimeout(() => {
      p.restartTimer = undefined;
      if (!this.#stopping && p.state === "restarting") this.#spawn(p);
    }, delay);
  }

  #kill(p: Proc, signal: Deno.Signal): void {
    if (p.pid === null) return;
    try {
      Deno.kill(p.pid, signal);
    } catch {
      // already gone
    }
  }

  /**
   * Once per heartbeatMs: the watch (a server that did not start in time or fell silent is
   * killed) and a beat request to every running server, whose answer is its heartbeat. The
   * servers keep no timers for it, so an idle instance wakes once per period for it: the
   * supervisor for this timer, each server for the question (issue 9's idle). A silent server
   * is killed at the first tick past its timeout.
   */
  #tick(): void {
    this.#tickTimer = undefined;
    if (this.#stopping) return;
    this.#watch();
    this.#askBeats();
    this.#tickTimer = setTimeout(() => this.#tick(), this.config.supervisor.heartbeatMs);
  }

  /** Sends every running server a beat request; returns the servers asked. */
  #askBeats(): Proc[] {
    const asked = this.#procs.filter((p) => p.state === "running" && p.session);
    for (const p of asked) p.session!.send({ op: "beat" }).catch(() => {});
    return asked;
  }

  #watch(): void {
    const now = Date.now();
    const c = this.config.supervisor;
    for (const p of this.#procs) {
      if (p.state === "starting" && now - p.startedAt > c.startTimeoutMs) {
        this.#opts.log(`${p.spec.name} not ready after ${c.startTimeoutMs} ms: killing it`);
        p.lastExit = "not ready in time";
        this.#kill(p, "SIGKILL");
      } else if (
        p.state === "running" && p.lastBeat !== undefined &&
        now - p.lastBeat > c.heartbeatTimeoutMs
      ) {
        this.#opts.log(`${p.spec.name} silent for ${now - p.lastBeat} ms: killing it`);
        p.lastBeat = undefined;
        this.#kill(p, "SIGKILL");
      }
    }
  }

  /** Restarts one server now; resolves when the new incarnation is ready. */
  async restart(name: string): Promise<Proc> {
    const p = this.#procs.find((x) => x.spec.name === name);
    if (!p) {
      throw new Error(
        `Cannot restart "${name}": no such server (${
          this.#procs.map((x) => x.spec.name).join(", ")
        })`,
      );
    }
    if (this.#stopping) throw new Error(`Cannot restart ${name}: stopping`);
    const ready = new Promise<boolean>((r) => p.readyWaiters.push(r));
    if (p.pid === null) {
      if (p.restartTimer) clearTimeout(p.restartTimer);
      p.restartTimer = undefined;
      p.restarts++;
      this.#spawn(p);
    } else {
      p.manual = true;
      p.state = "restarting";
      const pid = p.pid;
      this.#kill(p, "SIGTERM");
      const left = await waitGone([pid], this.config.supervisor.stopTimeoutMs);
      if (left.length > 0) this.#kill(p, "SIGKILL");
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), this.config.supervisor.startTimeoutMs);
    });
    const ok = await Promise.race([ready, timeout]);
    clearTimeout(timer);
    if (!ok) throw new Error(`Cannot restart ${name}: ${p.lastExit ?? "not ready in time"}`);
    return p;
  }

  // ---- stop ----

  /**
   * Stops every server (reverse order: SIGTERM, then SIGKILL after the grace period), removes
   * the topology, the runtime directory and shared-memory files. Idempotent.
   */
  stop(): Promise<string[]> {
    this.#stopping ??= this.#doStop();
    return this.#stopping;
  }

  async #doStop(): Promise<string[]> {
    if (this.#tickTimer !== undefined) clearTimeout(this.#tickTimer);
    this.#tickTimer = undefined;
    for (const p of [...this.#procs].reverse()) {
      if (p.restartTimer) clearTimeout(p.restartTimer);
      if (p.pid === null) {
        p.state = "stopped";
        continue;
      }
      p.state = "stopping";
      const pid = p.pid;
      const status = p.child?.status;
      this.#kill(p, "SIGTERM");
      const left = await waitGone([pid], this.config.supervisor.stopTimeoutMs);
      if (left.length > 0) {
        this.#opts.log(`${p.spec.name} did not stop in time: SIGKILL`);
        this.#kill(p, "SIGKILL");
      }
      await status;
    }
    try {
      this.#listener?.close();
    } catch {
      // closed
    }
    // Servers' sessions end here; command connections (such as the one that asked to stop)
    // end after their reply.
    for (const c of this.#sessions) c.close();
    const removed = await cleanupInstance(this.config, { topology: this.#opts.topology });
    this.#resolveStopped();
    return removed;
  }

  // ---- status ----

  /** The status document (`./joyride status --json`). */
  status(): Status {
    const now = Date.now();
    const counters: Record<string, number> = {};
    let sockets: unknown[] = [];
    let apps: unknown[] = [];
    const servers: ServerStatus[] = [{
      name: "supervisor",
      pid: Deno.pid,
      state: this.#stopping ? "stopping" : "running",
      restarts: 0,
      generation: 1,
      uptime: (now - this.startedAt) / 1000,
      lastHeartbeat: 0,
      stats: {},
    }];
    for (const p of this.#procs) {
      servers.push({
        name: p.spec.name,
        pid: p.pid,
        state: p.state,
        restarts: p.restarts,
        generation: p.generation,
        uptime: p.pid === null ? 0 : (now - p.startedAt) / 1000,
        lastHeartbeat: p.lastBeat === undefined ? null : (now - p.lastBeat) / 1000,
        stats: p.stats,
        ...(p.lastExit ? { lastExit: p.lastExit } : {}),
      });
      for (const [k, v] of Object.entries(p.stats)) {
        if (typeof v === "number") counters[`${p.spec.name}.${k}`] = v;
      }
      if (Array.isArray(p.stats.sockets)) sockets = p.stats.sockets;
      if (Array.isArray(p.stats.apps)) apps = p.stats.apps;
    }
    const t = this.config.topology;
    const memif = memifLink(this.config);
    return {
      instance: this.config.instance,
      servers,
      topology: {
        namespace: this.names.ns,
        peerNamespace: memif ? "" : this.names.peerNs,
        link: memif ? "memif" : "veth",
        ...(memif ? { memif: { socket: memif.socket, role: memif.role } } : {}),
        interface: memif ? `memif (${memif.role})` : this.names.joyrideIf,
        address: `${t.joyrideAddress}/${t.prefixLength}`,
        peerAddress: t.peerAddress,
        mtu: t.mtu,
      },
      runtimeDir: this.paths.dir,
      apps,
      sockets,
      counters,
    };
  }

  // ---- control socket ----

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      this.#serve(new FramedConn(conn));
    }
  }

  async #serve(fc: FramedConn): Promise<void> {
    try {
      for (;;) {
        const msg = await fc.receive();
        if (!msg) break;
        if (msg.op === "hello") {
          this.#sessions.add(fc);
          await this.#serverSession(fc, msg);
          break;
        }
        const reply = await this.#handle(msg);
        if (msg.seq !== undefined) reply.seq = msg.seq;
        await fc.send(reply);
        if (msg.op === "stop" && reply.ok) {
          // give the client a moment to read, then end the process's work
          break;
        }
      }
    } catch {
      // malformed or closed: drop this client only
    } finally {
      this.#sessions.delete(fc);
      fc.close();
    }
  }

  async #handle(msg: Message): Promise<Message> {
    try {
      switch (msg.op) {
        case "status":
          await this.#freshen(FRESH_STATS_MS);
          return { ok: true, status: this.status() };
        case "restart": {
          const p = await this.restart(String(msg.server));
          return { ok: true, server: p.spec.name, pid: p.pid, generation: p.generation };
        }
        case "stop":
          return { ok: true, removed: await this.stop() };
        default:
          return {
            ok: false,
            error: `Cannot handle request: unknown op ${JSON.stringify(msg.op)}`,
          };
      }
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  /**
   * Asks every running server for a heartbeat now and waits for them, at most `ms`: status
   * shows what the servers report at the time it is asked, though they beat only every
   * heartbeatMs. A server that does not answer in time shows its last report.
   */
  async #freshen(ms: number): Promise<void> {
    // The answers come back on a later turn of the event loop: the waiters are in place.
    const waits = this.#askBeats().map((p) => new Promise<void>((r) => p.beatWaiters.push(r)));
    if (waits.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(waits),
      new Promise<void>((r) => timer = setTimeout(r, ms)),
    ]);
    clearTimeout(timer);
  }

  /** A server's own connection: ready and heartbeats, matched by name and generation. */
  async #serverSession(fc: FramedConn, hello: Message): Promise<void> {
    const p = this.#procs.find((x) => x.spec.name === hello.server);
    if (!p) return;
    const generation = hello.generation;
    const current = () => p.generation === generation && p.pid !== null;
    if (current()) p.session = fc;
    for (;;) {
      const m = await fc.receive();
      if (!m) {
        if (p.session === fc) p.session = undefined;
        return;
      }
      // A message from an older incarnation is never taken for the live one's.
      if (!current()) continue;
      if (m.op === "heartbeat") {
        p.lastBeat = Date.now();
        if (typeof m.stats === "object" && m.stats !== null) {
          p.stats = m.stats as Record<string, unknown>;
        }
        for (const r of p.beatWaiters.splice(0)) r();
      } else if (m.op === "ready" && p.state === "starting") {
        p.state = "running";
        p.readyAt = Date.now();
        p.lastBeat = Date.now();
        this.#opts.log(`${p.spec.name} running (pid ${p.pid}, generation ${p.generation})`);
        this.#settle(p, true);
      }
    }
  }
}

/** How long a status waits for the servers' fresh heartbeats. */
const FRESH_STATS_MS = 300;

/** Whether a supervisor answers on a control socket. */
async function answers(path: string): Promise<boolean> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return false;
  }
  conn.close();
  return true;
}

/** Deaths within this window count towards the backoff. */
export const backoffWindowMs = 60_000;

/**
 * The restart delay after a death at `now`, given the earlier deaths' times: the minimum
 * delay, doubled for each other death in the last minute, up to the maximum. A server that ran
 * for a minute without dying starts again from the minimum.
 */
export function backoff(
  deaths: number[],
  now: number,
  c: { backoffMinMs: number; backoffMaxMs: number },
): { delay: number; recent: number[] } {
  const recent = [...deaths.filter((t) => now - t < backoffWindowMs), now];
  const delay = Math.min(c.backoffMaxMs, c.backoffMinMs * 2 ** Math.min(30, recent.length - 1));
  return { delay, recent };
}

/** Options of `cleanupInstance`. */
export interface CleanupOptions {
  /** Remove the namespaces too (default true). */
  topology?: boolean;
  /** Keep `supervisor.log` in the runtime directory (a detached start writes it). */
  keepSupervisorLog?: boolean;
}

/**
 * Removes everything an instance may have left: processes in its namespaces and the one in
 * its pid file (if it is still a Joyride supervisor), the namespaces, the runtime directory and
 * the shared-memory files. Safe when nothing is there. Returns what it removed.
 */
export async function cleanupInstance(
  config: Config,
  opts: CleanupOptions = {},
): Promise<string[]> {
  const paths = runtimePaths(config);
  const removed: string[] = [];
  // A previous supervisor of this instance (not us), identified by pid and start time.
  try {
    const [pid, start] = Deno.readTextFileSync(paths.pidFile).trim().split(" ").map(Number);
    if (pid > 0 && pid !== Deno.pid && alive(pid) && processStartTime(pid) === start) {
      Deno.kill(pid, "SIGKILL");
      await waitGone([pid], 2000);
      removed.push(`supervisor ${pid}`);
    }
  } catch {
    // no pid file
  }
  // Servers still running from a crashed supervisor are in the namespace.
  if (opts.topology !== false) {
    removed.push(...await removeTopology(config.instance));
  }
  // Shared memory, and what a memif server leaves (memifServerFiles).
  for (const f of [...shmFiles(config.instance), ...memifServerFiles(config)]) {
    try {
      Deno.removeSync(f);
      removed.push(f);
    } catch {
      // gone
    }
  }
  try {
    for (const e of Deno.readDirSync(paths.dir)) {
      if (opts.keepSupervisorLog && e.name === "supervisor.log") continue;
      Deno.removeSync(`${paths.dir}/${e.name}`, { recursive: true });
    }
    if (!opts.keepSupervisorLog) {
      Deno.removeSync(paths.dir, { recursive: true });
      removed.push(paths.dir);
    }
  } catch {
    // no runtime dir
  }
  if (!opts.keepSupervisorLog) {
    try {
      Deno.removeSync(config.runtimeDir); // only if no other instance uses it
    } catch {
      // not empty, or not there
    }
  }
  return removed;
}

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22), or -1. */
export function processStartTime(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  } catch {
    return -1;
  }
}

/**
 * Files the memif server of `config`'s link leaves beside it: its control socket (a killed NIC
 * server leaves it; a new one could not bind it) and the link's doorbells (GSO links; NIC
 * servers keep them across their restarts). None for a memif client or another port.
 */
function memifServerFiles(config: Config): string[] {
  const memif = memifLink(config);
  return memif?.role === "server" ? [memif.socket, linkBellPath(memif.socket)] : [];
}

/** Whether anything of an instance is still there (for tests and `status`). */
export async function leftovers(config: Config): Promise<string[]> {
  const paths = runtimePaths(config);
  const out: string[] = [];
  for (const ns of await existingNamespaces(config.instance)) {
    out.push(`namespace ${ns}`);
    for (const pid of await namespacePids(ns)) out.push(`process ${pid}`);
  }
  // The veth ends live only in the namespaces; one in the root namespace would be a bug.
  const names = topologyNames(config.instance);
  const root = await sh(["ip", "-o", "link", "show"], "list interfaces");
  for (const dev of [names.joyrideIf, names.peerIf]) {
    if (new RegExp(`^\\d+: ${dev}[@:]`, "m").test(root)) out.push(`interface ${dev}`);
  }
  out.push(...shmFiles(config.instance));
  for (const f of memifServerFiles(config)) {
    try {
      Deno.statSync(f);
      out.push(f);
    } catch {
      // gone
    }
  }
  try {
    Deno.statSync(paths.dir);
    out.push(paths.dir);
  } catch {
    // gone
  }
  return out;
}

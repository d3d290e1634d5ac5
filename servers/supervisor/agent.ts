/**
 * What every server process uses to be run by the supervisor: its context (configuration,
 * runtime paths, generation) and the agent that tells the supervisor it is ready and alive.
 *
 * A server's main does:
 * ```ts
 * const ctx = serverContext("tcp");           // from --config FILE --generation N
 * const agent = await Agent.connect(ctx, () => ({ rxFrames, txFrames }));
 * // … set up …
 * agent.ready();                                // supervisor marks it running
 * // a heartbeat with the stats answers each of the supervisor's {op:"beat"} from here on
 * ```
 * The supervisor asks every config.supervisor.heartbeatMs (and when `./joyride status` wants
 * fresh stats); the answer comes from the event loop, so a server whose loop hangs stops
 * beating and is restarted. The server keeps no timer of its own for it: an idle server wakes
 * once per period, for the question (a timer of its own cost it four to five wake-ups a
 * period here: Deno's timer wheel wakes on the way to a long deadline), and each wake-up of an
 * idle server costs CPU (issue 9's idle). Without a supervisor (a server run by hand), the
 * agent tries to connect once per period and does nothing else.
 */
import { type Config, loadConfig } from "./config.ts";
import { type RuntimePaths, runtimePaths } from "./runtime.ts";
import { type TopologyNames, topologyNames } from "./topology.ts";
import { connectFramed, type FramedConn, type Message } from "../naming/framing.ts";

/** Everything a server process needs to know about where it runs. */
export interface ServerContext {
  /** The server's name: "naming", "nic", "tcp". */
  name: string;
  config: Config;
  paths: RuntimePaths;
  topology: TopologyNames;
  /** Incarnation number given by the supervisor (1 on first start). */
  generation: number;
}

/** Reads `--config FILE`, `--instance NAME` and `--generation N` from the arguments. */
export function serverContext(name: string, args: string[] = Deno.args): ServerContext {
  const opt = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const config = loadConfig(opt("--config"), opt("--instance"));
  const generation = parseInt(opt("--generation") ?? "1", 10);
  return {
    name,
    config,
    paths: runtimePaths(config),
    topology: topologyNames(config.instance),
    generation: Number.isSafeInteger(generation) && generation > 0 ? generation : 1,
  };
}

/** Stats a server reports with each heartbeat (numbers, or small JSON values). */
export type Stats = Record<string, unknown>;

/** The server's link to the supervisor. */
export class Agent implements Disposable {
  #ctx: ServerContext;
  #stats: () => Stats;
  #fc?: FramedConn;
  #timer?: ReturnType<typeof setTimeout>;
  #ready = false;
  #closed = false;
  #connecting = false;

  private constructor(ctx: ServerContext, stats: () => Stats) {
    this.#ctx = ctx;
    this.#stats = stats;
  }

  /** Connects to the supervisor (if one runs); from then on it answers its beat requests. */
  static async connect(ctx: ServerContext, stats: () => Stats = () => ({})): Promise<Agent> {
    const a = new Agent(ctx, stats);
    await a.#connect();
    return a;
  }

  /** While there is no supervisor connection: another try after a period. */
  #retryLater(): void {
    if (this.#closed || this.#fc || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, this.#ctx.config.supervisor.heartbeatMs);
  }

  async #connect(): Promise<void> {
    if (this.#connecting || this.#closed) return;
    this.#connecting = true;
    try {
      const fc = await connectFramed(this.#ctx.paths.control);
      await fc.send({
        op: "hello",
        server: this.#ctx.name,
        pid: Deno.pid,
        generation: this.#ctx.generation,
      });
      this.#fc = fc;
      if (this.#ready) await this.#send({ op: "ready" });
      this.#listen(fc);
    } catch {
      // no supervisor (yet): retried below
    } finally {
      this.#connecting = false;
      this.#retryLater();
    }
  }

  /** Answers the supervisor's requests for a beat, until the connection ends. */
  async #listen(fc: FramedConn): Promise<void> {
    try {
      for (;;) {
        const m = await fc.receive();
        if (!m) break;
        if (m.op === "beat" && this.#fc === fc) this.#beat();
      }
    } catch {
      // malformed or reset: the supervisor went away
    }
    this.#lost(fc);
  }

  #lost(fc: FramedConn): void {
    fc.close();
    if (this.#fc === fc) this.#fc = undefined;
    this.#retryLater();
  }

  async #send(m: Message): Promise<void> {
    const fc = this.#fc;
    if (!fc) return;
    try {
      await fc.send(m);
    } catch {
      this.#lost(fc);
    }
  }

  #beat(): void {
    if (!this.#fc) return;
    let stats: Stats;
    try {
      stats = this.#stats();
    } catch (e) {
      stats = { error: String(e) };
    }
    this.#send({ op: "heartbeat", stats });
  }

  /** Tells the supervisor the server is serving. */
  ready(): void {
    this.#ready = true;
    this.#send({ op: "ready" });
    this.#beat();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#fc?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Runs `stop` on SIGTERM or SIGINT (once), so a server ends cleanly when the supervisor
 * stops it. Returns a function that removes the handlers.
 */
export function onStopSignal(stop: () => void | Promise<void>): () => void {
  let done = false;
  const handler = () => {
    if (done) return;
    done = true;
    Promise.resolve().then(stop).finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", handler);
  Deno.addSignalListener("SIGINT", handler);
  return () => {
    Deno.removeSignalListener("SIGTERM", handler);
    Deno.removeSignalListener("SIGINT", handler);
  };
}

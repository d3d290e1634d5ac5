/**
 * The naming server: a registry of live servers behind a Unix socket.
 *
 * Requests and replies are framed messages (framing.ts). Every request may carry a `seq`,
 * echoed in its reply. Operations:
 *
 * | request | reply |
 * | --- | --- |
 * | `{op:"register", label, endpoint, pid, resume?}` | `{ok, generation}`; the registration lives as long as this connection |
 * | `{op:"unregister", label}` | `{ok}` |
 * | `{op:"resolve", label}` | `{ok, entry}` or `{ok:false, error}` |
 * | `{op:"list"}` | `{ok, entries}` |
 * | `{op:"subscribe"}` | `{ok, entries}`, then `{event:"changed", entry}` pushed on every change |
 * | `{op:"ping"}` | `{ok, pid}` |
 *
 * What survives a restart of this server: the registry (saved as JSON in the runtime
 * directory after every change), so generations never go back and live servers resume.
 */
import { FramedConn, type Message } from "./framing.ts";
import {
  badLabel,
  type Entry,
  fromJson,
  list,
  markDead,
  register,
  type Registry,
  resolve,
  toJson,
} from "./registry.ts";

/** Options of a naming server. */
export interface NamingServerOptions {
  /** Path of the Unix socket to listen on. */
  socketPath: string;
  /** Where the registry is saved; omitted: kept in memory only. */
  savePath?: string;
  /** Wall clock in ms (tests pass a fake). */
  now?: () => number;
}

/** A running naming server. */
export class NamingServer implements AsyncDisposable {
  readonly socketPath: string;
  #listener: Deno.Listener;
  #registry: Registry;
  #savePath?: string;
  #now: () => number;
  #subscribers = new Set<FramedConn>();
  #conns = new Set<FramedConn>();
  #accepting: Promise<void>;
  #closing = false;
  /** Requests refused as malformed, for status. */
  refused = 0;

  private constructor(opts: NamingServerOptions, listener: Deno.Listener, registry: Registry) {
    this.socketPath = opts.socketPath;
    this.#savePath = opts.savePath;
    this.#now = opts.now ?? Date.now;
    this.#listener = listener;
    this.#registry = registry;
    this.#accepting = this.#acceptLoop();
  }

  /** Loads the saved registry (if any) and starts listening. */
  static listen(opts: NamingServerOptions): NamingServer {
    let registry = fromJson("{}");
    if (opts.savePath) {
      try {
        registry = fromJson(Deno.readTextFileSync(opts.savePath));
      } catch {
        // first start: nothing saved
      }
    }
    try {
      Deno.removeSync(opts.socketPath);
    } catch {
      // no stale socket
    }
    const listener = Deno.listen({ transport: "unix", path: opts.socketPath });
    return new NamingServer(opts, listener, registry);
  }

  /** Current entries (for tests and status). */
  entries(): Entry[] {
    return list(this.#registry);
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // listener closed
      }
      this.#serve(new FramedConn(conn));
    }
  }

  async #serve(fc: FramedConn): Promise<void> {
    this.#conns.add(fc);
    const owned: { label: string; generation: number }[] = [];
    try {
      for (;;) {
        let msg: Message | undefined;
        try {
          msg = await fc.receive();
        } catch {
          this.refused++;
          break; // malformed framing: drop this client only
        }
        if (!msg) break;
        const reply = this.#handle(msg, fc, owned);
        if (msg.seq !== undefined) reply.seq = msg.seq;
        await fc.send(reply);
      }
    } catch {
      // peer went away mid-write
    } finally {
      this.#conns.delete(fc);
      this.#subscribers.delete(fc);
      fc.close();
      // When this server itself is shutting down, registrations stay as saved: the servers
      // behind them are still alive and resume with the next incarnation of naming.
      for (const o of this.#closing ? [] : owned) {
        if (markDead(this.#registry, o.label, o.generation)) this.#changed(o.label);
      }
    }
  }

  #handle(msg: Message, fc: FramedConn, owned: { label: string; generation: number }[]): Message {
    switch (msg.op) {
      case "ping":
        return { ok: true, pid: Deno.pid };
      case "register": {
        const why = badLabel(msg.label);
        if (why) return this.#refuse(`Cannot register: ${why}`);
        if (typeof msg.endpoint !== "string" || msg.endpoint.length > 4096) {
          return this.#refuse("Cannot register: endpoint must be a string of up to 4096 chars");
        }
        const pid = Number.isSafeInteger(msg.pid) ? msg.pid as number : 0;
        const resume = Number.isSafeInteger(msg.resume) ? msg.resume as number : undefined;
        const e = register(
          this.#registry,
          msg.label as string,
          msg.endpoint,
          pid,
          this.#now(),
          resume,
        );
        owned.push({ label: e.label, generation: e.generation });
        this.#changed(e.label);
        return { ok: true, generation: e.generation };
      }
      case "unregister": {
        const why = badLabel(msg.label);
        if (why) return this.#refuse(`Cannot unregister: ${why}`);
        const i = owned.findIndex((o) => o.label === msg.label);
        if (i < 0) {
          return this.#refuse(`Cannot unregister "${msg.label}": not registered by this client`);
        }
        const [o] = owned.splice(i, 1);
        if (markDead(this.#registry, o.label, o.generation)) this.#changed(o.label);
        return { ok: true };
      }
      case "resolve": {
        const why = badLabel(msg.label);
        if (why) return this.#refuse(`Cannot resolve: ${why}`);
        const e = resolve(this.#registry, msg.label as string);
        if (!e) return { ok: false, error: `Cannot resolve "${msg.label}": no live server` };
        return { ok: true, entry: { ...e } };
      }
      case "list":
        return { ok: true, entries: list(this.#registry) };
      case "subscribe":
        this.#subscribers.add(fc);
        return { ok: true, entries: list(this.#registry) };
      default:
        return this.#refuse(`Cannot handle request: unknown op ${JSON.stringify(msg.op)}`);
    }
  }

  #refuse(error: string): Message {
    this.refused++;
    return { ok: false, error };
  }

  #changed(label: string): void {
    this.#save();
    const e = this.#registry.entries.get(label);
    if (!e) return;
    for (const s of this.#subscribers) {
      s.send({ event: "changed", entry: { ...e } }).catch(() => this.#subscribers.delete(s));
    }
  }

  #save(): void {
    if (!this.#savePath) return;
    const tmp = `${this.#savePath}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, toJson(this.#registry));
      Deno.renameSync(tmp, this.#savePath);
    } catch (e) {
      console.error(`naming: cannot save the registry to ${this.#savePath}: ${e}`);
    }
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const c of this.#conns) c.close();
    await this.#accepting;
    try {
      Deno.removeSync(this.socketPath);
    } catch {
      // gone
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The naming server: the registry of live servers behind a Unix socket, spoken in the schema's
 * Cap'n Proto messages (framing in wire.ts).
 *
 * | request | reply |
 * | --- | --- |
 * | `NamingRequest.announce` {label, endpoint, generation, pid} | `NamingReply.none`, errno 0, or ESTALE (an older generation than registered), EINVAL (bad label); the registration lives as long as this connection |
 * | `NamingRequest.resolve` label | `NamingReply.resolved` {endpoint, generation, pid}, or errno ENOENT |
 * | `NamingRequest.unregister` | `none`: drops this connection's registrations |
 * | `NamingRequest.registerApp`, `revoke`, `grantRegion` | errno ENOSYS (apps: issue 6) |
 * | `RegistryMessage.query` [kinds] | `RegistryMessage.snapshot` [ServerInfo] |
 * | `RegistryMessage.subscribe` | none; from then on `RegistryMessage.restart` (RestartNotice) on every change: newGeneration/newPid 0 when a label went dead |
 *
 * Every reply echoes the request's `header.requestId`; `header.generation` of replies is this
 * naming server's own generation. Malformed frames drop that client only, counted in `refused`.
 *
 * What survives a restart of this server: the registry (saved as JSON in the runtime
 * directory after every change), so generations never go back and live servers re-announce
 * the same generation.
 */
import { FrameConn, Kind, Message, NamingReply, NamingRequest, RegistryMessage } from "./wire.ts";
import { EndpointKind } from "../../schema/gen/naming.ts";
import { RestartReason, ServerKind, ServerState } from "../../schema/gen/registry.ts";
import {
  badLabel,
  type Endpoint,
  type Entry,
  fromJson,
  list,
  markDead,
  register,
  type Registry,
  resolve,
  toJson,
} from "./registry.ts";

const EINVAL = 22, ENOENT = 2, ENOSYS = 38, ESTALE = 116;

/** Options of a naming server. */
export interface NamingServerOptions {
  /** Path of the Unix socket to listen on. */
  socketPath: string;
  /** Where the registry is saved; omitted: kept in memory only. */
  savePath?: string;
  /** This naming server's own generation (in reply headers). */
  generation?: number;
  /** Wall clock in ms (tests pass a fake). */
  now?: () => number;
  /**
   * After a restart, how long a saved live entry waits for its server to announce itself
   * again before it counts as dead (default 5000 ms).
   */
  resumeGraceMs?: number;
}

/** ServerKind of a label: its part before the first dot, if it is a known kind. */
export function kindOf(label: string): number {
  const base = label.split(".")[0];
  return ({ supervisor: ServerKind.SUPERVISOR, naming: ServerKind.NAMING, nic: ServerKind.NIC })[
    base as "nic"
  ] ?? ServerKind.TCP;
}

/** Converts a schema Endpoint to the registry's. */
function endpointFrom(e: { kind: number; path: string; regionId: number; ringOffset: bigint }) {
  return {
    kind: e.kind === EndpointKind.RING ? "ring" : "unixSocket",
    path: e.path,
    regionId: e.regionId,
    ringOffset: Number(e.ringOffset),
  } as Endpoint;
}

/** Fills a schema Endpoint from the registry's. */
export function endpointTo(
  out: { kind: number; path: string; regionId: number; ringOffset: bigint },
  e: Endpoint,
): void {
  out.kind = e.kind === "ring" ? EndpointKind.RING : EndpointKind.UNIX_SOCKET;
  out.path = e.path;
  out.regionId = e.regionId;
  out.ringOffset = BigInt(e.ringOffset);
}

/** A running naming server. */
export class NamingServer implements AsyncDisposable {
  readonly socketPath: string;
  readonly generation: number;
  #listener: Deno.Listener;
  #registry: Registry;
  #savePath?: string;
  #now: () => number;
  #subscribers = new Set<FrameConn>();
  /** Connections that announced each label at its current generation: the label ends when
   * the last of them closes. */
  #owners = new Map<string, Set<FrameConn>>();
  #conns = new Set<FrameConn>();
  #accepting: Promise<void>;
  #closing = false;
  #graceTimer?: ReturnType<typeof setTimeout>;
  /** Requests refused (malformed, unknown, bad label, stale), for status. */
  refused = 0;

  private constructor(opts: NamingServerOptions, listener: Deno.Listener, registry: Registry) {
    this.socketPath = opts.socketPath;
    this.generation = opts.generation ?? 1;
    this.#savePath = opts.savePath;
    this.#now = opts.now ?? Date.now;
    this.#listener = listener;
    this.#registry = registry;
    this.#accepting = this.#acceptLoop();
    // Saved live entries must be confirmed by their server announcing again.
    const unconfirmed = list(registry).filter((e) => e.alive);
    if (unconfirmed.length > 0) {
      this.#graceTimer = setTimeout(() => {
        this.#graceTimer = undefined;
        for (const e of unconfirmed) {
          if (!this.#owners.has(e.label)) this.#dead(e.label, e.generation);
        }
      }, opts.resumeGraceMs ?? 5000);
    }
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
      this.#serve(new FrameConn(conn));
    }
  }

  async #serve(fc: FrameConn): Promise<void> {
    this.#conns.add(fc);
    const owned: { label: string; generation: number }[] = [];
    try {
      for (;;) {
        const f = await fc.receive(); // throws on malformed framing
        if (!f) break;
        if (f.kind === Kind.namingRequest) {
          await fc.send(Kind.namingReply, this.#naming(f.message, owned, fc));
        } else if (f.kind === Kind.registry) {
          const reply = this.#registryMsg(f.message, fc);
          if (reply) await fc.send(Kind.registry, reply);
        } else {
          throw new Error(`unknown frame kind ${f.kind}`);
        }
      }
    } catch {
      this.refused++; // malformed input or a broken connection: drop this client only
    } finally {
      this.#conns.delete(fc);
      this.#subscribers.delete(fc);
      fc.close();
      // When this server itself is shutting down, registrations stay as saved: the servers
      // behind them are still alive and re-announce to the next incarnation of naming.
      for (const o of this.#closing ? [] : owned) this.#release(o.label, o.generation, fc);
    }
  }

  /** `fc` no longer holds `label`; the label ends when no connection holds it. */
  #release(label: string, generation: number, fc: FrameConn): void {
    const set = this.#owners.get(label);
    if (!set?.delete(fc) || set.size > 0) return;
    this.#owners.delete(label);
    this.#dead(label, generation);
  }

  #dead(label: string, generation: number): void {
    const e = this.#registry.entries.get(label);
    const pid = e?.pid ?? 0;
    if (markDead(this.#registry, label, generation)) {
      this.#save();
      this.#notify(label, pid, generation, 0, 0, RestartReason.CRASHED);
    }
  }

  #naming(
    m: Message,
    owned: { label: string; generation: number }[],
    fc?: FrameConn,
  ): Message {
    const req = m.getRoot(NamingRequest);
    const out = new Message();
    const reply = out.initRoot(NamingReply);
    const h = reply._initHeader();
    h.requestId = req.header.requestId;
    h.generation = this.generation;
    const fail = (errno: number) => {
      this.refused++;
      reply.errno = errno;
      reply.none = true;
      return out;
    };
    switch (req.which()) {
      case NamingRequest.ANNOUNCE: {
        if (!fc) return fail(EINVAL);
        const a = req.announce;
        const label = a.label;
        if (badLabel(label)) return fail(EINVAL);
        const prev = this.#registry.entries.get(label);
        const e = register(
          this.#registry,
          label,
          endpointFrom(a.endpoint),
          a.pid,
          this.#now(),
          a.generation,
        );
        if (e === "stale") return fail(ESTALE);
        owned.push({ label, generation: e.generation });
        let set = this.#owners.get(label);
        if (!set || prev?.generation !== e.generation) this.#owners.set(label, set = new Set());
        set.add(fc);
        this.#save();
        if (!prev || prev.generation !== e.generation || !prev.alive || prev.pid !== e.pid) {
          this.#notify(
            label,
            prev?.pid ?? 0,
            prev?.generation ?? 0,
            e.pid,
            e.generation,
            RestartReason.CRASHED,
          );
        }
        reply.none = true;
        return out;
      }
      case NamingRequest.RESOLVE: {
        const label = req.resolve;
        if (badLabel(label)) return fail(EINVAL);
        const e = resolve(this.#registry, label);
        if (!e) {
          reply.errno = ENOENT;
          reply.none = true;
          return out;
        }
        const r = reply._initResolved();
        endpointTo(r._initEndpoint(), e.endpoint);
        r.generation = e.generation;
        r.pid = e.pid;
        return out;
      }
      case NamingRequest.UNREGISTER: {
        for (const o of owned.splice(0)) this.#release(o.label, o.generation, fc!);
        reply.none = true;
        return out;
      }
      default:
        return fail(ENOSYS);
    }
  }

  #registryMsg(m: Message, fc: FrameConn): Message | undefined {
    const req = m.getRoot(RegistryMessage);
    switch (req.which()) {
      case RegistryMessage.QUERY: {
        const kinds = new Set(req.query.toArray());
        const entries = list(this.#registry).filter((e) =>
          kinds.size === 0 || kinds.has(kindOf(e.label) as 0)
        );
        const out = new Message();
        const snap = out.initRoot(RegistryMessage)._initSnapshot(entries.length);
        entries.forEach((e, i) => {
          const s = snap.get(i);
          s.label = e.label;
          s.kind = kindOf(e.label) as 0;
          s.pid = e.pid;
          s.generation = e.generation;
          s.state = e.alive ? ServerState.RUNNING : ServerState.STOPPED;
          s.startedAtMs = BigInt(Math.floor(e.registeredAt));
        });
        return out;
      }
      case RegistryMessage.SUBSCRIBE:
        this.#subscribers.add(fc);
        return undefined;
      default:
        throw new Error("unexpected registry message");
    }
  }

  #notify(
    label: string,
    oldPid: number,
    oldGeneration: number,
    newPid: number,
    newGeneration: number,
    reason: number,
  ): void {
    if (this.#subscribers.size === 0) return;
    const out = new Message();
    const n = out.initRoot(RegistryMessage)._initRestart();
    n.label = label;
    n.kind = kindOf(label) as 0;
    n.reason = reason as 0;
    n.oldPid = oldPid;
    n.newPid = newPid;
    n.oldGeneration = oldGeneration;
    n.newGeneration = newGeneration;
    for (const s of this.#subscribers) {
      s.send(Kind.registry, out).catch(() => this.#subscribers.delete(s));
    }
  }

  #save(): void {
    if (!this.#savePath) return;
    const tmp = `${this.#savePath}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, toJson(this.#registry), { mode: 0o600 }); // root only (issue 6)
      Deno.renameSync(tmp, this.#savePath);
    } catch (e) {
      console.error(`naming: cannot save the registry to ${this.#savePath}: ${e}`);
    }
  }

  /** Stops listening and closes every connection (registrations stay saved). */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
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

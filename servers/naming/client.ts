/**
 * Client side of the naming server: resolve a label, announce oneself, follow a label.
 *
 * Servers find each other by label through these calls, never by pid, and re-resolve when
 * the generation behind a label changes (see `Follower`).
 *
 * @example
 * ```ts
 * const reg = await Registration.start(socketPath, "nic", endpoint("ring", regionPath), 1);
 * const nic = await resolveLabel(socketPath, "nic"); // { endpoint, generation, pid, … }
 * ```
 */
import {
  connectNaming,
  type FrameConn,
  Kind,
  Message,
  NamingReply,
  NamingRequest,
  RegistryMessage,
} from "./wire.ts";
import { type Endpoint, type Entry } from "./registry.ts";
import { endpointTo } from "./server.ts";
import { EndpointKind } from "../../schema/gen/naming.ts";
import { ServerState } from "../../schema/gen/registry.ts";

export type { Endpoint, Entry };
export { endpoint } from "./registry.ts";

let nextRequestId = 1n;

function resolveRequest(label: string): Message {
  const m = new Message();
  const r = m.initRoot(NamingRequest);
  r._initHeader().requestId = nextRequestId++;
  r.resolve = label;
  return m;
}

/** Reads a resolve reply: the entry, or undefined (ENOENT or anything else). */
function entryFrom(label: string, m: Message): Entry | undefined {
  const r = m.getRoot(NamingReply);
  if (r.errno !== 0 || r.which() !== NamingReply.RESOLVED) return undefined;
  const x = r.resolved;
  const e = x.endpoint;
  return {
    label,
    endpoint: {
      kind: e.kind === EndpointKind.RING ? "ring" : "unixSocket",
      path: e.path,
      regionId: e.regionId,
      ringOffset: Number(e.ringOffset),
    },
    generation: x.generation,
    pid: x.pid,
    registeredAt: 0,
    alive: true,
  };
}

async function receiveKind(fc: FrameConn, kind: Kind): Promise<Message> {
  for (;;) {
    const f = await fc.receive();
    if (!f) throw new Error("Naming server closed the connection");
    if (f.kind === kind) return f.message;
  }
}

/** The live entry of a label, or undefined when no live server has it. */
export async function resolveLabel(socketPath: string, label: string): Promise<Entry | undefined> {
  using fc = await connectNaming(socketPath);
  await fc.send(Kind.namingRequest, resolveRequest(label));
  return entryFrom(label, await receiveKind(fc, Kind.namingReply));
}

/** What the registry says about a server (from a RegistryMessage snapshot). */
export interface ServerEntry {
  label: string;
  pid: number;
  generation: number;
  alive: boolean;
  startedAtMs: number;
}

/** Every entry of the registry. */
export async function listEntries(socketPath: string): Promise<ServerEntry[]> {
  using fc = await connectNaming(socketPath);
  const m = new Message();
  m.initRoot(RegistryMessage)._initQuery(0);
  await fc.send(Kind.registry, m);
  const reply = (await receiveKind(fc, Kind.registry)).getRoot(RegistryMessage);
  if (reply.which() !== RegistryMessage.SNAPSHOT) throw new Error("Naming sent no snapshot");
  return reply.snapshot.toArray().map((s) => ({
    label: s.label,
    pid: s.pid,
    generation: s.generation,
    alive: s.state === ServerState.RUNNING,
    startedAtMs: Number(s.startedAtMs),
  }));
}

/** Sleeps, ending early (without a leaked timer) when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/**
 * A server's registration under a label, alive as long as its connection. If the naming server
 * restarts, the registration reconnects and announces the same generation again.
 */
export class Registration implements Disposable {
  readonly label: string;
  readonly endpoint: Endpoint;
  readonly generation: number;
  #socketPath: string;
  #fc?: FrameConn;
  #closed = false;
  #abort = new AbortController();
  #kept: Promise<void> = Promise.resolve();

  private constructor(socketPath: string, label: string, ep: Endpoint, generation: number) {
    this.#socketPath = socketPath;
    this.label = label;
    this.endpoint = ep;
    this.generation = generation;
  }

  /** Announces `label` at `generation` (from the supervisor) and keeps it registered. */
  static async start(
    socketPath: string,
    label: string,
    ep: Endpoint,
    generation: number,
  ): Promise<Registration> {
    const r = new Registration(socketPath, label, ep, generation);
    await r.#connect();
    r.#kept = r.#keep();
    return r;
  }

  async #connect(): Promise<void> {
    const fc = await connectNaming(this.#socketPath);
    try {
      const m = new Message();
      const req = m.initRoot(NamingRequest);
      req._initHeader().requestId = nextRequestId++;
      const a = req._initAnnounce();
      a.label = this.label;
      endpointTo(a._initEndpoint(), this.endpoint);
      a.generation = this.generation;
      a.pid = Deno.pid;
      await fc.send(Kind.namingRequest, m);
      const reply = (await receiveKind(fc, Kind.namingReply)).getRoot(NamingReply);
      if (reply.errno !== 0) {
        throw new Error(`Cannot register "${this.label}": naming answered errno ${reply.errno}`);
      }
      this.#fc = fc;
    } catch (e) {
      fc.close();
      throw e;
    }
  }

  async #keep(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#fc?.receive(); // returns when naming goes away
      } catch {
        // broken framing: reconnect
      }
      this.#fc?.close();
      this.#fc = undefined;
      for (let delay = 50; !this.#closed; delay = Math.min(delay * 2, 1000)) {
        await sleep(delay, this.#abort.signal);
        if (this.#closed) return;
        try {
          await this.#connect();
          break;
        } catch {
          // naming not back yet
        }
      }
    }
  }

  close(): void {
    this.#closed = true;
    this.#abort.abort();
    this.#fc?.close();
  }

  /** Closes and waits for the keep-alive loop to end. */
  async closed(): Promise<void> {
    this.close();
    await this.#kept;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Follows a label: calls `onChange` with the live entry whenever its generation, pid or
 * endpoint changes (and once at the start), reconnecting to naming when it restarts.
 * `onChange` gets undefined while no live server holds the label.
 */
export class Follower implements Disposable {
  #socketPath: string;
  #label: string;
  #onChange: (e: Entry | undefined) => void;
  #last?: Entry;
  #first = true;
  #fc?: FrameConn;
  #closed = false;
  #abort = new AbortController();
  #done: Promise<void>;

  constructor(socketPath: string, label: string, onChange: (e: Entry | undefined) => void) {
    this.#socketPath = socketPath;
    this.#label = label;
    this.#onChange = onChange;
    this.#done = this.#run();
  }

  /** The last entry seen. */
  get current(): Entry | undefined {
    return this.#last;
  }

  #see(e: Entry | undefined): void {
    const b = this.#last;
    const changed = this.#first || !b !== !e ||
      (b && e && (b.generation !== e.generation || b.pid !== e.pid ||
        b.endpoint.path !== e.endpoint.path || b.endpoint.kind !== e.endpoint.kind));
    this.#first = false;
    this.#last = e;
    if (changed) this.#onChange(e);
  }

  async #run(): Promise<void> {
    for (let delay = 50; !this.#closed; delay = Math.min(delay * 2, 1000)) {
      try {
        const fc = await connectNaming(this.#socketPath);
        this.#fc = fc;
        const sub = new Message();
        sub.initRoot(RegistryMessage).subscribe = true;
        await fc.send(Kind.registry, sub);
        await fc.send(Kind.namingRequest, resolveRequest(this.#label));
        delay = 50;
        for (;;) {
          const f = await fc.receive();
          if (!f) break;
          if (f.kind === Kind.namingReply) this.#see(entryFrom(this.#label, f.message));
          else if (f.kind === Kind.registry) {
            const m = f.message.getRoot(RegistryMessage);
            if (m.which() === RegistryMessage.RESTART && m.restart.label === this.#label) {
              await fc.send(Kind.namingRequest, resolveRequest(this.#label));
            }
          }
        }
      } catch {
        // naming down: retry
      }
      this.#fc?.close();
      if (!this.#closed) await sleep(delay, this.#abort.signal);
    }
  }

  close(): void {
    this.#closed = true;
    this.#abort.abort();
    this.#fc?.close();
  }

  /** Closes and waits for the follow loop to end. */
  async closed(): Promise<void> {
    this.close();
    await this.#done;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

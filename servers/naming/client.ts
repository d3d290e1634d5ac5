/**
 * Client side of the naming server: resolve a label, register oneself, follow changes.
 *
 * Servers find each other by label through these calls, never by pid, and re-resolve when
 * the generation behind a label changes (see `follow`).
 *
 * @example
 * ```ts
 * const reg = await Registration.start(socketPath, "tcp", "unix:/run/joyride/x/tcp.sock");
 * console.log(reg.generation);
 * const nic = await resolveLabel(socketPath, "nic");
 * ```
 */
import { connectFramed, type FramedConn, type Message } from "./framing.ts";
import type { Entry } from "./registry.ts";

export type { Entry };

function check(reply: Message, what: string): Message {
  if (reply.ok !== true) throw new Error(`${what}: ${String(reply.error ?? "refused")}`);
  return reply;
}

/** One request on a fresh connection. */
export async function namingRequest(socketPath: string, msg: Message): Promise<Message> {
  using fc = await connectFramed(socketPath);
  return await fc.request(msg);
}

/** The live entry of a label, or undefined when no live server has it. */
export async function resolveLabel(socketPath: string, label: string): Promise<Entry | undefined> {
  const r = await namingRequest(socketPath, { op: "resolve", label });
  return r.ok === true ? r.entry as Entry : undefined;
}

/** All entries of the registry. */
export async function listEntries(socketPath: string): Promise<Entry[]> {
  const r = check(await namingRequest(socketPath, { op: "list" }), "Cannot list servers");
  return r.entries as Entry[];
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
 * A server's registration under a label, kept alive by an open connection. If the naming
 * server restarts, the registration reconnects and resumes with the same generation.
 */
export class Registration implements Disposable {
  readonly label: string;
  readonly endpoint: string;
  generation = 0;
  #socketPath: string;
  #fc?: FramedConn;
  #closed = false;
  #abort = new AbortController();
  #kept: Promise<void> = Promise.resolve();

  private constructor(socketPath: string, label: string, endpoint: string) {
    this.#socketPath = socketPath;
    this.label = label;
    this.endpoint = endpoint;
  }

  /** Registers and keeps the registration alive until closed. */
  static async start(socketPath: string, label: string, endpoint: string): Promise<Registration> {
    const r = new Registration(socketPath, label, endpoint);
    await r.#connect();
    r.#kept = r.#keep();
    return r;
  }

  async #connect(): Promise<void> {
    const fc = await connectFramed(this.#socketPath);
    try {
      const reply = check(
        await fc.request({
          op: "register",
          label: this.label,
          endpoint: this.endpoint,
          pid: Deno.pid,
          resume: this.generation || undefined,
        }),
        `Cannot register "${this.label}"`,
      );
      this.generation = reply.generation as number;
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
 * Follows a label: calls `onChange` with the live entry whenever its generation or liveness
 * changes (and once at the start), reconnecting to naming when it restarts. `onChange` gets
 * undefined while no live server holds the label.
 */
export class Follower implements Disposable {
  #socketPath: string;
  #label: string;
  #onChange: (e: Entry | undefined) => void;
  #last?: Entry;
  #fc?: FramedConn;
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
    return this.#last?.alive ? this.#last : undefined;
  }

  #see(e: Entry | undefined): void {
    const before = this.#last;
    const changed = !before !== !e || (before && e &&
      (before.generation !== e.generation || before.alive !== e.alive ||
        before.endpoint !== e.endpoint));
    this.#last = e;
    if (changed) this.#onChange(e?.alive ? e : undefined);
  }

  async #run(): Promise<void> {
    let first = true;
    for (let delay = 50; !this.#closed; delay = Math.min(delay * 2, 1000)) {
      try {
        const fc = await connectFramed(this.#socketPath);
        this.#fc = fc;
        const reply = check(await fc.request({ op: "subscribe" }), "Cannot subscribe");
        delay = 50;
        const entries = reply.entries as Entry[];
        const e = entries.find((x) => x.label === this.#label);
        if (first) {
          first = false;
          this.#last = e;
          this.#onChange(e?.alive ? e : undefined);
        } else this.#see(e);
        for (;;) {
          const m = await fc.receive();
          if (!m) break;
          const entry = m.entry as Entry | undefined;
          if (m.event === "changed" && entry?.label === this.#label) this.#see(entry);
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

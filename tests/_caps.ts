/**
 * Helpers for the isolation tests (tests/caps_*_test.ts, issue 6): the hostile C client
 * (tests/hostile_client/) driven line by line, a second non-root user, status counters, an
 * honest echo app under the shim and a kernel echo server on the peer host.
 */
import { repoRoot, run, type TestInstance } from "./_system.ts";
import { Bg, shimEnvOf } from "./_apps.ts";

/** Path of the hostile client binary (built by {@link buildHostile}). */
export const hostilePath = `${repoRoot}/build/tests/hostile_client`;

/**
 * Copies of the hostile client and the shim that any user can run (the checkout may sit in a
 * directory other users cannot enter, e.g. under /root): a 0755 directory `dir` gets
 * `hostile_client` and `libjoyride.so`.
 */
export function publicCopies(dir: string): { hostile: string; shim: string } {
  Deno.chmodSync(dir, 0o755);
  const hostile = `${dir}/hostile_client`, shim = `${dir}/libjoyride.so`;
  Deno.copyFileSync(hostilePath, hostile);
  Deno.copyFileSync(`${repoRoot}/build/libjoyride.so`, shim);
  Deno.chmodSync(hostile, 0o755);
  Deno.chmodSync(shim, 0o755);
  return { hostile, shim };
}

/** Where other users find the copies (set by the test once made). */
export const publicPaths: { hostile?: string; shim?: string } = {};

/** Builds the hostile client (make; a no-op when up to date). */
export async function buildHostile(): Promise<void> {
  const r = await run(["make", "-s", "-C", `${repoRoot}/tests/hostile_client`], {
    timeoutMs: 120_000,
  });
  if (r.code !== 0) throw new Error(`Cannot build the hostile client: ${r.stdout}${r.stderr}`);
}

/**
 * The second user of the tests: a system user `jrt<pid>` of this test process, created
 * (useradd -r, no home, no login shell) on first use; `removeTestUser` deletes it (the suite's
 * runner deletes it too if the test process is killed).
 */
export async function testUser(): Promise<{ uid: number; gid: number; name: string }> {
  const name = testUserName();
  let r = await run(["id", "-u", name]);
  if (r.code !== 0) {
    const a = await run([
      "useradd",
      "-r",
      "-M",
      "-d",
      "/nonexistent",
      "-s",
      "/usr/sbin/nologin",
      name,
    ]);
    r = await run(["id", "-u", name]);
    if (r.code !== 0) throw new Error(`Cannot create user ${name}: ${a.stderr}`);
  }
  const g = await run(["id", "-g", name]);
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()), name };
}

/** The name of this test process's second user. */
export function testUserName(): string {
  return `jrt${Deno.pid}`;
}

/** Deletes the second user (and its group); its processes must have ended. */
export async function removeTestUser(): Promise<void> {
  const name = testUserName();
  for (let i = 0; i < 20; i++) {
    if ((await run(["id", "-u", name])).code !== 0) return;
    // userdel refuses while a process of the user lives; they are being stopped
    if ((await run(["userdel", name])).code === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const r = await run(["userdel", "-f", name]);
  if (r.code !== 0) throw new Error(`Cannot remove user ${name}: ${r.stderr}`);
}

/** argv prefix running a command as `user` (no supplementary groups). */
export function asUser(user: string): string[] {
  return ["setpriv", `--reuid=${user}`, `--regid=${user}`, "--clear-groups"];
}

/** One answer of the hostile client. */
export type Answer = { cmd: string; errno: number; [k: string]: unknown };

/** A running hostile client, one command at a time. */
export class Hostile {
  readonly child: Deno.ChildProcess;
  #w: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  #buf = "";
  #reader: ReadableStreamDefaultReader<string>;
  /** The registration answer (appId, pid). */
  hello!: Answer;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#w = child.stdin.getWriter();
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#lines = this.#iter();
  }

  async *#iter(): AsyncGenerator<string> {
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        yield line;
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) return;
      this.#buf += value;
    }
  }

  /** Starts a client attached to `jr` (as `user` when given) and waits for its registration. */
  static async start(jr: TestInstance, user?: string): Promise<Hostile> {
    const dir = `${jr.config.runtimeDir}/${jr.name}`;
    const argv = user ? [...asUser(user), publicPaths.hostile ?? hostilePath] : [hostilePath];
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      env: { JOYRIDE_RUNTIME_DIR: dir },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const h = new Hostile(child);
    const hello = await h.#next(10_000);
    if (!hello || hello.errno !== 0) {
      h.kill();
      throw new Error(`hostile client did not register: ${JSON.stringify(hello)}`);
    }
    h.hello = hello;
    return h;
  }

  get pid(): number {
    return this.child.pid;
  }

  get appId(): number {
    return this.hello.appId as number;
  }

  async #next(timeoutMs: number): Promise<Answer | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), timeoutMs));
    const n = await Promise.race([this.#lines.next(), t]);
    clearTimeout(timer);
    if (!n || n.done) return undefined;
    return JSON.parse(n.value) as Answer;
  }

  /** Sends one command line; resolves to its answer (throws when none comes). */
  async cmd(line: string, timeoutMs = 15_000): Promise<Answer> {
    await this.#w.write(new TextEncoder().encode(line + "\n"));
    const a = await this.#next(timeoutMs);
    if (!a) throw new Error(`hostile client: no answer to "${line}"`);
    return a;
  }

  /** errno of one command. */
  async errno(line: string): Promise<number> {
    return (await this.cmd(line)).errno;
  }

  /** Ends the client: "exit", or SIGKILL when `kill`. Resolves once it is gone. */
  async end(): Promise<void> {
    try {
      await this.#w.write(new TextEncoder().encode("exit\n"));
      await this.#w.close();
    } catch {
      // already gone
    }
    const t = setTimeout(() => this.kill(), 5000);
    await this.child.status;
    clearTimeout(t);
    await this.#reader.cancel().catch(() => {});
  }

  /** SIGKILL by pid. */
  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // gone
    }
  }

  /** Waits for the process to be gone after a kill. */
  async gone(): Promise<void> {
    await this.child.status;
    await this.#w.close().catch(() => {});
    await this.#reader.cancel().catch(() => {});
  }
}

/** The status document of an instance (`./joyride status --json`). */
export interface StatusDoc {
  servers: { name: string; pid: number | null; restarts: number; state: string }[];
  apps: Record<string, unknown>[];
  counters: Record<string, number>;
}

/** Reads the status. */
export async function status(jr: TestInstance): Promise<StatusDoc> {
  const r = await jr.cli(["status", "--json"], 30_000);
  if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusDoc;
}

/** A refusal counter (`tcp` or `naming`, reason), 0 when absent. */
export function refusals(s: StatusDoc, server: string, reason: string): number {
  return s.counters[`${server}.refusals.${reason}`] ?? 0;
}

/**
 * A kernel echo server on the peer host (python3, a thread per connection), on `port`.
 */
export function peerEcho(jr: TestInstance, port: number): Bg {
  const py = [
    "import socket, threading",
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    `s.bind(('0.0.0.0', ${port})); s.listen(64)`,
    "def serve(c):",
    "    while True:",
    "        d = c.recv(65536)",
    "        if not d: break",
    "        c.sendall(d)",
    "    c.close()",
    "print('listening', flush=True)",
    "while True:",
    "    c, _ = s.accept()",
    "    threading.Thread(target=serve, args=(c,), daemon=True).start()",
  ].join("\n");
  return new Bg(["ip", "netns", "exec", jr.peerNs, "python3", "-c", py]);
}

/**
 * An honest app under the shim: echoes seeded chunks through the peer's echo server until
 * `stopFile` exists, checking every byte that comes back. Prints `{"rounds","bytes","ok"}`;
 * exits 0 only when everything came back byte-exact.
 */
export function honestApp(
  jr: TestInstance,
  peer: string,
  port: number,
  stopFile: string,
  user?: string,
): Bg {
  const py = [
    "import json, os, random, socket, sys",
    "r = random.Random(7)",
    `s = socket.create_connection(('${peer}', ${port}), timeout=30)`,
    "rounds = total = 0; ok = True",
    `while not os.path.exists('${stopFile}') or rounds < 3:`,
    "    n = r.randint(1, 65536)",
    "    d = r.randbytes(n)",
    "    s.sendall(d)",
    "    got = bytearray()",
    "    while len(got) < n:",
    "        b = s.recv(n - len(got))",
    "        if not b: break",
    "        got += b",
    "    if bytes(got) != d: ok = False; break",
    "    rounds += 1; total += n",
    "s.close()",
    "print(json.dumps({'rounds': rounds, 'bytes': total, 'ok': ok}), flush=True)",
    "sys.exit(0 if ok else 1)",
  ].join("\n");
  if (!user) return new Bg(["python3", "-c", py], shimEnvOf(jr));
  // The shim goes on after setpriv (setpriv itself crashes under the shim: reported).
  const env = Object.entries({ ...shimEnvOf(jr), LD_PRELOAD: publicPaths.shim ?? "" })
    .map(([k, v]) => `${k}=${v}`);
  return new Bg([...asUser(user), "env", ...env, "/usr/bin/python3", "-c", py]);
}

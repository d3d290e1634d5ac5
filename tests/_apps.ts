/**
 * Helpers for the tests of unmodified programs under the shim (tests/shim_*_test.ts,
 * tests/apps_*_test.ts): background processes ended by pid, programs with the shim, files with
 * a sha256.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, type Run, run, type TestInstance } from "./_system.ts";
import { shimEnv } from "../shim/run.ts";

/** The environment that runs a program under the shim, attached to `jr`. */
export function shimEnvOf(jr: TestInstance): Record<string, string> {
  return shimEnv(repoRoot, `${jr.config.runtimeDir}/${jr.name}`, jr.name);
}

/** A background process; `stop()` ends it (SIGTERM, then SIGKILL) by its pid. */
export class Bg {
  readonly child: Deno.ChildProcess;
  readonly out: Promise<Deno.CommandOutput>;
  constructor(cmd: string[], env?: Record<string, string>, cwd?: string) {
    this.child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env,
      cwd: cwd ?? repoRoot,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.out = this.child.output();
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Ends the process and returns what it printed (empty if its pipes stay open). */
  async stop(): Promise<{ code: number; stdout: string; stderr: string }> {
    const wait = (ms: number) =>
      Promise.race([
        this.out.then((o) => o),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), ms)),
      ]);
    let o: Deno.CommandOutput | undefined;
    for (const sig of ["SIGTERM", "SIGKILL"] as const) {
      try {
        this.child.kill(sig);
      } catch {
        // already gone
      }
      o = await wait(2000);
      if (o) break;
    }
    const dec = new TextDecoder();
    return o
      ? { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) }
      : { code: -1, stdout: "", stderr: "" };
  }
}

/** Runs a command under the shim (in the caller's namespace). */
export function runShim(
  jr: TestInstance,
  cmd: string[],
  opts: { timeoutMs?: number; stdin?: Uint8Array; env?: Record<string, string> } = {},
): Promise<Run> {
  return run(cmd, { ...opts, env: { ...shimEnvOf(jr), ...opts.env } });
}

/** sha256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `n` seeded pseudo-random bytes (xorshift32), so a failure is the same every run. */
export function seededBytes(n: number, seed = 12345): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Writes `n` seeded pseudo-random bytes (xorshift32) to `path`. */
export function writeSeeded(path: string, n: number, seed = 12345): void {
  Deno.writeFileSync(path, seededBytes(n, seed));
}

/** Compiles the C program `src` to `bin` (cc -O1 -Wall -Werror, then `flags`); fails the test if cc does. */
export async function compileC(bin: string, src: string, flags: string[] = []): Promise<void> {
  const cc = await run(["cc", "-O1", "-Wall", "-Werror", ...flags, "-o", bin, src]);
  assertEquals(cc.code, 0, cc.stderr);
}

/**
 * Background processes of one test, all started in `cwd`: `joyride` under the shim, `peer` on
 * the peer host; `listening` waits for a TCP listener; `stopAll` ends every one by its pid.
 */
export function backgrounds(jr: TestInstance, cwd: string) {
  const all: Bg[] = [];
  const keep = (b: Bg) => {
    all.push(b);
    return b;
  };
  return {
    /** A process under the shim. */
    joyride: (cmd: string[]) => keep(new Bg(cmd, shimEnvOf(jr), cwd)),
    /** A process on the peer host. */
    peer: (cmd: string[]) =>
      keep(new Bg(["ip", "netns", "exec", jr.peerNs, ...cmd], undefined, cwd)),
    /** Waits until HOST:PORT takes TCP connections (probed from the peer); else ends `what`, throws. */
    listening: async (host: string, port: number, what: Bg) => {
      const up = await eventually(
        async () => (await jr.peer(["nc", "-z", "-w", "1", host, `${port}`])).code === 0,
        15_000,
      );
      if (!up) {
        const o = await what.stop();
        throw new Error(`nothing listens on ${host}:${port}: ${o.stdout}${o.stderr}`);
      }
    },
    /** Ends every process started here, in order. */
    stopAll: async () => {
      for (const b of all) await b.stop();
    },
  };
}

/**
 * One test's session with `jr`: a temporary directory `dir` (`prefix`, `mode` if given), the
 * `backgrounds` started there, and the instance started (`jr.start()`). Disposing it ends the
 * background processes, stops the instance, removes the directory and the instance's
 * configuration file.
 */
export async function appSession(jr: TestInstance, prefix: string, mode?: number) {
  const dir = Deno.makeTempDirSync({ prefix });
  if (mode !== undefined) Deno.chmodSync(dir, mode);
  const bg = backgrounds(jr, dir);
  const session = {
    dir,
    ...bg,
    async [Symbol.asyncDispose]() {
      await bg.stopAll();
      await jr.cli(["stop"]);
      Deno.removeSync(dir, { recursive: true });
      jr.dispose();
    },
  };
  try {
    await jr.start();
  } catch (e) {
    await session[Symbol.asyncDispose]();
    throw e;
  }
  return session;
}

/** Waits (15 s at most) until `url` on the peer answers curl under the shim; else fails. */
export async function peerHttpUp(jr: TestInstance, url: string): Promise<void> {
  const up = await eventually(
    async () => (await runShim(jr, ["curl", "-s", "-o", "/dev/null", url])).code === 0,
    15_000,
  );
  assert(up, "http.server on the peer did not answer");
}

/** Polls `f` every 200 ms until it returns true; false after `ms`. */
export async function eventually(f: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

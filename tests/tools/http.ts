/**
 * HTTP transfers through unmodified programs: Python's `http.server` under Joyride (the shim)
 * and on the peer host, `curl` on both sides; files byte-exact by sha256. Used by the fault
 * tests and `scripts/soak.ts`.
 *
 * @example
 * ```ts
 * const h = await HttpPair.start(jr, 4 << 20);
 * try {
 *   const down = await h.download(60); // the peer fetches from Joyride: Joyride sends
 *   const up = await h.upload(60); // Joyride fetches from the peer: Joyride receives
 * } finally {
 *   await h.stop();
 * }
 * ```
 */
import { type Run, run, type TestInstance } from "../_system.ts";
import { Bg, eventually, runShim, sha256File, shimEnvOf, writeSeeded } from "../_apps.ts";
import { python } from "./traffic.ts";

/** One transfer's outcome. */
export interface Transfer {
  /** Wall-clock seconds. */
  secs: number;
  /** Bytes curl received. */
  bytes: number;
  /** Whether the received file's sha256 equals the served file's. */
  exact: boolean;
  /** curl's status line and error output, for messages. */
  detail: string;
}

/** An http.server under Joyride (port 8080) and one on the peer (8081), serving one file. */
export class HttpPair {
  readonly #jr: TestInstance;
  readonly #dir: string;
  readonly #bgs: Bg[];
  readonly size: number;
  readonly sha256: string;

  private constructor(jr: TestInstance, dir: string, bgs: Bg[], size: number, sha: string) {
    this.#jr = jr;
    this.#dir = dir;
    this.#bgs = bgs;
    this.size = size;
    this.sha256 = sha;
  }

  /** Writes a seeded file of `size` bytes and starts both servers; waits until they answer. */
  static async start(jr: TestInstance, size: number, seed = 7): Promise<HttpPair> {
    const t = jr.config.topology;
    const dir = Deno.makeTempDirSync({ prefix: `jr-${jr.name}-http-` });
    writeSeeded(`${dir}/f.bin`, size, seed);
    const sha = await sha256File(`${dir}/f.bin`);
    const bgs = [
      new Bg([python, "-m", "http.server", "8080", "--bind", t.joyrideAddress], shimEnvOf(jr), dir),
      new Bg(
        [
          "ip",
          "netns",
          "exec",
          jr.peerNs,
          python,
          "-m",
          "http.server",
          "8081",
          "--bind",
          t.peerAddress,
        ],
        undefined,
        dir,
      ),
    ];
    const pair = new HttpPair(jr, dir, bgs, size, sha);
    // Both servers answer 200 (curl on the peer: Joyride's through the stack, the peer's local).
    const ok = async (side: "j" | "p") =>
      (await jr.peer(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", pair.#url(side, "")]))
        .stdout === "200";
    const up = await eventually(
      async () => await ok("j") && await ok("p"),
      20_000,
    );
    if (!up) {
      const outs = [];
      for (const b of bgs) {
        const o = await b.stop();
        outs.push(`exit ${o.code}: ${o.stderr.slice(-500)}`);
      }
      await run(["rm", "-rf", dir]);
      throw new Error(
        `Cannot start the http.servers: they do not answer within 20 s (${outs.join(" | ")})`,
      );
    }
    return pair;
  }

  #url(side: "j" | "p", path = "f.bin"): string {
    const t = this.#jr.config.topology;
    return side === "j"
      ? `http://${t.joyrideAddress}:8080/${path}`
      : `http://${t.peerAddress}:8081/${path}`;
  }

  #curl(out: string, url: string, maxS: number): string[] {
    return [
      "curl",
      "-s",
      "-S",
      "-m",
      String(maxS),
      "-o",
      out,
      "-w",
      "%{http_code} %{size_download}",
      url,
    ];
  }

  async #finish(out: string, r: Run, t0: number): Promise<Transfer> {
    const secs = (performance.now() - t0) / 1000;
    let exact = false;
    try {
      exact = (await sha256File(out)) === this.sha256;
      await Deno.remove(out);
    } catch {
      // no file: curl failed
    }
    const bytes = Number(r.stdout.split(" ")[1] ?? 0);
    return { secs, bytes, exact, detail: `${r.stdout} ${r.stderr}`.trim() };
  }

  /** The peer's curl fetches the file from http.server under Joyride (Joyride sends). */
  async download(maxS: number): Promise<Transfer> {
    const out = `${this.#dir}/down.bin`;
    const t0 = performance.now();
    const r = await this.#jr.peer(this.#curl(out, this.#url("j"), maxS), {
      timeoutMs: maxS * 1000 + 10_000,
    });
    return this.#finish(out, r, t0);
  }

  /** curl under Joyride fetches the file from http.server on the peer (Joyride receives). */
  async upload(maxS: number): Promise<Transfer> {
    const out = `${this.#dir}/up.bin`;
    const t0 = performance.now();
    const r = await runShim(this.#jr, this.#curl(out, this.#url("p"), maxS), {
      timeoutMs: maxS * 1000 + 10_000,
    });
    return this.#finish(out, r, t0);
  }

  /** Whether the server under Joyride is still running (it is ours: by pid). */
  get joyrideServerPid(): number {
    return this.#bgs[0].pid;
  }

  /** Ends both servers by pid and removes the files. */
  async stop(): Promise<void> {
    for (const b of this.#bgs) await b.stop();
    await run(["rm", "-rf", this.#dir]);
  }
}

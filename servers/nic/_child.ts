/**
 * A NIC server child process (tests and the benchmark): started with `main.ts`, ready once it
 * prints its status line, with its region attached; stopped by pid (SIGTERM, then SIGKILL).
 */
import { openDpdk } from "../../ffi/dpdk.ts";
import { NicRegion } from "./region.ts";
import { linkBellPath } from "./link_bell.ts";

const deno = Deno.execPath();
const main = new URL("./main.ts", import.meta.url).pathname;

export class NicChild implements AsyncDisposable {
  child!: Deno.ChildProcess;
  region!: NicRegion;
  /** The status line the server printed when ready. */
  ready: Record<string, unknown> = {};
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  get pid(): number {
    return this.child.pid;
  }

  /**
   * Starts `main.ts ARGS --region PATH --fresh --cleanup` (in network namespace `ns` if given;
   * without --fresh if `opts.fresh` is false: it then attaches to the region PATH holds) and
   * waits until it is ready (at most 30 s).
   */
  static async start(
    ns: string | undefined,
    args: string[],
    path: string,
    opts: { fresh?: boolean } = {},
  ): Promise<NicChild> {
    const s = new NicChild(path);
    const fresh = opts.fresh === false ? [] : ["--fresh"];
    const cmd = [deno, "run", "-A", main, "--region", path, ...fresh, "--cleanup", ...args];
    const full = ns ? ["ip", "netns", "exec", ns, ...cmd] : cmd;
    s.child = new Deno.Command(full[0], {
      args: full.slice(1),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = s.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    const kill = setTimeout(() => s.child.kill("SIGKILL"), 30000);
    while (!out.includes("\n")) {
      const r = await reader.read();
      if (r.done) break;
      out += r.value;
    }
    clearTimeout(kill);
    reader.releaseLock();
    s.child.stdout.cancel().catch(() => {});
    if (!out.includes("\n")) {
      const err = await new Response(s.child.stderr).text();
      await s.child.status;
      throw new Error(`NIC server (${args.join(" ")}) did not start: ${err.trim().slice(-400)}`);
    }
    s.child.stderr.cancel().catch(() => {});
    s.ready = JSON.parse(out.split("\n")[0]);
    s.region = NicRegion.attach(openDpdk(), path);
    return s;
  }

  /** CPU time (user + system) the server used so far, in seconds. */
  cpuSeconds(): number {
    const f = Deno.readTextFileSync(`/proc/${this.pid}/stat`);
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100;
  }

  async stop(): Promise<void> {
    this.region?.close();
    try {
      this.child.kill("SIGTERM");
    } catch {
      // gone
    }
    const t = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 5000);
    await this.child.status;
    clearTimeout(t);
    await Deno.remove(this.path).catch(() => {});
    await Deno.remove(`/var/run/dpdk/jr-nic-${this.child.pid}`, { recursive: true }).catch(
      () => {},
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** Two NIC servers joined by memif (`a` the memif server, `b` the client), stopped together. */
export interface NicMemifPair extends AsyncDisposable {
  a: NicChild;
  b: NicChild;
}

/**
 * Starts two NIC servers joined by memif on a socket of their own (/tmp/jr-nictest-TAG.sock),
 * each with `args` too (e.g. `--memif-gso`); disposing the pair stops both and removes the
 * socket.
 */
export async function memifPair(tag: string, args: string[] = []): Promise<NicMemifPair> {
  const sock = `/tmp/jr-nictest-${tag}.sock`;
  const memif = (role: string) => [
    "--kind",
    "memif",
    "--memif-role",
    role,
    "--memif-socket",
    sock,
    ...args,
  ];
  const a = await NicChild.start(undefined, memif("server"), `/dev/shm/jr-nictest-${tag}-a`);
  try {
    const b = await NicChild.start(undefined, memif("client"), `/dev/shm/jr-nictest-${tag}-b`);
    return {
      a,
      b,
      async [Symbol.asyncDispose]() {
        try {
          await b[Symbol.asyncDispose]();
        } finally {
          await a[Symbol.asyncDispose]();
          await Deno.remove(sock).catch(() => {});
          await Deno.remove(linkBellPath(sock)).catch(() => {});
        }
      },
    };
  } catch (e) {
    await a[Symbol.asyncDispose]();
    await Deno.remove(sock).catch(() => {});
    await Deno.remove(linkBellPath(sock)).catch(() => {});
    throw e;
  }
}

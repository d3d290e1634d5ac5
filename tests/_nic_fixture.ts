/**
 * A namespace pair for NIC server tests: `jr-nt<pid>-<n>-a` runs the NIC server on one end of a
 * veth, `jr-nt<pid>-<n>-b` is the peer (198.18.5.1/24, the Linux kernel's stack). Disposing it
 * stops the server (by pid) and removes the namespaces, the veth and the region file.
 */
const deno = Deno.execPath();
const root = new URL("..", import.meta.url).pathname;
let seq = 0;

async function run(...args: string[]): Promise<void> {
  const r = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" }).output();
  if (r.code !== 0) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(r.stderr)}`);
  }
}

export class NicFixture implements AsyncDisposable {
  readonly nicNs: string;
  readonly peerNs: string;
  readonly nicIf: string;
  readonly peerIf: string;
  readonly regionPath: string;
  readonly dir: string;
  child: Deno.ChildProcess | undefined;
  pid = 0;
  ready: Record<string, unknown> = {};

  private constructor(dir: string) {
    const tag = `${Deno.pid % 100000}x${seq++}`;
    this.nicNs = `jr-nt${tag}-a`;
    this.peerNs = `jr-nt${tag}-b`;
    this.nicIf = `jrn${tag}`;
    this.peerIf = `jrp${tag}`;
    this.regionPath = `/dev/shm/jr-nictest-${tag}`;
    this.dir = dir;
  }

  /** Creates the namespaces and starts a NIC server of `kind` on the veth. */
  static async start(
    kind: "af_packet" | "af_xdp",
    extra: string[] = [],
    mtu?: number,
    kernelAddr?: string,
  ): Promise<NicFixture> {
    const fx = new NicFixture(await Deno.makeTempDir({ prefix: "jr-nictest-" }));
    try {
      await run("ip", "netns", "add", fx.nicNs);
      await run("ip", "netns", "add", fx.peerNs);
      await run(
        "ip",
        "link",
        "add",
        fx.nicIf,
        "netns",
        fx.nicNs,
        "type",
        "veth",
        "peer",
        "name",
        fx.peerIf,
        "netns",
        fx.peerNs,
      );
      await run("ip", "-n", fx.nicNs, "link", "set", fx.nicIf, "up");
      if (kernelAddr) {
        // The kernel's own address on the NIC side (af_xdp coexistence tests).
        await run("ip", "-n", fx.nicNs, "addr", "add", kernelAddr, "dev", fx.nicIf);
      }
      await run("ip", "-n", fx.peerNs, "addr", "add", "198.18.5.1/24", "dev", fx.peerIf);
      await run("ip", "-n", fx.peerNs, "link", "set", fx.peerIf, "up");
      if (mtu) {
        await run("ip", "-n", fx.peerNs, "link", "set", fx.peerIf, "mtu", String(mtu));
        extra = [...extra, "--mtu", String(mtu)];
      }
      fx.child = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          fx.nicNs,
          deno,
          "run",
          "-A",
          `${root}servers/nic/main.ts`,
          "--kind",
          kind,
          "--iface",
          fx.nicIf,
          "--region",
          fx.regionPath,
          "--fresh",
          "--cleanup",
          ...extra,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      fx.pid = fx.child.pid;
      const reader = fx.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let line = "";
      const timeout = setTimeout(() => fx.child?.kill("SIGKILL"), 20000);
      while (!line.includes("\n")) {
        const r = await reader.read();
        if (r.done) break;
        line += r.value;
      }
      clearTimeout(timeout);
      reader.releaseLock();
      fx.child.stdout.cancel().catch(() => {});
      if (!line.includes("\n")) {
        const err = await new Response(fx.child.stderr).text();
        throw new Error(`NIC server did not start: ${err}`);
      }
      fx.ready = JSON.parse(line.split("\n")[0]);
      return fx;
    } catch (e) {
      await fx[Symbol.asyncDispose]();
      throw e;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.child) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const t = setTimeout(() => {
        try {
          this.child?.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 5000);
      await this.child.status;
      clearTimeout(t);
      this.child.stderr.cancel().catch(() => {});
    }
    for (const ns of [this.nicNs, this.peerNs]) {
      await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output();
    }
    for (const p of [this.regionPath, this.dir, `/var/run/dpdk/jr-nic-${this.pid}`]) {
      await Deno.remove(p, { recursive: true }).catch(() => {});
    }
  }
}

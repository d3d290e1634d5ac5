/**
 * Impairments for whole-system tests on a running instance (tc netem is not in this kernel).
 *
 * The supervisor's topology is kept; `Impairer.insert` splices a relay into the peer host:
 *
 * ```
 *  netns jr-<i>             netns jr-<i>-peer
 *  ┌─────────────┐          ┌────────────────────────────────────────────────────────────┐
 *  │ jr0 (NIC    ├──veth────┤ jr0p (no address, nft drops at ingress) ◄─ relay ─► imp1    │
 *  │ server)     │          │                                                    │ veth  │
 *  └─────────────┘          │   kernel stack: imp0 198.18.0.1/24, MAC = peerMac ─┘       │
 *                           │   nft table netdev jrimpair on imp0 (loss, duplication)    │
 *                           └────────────────────────────────────────────────────────────┘
 * ```
 *
 * The peer's address moves from jr0p to imp0 (which takes the peer's MAC, so Joyride sees the
 * same host); the relay `relay.c` forwards every frame between jr0p and imp1, adding loss,
 * duplication, corruption, delay with jitter, reordering and a rate limit per its options. The
 * nftables table (`nftLoss`) drops/duplicates on the kernel's interface with
 * `numgen random mod 10000 < N` (not seedable: the relay's impairments are). Corruption is the
 * relay's only: nftables' hooks on the sending side run before the kernel fills in a deferred
 * checksum (the corruption would be covered by a valid checksum), and on the receiving side
 * AF_PACKET taps frames before the netdev ingress hook.
 *
 * jr0p keeps the peer's MAC, so an nft table (`jrguard`) drops every frame at jr0p's ingress:
 * the relay's AF_PACKET socket sees frames before that hook, the peer's kernel does not (it
 * would otherwise take each of Joyride's frames twice, once unimpaired).
 *
 * `remove()` puts everything back: relay stopped by pid, nft tables and imp0/imp1 deleted, the
 * address back on jr0p. Commands on the peer host (`ip netns exec jr-<i>-peer …`) work the same
 * before, during and after.
 */
import { Lines, repoRoot, run } from "../_system.ts";

/** The relay's options (see relay.c). Probabilities in percent here. */
export interface RelayOptions {
  seed?: number;
  lossPct?: number;
  dupPct?: number;
  corruptPct?: number;
  delayMs?: number;
  jitterMs?: number;
  reorderPct?: number;
  /** A reordered frame leaves after this many later frames (default 3). */
  gap?: number;
  /** …or after this long (ms, default 20). */
  holdMs?: number;
  rateKbps?: number;
  /** Frames the relay queues per direction before it drops (default 4096). */
  queue?: number;
  /** Which direction is impaired: ab = Joyride→peer, ba = peer→Joyride (default both). */
  dir?: "both" | "ab" | "ba";
  /** Which direction the delay and jitter apply to (default both). */
  delayDir?: "both" | "ab" | "ba";
}

/** Counters of one relay direction. */
export interface RelayDirStats {
  rx: number;
  tx: number;
  bytes: number;
  lost: number;
  dup: number;
  corrupt: number;
  reordered: number;
  queueDrop: number;
  txErr: number;
  pending: number;
}

/** Counters of a relay run: ab = Joyride→peer, ba = peer→Joyride. */
export interface RelayStats {
  ab: RelayDirStats;
  ba: RelayDirStats;
}

/** What the impairer needs to know about the instance. */
export interface Host {
  peerNs: string;
  /** Joyride's namespace (default: peerNs without its "-peer" suffix, as the topology names it). */
  ns?: string;
  peerAddress: string;
  prefixLength: number;
  peerMac: string;
}

const relaySrc = `${repoRoot}/tests/tools/relay.c`;
const relayBin = `${repoRoot}/build/tests/relay`;

/** Builds relay.c into build/tests/relay when missing or older than its source. */
export async function buildRelay(): Promise<string> {
  const src = Deno.statSync(relaySrc).mtime!.getTime();
  let bin = 0;
  try {
    bin = Deno.statSync(relayBin).mtime!.getTime();
  } catch {
    // not built yet
  }
  if (bin < src) {
    Deno.mkdirSync(`${repoRoot}/build/tests`, { recursive: true });
    const tmp = `${relayBin}.${Deno.pid}`;
    const r = await run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", tmp, relaySrc]);
    if (r.code !== 0) throw new Error(`Cannot build the relay: ${r.stderr}`);
    Deno.renameSync(tmp, relayBin);
  }
  return relayBin;
}

function relayArgs(o: RelayOptions): string[] {
  const ppm = (pct: number) => String(Math.round(pct * 10_000));
  const a: string[] = ["--seed", String(o.seed ?? 1)];
  if (o.lossPct) a.push("--loss", ppm(o.lossPct));
  if (o.dupPct) a.push("--dup", ppm(o.dupPct));
  if (o.corruptPct) a.push("--corrupt", ppm(o.corruptPct));
  if (o.delayMs) a.push("--delay-us", String(Math.round(o.delayMs * 1000)));
  if (o.jitterMs) a.push("--jitter-us", String(Math.round(o.jitterMs * 1000)));
  if (o.reorderPct) a.push("--reorder", ppm(o.reorderPct));
  if (o.gap !== undefined) a.push("--gap", String(o.gap));
  if (o.holdMs !== undefined) a.push("--hold-us", String(Math.round(o.holdMs * 1000)));
  if (o.rateKbps) a.push("--rate-kbps", String(o.rateKbps));
  if (o.queue) a.push("--queue", String(o.queue));
  if (o.dir) a.push("--dir", o.dir);
  if (o.delayDir) a.push("--delay-dir", o.delayDir);
  return a;
}

async function must(cmd: string[], what: string): Promise<string> {
  const r = await run(cmd, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`Cannot ${what}: \`${cmd.join(" ")}\`: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The relay spliced into an instance's peer host; see the module doc. */
export class Impairer {
  #relay?: Deno.ChildProcess;
  #out?: Lines;
  #nft = false;
  readonly host: Host;

  private constructor(host: Host) {
    this.host = host;
  }

  /** Splices imp0/imp1 and a plain relay into the peer host of a running instance. */
  static async insert(host: Host, opts: RelayOptions = {}): Promise<Impairer> {
    const bin = await buildRelay();
    const imp = new Impairer(host);
    const ns = (cmd: string[], what: string) =>
      must(["ip", "netns", "exec", host.peerNs, ...cmd], what);
    try {
      await ns(
        ["ip", "link", "add", "imp0", "address", host.peerMac, "type", "veth", "peer", "imp1"],
        "create imp0/imp1",
      );
      for (const dev of ["imp1", "jr0p"]) {
        await ns(["sysctl", "-q", "-w", `net.ipv6.conf.${dev}.disable_ipv6=1`], "IPv6 off");
      }
      for (const dev of ["imp0", "imp1"]) {
        await ns(
          ["ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off"],
          `offloads off on ${dev}`,
        );
        await ns(["ip", "link", "set", dev, "up"], `bring ${dev} up`);
      }
      // A wire carries frames, not GSO packets: the NIC server may hand jr0 64 KB GSO packets
      // with checksums left to the device (its kernel-GSO "pass" mode turns TSO and tx
      // checksumming on), which the veth would pass to jr0p whole, unchecksummed, for the
      // relay to drop (too long) or forward with a bad checksum. With the offloads off on jr0
      // the kernel cuts and checksums them, as a NIC would, before the relay sees them.
      const jrNs = host.ns ?? host.peerNs.replace(/-peer$/, "");
      await must(
        [
          "ip",
          "netns",
          "exec",
          jrNs,
          "ethtool",
          "-K",
          "jr0",
          "tx",
          "off",
          "tso",
          "off",
          "gso",
          "off",
        ],
        "offloads off on jr0",
      );
      const cidr = `${host.peerAddress}/${host.prefixLength}`;
      await ns(["ip", "addr", "del", cidr, "dev", "jr0p"], "take the address off jr0p");
      await ns(["ip", "addr", "add", cidr, "dev", "imp0"], "address imp0");
      await ns(["ip", "neigh", "flush", "all"], "flush neighbours");
      // jr0p still has the peer's MAC and the namespace still owns the peer's address: without
      // this the kernel would take Joyride's frames straight off jr0p as well as through the
      // relay (every segment twice, one copy unimpaired). The relay's AF_PACKET socket taps
      // frames before the netdev ingress hook, so it still sees them all.
      const guard = `table netdev jrguard {
  chain in { type filter hook ingress device jr0p priority 0; policy drop; }
}
`;
      const g = await run(["ip", "netns", "exec", host.peerNs, "nft", "-f", "-"], {
        stdin: new TextEncoder().encode(guard),
      });
      if (g.code !== 0) throw new Error(`Cannot guard jr0p: ${g.stderr}`);
      imp.#bin = bin;
      await imp.setRelay(opts);
    } catch (e) {
      await imp.remove().catch(() => {});
      throw e;
    }
    return imp;
  }

  #bin = "";

  /** Stops the running relay (returning its counters) and starts one with `opts`. */
  async setRelay(opts: RelayOptions): Promise<RelayStats | undefined> {
    const before = await this.stopRelay();
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.host.peerNs, this.#bin, "jr0p", "imp1", ...relayArgs(opts)],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#relay = child;
    this.#out = new Lines(child.stdout);
    const first = await this.#out.next();
    if (!first.includes("ready")) {
      await this.stopRelay();
      throw new Error(`Cannot start the relay: it said ${JSON.stringify(first)}`);
    }
    return before;
  }

  /** The relay's pid (undefined when none runs). */
  get relayPid(): number | undefined {
    return this.#relay?.pid;
  }

  /** Stops the relay by pid (SIGTERM) and returns its counters. */
  async stopRelay(): Promise<RelayStats | undefined> {
    const child = this.#relay;
    if (!child) return undefined;
    this.#relay = undefined;
    try {
      child.kill("SIGTERM");
    } catch {
      // gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 3000);
    const line = await this.#out!.next();
    await child.status;
    clearTimeout(timer);
    this.#out = undefined;
    try {
      return JSON.parse(line) as RelayStats;
    } catch {
      return undefined;
    }
  }

  /**
   * nftables loss/duplication on the kernel's interface imp0, both directions (ingress: frames
   * from Joyride; egress: frames to Joyride): `numgen random mod 10000 < N drop` and
   * `… dup to imp0`-style duplication through imp1. 0 removes the table.
   */
  async nft(lossPct: number, dupPct = 0): Promise<void> {
    await this.#nftDelete();
    if (lossPct === 0 && dupPct === 0) return;
    const n = (pct: number) => Math.round(pct * 100);
    const rules = (dir: string) => {
      const r: string[] = [];
      if (lossPct > 0) r.push(`numgen random mod 10000 < ${n(lossPct)} counter drop`);
      // duplicate frames coming in from Joyride: a copy goes out of imp1 back to imp0
      if (dupPct > 0 && dir === "in") {
        r.push(`numgen random mod 10000 < ${n(dupPct)} counter dup to imp1`);
      }
      return r.join("\n");
    };
    const text = `table netdev jrimpair {
  chain in { type filter hook ingress device imp0 priority 0; policy accept;
${rules("in")}
  }
  chain out { type filter hook egress device imp0 priority 0; policy accept;
${rules("out")}
  }
}
`;
    const r = await run(["ip", "netns", "exec", this.host.peerNs, "nft", "-f", "-"], {
      stdin: new TextEncoder().encode(text),
    });
    if (r.code !== 0) throw new Error(`Cannot load the nft rules: ${r.stderr}\n${text}`);
    this.#nft = true;
  }

  /** nftables' rule counters (packets), by chain. */
  async nftCounters(): Promise<{ in: number; out: number }> {
    const r = await run([
      "ip",
      "netns",
      "exec",
      this.host.peerNs,
      "nft",
      "list",
      "table",
      "netdev",
      "jrimpair",
    ]);
    const sum = (chain: string) => {
      const m = new RegExp(`chain ${chain} \\{([\\s\\S]*?)\\n\\t\\}`).exec(r.stdout);
      let s = 0;
      for (const c of (m?.[1] ?? "").matchAll(/packets (\d+)/g)) s += Number(c[1]);
      return s;
    };
    return { in: sum("in"), out: sum("out") };
  }

  async #nftDelete(): Promise<void> {
    if (!this.#nft) return;
    await run([
      "ip",
      "netns",
      "exec",
      this.host.peerNs,
      "nft",
      "delete",
      "table",
      "netdev",
      "jrimpair",
    ]);
    this.#nft = false;
  }

  /** Puts the peer host back as the supervisor made it. Safe to call twice. */
  async remove(): Promise<RelayStats | undefined> {
    const stats = await this.stopRelay();
    await this.#nftDelete();
    const ns = ["ip", "netns", "exec", this.host.peerNs];
    await run([...ns, "nft", "delete", "table", "netdev", "jrguard"]);
    await run([...ns, "ip", "link", "del", "imp0"]);
    const cidr = `${this.host.peerAddress}/${this.host.prefixLength}`;
    const has = await run([...ns, "ip", "-o", "addr", "show", "dev", "jr0p"]);
    if (!has.stdout.includes(`${this.host.peerAddress}/`)) {
      await run([...ns, "ip", "addr", "add", cidr, "dev", "jr0p"]);
    }
    await run([...ns, "ip", "neigh", "flush", "all"]);
    return stats;
  }
}

/**
 * `./joyride soak [--minutes N] [--mb N] [--instance NAME] [--json FILE]`: the long fault run
 * of issue 7, not part of `./joyride test`. Bounded and self-stopping: it runs rounds until
 * `--minutes` (default 60, at most 240) have passed, then stops; a watchdog ends it 10 minutes
 * after the deadline whatever happens; Ctrl-C (SIGINT/SIGTERM) cleans up and stops early.
 *
 * Each round, on its own instance (default "soak") with the impairing relay of
 * tests/tools/impair.ts in the peer host, takes the next network condition (clean, 1/5/10 %
 * loss, 1 % duplication, 0.1 % corruption, 50 ± 10 ms delay, 5 % reordering, all at once) and
 * moves `--mb` MB (default 20) each way over HTTP between unmodified programs (curl and
 * Python's http.server under the shim, and on the peer), plus 1 MB through the TCP echo, each
 * byte-exact by sha256. Every fifth round adds hostile frames (2,000), a 3-second SYN flood,
 * 200 concurrent and 1,000 sequential connections. After every round: every server keeps its
 * pid (no restart), and the TCP/IP server's RSS is sampled. At the end: only listening sockets
 * are left in the socket table (within 2 minutes: a SYN flood's embryonic connections expire). Prints one line per round and a summary; `--json FILE` writes the
 * rounds. Exit status 0 when every round passed.
 */
import { repoRoot, run, TestInstance } from "../tests/_system.ts";
import { Impairer, type RelayOptions } from "../tests/tools/impair.ts";
import { HttpPair } from "../tests/tools/http.ts";
import {
  concurrent,
  echo,
  python,
  rssKb,
  sequential,
  servers,
  status,
  tcpStats,
} from "../tests/tools/traffic.ts";

/** Options of a soak run. */
export interface SoakOptions {
  minutes: number;
  mb: number;
  instance: string;
  json?: string;
}

/** Parses the command line; throws with the reason on a bad value. */
export function parseSoakArgs(args: string[]): SoakOptions {
  const o: SoakOptions = { minutes: 60, mb: 20, instance: "soak" };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    const num = (lo: number, hi: number) => {
      const n = Number(v);
      if (v === undefined || !Number.isFinite(n) || n < lo || n > hi) {
        throw new Error(`Cannot soak: ${a} needs a number in ${lo}..${hi}, got ${v}`);
      }
      i++;
      return n;
    };
    if (a === "--minutes") o.minutes = num(0.1, 240);
    else if (a === "--mb") o.mb = Math.round(num(1, 200));
    else if (a === "--instance") {
      if (!v || !/^[a-z][a-z0-9]{0,11}$/.test(v)) {
        throw new Error(`Cannot soak: --instance needs a name like soak2, got ${v}`);
      }
      o.instance = v;
      i++;
    } else if (a === "--json") {
      if (!v) throw new Error("Cannot soak: --json needs a file name");
      o.json = v;
      i++;
    } else throw new Error(`Cannot soak: unknown argument ${a}`);
  }
  return o;
}

const delay = { delayMs: 50, jitterMs: 10, delayDir: "ba" as const };
/** The conditions, in the order rounds take them. */
export const soakConditions: { name: string; relay: RelayOptions }[] = [
  { name: "clean", relay: {} },
  { name: "1 % loss", relay: { lossPct: 1 } },
  { name: "5 % loss", relay: { lossPct: 5 } },
  { name: "10 % loss", relay: { lossPct: 10 } },
  { name: "1 % duplication", relay: { dupPct: 1 } },
  { name: "0.1 % corruption", relay: { corruptPct: 0.1 } },
  { name: "50 ms ± 10 ms delay", relay: delay },
  { name: "5 % reordering", relay: { reorderPct: 5 } },
  {
    name: "all at once",
    relay: { lossPct: 1, dupPct: 1, corruptPct: 0.1, reorderPct: 5, ...delay },
  },
];

interface Round {
  round: number;
  condition: string;
  ok: boolean;
  errors: string[];
  downS?: number;
  upS?: number;
  echoS?: number;
  extras?: string;
  rssKb?: number;
}

async function main(o: SoakOptions): Promise<number> {
  const jr = new TestInstance(o.instance);
  const deadline = Date.now() + o.minutes * 60_000;
  const watchdog = setTimeout(async () => {
    console.error("soak: watchdog: 10 minutes past the deadline, stopping");
    await cleanup();
    Deno.exit(3);
  }, o.minutes * 60_000 + 600_000);
  let imp: Impairer | undefined;
  let http: HttpPair | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await http?.stop().catch(() => {});
    await imp?.remove().catch(() => {});
    await jr.cli(["stop"]).catch(() => {});
  };
  const onSignal = async () => {
    console.error("soak: interrupted, cleaning up");
    await cleanup();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const rounds: Round[] = [];
  try {
    await jr.cli(["stop"]);
    const start = await jr.cli(["start", "--detach"]);
    if (start.code !== 0) throw new Error(`Cannot start ${o.instance}: ${start.stderr}`);
    const t = jr.config.topology;
    const first = await status(jr);
    const tcpPid = first.servers.find((s) => s.name === "tcp")!.pid!;
    http = await HttpPair.start(jr, o.mb << 20);
    const open = (x: unknown[]) => x.filter((k) => (k as { state?: string }).state !== "LISTEN");
    imp = await Impairer.insert({
      peerNs: jr.peerNs,
      peerAddress: t.peerAddress,
      prefixLength: t.prefixLength,
      peerMac: t.peerMac,
    });
    const maxS = Math.max(120, o.mb * 30); // per transfer: far beyond any sane run
    for (let i = 0; Date.now() < deadline; i++) {
      const c = soakConditions[i % soakConditions.length];
      const r: Round = { round: i + 1, condition: c.name, ok: true, errors: [] };
      const fail = (e: string) => {
        r.ok = false;
        r.errors.push(e);
      };
      try {
        await imp.setRelay({ seed: i + 1, ...c.relay });
        const d = await http.download(maxS);
        r.downS = d.secs;
        if (!d.exact || d.bytes !== http.size) fail(`download not byte-exact: ${d.detail}`);
        const u = await http.upload(maxS);
        r.upS = u.secs;
        if (!u.exact || u.bytes !== http.size) fail(`upload not byte-exact: ${u.detail}`);
        const e = await echo(jr, 1 << 20, i + 1, maxS);
        r.echoS = e.secs;
        if (e.got !== e.sent || e.len !== 1 << 20) fail(`echo not byte-exact (${e.len} bytes)`);
        await imp.setRelay({});
        if (i % 5 === 4) r.extras = await extras(jr, i, fail);
      } catch (err) {
        fail((err as Error).message);
      }
      const now = await status(jr).catch(() => undefined);
      if (!now) fail("status failed");
      else if (JSON.stringify(servers(now)) !== JSON.stringify(servers(first))) {
        fail(`servers changed: ${JSON.stringify(servers(now))}`);
      }
      r.rssKb = rssKb(tcpPid);
      rounds.push(r);
      const f = (x?: number) => x === undefined ? "-" : `${x.toFixed(2)} s`;
      console.log(
        `soak round ${r.round} [${c.name}]: ${r.ok ? "ok" : "FAILED"} down ${f(r.downS)} up ${
          f(r.upS)
        } echo ${f(r.echoS)} rss ${r.rssKb} kB${r.extras ? `; ${r.extras}` : ""}${
          r.errors.length ? `; ${r.errors.join("; ")}` : ""
        }`,
      );
    }
    await imp.setRelay({});
    // embryonic connections of the last SYN flood give up after their SYN-ACK retransmits
    let sockets: unknown[] = [];
    for (let w = 0; w < 60; w++) {
      sockets = open(tcpStats(await status(jr)).sockets as unknown[]);
      if (sockets.length === 0) break;
      await new Promise((res) => setTimeout(res, 2000));
    }
    const left = sockets.length;
    if (left > 0) console.log(`soak: sockets left: ${JSON.stringify(sockets)}`);
    const failed = rounds.filter((r) => !r.ok).length;
    console.log(
      `soak: ${rounds.length} rounds in ${o.minutes} min, ${failed} failed; connections left ` +
        `${left}; tcp RSS ${rounds[0]?.rssKb} -> ${rssKb(tcpPid)} kB`,
    );
    if (o.json) {
      await Deno.writeTextFile(o.json, JSON.stringify({ options: o, rounds }, null, 1));
    }
    return failed === 0 && left === 0 ? 0 : 1;
  } finally {
    clearTimeout(watchdog);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await cleanup();
  }
}

/** Hostile frames, a short SYN flood, a burst of concurrent and sequential connections. */
async function extras(jr: TestInstance, i: number, fail: (e: string) => void): Promise<string> {
  const t = jr.config.topology;
  const tool = (name: string, args: string[]) =>
    run(["ip", "netns", "exec", jr.peerNs, python, `${repoRoot}/tests/tools/${name}`, ...args], {
      timeoutMs: 120_000,
    });
  // frames go out of jr0p straight to Joyride (the relay passes only what arrives on imp1)
  const h = await tool("hostile.py", [
    "jr0p",
    t.peerMac,
    t.joyrideMac,
    t.peerAddress,
    t.joyrideAddress,
    "2000",
    String(i),
  ]);
  if (h.code !== 0) fail(`hostile.py: ${h.stderr}`);
  const flood = tool("synflood.py", [
    "jr0p",
    t.peerMac,
    t.joyrideMac,
    t.joyrideAddress,
    "7",
    "3",
    "3000",
    String(i),
  ]);
  const seq = await sequential(jr, 1000, 10);
  const f = await flood;
  if (f.code !== 0) fail(`synflood.py: ${f.stderr}`);
  const con = await concurrent(jr, 200, 60);
  if (seq.ok !== 1000) fail(`sequential: ${seq.ok}/1000 ${seq.errors}`);
  if (con.ok !== 200) fail(`concurrent: ${con.ok}/200 ${con.errors}`);
  return `hostile 2000, flood 3 s, 1000 sequential ${seq.secs.toFixed(1)} s (during the flood), ` +
    `200 concurrent ${con.secs.toFixed(1)} s`;
}

if (import.meta.main) {
  let opts: SoakOptions;
  try {
    opts = parseSoakArgs(Deno.args);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(2);
  }
  Deno.exit(await main(opts));
}

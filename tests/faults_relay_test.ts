/**
 * The impairing relay itself (tests/tools/relay.c), between two Linux hosts and without
 * Joyride: namespaces jr-rlyt-a (198.19.7.1) ─veth─ jr-rlyt-r (the relay) ─veth─ jr-rlyt-b
 * (198.19.7.2). Checks what the fault tests rely on: the same seed drops the same frames, the
 * delay is added (RTT at least the delay), the rate limit holds a transfer to its rate (a
 * lower bound on time: the link cannot go faster), duplicates and corrupted frames are made
 * and counted. Everything is removed afterwards.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { Lines, run, systemTest } from "./_system.ts";
import { buildRelay, type RelayStats } from "./tools/impair.ts";
import { python } from "./tools/traffic.ts";

const tag = `jr-rlyt${Deno.pid}`; // unique: concurrent runs of the suite do not collide
const A = `${tag}-a`, R = `${tag}-r`, B = `${tag}-b`;
const ipA = "198.19.7.1", ipB = "198.19.7.2";

/** `ip netns exec NS CMD…` */
const inNs = (ns: string, ...cmd: string[]) => ["ip", "netns", "exec", ns, ...cmd];

async function sh(cmd: string[]): Promise<string> {
  const r = await run(cmd, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`\`${cmd.join(" ")}\` failed: ${r.stderr}`);
  return r.stdout;
}

async function teardown(): Promise<void> {
  for (const ns of [A, R, B]) {
    const pids = await run(["ip", "netns", "pids", ns]);
    for (const p of pids.stdout.split("\n").map(Number).filter((x) => x > 0)) {
      try {
        Deno.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
    await run(["ip", "netns", "del", ns]);
  }
}

async function setup(): Promise<void> {
  for (const ns of [A, R, B]) await sh(["ip", "netns", "add", ns]);
  await sh(["ip", "-n", A, "link", "add", "a0", "type", "veth", "peer", "r0", "netns", R]);
  await sh(["ip", "-n", B, "link", "add", "b0", "type", "veth", "peer", "r1", "netns", R]);
  for (const [ns, dev] of [[A, "a0"], [R, "r0"], [R, "r1"], [B, "b0"]]) {
    await sh(inNs(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"));
    await sh(inNs(ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off"));
    await sh(["ip", "-n", ns, "link", "set", dev, "up"]);
  }
  await sh(["ip", "-n", A, "addr", "add", `${ipA}/24`, "dev", "a0"]);
  await sh(["ip", "-n", B, "addr", "add", `${ipB}/24`, "dev", "b0"]);
  // static neighbours: no ARP frames draw from the relay's generator
  const mac = async (ns: string, dev: string) =>
    JSON.parse(await sh(["ip", "-j", "-n", ns, "link", "show", dev]))[0].address as string;
  await sh(["ip", "-n", A, "neigh", "replace", ipB, "lladdr", await mac(B, "b0"), "dev", "a0"]);
  await sh(["ip", "-n", B, "neigh", "replace", ipA, "lladdr", await mac(A, "a0"), "dev", "b0"]);
}

class Relay {
  #child: Deno.ChildProcess;
  #out: Lines;
  constructor(bin: string, args: string[]) {
    this.#child = new Deno.Command("ip", {
      args: ["netns", "exec", R, bin, "r0", "r1", ...args],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#out = new Lines(this.#child.stdout);
  }
  line(): Promise<string> {
    return this.#out.next();
  }
  async stop(): Promise<RelayStats> {
    this.#child.kill("SIGTERM");
    const l = await this.line();
    await this.#child.status;
    return JSON.parse(l) as RelayStats;
  }
}

/** 200 UDP datagrams a→b, paced; returns the indices b received. */
async function udpBurst(): Promise<number[]> {
  const recv = run(
    inNs(
      B,
      python,
      "-c",
      `import socket,json
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("${ipB}",9000));s.settimeout(2)
got=[]
try:
  while True: got.append(int(s.recv(100)))
except socket.timeout: pass
print(json.dumps(got))`,
    ),
    { timeoutMs: 30_000 },
  );
  await new Promise((r) => setTimeout(r, 500));
  await sh(inNs(
    A,
    python,
    "-c",
    `import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for i in range(200):
  s.sendto(b"%d"%i,("${ipB}",9000)); time.sleep(0.002)`,
  ));
  return JSON.parse((await recv).stdout) as number[];
}

systemTest(
  "relay: seeded loss is reproducible; delay, rate, duplication and corruption happen",
  async (t) => {
    const bin = await buildRelay();
    await teardown();
    try {
      await setup();

      await t.step("20 % loss: the same seed drops the same datagrams", async () => {
        const runs: number[][] = [];
        for (const seed of [5, 5, 6]) {
          const r = new Relay(bin, ["--seed", String(seed), "--loss", "200000", "--dir", "ab"]);
          assertEquals(await r.line(), `{"ready":true}`);
          runs.push(await udpBurst());
          const st = await r.stop();
          assertEquals(st.ab.lost + st.ab.tx, st.ab.rx, "every frame sent or lost");
          assertEquals(runs.at(-1)!.length, 200 - st.ab.lost, "datagrams received");
        }
        assert(runs[0].length > 120 && runs[0].length < 190, `received ${runs[0].length} of 200`);
        assertEquals(runs[1], runs[0], "seed 5 twice: same datagrams");
        assert(JSON.stringify(runs[2]) !== JSON.stringify(runs[0]), "seed 6 differs");
      });

      await t.step("30 ms delay one way: ping RTT at least 30 ms", async () => {
        const r = new Relay(bin, ["--delay-us", "30000", "--delay-dir", "ab"]);
        await r.line();
        const p = await sh(inNs(A, "ping", "-c", "3", "-i", "0.2", ipB));
        await r.stop();
        const rtts = [...p.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
        assertEquals(rtts.length, 3, p);
        for (const x of rtts) assert(x >= 30, `RTT ${x} ms`);
      });

      await t.step("8 Mbit/s: 1 MB over TCP takes at least 1 s", async () => {
        const r = new Relay(bin, ["--rate-kbps", "8000", "--queue", "200"]);
        await r.line();
        const srv = run(
          inNs(
            B,
            python,
            "-c",
            `import socket
l=socket.socket();l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);l.bind(("${ipB}",9001));l.listen()
c,_=l.accept();n=0
while True:
  b=c.recv(65536)
  if not b: break
  n+=len(b)
print(n)`,
          ),
          { timeoutMs: 60_000 },
        );
        await new Promise((res) => setTimeout(res, 500));
        const t0 = performance.now();
        await sh(inNs(
          A,
          python,
          "-c",
          `import socket
s=socket.create_connection(("${ipB}",9001));s.sendall(b"x"*(1<<20));s.close()`,
        ));
        const n = Number((await srv).stdout.trim());
        const secs = (performance.now() - t0) / 1000;
        await r.stop();
        assertEquals(n, 1 << 20, "bytes received");
        // 1 MB at 8 Mbit/s is 1.05 s of serialization; the link cannot be faster
        assert(secs >= 1, `1 MB in ${secs} s through an 8 Mbit/s link`);
      });

      await t.step("duplication and corruption are made and counted", async () => {
        const r = new Relay(bin, [
          "--seed",
          "9",
          "--dup",
          "100000",
          "--corrupt",
          "100000",
          "--dir",
          "ab",
        ]);
        await r.line();
        const got = await udpBurst();
        const st = await r.stop();
        assert(st.ab.dup > 5 && st.ab.corrupt > 5, JSON.stringify(st.ab));
        assertEquals(st.ab.tx, st.ab.rx + st.ab.dup, "each duplicate sent once more");
        // a corrupted datagram fails the checksum (or its header) and is not delivered
        assert(got.length < 200 + st.ab.dup, `received ${got.length}`);
      });
    } finally {
      await teardown();
      const left = (await sh(["ip", "netns", "list"])).split("\n").filter((l) => l.startsWith(tag));
      assertEquals(left, [], "namespaces left");
    }
  },
);

/**
 * Whole-system test (issue 4's "Done when"): start an instance detached, ping it from the
 * peer, TCP echo (1 MB, byte-exact by sha256) and discard, UDP echo, `echo hi | nc`, status,
 * capture, idle CPU, stop — and nothing left behind. Uses its own instance name, so it does not
 * collide with a running default instance, and always cleans up.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import type { Status } from "../servers/supervisor/supervisor.ts";
import {
  alive,
  clockTicks,
  cpuTicks,
  repoRoot,
  run,
  systemTest,
  TestInstance,
  uniqueInstance,
  until,
} from "./_system.ts";

const jr = new TestInstance(uniqueInstance("sys"));
const addr = jr.config.topology.joyrideAddress;
const py = `${repoRoot}/tests/_peer_tcp.py`;

/** Echoes n seeded bytes through TCP port 7 from the peer; checks them by sha256. */
async function echo(n: number): Promise<void> {
  const r = await jr.peer(["python3", py, "tcp-echo", addr, "7", String(n), "4"], {
    timeoutMs: 90_000,
  });
  assertEquals(r.code, 0, r.stderr);
  const [, sent, , got, len] = r.stdout.trim().split(" ");
  assertEquals(Number(len), n, "bytes echoed");
  assertEquals(got, sent, "sha256 of the echo");
}

systemTest(
  "system: start, ping, echo, discard, UDP echo, status, capture, idle, stop",
  async (t) => {
    let pids: number[] = [];
    try {
      await jr.start();

      await t.step("status --json lists supervisor, naming, nic and tcp running", async () => {
        const s = await jr.status();
        assertEquals(s.servers.map((x) => x.name), ["supervisor", "naming", "nic", "tcp"]);
        for (const x of s.servers) {
          assertEquals(x.state, "running", `${x.name} state`);
          assert(typeof x.pid === "number" && alive(x.pid), `${x.name} pid ${x.pid} alive`);
          assertEquals(x.generation, 1, `${x.name} generation`);
          assertEquals(x.restarts, 0, `${x.name} restarts`);
          assert(typeof x.uptime === "number", `${x.name} uptime`);
        }
        pids = s.servers.map((x) => x.pid!);
      });

      await t.step("./joyride peer -- ping 198.18.0.2 answers", async () => {
        const r = await jr.cli(["peer", "--", "ping", "-c", "3", "-i", "0.2", "-W", "2", addr]);
        assertEquals(r.code, 0, `ping failed:\n${r.stdout}${r.stderr}`);
        assert(/3 received/.test(r.stdout), r.stdout);
      });

      await t.step("echo hi | nc 198.18.0.2 7 echoes", async () => {
        const r = await jr.peer(["nc", "-N", "-w", "5", addr, "7"], {
          stdin: new TextEncoder().encode("hi\n"),
          timeoutMs: 20_000,
        });
        assertEquals(r.stdout, "hi\n", `nc: code ${r.code} ${r.stderr}`);
      });

      await t.step("TCP echo: 1 MB and 4 MB byte-exact (sha256)", async () => {
        for (const n of [1 << 20, 4 << 20]) await echo(n);
      });

      await t.step("TCP discard: 256 KB in, nothing back, clean close", async () => {
        const r = await jr.peer(["python3", py, "discard", addr, "9", String(256 << 10)], {
          timeoutMs: 60_000,
        });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout.trim(), `discarded ${256 << 10} back 0`);
      });

      await t.step("UDP echo: 20 datagrams come back", async () => {
        const r = await jr.peer(["python3", py, "udp-echo", addr, "7", "20"], {
          timeoutMs: 60_000,
        });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout.trim(), "udp ok 20 of 20");
      });

      await t.step("status after the traffic: counted, no drops for want of buffers", async () => {
        let s!: Status;
        // Servers report with their heartbeat (every second): wait for the counts to arrive.
        await until("the echoed bytes in status", async () => {
          s = await jr.status();
          const tcp = s.servers.find((x) => x.name === "tcp")!.stats;
          return (tcp.tcpBytesIn as number) >= 5 << 20;
        }, 10_000);
        const tcp = s.servers.find((x) => x.name === "tcp")!.stats;
        const nic = s.servers.find((x) => x.name === "nic")!.stats;
        assertEquals(nic.rxNoBuf, 0, "NIC rx without a free buffer");
        assertEquals(tcp.txNoBuf, 0, "tcp tx without a free buffer");
        assert(s.sockets.some((x) => (x as { local: string }).local === `${addr}:7`), "listener");
      });

      await t.step("capture: frames of a ping parse as Ethernet/IPv4/ICMP", async () => {
        const file = await Deno.makeTempFile({ prefix: "jr-capture-", suffix: ".pcapng" });
        try {
          const cap = jr.cli(["capture", file, "--count", "4", "--seconds", "10"]);
          await new Promise((r) => setTimeout(r, 700)); // the NIC server notices within ~0.5 s
          await jr.peer(["ping", "-c", "3", "-i", "0.2", "-W", "2", addr]);
          const c = await cap;
          assertEquals(c.code, 0, `capture: ${c.stdout}${c.stderr}`);
          const r = await run(["tshark", "-r", file, "-T", "fields", "-e", "frame.protocols"]);
          assertEquals(r.code, 0, `tshark cannot read the capture: ${r.stderr}`);
          const lines = r.stdout.trim().split("\n").filter((l) => l.length > 0);
          assert(lines.length >= 4, `frames in the capture: ${lines.length}`);
          assert(lines.every((l) => l.startsWith("eth:")), lines.join("\n"));
          assert(lines.some((l) => l.includes("ip:icmp")), lines.join("\n"));
        } finally {
          await Deno.remove(file).catch(() => {});
        }
      });

      await t.step("idle: every server under 5 % of a core over 5 s", async () => {
        await new Promise((r) => setTimeout(r, 1000));
        const hz = await clockTicks();
        const before = pids.map(cpuTicks);
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 5000));
        const secs = (performance.now() - t0) / 1000;
        const after = pids.map(cpuTicks);
        const use = pids.map((_, i) => (after[i]! - before[i]!) / hz / secs);
        console.log(
          `idle CPU over ${secs.toFixed(1)} s: ` +
            ["supervisor", "naming", "nic", "tcp"].map((n, i) =>
              `${n} ${(use[i] * 100).toFixed(1)} %`
            )
              .join(", "),
        );
        for (const [i, u] of use.entries()) {
          assert(u < 0.05, `server ${i} uses ${u * 100} % when idle`);
        }
      });
    } finally {
      const stop = await jr.cli(["stop"]);
      const left = await jr.leftovers();
      const running = pids.filter(alive);
      assertEquals(stop.code, 0, `stop: ${stop.stdout}${stop.stderr}`);
      assertEquals(left, [], "left behind after stop");
      assertEquals(running, [], "processes left after stop");
    }
  },
);

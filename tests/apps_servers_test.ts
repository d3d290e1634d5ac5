/**
 * Unmodified servers and measurement tools through the shim (issue 5): redis-server under
 * Joyride with redis-benchmark from the peer (every test completes), iperf3 both directions
 * (Joyride client → kernel server and -R), sockperf TCP ping-pong from the peer to a sockperf
 * server under Joyride (no message dropped). Own instance ("appssrv"); everything started here
 * is ended by pid.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { appSession, eventually, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("appssrv"));
const addr = jr.config.topology.joyrideAddress;
const peerAddr = jr.config.topology.peerAddress;

/** The bytes iperf3 -J reports as sent and received. */
function iperfBytes(json: string): { sent: number; received: number } {
  const j = JSON.parse(json);
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return { sent: j.end.sum_sent.bytes, received: j.end.sum_received.bytes };
}

systemTest(
  "apps: redis-benchmark against redis-server, iperf3 both ways, sockperf ping-pong and throughput",
  async (t) => {
    {
      await using session = await appSession(jr, "jr-appssrv-");

      await t.step("redis-server under Joyride, redis-benchmark from the peer", async () => {
        const srv = session.joyride([
          "redis-server",
          "--port",
          "6379",
          "--save",
          "",
          "--appendonly",
          "no",
          "--protected-mode",
          "no",
        ]);
        const up = await eventually(
          async () =>
            (await jr.peer(["redis-cli", "-h", addr, "-p", "6379", "ping"])).stdout.trim() ===
              "PONG",
          15_000,
        );
        if (!up) {
          const o = await srv.stop();
          throw new Error(`redis-server under Joyride did not answer PING: ${o.stdout}${o.stderr}`);
        }
        const tests = ["ping_inline", "set", "get", "incr", "lpush"];
        const r = await jr.peer([
          "redis-benchmark",
          "-h",
          addr,
          "-p",
          "6379",
          "-n",
          "1000",
          "-c",
          "8",
          "-t",
          tests.join(","),
          "--csv",
        ], { timeoutMs: 120_000 });
        assertEquals(r.code, 0, r.stderr);
        const rows = r.stdout.trim().split("\n").slice(1).map((l) =>
          l.replaceAll('"', "").split(",")
        );
        assertEquals(rows.length, tests.length, r.stdout);
        for (const row of rows) assert(Number(row[1]) > 0, `no requests/s for ${row[0]}`);
        const set = await jr.peer(["redis-cli", "-h", addr, "set", "joyride", "rides"]);
        const get = await jr.peer(["redis-cli", "-h", addr, "get", "joyride"]);
        assertEquals([set.stdout.trim(), get.stdout.trim()], ["OK", "rides"]);
        await srv.stop();
      });

      for (const reverse of [false, true]) {
        await t.step(`iperf3 under Joyride → kernel peer${reverse ? " (-R)" : ""}`, async () => {
          const srv = session.peer([
            "iperf3",
            "-s",
            "-1",
            "-p",
            "5201",
          ]);
          await new Promise((r) => setTimeout(r, 800));
          const r = await runShim(jr, [
            "iperf3",
            "-c",
            peerAddr,
            "-p",
            "5201",
            "-t",
            "2",
            "-J",
            ...(reverse ? ["-R"] : []),
          ], { timeoutMs: 60_000 });
          assertEquals(r.code, 0, r.stdout + r.stderr);
          const b = iperfBytes(r.stdout);
          assert(b.received > 1_000_000, `received only ${b.received} bytes`);
          // The receiver counts what arrived during the test: the sender's buffers (its kernel's
          // up to a few MB, or Joyride's rings and socket buffer) may still hold the rest.
          assert(b.received <= b.sent, `received ${b.received} > sent ${b.sent}`);
          assert(b.sent - b.received < 8_000_000, `sent ${b.sent}, received ${b.received}`);
          await srv.stop();
        });
      }

      for (const proto of ["tcp", "udp"]) {
        await t.step(
          `sockperf ping-pong (${proto}) from the peer to sockperf under Joyride`,
          async () => {
            const flag = proto === "tcp" ? ["--tcp"] : [];
            const port = proto === "tcp" ? "11111" : "11112";
            const srv = session.joyride(
              ["sockperf", "server", ...flag, "-i", "0.0.0.0", "-p", port],
            );
            await new Promise((r) => setTimeout(r, 1500));
            const r = await jr.peer(
              ["sockperf", "ping-pong", ...flag, "-i", addr, "-p", port, "-t", "2"],
              { timeoutMs: 60_000 },
            );
            assertEquals(r.code, 0, r.stdout + r.stderr);
            const out = r.stdout + r.stderr;
            assert(/# dropped messages = 0;/.test(out), out);
            const p50 = Number(out.match(/percentile 50\.000 =\s+([\d.]+)/)?.[1] ?? NaN);
            assert(p50 > 0, out);
            await srv.stop();
          },
        );
      }

      await t.step(
        "sockperf throughput (tcp) from the peer to sockperf under Joyride",
        async () => {
          const port = "11113";
          const srv = session.joyride(
            ["sockperf", "server", "--tcp", "-i", "0.0.0.0", "-p", port],
          );
          await new Promise((r) => setTimeout(r, 1500));
          const r = await jr.peer(
            ["sockperf", "throughput", "--tcp", "-i", addr, "-p", port, "-t", "2", "-m", "1400"],
            { timeoutMs: 60_000 },
          );
          assertEquals(r.code, 0, r.stdout + r.stderr);
          const out = r.stdout + r.stderr;
          const rate = Number(out.match(/Message Rate is (\d+) \[msg\/sec\]/)?.[1] ?? NaN);
          assert(rate > 0, `no message rate in: ${out}`);
          console.log(`sockperf throughput (tcp, 1400 B): ${rate} msg/s`);
          await srv.stop();
        },
      );
    }
  },
);

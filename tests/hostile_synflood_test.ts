/**
 * SYN flood (issue 7): the peer host sends 5,000 SYNs a second for 6 s to the TCP echo from
 * spoofed sources (`tools/synflood.py`: 198.18.0.3-254, random ports, real-looking options)
 * while an honest client on the same host connects 50 times in a row and echoes 1 MB. The
 * honest client succeeds (the per-listener syncache bucket fills with the flood's embryonic
 * connections and the listener answers with SYN cookies, RFC 4987), the state Joyride keeps
 * stays bounded (sockets: the listeners plus at most the syncache bucket), and every server
 * stays up. Bound: the honest work must finish within 30 s while flooded (it takes well under
 * a second unflooded; both printed).
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, run, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import {
  echo,
  engineCounters,
  python,
  sequential,
  servers,
  status,
  tcpStats,
} from "./tools/traffic.ts";

const jr = new TestInstance(uniqueInstance("synflood"));

systemTest("hostile: SYN flood while an honest client connects and transfers", async () => {
  try {
    await jr.start();
    const t = jr.config.topology;
    const calm = { seq: await sequential(jr, 50, 10), echo: await echo(jr, 1 << 20, 5, 30) };
    assertEquals(calm.seq.ok, 50, `unflooded connections: ${calm.seq.errors}`);
    const before = await status(jr);

    const secs = 6;
    const rate = 5000;
    const flood = run([
      "ip",
      "netns",
      "exec",
      jr.peerNs,
      python,
      `${repoRoot}/tests/tools/synflood.py`,
      "jr0p",
      t.peerMac,
      t.joyrideMac,
      t.joyrideAddress,
      "7",
      String(secs),
      String(rate),
      "1",
    ], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500)); // the syncache bucket is full by now
    const t0 = performance.now();
    const seq = await sequential(jr, 50, 10);
    const e = await echo(jr, 1 << 20, 6, 30);
    const honestS = (performance.now() - t0) / 1000;
    const f = await flood;
    assertEquals(f.code, 0, `synflood.py: ${f.stdout}${f.stderr}`);
    const sent = JSON.parse(f.stdout).sent as number;
    console.log(
      `flood: ${sent} SYNs in ${secs} s; honest while flooded: 50 connections ${
        seq.secs.toFixed(2)
      } s, 1 MB echo ${e.secs.toFixed(2)} s (unflooded: ${calm.seq.secs.toFixed(2)} s, ${
        calm.echo.secs.toFixed(2)
      } s)`,
    );
    assertEquals(seq.ok, 50, `honest connections during the flood: ${seq.errors}`);
    assertEquals(e.got, e.sent, "honest echo byte-exact during the flood");
    assertEquals(e.len, 1 << 20);
    assert(honestS < 30, `honest work took ${honestS} s`);
    assert(sent >= secs * rate * 0.8, `flood sent ${sent}`);

    await new Promise((r) => setTimeout(r, 1500)); // counters come with the heartbeat
    const after = await status(jr);
    assertEquals(servers(after), servers(before), "servers: same pids, states, restarts");
    const b = engineCounters(before);
    const a = engineCounters(after);
    const d = (k: string) => (a[k] ?? 0) - (b[k] ?? 0);
    console.log(
      ["tcp.syncookie.sent", "tcp.syncookie.accepted", "tcp.listen.syn", "arp.holdDropped"]
        .map((k) => `${k} +${d(k)}`).join(", "),
    );
    assert(d("tcp.syncookie.sent") >= sent / 2, "the flood was answered with SYN cookies");
    const sockets = (tcpStats(after).sockets as unknown[]).length;
    console.log(`sockets after the flood: ${sockets}`);
    assert(sockets <= 2 + 64, `Joyride keeps ${sockets} sockets after the flood`);
  } finally {
    await jr.stopClean();
  }
});

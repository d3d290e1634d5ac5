/**
 * Hostile frames (issue 7): 20,000 random and malformed frames from the peer host at Joyride's
 * MAC (`tools/hostile.py`, seeded: random bytes, 2,000 EtherTypes spread over the 16-bit
 * space (802.3 lengths included) besides IPv4/ARP/IPv6/VLAN/QinQ, frames shorter than an
 * Ethernet header, bad ARP, IPv4 with truncated headers, IHL and total-length lies, bad
 * checksums, bogus options, bad versions and martian sources, TCP with bad data
 * offsets, checksums and options and every flag combination, UDP with lying lengths and bad
 * checksums, truncated and bogus ICMP, IPv6 with bad payload lengths, VLAN tags). The servers
 * stay up (same pids, no restarts), the engine's drop counters (`./joyride status --json`,
 * `servers[tcp].stats.engine`) say why frames were dropped, and a TCP echo afterwards is
 * byte-exact.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, run, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { echo, engineCounters, python, rssKb, servers, status, udpEcho } from "./tools/traffic.ts";

const jr = new TestInstance(uniqueInstance("hostile"));

/** Drop reasons each of which the seeded frames must have hit. */
const reasons = [
  "eth.rx.unknownEtherType",
  "arp.rx.truncated",
  "ip.rx.badChecksum",
  "ip.rx.badHeaderLength",
  "ip.rx.badTotalLength",
  "ip.rx.badSource",
  "ip.rx.versionMismatch",
  "ip6.rx.badPayloadLength",
  "tcp.rx.badChecksum",
  "tcp.drop.bad-data-offset",
  // (Malformed TCP options no longer drop a segment: skipped as FreeBSD and Linux do.)
  "udp.rx.badChecksum",
  "udp.rx.badLength",
  "udp.rx.truncated",
  "icmp.rx.badChecksum",
  "icmp.rx.truncated",
];

systemTest(
  "hostile: 20,000 malformed frames, servers stay up, counters say why, echo byte-exact",
  async () => {
    try {
      await jr.start();
      const t = jr.config.topology;
      const before = await status(jr);
      const tcpPid = before.servers.find((s) => s.name === "tcp")!.pid!;
      const rssBefore = rssKb(tcpPid);
      // Frames the NIC took from the wire: those on the RX ring plus those GRO merged into
      // another (GRO is on by default, and some hostile frames are mergeable TCP segments).
      const nicFrames = (s: typeof before) =>
        Number(s.counters["nic.rxFrames"] ?? 0) + Number(s.counters["nic.groMerged"] ?? 0);
      const nicBefore = nicFrames(before);

      const n = 20_000;
      const r = await run([
        "ip",
        "netns",
        "exec",
        jr.peerNs,
        python,
        `${repoRoot}/tests/tools/hostile.py`,
        "jr0p",
        t.peerMac,
        t.joyrideMac,
        t.peerAddress,
        t.joyrideAddress,
        String(n),
        "1",
      ], { timeoutMs: 120_000 });
      assertEquals(r.code, 0, `hostile.py: ${r.stdout}${r.stderr}`);
      console.log(r.stdout.trim());

      // counters reach status with the heartbeat: wait until the NIC's count settles
      let after = await status(jr);
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const next = await status(jr);
        const settled = nicFrames(next) === nicFrames(after) &&
          nicFrames(next) - nicBefore >= n * 0.95;
        after = next;
        if (settled) break;
      }
      assertEquals(servers(after), servers(before), "servers: same pids, states, restarts");
      assert(servers(after).every((s) => s.state === "running"), "every server running");

      const nicRx = nicFrames(after) - nicBefore;
      const b = engineCounters(before);
      const a = engineCounters(after);
      const delta = (k: string) => (a[k] ?? 0) - (b[k] ?? 0);
      const seen = Object.keys(a).filter((k) => delta(k) > 0).sort((x, y) => delta(y) - delta(x));
      console.log(`NIC received ${nicRx} of ${n}; engine counters (delta):`);
      console.log(seen.map((k) => `  ${k} ${delta(k)}`).join("\n"));
      // Fragments (random flag bits) are held by the kernel's defrag in front of af_packet
      // (FINDINGS R2), so a few percent never reach the NIC server.
      assert(nicRx >= n * 0.95, `the NIC server received ${nicRx} of ${n}`);
      for (const k of reasons) assert(delta(k) > 0, `drop reason ${k} counted`);
      const dropped = seen.filter((k) =>
        /\.(rx|drop)\./.test(k) && !/(packets|segments|datagrams)$/.test(k)
      )
        .reduce((s, k) => s + delta(k), 0);
      assert(dropped >= n / 2, `dropped frames with a reason: ${dropped}`);

      const e = await echo(jr, 2 << 20, 3, 60);
      assertEquals(e.got, e.sent, "TCP echo byte-exact after the hostile frames");
      assertEquals(e.len, 2 << 20);
      const u = await udpEcho(jr, 1000, 20);
      assertEquals(u.ok, 20, "UDP echo after the hostile frames");
      const rssAfter = rssKb(tcpPid);
      console.log(`tcp server RSS ${rssBefore} kB before, ${rssAfter} kB after`);
    } finally {
      await jr.stopClean();
    }
  },
);

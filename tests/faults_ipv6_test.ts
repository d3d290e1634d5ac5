/**
 * IPv6 on the real system (issue 7, FINDINGS R3; TSO over IPv6, issue 9): Joyride has `topology.joyrideAddress6`
 * (fd00:198:18::2/64) and the peer fd00:198:18::1/64. From the peer: ping6, a 1 MB TCP echo
 * (byte-exact by sha256) and IPv6 fragments crafted with scapy (`tools/frag6.py`) to a UDP echo
 * under the shim (`tools/echo6.py`; the built-in echo service listens on IPv4 only): in order,
 * reversed, shuffled with every fragment twice (exact duplicates dropped alone), overlapping
 * with the same or with different bytes (the whole datagram dropped, RFC 5722), an 8000-byte
 * datagram the peer's kernel fragments, and a lone first fragment answered with ICMPv6 time
 * exceeded (3/1) after net.inet6.ip6.fragttl (60 s). Runs on the default af_packet port: the
 * PMD's kernel defragmentation (R2) is IPv4 only.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { Bg, eventually, shimEnvOf } from "./_apps.ts";
import { engineCounters, python, status } from "./tools/traffic.ts";

const jr = new TestInstance(uniqueInstance("ip6"));
const PORT = 7007;

const tcpEcho = `
import hashlib, random, socket, sys
data = random.Random(5).randbytes(1 << 20)
s = socket.create_connection((sys.argv[1], ${PORT}), timeout=20)
got = bytearray()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print(hashlib.sha256(data).hexdigest(), hashlib.sha256(got).hexdigest(), len(got))
`;

systemTest(
  "faults: IPv6 (R3) — ping6, TCP echo, fragments (order, duplicates, RFC 5722, timeout)",
  async () => {
    let echo: Bg | undefined;
    try {
      await jr.start();
      const t = jr.config.topology;
      const addr6 = t.joyrideAddress6.split("/")[0];
      const peer6 = t.peerAddress6.split("/")[0];
      const ping = await jr.peer(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", addr6]);
      assertEquals(ping.code, 0, `ping6: ${ping.stdout}${ping.stderr}`);
      assert(/3 received/.test(ping.stdout), ping.stdout);

      echo = new Bg(
        [python, `${repoRoot}/tests/tools/echo6.py`, addr6, String(PORT)],
        shimEnvOf(jr),
      );
      let out = "";
      const up = await eventually(async () => {
        const r = await jr.peer([python, "-c", tcpEcho, addr6], { timeoutMs: 30_000 });
        out = r.stdout + r.stderr;
        return r.code === 0;
      }, 30_000);
      assert(up, `TCP echo over IPv6 answers: ${out}`);
      const [want, got, n] = out.trim().split(" ");
      assertEquals([got, n], [want, String(1 << 20)], "1 MB TCP echo over IPv6, byte-exact");
      // The echo went back in TSO frames (OFF.tso6: the kernel-GSO socket takes IPv6), and the
      // NIC server refused none: IPv6 frames used to lack the TSO flag, so each was dropped
      // as a bad descriptor and the flow crawled on retransmissions.
      await new Promise((r) => setTimeout(r, 1500)); // counters reach status with the heartbeat
      const s6 = await status(jr);
      const nic = (s6.counters ?? {}) as Record<string, number>;
      assert((engineCounters(s6)["tcp.tx.tso"] ?? 0) > 0, "TSO frames over IPv6");
      assertEquals(nic["nic.txBadDesc"], 0, "frames the NIC server refused");

      const r = await jr.peer([
        python,
        `${repoRoot}/tests/tools/frag6.py`,
        "jr0p",
        peer6,
        addr6,
        t.joyrideMac,
        t.peerMac,
        String(PORT),
      ], { timeoutMs: 120_000 });
      assertEquals(r.code, 0, `frag6.py: ${r.stdout}${r.stderr}`);
      const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
      console.log(JSON.stringify(res));
      assertEquals(res.cases, {
        "in order": "echoed",
        "reverse order": "echoed",
        "shuffled, every fragment twice": "echoed",
        "overlapping, same bytes": "no reply",
        "overlapping, different bytes later": "no reply",
        "in order after the overlaps": "echoed",
        "kernel-fragmented 8000 B": "echoed",
      });
      assert(res.timeExceeded, "ICMPv6 time exceeded (reassembly) for the lone first fragment");
      assert(res.timeExceededAfter >= 59, `after ${res.timeExceededAfter} s, fragttl is 60 s`);
      await new Promise((r) => setTimeout(r, 1500)); // counters reach status with the heartbeat
      const c = engineCounters(await status(jr));
      console.log(
        Object.entries(c).filter(([k]) => k.startsWith("ip6.frag") || k.startsWith("icmp6"))
          .map(([k, v]) => `${k}=${v}`).join(" "),
      );
      assert((c["ip6.frag.reassembled"] ?? 0) >= 5, "datagrams reassembled");
      assert((c["ip6.frag.timeout"] ?? 0) >= 1, "reassembly timeouts counted");
      assert((c["ip6.frag.overlap"] ?? 0) >= 2, "overlapping datagrams dropped (RFC 5722)");
      assert((c["ip6.frag.duplicate"] ?? 0) >= 1, "exact duplicates dropped alone");
      assert((c["icmp6.tx.error.3.1"] ?? 0) >= 1, "ICMPv6 time exceeded sent");
    } finally {
      await echo?.stop();
      await jr.cli(["stop"]);
      assertEquals(await jr.leftovers(), [], "left behind after stop");
    }
  },
);

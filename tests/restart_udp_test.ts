/**
 * Issue 8: apps' UDP sockets across `./joyride restart tcp` (SIGTERM), and SO_REUSEPORT groups.
 * python3 under the shim (tests/_restart_udp_app.py) holds a bound, unconnected IPv4 UDP
 * server, a dual-stack (AF_INET6 on ::) socket connected to the IPv4 peer through its IPv4 twin,
 * and three SO_REUSEPORT sockets on one port; the peer (the kernel's stack) talks to them
 * (tests/_restart_udp_peer.py). After the restart the server answers the peer again, the
 * dual-stack socket still reaches its peer, and the reuseport group spreads the peer's flows
 * over its members by a flow hash, before and after one member closes.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import type { Status } from "../servers/supervisor/supervisor.ts";
import {
  exists,
  repoRoot,
  restartAndWait,
  serverOf,
  systemTest,
  TestInstance,
  uniqueInstance,
  until,
} from "./_system.ts";
import { appSession, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("ru"));
const peerAddr = jr.config.topology.peerAddress;
const jrAddr = jr.config.topology.joyrideAddress;
const [SPORT, DPORT, EPORT, RPORT] = [9301, 9303, 9302, 9304];

const ECHO = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(b"E:" + d, a)
`;

/** The apps the tcp server serves: pid and socket count. */
function tcpApps(s: Status): { pid: number; sockets: number }[] {
  const list = (serverOf(s, "tcp").stats.apps ?? []) as { pid?: number; sockets?: number }[];
  return list.map((a) => ({ pid: a.pid ?? 0, sockets: a.sockets ?? -1 }));
}

/** `n` datagrams from the peer to `port`, from source ports first…first+n-1: the answers. */
async function fromPeer(port: number, first: number, n: number, tcp = false): Promise<string[]> {
  const r = await jr.peer(
    [
      "python3",
      `${repoRoot}/tests/_restart_udp_peer.py`,
      jrAddr,
      `${port}`,
      `${first}`,
      `${n}`,
      ...(tcp ? ["tcp"] : []),
    ],
    { timeoutMs: 60_000 },
  );
  assertEquals(r.code, 0, `peer: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as string[];
}

/** IPv4 flows to the dual-stack UDP and TCP groups on [::]:RPORT+2 reach both members. */
async function checkDualStackGroups(first: number): Promise<void> {
  for (const [tcp, tag] of [[false, "S"], [true, "U"]] as const) {
    const got = await fromPeer(RPORT + 2, first + (tcp ? 50 : 0), 12, tcp);
    assertEquals(got.map((x) => x.slice(3)), got.map((_, i) => `p${i}`));
    assert(got.every((x) => new RegExp(`^${tag}[01]:`).test(x)), `answers: ${got}`);
    assertEquals(new Set(got.map((x) => x.slice(0, 2))).size, 2, `one member took all: ${got}`);
  }
}

systemTest(
  "restart tcp keeps apps' UDP: a bound server, a dual-stack socket connected to IPv4; reuseport spreads flows",
  async () => {
    {
      await using session = await appSession(jr, "jr-restart-udp-");
      const { dir, peer } = session;
      try {
        peer(["python3", "-c", ECHO, peerAddr, `${EPORT}`]);
        const app = runShim(jr, [
          "python3",
          `${repoRoot}/tests/_restart_udp_app.py`,
          peerAddr,
          `${SPORT}`,
          `${DPORT}`,
          `${EPORT}`,
          `${RPORT}`,
          dir,
        ], { timeoutMs: 120_000 });
        await until("the app to be ready", () => exists(`${dir}/ready`), 30_000);
        assertEquals(await fromPeer(SPORT, 40000, 2), ["A:p0", "A:p1"]);

        // SO_REUSEPORT: 24 flows over 3 members, each flow to one member; more than one member used.
        const spread = await fromPeer(RPORT, 41000, 24);
        const members = spread.map((x) => x.slice(0, 2));
        assertEquals(spread.map((x) => x.slice(3)), spread.map((_, i) => `p${i}`));
        assert(members.every((m) => /^R[012]$/.test(m)), `answers: ${spread}`);
        assert(new Set(members).size >= 2, `every flow went to one member: ${members}`);
        // The same flows again reach the same members (a hash of the 4-tuple, not round robin).
        const again = await fromPeer(RPORT, 41000, 24);
        assertEquals(again.map((x) => x.slice(0, 2)), members);

        // The same for TCP: new connections spread over three SO_REUSEPORT listeners.
        const conns = await fromPeer(RPORT, 42000, 12, true);
        assertEquals(conns.map((x) => x.slice(3)), conns.map((_, i) => `p${i}`));
        assert(conns.every((x) => /^T[012]:/.test(x)), `answers: ${conns}`);
        assert(
          new Set(conns.map((x) => x.slice(0, 2))).size >= 2,
          `one listener took all: ${conns}`,
        );

        // Dual-stack groups on [::]: IPv4 peers spread over every member through their twins.
        await checkDualStackGroups(43000);

        let appPid = 0;
        await until("tcp to show the app", async () => {
          appPid = tcpApps(await jr.status())[0]?.pid ?? 0;
          return appPid > 0;
        });
        await restartAndWait(jr, "tcp", "tcp back with the app's sockets", (s) => {
          return tcpApps(s).some((a) => a.pid === appPid && a.sockets === 12);
        });
        // 1. The bound, unconnected server answers the peer again.
        assertEquals(await fromPeer(SPORT, 40010, 2), ["A:p0", "A:p1"]);
        // 3. The reuseport group came back whole: the same flows to the same members.
        const after = await fromPeer(RPORT, 41000, 24);
        assertEquals(after.map((x) => x.slice(0, 2)), members);
        // 3. The TCP listeners came back too and still share new connections.
        const conns2 = await fromPeer(RPORT, 42100, 12, true);
        assertEquals(conns2.map((x) => x.slice(3)), conns2.map((_, i) => `p${i}`));
        assert(conns2.every((x) => /^T[012]:/.test(x)), `answers after restart: ${conns2}`);
        assert(new Set(conns2.map((x) => x.slice(0, 2))).size >= 2, `after restart: ${conns2}`);
        await checkDualStackGroups(43100);
        // 3. A member closes: every flow reaches one of the others (spread again over the two, as
        // Linux does), none is lost.
        Deno.writeTextFileSync(`${dir}/close2`, "");
        await until("the member to close", async () => {
          return tcpApps(await jr.status()).some((a) => a.pid === appPid && a.sockets === 11);
        });
        const closed = await fromPeer(RPORT, 41000, 24);
        assertEquals(closed.map((x) => x.slice(3)), closed.map((_, i) => `p${i}`));
        assert(closed.every((x) => /^R[01]:/.test(x)), `answers after close: ${closed}`);
        assertEquals(new Set(closed.map((x) => x.slice(0, 2))).size, 2, `${closed}`);

        // 2. The dual-stack socket still reaches its IPv4 peer.
        Deno.writeTextFileSync(`${dir}/go`, "");
        const out = await app;
        assertEquals(out.code, 0, `app: ${out.stdout}${out.stderr}`);
        const res = JSON.parse(out.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
        assertEquals(res.b1, "E:one");
        assertEquals(res.b2, "E:two");
        assertEquals(res.bpeer1, [`::ffff:${peerAddr}`, EPORT]);
        assertEquals(res.bpeer2, [`::ffff:${peerAddr}`, EPORT]);
      } catch (e) {
        const inst = `${jr.config.runtimeDir}/${jr.name}`;
        console.log("diagnostics: apps", JSON.stringify(tcpApps(await jr.status())));
        try {
          console.log("diagnostics: tcp-udp.json", Deno.readTextFileSync(`${inst}/tcp-udp.json`));
          console.log(
            "diagnostics: tcp.log",
            Deno.readTextFileSync(`${inst}/log/tcp.log`).slice(-3000),
          );
        } catch (x) {
          console.log("diagnostics:", x);
        }
        throw e;
      }
    }
    assertEquals(await jr.leftovers(), []);
  },
);

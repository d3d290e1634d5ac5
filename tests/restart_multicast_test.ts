/**
 * Issue 8: a UDP socket's multicast membership across `./joyride restart tcp`. python3 under
 * the shim joins a group; the peer (the kernel's stack) sends to it before and after the
 * restart. The service keeps a datagram socket's IP-level options with its record
 * (udp_restore.ts) and sets them again on the socket it re-creates: without that, the
 * receiver heard its group no more.
 */
import { assertEquals } from "../servers/supervisor/_assert.ts";
import {
  exists,
  restartAndWait,
  systemTest,
  TestInstance,
  uniqueInstance,
  until,
} from "./_system.ts";
import { appSession, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("rm"), {
  tcp: { services: { echo: false, discard: false } },
});
const peerAddr = jr.config.topology.peerAddress;
const jrAddr = jr.config.topology.joyrideAddress;
const GROUP = "239.18.1.9";
const PORT = 9331;

// Joins GROUP on its address; each datagram received becomes a file DIR/got-DATA.
const APP = String.raw`
import os, socket, sys
me, group, port, dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("0.0.0.0", port))
u.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(me))
open(dir + "/ready", "w").close()
while not os.path.exists(dir + "/done"):
    u.settimeout(0.5)
    try:
        d = u.recv(100)
        open(dir + "/got-" + d.decode(), "w").close()
    except socket.timeout:
        pass
`;

const SEND = String.raw`
import socket, sys
me, group, port, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
u.sendto(data.encode(), (group, port))
`;

systemTest("restart tcp: a UDP socket's multicast membership holds", async () => {
  {
    await using session = await appSession(jr, "jr-restart-mcast-");
    const { dir } = session;
    const app = runShim(jr, ["python3", "-c", APP, jrAddr, GROUP, `${PORT}`, dir], {
      timeoutMs: 120_000,
    });
    await until("the app joined", () => exists(`${dir}/ready`), 30_000);
    const send = (data: string) =>
      jr.peer(["python3", "-c", SEND, peerAddr, GROUP, `${PORT}`, data], { timeoutMs: 10_000 });
    await until("a group datagram before the restart", async () => {
      await send("before");
      return exists(`${dir}/got-before`);
    }, 20_000);
    await restartAndWait(jr, "tcp");
    await until("a group datagram after the restart", async () => {
      await send("after");
      return exists(`${dir}/got-after`);
    }, 30_000);
    Deno.writeTextFileSync(`${dir}/done`, "");
    const out = await app;
    assertEquals(out.code, 0, `app: ${out.stdout}${out.stderr}`);
  }
  assertEquals(await jr.leftovers(), []);
});

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
// An IPv6 group of link scope: it stays on the namespaces' link (tests use no address outside
// the project's own).
const GROUP = "ff12::18:9";
const PORT = 9331;

// Joins GROUP; each datagram received becomes a file DIR/got-DATA.
const APP = String.raw`
import os, socket, struct, sys
group, port, dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("::", port))
mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", 0)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
open(dir + "/ready", "w").close()
while not os.path.exists(dir + "/done"):
    u.settimeout(0.5)
    try:
        d = u.recv(100)
        open(dir + "/got-" + d.decode(), "w").close()
    except socket.timeout:
        pass
`;

// From the peer, out of its interface that is not lo.
const SEND = String.raw`
import socket, sys
group, port, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
idx = next(i for i, n in socket.if_nameindex() if n != "lo")
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
u.sendto(data.encode(), (group, port))
`;

systemTest("restart tcp: a UDP socket's multicast membership holds", async () => {
  {
    await using session = await appSession(jr, "jr-restart-mcast-");
    const { dir } = session;
    const app = runShim(jr, ["python3", "-c", APP, GROUP, `${PORT}`, dir], {
      timeoutMs: 120_000,
    });
    await until("the app joined", () => exists(`${dir}/ready`), 30_000);
    const send = (data: string) =>
      jr.peer(["python3", "-c", SEND, GROUP, `${PORT}`, data], { timeoutMs: 10_000 });
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

/**
 * Issue 8/9: connections past the state region's records (`tcp.stateRecords`) across
 * `./joyride restart tcp`. python3 under the shim holds five connections to an echo server on
 * the peer with records for three: after the restart those three echo again, the other two fail
 * at once with ECONNRESET (status `deadOnRestart`), instead of a recv that waited forever.
 */
import { assertEquals } from "../servers/supervisor/_assert.ts";
import {
  exists,
  restartAndWait,
  serverOf,
  systemTest,
  TestInstance,
  uniqueInstance,
  until,
} from "./_system.ts";
import { appSession, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("rr"), {
  tcp: { services: { echo: false, discard: false }, stateRecords: 3 },
});
const peerAddr = jr.config.topology.peerAddress;
const PORT = 9311;

const ECHO = String.raw`
import socket, sys, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
def serve(c):
    while (d := c.recv(4096)):
        c.sendall(d)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

const APP = String.raw`
import errno, json, os, socket, sys, time
host, port, dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conns = []
for i in range(5):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"hello%d" % i)
    assert s.recv(100) == b"hello%d" % i
    conns.append(s)
open(dir + "/ready", "w").close()
while not os.path.exists(dir + "/go"):
    time.sleep(0.05)
out = []
for i, s in enumerate(conns):
    try:
        s.sendall(b"again%d" % i)
        d = s.recv(100)
        out.append("ok" if d == b"again%d" % i else "got:%r" % d)
    except socket.timeout:
        out.append("timeout")
    except OSError as e:
        out.append(errno.errorcode.get(e.errno, str(e.errno)))
print(json.dumps(out))
`;

systemTest(
  "restart tcp: connections past the records are reset for the app (ECONNRESET), the rest echo",
  async () => {
    {
      await using session = await appSession(jr, "jr-restart-records-");
      const { dir, peer } = session;
      peer(["python3", "-c", ECHO, peerAddr, `${PORT}`]);
      await new Promise((r) => setTimeout(r, 800));
      const app = runShim(jr, ["python3", "-c", APP, peerAddr, `${PORT}`, dir], {
        timeoutMs: 90_000,
      });
      await until("the app's connections", () => exists(`${dir}/ready`), 30_000);
      await restartAndWait(jr, "tcp", "tcp back with the app", (s) => {
        return ((serverOf(s, "tcp").stats.apps ?? []) as unknown[]).length === 1;
      });
      Deno.writeTextFileSync(`${dir}/go`, "");
      const out = await app;
      assertEquals(out.code, 0, `app: ${out.stdout}${out.stderr}`);
      const res = JSON.parse(out.stdout.trim().split("\n").pop()!) as string[];
      assertEquals(res, ["ok", "ok", "ok", "ECONNRESET", "ECONNRESET"]);
      const svc = serverOf(await jr.status(), "tcp").stats.appService as Record<string, number>;
      assertEquals(svc.deadOnRestart, 2);
    }
    assertEquals(await jr.leftovers(), []);
  },
);

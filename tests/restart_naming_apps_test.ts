/**
 * Issue 8: an app's registration survives a naming restart. python3 under the shim holds a TCP
 * download (8 MB from http.server on the peer host, read slowly) and a connected UDP socket
 * (an echo on the peer); `./joyride restart naming` runs, then the tcp server is SIGKILLed: the
 * new naming took back the app's registration, token and region (servers/naming/app_persist.ts)
 * and hands the region to the new tcp server, so the download completes byte-exact. The UDP
 * socket answers after the restarts as RESTART.md says. When the app exits, the new naming
 * (which never had its registration connection) still revokes it: the tcp server forgets it.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import type { Status } from "../servers/supervisor/supervisor.ts";
import { exists, serverOf, systemTest, TestInstance, uniqueInstance, until } from "./_system.ts";
import { appSession, peerHttpUp, runShim, sha256File, writeSeeded } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("rn"));
const peerAddr = jr.config.topology.peerAddress;

/** The app: UDP ping, a slow HTTP/1.0 download hashed, UDP ping once told to, a JSON line. */
const APP = String.raw`
import socket, sys, time, os, hashlib, json
peer, port, uport, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
res = {}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
u.connect((peer, uport))
def ping(tag):
    try:
        for i in range(5):
            u.send(tag.encode())
            try:
                return u.recv(100).decode()
            except socket.timeout:
                pass
        return "timeout"
    except OSError as e:
        return "errno %d" % e.errno
res["udp1"] = ping("one")
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.settimeout(2)
def ping_to(tag):
    try:
        for i in range(5):
            v.sendto(tag.encode(), (peer, uport))
            try:
                return v.recvfrom(100)[0].decode()
            except socket.timeout:
                pass
        return "timeout"
    except OSError as e:
        return "errno %d" % e.errno
res["sendto1"] = ping_to("three")
res["port1"] = v.getsockname()[1]
t = socket.create_connection((peer, port))
t.sendall(b"GET /big.bin HTTP/1.0\r\nHost: peer\r\n\r\n")
open(d + "/ready", "w").close()
h = hashlib.sha256()
head = b""
n = 0
while True:
    b = t.recv(32768)
    if not b:
        break
    if head is not None:
        head += b
        i = head.find(b"\r\n\r\n")
        if i < 0:
            continue
        b = head[i + 4:]
        head = None
    h.update(b)
    n += len(b)
    time.sleep(0.06)
open(d + "/done", "w").close()
res["bytes"] = n
res["sha256"] = h.hexdigest()
while not os.path.exists(d + "/go"):
    time.sleep(0.1)
res["udp2"] = ping("two")
res["sendto2"] = ping_to("four")
res["port2"] = v.getsockname()[1]
print(json.dumps(res), flush=True)
`;

const ECHO = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
`;

/** Pids of the apps the tcp server serves. */
function tcpApps(s: Status): number[] {
  const list = (serverOf(s, "tcp").stats.apps ?? []) as { pid?: number }[];
  return list.map((a) => a.pid ?? 0);
}

systemTest(
  "naming restart keeps apps: restart naming, SIGKILL tcp: the app's download completes, exit still revokes",
  async () => {
    {
      await using session = await appSession(jr, "jr-restart-naming-apps-");
      const { dir, peer } = session;
      writeSeeded(`${dir}/big.bin`, 8_000_000, 8088);
      const want = await sha256File(`${dir}/big.bin`);
      peer(["python3", "-m", "http.server", "8083", "--bind", peerAddr, "-d", dir]);
      peer(["python3", "-c", ECHO, peerAddr, "9093"]);
      await peerHttpUp(jr, `http://${peerAddr}:8083/`);
      const app = runShim(jr, ["python3", "-c", APP, peerAddr, "8083", "9093", dir], {
        timeoutMs: 180_000,
      });
      await until("the app's download to start", () => exists(`${dir}/ready`), 30_000);
      // Status shows what the servers said with their last heartbeat.
      let appPid = 0;
      await until("naming and tcp to show the app", async () => {
        const s = await jr.status();
        appPid = tcpApps(s)[0] ?? 0;
        return serverOf(s, "naming").stats.apps === 1 && appPid > 0;
      });

      const r = await jr.cli(["restart", "naming"]);
      assertEquals(r.code, 0, `restart naming: ${r.stderr}`);
      // The new naming took the registration back (and the tcp server re-announced to it).
      await until("the new naming to know the app", async () => {
        const s = await jr.status();
        return serverOf(s, "naming").state === "running" && serverOf(s, "naming").stats.apps === 1;
      });
      await new Promise((r) => setTimeout(r, 1000));
      assert(!exists(`${dir}/done`), "the download ended before tcp was killed");
      await jr.killServer("tcp", "SIGKILL");
      // The new tcp server got the app's region from the restarted naming.
      await until("the new tcp server to serve the app", async () => {
        return tcpApps(await jr.status()).includes(appPid);
      });
      Deno.writeTextFileSync(`${dir}/go`, "");
      const out = await app;
      assertEquals(out.code, 0, `app: ${out.stdout}${out.stderr}`);
      const res = JSON.parse(out.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
      assertEquals(res.udp1, "one");
      assertEquals(res.bytes, 8_000_000);
      assertEquals(res.sha256, want, "sha256 of the download");
      // UDP sockets survive a tcp restart (RESTART.md).
      assertEquals(res.udp2, "two");
      // An unbound socket that used sendto keeps the port the engine gave it.
      assertEquals([res.sendto1, res.sendto2], ["three", "four"]);
      assert(typeof res.port1 === "number" && res.port1 > 0);
      assertEquals(res.port2, res.port1);

      // The app exited: the new naming, which never had its connection, revokes it.
      await until("the app's revocation", async () => {
        const s = await jr.status();
        return serverOf(s, "naming").stats.apps === 0 && !tcpApps(s).includes(appPid);
      }, 20_000);
      // Its UDP sockets are freed (their records go) and naming's saved state forgets it.
      const inst = `${jr.config.runtimeDir}/${jr.name}`;
      await until("the app's UDP sockets to be freed", () => {
        const u = JSON.parse(Deno.readTextFileSync(`${inst}/tcp-udp.json`));
        return u.sockets.length === 0;
      }, 20_000);
      const saved = JSON.parse(Deno.readTextFileSync(`${inst}/apps.json`));
      assertEquals(saved.apps, []);
      assertEquals(Deno.statSync(`${inst}/apps.json`).mode! & 0o077, 0);
      const s = await jr.status();
      assertEquals(serverOf(s, "naming").restarts, 1);
      assertEquals(serverOf(s, "tcp").restarts, 1);
    }
    assertEquals(await jr.leftovers(), []);
  },
);

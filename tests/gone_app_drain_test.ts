/**
 * The sockets of an app that ended drain what they hold for `tcp.drainSeconds`, then are reset
 * and the app's region is let go. Before, a connection to a peer that stopped reading kept its
 * send ring full for ever: it stayed ESTABLISHED (or in FIN_WAIT_1) after its app had exited,
 * holding the app's whole region in the TCP/IP server (a helper's run: still there after 12
 * minutes). Own instance; everything started here is ended by pid.
 */
import { assert } from "../servers/supervisor/_assert.ts";
import { systemTest, TestInstance, uniqueInstance, until } from "./_system.ts";
import { appSession, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("drain"), {
  tcp: { services: { echo: false, discard: false }, drainSeconds: 3 },
});
const peerAddr = jr.config.topology.peerAddress;
const PORT = 9331;

// Takes connections and neither reads nor sends: the windows fill and stay shut.
const STALL = String.raw`
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(8)
cs = []
while True:
    cs.append(l.accept()[0])
`;

// Fills two connections' send sides — the engine's buffer and the socket's ring: what the
// app wrote is still in its ring when it exits — closes one, and exits.
const APP = String.raw`
import os, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
a = socket.create_connection((host, port), timeout=10)
b = socket.create_connection((host, port), timeout=10)
for s in (a, b):
    s.setblocking(False)
    stuck = time.time()
    while time.time() - stuck < 1.0:
        try:
            s.send(b"x" * 65536)
            stuck = time.time()
        except BlockingIOError:
            time.sleep(0.05)
b.close()
print("full", flush=True)
os._exit(0)
`;

/** The instance's sockets toward the stalled peer port, and its apps. */
async function leftovers(): Promise<{ sockets: number; apps: number }> {
  const s = await jr.status() as unknown as {
    sockets?: { remote?: string }[];
    apps?: unknown[];
  };
  const sockets = (s.sockets ?? []).filter((x) => x.remote?.endsWith(`:${PORT}`)).length;
  return { sockets, apps: (s.apps ?? []).length };
}

systemTest("an ended app's undrained sockets are reset after tcp.drainSeconds", async () => {
  await using session = await appSession(jr, "jr-drain-");
  const peer = session.peer(["python3", "-c", STALL, peerAddr, `${PORT}`]);
  await session.listening(peerAddr, PORT, peer);
  const r = await runShim(jr, ["python3", "-c", APP, peerAddr, `${PORT}`]);
  assert(r.stdout.includes("full"), `the app: ${r.stdout}${r.stderr}`);
  // Right after the exit the connections still hold what the app wrote...
  const first = await leftovers();
  assert(first.sockets > 0, `no connection left to drain: ${JSON.stringify(first)}`);
  // ...and once the drain time is over, they are gone, reset, with the app.
  await until("the ended app's connections reset", async () => {
    const l = await leftovers();
    return l.sockets === 0 && l.apps === 0;
  }, 20_000);
});

/**
 * Issue 8: a close() or shutdown(SHUT_WR) whose data still waits to be sent when
 * `./joyride restart tcp` comes. The new incarnation finds what the old one owed the socket in
 * its slot (SLOT.OFF_SRV_FLAGS): the rest of the data goes out, then the FIN, while the app
 * lives on. Before, the close or shutdown was forgotten: all the data arrived, but no FIN until
 * the app exited (a reader waiting for the end of a close-delimited reply hung). A third
 * stream's app exits right after its close: what it wrote that was still in its ring went with
 * it, so the stream must end with a reset, not a FIN after fewer bytes.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import {
  exists,
  restartAndWait,
  systemTest,
  TestInstance,
  uniqueInstance,
  until,
} from "./_system.ts";
import { appSession, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("rc"), {
  tcp: { services: { echo: false, discard: false }, reapSeconds: 3 },
});
const peerAddr = jr.config.topology.peerAddress;
const PORT = 9321;
const BYTES = 1_200_000;

// A slow reader with a small window: the sender's data waits in Joyride. Each connection's
// first byte is its tag; "TAG COUNT eof" (or "timeout") per connection goes to OUT.
const READER = String.raw`
import socket, sys, threading, time
addr, port, out, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind((addr, port)); l.listen(4)
lines = []
def read(c):
    c.settimeout(40)
    tag = c.recv(1).decode(); got = 0; end = "eof"
    try:
        while True:
            d = c.recv(8192)
            if not d: break
            got += len(d); time.sleep(0.05 if tag == "E" else 0.01)
    except socket.timeout:
        end = "timeout"
    except ConnectionResetError:
        end = "reset"
    lines.append("%s %d %s" % (tag, got, end))
ts = []
for _ in range(n):
    c, _ = l.accept()
    t = threading.Thread(target=read, args=(c,)); t.start(); ts.append(t)
for t in ts: t.join()
open(out, "w").write("\n".join(sorted(lines)) + "\n")
`;

const APP = String.raw`
import os, socket, sys, time
host, port, dir, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
a = socket.create_connection((host, port), timeout=30)
b = socket.create_connection((host, port), timeout=30)
a.sendall(b"C" + b"x" * n)
b.sendall(b"S" + b"y" * n)
a.close()
b.shutdown(socket.SHUT_WR)
while not os.path.exists(dir + "/exited"):
    time.sleep(0.05)
open(dir + "/closed", "w").close()
while not os.path.exists(dir + "/done"):
    time.sleep(0.1)
`;

// An app of its own writes, closes and exits at once: its unsent bytes go with it; its stream
// must not end as if complete.
const EXITING = String.raw`
import socket, sys
host, port, dir, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
e = socket.create_connection((host, port), timeout=30)
e.sendall(b"E" + b"z" * n)
e.close()
open(dir + "/exited", "w").close()
`;

systemTest(
  "restart tcp: a close and a shutdown made just before it still end with a FIN, all data first",
  async () => {
    {
      await using session = await appSession(jr, "jr-restart-close-");
      const { dir, peer } = session;
      peer(["python3", "-c", READER, peerAddr, `${PORT}`, `${dir}/peer`, "3"]);
      await new Promise((r) => setTimeout(r, 800));
      const gone = runShim(jr, ["python3", "-c", EXITING, peerAddr, `${PORT}`, dir, `${BYTES}`]);
      const app = runShim(jr, ["python3", "-c", APP, peerAddr, `${PORT}`, dir, `${BYTES}`], {
        timeoutMs: 120_000,
      });
      assertEquals((await gone).code, 0);
      await until("the app's close and shutdown", () => exists(`${dir}/closed`), 30_000);
      await restartAndWait(jr, "tcp");
      // The app lives on: only the restarted server can end the streams.
      await until("the peer read both to the end", () => exists(`${dir}/peer`), 60_000);
      const lines = Deno.readTextFileSync(`${dir}/peer`).trim().split("\n");
      assertEquals(lines.filter((l) => !l.startsWith("E")), [`C ${BYTES} eof`, `S ${BYTES} eof`]);
      // The exited app's stream: whole, or reset; never cut short with a clean end.
      const e = lines.find((l) => l.startsWith("E")) ?? "E none";
      assert(e === `E ${BYTES} eof` || e.endsWith(" reset"), e);
      Deno.writeTextFileSync(`${dir}/done`, "");
      const out = await app;
      assertEquals(out.code, 0, `app: ${out.stdout}${out.stderr}`);
    }
    assertEquals(await jr.leftovers(), []);
  },
);

/**
 * The socket API's semantics under the shim (DESIGN §6), one check per line of
 * tests/_shim_surface.py run with LD_PRELOAD against a TCP echo server on the peer:
 * non-blocking connect (EINPROGRESS, POLLOUT, SO_ERROR), ECONNREFUSED both ways, EAGAIN,
 * names and options, FIONREAD, MSG_PEEK, scatter/gather, dup/dup2, fcntl O_NONBLOCK, epoll
 * (level, edge, ONESHOT, mixed with a kernel pipe), select, threads, fork, shutdown, EPIPE with
 * MSG_NOSIGNAL and SIGPIPE without. Own instance ("shimsurface").
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { appSession, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("shimsurface"));
const peerAddr = jr.config.topology.peerAddress;

const echoServer = `
import socket, threading
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7100))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

systemTest(
  "shim surface: connect, errors, options, dup, fcntl, epoll, select, threads, fork, SIGPIPE",
  async () => {
    {
      await using session = await appSession(jr, "jr-shimsurface-");
      session.peer(["python3", "-c", echoServer]);
      await new Promise((r) => setTimeout(r, 1000));
      const r = await runShim(
        jr,
        ["python3", `${repoRoot}/tests/_shim_surface.py`, peerAddr, "7100", "7101"],
        { timeoutMs: 120_000 },
      );
      const lines = r.stdout.trim().split("\n");
      const failed = lines.filter((l) => !l.endsWith(" ok"));
      assertEquals(failed, [], `${r.stdout}\n${r.stderr}`);
      assertEquals(r.code, 0, r.stderr);
      assert(lines.length >= 35, `only ${lines.length} checks ran:\n${r.stdout}\n${r.stderr}`);
    }
  },
);

/**
 * Socket API edge cases and more programs, each end under the shim against the kernel's stack
 * on the peer host (tests/_interop_more.py): non-blocking connect + select + SO_ERROR (also
 * ECONNREFUSED), MSG_WAITALL, MSG_PEEK, recv_into, makefile, sendall of 4 MB, half-close both
 * ways (POLLRDHUP), a peer's RST (ECONNRESET once, then EOF; send: EPIPE + SIGPIPE unless
 * MSG_NOSIGNAL), names, IPv6, UDP connect/send and datagrams up to 65,507 bytes (45 IPv4
 * fragments), ICMP port unreachable → ECONNREFUSED on a connected UDP socket, FIONREAD and
 * SIOCOUTQ, TCP_INFO, dup2 over a socket; locally: SO_REUSEADDR rebinding after close,
 * options read back as Linux does (TCP_CORK, doubled SO_SNDBUF), close-on-exec. Then
 * python's http.server (listen backlog 5) under `ab -c 50`: a full accept queue must not reset
 * connections (Linux drops the handshake's ACK and the peer retries). Own instance; everything
 * started here is ended by pid.
 */
import { assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, TestInstance, uniqueInstance } from "./_system.ts";
import { Bg, eventually, runShim, shimEnvOf } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("intmore"));
const addr = jr.config.topology.joyrideAddress;
const peerAddr = jr.config.topology.peerAddress;
const PY = `${repoRoot}/tests/_interop_more.py`;

/** The checks of `_interop_more.py client`, in order. */
const CLIENT_CHECKS = [
  "nonblocking-connect",
  "nonblocking-connect-refused",
  "blocking-connect-refused",
  "sendall-4MB-echo",
  "msg-waitall",
  "recv-into",
  "makefile",
  "msg-peek",
  "shutdown-half-close",
  "peer-half-close",
  "rst-econnreset",
  "rst-sigpipe",
  "getsockname-getpeername",
  "ipv6-connect",
  "udp-connect-send",
  "udp-large",
  "udp-connected-refused",
  "fionread-siocoutq",
  "tcp-info",
  "dup2-over-socket",
];
const LOCAL_CHECKS = ["reuseaddr-rebind", "options", "cloexec"];

const oks = (names: string[]) => names.map((n) => `ok ${n}`);

Deno.test({
  name: "interop more: socket API edge cases both ways, http.server under ab -c 50",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  await jr.cli(["stop"]);
  const tmp = Deno.makeTempDirSync({ prefix: "jr-intmore-" });
  Deno.chmodSync(tmp, 0o755);
  const bgs: Bg[] = [];
  const joyride = (cmd: string[]) => {
    const b = new Bg(cmd, shimEnvOf(jr), tmp);
    bgs.push(b);
    return b;
  };
  const peer = (cmd: string[]) => {
    const b = new Bg(["ip", "netns", "exec", jr.peerNs, ...cmd], undefined, tmp);
    bgs.push(b);
    return b;
  };
  const listening = async (host: string, port: number, what: Bg) => {
    const up = await eventually(
      async () => (await jr.peer(["nc", "-z", "-w", "1", host, `${port}`])).code === 0,
      15_000,
    );
    if (!up) {
      const o = await what.stop();
      throw new Error(`nothing listens on ${host}:${port}: ${o.stdout}${o.stderr}`);
    }
  };
  try {
    const start = await jr.cli(["start", "--detach"]);
    assertEquals(start.code, 0, `start --detach failed: ${start.stdout}${start.stderr}`);

    await t.step("client under the shim, server on the peer (kernel)", async () => {
      const srv = peer(["python3", PY, "server", "7400"]);
      await listening(peerAddr, 7400, srv);
      const r = await runShim(jr, ["python3", PY, "client", peerAddr, "7400"], {
        timeoutMs: 60_000,
      });
      assertEquals(r.stdout.trim().split("\n"), oks(CLIENT_CHECKS), r.stderr);
    });

    await t.step("server under the shim, client on the peer (kernel)", async () => {
      const srv = joyride(["python3", PY, "server", "7410"]);
      await listening(addr, 7410, srv);
      const r = await jr.peer(["python3", PY, "client", addr, "7410"], { timeoutMs: 60_000 });
      assertEquals(r.stdout.trim().split("\n"), oks(CLIENT_CHECKS), r.stderr);
    });

    await t.step("local: rebinding, options as Linux reads them, close-on-exec", async () => {
      const r = await runShim(jr, ["python3", PY, "local", addr], { timeoutMs: 30_000 });
      assertEquals(r.stdout.trim().split("\n"), oks(LOCAL_CHECKS), r.stderr);
    });

    await t.step("python http.server (backlog 5) under ab -c 50: no resets", async () => {
      Deno.writeTextFileSync(`${tmp}/index.html`, "x".repeat(5000));
      const srv = joyride(["python3", "-m", "http.server", "7420", "--bind", "0.0.0.0"]);
      await listening(addr, 7420, srv);
      const r = await jr.peer(["ab", "-q", "-n", "400", "-c", "50", `http://${addr}:7420/`], {
        timeoutMs: 60_000,
      });
      assertEquals(r.code, 0, `ab: ${r.stdout}${r.stderr}`);
      const field = (k: string) => r.stdout.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1];
      assertEquals([field("Complete requests"), field("Failed requests")], ["400", "0"], r.stdout);
    });
  } finally {
    for (const b of bgs) await b.stop();
    await jr.cli(["stop"]);
    Deno.removeSync(tmp, { recursive: true });
    jr.dispose();
  }
});

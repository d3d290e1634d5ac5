/**
 * Socket API edge cases and more programs, one end under the shim, the other on the peer host
 * (the kernel's stack), both ways where it applies (tests/_interop_more.py):
 * - non-blocking connect + select + SO_ERROR (also ECONNREFUSED), MSG_WAITALL, MSG_PEEK,
 *   recv_into, makefile, sendall of 4 MB, half-close both ways (POLLRDHUP), a peer's RST
 *   (ECONNRESET once, then EOF; send: EPIPE + SIGPIPE unless MSG_NOSIGNAL), names, IPv6,
 *   UDP connect/send, datagrams up to 65,507 bytes (45 IPv4 fragments), ICMP port
 *   unreachable → ECONNREFUSED, FIONREAD/SIOCOUTQ, TCP_INFO, dup2 over a socket, sendto
 *   and sendmsg MSG_FASTOPEN, errno of calls in the wrong state, dual-stack UDP, libc's
 *   syscall() on a socket, the port a first UDP send binds, IPv6's 65,527-byte datagrams,
 *   sendto port 0, shutdown of an unconnected UDP socket waking its reader, a fresh TCP socket
 *   polling writable and hung up, interface ioctls, IPV6_V6ONLY and IPv4-mapped peers;
 * - locally: SO_REUSEADDR rebinding after close, options read back as Linux does (TCP_CORK,
 *   doubled SO_SNDBUF), close-on-exec, sockets carried into subprocess children (pass_fds,
 *   stdin=socket, os.posix_spawn);
 * - a C program (tests/_interop_more.c): accept4 flags, epoll EPOLLET|ONESHOT re-armed,
 *   EPOLLEXCLUSIVE, EPOLLRDHUP, SO_LINGER 0, SIGPIPE, TCP_CORK, dup2 of a kernel fd over a
 *   socket; a connection carried into children of system(), popen() and posix_spawn()
 *   (there moved to fd 0); stdio over sockets;
 * - programs: bash's /dev/tcp with builtins, git daemon (its children write through stdio),
 *   iperf3 -u (dual-stack, 8000/60000-byte datagrams), socat UDP-LISTEN,fork, IPv6 echo and
 *   discard and a :: listener across `restart tcp`, python's http.server (listen backlog 5)
 *   under `ab -c 30` (a full accept queue must not reset connections: Linux drops the
 *   handshake's ACK and the peer retries), a program whose instance is stopped.
 * Own instance; everything started here is ended by pid.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, run, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { appSession, compileC, runShim, sha256File, writeSeeded } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("intmore"));
const addr = jr.config.topology.joyrideAddress;
const peerAddr = jr.config.topology.peerAddress;
const peerAddr6 = jr.config.topology.peerAddress6.split("/")[0];
const PY = `${repoRoot}/tests/_interop_more.py`;

/** The checks of `_interop_more.py client`, in order. */
const CLIENT_CHECKS = [
  "nonblocking-connect",
  "nonblocking-connect-refused",
  "nonblocking-connect-retry",
  "connect-when-connected",
  "blocking-connect-refused",
  "sendall-4MB-echo",
  "writes-just-past-mss",
  "select-time-left",
  "msg-waitall",
  "recv-into",
  "makefile",
  "msg-peek",
  "shutdown-half-close",
  "peer-half-close",
  "rst-econnreset",
  "rst-sigpipe",
  "rst-after-fin",
  "epollhup-after-data",
  "send-after-shut-wr",
  "fork-exit-closes",
  "close-unread-rst",
  "getsockname-getpeername",
  "ipv6-connect",
  "udp-connect-send",
  "udp-large",
  "udp-v6-socket-v4-peer",
  "udp-connected-refused",
  "udp-pktinfo-recvttl",
  "udp-shutdown-write",
  "fionread-siocoutq",
  "tcp-info",
  "dup2-over-socket",
  "sendto-msg-fastopen",
  "sendmsg-msg-fastopen",
  "fstat-is-socket",
  "raw-clone-fork",
  "rlimit-as-beside-region",
  "unknown-sockopt",
  "raw-syscall-socket",
  "udp-implicit-bind-name",
  "udp6-max-payload",
  "v6only-mapped",
  "udp-sendto-port-0",
  "udp-shutdown-unconnected",
  "fresh-socket-poll",
  "bindtodevice-keepcnt",
  "ifreq-ioctls",
  "owner-async-ioctls",
  "errno-table",
  "udp-ttl-per-datagram",
  "raw-close-range-dprintf-readv",
  "shutdown-while-connecting",
  "udp-multicast",
];
const LOCAL_CHECKS = [
  "linux-option-values",
  "accept-inherits-options",
  "udp-errqueue-and-loop",
  "reuseaddr-rebind",
  "options",
  "cloexec",
  "subprocess-children",
  "connect-any-address",
  "listener-shutdown",
  "v6only-readback",
  "udp-pktinfo-local",
  "oob-inline",
  "rst-wakes-blocked-recv",
  "killed-child-lets-go",
  "fd-handover",
  "handover-without-proc",
  "epoll-from-thread",
  "deepbind-library",
  "recv-zero-length",
  "connect-again",
  "keepalive-range",
  "poll-norm-bits",
  "udp-close-drains",
  "rebind-after-killed-child",
  "exec-without-preload",
  "epoll-after-child-close",
  "epoll-fairness",
  "accept-sees-queued-data",
  "env-cleared-first",
  "socket-seek",
  "exec-keeps-loopback-twin",
  "killed-with-unread-resets",
  "loopback-reach",
  "reset-after-queued-data",
  "udp-loopback",
  "euid-first-socket",
  "addrconfig",
  "udp6-mapped-name",
  "mapped-v6only",
  "loopback-keeps-options",
  "udp-timestamps",
  "dup2-over-high-fds",
];
/** The checks of `_interop_more.c`, in order. */
const C_CHECKS = [
  "sock-cloexec",
  "accept4-flags",
  "epoll-et-oneshot",
  "epoll-rdhup",
  "epoll-exclusive",
  "epoll-dup",
  "epoll-reused-number",
  "epoll-before-loopback-connect",
  "linger0-rst",
  "sigpipe",
  "tcp-cork",
  "fionread",
  "dup2-kernel-over-socket",
  "close-range",
  "recv-while-closed",
  "send-while-shut",
  "recv-trunc-discards",
  "errqueue-empty",
  "peek-waitall",
  "select-past-1023",
  "ioctl-and-shutdown-args",
  "exit-while-blocked",
  "nonblock-shared",
  "bad-arguments",
  "wrong-family",
  "bind-unspec",
  "udp-many-iovecs",
  "listener-not-connected",
  "epoll-pwait2",
  "eintr-after-dup2",
  "freopen-std",
  "getifaddrs-lists-address",
  "siglongjmp-out-of-recv",
  "call-in-handler",
  "closefrom-keeps-shim",
  "close-loop-keeps-shim",
];

const oks = (names: string[]) => names.map((n) => `ok ${n}`);

systemTest(
  "interop more: socket API edge cases both ways, spawn/stdio, bash, git, iperf3 -u, ab",
  async (t) => {
    {
      await using session = await appSession(jr, "jr-intmore-", 0o755);
      const { dir: tmp, joyride, peer, listening } = session;

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

      await t.step(
        "C: accept4 flags, epoll, linger 0, SIGPIPE…; system/popen/posix_spawn",
        async () => {
          const bin = `${tmp}/more`;
          await compileC(bin, `${repoRoot}/tests/_interop_more.c`);
          const r = await runShim(jr, [bin, addr, "7430"], { timeoutMs: 30_000 });
          assertEquals(r.stdout.trim().split("\n"), oks(C_CHECKS), r.stderr);
          const s = await runShim(jr, [bin, addr, "7431", "spawn"], { timeoutMs: 30_000 });
          assertEquals(
            s.stdout.trim().split("\n"),
            oks(["system", "popen", "posix_spawn-dup2", "stdio-fdopen", "parent-after-children"]),
            s.stderr,
          );
        },
      );

      await t.step("bash /dev/tcp: builtins write to the socket, stdout comes back", async () => {
        // the peer's server of the first step echoes after an "echo" line
        const script = `exec 3<>/dev/tcp/${peerAddr}/7400; echo echo >&3; ` +
          `printf 'hello %s\\n' world >&3; echo to-stdout; read -r line <&3; ` +
          `echo "got: $line"; exec 3>&-`;
        const r = await runShim(jr, ["bash", "-c", script], { timeoutMs: 20_000 });
        assertEquals([r.code, r.stdout], [0, "to-stdout\ngot: hello world\n"], r.stderr);
      });

      await t.step("git daemon (children with the socket as stdio) serves a clone", async () => {
        // git daemon hands each connection to a `git daemon --serve` child on its stdin and
        // stdout, which writes through stdio (a FILE's writes are libc-internal).
        const g = (args: string[], cwd = tmp) =>
          run(["sh", "-c", `cd ${cwd} && git -c user.email=t@t -c user.name=t ${args.join(" ")}`]);
        writeSeeded(`${tmp}/blob.bin`, 300_000, 5);
        Deno.mkdirSync(`${tmp}/src`);
        Deno.copyFileSync(`${tmp}/blob.bin`, `${tmp}/src/blob.bin`);
        for (
          const a of [
            ["init", "-q", "-b", "main", "src"],
            ["-C", "src", "add", "blob.bin"],
            ["-C", "src", "commit", "-q", "-m", "x"],
            ["clone", "-q", "--bare", "src", "git/repo.git"],
          ]
        ) {
          const r = await g(a);
          assertEquals(r.code, 0, `git ${a.join(" ")}: ${r.stderr}`);
        }
        const srv = joyride([
          "git",
          "daemon",
          "--reuseaddr",
          `--base-path=${tmp}/git`,
          "--export-all",
          "--port=9418",
          "--listen=0.0.0.0",
          `${tmp}/git`,
        ]);
        await listening(addr, 9418, srv);
        const r = await jr.peer(["git", "clone", "-q", `git://${addr}/repo.git`, `${tmp}/clone`], {
          timeoutMs: 30_000,
        });
        assertEquals(r.code, 0, `clone: ${r.stderr}`);
        assertEquals(
          await sha256File(`${tmp}/clone/blob.bin`),
          await sha256File(`${tmp}/blob.bin`),
        );
      });

      await t.step(
        "iperf3 -u (dual-stack UDP server), 8000- and 60000-byte datagrams",
        async () => {
          for (const [port, len] of [[5301, 8000], [5302, 60000]]) {
            // not -1: the readiness probe (a bare connection) would be its one test
            const srv = joyride(["iperf3", "-s", "-p", `${port}`]);
            await listening(addr, port, srv);
            // The probe's bare connection keeps iperf3 busy a moment ("server is busy"): retried.
            let r = { code: -1, stdout: "", stderr: "" };
            for (let i = 0; i < 5; i++) {
              await new Promise((res) => setTimeout(res, 500));
              r = await jr.peer([
                "iperf3",
                "-c",
                addr,
                "-p",
                `${port}`,
                "-u",
                "-l",
                `${len}`,
                "-b",
                "10M",
                "-t",
                "1",
                "--json",
              ], { timeoutMs: 30_000 });
              if (r.code === 0) break;
            }
            assertEquals(r.code, 0, `iperf3 -u -l ${len}: ${r.stdout.slice(-600)}${r.stderr}`);
            const sum = JSON.parse(r.stdout).end.sum_received;
            // Every datagram reassembled and delivered (a loss would be a drop of a whole
            // fragmented datagram; at 10 Mbit/s on the veth there is none).
            assert(sum.packets > 0 && sum.lost_packets === 0, JSON.stringify(sum));
          }
        },
      );

      await t.step("socat UDP-LISTEN,fork: each client its own forked child", async () => {
        // The parent closes its copy of the socket right after fork: the child's reference
        // must already be counted (it was counted in the child: EBADF on its connect).
        // -T 1: each forked child ends after 1 s without traffic (it is no process of ours to
        // end by pid: socat starts it).
        const srv = joyride(["socat", "-T", "1", "UDP-LISTEN:5500,fork,reuseaddr", "EXEC:cat"]);
        const got: string[] = [];
        for (let i = 0; i < 3; i++) {
          let r = { code: -1, stdout: "", stderr: "" };
          for (let k = 0; k < 10 && r.stdout === ""; k++) {
            r = await jr.peer(["sh", "-c", `echo hello${i} | socat -t 1 - UDP:${addr}:5500`], {
              timeoutMs: 10_000,
            });
          }
          got.push(r.stdout.trim());
        }
        const o = got.join(",") === "hello0,hello1,hello2" ? undefined : await srv.stop();
        assertEquals(got, ["hello0", "hello1", "hello2"], o?.stderr);
      });

      await t.step("IPv6 echo/discard; a :: listener and UDP echo across restart tcp", async () => {
        const srv = joyride(["python3", PY, "dual", "7440"]);
        await listening(addr, 7440, srv);
        const a6 = jr.config.topology.joyrideAddress6.split("/")[0];
        const want = [addr, a6].flatMap((h) => [
          `dual ${h} hello ${h === addr ? `::ffff:${peerAddr}` : peerAddr6}`,
          `tcp-echo ${h} tcp-echo`,
          `discard ${h} eof`,
          `udp-echo ${h} udp-echo`,
        ]);
        for (const when of ["before", "after"]) {
          if (when === "after") {
            const r = await jr.cli(["restart", "tcp"]);
            assertEquals(r.code, 0, `restart tcp: ${r.stdout}${r.stderr}`);
          }
          let got: string[] = [];
          // The restarted server takes its apps back within a few seconds: retried until then.
          for (let i = 0; i < 20; i++) {
            const r = await jr.peer(["python3", PY, "probe", addr, a6, "7440"], {
              timeoutMs: 60_000,
            });
            got = r.stdout.trim().split("\n");
            if (got.join() === want.join()) break;
            await new Promise((res) => setTimeout(res, 500));
          }
          assertEquals(got, want, when);
        }
      });

      await t.step("python http.server (backlog 5) under ab -c 30: no resets", async () => {
        Deno.writeTextFileSync(`${tmp}/index.html`, "x".repeat(5000));
        const srv = joyride(["python3", "-m", "http.server", "7420", "--bind", "0.0.0.0"]);
        await listening(addr, 7420, srv);
        const r = await jr.peer(["ab", "-q", "-n", "300", "-c", "30", `http://${addr}:7420/`], {
          timeoutMs: 60_000,
        });
        assertEquals(r.code, 0, `ab: ${r.stdout}${r.stderr}`);
        const field = (k: string) => r.stdout.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1];
        assertEquals(
          [field("Complete requests"), field("Failed requests")],
          ["300", "0"],
          r.stdout,
        );
      });
      await t.step("the instance stopped under a program: its closes fail fast", async () => {
        // Before: every call waited out the shim's 10 s call deadline (nginx took 10 s to exit).
        const prog = joyride(["python3", PY, "orphan", "7450"]);
        await listening(addr, 7450, prog);
        const stop = await jr.cli(["stop"]);
        assertEquals(stop.code, 0, stop.stderr);
        const o = await prog.stop();
        const took = Number(o.stdout.match(/closed in ([\d.]+) s/)?.[1] ?? NaN);
        assert(
          took < 5,
          `closes after the instance stopped took ${took} s: ${o.stdout}${o.stderr}`,
        );
      });
    }
  },
);

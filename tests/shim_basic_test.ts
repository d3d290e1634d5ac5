/**
 * The shim with small unmodified programs (issue 5): nc both ways (byte-exact by sha256), two
 * programs sharing Joyride's port space (EADDRINUSE across apps), AF_UNIX going to the kernel,
 * the service-down message and policies, and a program started inside `./joyride shell`.
 * Own instance ("shimbasic"); everything started here is ended by pid; the instance is stopped
 * even when a step fails.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import {
  coreShare,
  repoRoot,
  run,
  serverOf,
  systemTest,
  TestInstance,
  uniqueInstance,
  until,
} from "./_system.ts";
import { appSession, eventually, runShim, sha256File, writeSeeded } from "./_apps.ts";

/** Python lines that make `name` a TCP socket listening on every address at `port`. */
function pyListener(name: string, port: number, backlog: number): string {
  return `import socket\n${name}=socket.socket()\n` +
    `${name}.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n` +
    `${name}.bind(('0.0.0.0',${port}))\n${name}.listen(${backlog})\n`;
}

const jr = new TestInstance(uniqueInstance("shimbasic"));
/** A web server's port: per test process, as its host-loopback twin is shared by runs. */
const WEB_PORT = 30000 + Deno.pid % 2000;
const addr = jr.config.topology.joyrideAddress;
const peerAddr = jr.config.topology.peerAddress;

systemTest(
  "shim: nc both ways, EADDRINUSE across apps, AF_UNIX fallback, service down, shell",
  async (t) => {
    {
      await using session = await appSession(jr, "jr-shimbasic-");
      const tmp = session.dir;
      const input = `${tmp}/in.bin`;
      writeSeeded(input, 2_000_000);
      const want = await sha256File(input);

      await t.step("nc under Joyride → kernel peer: 2 MB byte-exact", async () => {
        const out = `${tmp}/out1.bin`;
        const srv = session.peer([
          "sh",
          "-c",
          `exec nc -l -p 6001 > ${out} < /dev/null`,
        ]);
        await new Promise((r) => setTimeout(r, 500));
        const r = await runShim(jr, ["sh", "-c", `nc -N ${peerAddr} 6001 < ${input}`], {
          timeoutMs: 60_000,
        });
        assertEquals(r.code, 0, r.stderr);
        const o = await Promise.race([
          srv.out,
          new Promise((res) => setTimeout(() => res(undefined), 20_000)),
        ]);
        assert(o !== undefined, "peer nc did not see the end of the stream");
        assertEquals(await sha256File(out), want, "sha256 at the peer");
      });

      await t.step(
        "a sender blocked on a peer that stopped reading: the TCP/IP server sleeps",
        async () => {
          // The peer takes the connection and never reads: windows fill, the app blocks in send.
          const sink = session.peer([
            "python3",
            "-c",
            pyListener("s", 6003, 1) + "import time\nc,_=s.accept()\ntime.sleep(60)",
          ]);
          await session.listening(peerAddr, 6003, sink);
          const app = session.joyride([
            "python3",
            "-c",
            `import socket\ns=socket.create_connection(('${peerAddr}',6003))\n` +
            "while True: s.send(b'x'*65536)",
          ]);
          const tcp = serverOf(await jr.status(), "tcp").pid!;
          const used = await coreShare(tcp, 2000); // the windows are full after 2 s
          await app.stop();
          await sink.stop();
          // It spun a whole core before: the app's unsent bytes counted as work to do.
          assert(used < 0.1, `TCP/IP server at ${(used * 100).toFixed(1)} % of a core`);
        },
      );

      await t.step(
        "a connection waiting for accept() on an app's listener: the TCP/IP server sleeps",
        async () => {
          // The app is busy elsewhere (or not ready): its queue holds a connection. That is the
          // app's work, not the server's: it spun a whole core and, its event loop starved, was
          // killed for a silent heartbeat and restarted over and over.
          const lsn = session.joyride([
            "python3",
            "-c",
            pyListener("s", 6005, 16) + "import time\ntime.sleep(60)",
          ]);
          await session.listening(addr, 6005, lsn);
          const cli = session.peer([
            "python3",
            "-c",
            `import socket,time\nc=socket.create_connection(('${addr}',6005))\ntime.sleep(60)`,
          ]);
          const tcp = serverOf(await jr.status(), "tcp").pid!;
          const used = await coreShare(tcp, 1000);
          await cli.stop();
          await lsn.stop();
          assert(used < 0.1, `TCP/IP server at ${(used * 100).toFixed(1)} % of a core`);
          assertEquals(
            serverOf(await jr.status(), "tcp").pid,
            tcp,
            "the TCP/IP server was restarted",
          );
        },
      );

      await t.step(
        "4,000 idle datagram sockets of an app: the TCP/IP server sleeps; one still echoes",
        async () => {
          // Datagram sockets were pumped every turn: 4,000 idle ones kept the server at 30 % of
          // a core, and each socket() (a turn) pumped all before it (8 s to make them).
          const app = session.joyride([
            "python3",
            "-c",
            "import socket,resource,time,sys\n" +
            "h=resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n" +
            "resource.setrlimit(resource.RLIMIT_NOFILE,(h,h))\n" +
            "t=time.time()\n" +
            "s=[socket.socket(socket.AF_INET,socket.SOCK_DGRAM) for _ in range(4000)]\n" +
            "for i in range(0,4000,3): s[i].bind(('0.0.0.0',0))\n" +
            "e=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); e.bind(('0.0.0.0',6011))\n" +
            "print('made %.1f' % (time.time()-t), flush=True)\n" +
            "while True:\n d,a=e.recvfrom(100); e.sendto(d,a)",
          ]);
          // Up once the echo socket (made last) answers from the peer.
          const ping = async () =>
            (await jr.peer([
              "python3",
              "-c",
              "import socket\nu=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" +
              `u.settimeout(1)\nu.sendto(b'ping',('${addr}',6011))\nassert u.recv(100)==b'ping'`,
            ])).code === 0;
          const up = await eventually(ping, 60_000);
          const tcp = serverOf(await jr.status(), "tcp").pid!;
          const used = await coreShare(tcp, 1000);
          const again = await ping();
          const o = await app.stop();
          assert(up, `the app's echo never answered: ${o.stdout}${o.stderr}`);
          assert(used < 0.1, `TCP/IP server at ${(used * 100).toFixed(1)} % of a core`);
          assert(again, "the echo stopped answering");
        },
      );

      await t.step(
        "300 connections idle under an app, then each echoes a line at once",
        async () => {
          // The socket service skips a quiet socket's pump until the app or the engine changes
          // something for it: every one of these must still be woken by its data.
          const srv = session.joyride([
            "python3",
            "-c",
            pyListener("l", 6004, 512) +
            "import selectors\nsel=selectors.DefaultSelector()\nl.setblocking(False)\n" +
            "sel.register(l,selectors.EVENT_READ)\nwhile True:\n for k,_ in sel.select():\n" +
            "  if k.fileobj is l:\n   c,_=l.accept()\n   c.setblocking(False)\n" +
            "   sel.register(c,selectors.EVENT_READ)\n  else:\n   d=k.fileobj.recv(4096)\n" +
            "   if d: k.fileobj.sendall(d)\n   else:\n    sel.unregister(k.fileobj)\n" +
            "    k.fileobj.close()",
          ]);
          await session.listening(addr, 6004, srv);
          const peer = jr.peer([
            "python3",
            "-c",
            `import socket,time\ncs=[socket.create_connection(('${addr}',6004),timeout=10)` +
            " for _ in range(300)]\ntime.sleep(4)\nfor i,c in enumerate(cs): c.sendall(b'%d\\n'%i)\n" +
            "for i,c in enumerate(cs):\n d=b''\n while not d.endswith(b'\\n'): d+=c.recv(100)\n" +
            " assert d==b'%d\\n'%i,(i,d)\nprint('echoed',len(cs))",
          ], { timeoutMs: 60_000 });
          // While they idle, the service pumps only the sockets that may have work (the
          // listener, a few the round-robin look takes), not all 300 every turn.
          const tcpStats = async () =>
            serverOf(await jr.status(), "tcp").stats as {
              appService: { awake: number };
              apps: { sockets: number }[];
            };
          // The server app holds its listener and the 300 it accepted.
          await until(
            "300 connections",
            async () => (await tcpStats()).apps.some((a) => a.sockets >= 301),
            20_000,
          );
          await new Promise((r) => setTimeout(r, 1000));
          const n = (await tcpStats()).appService.awake;
          assert(n < 30, `${n} sockets pumped every turn while 300 idle`);
          const r = await peer;
          await srv.stop();
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout.trim(), "echoed 300");
        },
      );

      await t.step("kernel peer → nc under Joyride: 2 MB byte-exact", async () => {
        const out = `${tmp}/out2.bin`;
        const srv = session.joyride(["sh", "-c", `exec nc -l -p 6002 > ${out} < /dev/null`]);
        await new Promise((r) => setTimeout(r, 800));
        const r = await jr.peer(["sh", "-c", `nc -N ${addr} 6002 < ${input}`], {
          timeoutMs: 60_000,
        });
        assertEquals(r.code, 0, r.stderr);
        const o = await Promise.race([
          srv.out,
          new Promise((res) => setTimeout(() => res(undefined), 20_000)),
        ]);
        assert(o !== undefined, "nc under Joyride did not see the end of the stream");
        assertEquals(await sha256File(out), want, "sha256 under Joyride");
      });

      await t.step(
        "UDP under Joyride: sendto/recvfrom and a connected socket, to the peer",
        async () => {
          const echo = session.peer([
            "python3",
            "-c",
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" +
            "s.bind(('0.0.0.0',7007))\nwhile True:\n d,a=s.recvfrom(65536)\n s.sendto(d.upper(),a)",
          ]);
          await new Promise((r) => setTimeout(r, 800));
          const r = await runShim(jr, [
            "python3",
            "-c",
            "import socket,os\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(5)\n" +
            `print(os.readlink(f'/proc/self/fd/{s.fileno()}'))\n` +
            `for i in range(3):\n s.sendto(b'ping%d'%i,('${peerAddr}',7007))\n` +
            " d,a=s.recvfrom(100)\n print(d.decode(),a[0],a[1])\n" +
            "big=bytes(range(256))*5\n" +
            `s.sendto(big,('${peerAddr}',7007))\nprint(s.recvfrom(65536)[0]==big.upper())\n` +
            "c=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nc.settimeout(5)\n" +
            `c.connect(('${peerAddr}',7007))\nc.send(b'conn')\nprint(c.recv(100).decode())`,
          ], { timeoutMs: 30_000 });
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout.trim().split("\n"), [
            "anon_inode:[eventfd]",
            `PING0 ${peerAddr} 7007`,
            `PING1 ${peerAddr} 7007`,
            `PING2 ${peerAddr} 7007`,
            "True",
            "CONN",
          ]);
          // sendmmsg/recvmmsg (a C program: Python has neither).
          const bin = `${tmp}/mmsg`;
          const cc = await run(["cc", "-O1", "-o", bin, `${repoRoot}/tests/_shim_mmsg.c`]);
          assertEquals(cc.code, 0, cc.stderr);
          const mm = await runShim(jr, [bin, peerAddr, "7007"], { timeoutMs: 30_000 });
          assertEquals(mm.stdout.trim(), "sent 3 got 3 ONE TWO THREE", mm.stderr);
          await echo.stop();
        },
      );

      await t.step(
        "a server on 0.0.0.0 under Joyride: the peer and the host's 127.0.0.1 reach it",
        async () => {
          const dir = `${tmp}/www`;
          Deno.mkdirSync(dir);
          Deno.writeTextFileSync(`${dir}/index.html`, "same-host\n");
          const srv = session.joyride(
            ["python3", "-m", "http.server", String(WEB_PORT), "-d", dir],
          );
          await new Promise((r) => setTimeout(r, 1500));
          const peer = await jr.peer(["curl", "-s", "-m", "10", `http://${addr}:${WEB_PORT}/`]);
          assertEquals(peer.stdout, "same-host\n", peer.stderr);
          const host = await run(["curl", "-s", "-m", "10", `http://127.0.0.1:${WEB_PORT}/`]);
          assertEquals(host.stdout, "same-host\n", host.stderr);
          const again = await jr.peer(["curl", "-s", "-m", "10", `http://${addr}:${WEB_PORT}/`]);
          assertEquals(again.stdout, "same-host\n", again.stderr);
          await srv.stop();
        },
      );

      await t.step("two programs: the second bind of a port gets EADDRINUSE", async () => {
        const holder = session.joyride([
          "python3",
          "-c",
          "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',6003))\ns.listen()\n" +
          "print('listening',flush=True)\ntime.sleep(30)",
        ]);
        await new Promise((r) => setTimeout(r, 1000));
        const r = await runShim(jr, [
          "python3",
          "-c",
          "import socket,errno\ns=socket.socket()\ntry:\n s.bind(('0.0.0.0',6003))\n print('bound')\n" +
          "except OSError as e:\n print(errno.errorcode[e.errno])",
        ]);
        assertEquals(r.stdout.trim(), "EADDRINUSE", r.stderr);
        await holder.stop();
      });

      await t.step("AF_UNIX goes to the kernel; AF_INET is a placeholder eventfd", async () => {
        const r = await runShim(jr, [
          "python3",
          "-c",
          "import socket,os\na,b=socket.socketpair()\na.sendall(b'unix-ok')\nprint(b.recv(10).decode())\n" +
          "print(os.readlink(f'/proc/self/fd/{a.fileno()}').split(':')[0])\n" +
          "s=socket.socket()\nprint(os.readlink(f'/proc/self/fd/{s.fileno()}'))",
        ]);
        assertEquals(r.code, 0, r.stderr);
        const lines = r.stdout.trim().split("\n");
        assertEquals(lines[0], "unix-ok");
        assertEquals(lines[1], "socket");
        assertEquals(lines[2], "anon_inode:[eventfd]");
      });

      await t.step(
        "service down: said once on stderr, then refuse (default) or fallback",
        async () => {
          const prog =
            "import socket\nfor i in range(3):\n try:\n  socket.socket(); print('ok')\n" +
            " except OSError as e: print('err', e.errno)";
          const env = { JOYRIDE_RUNTIME_DIR: `${tmp}/nothing-here` };
          const rf = await runShim(jr, ["python3", "-c", prog], { env });
          assertEquals(rf.stdout.trim().split("\n"), ["err 13", "err 13", "err 13"]);
          assertEquals(rf.stderr.match(/Joyride service is not running/g)?.length, 1, rf.stderr);
          assert(rf.stderr.includes("refusing network sockets"), rf.stderr);
          const fb = await runShim(jr, ["python3", "-c", prog], {
            env: { ...env, JOYRIDE_POLICY: "fallback" },
          });
          assertEquals(fb.stdout.trim().split("\n"), ["ok", "ok", "ok"]);
          assertEquals(fb.stderr.match(/not running/g)?.length, 1, fb.stderr);
          assert(fb.stderr.includes("JOYRIDE_POLICY=fallback"), fb.stderr);
        },
      );

      await t.step(
        "./joyride shell: /etc/ld.so.preload names the shim, nc uses Joyride",
        async () => {
          let hostHad = true;
          try {
            Deno.statSync("/etc/ld.so.preload");
          } catch {
            hostHad = false;
          }
          const r = await jr.cli([
            "shell",
            "--",
            "sh",
            "-c",
            `cat /etc/ld.so.preload; echo via-shell | nc -N ${addr} 7`,
          ], 30_000);
          assertEquals(r.code, 0, r.stderr);
          const lines = r.stdout.trim().split("\n");
          assert(lines[0].endsWith("/build/libjoyride.so"), r.stdout);
          assertEquals(lines[1], "via-shell");
          let hostHas = true;
          try {
            Deno.statSync("/etc/ld.so.preload");
          } catch {
            hostHas = false;
          }
          assertEquals(hostHas, hostHad, "the host's /etc/ld.so.preload is untouched");
        },
      );
    }
  },
);

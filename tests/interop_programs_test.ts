/**
 * More unmodified Debian programs through `./joyride run`'s shim, both directions where it
 * makes sense, each byte-exact or with a check that could fail: socat (TCP both ways, UDP),
 * wget, python3 (asyncio streams both ways, socketserver threads, urllib), curl with HTTP
 * keep-alive (many requests, one connection), openssl s_server/s_client (TLS) both ways,
 * memcached (dropping root with -u) with a client, nc UDP, perl IO::Socket, node.js and Deno
 * http servers and clients. Own instance; everything started here is ended by pid.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, run, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { appSession, runShim, sha256File, writeSeeded } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("interop"));
const addr = jr.config.topology.joyrideAddress;
const peerAddr = jr.config.topology.peerAddress;
const PY = `${repoRoot}/tests/_interop.py`;

systemTest(
  "interop: socat, wget, python3, curl keep-alive, openssl, memcached, nc -u, perl, node, deno",
  async (t) => {
    {
      await using session = await appSession(jr, "jr-interop-", 0o755);
      const { dir: tmp, joyride, peer, listening } = session;
      const src = `${tmp}/src.bin`;
      writeSeeded(src, 1_000_000, 11);
      const want = await sha256File(src);
      /** src POSTed by curl on the peer to `port` of the app under the shim; curl's result. */
      const postSrc = (port: number) =>
        jr.peer(["curl", "-s", "--data-binary", `@${src}`, `http://${addr}:${port}/up`], {
          timeoutMs: 30_000,
        });
      /** A directory `name` holding src.bin, served over HTTP/1.1 on the peer at `port`. */
      const serveSrc = async (name: string, port: number) => {
        const web = `${tmp}/${name}`;
        Deno.mkdirSync(web);
        Deno.copyFileSync(src, `${web}/src.bin`);
        const srv = peer(["python3", PY, "http11", String(port), web]);
        await listening(peerAddr, port, srv);
        return srv;
      };

      await t.step(
        "right after start: connect to the peer; UDP to our own echo and 7.7 KB",
        async () => {
          // The first connection of a fresh instance (ARP not resolved yet): Linux queues, so must we.
          const th = peer(["python3", PY, "threads-server", "7300"]);
          await new Promise((r) => setTimeout(r, 700));
          const c = await runShim(
            jr,
            ["python3", PY, "threads-client", peerAddr, "7300", "1", "5"],
            {
              timeoutMs: 20_000,
            },
          );
          assertEquals(c.stdout.trim(), "ok 5", c.stderr);
          await th.stop();
          // Joyride's own address: its built-in UDP echo (port 7), small and fragmented datagrams.
          const own = await runShim(
            jr,
            ["python3", PY, "udp-probe", addr, "7", "10", "1472", "7700"],
            {
              timeoutMs: 20_000,
            },
          );
          assertEquals(own.stdout.trim(), "ok 3", own.stderr);
          // (Not beyond ~23 KB: the engine keeps FreeBSD's net.inet.ip.maxfragsperpacket = 16.)
          const up = peer(["python3", PY, "udp-upper", "7299"]);
          await new Promise((r) => setTimeout(r, 1500));
          const far = await runShim(jr, [
            "python3",
            PY,
            "udp-probe",
            peerAddr,
            "7299",
            "1473",
            "7700",
            "16000",
          ], { timeoutMs: 20_000 });
          assertEquals(far.stdout.trim(), "ok 3", far.stderr);
          await up.stop();
        },
      );

      await t.step("socat: TCP both ways (1 MB, sha256), UDP to the peer", async () => {
        const recv = joyride(["socat", "-u", "TCP-LISTEN:7301,reuseaddr", `CREATE:${tmp}/s1.bin`]);
        await new Promise((r) => setTimeout(r, 300));
        const send = await jr.peer([
          "socat",
          "-u",
          `FILE:${src}`,
          `TCP:${addr}:7301,retry=50,interval=0.2`,
        ], {
          timeoutMs: 30_000,
        });
        assertEquals(send.code, 0, send.stderr);
        const o = await Promise.race([recv.out, new Promise((r) => setTimeout(r, 30_000))]);
        if (!o) {
          let size = -1;
          try {
            size = Deno.statSync(`${tmp}/s1.bin`).size;
          } catch {
            // not created
          }
          throw new Error(`socat under Joyride did not see the end of the stream (${size} bytes)`);
        }
        assertEquals(await sha256File(`${tmp}/s1.bin`), want, "peer → socat under Joyride");

        // No probe: socat accepts one connection; the client retries until it listens.
        const precv = peer(["socat", "-u", "TCP-LISTEN:7302,reuseaddr", `CREATE:${tmp}/s2.bin`]);
        const s2 = await runShim(jr, [
          "socat",
          "-u",
          `FILE:${src}`,
          `TCP:${peerAddr}:7302,retry=50,interval=0.2`,
        ], {
          timeoutMs: 30_000,
        });
        assertEquals(s2.code, 0, s2.stderr);
        await Promise.race([precv.out, new Promise((r) => setTimeout(r, 20_000))]);
        assertEquals(await sha256File(`${tmp}/s2.bin`), want, "socat under Joyride → peer");

        const up = peer(["python3", PY, "udp-upper", "7303"]);
        await new Promise((r) => setTimeout(r, 1500));
        const u = await runShim(jr, ["socat", "-t", "3", "-T", "3", "-", `UDP:${peerAddr}:7303`], {
          stdin: new TextEncoder().encode("datagram through socat\n"),
          timeoutMs: 20_000,
        });
        assertEquals(u.stdout, "DATAGRAM THROUGH SOCAT\n", u.stderr);
        await up.stop();
      });

      await t.step("wget, urllib, curl keep-alive (50 requests, 1 connection)", async () => {
        const web = `${tmp}/web`;
        Deno.mkdirSync(web);
        Deno.copyFileSync(src, `${web}/src.bin`);
        Deno.writeTextFileSync(`${web}/small.txt`, "small\n");
        const srv = peer(["python3", PY, "http11", "7310", web]);
        await listening(peerAddr, 7310, srv);
        const w = await runShim(jr, [
          "wget",
          "-q",
          "-O",
          `${tmp}/w.bin`,
          `http://${peerAddr}:7310/src.bin`,
        ], { timeoutMs: 30_000 });
        assertEquals(w.code, 0, w.stderr);
        assertEquals(await sha256File(`${tmp}/w.bin`), want, "wget under Joyride");
        const u = await runShim(jr, ["python3", PY, "fetch", `http://${peerAddr}:7310/src.bin`], {
          timeoutMs: 30_000,
        });
        assertEquals(u.stdout.trim(), `ok ${want} 1000000`, u.stderr);
        const urls = Array.from({ length: 50 }, () => `http://${peerAddr}:7310/small.txt`);
        const c = await runShim(jr, [
          "curl",
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code} %{num_connects}\\n",
          ...urls,
        ], { timeoutMs: 60_000 });
        assertEquals(c.code, 0, c.stderr);
        // -o applies to the first URL: the other bodies ("small") are on stdout between rows.
        const lines = c.stdout.trim().split("\n");
        assertEquals(lines.filter((l) => l === "small").length, 49, c.stdout);
        const rows = lines.filter((l) => /^\d+ \d+$/.test(l)).map((l) => l.split(" ").map(Number));
        assertEquals(rows.length, 50);
        assert(rows.every(([code]) => code === 200), c.stdout);
        assertEquals(rows.reduce((s, [, n]) => s + n, 0), 1, "one connection, kept alive");
        await srv.stop();
      });

      await t.step("python3: asyncio streams both ways, socketserver threads", async () => {
        const a = joyride(["python3", PY, "asyncio-server", "7320"]);
        await listening(addr, 7320, a);
        const c1 = await jr.peer(["python3", PY, "asyncio-client", addr, "7320", "2000"], {
          timeoutMs: 30_000,
        });
        assertEquals(c1.stdout.trim(), "ok 2000", c1.stderr);
        const pa = peer(["python3", PY, "asyncio-server", "7321"]);
        await listening(peerAddr, 7321, pa);
        const c2 = await runShim(jr, ["python3", PY, "asyncio-client", peerAddr, "7321", "2000"], {
          timeoutMs: 30_000,
        });
        assertEquals(c2.stdout.trim(), "ok 2000", c2.stderr);
        const th = joyride(["python3", PY, "threads-server", "7322"]);
        await listening(addr, 7322, th);
        const c3 = await jr.peer(["python3", PY, "threads-client", addr, "7322", "8", "200"], {
          timeoutMs: 30_000,
        });
        assertEquals(c3.stdout.trim(), "ok 1600", c3.stderr);
        for (const b of [a, pa, th]) await b.stop();
      });

      await t.step("openssl s_server/s_client (TLS) both ways", async () => {
        const key = `${tmp}/key.pem`, cert = `${tmp}/cert.pem`;
        const g = await run([
          "openssl",
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-subj",
          "/CN=joyride",
          "-days",
          "1",
          "-keyout",
          key,
          "-out",
          cert,
        ]);
        assertEquals(g.code, 0, g.stderr);
        const sv = ["openssl", "s_server", "-quiet", "-cert", cert, "-key", key, "-www"];
        const s1 = joyride([...sv, "-accept", "7330"]);
        await listening(addr, 7330, s1);
        const r1 = await jr.peer(["curl", "-sk", "-m", "20", `https://${addr}:7330/`]);
        assert(r1.stdout.includes("Ciphers supported in s_server binary"), r1.stdout + r1.stderr);
        assert(r1.stdout.includes("New, TLSv1.3"), r1.stdout);
        const s2 = peer([...sv, "-accept", "7331"]);
        await listening(peerAddr, 7331, s2);
        const r2 = await runShim(jr, [
          "openssl",
          "s_client",
          "-quiet",
          "-ign_eof",
          "-connect",
          `${peerAddr}:7331`,
        ], { stdin: new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"), timeoutMs: 20_000 });
        assert(r2.stdout.startsWith("HTTP/1.0 200 ok"), r2.stdout + r2.stderr);
        assert(r2.stdout.includes("Ciphers supported in s_server binary"), r2.stdout);
        await s1.stop();
        await s2.stop();
      });

      await t.step("memcached under Joyride (-u nobody drops root), text protocol", async () => {
        const m = joyride(["memcached", "-u", "nobody", "-p", "7340", "-U", "0", "-t", "2"]);
        await listening(addr, 7340, m);
        const c = await jr.peer(["python3", PY, "memcache", addr, "7340", "60"], {
          timeoutMs: 30_000,
        });
        assertEquals(c.stdout.trim(), "ok 60", c.stderr);
        await m.stop();
      });

      await t.step("nc -u under Joyride; perl IO::Socket both ways", async () => {
        const up = peer(["python3", PY, "udp-upper", "7350"]);
        await new Promise((r) => setTimeout(r, 1500));
        const u = await runShim(jr, ["nc", "-u", "-w", "2", peerAddr, "7350"], {
          stdin: new TextEncoder().encode("hello over udp\n"),
          timeoutMs: 20_000,
        });
        assertEquals(u.stdout, "HELLO OVER UDP\n", u.stderr);
        await up.stop();

        const rev = peer(["python3", PY, "threads-server", "7351"]);
        await listening(peerAddr, 7351, rev);
        const client =
          `use IO::Socket::INET; my $s = IO::Socket::INET->new(PeerAddr => "${peerAddr}",
        PeerPort => 7351, Proto => "tcp", Timeout => 10) or die "connect: $!";
        for my $i (1..300) { print $s "perl line $i\\n"; my $l = <$s>; chomp $l;
        die "bad $i: $l" unless $l eq reverse("perl line $i"); } print "ok 300\\n";`;
        const pc = await runShim(jr, ["perl", "-e", client], { timeoutMs: 20_000 });
        assertEquals(pc.stdout.trim(), "ok 300", pc.stderr);
        await rev.stop();

        const server =
          `use IO::Socket::INET; $| = 1; my $l = IO::Socket::INET->new(LocalPort => 7352,
        Listen => 5, ReuseAddr => 1, Proto => "tcp") or die "listen: $!";
        while (my $c = $l->accept) { while (my $x = <$c>) { print $c uc($x); } close $c; }`;
        const ps = joyride(["perl", "-e", server]);
        await listening(addr, 7352, ps);
        const pcl = await jr.peer([
          "python3",
          "-c",
          `
import socket
s = socket.create_connection(("${addr}", 7352), timeout=10)
f = s.makefile("rwb")
for i in range(300):
    f.write(b"perl server %d\\n" % i); f.flush()
    assert f.readline() == b"PERL SERVER %d\\n" % i, i
print("ok 300")`,
        ], { timeoutMs: 20_000 });
        assertEquals(pcl.stdout.trim(), "ok 300", pcl.stderr);
        await ps.stop();
      });

      await t.step("node.js http server and client", async () => {
        const server = `require("http").createServer((q, r) => {
        let n = 0; q.on("data", (d) => n += d.length);
        q.on("end", () => r.end("node got " + n + " bytes for " + q.url + "\\n")); }).listen(7360);`;
        const ns = joyride(["node", "-e", server]);
        await listening(addr, 7360, ns);
        const urls = Array.from({ length: 50 }, (_, i) => `http://${addr}:7360/r${i}`);
        const c = await jr.peer(["curl", "-s", "-w", "%{num_connects}\\n", ...urls], {
          timeoutMs: 60_000,
        });
        const lines = c.stdout.trim().split("\n");
        const bodies = lines.filter((l) => l.startsWith("node got"));
        assertEquals(bodies, urls.map((_, i) => `node got 0 bytes for /r${i}`), c.stderr);
        assertEquals(lines.filter((l) => /^\d+$/.test(l)).reduce((s, x) => s + Number(x), 0), 1);
        const post = await postSrc(7360);
        assertEquals(post.stdout, "node got 1000000 bytes for /up\n", post.stderr);
        await ns.stop();

        const srv = await serveSrc("web2", 7361);
        const client = `const h = require("crypto").createHash("sha256"); let n = 0;
        require("http").get("http://${peerAddr}:7361/src.bin", (r) => {
          r.on("data", (d) => { h.update(d); n += d.length; });
          r.on("end", () => console.log("ok " + h.digest("hex") + " " + n)); });`;
        const nc = await runShim(jr, ["node", "-e", client], { timeoutMs: 30_000 });
        assertEquals(nc.stdout.trim(), `ok ${want} 1000000`, nc.stderr);
        await srv.stop();
      });

      await t.step("Deno (tokio: a dup'd epoll descriptor) serving and fetching", async () => {
        // mio clones its registry (F_DUPFD_CLOEXEC of the epoll fd) and registers sockets
        // through the clone while the runtime waits on the original: the shim's sets must
        // follow the epoll instance, not the descriptor number. It did not: the listener's
        // readiness came back as the shim's placeholder marker, which tokio took for a pointer
        // (SIGSEGV at the first connection).
        const deno = Deno.execPath();
        const server = `Deno.serve({ hostname: "0.0.0.0", port: 7362, onListen() {} },
          async (q) => new Response("deno got " + (await q.arrayBuffer()).byteLength +
            " bytes for " + new URL(q.url).pathname + "\\n"));`;
        const ds = joyride([deno, "eval", server]);
        await listening(addr, 7362, ds);
        const urls = Array.from({ length: 30 }, (_, i) => `http://${addr}:7362/r${i}`);
        const c = await jr.peer(["curl", "-s", ...urls], { timeoutMs: 60_000 });
        assertEquals(
          c.stdout.trim().split("\n"),
          urls.map((_, i) => `deno got 0 bytes for /r${i}`),
          c.stderr,
        );
        const post = await postSrc(7362);
        assertEquals(post.stdout, "deno got 1000000 bytes for /up\n", post.stderr);
        const ab = await jr.peer(["ab", "-q", "-n", "500", "-c", "8", `http://${addr}:7362/`], {
          timeoutMs: 60_000,
        });
        assert(/Complete requests:\s+500\b/.test(ab.stdout), ab.stdout + ab.stderr);
        assert(/Failed requests:\s+0\b/.test(ab.stdout), ab.stdout);
        const st = await ds.stop();
        assert(!/SIGSEGV|panicked/.test(st.stderr), st.stderr);

        const srv = await serveSrc("web3", 7363);
        // 20 downloads on one connection (fetch keeps it alive): each body's sha256, once each.
        const client = `const seen = new Set(); let n = 0;
          for (let i = 0; i < 20; i++) {
            const b = await (await fetch("http://${peerAddr}:7363/src.bin")).arrayBuffer();
            n += b.byteLength;
            const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b));
            seen.add(Array.from(d, (x) => x.toString(16).padStart(2, "0")).join(""));
          }
          console.log("ok " + [...seen].join(",") + " " + n);`;
        const dc = await runShim(jr, [deno, "eval", client], { timeoutMs: 60_000 });
        assertEquals(dc.stdout.trim(), `ok ${want} 20000000`, dc.stderr);
        await srv.stop();
      });
    }
  },
);

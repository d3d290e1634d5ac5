/**
 * Unmodified HTTP programs through the shim (issue 5): curl ↔ python3 -m http.server with a
 * 20 MB file both ways (sha256), and nginx under Joyride (master + 2 workers sharing one
 * listener, epoll, sendfile) with ab and wrk from the peer, no failed requests, and the 20 MB
 * file through sendfile; ab under Joyride makes more connections than there are ephemeral
 * ports to nginx on the peer. Own instance ("appshttp"); everything started here is ended by pid.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { run, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { appSession, eventually, peerHttpUp, runShim, sha256File, writeSeeded } from "./_apps.ts";
import { engineCounters, status } from "./tools/traffic.ts";

const jr = new TestInstance(uniqueInstance("appshttp"));
const addr = jr.config.topology.joyrideAddress;
const peerAddr = jr.config.topology.peerAddress;
const SIZE = 20_000_000;
/** nginx's port: per test process, as its host-loopback twin (127.0.0.1) is shared by runs. */
const NGINX_PORT = 20000 + Deno.pid % 10000;

/**
 * nginx's configuration: stock workers (no `user` line: nginx, started as root, setuid's its
 * workers to its default unprivileged user); they keep using the sockets they inherited from
 * the master (issue 6: a forked child that dropped privileges keeps its parent's capability).
 */
function nginxConf(dir: string, port: number, workers = 2, pid = "nginx.pid"): string {
  return `worker_processes ${workers};
daemon off;
master_process on;
pid ${dir}/${pid};
error_log ${dir}/error.log notice;
events { worker_connections 256; use epoll; }
http {
  access_log off;
  sendfile on;
  keepalive_timeout 30;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server { listen ${port}; root ${dir}/html; }
}
`;
}

systemTest(
  "apps: curl ↔ python http.server 20 MB both ways; nginx workers with ab, wrk, sendfile",
  async (t) => {
    {
      await using session = await appSession(jr, "jr-appshttp-", 0o755);
      const tmp = session.dir;
      const web = `${tmp}/html`;
      Deno.mkdirSync(web);
      writeSeeded(`${web}/big.bin`, SIZE, 7);
      Deno.writeTextFileSync(`${web}/index.html`, "hello from nginx under joyride\n");
      const want = await sha256File(`${web}/big.bin`);

      await t.step("python3 http.server under Joyride, curl on the peer: 20 MB", async () => {
        const srv = session.joyride(["python3", "-m", "http.server", "8080", "-d", web]);
        const up = await eventually(
          async () =>
            (await jr.peer(["curl", "-s", "-o", "/dev/null", `http://${addr}:8080/index.html`]))
              .code === 0,
          15_000,
        );
        if (!up) {
          const o = await srv.stop();
          throw new Error(`http.server under Joyride did not answer: ${o.stdout}${o.stderr}`);
        }
        const out = `${tmp}/dl1.bin`;
        const r = await jr.peer(["curl", "-sS", "-o", out, `http://${addr}:8080/big.bin`], {
          timeoutMs: 90_000,
        });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(await sha256File(out), want, "sha256 at the peer");
        await srv.stop();
      });

      await t.step("python3 http.server on the peer, curl under Joyride: 20 MB", async () => {
        const srv = session.peer([
          "python3",
          "-m",
          "http.server",
          "8081",
          "-d",
          web,
        ]);
        await peerHttpUp(jr, `http://${peerAddr}:8081/`);
        const out = `${tmp}/dl2.bin`;
        const r = await runShim(jr, ["curl", "-sS", "-o", out, `http://${peerAddr}:8081/big.bin`], {
          timeoutMs: 90_000,
        });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(await sha256File(out), want, "sha256 under Joyride");
        await srv.stop();
      });

      await t.step("nginx (2 workers, epoll, sendfile) under Joyride: ab, wrk, 20 MB", async () => {
        const conf = `${tmp}/nginx.conf`;
        Deno.writeTextFileSync(conf, nginxConf(tmp, NGINX_PORT));
        const ng = session.joyride(["nginx", "-c", conf, "-p", tmp]);
        const up = await eventually(
          async () =>
            (await jr.peer(["curl", "-s", "-o", "/dev/null", `http://${addr}:${NGINX_PORT}/`]))
              .code === 0,
          15_000,
        );
        if (!up) {
          const o = await ng.stop();
          let log = "";
          try {
            log = Deno.readTextFileSync(`${tmp}/error.log`);
          } catch {
            // none
          }
          throw new Error(`nginx under Joyride did not answer: ${o.stdout}${o.stderr}\n${log}`);
        }
        // The workers really dropped root (stock behaviour), and still serve.
        const kids = Deno.readTextFileSync(`/proc/${ng.pid}/task/${ng.pid}/children`).trim()
          .split(/\s+/).filter((x) => x).map(Number);
        assertEquals(kids.length, 2, `nginx workers: ${kids}`);
        // Each worker drops root in its own start-up: the one that answered first has, the
        // other may not be there yet (CI once caught a worker at uid 0 right after the first
        // answer), so each gets a few seconds.
        const uidOf = (k: number) =>
          Deno.readTextFileSync(`/proc/${k}/status`).match(/^Uid:\s+(\d+)/m)?.[1];
        for (const k of kids) {
          await eventually(async () => await Promise.resolve(uidOf(k) !== "0"), 5_000);
          const uid = uidOf(k);
          assert(uid !== undefined && uid !== "0", `nginx worker ${k} runs as uid ${uid}`);
        }
        const ab = await jr.peer(["ab", "-n", "400", "-c", "8", `http://${addr}:${NGINX_PORT}/`], {
          timeoutMs: 90_000,
        });
        assertEquals(ab.code, 0, ab.stderr);
        assert(/Complete requests:\s+400\b/.test(ab.stdout), ab.stdout);
        assert(/Failed requests:\s+0\b/.test(ab.stdout), ab.stdout);
        const wrk = await jr.peer(["wrk", "-t1", "-c8", "-d2s", `http://${addr}:${NGINX_PORT}/`], {
          timeoutMs: 60_000,
        });
        assertEquals(wrk.code, 0, wrk.stderr);
        assert(!/Socket errors/.test(wrk.stdout), wrk.stdout);
        assert(!/Non-2xx/.test(wrk.stdout), wrk.stdout);
        const n = Number(wrk.stdout.match(/(\d+) requests in/)?.[1] ?? 0);
        assert(n > 0, wrk.stdout);
        // Same host: the kernel's 127.0.0.1 reaches the 0.0.0.0 listener too (epoll, workers).
        const lo = await run(["curl", "-s", "-m", "10", `http://127.0.0.1:${NGINX_PORT}/`]);
        assertEquals(lo.stdout, "hello from nginx under joyride\n", lo.stderr);
        const out = `${tmp}/dl3.bin`;
        const r = await jr.peer(
          ["curl", "-sS", "-o", out, `http://${addr}:${NGINX_PORT}/big.bin`],
          {
            timeoutMs: 90_000,
          },
        );
        assertEquals(r.code, 0, r.stderr);
        assertEquals(await sha256File(out), want, "sha256 of nginx's sendfile");
        await ng.stop();
      });

      await t.step(
        "ab under Joyride: 20,000 connections to nginx on the peer (ports reused)",
        async () => {
          // More connections than ephemeral ports (16,384): ports come round again while the
          // peer's kernel still holds their last 4-tuples in TIME-WAIT (nginx closes first). It
          // takes a new SYN there only with a later TSval (PAWS); with a random timestamp offset
          // per connection about half of them were answered with an ACK and waited a SYN
          // retransmission (ab: 449 requests/s instead of 2,700).
          const conf = `${tmp}/nginx-peer.conf`;
          Deno.writeTextFileSync(conf, nginxConf(tmp, NGINX_PORT + 1, 1, "nginx-peer.pid"));
          const ng = session.peer(["nginx", "-c", conf, "-p", tmp]);
          await session.listening(peerAddr, NGINX_PORT + 1, ng);
          const before = engineCounters(await status(jr))["tcp.rexmt.timeout"] ?? 0;
          const ab = await runShim(
            jr,
            ["ab", "-q", "-n", "20000", "-c", "20", `http://${peerAddr}:${NGINX_PORT + 1}/`],
            { timeoutMs: 120_000 },
          );
          assertEquals(ab.code, 0, ab.stderr);
          assert(/Complete requests:\s+20000\b/.test(ab.stdout), ab.stdout);
          assert(/Failed requests:\s+0\b/.test(ab.stdout), ab.stdout);
          await new Promise((r) => setTimeout(r, 1500)); // counters reach status with the heartbeat
          const timeouts = (engineCounters(await status(jr))["tcp.rexmt.timeout"] ?? 0) - before;
          // About 3,600 ports are reused; the random offsets cost some 1,800 timeouts.
          assert(timeouts < 50, `retransmission timeouts: ${timeouts}`);
          await ng.stop();
        },
      );
    }
  },
);

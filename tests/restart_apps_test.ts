/**
 * An unmodified program through the shim across live restarts (issue 8): curl under Joyride
 * downloads a 40 MB rate-limited file from python3's http.server on the peer host while the tcp
 * server is SIGKILLed twice and `./joyride restart nic` and `./joyride restart naming` run; the
 * file arrives byte-exact (sha256), curl exits 0, status counts every restart. Meanwhile a
 * connection that a forked child serves from epoll, its parent having closed its copy
 * (PostgreSQL's backends), keeps echoing through the same restarts (_restart_fork.py).
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, serverOf, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { appSession, peerHttpUp, runShim, sha256File, writeSeeded } from "./_apps.ts";

// A name of its own per process: runs of the suite from other checkouts may be under way.
const jr = new TestInstance(uniqueInstance("ra"));
const peerAddr = jr.config.topology.peerAddress;

systemTest(
  "apps restart: curl under Joyride downloads 40 MB through 2 SIGKILLs of tcp, restart nic, naming",
  async () => {
    {
      await using session = await appSession(jr, "jr-restart-apps-");
      const { dir: web, peer, joyride, listening } = session;
      writeSeeded(`${web}/big.bin`, 40_000_000, 808);
      const want = await sha256File(`${web}/big.bin`);
      peer([
        "python3",
        "-m",
        "http.server",
        "8082",
        "--bind",
        peerAddr,
        "-d",
        web,
      ]);
      await peerHttpUp(jr, `http://${peerAddr}:8082/`);
      const addr = jr.config.topology.joyrideAddress;
      const forkSrv = joyride(["python3", `${repoRoot}/tests/_restart_fork.py`, "server", "7791"]);
      await listening(addr, 7791, forkSrv);
      const echo = jr.peer(
        ["python3", `${repoRoot}/tests/_restart_fork.py`, "client", addr, "7791", "25"],
        { timeoutMs: 60_000 },
      );
      const out = `${web}/got.bin`;
      // 40 MB at 1.5 MiB/s: about 25 s, through every restart (with room on a loaded machine).
      const dl = runShim(jr, [
        "curl",
        "-sS",
        "--limit-rate",
        "1536K",
        "-o",
        out,
        `http://${peerAddr}:8082/big.bin`,
      ], { timeoutMs: 180_000 });
      let ended = false;
      dl.then(() => ended = true);
      await new Promise((r) => setTimeout(r, 2000));
      const killTcp = () => jr.killServer("tcp", "SIGKILL");
      // A tcp kill after a naming restart is tests/restart_naming_apps_test.ts's case.
      for (const step of ["kill-tcp", "nic", "kill-tcp", "naming"]) {
        if (step === "kill-tcp") await killTcp();
        else {
          const r = await jr.cli(["restart", step]);
          assertEquals(r.code, 0, `restart ${step}: ${r.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 1500));
      }
      assert(!ended, "the download ended before the restarts were done");
      const e = await echo;
      assertEquals(e.code, 0, `the forked child's connection: ${e.stdout}${e.stderr}`);
      const r = await dl;
      assertEquals(r.code, 0, `curl: ${r.stderr}`);
      assertEquals(await sha256File(out), want, "sha256 of the download");
      const s = await jr.status();
      assertEquals(serverOf(s, "tcp").restarts, 2);
      assertEquals(serverOf(s, "nic").restarts, 1);
      assertEquals(serverOf(s, "naming").restarts, 1);
    }
    assertEquals(await jr.leftovers(), []);
  },
);

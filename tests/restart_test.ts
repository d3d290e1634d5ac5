/**
 * Whole-system test of the supervisor's restarts: a server killed with SIGKILL comes back
 * (new pid, generation + 1, counted), a hung one (SIGSTOP: no heartbeats) is killed and comes
 * back, `./joyride restart` replaces one live, naming keeps its registry across its restart,
 * and the built-in services answer after each.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { listEntries } from "../servers/naming/client.ts";
import { runtimePaths } from "../servers/supervisor/runtime.ts";
import { alive, serverOf, systemTest, TestInstance, uniqueInstance, until } from "./_system.ts";

const jr = new TestInstance(uniqueInstance("rs"), {
  supervisor: { heartbeatMs: 250, heartbeatTimeoutMs: 2000, backoffMinMs: 100 },
});
const addr = jr.config.topology.joyrideAddress;

async function servicesAnswer(what: string): Promise<void> {
  // ARP and ICMP from the engine, TCP echo from the services.
  const p = await jr.peer(["ping", "-c", "2", "-i", "0.2", "-W", "2", addr]);
  assertEquals(p.code, 0, `ping after ${what}: ${p.stdout}`);
  const r = await jr.peer(["nc", "-N", "-w", "5", addr, "7"], {
    stdin: new TextEncoder().encode(`after ${what}\n`),
    timeoutMs: 20_000,
  });
  assertEquals(r.stdout, `after ${what}\n`, `echo after ${what}: ${r.stderr}`);
}

systemTest("system: servers killed, hung or restarted come back and serve", async (t) => {
  try {
    await jr.start();
    await servicesAnswer("start");

    await t.step("tcp killed with SIGKILL is restarted", async () => {
      const before = await jr.killServer("tcp", "SIGKILL", true);
      const after = serverOf(await jr.status(), "tcp");
      assertEquals(after.restarts, 1);
      assertEquals(after.lastExit, "killed by SIGKILL");
      assert(after.pid !== before.pid && !alive(before.pid!));
      await servicesAnswer("tcp SIGKILL");
    });

    await t.step("a hung nic (SIGSTOP, no heartbeat) is killed and restarted", async () => {
      const before = await jr.killServer("nic", "SIGSTOP", true);
      assert(!alive(before.pid!), "the hung nic process is gone");
      await servicesAnswer("nic hang");
    });

    await t.step("./joyride restart naming: registrations survive", async () => {
      const naming = runtimePaths(jr.config).naming;
      const before = await listEntries(naming);
      const r = await jr.cli(["restart", "naming"]);
      assertEquals(r.code, 0, r.stderr);
      assert(/generation 2/.test(r.stdout), r.stdout);
      const after = await listEntries(naming);
      for (const label of ["nic", "tcp"]) {
        const b = before.find((e) => e.label === label)!;
        const a = after.find((e) => e.label === label)!;
        assert(a.alive, `${label} still registered`);
        assertEquals(a.generation, b.generation, `${label} generation after naming restart`);
      }
      await servicesAnswer("naming restart");
    });

    await t.step("./joyride restart tcp and nic, live", async () => {
      for (const name of ["tcp", "nic"]) {
        const r = await jr.cli(["restart", name]);
        assertEquals(r.code, 0, r.stderr);
        await servicesAnswer(`restart ${name}`);
      }
      const s = await jr.status();
      assert(s.servers.every((x) => x.state === "running"), JSON.stringify(s.servers));
      assertEquals(serverOf(s, "tcp").restarts, 2);
      assertEquals(serverOf(s, "nic").restarts, 2);
      assertEquals(serverOf(s, "naming").restarts, 1);
      const bad = await jr.cli(["restart", "bogus"]);
      assert(bad.code !== 0 && /no such server/.test(bad.stderr), bad.stderr);
    });

    await t.step("after a supervisor crash, start cleans the leftovers and comes up", async () => {
      const s = await jr.status();
      const sup = serverOf(s, "supervisor").pid!;
      const servers = s.servers.filter((x) => x.name !== "supervisor").map((x) => x.pid!);
      Deno.kill(sup, "SIGKILL");
      await until("supervisor gone", () => !alive(sup));
      assert(servers.every(alive), "servers keep running without their supervisor");
      const again = await jr.cli(["start", "--detach"]);
      assertEquals(again.code, 0, `start after a crash: ${again.stdout}${again.stderr}`);
      for (const p of servers) assert(!alive(p), `old server ${p} was removed`);
      const s2 = await jr.status();
      assert(s2.servers.every((x) => x.state === "running" && x.generation === 1));
      await servicesAnswer("supervisor crash");
    });
  } finally {
    try {
      await jr.stopClean();
    } finally {
      jr.dispose();
    }
  }
});

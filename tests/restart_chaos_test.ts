/**
 * Chaos (issue 8): long rate-limited transfers through the TCP echo and discard services, driven
 * from the peer host's kernel, while the tcp server is SIGKILLed at random moments several times,
 * hangs once (SIGSTOP: the supervisor notices the missing heartbeat and kills it), and nic and
 * naming are restarted live. Every transfer completes byte-exact (SHA-256 on the
 * peer), none is reset, and status counts every restart.
 *
 * The schedule (transfer sizes, kill moments, where the nic and naming restarts fall) is drawn
 * by fast-check from a fixed seed: a failure prints the seed and schedule, and
 * `JOYRIDE_CHAOS_SEED=<n>` replays it.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, serverOf, systemTest, TestInstance, uniqueInstance } from "./_system.ts";

// A name of its own per process: runs of the suite from other checkouts may be under way.
const jr = new TestInstance(uniqueInstance("ch"), {
  supervisor: { heartbeatMs: 250, heartbeatTimeoutMs: 3000, backoffMinMs: 100 },
});
const addr = jr.config.topology.joyrideAddress;
const seed = Number(Deno.env.get("JOYRIDE_CHAOS_SEED") ?? 0x8008);

/** One chaos action, `afterMs` after the previous one. */
type Action = {
  kind: "kill-tcp" | "hang-tcp" | "restart-tcp" | "restart-nic" | "restart-naming";
  afterMs: number;
};

interface Schedule {
  transfers: { kind: "echo" | "discard"; bytes: number; rate: number }[];
  actions: Action[];
}

/**
 * The seeded schedule: 3 tcp kills, a tcp hang (SIGSTOP: the supervisor kills it when its
 * heartbeat stops), `./joyride restart` of tcp, nic and naming, in a random order.
 */
function schedule(s: number): Schedule {
  const arb = fc.record({
    transfers: fc.tuple(
      fc.integer({ min: 4_500_000, max: 5_500_000 }),
      fc.integer({ min: 4_500_000, max: 5_500_000 }),
      fc.integer({ min: 4_500_000, max: 5_500_000 }),
    ),
    order: fc.shuffledSubarray(
      [
        "kill-tcp",
        "kill-tcp",
        "kill-tcp",
        "hang-tcp",
        "restart-tcp",
        "restart-nic",
        "restart-naming",
      ] as const,
      { minLength: 7, maxLength: 7 },
    ),
    gaps: fc.array(fc.integer({ min: 300, max: 1200 }), { minLength: 7, maxLength: 7 }),
  });
  const [v] = fc.sample(arb, { seed: s, numRuns: 1 });
  const rate = 120_000; // bytes/s: each transfer lasts 37–46 s, through every action
  return {
    transfers: [
      { kind: "echo", bytes: v.transfers[0], rate },
      { kind: "echo", bytes: v.transfers[1], rate },
      { kind: "discard", bytes: v.transfers[2], rate },
    ],
    actions: v.order.map((kind, i) => ({ kind, afterMs: v.gaps[i] })),
  };
}

systemTest(
  "system chaos: transfers survive SIGKILLs, a hang and a restart of tcp, restarts of nic, naming",
  async () => {
    const plan = schedule(seed);
    const what = `seed ${seed}: ${JSON.stringify(plan)}`;
    try {
      await jr.start();
      const transfers = plan.transfers.map((t, i) =>
        jr.peer([
          "python3",
          `${repoRoot}/tests/_restart_peer.py`,
          t.kind,
          addr,
          t.kind === "echo" ? "7" : "9",
          String(t.bytes),
          String(seed + i),
          String(t.rate),
        ], { timeoutMs: 180_000 })
      );
      let finishedEarly = 0;
      for (const t of transfers) t.then(() => finishedEarly++);
      await new Promise((r) => setTimeout(r, 1500)); // transfers under way
      const counts = {
        "kill-tcp": 0,
        "hang-tcp": 0,
        "restart-tcp": 0,
        "restart-nic": 0,
        "restart-naming": 0,
      };
      for (const a of plan.actions) {
        await new Promise((r) => setTimeout(r, a.afterMs));
        if (a.kind === "kill-tcp" || a.kind === "hang-tcp") {
          await jr.killServer("tcp", a.kind === "kill-tcp" ? "SIGKILL" : "SIGSTOP");
        } else {
          const name = a.kind.slice("restart-".length);
          const r = await jr.cli(["restart", name]);
          assertEquals(r.code, 0, `restart ${name}: ${r.stderr} (${what})`);
        }
        counts[a.kind]++;
      }
      // The actions must have hit running transfers, or the test proves nothing.
      assertEquals(finishedEarly, 0, `a transfer ended before the last action (${what})`);
      const results = await Promise.all(transfers);
      for (const [i, r] of results.entries()) {
        const line = r.stdout.trim().split("\n").pop() ?? "";
        let res: { ok: boolean; error: string | null; sent: number; got: number };
        try {
          res = JSON.parse(line);
        } catch {
          throw new Error(`transfer ${i}: no result (${r.stderr}) (${what})`);
        }
        assertEquals(res.error, null, `transfer ${i} (${plan.transfers[i].kind}) error (${what})`);
        assert(res.ok, `transfer ${i} not byte-exact: ${line} (${what})`);
      }
      const s = await jr.status();
      const tcpRestarts = counts["kill-tcp"] + counts["hang-tcp"] + counts["restart-tcp"];
      assertEquals(serverOf(s, "tcp").restarts, tcpRestarts, `tcp restarts (${what})`);
      assertEquals(serverOf(s, "nic").restarts, counts["restart-nic"], `nic restarts (${what})`);
      assertEquals(serverOf(s, "naming").restarts, counts["restart-naming"], `naming (${what})`);
      // Every connection fitted its records (none was left out of the shared-memory state).
      const persist = serverOf(s, "tcp").stats.persist as { lost: number; restores: number };
      assertEquals(persist.lost, 0, `connections not stored (${what})`);
      assertEquals(persist.restores, tcpRestarts, `restores of the state region (${what})`);
    } finally {
      await jr.cli(["stop"]);
      jr.dispose();
    }
    assertEquals(await jr.leftovers(), []);
  },
);

/**
 * The reassembly queue admits what the advertised window admits (issue 7, FINDINGS.md R6):
 * with a receive buffer of 512 kB (over 100 full-sized segments), one lost segment must not
 * make the receiver drop the out-of-order segments that follow it inside its own window.
 * (The real-system symptom: a 4 MB download by curl under Joyride crawled for minutes under
 * 1 % loss, 5 % reordering and 50 ms delay; `tcp.reass.overflow` counted ~1000 drops.)
 */
import assert from "node:assert/strict";
import { Sim } from "../sim/sim.ts";
import { cleanLink } from "../sim/link.ts";
import { Transfer } from "../sim/transfer.ts";

Deno.test("reassembly: a window of out-of-order segments after one loss is queued, not dropped", () => {
  const sim = new Sim(3);
  const a = sim.addNode("a"), b = sim.addNode("b");
  // 20 ms each way; the 1500th frame from a to b (a data segment) is lost once.
  sim.link(
    a,
    b,
    cleanLink({ delayUs: 20_000, filter: (_f, i) => i === 1500 }),
    cleanLink({ delayUs: 20_000 }),
  );
  const t = new Transfer(sim, a, b, { bytes: 3 << 20, sndbuf: 1 << 20, rcvbuf: 512 << 10 });
  t.start();
  sim.runUntilIdle(2_000_000);
  assert.ok(t.complete, "transfer complete");
  assert.equal(b.stack.counters.get("tcp.reass.overflow"), 0, "segments dropped by reassembly");
});

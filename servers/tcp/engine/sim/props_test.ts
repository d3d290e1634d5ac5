/**
 * fast-check properties of the TCP engine over the simulator (issue 3): the byte stream
 * arrives exactly once and in order under random loss (≤ 30 %), duplication, reordering and
 * corruption; sequence-space and boundedness invariants hold after every event
 * (invariants.ts); connections close or time out cleanly, leaving no state behind.
 * Failures print the simulator seed; replay with `new Sim(seed)` and the same parameters.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Sim } from "./sim.ts";
import { cleanLink, type LinkParams } from "./link.ts";
import { Transfer } from "./transfer.ts";
import { installInvariants } from "./invariants.ts";

/**
 * fast-check parameters: the fixed seed and run count, unless JOYRIDE_SIM_SEED /
 * JOYRIDE_SIM_SCALE ask for a different seed or a deeper sweep (e.g. SCALE=50 overnight).
 */
function fcParams(seed: number, numRuns: number): { seed: number; numRuns: number } {
  const s = Deno.env.get("JOYRIDE_SIM_SEED");
  const k = Number(Deno.env.get("JOYRIDE_SIM_SCALE") ?? "1");
  return {
    seed: s ? Number(s) ^ seed : seed,
    numRuns: Math.max(1, Math.round(numRuns * (k > 0 ? k : 1))),
  };
}

/** A probability uniform in [0, max] (fc.double is uniform over encodings, not values). */
function prob(max: number): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 1000 }).map((x) => (x / 1000) * max);
}

// fc.noBias: fast-check otherwise favours tiny values (zero loss, one-byte streams).
const impairments: fc.Arbitrary<LinkParams> = fc.noBias(fc.record({
  delayUs: fc.integer({ min: 50, max: 30_000 }),
  loss: prob(0.3),
  duplicate: prob(0.1),
  reorder: prob(0.3),
  reorderUs: fc.integer({ min: 1, max: 40_000 }),
  corrupt: prob(0.05),
  rateBps: fc.constant(0),
  queueUs: fc.constant(100_000),
}));

/** Whatever happened, no connection, timer or pending frame is left once the run is idle. */
function assertNoState(sim: Sim): void {
  sim.runUntilIdle(200_000);
  for (const n of sim.nodes) {
    assert.equal(n.tcp.conns.size, 0, `seed ${sim.seed}: ${n.name} keeps connections`);
    assert.equal(n.stack.timers.size, 0, `seed ${sim.seed}: ${n.name} keeps timers`);
  }
  assert.equal(sim.pending, 0);
  for (const l of sim.links) {
    assert.equal(l.ab.counters.oversize + l.ba.counters.oversize, 0, "frames above the MTU");
  }
}

Deno.test("sim property: the stream arrives exactly once, in order, under loss/dup/reorder/corruption", () => {
  let completed = 0, runs = 0, bytesTotal = 0, steps = 0;
  const imp = { lost: 0, duplicated: 0, reordered: 0, corrupted: 0 };
  fc.assert(
    fc.property(
      fc.nat(),
      fc.noBias(fc.integer({ min: 1, max: 60_000 })),
      impairments,
      impairments,
      fc.constantFrom(4 as const, 6 as const),
      (seed, bytes, ab, ba, version) => {
        runs++;
        const sim = new Sim(seed);
        const a = sim.addNode("a"), b = sim.addNode("b");
        sim.link(a, b, ab, ba);
        installInvariants(sim);
        const t = new Transfer(sim, a, b, { bytes, version });
        t.start();
        sim.runUntil(() => t.done, 200_000);
        bytesTotal += t.receivedLen;
        steps += sim.steps;
        for (const d of [sim.links[0].ab, sim.links[0].ba]) {
          for (const k of Object.keys(imp) as (keyof typeof imp)[]) imp[k] += d.counters[k];
        }
        assert.ok(t.prefixOk(), `seed ${seed}: the server read bytes that were never sent`);
        if (t.errors.length === 0) {
          assert.ok(t.complete, `seed ${seed}: closed without the whole stream`);
          completed++;
        } else {
          // Only a give-up after repeated timeouts is acceptable.
          assert.ok(t.errors.every((e) => /ETIMEDOUT|ECONNRESET|EPIPE/.test(e)), t.errors.join());
        }
        assertNoState(sim);
      },
    ),
    fcParams(0x5157, 150),
  );
  console.log(
    `exactly-once: ${completed}/${runs} runs completed, ${bytesTotal} bytes, ${steps} events,`,
    `impairments ${JSON.stringify(imp)}`,
  );
  // Most runs must actually complete, or the property is vacuous.
  assert.ok(completed >= runs * 0.8, `${completed}/${runs} completed`);
});

Deno.test("sim property: a rate-limited bottleneck with tail drop still delivers everything", () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.noBias(fc.integer({ min: 10_000, max: 300_000 })),
      fc.noBias(fc.integer({ min: 1_000_000, max: 50_000_000 })),
      fc.noBias(fc.integer({ min: 2_000, max: 50_000 })),
      fc.noBias(fc.integer({ min: 100, max: 20_000 })),
      (seed, bytes, rateBps, queueUs, delayUs) => {
        const sim = new Sim(seed);
        const a = sim.addNode("a"), b = sim.addNode("b");
        sim.link(a, b, cleanLink({ rateBps, queueUs, delayUs }), cleanLink({ delayUs }));
        installInvariants(sim);
        const t = new Transfer(sim, a, b, { bytes });
        t.start();
        sim.runUntil(() => t.done, 300_000);
        assert.ok(t.complete && t.prefixOk(), `seed ${seed}: ${t.errors.join()}`);
        assert.ok(sim.maxPending < 2000, `seed ${seed}: ${sim.maxPending} frames pending`);
        assertNoState(sim);
      },
    ),
    fcParams(0x2a7e, 40),
  );
});

Deno.test("sim property: concurrent transfers both ways share a lossy link", () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.array(fc.tuple(fc.boolean(), fc.noBias(fc.integer({ min: 1, max: 40_000 }))), {
        minLength: 2,
        maxLength: 4,
      }),
      impairments,
      (seed, flows, p) => {
        const sim = new Sim(seed);
        const a = sim.addNode("a"), b = sim.addNode("b");
        sim.link(a, b, p);
        installInvariants(sim);
        const ts = flows.map(([dir, bytes], i) =>
          new Transfer(sim, dir ? a : b, dir ? b : a, { bytes, port: 6000 + i })
        );
        for (const t of ts) t.start();
        sim.runUntil(() => ts.every((t) => t.done), 300_000);
        for (const t of ts) {
          assert.ok(t.prefixOk(), `seed ${seed}: bytes out of order or duplicated`);
          if (t.errors.length === 0) assert.ok(t.complete, `seed ${seed}: incomplete`);
        }
        assertNoState(sim);
      },
    ),
    fcParams(0xb0b, 40),
  );
});

Deno.test("sim property: when the link dies mid-transfer both ends give up cleanly", () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.noBias(fc.integer({ min: 20_000, max: 100_000 })),
      fc.noBias(fc.integer({ min: 0, max: 60 })),
      (seed, bytes, cutAfter) => {
        const sim = new Sim(seed);
        // Keepalive after 10 s idle, 3 probes 5 s apart: an idle receiver notices too.
        const keep = {
          "net.inet.tcp.keepidle": 10_000,
          "net.inet.tcp.keepintvl": 5_000,
          "net.inet.tcp.keepcnt": 3,
        };
        const a = sim.addNode("a", keep), b = sim.addNode("b", keep);
        const dead = (_f: Uint8Array, i: number) => i >= cutAfter;
        sim.link(a, b, cleanLink({ filter: dead }), cleanLink({ filter: dead }));
        installInvariants(sim);
        const t = new Transfer(sim, a, b, { bytes, keepalive: true });
        t.start();
        sim.runUntil(() => t.done, 100_000);
        assert.ok(t.prefixOk());
        // Unless everything got through before the cut, the client must report the failure
        // (a timeout), not hang.
        assert.ok(
          t.complete || t.errors.some((e) => e.startsWith("client")),
          `seed ${seed}: ${t.errors}`,
        );
        assertNoState(sim);
      },
    ),
    fcParams(0xdead, 40),
  );
});

Deno.test("sim property: a slow reader closes the window; persist and window updates recover", () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.noBias(fc.integer({ min: 20_000, max: 150_000 })),
      fc.noBias(fc.integer({ min: 500, max: 20_000 })),
      fc.noBias(fc.integer({ min: 1_000, max: 200_000 })),
      prob(0.2),
      fc.constantFrom(4 as const, 6 as const),
      (seed, bytes, readChunk, readEveryUs, loss, version) => {
        const sim = new Sim(seed);
        const a = sim.addNode("a"), b = sim.addNode("b");
        sim.link(a, b, cleanLink({ loss, delayUs: 2000 }));
        installInvariants(sim);
        const t = new Transfer(sim, a, b, {
          bytes,
          version,
          readChunk,
          readEveryUs,
          rcvbuf: 8192,
        });
        t.start();
        sim.runUntil(() => t.done, 300_000);
        assert.ok(t.prefixOk(), `seed ${seed}: stream corrupted`);
        assert.ok(
          t.complete || t.errors.every((e) => /ETIMEDOUT/.test(e)),
          `seed ${seed}: ${t.errors}`,
        );
        assertNoState(sim);
      },
    ),
    fcParams(0x5e7, 20),
  );
});

Deno.test("sim property: any MTU from 576 (v4) / 1280 (v6) to 9000 carries the stream", () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.constantFrom(4 as const, 6 as const),
      fc.noBias(fc.integer({ min: 576, max: 9000 })),
      prob(0.1),
      (seed, version, mtu0, loss) => {
        const mtu = version === 6 ? Math.max(1280, mtu0) : mtu0;
        const sim = new Sim(seed);
        const a = sim.addNode("a"), b = sim.addNode("b");
        sim.link(a, b, cleanLink({ loss }), cleanLink({ loss }), { mtu });
        installInvariants(sim);
        const t = new Transfer(sim, a, b, { bytes: 60_000, version });
        t.start();
        sim.runUntil(() => t.done, 200_000);
        assert.ok(t.complete && t.prefixOk(), `seed ${seed} mtu ${mtu}: ${t.errors}`);
        assertNoState(sim);
      },
    ),
    fcParams(0x3a7, 20),
  );
});

/** Per-node TCP configuration drawn at random (FreeBSD sysctl names). */
const tcpConfig = fc.record({
  "net.inet.tcp.sack.enable": fc.constantFrom(0, 1),
  "net.inet.tcp.rfc1323": fc.constantFrom(0, 1, 2, 3),
  "net.inet.tcp.delayed_ack": fc.constantFrom(0, 1),
  "net.inet.tcp.ecn.enable": fc.constantFrom(0, 1, 2),
  "net.inet.tcp.initcwnd_segments": fc.integer({ min: 1, max: 10 }),
});

Deno.test("sim property: every combination of SACK, RFC 7323, delayed ACK, ECN and cc delivers", () => {
  fc.assert(
    fc.property(
      fc.nat(),
      tcpConfig,
      tcpConfig,
      fc.constantFrom("newreno", "cubic"),
      impairments,
      fc.noBias(fc.integer({ min: 1, max: 80_000 })),
      (seed, ca, cb, cc, p, bytes) => {
        const sim = new Sim(seed);
        const a = sim.addNode("a", ca), b = sim.addNode("b", cb);
        sim.link(a, b, p);
        installInvariants(sim);
        const t = new Transfer(sim, a, b, { bytes, cc });
        t.start();
        sim.runUntil(() => t.done, 200_000);
        assert.ok(t.prefixOk(), `seed ${seed}: stream corrupted`);
        if (t.errors.length === 0) assert.ok(t.complete, `seed ${seed}: incomplete`);
        else {
          // A side that gave up after its retransmissions resets the other (tcp_drop's RST).
          assert.ok(t.errors.some((e) => /ETIMEDOUT/.test(e)), `seed ${seed}: ${t.errors}`);
          assert.ok(
            t.errors.every((e) => /ETIMEDOUT|ECONNRESET/.test(e)),
            `seed ${seed}: ${t.errors}`,
          );
        }
        assertNoState(sim);
      },
    ),
    fcParams(0xc0f, 60),
  );
});

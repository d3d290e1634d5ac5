/**
 * Minimal cases for the engine findings in FINDINGS.md. A case that still fails is marked
 * `ignore` with its finding number; flip it when the TCP core fixes the finding.
 */
import assert from "node:assert/strict";
import { Sim } from "./sim.ts";
import { cleanLink } from "./link.ts";
import { Transfer } from "./transfer.ts";
import { defaultBounds, installInvariants } from "./invariants.ts";
import { AF_INET, SOCK_NONBLOCK, SOCK_STREAM } from "../socket/api.ts";

Deno.test("F1: the advertised window never shrinks, even by less than one scale unit", () => {
  // The configuration where the invariant first fired (seed 1, 5 % loss); fixed by the core.
  const sim = new Sim(1);
  const a = sim.addNode("a"), b = sim.addNode("b");
  sim.link(a, b, cleanLink({ loss: 0.05, duplicate: 0.05 / 3, reorder: 0.025, reorderUs: 3000 }));
  installInvariants(sim, { ...defaultBounds, allowScaleRounding: false });
  const t = new Transfer(sim, a, b, { bytes: 100_000 });
  t.start();
  sim.runUntilIdle(100_000);
  assert.ok(t.complete);
});

Deno.test({
  name: "F2: with net.inet.tcp.always_keepalive=1 an idle connection probes and drops a dead peer",
  // FINDINGS.md F2: fixed in d8fa344 (always_keepalive honoured).
  fn() {
    const keep = {
      "net.inet.tcp.always_keepalive": 1,
      "net.inet.tcp.keepidle": 10_000,
      "net.inet.tcp.keepintvl": 5_000,
      "net.inet.tcp.keepcnt": 3,
    };
    const sim = new Sim(0);
    const a = sim.addNode("a", keep), b = sim.addNode("b", keep);
    // The path dies after the handshake (3 frames a→b: SYN, ACK, first data).
    const dead = (_f: Uint8Array, i: number) => i >= 2;
    sim.link(a, b, cleanLink({ filter: dead }), cleanLink({ filter: dead }));
    const t = new Transfer(sim, a, b, { bytes: 20_000 }); // no SO_KEEPALIVE
    t.start();
    // keepidle + keepcnt·keepintvl = 25 s; allow the client's own give-up too.
    sim.runTo(30 * 60 * 1_000_000, 10_000);
    assert.equal(b.tcp.conns.size, 0, "the idle server still holds the connection");
  },
});

Deno.test({
  name: "F3: the accept queue stays within 3/2 · backlog + 1 even when SYN cookies are used",
  // FINDINGS.md F3: fixed in 3c096ae (bounded accept queue, FreeBSD's sonewconn limit).
  fn() {
    const sim = new Sim(0);
    const a = sim.addNode("a"), b = sim.addNode("b");
    sim.link(a, b, cleanLink({ delayUs: 500 }));
    const S = b.sockets, C = a.sockets;
    const l = S.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
    S.bind(l, { family: AF_INET, addr: b.addrs[0], port: 80 });
    S.listen(l, 1);
    for (let i = 0; i < 200; i++) {
      const fd = C.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
      C.connect(fd, { family: AF_INET, addr: b.addrs[0], port: 80 });
    }
    sim.runTo(3_000_000, 100_000);
    const listener = [...b.tcp.listeners.values()].flat()[0];
    // FreeBSD's sonewconn refuses once qlen > 3·qlimit/2 (qlimit = backlog = 1).
    assert.ok(listener.acceptQueue.length <= 2, `accept queue ${listener.acceptQueue.length}`);
    assert.ok(b.tcp.conns.size <= 2 + 30, `${b.tcp.conns.size} connections for backlog 1`);
  },
});

Deno.test({
  name: "F5: SYN-ACKs resent in SYN-RECEIVED do not advance SND.NXT/SND.MAX past ISS + 1",
  fn() {
    // Found by a 500-run sweep of the configuration-matrix property; replays by seed. The
    // first SYN-ACK is lost, the client's retransmitted SYN arrives twice (duplicated).
    const cfg = {
      "net.inet.tcp.sack.enable": 0,
      "net.inet.tcp.rfc1323": 0,
      "net.inet.tcp.delayed_ack": 0,
      "net.inet.tcp.ecn.enable": 0,
    };
    const sim = new Sim(2147483637);
    const a = sim.addNode("a", cfg), b = sim.addNode("b", cfg);
    sim.link(
      a,
      b,
      cleanLink({
        delayUs: 50,
        loss: 0.0003,
        duplicate: 0.0418,
        reorder: 0.0021,
        reorderUs: 1,
        corrupt: 0.00005,
        queueUs: 2000,
      }),
      cleanLink({ delayUs: 50, loss: 0.0582, queueUs: 2000 }),
    );
    installInvariants(sim); // fires: "state 3: sndMax − sndUna = 3 exceeds buffered 0 + SYN + FIN"
    const t = new Transfer(sim, a, b, { bytes: 1, cc: "newreno" });
    t.start();
    sim.runUntil(() => t.done, 10_000);
    assert.ok(t.complete);
  },
});

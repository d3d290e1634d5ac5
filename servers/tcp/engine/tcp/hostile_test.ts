import assert from "node:assert/strict";
import fc from "fast-check";
import { ScriptPeer, value } from "./_testpeer.ts";
import { seqLeq } from "./seq.ts";
import type { TcpOption } from "../wire/tcp.ts";

const FLAGS = ["S", "S.", ".", "P.", "F.", "R", "R.", "SF", "FP.", "UP.", "SR", "E.", "W."];

const option: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant({ kind: "nop" } as TcpOption),
  fc.integer({ min: 0, max: 65535 }).map((mss) => ({ kind: "mss", mss }) as TcpOption),
  fc.integer({ min: 0, max: 255 }).map((shift) => ({ kind: "wscale", shift }) as TcpOption),
  fc.constant({ kind: "sackOk" } as TcpOption),
  fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })).map(([val, ecr]) =>
    ({ kind: "ts", val, ecr }) as TcpOption
  ),
  fc.array(fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })), {
    minLength: 1,
    maxLength: 3,
  }).map((blocks) => ({ kind: "sack", blocks }) as TcpOption),
);

const segment = fc.record({
  flags: fc.constantFrom(...FLAGS),
  seq: fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.nat({ max: 0xffffffff })),
  ack: fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.nat({ max: 0xffffffff })),
  win: fc.nat({ max: 65535 }),
  len: fc.nat({ max: 3000 }),
  urgent: fc.nat({ max: 70000 }),
  options: fc.array(option, { maxLength: 3 }),
  advanceMs: fc.nat({ max: 3000 }),
});

Deno.test("hostile: random segments against every state never throw and keep snd_una ≤ snd_nxt ≤ snd_max (property)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("listen", "active", "passive", "closing"),
      fc.array(segment, { minLength: 1, maxLength: 25 }),
      (start, segs) => {
        const p = new ScriptPeer();
        let fd = -1;
        if (start === "listen") fd = p.listen();
        else if (start === "active") {
          fd = p.activeOpen([{ kind: "mss", mss: 1460 }, { kind: "sackOk" }]);
        } else {
          const l = p.listen();
          fd = p.passiveOpen(l);
        }
        if (fd >= 0 && start !== "listen") value(p.sockets.send(fd, new Uint8Array(5000)));
        if (start === "closing") p.sockets.close(fd);
        for (const s of segs) {
          p.inject({
            flags: s.flags,
            seq: s.seq,
            ack: s.ack,
            win: s.win,
            len: Math.min(s.len, 65000),
            options: s.options.length * 10 > 40 ? [] : s.options,
            urgent: s.urgent & 0xffff,
          });
          p.stack.advance(s.advanceMs);
          for (const c of p.sockets.tcp.conns.values()) {
            const tp = c.tp;
            assert.ok(seqLeq(tp.sndUna, tp.sndNxt), "snd_una ≤ snd_nxt");
            assert.ok(seqLeq(tp.sndNxt, tp.sndMax), "snd_nxt ≤ snd_max");
            assert.ok(c.reass.count <= 100);
          }
          // Drain output (what we sent must always parse).
          p.stack.out.length = 0;
        }
        if (fd >= 0) {
          p.sockets.poll(fd);
          p.sockets.recv(fd, 100000);
        }
      },
    ),
    { seed: 4242, numRuns: 150 },
  );
});

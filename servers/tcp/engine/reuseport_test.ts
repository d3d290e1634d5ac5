import fc from "fast-check";
import { assert, assertEquals } from "../../supervisor/_assert.ts";
import { flowHash, pickReusePort } from "./reuseport.ts";

const m = (id: number, reusePort = true) => ({ id, reusePort });
const rp = (s: { reusePort: boolean }) => s.reusePort;

Deno.test("reuseport: one flow always reaches the same member; flows spread over all", () => {
  const g = [m(0), m(1), m(2)];
  const seen = new Map<number, number>();
  for (let p = 40000; p < 40300; p++) {
    const a = pickReusePort(g, g[2], rp, "198.18.0.2", 80, "198.18.0.1", p)!;
    assertEquals(pickReusePort(g, g[2], rp, "198.18.0.2", 80, "198.18.0.1", p), a);
    seen.set(a.id, (seen.get(a.id) ?? 0) + 1);
  }
  // 300 flows over 3 members: each gets a fair share (a deterministic hash, fixed inputs).
  for (const id of [0, 1, 2]) assert((seen.get(id) ?? 0) > 60, `member ${id}: ${seen.get(id)}`);
});

Deno.test("reuseport: a group not all SO_REUSEPORT, a single socket, no peer: the fallback", () => {
  const mixed = [m(0), m(1, false)];
  assertEquals(pickReusePort(mixed, mixed[1], rp, "::", 80, "fd00:198:18::1", 1234), mixed[1]);
  assertEquals(pickReusePort([m(0)], m(9), rp, "::", 80, "fd00:198:18::1", 1234)?.id, 9);
  assertEquals(pickReusePort([m(0), m(1)], m(9), rp, "::", 80, undefined, 0)?.id, 9);
});

Deno.test("reuseport: after a member leaves, every flow reaches a remaining member", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 8 }),
      fc.nat(),
      fc.integer({ min: 1, max: 65535 }),
      (n, gone, fport) => {
        const g = Array.from({ length: n }, (_, i) => m(i));
        const rest = g.filter((x) => x.id !== gone % n);
        const a = pickReusePort(rest, rest[0], rp, "198.18.0.2", 53, "198.18.0.1", fport)!;
        assert(rest.includes(a));
        const h = flowHash("198.18.0.2", 53, "198.18.0.1", fport);
        assertEquals(a, rest.length === 1 ? rest[0] : rest[h % rest.length]);
      },
    ),
    { seed: 8, numRuns: 300 },
  );
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { Reassembler } from "./reass.ts";
import { Timers } from "../timers.ts";
import { Counters } from "../counters.ts";

const LIMITS = { maxDatagrams: 4, maxBytes: 1 << 20, maxFragsPerDatagram: 64, timeoutUs: 1000 };

/** Splits `n` bytes at 8-byte multiples into at most `k` pieces. */
function cuts(n: number, raw: number[]): [number, number][] {
  const pts = [...new Set(raw.map((x) => (x % Math.ceil(n / 8)) * 8).filter((x) => x > 0 && x < n))]
    .sort((a, b) => a - b);
  const b = [0, ...pts, n];
  return b.slice(1).map((e, i) => [b[i], e]);
}

Deno.test("reassembly: any order with exact duplicates gives the datagram back (both policies)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 400 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.array(fc.nat(), { minLength: 0, maxLength: 4 }),
      fc.boolean(),
      fc.nat(),
      (data, raw, dups, v6, shuffleSeed) => {
        const t = new Timers();
        const c = new Counters();
        const r = new Reassembler<string>(LIMITS, v6 ? "drop" : "trim", t, c, "x");
        const pieces = cuts(data.length, raw);
        if (pieces.length < 2) return; // one piece is not a fragmented datagram
        const sends = pieces.map(([o, e]) => ({ o, e }));
        for (const d of dups) sends.push(sends[d % sends.length]);
        // Deterministic shuffle.
        let s = shuffleSeed;
        for (let i = sends.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) >>> 0;
          const j = s % (i + 1);
          [sends[i], sends[j]] = [sends[j], sends[i]];
        }
        let out: Uint8Array | undefined;
        for (const { o, e } of sends) {
          const res = r.add({
            key: "k",
            offset: o,
            more: e < data.length,
            data: data.subarray(o, e),
            ecn: 0,
            first: o === 0 ? "first" : undefined,
          }, 0);
          if (typeof res !== "string") {
            // Duplicates after completion may complete it again (IP does not dedupe datagrams),
            // always with the same bytes.
            assert.equal(res.first, "first");
            assert.deepEqual(res.payload, data);
            out ??= res.payload;
          }
        }
        assert.deepEqual(out, data);
        // A duplicate arriving after completion opens a new datagram; nothing else stays.
        assert.ok(r.datagrams <= 1);
      },
    ),
    { seed: 11, numRuns: 300 },
  );
});

Deno.test("reassembly: timeout frees memory and reports the first fragment", () => {
  const t = new Timers();
  const c = new Counters();
  const seen: (string | undefined)[] = [];
  const r = new Reassembler<string>(LIMITS, "trim", t, c, "x", (f) => seen.push(f));
  r.add({ key: "a", offset: 0, more: true, data: new Uint8Array(8), ecn: 0, first: "A" }, 0);
  r.add({ key: "b", offset: 8, more: false, data: new Uint8Array(8), ecn: 0 }, 10);
  assert.equal(r.bytes, 16);
  t.run(1000);
  assert.deepEqual(seen, ["A"]);
  t.run(1010);
  assert.deepEqual(seen, ["A", undefined]);
  assert.equal(r.bytes, 0);
  assert.equal(r.datagrams, 0);
  assert.equal(c.get("x.timeout"), 2);
});

Deno.test("reassembly: byte limit evicts the oldest datagram; ECN CE with Not-ECT drops", () => {
  const t = new Timers();
  const c = new Counters();
  const r = new Reassembler<string>({ ...LIMITS, maxBytes: 24 }, "trim", t, c, "x");
  r.add({ key: "a", offset: 0, more: true, data: new Uint8Array(16), ecn: 0, first: "A" }, 0);
  r.add({ key: "b", offset: 0, more: true, data: new Uint8Array(16), ecn: 0, first: "B" }, 0);
  assert.equal(c.get("x.evicted"), 1);
  assert.equal(r.bytes, 16);
  assert.equal(
    r.add({ key: "z", offset: 0, more: true, data: new Uint8Array(32), ecn: 0 }, 0),
    "tooBig",
  );
  r.add({ key: "e", offset: 0, more: true, data: new Uint8Array(8), ecn: 3, first: "E" }, 0);
  assert.equal(
    r.add({ key: "e", offset: 8, more: false, data: new Uint8Array(8), ecn: 0 }, 0),
    "ecnMix",
  );
  r.add({ key: "f", offset: 0, more: true, data: new Uint8Array(8), ecn: 3, first: "F" }, 0);
  const ok = r.add({ key: "f", offset: 8, more: false, data: new Uint8Array(8), ecn: 1 }, 0);
  assert.ok(typeof ok !== "string");
  assert.equal(ok.ecn, 3);
});

Deno.test("reassembly: 45 fragments of 1480 bytes pass maxLargeFrags; small ones keep the tight bound", () => {
  const lim = { ...LIMITS, maxFragsPerDatagram: 16, maxLargeFrags: 64, largeFragBytes: 1024 };
  const add = (r: Reassembler<string>, key: string, data: Uint8Array, size: number) => {
    const res: (string | Uint8Array)[] = [];
    for (let o = 0; o < data.length; o += size) {
      const e = Math.min(o + size, data.length);
      const x = r.add({
        key,
        offset: o,
        more: e < data.length,
        data: data.subarray(o, e),
        ecn: 0,
        first: o === 0 ? "first" : undefined,
      }, 0);
      res.push(typeof x === "string" ? x : x.payload);
    }
    return res;
  };
  const c = new Counters();
  const r = new Reassembler<string>(lim, "trim", new Timers(), c, "x");
  // A 65,507-byte UDP datagram (+ 8-byte header) at MTU 1500: 45 fragments.
  const big = new Uint8Array(65515).map((_, i) => (i * 7) & 0xff);
  const got = add(r, "big", big, 1480);
  assert.equal(got.length, 45);
  assert.deepEqual(got.at(-1), big);
  // 26 fragments of 8 bytes: beyond maxFragsPerDatagram, dropped at the 17th.
  const tiny = add(r, "tiny", new Uint8Array(208).fill(1), 8);
  assert.equal(tiny[16], "tooManyFragments");
  assert.equal(c.get("x.tooManyFragments"), 1);
  // Large fragments then a small one past 16 pieces: the tight bound applies.
  const mixed = new Uint8Array(20 * 1480 + 16);
  const res: string[] = [];
  for (let i = 0; i < 20; i++) {
    const x = r.add({
      key: "mixed",
      offset: i * 1480,
      more: true,
      data: mixed.subarray(i * 1480, (i + 1) * 1480),
      ecn: 0,
      first: i === 0 ? "first" : undefined,
    }, 0);
    res.push(typeof x === "string" ? x : "done");
  }
  assert.deepEqual(res, new Array(20).fill("pending"));
  const x = r.add({
    key: "mixed",
    offset: 20 * 1480,
    more: true,
    data: mixed.subarray(0, 8),
    ecn: 0,
  }, 0);
  assert.equal(x, "tooManyFragments");
  // Held now: only the 9 tiny fragments after the 17th (a new datagram, waiting for offset 0).
  assert.equal(r.bytes, 9 * 8);
});

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  buildTcp,
  optionSummary,
  parseTcp,
  type TcpOption,
  type TcpRepr,
  TH_ACK,
  TH_AE,
  TH_SYN,
} from "./tcp.ts";

const syn: TcpRepr = {
  srcPort: 1234,
  dstPort: 80,
  seq: 0xdeadbeef,
  ack: 0,
  flags: TH_SYN,
  window: 65535,
  urgent: 0,
  options: [
    { kind: "mss", mss: 1460 },
    { kind: "nop" },
    { kind: "wscale", shift: 6 },
    { kind: "sackOk" },
    { kind: "ts", val: 100, ecr: 0 },
  ],
  payload: new Uint8Array(0),
};

Deno.test("tcp wire: FreeBSD SYN options round trip in order, padded to 4", () => {
  const b = buildTcp(syn);
  assert.equal(b.length, 20 + 20); // 4 + 1 + 3 + 2 + 10 = 20
  const r = parseTcp(b);
  assert.ok(typeof r !== "string");
  assert.deepEqual(r.options, syn.options);
  assert.equal(r.seq, 0xdeadbeef);
  const s = optionSummary(r.options);
  assert.equal(s.mss, 1460);
  assert.equal(s.wscale, 6);
  assert.equal(s.sackOk, true);
  assert.deepEqual(s.ts, { val: 100, ecr: 0 });
});

Deno.test("tcp wire: malformed headers are reported, not thrown", () => {
  assert.equal(parseTcp(new Uint8Array(10)), "truncated");
  const b = buildTcp(syn);
  b[12] = 0x20; // data offset 8
  assert.equal(parseTcp(b), "bad-data-offset");
  const c = buildTcp(syn);
  c[21] = 1; // mss length 1
  assert.equal(parseTcp(c), "bad-option-length");
  const d = buildTcp({ ...syn, options: [{ kind: "nop" }, { kind: "nop" }, { kind: "nop" }] });
  d[23] = 8; // a timestamp kind with no length byte left
  assert.equal(parseTcp(d), "truncated-option");
});

Deno.test("tcp wire: a received segment's malformed options are skipped or end the list (lenient)", () => {
  const withOpts = (bytes: number[]) => {
    const b = buildTcp({ ...syn, options: [] });
    const o = new Uint8Array(20 + bytes.length);
    o.set(b.subarray(0, 20));
    o.set(bytes, 20);
    o[12] = ((20 + bytes.length) / 4) << 4;
    return o;
  };
  const kinds = (bytes: number[]) => {
    const r = parseTcp(withOpts(bytes), true);
    assert.ok(typeof r !== "string", `dropped: ${r}`);
    return r.options.map((o) => o.kind === "mss" ? `mss${o.mss}` : o.kind);
  };
  // MSS of length 3 skipped, the rest read: a helper's SYN that Linux answers.
  assert.deepEqual(kinds([2, 3, 5, 1, 4, 2, 0, 0]), ["nop", "sackOk", "eol"]);
  // Length 0 or 1 ends the list after what came before.
  assert.deepEqual(kinds([2, 4, 5, 180, 8, 0, 0, 0]), ["mss1460"]);
  assert.deepEqual(kinds([2, 4, 5, 180, 8, 1, 0, 0]), ["mss1460"]);
  // Past the area: ended there. After EOL nothing is read (not even a valid MSS).
  assert.deepEqual(kinds([1, 1, 8, 40]), ["nop", "nop"]);
  assert.deepEqual(kinds([0, 0, 0, 0, 2, 4, 5, 180]), ["eol"]);
  // Timestamps of length 8 and SACK-permitted of length 3: skipped.
  assert.deepEqual(kinds([8, 8, 0, 0, 0, 1, 0, 0, 4, 3, 0, 1]), ["nop"]);
  // Strict, each is an error (what the engine sends is checked so).
  assert.equal(parseTcp(withOpts([2, 3, 5, 1, 4, 2, 0, 0])), "bad-option-length");
  // Any option bytes at all: lenient parsing never fails on them (property).
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (opt) => {
      const bytes = [...opt, ...new Array((4 - opt.length % 4) % 4).fill(0)];
      return typeof parseTcp(withOpts(bytes), true) !== "string";
    }),
    { seed: 11, numRuns: 300 },
  );
});

Deno.test("tcp wire: AE bit and SACK blocks", () => {
  const r = buildTcp({
    ...syn,
    flags: TH_ACK | TH_AE,
    options: [{ kind: "nop" }, { kind: "nop" }, {
      kind: "sack",
      blocks: [[1, 2], [0xfffffff0, 5]],
    }],
    payload: new Uint8Array([1, 2, 3]),
  });
  const p = parseTcp(r);
  assert.ok(typeof p !== "string");
  assert.equal(p.flags, TH_ACK | TH_AE);
  assert.deepEqual(optionSummary(p.options).sack, [[1, 2], [0xfffffff0, 5]]);
  assert.deepEqual([...p.payload], [1, 2, 3]);
});

Deno.test("tcp wire: parse never throws on random bytes (property)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      const r = parseTcp(b);
      return typeof r === "string" || r.payload.length <= b.length;
    }),
    { seed: 7 },
  );
});

Deno.test("tcp wire: emit/parse round trip (property)", () => {
  const opt: fc.Arbitrary<TcpOption> = fc.oneof(
    fc.constant({ kind: "nop" } as TcpOption),
    fc.integer({ min: 0, max: 65535 }).map((mss) => ({ kind: "mss", mss }) as TcpOption),
    fc.integer({ min: 0, max: 14 }).map((shift) => ({ kind: "wscale", shift }) as TcpOption),
    fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })).map(([val, ecr]) =>
      ({ kind: "ts", val, ecr }) as TcpOption
    ),
  );
  fc.assert(
    fc.property(fc.array(opt, { maxLength: 3 }), fc.nat({ max: 0xffffffff }), (options, seq) => {
      const r = parseTcp(buildTcp({ ...syn, seq, options }));
      if (typeof r === "string") return false;
      const got = r.options.filter((o) => o.kind !== "eol");
      assert.deepEqual(got, options);
      return r.seq === seq;
    }),
    { seed: 9 },
  );
});

/**
 * Hostile input for the generated C decoder: mutated, truncated and random messages of every
 * type, run in one batch through the driver built with ASan/UBSan (each input in a buffer of
 * exactly its size). The driver must not crash or read outside the buffer; every answer is 0
 * or a JR_CAPNP_E* code; whatever it accepts it re-encodes into a message that it decodes
 * again to the same bytes.
 */
import fc from "fast-check";
import { deepStrictEqual, ok } from "node:assert";
import { model } from "./gen/model.ts";
import { arbStruct, encodeWithCapnpEs, messageTypes } from "./_values.ts";
import { buildTools, type Record, runDriver } from "./_tools.ts";

const ETRUNC = -1;
const known = new Set([0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);

type Mutation = "flip" | "pointer" | "cut" | "shrink" | "garbage";

interface Case {
  kind: Mutation;
  record: Record;
  /** Words of the (shrunk) segment and the word where the root struct ends, for "shrink". */
  segWords?: number;
  rootEnd?: number;
}

function mutate(seed: number): Case[] {
  const out: Case[] = [];
  const valid = messageTypes.flatMap((type, i) =>
    fc.sample(arbStruct(model, type), { seed: seed + i, numRuns: 12 })
      .map((v) => ({ type, bytes: encodeWithCapnpEs(type, v) }))
  );
  const ops = fc.sample(
    fc.tuple(
      fc.nat({ max: valid.length - 1 }),
      fc.constantFrom<Mutation>("flip", "pointer", "cut", "shrink", "garbage"),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.nat(),
      fc.uint8Array({ minLength: 0, maxLength: 200 }),
    ),
    { seed, numRuns: 6000 },
  );
  for (const [vi, kind, flips, word, n, junk] of ops) {
    const { type, bytes: good } = valid[vi];
    const words = good.length / 8 - 1;
    let bytes = good.slice();
    const c: Case = { kind, record: { typeId: type.id, bytes } };
    const dv = () => new DataView(bytes.buffer);
    switch (kind) {
      case "flip":
        for (const [at, b] of flips) bytes[8 + (at % (bytes.length - 8))] = b;
        break;
      case "pointer": // a random 64-bit word where a pointer or data word was
        dv().setBigUint64(8 + 8 * (n % words), word, true);
        break;
      case "cut": // shorter than the segment table says
        bytes = bytes.slice(0, n % bytes.length);
        break;
      case "shrink": { // consistent segment table, but pointers now reach past the end
        const keep = n % words;
        bytes = bytes.slice(0, 8 + keep * 8);
        if (bytes.length >= 8) dv().setUint32(4, keep, true);
        const root = new DataView(good.buffer).getBigUint64(8, true);
        const off = Number((root & 0xffffffffn) >> 2n);
        const size = Number((root >> 32n) & 0xffffn) + Number(root >> 48n);
        c.segWords = keep;
        c.rootEnd = 1 + off + size;
        break;
      }
      case "garbage": { // valid-looking segment table over random words
        bytes = new Uint8Array(8 + Math.ceil(junk.length / 8) * 8);
        bytes.set(junk, 8);
        dv().setUint32(4, (bytes.length - 8) / 8, true);
        break;
      }
    }
    c.record.bytes = bytes;
    out.push(c);
  }
  return out;
}

Deno.test("codec fuzz: the C decoder survives and rejects hostile messages", async () => {
  await buildTools();
  const cases = mutate(0xf022);
  const results = await runDriver(cases.map((c) => c.record));
  const counts = new Map<string, number>();
  results.forEach((r, i) => {
    const c = cases[i];
    ok(known.has(r.status), `unknown status ${r.status}`);
    if (c.kind === "cut") deepStrictEqual(r.status, ETRUNC, "cut message");
    if (c.kind === "shrink" && c.rootEnd! > c.segWords!) {
      ok(r.status < 0, `root struct cut off (${c.rootEnd} > ${c.segWords}) was accepted`);
    }
    const key = `${c.kind}:${r.status === 0 ? "accepted" : "rejected"}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  // Mutations were not all trivially rejected or accepted: both outcomes occur.
  for (const kind of ["flip", "pointer"]) {
    ok((counts.get(`${kind}:accepted`) ?? 0) > 0, `${kind}: none accepted`);
    ok((counts.get(`${kind}:rejected`) ?? 0) > 0, `${kind}: none rejected`);
  }
  if (Deno.env.get("JOYRIDE_VERBOSE")) console.log(Object.fromEntries(counts));
  // What was accepted re-encodes to a fixpoint.
  const accepted = cases.map((c, i) => ({ c, r: results[i] })).filter((x) => x.r.status === 0);
  const again = await runDriver(
    accepted.map((x) => ({ typeId: x.c.record.typeId, bytes: x.r.bytes })),
  );
  again.forEach((r, i) => {
    deepStrictEqual(r.status, 0);
    deepStrictEqual(r.bytes, accepted[i].r.bytes);
  });
});

Deno.test("codec fuzz: depth and traversal limits hold", async () => {
  await buildTools();
  // A LinkStats whose queue list's tag claims 2^29 zero-size elements: amplification.
  const type = messageTypes.find((t) => t.name === "LinkStats")!;
  const bytes = new Uint8Array(8 + 8 * (1 + 9 + 2 + 1));
  const dv = new DataView(bytes.buffer);
  dv.setUint32(4, 13, true);
  dv.setBigUint64(8, (9n << 32n) | (2n << 48n), true); // root: 9 data words, 2 pointers
  const p = 8 + 8 * 10; // pointer 0 of the root
  dv.setBigUint64(p, 1n | (1n << 2n) | (7n << 32n) | (0n << 35n), true); // composite, 0 words
  dv.setBigUint64(p + 16, ((1n << 29n) - 1n) << 2n, true); // tag: huge count, 0 words each
  const [r] = await runDriver([{ typeId: type.id, bytes }]);
  ok(r.status === -7 || r.status === -8, `amplified list accepted: ${r.status}`);
});

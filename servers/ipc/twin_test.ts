/**
 * The C rings (native/ipc/joyride_ipc.h) against the TypeScript rings, differentially: the same
 * random operations run on a TypeScript ring and, in the C peer, on a second ring in the same
 * region. Every result must agree, and afterwards both rings must hold the very same bytes
 * (indices, record headers, padding, payloads): the two implementations of one layout.
 */
import fc, { type Arbitrary } from "fast-check";
import { assert, assertEquals } from "./_assert.ts";
import { ByteRing } from "./byte_ring.ts";
import { KIND, ringBytes } from "./layout.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import { type Descriptor, DescriptorRing } from "./slot_rings.ts";
import { buildCPeer, cPeerPath } from "./_spawn.ts";
import { fillPattern, SEED } from "./_test_util.ts";

buildCPeer();

const T = 0; // the TypeScript ring
const C = 65536; // the C ring

function sum(b: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619) >>> 0;
  return h;
}

/** Runs `ops` in the C peer on the ring at C; returns its output lines. */
async function runC(region: Region, kind: number, ops: string[]): Promise<string[]> {
  const child = new Deno.Command(cPeerPath, {
    args: ["script", `/proc/${Deno.pid}/fd/${region.fd}`, String(C), String(kind)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(ops.join("\n") + "\nend\n"));
  await w.close();
  const r = await child.output();
  assertEquals(r.code, 0);
  return new TextDecoder().decode(r.stdout).trim().split("\n");
}

/**
 * The property of every test here: random operations (from `op`) give the same results on a
 * TypeScript ring made by `make` at T as on the C peer's ring at C, and leave both rings
 * holding the very same bytes. `apply` runs one operation (its words) on the TypeScript ring.
 */
async function twin<R extends { broken: boolean }>(
  kind: number,
  capacity: number,
  op: Arbitrary<string>,
  make: (region: Region, off: number) => R,
  apply: (ring: R, words: string[]) => string,
): Promise<void> {
  using region = Region.create(2 * 65536);
  const n = ringBytes(kind, capacity);
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 150, size: "max" }), async (ops) => {
      region.u8.fill(0, T, T + n);
      const ring = make(region, T);
      region.u8.fill(0, C, C + n);
      make(region, C);
      const want = [...ops.map((o) => apply(ring, o.split(" "))), `broken ${ring.broken ? 1 : 0}`];
      const got = await runC(region, kind, ops);
      assertEquals(got.length, want.length, "result count");
      for (let i = 0; i < want.length; i++) {
        assertEquals(got[i], want[i], `op ${i} (${ops[i] ?? "end"})`);
      }
      const a = region.u8.subarray(T, T + n);
      const b = region.u8.subarray(C, C + n);
      const diff = a.findIndex((x, i) => x !== b[i]);
      assert(diff < 0, `the rings differ at byte ${diff}`);
    }),
    { seed: SEED, numRuns: 40 },
  );
}

Deno.test("twin: C and TypeScript message rings agree op by op and byte for byte", async () => {
  const buf = new Uint8Array(256);
  await twin(
    KIND.MESSAGE,
    256,
    fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 120 }), fc.nat(1000)).map(([l, s]) => `push ${l} ${s}`),
      fc.constant("pop"),
    ),
    (r, off) => MessageRing.init(r, off, 256),
    (ring, [name, a, b]) => {
      if (name === "push") {
        const msg = buf.subarray(0, Number(a));
        fillPattern(msg, Number(b));
        return ring.push(msg) ? "1" : "0";
      }
      const m = ring.peek();
      if (m === null) return "-";
      const line = `${m.length} ${sum(m)}`;
      ring.release();
      return line;
    },
  );
});

Deno.test("twin: C and TypeScript byte rings agree op by op and byte for byte", async () => {
  const buf = new Uint8Array(256);
  await twin(
    KIND.BYTE,
    128,
    fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 200 }), fc.nat(1000)).map(([n, s]) => `write ${n} ${s}`),
      fc.integer({ min: 0, max: 200 }).map((n) => `read ${n}`),
    ),
    (r, off) => ByteRing.init(r, off, 128),
    (ring, [name, a, b]) => {
      if (name === "write") {
        const src = buf.subarray(0, Number(a));
        fillPattern(src, Number(b));
        return String(ring.write(src));
      }
      const n = ring.read(buf.subarray(0, Number(a)));
      return `${n} ${sum(buf.subarray(0, n))}`;
    },
  );
});

Deno.test("twin: C and TypeScript descriptor rings agree, bad descriptors included", async () => {
  const bounds = { bytes: 1 << 20, bufSize: 2048 };
  const d: Descriptor = { offset: 0, length: 0, flags: 0, user: 0 };
  await twin(
    KIND.DESCRIPTOR,
    64,
    fc.oneof(
      { weight: 4, arbitrary: fc.constant("dpop") },
      {
        weight: 4,
        arbitrary: fc.tuple(fc.nat(511), fc.nat(2048)).map(([b, l]) => `dpush ${b * 2048} ${l}`),
      },
      // Now and then one that crosses a buffer or leaves the pool.
      {
        weight: 1,
        arbitrary: fc.tuple(fc.nat(0xffffffff), fc.nat(4096)).map(([o, l]) => `dpush ${o} ${l}`),
      },
    ),
    (r, off) => DescriptorRing.init(r, off, 64, bounds),
    (ring, [name, a, b]) => {
      if (name === "dpush") {
        const o = Number(a);
        const l = Number(b);
        return ring.push(o, l, (o ^ l) >>> 0, (o + l) >>> 0) ? "1" : "0";
      }
      return ring.pop(d) ? `${d.offset} ${d.length} ${d.flags} ${d.user}` : "-";
    },
  );
});

/**
 * Hostile peers, in one process: random garbage in the other side's index, in record lengths
 * and flags, in descriptors and doorbells, interleaved with honest operations. Nothing may
 * throw, every view handed out lies inside the ring, nothing outside the ring changes, and an
 * index that cannot be right is reported as a broken ring with an error and a counter.
 */
import fc from "fast-check";
import { assert, assertEquals } from "./_assert.ts";
import { ByteRing } from "./byte_ring.ts";
import { KIND, RING, ringBytes } from "./layout.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import { ipcCounters, type Ring } from "./ring.ts";
import { type Descriptor, DescriptorRing, IndexRing } from "./slot_rings.ts";
import { poke, SEED } from "./_test_util.ts";

const OFF = 4096;
const CANARY = 0x5a;

/** A hostile write: a header field or a data word, and a value. */
type Poke = {
  where: "head" | "tail" | "bell" | "state" | "data" | "next";
  word: number;
  value: number;
};
type Op = { t: "poke"; p: Poke } | { t: "consume" } | { t: "produce"; n: number };

const valueArb = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(0, 1, 7, 8, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff8),
  fc.integer({ min: 0, max: 4096 }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    where: fc.constantFrom("head", "tail", "bell", "state", "data", "next") as fc.Arbitrary<
      Poke["where"]
    >,
    word: fc.nat(),
    value: valueArb,
  }).map((p) => ({ t: "poke", p }) as Op),
  fc.constant({ t: "consume" } as Op),
  fc.integer({ min: 0, max: 200 }).map((n) => ({ t: "produce", n }) as Op),
);

function applyPoke(region: Region, ring: Ring, p: Poke, dataWords: number): void {
  const field = { head: RING.OFF_HEAD, tail: RING.OFF_TAIL, bell: RING.OFF_DATA_BELL, state: 0 };
  if (p.where === "data") {
    region.u32[(ring.dataStart >> 2) + (p.word % dataWords)] = p.value;
  } else if (p.where === "next") {
    // The words the consumer reads next: a record header or a slot.
    const slot = ring.kind === KIND.DESCRIPTOR ? 4 : ring.kind === KIND.INDEX ? 1 : 2;
    const unit = ring.kind === KIND.DESCRIPTOR ? 16 : ring.kind === KIND.INDEX ? 4 : 1;
    const at = (ring.dataStart + ((ring.consumed & (ring.capacity - 1)) * unit)) >> 2;
    region.u32[at + (p.word % slot)] = p.value;
  } else if (p.where === "state") {
    poke(region, OFF, RING.OFF_STATE, p.value & 3);
  } else {
    poke(region, OFF, field[p.where], p.value);
  }
}

/** Runs `ops` against a ring pair and checks the hostile-input rules. */
function hostileRun(
  kind: number,
  capacity: number,
  make: (region: Region) => { tx: Ring; rx: Ring },
  consume: (rx: Ring, span: [number, number]) => void,
  produce: (tx: Ring, n: number) => void,
  ops: Op[],
): void {
  using region = Region.create(OFF * 2 + ringBytes(kind, capacity));
  region.u8.fill(CANARY);
  const { tx, rx } = make(region);
  const end = OFF + ringBytes(kind, capacity);
  region.u8.fill(CANARY, end);
  region.u8.fill(CANARY, 0, OFF);
  const span: [number, number] = [rx.dataStart, rx.dataStart + (end - rx.dataStart)];
  const dataWords = (end - rx.dataStart) >> 2;
  const before = ipcCounters.corruptRings;
  for (const op of ops) {
    if (op.t === "poke") applyPoke(region, rx, op.p, dataWords);
    else if (op.t === "consume") consume(rx, span);
    else produce(tx, op.n);
    if (rx.broken) {
      assert(rx.error!.message.startsWith(`Ring at ${OFF} is corrupt`));
      assert(rx.corruptions >= 1);
    }
  }
  // A tail no honest producer could write is always noticed.
  if (!rx.broken) {
    poke(region, OFF, RING.OFF_TAIL, rx.consumed + capacity + 1);
    consume(rx, span);
    assert(rx.broken, "a tail more than the capacity ahead went unnoticed");
  }
  assert(ipcCounters.corruptRings > before);
  // Nothing outside the ring was touched.
  assert(region.u8.subarray(0, OFF).every((b) => b === CANARY), "bytes before the ring changed");
  assert(region.u8.subarray(end).every((b) => b === CANARY), "bytes after the ring changed");
}

function inside(view: Uint8Array, span: [number, number]): void {
  assert(
    view.byteOffset >= span[0] && view.byteOffset + view.byteLength <= span[1],
    "view escapes",
  );
}

Deno.test("hostile: garbage in a message ring never throws, never escapes, is reported", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60, size: "max" }), (ops) => {
      hostileRun(
        KIND.MESSAGE,
        1024,
        (region) => ({
          tx: MessageRing.init(region, OFF, 1024),
          rx: MessageRing.attach(region, OFF),
        }),
        (rx, span) => {
          const r = rx as MessageRing;
          for (let i = 0; i < 4; i++) {
            const m = r.peek();
            if (m === null) break;
            inside(m, span);
            m.fill(0xee); // The consumer may write into its message: still inside.
            r.release();
          }
          r.waitReadable(0, 0);
        },
        (tx, n) => {
          (tx as MessageRing).push(new Uint8Array(n).fill(n));
          tx.waitWritable(n, 0, 0);
        },
        ops,
      );
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("hostile: garbage in a byte ring never throws, never escapes, is reported", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60, size: "max" }), (ops) => {
      const buf = new Uint8Array(300);
      hostileRun(
        KIND.BYTE,
        256,
        (region) => ({ tx: ByteRing.init(region, OFF, 256), rx: ByteRing.attach(region, OFF) }),
        (rx, span) => {
          const r = rx as ByteRing;
          const [a, b] = r.peekViews();
          inside(a, span);
          if (b.length) inside(b, span);
          r.read(buf.subarray(0, 100));
          r.consume(50);
        },
        (tx, n) => {
          const t = tx as ByteRing;
          t.write(buf.subarray(0, n));
          const [a, b] = t.writeViews();
          assert(a.byteLength + b.byteLength <= 256);
          t.commitWrite(3);
        },
        ops,
      );
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("hostile: garbage in descriptor and index rings never yields an out-of-pool value", () => {
  const bounds = { bytes: 16 * 2048, bufSize: 2048 };
  const d: Descriptor = { offset: 0, length: 0, flags: 0, user: 0 };
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60, size: "max" }), (ops) => {
      hostileRun(
        KIND.DESCRIPTOR,
        64,
        (region) => ({
          tx: DescriptorRing.init(region, OFF, 64, bounds),
          rx: DescriptorRing.attach(region, OFF, bounds),
        }),
        (rx) => {
          while ((rx as DescriptorRing).pop(d)) {
            assert(d.offset < bounds.bytes && (d.offset % 2048) + d.length <= 2048);
          }
        },
        (tx, n) => {
          (tx as DescriptorRing).push((n % 16) * 2048, n);
        },
        ops,
      );
      hostileRun(
        KIND.INDEX,
        64,
        (region) => ({
          tx: IndexRing.init(region, OFF, 64, 16),
          rx: IndexRing.attach(region, OFF, 16),
        }),
        (rx) => {
          for (let i = (rx as IndexRing).pop(); i >= 0; i = (rx as IndexRing).pop()) {
            assert(i < 16);
          }
        },
        (tx, n) => {
          (tx as IndexRing).push(n % 16);
        },
        ops,
      );
    }),
    { seed: SEED, numRuns: 200 },
  );
});

Deno.test("hostile: a producer sees an impossible head as a broken ring, not a crash", () => {
  using region = Region.create(16384);
  const tx = MessageRing.init(region, 0, 1024);
  assert(tx.push(new Uint8Array(10)));
  poke(region, 0, RING.OFF_HEAD, 0x80000000);
  assertEquals(tx.push(new Uint8Array(10)), false);
  assert(tx.broken);
  assertEquals(tx.reserve(4), null);
  assertEquals(tx.waitWritable(4, 0, 0), false);
});

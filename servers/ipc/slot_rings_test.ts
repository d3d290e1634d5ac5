import fc from "fast-check";
import { assert, assertEquals } from "./_assert.ts";
import { BufferPool } from "./pool.ts";
import { Region } from "./region.ts";
import { type Descriptor, DescriptorRing, IndexRing } from "./slot_rings.ts";
import { SEED, setIndices } from "./_test_util.ts";

Deno.test("descriptor ring: random stage/publish/pop keeps FIFO and full/empty", () => {
  using region = Region.create(1 << 14);
  fc.assert(
    fc.property(
      fc.constantFrom(64, 128),
      fc.constantFrom(0, 0xffffffe0),
      fc.array(fc.oneof(fc.constant(-1), fc.constant(-2), fc.integer({ min: 0, max: 63 })), {
        maxLength: 400,
        size: "max",
      }),
      (slots, start, ops) => {
        DescriptorRing.init(region, 0, slots, { bytes: 64 * 2048, bufSize: 2048 });
        setIndices(region, 0, start);
        const tx = DescriptorRing.attach(region, 0, { bytes: 64 * 2048, bufSize: 2048 });
        const rx = DescriptorRing.attach(region, 0, { bytes: 64 * 2048, bufSize: 2048 });
        const staged: number[] = [];
        const published: number[] = [];
        const d: Descriptor = { offset: 0, length: 0, flags: 0, user: 0 };
        let seq = 0;
        for (const op of ops) {
          if (op === -1) {
            const ok = rx.pop(d);
            assertEquals(ok, published.length > 0);
            if (ok) {
              const want = published.shift()!;
              assertEquals(d.offset, (want % 64) * 2048 + 14);
              assertEquals(d.length, 60 + (want % 1000));
              assertEquals(d.user, want);
            }
          } else if (op === -2) {
            tx.publish();
            published.push(...staged.splice(0));
          } else {
            const full = staged.length + published.length === slots;
            const ok = tx.stage((seq % 64) * 2048 + 14, 60 + (seq % 1000), op, seq);
            assertEquals(ok, !full);
            if (ok) staged.push(seq++);
          }
        }
        assert(!rx.broken && !tx.broken);
      },
    ),
    { seed: SEED, numRuns: 100 },
  );
});

Deno.test("descriptor ring: a descriptor crossing a buffer boundary breaks the ring", () => {
  using region = Region.create(1 << 14);
  const ring = DescriptorRing.init(region, 0, 64, { bytes: 4 * 2048, bufSize: 2048 });
  const d: Descriptor = { offset: 0, length: 0, flags: 0, user: 0 };
  assert(ring.push(2048 - 10, 10));
  assert(ring.pop(d));
  assert(ring.push(2048 - 10, 11));
  assertEquals(ring.pop(d), false);
  assert(ring.broken);
  assert(ring.error!.message.includes("outside the pool"));
  assertEquals(ring.corruptions, 1);
});

Deno.test("index ring: indices at or above the limit break the ring", () => {
  using region = Region.create(1 << 14);
  const ring = IndexRing.init(region, 0, 64, 10);
  assert(ring.push(9));
  assertEquals(ring.pop(), 9);
  assert(ring.push(10));
  assertEquals(ring.pop(), -1);
  assert(ring.broken);
});

Deno.test("buffer pool: alloc until empty, free, attach from the same bytes", () => {
  using region = Region.create(1 << 20);
  const pool = BufferPool.init(region, 128, 100, 2048);
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const off = pool.alloc();
    assert(off >= 0 && off % 2048 === 0 && !seen.has(off));
    seen.add(off);
  }
  assertEquals(pool.alloc(), -1);
  pool.bytes(2048 * 3, 4).set([1, 2, 3, 4]);
  assert(pool.free(2048 * 3 + 100));
  const other = BufferPool.attach(region, 128);
  assertEquals(other.count, 100);
  assertEquals(other.bufSize, 2048);
  assertEquals(other.bounds.bytes, 100 * 2048);
  assertEquals(other.alloc(), 2048 * 3);
  assertEquals([...other.bytes(2048 * 3, 4)].join(), "1,2,3,4");
});

Deno.test("buffer pool: attach refuses a header that does not fit the region", () => {
  using region = Region.create(1 << 16);
  BufferPool.init(region, 0, 16, 1024);
  region.u32[3] = 1 << 20; // count
  let msg = "";
  try {
    BufferPool.attach(region, 0);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("do not fit"), msg);
});

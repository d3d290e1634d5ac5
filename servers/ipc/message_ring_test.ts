import fc from "fast-check";
import { assert, assertEquals } from "./_assert.ts";
import { alignUp, BELL, MSG, RING } from "./layout.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import { headerWord, pattern, sameBytes, SEED, setIndices } from "./_test_util.ts";

type Op =
  | { t: "push"; len: number }
  | { t: "pop" }
  | { t: "peekTwice" }
  | { t: "wait" };

const opArb = (max: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max }).map((len) => ({ t: "push", len }) as Op) },
    { weight: 4, arbitrary: fc.constant({ t: "pop" } as Op) },
    { weight: 1, arbitrary: fc.constant({ t: "peekTwice" } as Op) },
    { weight: 1, arbitrary: fc.constant({ t: "wait" } as Op) },
  );

Deno.test("message ring: random push/pop interleavings keep FIFO, sizes, wrap, full, empty, bells", () => {
  using region = Region.create(1 << 16);
  fc.assert(
    fc.property(
      fc.constantFrom(64, 128, 256, 1024),
      fc.constantFrom(0, 0xffffff00, 0x7ffffff8, 40),
      fc.array(fc.integer({ min: 0, max: 1 << 30 }), { minLength: 1, maxLength: 1 }),
      fc.array(opArb(1024), { maxLength: 200, size: "max" }),
      (cap, start, _seed, ops) => {
        const off = 4096;
        MessageRing.init(region, off, cap);
        setIndices(region, off, (start & ~7) >>> 0);
        const tx = MessageRing.attach(region, off);
        const rx = MessageRing.attach(region, off);
        assertEquals(tx.maxMessage, cap / 2 - 8);
        // The model: messages in flight and the producer's byte position, computed independently.
        const queue: Uint8Array[] = [];
        const sizes: number[] = [];
        let tail = (start & ~7) >>> 0;
        let head = tail;
        let seq = 0;
        let armed = false;
        let wakes = 0;
        for (const op of ops) {
          if (op.t === "push") {
            const len = op.len % (tx.maxMessage + 1);
            const rec = 8 + alignUp(len, 8);
            const pos = tail % cap;
            const need = pos + rec <= cap ? rec : cap - pos + rec;
            const fits = need <= cap - (tail - head);
            const msg = pattern(seq, len);
            const ok = tx.push(msg);
            assertEquals(ok, fits, `push ${len} at ${pos}, used ${tail - head}`);
            if (ok) {
              if (queue.length === 0 && armed) {
                wakes++;
                armed = false;
              }
              queue.push(msg);
              sizes.push(need);
              tail += need;
              seq++;
            } else {
              // Full means full: an empty ring takes any message up to maxMessage.
              assert(queue.length > 0);
            }
          } else if (op.t === "pop" || op.t === "peekTwice") {
            const got = rx.peek();
            if (queue.length === 0) {
              assertEquals(got, null);
              continue;
            }
            assert(got !== null);
            assert(sameBytes(got, queue[0]));
            // In place: the view lies inside the ring's data area.
            assert(
              got.byteOffset >= rx.dataStart && got.byteOffset + got.length <= rx.dataStart + cap,
            );
            if (op.t === "peekTwice") {
              assertEquals(rx.peekOffset(), got.byteOffset);
              continue;
            }
            rx.release();
            queue.shift();
            head += sizes.shift()!;
          } else if (op.t === "wait") {
            const r = rx.waitReadable(queue.length === 0 ? 0.2 : 0, 0);
            assertEquals(r, queue.length > 0);
            if (queue.length === 0) armed = true;
          }
          const bell = headerWord(region, off, RING.OFF_DATA_BELL);
          assertEquals((bell & BELL.WAITER) !== 0, armed, "waiter flag");
          assertEquals(tx.stats.wakes, wakes, "wakes only on empty→non-empty with a waiter");
          assertEquals(headerWord(region, off, RING.OFF_TAIL), tail >>> 0);
          assertEquals(headerWord(region, off, RING.OFF_HEAD), head >>> 0);
        }
        assert(!tx.broken && !rx.broken);
      },
    ),
    { seed: SEED, numRuns: 150 },
  );
});

Deno.test("message ring: reserve/commit writes in place and a shorter commit publishes less", () => {
  using region = Region.create(8192);
  const ring = MessageRing.init(region, 0, 256);
  const at = ring.reserveOffset(100);
  assert(at >= ring.dataStart);
  region.u8.set(pattern(1, 40), at);
  ring.commit(40);
  const got = ring.peek()!;
  assertEquals(got.length, 40);
  assert(sameBytes(got, pattern(1, 40)));
  assertEquals(got.byteOffset, at);
  ring.release();
  assertEquals(ring.peek(), null);
});

Deno.test("message ring: a message wraps with one padding record", () => {
  using region = Region.create(8192);
  const ring = MessageRing.init(region, 0, 256);
  for (const len of [120, 100]) { // 128 + 112 bytes: 16 left before the end
    assert(ring.push(pattern(0, len)));
    assert(ring.peek() !== null);
    ring.release();
  }
  assert(ring.push(pattern(1, 48))); // 56 > 16: pad 16, record at 0
  const w = (ring.dataStart + 240) >> 2;
  assertEquals(region.u32[w + 1], MSG.FLAG_PAD);
  assertEquals(region.u32[w], 16 - 8);
  const got = ring.peek()!;
  assertEquals(got.byteOffset, ring.dataStart + 8);
  assert(sameBytes(got, pattern(1, 48)));
});

Deno.test("message ring: oversize reserve is a RangeError, not a corrupt ring", () => {
  using region = Region.create(8192);
  const ring = MessageRing.init(region, 0, 128);
  let threw = false;
  try {
    ring.reserveOffset(57);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assert(threw);
  assert(!ring.broken);
});

Deno.test("message ring: waitReadableAsync sleeps off the event loop and wakes on a push", async () => {
  using region = Region.create(8192);
  const ring = MessageRing.init(region, 0, 256);
  assertEquals(await ring.waitReadableAsync(5), false);
  const waiting = ring.waitReadableAsync(5000);
  // The waiter announced itself before yielding to the event loop.
  assert((headerWord(region, 0, RING.OFF_DATA_BELL) & BELL.WAITER) !== 0);
  await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  assert(ring.push(new Uint8Array([1])));
  assertEquals(ring.stats.wakes, 1);
  assertEquals(await waiting, true);
  assert(performance.now() - t0 < 4000, "woken, not timed out");
});

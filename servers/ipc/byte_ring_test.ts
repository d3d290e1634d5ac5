import fc from "fast-check";
import { assert, assertEquals } from "./_assert.ts";
import { BELL, RING } from "./layout.ts";
import { ByteRing } from "./byte_ring.ts";
import { Region } from "./region.ts";
import { headerWord, SEED, setIndices } from "./_test_util.ts";

type Op =
  | { t: "write"; n: number }
  | { t: "writeViews"; n: number }
  | { t: "read"; n: number }
  | { t: "peekConsume"; n: number }
  | { t: "waitSpace"; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.integer({ min: 0, max: 300 }).map((n) => ({ t: "write", n }) as Op),
  fc.integer({ min: 0, max: 300 }).map((n) => ({ t: "writeViews", n }) as Op),
  fc.integer({ min: 0, max: 300 }).map((n) => ({ t: "read", n }) as Op),
  fc.integer({ min: 0, max: 300 }).map((n) => ({ t: "peekConsume", n }) as Op),
  fc.integer({ min: 1, max: 64 }).map((n) => ({ t: "waitSpace", n }) as Op),
);

Deno.test("byte ring: random write/read/peek/consume interleavings deliver the stream in order", () => {
  using region = Region.create(1 << 14);
  fc.assert(
    fc.property(
      fc.constantFrom(64, 128, 256),
      fc.constantFrom(0, 0xffffffc0, 0xfffffff3, 77),
      fc.array(opArb, { maxLength: 200, size: "max" }),
      fc.integer({ min: 1, max: 64 }),
      (cap, start, ops, wakeMin) => {
        const off = 1024;
        ByteRing.init(region, off, cap);
        setIndices(region, off, start);
        const tx = ByteRing.attach(region, off);
        const rx = ByteRing.attach(region, off);
        // A waiting producer is woken once `wakeMin` bytes are free, not before (streams).
        rx.spaceWakeMin = wakeMin;
        let written = 0; // stream position of the producer
        let read = 0; // stream position of the consumer
        let armed = false;
        let wakes = 0;
        const byteAt = (i: number) => (i * 7 + 3) & 0xff;
        for (const op of ops) {
          const used = written - read;
          if (op.t === "write" || op.t === "writeViews") {
            const src = new Uint8Array(op.n).map((_, i) => byteAt(written + i));
            let n: number;
            if (op.t === "write") {
              n = tx.write(src);
            } else {
              const [a, b] = tx.writeViews();
              assertEquals(a.length + b.length, cap - used);
              const k = Math.min(op.n, a.length + b.length);
              a.set(src.subarray(0, Math.min(k, a.length)));
              if (k > a.length) b.set(src.subarray(a.length, k));
              n = tx.commitWrite(k);
            }
            assertEquals(n, Math.min(op.n, cap - used), "short write only when full");
            if (n > 0 && armed) {
              // The producer was waiting for space; a write does not touch the space bell.
            }
            written += n;
          } else if (op.t === "read") {
            const dst = new Uint8Array(op.n);
            const n = rx.read(dst);
            assertEquals(n, Math.min(op.n, used));
            for (let i = 0; i < n; i++) assertEquals(dst[i], byteAt(read + i));
            if (n > 0 && armed && cap - (used - n) >= wakeMin) {
              wakes++;
              armed = false;
            }
            read += n;
          } else if (op.t === "peekConsume") {
            const [a, b] = rx.peekViews();
            assertEquals(a.length + b.length, used);
            assert(
              b.length === 0 || a.byteOffset + a.length === rx.dataStart + cap,
              "split at end",
            );
            const all = [...a, ...b];
            for (let i = 0; i < all.length; i++) assertEquals(all[i], byteAt(read + i));
            const n = rx.consume(op.n);
            assertEquals(n, Math.min(op.n, used));
            if (n > 0 && armed && cap - (used - n) >= wakeMin) {
              wakes++;
              armed = false;
            }
            read += n;
          } else {
            const ok = tx.waitWritable(op.n, cap - used >= op.n ? 0 : 0.2, 0);
            assertEquals(ok, cap - used >= op.n);
            if (!ok) armed = true;
          }
          assertEquals(rx.readable(), written - read);
          assertEquals(tx.writable(), cap - (written - read));
          const bell = headerWord(region, off, RING.OFF_SPACE_BELL);
          assertEquals((bell & BELL.WAITER) !== 0, armed, "space waiter flag");
          assertEquals(rx.stats.wakes, wakes, "wakes only with a waiter and wakeMin bytes free");
          assertEquals(headerWord(region, off, RING.OFF_TAIL), (start + written) >>> 0);
        }
        assert(!tx.broken && !rx.broken);
      },
    ),
    { seed: SEED, numRuns: 150 },
  );
});

import fc from "fast-check";
import { openDpdk } from "../../ffi/dpdk.ts";
import {
  C,
  COUNTERS,
  type Desc,
  DESC_SIZE,
  F,
  H,
  HDR_SIZE,
  MAGIC,
  NicRegion,
  OFF,
  R,
  regionSize,
  RX,
  RX_FREE,
  TX,
  TX_FREE,
  VERSION,
} from "./region.ts";

function assert(c: unknown, m = "assertion failed"): asserts c {
  if (!c) throw new Error(m);
}

const dpdk = openDpdk();
const small = { ringCap: 64, rxSlotSize: 2048, rxSlots: 32, txSlotSize: 4096, txSlots: 16 };

Deno.test("nic region: the TypeScript layout matches native/dpdk/jr_nic.h (jr_layout)", () => {
  const ts = [
    MAGIC,
    VERSION,
    HDR_SIZE,
    H.ringCap,
    H.rxSlotSize,
    H.rxSlots,
    H.txSlotSize,
    H.txSlots,
    H.totalSize,
    H.ringOff,
    H.rxPoolOff,
    H.txPoolOff,
    H.offloads,
    H.mtu,
    H.mac,
    H.nicPid,
    H.generation,
    H.linkUp,
    H.counters,
    H.control,
    COUNTERS.length,
    R.head,
    R.tail,
    R.bell,
    R.sleeping,
    R.desc,
    DESC_SIZE,
    F.txCsum,
    F.txTso,
    F.rxCsumOk,
    F.rxCsumBad,
    F.rxGro,
    24,
    OFF.txCsum,
    OFF.tso,
    OFF.rxCsum,
    OFF.gro,
    OFF.tso6,
  ];
  const c = dpdk.layout();
  assert(c.length === ts.length, `jr_layout has ${c.length} entries, TypeScript ${ts.length}`);
  ts.forEach((v, i) => assert(c[i] === v, `layout entry ${i}: C ${c[i]}, TypeScript ${v}`));
  assert(H.counters + 8 * COUNTERS.length <= H.control, "counters fit before the control block");
  assert(C.portInfo + 2048 <= HDR_SIZE, "control block fits in the header");
});

Deno.test("nic region: a fresh region has every buffer on its free ring, within its pool", () => {
  const path = `/dev/shm/jr-nic-unit-${Deno.pid}-a`;
  try {
    using r = NicRegion.create(dpdk, path, small);
    assert(r.size === regionSize(dpdk, small));
    assert(r.rings[RX].count === 0 && r.rings[TX].count === 0);
    assert(r.rings[RX_FREE].count === small.rxSlots && r.rings[TX_FREE].count === small.txSlots);
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    const seen = new Set<number>();
    while (r.rings[TX_FREE].pop(d)) {
      assert(r.frame(d, "tx") !== undefined && r.frame(d, "rx") === undefined);
      seen.add(d.off);
    }
    assert(seen.size === small.txSlots);
    using again = NicRegion.attach(dpdk, path);
    assert(again.rings[TX_FREE].count === 0, "a second mapping sees the same indices");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("nic region: rings behave as bounded FIFOs under random push/pop sequences", () => {
  const path = `/dev/shm/jr-nic-unit-${Deno.pid}-b`;
  try {
    using r = NicRegion.create(dpdk, path, small);
    const ring = r.rings[TX];
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(0xffffffff), fc.constant(-1)), { maxLength: 400 }),
        (ops) => {
          const model: number[] = [];
          while (ring.pop(d)); // start empty
          for (const op of ops) {
            if (op < 0) {
              const ok = ring.pop(d);
              assert(ok === model.length > 0, "pop succeeds iff non-empty");
              if (ok) {
                const want = model.shift()!;
                assert(d.off === want && d.len === (want ^ 0x5a5a) >>> 0, "FIFO order");
                assert(d.flags === (want & 0xffff) && d.mss === (want >>> 16));
              }
            } else {
              const ok = ring.push(op, (op ^ 0x5a5a) >>> 0, op & 0xffff, op >>> 16);
              assert(ok === model.length < small.ringCap, "push succeeds iff not full");
              if (ok) model.push(op);
            }
            assert(ring.count === model.length);
          }
        },
      ),
      { seed: 99, numRuns: 100 },
    );
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("nic region: a peer's garbage index is counted, not followed", () => {
  const path = `/dev/shm/jr-nic-unit-${Deno.pid}-c`;
  try {
    using r = NicRegion.create(dpdk, path, small);
    const off = r.view.getUint32(H.ringOff + 4 * RX, true);
    r.view.setUint32(off + R.head, 0x7fff0000, true); // hostile producer index
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    assert(!r.rings[RX].pop(d), "nothing popped");
    assert(r.rings[RX].badIndex === 1);
    assert(r.frame({ off: 1, len: 10, flags: 0, mss: 0 }, "rx") === undefined);
    assert(r.frame({ off: r.rxPoolOff, len: 1 << 20, flags: 0, mss: 0 }, "rx") === undefined);
    assert(r.frame({ off: r.rxPoolOff + 1, len: 10, flags: 0, mss: 0 }, "rx") === undefined);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("nic region: attach refuses files that are not regions", () => {
  const path = `/dev/shm/jr-nic-unit-${Deno.pid}-d`;
  Deno.writeFileSync(path, new Uint8Array(8192));
  try {
    NicRegion.attach(dpdk, path);
    throw new Error("attached to a zero file");
  } catch (e) {
    assert(/bad magic/.test((e as Error).message), (e as Error).message);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("nic status: read from a region without its server (offloads, MTU, counters)", async () => {
  const { nicStatus } = await import("./status.ts");
  const path = `/dev/shm/jr-nic-unit-${Deno.pid}-e`;
  try {
    using r = NicRegion.create(dpdk, path, small);
    r.view.setUint32(H.offloads, 0x5, true);
    r.view.setUint32(H.mtu, 9000, true);
    r.setCounter("rxFrames", 42n);
    const s = nicStatus(path);
    assert(s.mtu === 9000 && s.offloads.txCsum && s.offloads.rxCsum && !s.offloads.tso);
    assert(s.counters.rxFrames === 42 && s.heartbeatAgeMs === Infinity && s.port === undefined);
  } finally {
    Deno.removeSync(path);
  }
});

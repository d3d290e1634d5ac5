/**
 * A memif GSO link (`--memif-gso` on both NIC servers, config `nic.memif.gso`): TSO frames of up
 * to 64 KB cross whole, TCP/UDP checksums stay partial and arrive flagged as good, the IPv4
 * header checksum is filled; nothing is segmented, checksummed or merged per 1500-byte frame;
 * idle, both servers sleep on the link's doorbells and wake when the other sends.
 */
import fc from "fast-check";
import { assert, assertEquals } from "./_nic_assert.ts";
import { type Desc, F, OFF, RX, RX_FREE, TX, TX_FREE } from "../servers/nic/region.ts";
import { systemTest } from "./_system.ts";
import { memifPair, type NicMemifPair } from "../servers/nic/_child.ts";
import { internetChecksum } from "../servers/tcp/engine/wire/checksum.ts";

/** What the engine leaves in the TCP/UDP checksum field of an offloaded frame, here a marker. */
const PARTIAL = 0xbeef;

/** An Ethernet + IPv4 + TCP (or UDP) frame of `len` payload bytes, IPv4 checksum zero. */
function frame(proto: 6 | 17, seq: number, len: number): Uint8Array {
  const l4 = proto === 6 ? 20 : 8;
  const f = new Uint8Array(14 + 20 + l4 + len);
  const v = new DataView(f.buffer);
  f.set([2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 4, 0x08, 0x00, 0x45, 0], 0);
  v.setUint16(16, 20 + l4 + len);
  v.setUint16(20, 0x4000);
  f.set([64, proto], 22);
  f.set([198, 18, 5, 1, 198, 18, 5, 9], 26);
  v.setUint16(34, 40000);
  v.setUint16(36, 7);
  if (proto === 6) {
    v.setUint32(38, seq);
    f[46] = 0x50;
    f[47] = 0x10;
    v.setUint16(48, 65535);
    v.setUint16(50, PARTIAL);
  } else {
    v.setUint16(38, 8 + len);
    v.setUint16(40, PARTIAL);
  }
  for (let k = 14 + 20 + l4; k < f.length; k++) f[k] = (seq + k * 31) & 0xff;
  return f;
}

/** Puts a frame on `pair.a`'s TX ring with `flags` (and `mss`); false if no buffer is free. */
function send(pair: NicMemifPair, f: Uint8Array, flags: number, mss = 0): boolean {
  const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  const r = pair.a.region;
  if (!r.rings[TX_FREE].pop(d)) return false;
  r.bytes.set(f, d.off);
  r.rings[TX].push(d.off, f.length, flags, mss);
  r.rings[TX].publish();
  return true;
}

/** Frames on `pair.b`'s RX ring (copies) with their descriptor flags; buffers given back. */
function drain(pair: NicMemifPair): { f: Uint8Array; flags: number }[] {
  const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  const r = pair.b.region;
  const out: { f: Uint8Array; flags: number }[] = [];
  while (r.rings[RX].pop(d)) {
    const f = r.frame(d, "rx")!;
    if (f[12] === 0x08 && f[13] === 0x00) out.push({ f: f.slice(), flags: d.flags });
    r.rings[RX_FREE].push(d.off, 0);
  }
  r.rings[RX_FREE].publish();
  return out;
}

systemTest(
  "nic memif --memif-gso: TSO frames up to 64 KB cross whole, checksums partial and flagged good",
  async () => {
    await using pair = await memifPair(`${Deno.pid}-${Date.now() % 100000}-gso`, ["--memif-gso"]);
    const { a, b } = pair;
    assertEquals([a.ready.gsoLink, b.ready.gsoLink], [true, true], "both servers say GSO link");
    assert((b.region.offloads & OFF.tso) !== 0, "TSO offered to the TCP/IP server");
    // The link is up once a frame crosses.
    const up = Date.now() + 15000;
    let crossed = false;
    while (!crossed && Date.now() < up) {
      send(pair, frame(6, 0, 10), F.txCsum);
      await new Promise((r) => setTimeout(r, 20));
      crossed = drain(pair).length > 0;
    }
    assert(crossed, "memif link up");
    const cases = fc.sample(
      fc.record({
        proto: fc.constantFrom<(6 | 17)[]>(6, 6, 6, 17),
        len: fc.integer({ min: 0, max: 65000 }),
      }),
      { seed: 20261128, numRuns: 60 },
    );
    const b0 = b.region.counters(), a0 = a.region.counters();
    for (let i = 0; i < cases.length; i++) {
      const { proto, len } = cases[i];
      const f = frame(proto, i * 7919, proto === 17 ? Math.min(len, 1400) : len);
      const tso = proto === 6 && f.length > 1518;
      assert(send(pair, f, tso ? F.txCsum | F.txTso : F.txCsum, tso ? 1448 : 0), "a buffer");
      let got: { f: Uint8Array; flags: number }[] = [];
      const until = Date.now() + 5000;
      while (got.length === 0 && Date.now() < until) {
        got = drain(pair);
        if (got.length === 0) await b.region.rings[RX].wait(100_000);
      }
      assertEquals(got.length, 1, `case ${i}: one frame for one sent (${f.length} bytes)`);
      const g = got[0];
      assertEquals(g.f.length, f.length, `case ${i}: whole`);
      assert(g.flags & F.rxCsumOk, `case ${i}: flagged good`);
      assertEquals(internetChecksum(g.f.subarray(14, 34)), 0, `case ${i}: IPv4 header checksum`);
      const at = proto === 6 ? 50 : 40;
      assertEquals((g.f[at] << 8) | g.f[at + 1], PARTIAL, `case ${i}: transport checksum kept`);
      g.f.set(f.subarray(24, 26), 24); // the header checksum aside, byte for byte the same
      assertEquals(g.f, f, `case ${i}: bytes`);
    }
    const b1 = b.region.counters(), a1 = a.region.counters();
    assertEquals(a1.gsoSegments - a0.gsoSegments, 0, "nothing segmented");
    assertEquals(b1.groMerged - b0.groMerged, 0, "nothing merged");
    assertEquals(b1.rxCsumBad - b0.rxCsumBad, 0, "nothing verified as bad");

    // Idle, both sleep on the link's doorbells (memif has no Rx interrupt to wait on): a frame
    // wakes the receiver at once, not at its 2 s heartbeat.
    assertEquals([a.ready.idleWake, b.ready.idleWake], ["link-doorbell", "link-doorbell"]);
    await new Promise((r) => setTimeout(r, 500));
    const cpu0 = [a.cpuSeconds(), b.cpuSeconds()];
    await new Promise((r) => setTimeout(r, 3000));
    const used = [a.cpuSeconds() - cpu0[0], b.cpuSeconds() - cpu0[1]].map((x) => x / 3);
    assert(used.every((u) => u < 0.02), `idle servers used ${used} of a core`);
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 300)); // both asleep again
      const t0 = performance.now();
      assert(send(pair, frame(6, i, 100), F.txCsum), "a buffer");
      let got = 0;
      while (got === 0 && performance.now() - t0 < 1500) {
        got = drain(pair).length;
        if (got === 0) await b.region.rings[RX].wait(10_000);
      }
      const ms = performance.now() - t0;
      assertEquals(got, 1, `frame ${i} after idle`);
      assert(
        ms < 500,
        `frame ${i} after idle took ${ms.toFixed(1)} ms (the doorbell did not wake)`,
      );
    }
  },
);

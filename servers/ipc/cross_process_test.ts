/**
 * Rings across processes: Deno↔Deno (a second deno) and C↔Deno (native/ipc/ipc_peer.c). The
 * peer maps this process's memfd through /proc/<pid>/fd/<fd>. Every message must arrive once,
 * in order, intact; hostile peers must never crash the reader.
 */
import { assert, assertEquals } from "./_assert.ts";
import { ByteRing } from "./byte_ring.ts";
import { alignUp, KIND, poolBytes, ringBytes } from "./layout.ts";
import { BufferPool } from "./pool.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import type { Ring } from "./ring.ts";
import { type Descriptor, DescriptorRing } from "./slot_rings.ts";
import { buildCPeer, finish, type PeerKind, spawnPeer } from "./_spawn.ts";
import { fillPattern, patternLength, sameBytes } from "./_test_util.ts";

const N = 4000;
const CAP = 4096;
const A = 0; // ring to the peer
const B = 8192; // ring from the peer
const CANARY = 16384;
const TIMEOUT_MS = 10_000;

buildCPeer();

function setup(kind: number = KIND.MESSAGE, capacity = CAP): Region {
  const region = Region.create(32768);
  assert(ringBytes(kind, capacity) <= B - A);
  region.u8.fill(0xa5, CANARY, region.size);
  return region;
}

function path(region: Region): string {
  return `/proc/${Deno.pid}/fd/${region.fd}`;
}

/** Waits for data: true when some came, false when the producer is done; throws on silence. */
function more(rx: Ring, spinUs?: number): boolean {
  if (rx.waitReadable(TIMEOUT_MS, spinUs)) return true;
  if (rx.broken || (rx.producerClosed && !rx.hasData())) return false;
  throw new Error(`ring at ${rx.offset}: the peer went silent`);
}

function canaryIntact(region: Region): boolean {
  return region.u8.subarray(CANARY).every((b) => b === 0xa5);
}

for (const kind of ["deno", "c"] as PeerKind[]) {
  Deno.test(`cross-process ${kind}→deno: ${N} messages arrive once, in order, intact`, async () => {
    using region = setup();
    const rx = MessageRing.init(region, A, CAP);
    const peer = spawnPeer(kind, ["produce", path(region), String(A), "-", String(N)]);
    const want = new Uint8Array(rx.maxMessage);
    let seq = 0;
    for (;;) {
      const m = rx.peek();
      if (m === null) {
        if (rx.error) throw rx.error;
        if (!more(rx)) break;
        continue;
      }
      const w = want.subarray(0, patternLength(seq, rx.maxMessage));
      fillPattern(w, seq);
      assert(sameBytes(m, w), `message ${seq} differs`);
      rx.release();
      seq++;
    }
    const r = await finish(peer);
    assertEquals(r.code, 0);
    assertEquals(seq, N);
    assert(canaryIntact(region));
  });

  Deno.test(`cross-process deno→${kind}: ${N} messages checked by the peer`, async () => {
    using region = setup();
    const tx = MessageRing.init(region, A, CAP);
    const peer = spawnPeer(kind, ["consume", path(region), String(A), "-", String(N)]);
    const buf = new Uint8Array(tx.maxMessage);
    for (let seq = 0; seq < N; seq++) {
      const msg = buf.subarray(0, patternLength(seq, tx.maxMessage));
      fillPattern(msg, seq);
      while (!tx.push(msg)) assert(tx.waitWritable(msg.length, TIMEOUT_MS), `stuck at ${seq}`);
    }
    const r = await finish(peer);
    assertEquals(r.code, 0);
    assertEquals(r.out, `ok ${N}`);
  });

  Deno.test(`cross-process deno↔${kind}: echo keeps order under interleaving`, async () => {
    using region = setup();
    const tx = MessageRing.init(region, A, CAP);
    const rx = MessageRing.init(region, B, CAP);
    const peer = spawnPeer(kind, ["echo", path(region), String(A), String(B)]);
    const buf = new Uint8Array(tx.maxMessage);
    const want = new Uint8Array(tx.maxMessage);
    let sent = 0;
    let got = 0;
    while (got < N) {
      let progress = false;
      while (sent < N) {
        const msg = buf.subarray(0, patternLength(sent, tx.maxMessage));
        fillPattern(msg, sent);
        if (!tx.push(msg)) break;
        sent++;
        progress = true;
      }
      for (let m = rx.peek(); m !== null; m = rx.peek()) {
        const w = want.subarray(0, patternLength(got, rx.maxMessage));
        fillPattern(w, got);
        assert(sameBytes(m, w), `echo ${got} differs`);
        rx.release();
        got++;
        progress = true;
      }
      // The peer publishes an echo before it releases the original: wait for whichever is due.
      if (!progress && got < sent) assert(rx.waitReadable(TIMEOUT_MS), `no echo after ${got}`);
      else if (!progress) assert(tx.waitWritable(tx.maxMessage, TIMEOUT_MS), `stuck at ${sent}`);
    }
    tx.close("producer");
    const r = await finish(peer);
    assertEquals(r.code, 0);
    assert(!rx.broken && !tx.broken);
  });

  Deno.test(`cross-process deno↔${kind}: byte ring echo of 1 MiB in odd chunks`, async () => {
    using region = setup(KIND.BYTE);
    const tx = ByteRing.init(region, A, CAP);
    const rx = ByteRing.init(region, B, CAP);
    const peer = spawnPeer(kind, ["bytes-echo", path(region), String(A), String(B)]);
    const total = 1 << 20;
    const stream = new Uint8Array(total);
    fillPattern(stream, 7);
    const back = new Uint8Array(total);
    let sent = 0;
    let got = 0;
    let chunk = 1;
    while (got < total) {
      chunk = (chunk * 7 + 3) % 3001;
      const w = tx.write(stream.subarray(sent, Math.min(total, sent + chunk + 1)));
      sent += w;
      const r = rx.read(back.subarray(got));
      got += r;
      if (w === 0 && r === 0) assert(rx.waitReadable(TIMEOUT_MS), `stalled at ${got}`);
    }
    tx.close("producer");
    assertEquals((await finish(peer)).code, 0);
    assert(sameBytes(back, stream));
  });

  Deno.test(`cross-process: a hostile ${kind} producer never crashes the deno reader`, async () => {
    using region = setup();
    const rx = MessageRing.init(region, A, CAP);
    const peer = spawnPeer(kind, ["hostile", path(region), String(A), "-", "20000", "12345"]);
    let read = 0;
    for (;;) {
      const m = rx.peek();
      if (m !== null) {
        assert(m.byteOffset >= rx.dataStart && m.byteOffset + m.length <= rx.dataStart + CAP);
        rx.release();
        read++;
        continue;
      }
      if (rx.broken) break;
      if (!more(rx, 0)) break;
    }
    assertEquals((await finish(peer)).code, 0);
    // Whatever was written, the reader stayed inside its ring and reported corruption.
    assert(canaryIntact(region));
    assert(rx.broken, `reader read ${read} messages and never noticed the garbage`);
    assert(rx.error!.message.includes("corrupt"));
  });
}

Deno.test("cross-process: a hostile deno producer never crashes the C reader", async () => {
  using region = setup();
  MessageRing.init(region, A, CAP);
  const reader = spawnPeer("c", ["drain", path(region), String(A), "-"]);
  const writer = spawnPeer("deno", ["hostile", path(region), String(A), "-", "20000", "99"]);
  assertEquals((await finish(writer)).code, 0);
  const r = await finish(reader);
  assertEquals(r.signal, null);
  assertEquals(r.code, 0);
  assert(/^(broken|closed) \d+/.test(r.out), r.out);
  assert(canaryIntact(region));
});

Deno.test("cross-process deno↔c: descriptors echo and a bad one breaks only the C side", async () => {
  using region = setup(KIND.DESCRIPTOR, 256);
  const bounds = { bytes: 64 * 2048, bufSize: 2048 };
  const tx = DescriptorRing.init(region, A, 256, bounds);
  const rx = DescriptorRing.init(region, B, 256, bounds);
  const peer = spawnPeer("c", [
    "desc-echo",
    path(region),
    String(A),
    String(B),
    String(bounds.bytes),
    String(bounds.bufSize),
  ]);
  const d: Descriptor = { offset: 0, length: 0, flags: 0, user: 0 };
  let sent = 0;
  let got = 0;
  while (got < N) {
    if (sent < N && tx.push((sent % 64) * 2048, 60 + (sent % 1000), sent & 0xff, sent)) sent++;
    while (rx.pop(d)) {
      assertEquals(d.user, got);
      assertEquals(d.offset, (got % 64) * 2048);
      assertEquals(d.length, 60 + (got % 1000));
      got++;
    }
    if (got < sent && !rx.hasData()) assert(rx.waitReadable(TIMEOUT_MS), `stalled at ${got}`);
  }
  // A descriptor crossing into the next buffer: the C side must refuse it and exit 1.
  assert(tx.push(2048 - 10, 20));
  const r = await finish(peer);
  assertEquals(r.code, 1);
  assertEquals(r.signal, null);
});

Deno.test("cross-process c→deno: frames in a shared pool, passed by descriptor, recycled", async () => {
  using region = Region.create(1 << 20);
  const pool = BufferPool.init(region, 0, 64, 2048);
  const descOff = alignUp(poolBytes(64, 2048), 64);
  const rx = DescriptorRing.init(region, descOff, 64, pool.bounds);
  const peer = spawnPeer("c", ["pool-send", path(region), "0", String(descOff), String(N)]);
  const d: Descriptor = { offset: 0, length: 0, flags: 0, user: 0 };
  const want = new Uint8Array(2048);
  let seq = 0;
  for (;;) {
    if (rx.pop(d)) {
      assertEquals(d.user, seq);
      const w = want.subarray(0, patternLength(seq, 2048));
      fillPattern(w, seq);
      assert(sameBytes(pool.bytes(d.offset, d.length), w), `frame ${seq} differs`);
      assert(pool.free(d.offset));
      seq++;
      continue;
    }
    if (rx.error) throw rx.error;
    if (!more(rx)) break;
  }
  assertEquals((await finish(peer)).code, 0);
  assertEquals(seq, N);
  assert(!pool.freeList.broken);
});

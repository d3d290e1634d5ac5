import { assert, assertEquals } from "../supervisor/_assert.ts";
import { openDpdk } from "../../ffi/dpdk.ts";
import { type Desc, F, NicRegion, RX, RX_FREE, TX, TX_FREE } from "../nic/region.ts";
import { NicLink, offloadFlags } from "./nic_link.ts";

/**
 * Runs `f` with a NIC region (`slots` rx and `slots` tx buffers of 2048 bytes, at
 * `/dev/shm/jr-NAME-PID`) and a NicLink on it; closes both and removes the region afterwards.
 */
function withNicLink(name: string, slots: number, f: (nic: NicRegion, link: NicLink) => void) {
  const path = `/dev/shm/jr-${name}-${Deno.pid}`;
  const nic = NicRegion.create(openDpdk(), path, {
    ringCap: slots,
    rxSlotSize: 2048,
    rxSlots: slots,
    txSlotSize: 2048,
    txSlots: slots,
  });
  try {
    const link = new NicLink(path);
    try {
      f(nic, link);
    } finally {
      link.close();
    }
  } finally {
    nic.close();
    Deno.removeSync(path);
  }
}

Deno.test("nic link: rx buffers go back even when the engine transmits while a frame is delivered", () => {
  withNicLink("nltest", 64, (nic, link) => {
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    const rxOffsets = new Set<number>();
    let sent = 0;
    for (let round = 0; round < 5; round++) {
      // The NIC's side: 40 frames into rx buffers taken from RX_FREE.
      for (let i = 0; i < 40; i++) {
        assert(nic.rings[RX_FREE].pop(d), "an rx buffer is free");
        rxOffsets.add(d.off);
        nic.bytes.set([round, i], d.off);
        assert(nic.rings[RX].push(d.off, 60));
      }
      const got: number[] = [];
      const n = link.receive((frame) => {
        got.push(frame[1]);
        // The engine answers at once (an ACK): a tx buffer is taken mid-delivery.
        assert(link.transmit(new Uint8Array(60).fill(7)));
      }, 64);
      assertEquals(n, 40);
      assertEquals(got, [...Array(40).keys()]);
      link.flush();
      // The NIC's side: send what is on TX, give the tx buffers back.
      while (nic.rings[TX].pop(d)) {
        sent++;
        assert(nic.rings[TX_FREE].push(d.off, 0));
      }
    }
    assertEquals(sent, 200);
    // Every rx buffer is back on RX_FREE, and only rx buffers.
    assertEquals(nic.rings[RX_FREE].count, 64);
    const back = new Set<number>();
    while (nic.rings[RX_FREE].pop(d)) {
      assert(nic.frame(d, "rx") !== undefined || d.off >= nic.rxPoolOff, `rx offset ${d.off}`);
      assert(d.off >= nic.rxPoolOff && d.off < nic.txPoolOff, `not an rx buffer: ${d.off}`);
      back.add(d.off);
    }
    assertEquals(back.size, 64);
    assertEquals(link.counters.rxFrames, 200);
    assertEquals(link.counters.txFrames, 200);
    assertEquals(link.counters.rxFreeFull, 0);
  });
});

Deno.test("nic link: offload flags only on frames the NIC server can parse (issue 9)", () => {
  const frame = (etherType: number, ipByte0: number, proto: number, frag = 0, len = 60) => {
    const f = new Uint8Array(len);
    f[12] = etherType >> 8;
    f[13] = etherType & 0xff;
    f[14] = ipByte0;
    if (etherType === 0x0800) {
      f[20] = frag >> 8;
      f[21] = frag & 0xff;
      f[23] = proto;
    } else f[20] = proto;
    return f;
  };
  assertEquals(offloadFlags(frame(0x0800, 0x45, 6), 0), F.txCsum);
  assertEquals(offloadFlags(frame(0x0800, 0x45, 6), 1460), F.txCsum | F.txTso);
  assertEquals(offloadFlags(frame(0x0800, 0x45, 17), 1460), F.txCsum); // no TSO for UDP
  assertEquals(offloadFlags(frame(0x0800, 0x45, 17, 0x2000), 0), 0); // a fragment
  assertEquals(offloadFlags(frame(0x0800, 0x45, 17, 0x0001), 0), 0); // a later fragment
  assertEquals(offloadFlags(frame(0x0806, 0, 0), 0), 0); // ARP
  assertEquals(offloadFlags(frame(0x86dd, 0x60, 6), 0), F.txCsum);
  assertEquals(offloadFlags(frame(0x86dd, 0x60, 6), 1428), F.txCsum | F.txTso); // OFF.tso6
  assertEquals(offloadFlags(frame(0x86dd, 0x60, 17), 1428), F.txCsum);
  assertEquals(offloadFlags(frame(0x86dd, 0x60, 44), 0), 0); // IPv6 fragment header
  assertEquals(offloadFlags(frame(0x0800, 0x45, 6, 0, 20), 0), 0); // truncated
});

Deno.test("nic link: lent tx buffers are queued without a copy; unused ones come back at flush", () => {
  withNicLink("nltest2", 8, (nic, link) => {
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    assertEquals(link.alloc(4096), undefined, "larger than a tx buffer");
    for (let round = 0; round < 20; round++) {
      // Three lent: one sent as is, one dropped by the stack, one copied into by a heap frame.
      const a = link.alloc(100)!, b = link.alloc(60)!;
      assert(a !== undefined && b !== undefined);
      a.fill(round);
      b.fill(0xee);
      assert(link.transmit(a, F.txCsum, 0));
      assert(link.transmit(new Uint8Array(70).fill(0xcc)));
      // The same view again is no longer lent: copied like any frame.
      assert(link.transmit(a.subarray(0, 50)));
      link.flush();
      const got: [number, number, number][] = [];
      while (nic.rings[TX].pop(d)) {
        const f = nic.frame(d, "tx")!;
        got.push([d.len, f[0], d.flags]);
        assert(nic.rings[TX_FREE].push(d.off, 0));
      }
      nic.rings[TX_FREE].publish();
      assertEquals(got, [[100, round & 0xff, F.txCsum], [70, 0xcc, 0], [50, round & 0xff, 0]]);
    }
    // Nothing leaked: 20 rounds with more buffers than the pool has.
    assertEquals(link.counters.txNoBuf, 0);
    assertEquals(link.counters.txZeroCopy, 20);
    assertEquals(link.counters.txFrames, 60);
  });
});

Deno.test("nic link: a new server takes back the buffers its dead predecessor held", () => {
  withNicLink("nlreclaim", 16, (nic, dead) => {
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    // The predecessor lent 10 tx buffers it never sent, took 3 received frames off RX and
    // never gave their buffers back, and died (no flush, no close). Two frames wait on RX.
    for (let i = 0; i < 10; i++) assert(dead.alloc(100), "a tx buffer");
    for (let i = 0; i < 5; i++) {
      assert(nic.rings[RX_FREE].pop(d));
      assert(nic.rings[RX].push(d.off, 60));
    }
    for (let i = 0; i < 3; i++) assert(nic.rings[RX].pop(d));
    const next = new NicLink(nic.path);
    try {
      assertEquals(next.reclaim(), { tx: 10, rx: 3 });
      assertEquals(next.reclaim(), { tx: 0, rx: 0 }, "nothing twice");
      // Every tx buffer can be used again: 16 frames go out at once, not a 17th.
      for (let i = 0; i < 16; i++) assert(next.transmit(new Uint8Array(60)), `frame ${i}`);
      assert(!next.transmit(new Uint8Array(60)), "no 17th buffer");
      // The two waiting frames are still delivered, and every rx buffer is free or waiting.
      assertEquals(next.receive(() => {}, 16), 2);
      assertEquals(nic.rings[RX_FREE].count, 16);
    } finally {
      next.close();
    }
  });
});

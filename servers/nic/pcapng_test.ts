import fc from "fast-check";
import { enhancedPacket, interfaceDescription, parsePcapng, sectionHeader } from "./pcapng.ts";

function assert(c: unknown, m = "assertion failed"): asserts c {
  if (!c) throw new Error(m);
}

function file(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

Deno.test("pcapng: frames round-trip through encode and parse (timestamps, direction, lengths)", () => {
  const pkt = fc.record({
    data: fc.uint8Array({ minLength: 0, maxLength: 300 }),
    ts: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    dir: fc.constantFrom("in" as const, "out" as const),
    extra: fc.nat(100),
  });
  fc.assert(
    fc.property(fc.array(pkt, { maxLength: 20 }), (pkts) => {
      const buf = file([
        sectionHeader(),
        interfaceDescription("veth0"),
        ...pkts.map((p) => enhancedPacket(0, p.ts, p.data, p.dir, p.data.length + p.extra)),
      ]);
      assert(buf.length % 4 === 0, "blocks are 32-bit aligned");
      const parsed = parsePcapng(buf);
      assert(parsed.interfaces.length === 1 && parsed.interfaces[0].name === "veth0");
      assert(parsed.interfaces[0].tsresol === 9 && parsed.interfaces[0].linkType === 1);
      assert(parsed.packets.length === pkts.length);
      pkts.forEach((p, i) => {
        const q = parsed.packets[i];
        assert(q.tsNs === p.ts, "timestamp");
        assert(q.dir === p.dir, "direction");
        assert(q.origLen === p.data.length + p.extra, "original length");
        assert(q.data.length === p.data.length && q.data.every((b, k) => b === p.data[k]));
      });
    }),
    { seed: 4242, numRuns: 200 },
  );
});

Deno.test("pcapng: the section header has the byte-order magic and version 1.0", () => {
  const shb = sectionHeader();
  const v = new DataView(shb.buffer);
  assert(v.getUint32(0, true) === 0x0a0d0d0a);
  assert(v.getUint32(8, true) === 0x1a2b3c4d);
  assert(v.getUint16(12, true) === 1 && v.getUint16(14, true) === 0);
  assert(v.getUint32(4, true) === shb.length && v.getUint32(shb.length - 4, true) === shb.length);
});

Deno.test("pcapng: truncated or corrupted files are refused with a reason", () => {
  const good = file([
    sectionHeader(),
    interfaceDescription("x"),
    enhancedPacket(0, 1n, new Uint8Array(60), "in"),
  ]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: good.length - 1 }), (cut) => {
      try {
        parsePcapng(good.subarray(0, cut));
      } catch (e) {
        return /Cannot parse pcapng/.test((e as Error).message);
      }
      // A cut on a block boundary is a valid shorter file.
      return true;
    }),
    { seed: 7, numRuns: 100 },
  );
  const bad = good.slice();
  new DataView(bad.buffer).setUint32(good.length - 4, 12345, true);
  let msg = "";
  try {
    parsePcapng(bad);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(/trailing length/.test(msg), msg);
  const noIface = file([sectionHeader(), enhancedPacket(0, 1n, new Uint8Array(4), "out")]);
  try {
    parsePcapng(noIface);
    throw new Error("accepted a packet for an unknown interface");
  } catch (e) {
    assert(/unknown interface/.test((e as Error).message));
  }
});

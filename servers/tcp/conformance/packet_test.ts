import assert from "node:assert/strict";
import fc from "fast-check";
import {
  buildInboundIcmp,
  buildInboundTcp,
  decodeOptions,
  encodeOptions,
  type Endpoints,
  inetChecksum,
  parseOutbound,
} from "./packet.ts";
import { parseScript } from "./parser.ts";
import type { IcmpPacketSpec, TcpOptionSpec, TcpPacketSpec } from "./ast.ts";

const EP4: Endpoints = {
  version: 4,
  localIp: "198.18.0.2",
  remoteIp: "198.18.0.1",
  localPort: 8080,
  remotePort: 40123,
};
const EP6: Endpoints = {
  ...EP4,
  version: 6,
  localIp: "fd00:198:18::2",
  remoteIp: "fd00:198:18::1",
};

function spec(line: string): TcpPacketSpec | IcmpPacketSpec {
  const b = parseScript(`0 ${line}\n`).events[0].body;
  assert.ok(b.type === "packet");
  return b.packet;
}

Deno.test("packet: internet checksum matches RFC 1071's example", () => {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2, checksum 0x220d.
  assert.equal(inetChecksum([new Uint8Array([0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0xf7])]), 0x220d);
  // Split across parts at an odd boundary gives the same.
  assert.equal(
    inetChecksum([new Uint8Array([0, 1, 0xf2]), new Uint8Array([3, 0xf4, 0xf5, 0xf6, 0xf7])]),
    0x220d,
  );
});

Deno.test("packet: inbound TCP maps ack, SACK and TS ecr and has valid checksums", () => {
  const s = spec("< . 5:15(10) ack 3 win 1000 <nop,nop,TS val 7 ecr 9,nop,nop,sack 1:2>");
  assert.ok(s.type === "tcp");
  for (const ep of [EP4, EP6]) {
    const bytes = buildInboundTcp(s, ep, { localIsn: 1000, tsOffset: 50 });
    // Swap roles to read it back with the outbound parser (it checks both checksums).
    const p = parseOutbound(bytes);
    assert.equal(p.error, undefined);
    assert.equal(p.src, ep.remoteIp);
    assert.equal(p.dst, ep.localIp);
    assert.ok(p.tcp);
    assert.ok(p.tcp.checksumOk);
    assert.equal(p.tcp.srcPort, 40123);
    assert.equal(p.tcp.dstPort, 8080);
    assert.equal(p.tcp.seq, 5);
    assert.equal(p.tcp.ack, 1003);
    assert.equal(p.tcp.flags, 0x10);
    assert.equal(p.tcp.win, 1000);
    assert.equal(p.tcp.payloadLen, 10);
    assert.deepEqual(p.tcp.options, [
      { kind: "nop" },
      { kind: "nop" },
      { kind: "ts", val: 7, ecr: 59 },
      { kind: "nop" },
      { kind: "nop" },
      { kind: "sack", blocks: [[1001, 1002]] },
    ]);
  }
});

Deno.test("packet: UDP encapsulation and ECN bits", () => {
  const s = spec("< [ect0] S 0:0(0) win 1 <mss 1460>/udp(1 > 9811)");
  assert.ok(s.type === "tcp");
  const p = parseOutbound(buildInboundTcp(s, EP4, { localIsn: 0, tsOffset: 0 }));
  assert.deepEqual(p.udp, { src: 1, dst: 9811 });
  assert.equal(p.tos & 3, 2);
  assert.equal(p.proto, 17);
  assert.ok(p.tcp?.checksumOk);
});

Deno.test("packet: ICMP errors quote the engine's segment (v4 and v6)", () => {
  const s4 = spec("< icmp unreachable port_unreachable [1:1(0)]");
  assert.ok(s4.type === "icmp");
  const b4 = buildInboundIcmp(s4, EP4, { localIsn: 0xfffffff0, tsOffset: 0 });
  assert.equal(b4[9], 1); // ICMP
  const icmp = b4.subarray(20);
  assert.equal(icmp[0], 3);
  assert.equal(icmp[1], 3);
  assert.equal(inetChecksum([icmp]), 0);
  const inner = icmp.subarray(8);
  assert.equal(inner[9], 6);
  const iv = new DataView(inner.buffer, inner.byteOffset);
  assert.equal(iv.getUint16(20), 8080);
  assert.equal(iv.getUint16(22), 40123);
  assert.equal(iv.getUint32(24), 0xfffffff1);

  const s6 = spec("< icmp packet_too_big mtu 1280 [0:0(0)]");
  assert.ok(s6.type === "icmp");
  const b6 = buildInboundIcmp(s6, EP6, { localIsn: 5, tsOffset: 0 });
  assert.equal(b6[6], 58);
  const i6 = b6.subarray(40);
  assert.equal(i6[0], 2);
  assert.equal(new DataView(i6.buffer, i6.byteOffset).getUint32(4), 1280);
  assert.throws(
    () => buildInboundIcmp({ ...s6, icmpType: "bogus" }, EP6, { localIsn: 0, tsOffset: 0 }),
    /ICMPv6 type "bogus"/,
  );
});

Deno.test("packet: option encode/decode round-trips (property)", () => {
  const opt: fc.Arbitrary<TcpOptionSpec> = fc.oneof(
    fc.constant<TcpOptionSpec>({ kind: "nop" }),
    fc.integer({ min: 0, max: 65535 }).map((value): TcpOptionSpec => ({ kind: "mss", value })),
    fc.integer({ min: 0, max: 14 }).map((value): TcpOptionSpec => ({ kind: "wscale", value })),
    fc.constant<TcpOptionSpec>({ kind: "sackOK" }),
    fc.tuple(fc.nat(), fc.nat()).map(([val, ecr]): TcpOptionSpec => ({ kind: "ts", val, ecr })),
    fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 2 })
      .map((blocks): TcpOptionSpec => ({ kind: "sack", blocks })),
  );
  fc.assert(
    fc.property(fc.array(opt, { maxLength: 2 }), (opts) => {
      const b = encodeOptions(opts);
      assert.equal(b.length % 4, 0);
      const back = decodeOptions(b)!;
      // Padding decodes as EOLs after the options.
      assert.deepEqual(back.slice(0, opts.length), opts);
      assert.ok(back.slice(opts.length).every((o) => o.kind === "eol"));
    }),
    { seed: 42, numRuns: 300 },
  );
});

Deno.test("packet: malformed outbound packets are reported, not thrown", () => {
  assert.match(parseOutbound(new Uint8Array([0x45, 0, 0])).error!, /truncated IPv4/);
  const s = spec("< . 1:1(0) ack 1 win 1");
  assert.ok(s.type === "tcp");
  const b = buildInboundTcp(s, EP4, { localIsn: 0, tsOffset: 0 });
  b[32] = 0x10; // data offset 4 words
  assert.match(parseOutbound(b).error!, /data offset 4/);
  const c = buildInboundTcp(s, EP4, { localIsn: 0, tsOffset: 0 });
  c[30] ^= 0xff; // corrupt the window: checksum no longer matches
  assert.equal(parseOutbound(c).tcp?.checksumOk, false);
});

import assert from "node:assert/strict";
import { FakeContext } from "../context.ts";
import { Stack } from "../stack.ts";
import { Sockets } from "../socket/sockets.ts";
import {
  AF_INET,
  F_SETFL,
  IPPROTO_TCP,
  O_NONBLOCK,
  SOCK_STREAM,
  TCP_REMOTE_UDP_ENCAPS_PORT,
} from "../socket/api.ts";
import { emitIpv4, parseIpv4 } from "../wire/ipv4.ts";
import { emitUdp, parseUdp, udpChecksum } from "../wire/udp.ts";
import { buildTcp, parseTcp, TH_ACK, TH_SYN } from "../wire/tcp.ts";
import { ipToBytes } from "../ip/addr.ts";
import { finishSum, pseudoHeaderSum, sumBytes } from "../wire/checksum.ts";

const ME = "198.18.0.2", PEER = "198.18.0.1";

function udpPacket(sport: number, dport: number, tcp: Uint8Array): Uint8Array {
  const d = new Uint8Array(8 + tcp.length);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLength: tcp.length }, d);
  d.set(tcp, 8);
  const c = udpChecksum(ipToBytes(PEER), ipToBytes(ME), d);
  d[6] = c >> 8;
  d[7] = c & 0xff;
  const p = new Uint8Array(20 + d.length);
  emitIpv4({
    src: PEER,
    dst: ME,
    proto: 17,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: 1,
    dontFragment: false,
    moreFragments: false,
    fragOffset: 0,
    payloadLength: d.length,
    options: new Uint8Array(0),
  }, p);
  p.set(d, 20);
  return p;
}

Deno.test("TCP over UDP: an encapsulated connection handshakes inside UDP from the tunneling port", () => {
  const ctx = new FakeContext(3, 1_000_000);
  const stack = new Stack(ctx);
  const out: Uint8Array[] = [];
  const ifi = stack.addInterface({
    kind: "ip",
    mtu: 1500,
    caps: { txChecksum: false, rxChecksum: false, tso: false },
    transmit: (f) => out.push(f.slice()),
  }, { addrs: [`${ME}/24`] });
  const s = new Sockets(stack);
  stack.sysctl.set("net.inet.tcp.udp_tunneling_port", 9811);
  const fd = s.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP).value!;
  s.fcntl(fd, F_SETFL, O_NONBLOCK);
  assert.equal(s.setsockopt(fd, IPPROTO_TCP, TCP_REMOTE_UDP_ENCAPS_PORT, 5000).value, 0);
  assert.equal(s.connect(fd, { family: AF_INET, addr: PEER, port: 80 }).errno, 115);
  const ip = parseIpv4(out[0]);
  assert.ok(typeof ip !== "string");
  assert.equal(ip.proto, 17);
  const udp = parseUdp(out[0].subarray(20));
  assert.ok(typeof udp !== "string");
  assert.deepEqual([udp.srcPort, udp.dstPort], [9811, 5000]);
  const tcpBytes = out[0].subarray(28);
  const syn = parseTcp(tcpBytes);
  assert.ok(typeof syn !== "string");
  assert.equal(syn.flags, TH_SYN);
  // MSS pays the UDP overhead; the inner TCP checksum is valid.
  assert.equal(
    syn.options.find((o) => o.kind === "mss")?.kind === "mss" &&
      (syn.options.find((o) => o.kind === "mss") as { mss: number }).mss,
    1452,
  );
  const sum = finishSum(
    sumBytes(pseudoHeaderSum(ipToBytes(ME), ipToBytes(PEER), 6, tcpBytes.length), tcpBytes),
  );
  assert.equal(sum, 0);
  // SYN-ACK back inside UDP from port 5000: established.
  const sa = buildTcp({
    srcPort: 80,
    dstPort: syn.srcPort,
    seq: 1000,
    ack: (syn.seq + 1) >>> 0,
    flags: TH_SYN | TH_ACK,
    window: 65535,
    urgent: 0,
    options: [{ kind: "mss", mss: 1452 }],
    payload: new Uint8Array(0),
  });
  const csum = finishSum(
    sumBytes(pseudoHeaderSum(ipToBytes(PEER), ipToBytes(ME), 6, sa.length), sa),
  );
  sa[16] = csum >> 8;
  sa[17] = csum & 0xff;
  stack.receive(ifi, udpPacket(5000, 9811, sa));
  assert.equal(s.tcpInfo(fd).value?.tcpi_state, 4);
  const ack = parseTcp(out[out.length - 1].subarray(28));
  assert.ok(typeof ack !== "string");
  assert.equal(ack.flags, TH_ACK);
  // The same SYN-ACK outside the tunnel does not match: it is answered with a plain RST.
  const n = out.length;
  stack.receive(
    ifi,
    (() => {
      const p = new Uint8Array(20 + sa.length);
      emitIpv4({
        src: PEER,
        dst: ME,
        proto: 6,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 2,
        dontFragment: false,
        moreFragments: false,
        fragOffset: 0,
        payloadLength: sa.length,
        options: new Uint8Array(0),
      }, p);
      p.set(sa, 20);
      return p;
    })(),
  );
  assert.equal(out.length, n + 1);
  const rst = parseIpv4(out[n]);
  assert.ok(typeof rst !== "string" && rst.proto === 6);
});

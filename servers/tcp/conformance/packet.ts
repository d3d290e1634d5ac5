/**
 * Building the inbound packets a script describes and parsing the engine's outbound packets
 * for comparison. Self-contained (own checksum and header code) so the runner checks the
 * engine's wire formats independently of them.
 *
 * Sequence-number mapping (packetdrill semantics): the remote's numbers are written as they go
 * on the wire; the engine's (outbound seq, inbound ack, inbound SACK blocks, quoted ICMP
 * segments) are written relative to the engine's initial sequence number, which the runner
 * learns from the engine's SYN.
 *
 * @module
 */

import type { IcmpPacketSpec, TcpOptionSpec, TcpPacketSpec } from "./ast.ts";

/** Addresses and ports of the script's connection. */
export interface Endpoints {
  version: 4 | 6;
  localIp: string;
  remoteIp: string;
  localPort: number;
  remotePort: number;
}

/** What the runner knows of the engine's numbering. */
export interface SeqMap {
  /** The engine's ISN (script sequence 0), once learnt. */
  localIsn: number;
  /** Engine TS val minus the script's TS val, once learnt. */
  tsOffset: number;
}

// ---- checksum and addresses ---------------------------------------------------------------

/** Internet checksum (RFC 1071) over several parts, each treated as continuing the last. */
export function inetChecksum(parts: Uint8Array[]): number {
  let sum = 0;
  let odd = false;
  let carryByte = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      if (odd) {
        sum += (carryByte << 8) | p[i];
        odd = false;
      } else {
        carryByte = p[i];
        odd = true;
      }
    }
  }
  if (odd) sum += carryByte << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return (~sum) & 0xffff;
}

/** Text IPv4 or IPv6 address to bytes. */
export function ipBytes(a: string): Uint8Array {
  if (a.includes(":")) {
    const out = new Uint8Array(16);
    const [head, tail] = a.includes("::") ? a.split("::") : [a, undefined];
    const h = head ? head.split(":") : [];
    const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
    const words = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    if (words.length !== 8) throw new Error(`Cannot parse IPv6 address "${a}"`);
    words.forEach((w, i) => {
      const v = parseInt(w, 16);
      out[2 * i] = v >> 8;
      out[2 * i + 1] = v & 0xff;
    });
    return out;
  }
  const parts = a.split(".").map((x) => parseInt(x, 10));
  if (parts.length !== 4 || parts.some((x) => !(x >= 0 && x <= 255))) {
    throw new Error(`Cannot parse IPv4 address "${a}"`);
  }
  return new Uint8Array(parts);
}

function pseudoHeader(version: 4 | 6, src: string, dst: string, proto: number, len: number) {
  const s = ipBytes(src), d = ipBytes(dst);
  if (version === 4) {
    const p = new Uint8Array(12);
    p.set(s, 0);
    p.set(d, 4);
    p[9] = proto;
    p[10] = len >> 8;
    p[11] = len & 0xff;
    return p;
  }
  const p = new Uint8Array(40);
  p.set(s, 0);
  p.set(d, 16);
  new DataView(p.buffer).setUint32(32, len);
  p[39] = proto;
  return p;
}

/** Wraps a transport payload in an IPv4 or IPv6 header. */
export function ipPacket(
  version: 4 | 6,
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  opts: { ttl?: number; tos?: number } = {},
): Uint8Array {
  const ttl = opts.ttl ?? 64, tos = opts.tos ?? 0;
  if (version === 4) {
    const p = new Uint8Array(20 + payload.length);
    const v = new DataView(p.buffer);
    p[0] = 0x45;
    p[1] = tos;
    v.setUint16(2, p.length);
    p[8] = ttl;
    p[9] = proto;
    p.set(ipBytes(src), 12);
    p.set(ipBytes(dst), 16);
    v.setUint16(10, inetChecksum([p.subarray(0, 20)]));
    p.set(payload, 20);
    return p;
  }
  const p = new Uint8Array(40 + payload.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, (6 << 28) | (tos << 20));
  v.setUint16(4, payload.length);
  p[6] = proto;
  p[7] = ttl;
  p.set(ipBytes(src), 8);
  p.set(ipBytes(dst), 24);
  p.set(payload, 40);
  return p;
}

// ---- TCP options ---------------------------------------------------------------------------

/** Thrown when a script uses something the runner does not support. */
export class UnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedError";
  }
}

/** Encodes script options (already mapped) into bytes, padded with zeros to 4 bytes. */
export function encodeOptions(opts: TcpOptionSpec[]): Uint8Array {
  const b: number[] = [];
  for (const o of opts) {
    switch (o.kind) {
      case "nop":
        b.push(1);
        break;
      case "eol":
        b.push(0);
        break;
      case "mss":
        b.push(2, 4, o.value >> 8, o.value & 0xff);
        break;
      case "wscale":
        b.push(3, 3, o.value);
        break;
      case "sackOK":
        b.push(4, 2);
        break;
      case "sack":
        b.push(5, 2 + 8 * o.blocks.length);
        for (const [l, r] of o.blocks) b.push(...u32(l), ...u32(r));
        break;
      case "ts":
        b.push(8, 10, ...u32(o.val), ...u32(o.ecr));
        break;
      case "fo":
        b.push(34, 2 + o.cookie.length, ...o.cookie);
        break;
      case "exp":
        b.push(o.kind2, 2 + o.data.length, ...o.data);
        break;
      case "md5":
        throw new UnsupportedError("TCP MD5 signatures (md5 valid) are not supported");
    }
  }
  while (b.length % 4) b.push(0);
  if (b.length > 40) throw new UnsupportedError(`TCP options too long (${b.length} bytes)`);
  return new Uint8Array(b);
}

function u32(x: number): number[] {
  x >>>= 0;
  return [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
}

/** Decodes option bytes into a list (each EOL/NOP byte an entry). Undefined if malformed. */
export function decodeOptions(b: Uint8Array): TcpOptionSpec[] | undefined {
  const out: TcpOptionSpec[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  while (i < b.length) {
    const k = b[i];
    if (k === 0) {
      out.push({ kind: "eol" });
      i++;
      continue;
    }
    if (k === 1) {
      out.push({ kind: "nop" });
      i++;
      continue;
    }
    if (i + 1 >= b.length) return undefined;
    const len = b[i + 1];
    if (len < 2 || i + len > b.length) return undefined;
    const body = b.subarray(i + 2, i + len);
    if (k === 2 && len === 4) out.push({ kind: "mss", value: v.getUint16(i + 2) });
    else if (k === 3 && len === 3) out.push({ kind: "wscale", value: b[i + 2] });
    else if (k === 4 && len === 2) out.push({ kind: "sackOK" });
    else if (k === 5 && (len - 2) % 8 === 0) {
      const blocks: [number, number][] = [];
      for (let j = i + 2; j < i + len; j += 8) blocks.push([v.getUint32(j), v.getUint32(j + 4)]);
      out.push({ kind: "sack", blocks });
    } else if (k === 8 && len === 10) {
      out.push({ kind: "ts", val: v.getUint32(i + 2), ecr: v.getUint32(i + 6) });
    } else if (k === 34) out.push({ kind: "fo", cookie: body.slice() });
    else if (k === 19) out.push({ kind: "md5" });
    else out.push({ kind: "exp", kind2: k, data: body.slice() });
    i += len;
  }
  return out;
}

/** Text form of an option list, in the script's notation. */
export function formatOptions(opts: TcpOptionSpec[]): string {
  return opts.map((o) => {
    switch (o.kind) {
      case "nop":
      case "eol":
      case "sackOK":
        return o.kind;
      case "mss":
      case "wscale":
        return `${o.kind} ${o.value}`;
      case "sack":
        return "sack " + o.blocks.map(([l, r]) => `${l}:${r}`).join(" ");
      case "ts":
        return `TS val ${o.val} ecr ${o.ecr}`;
      case "fo":
        return o.cookie.length ? `FO ${hex(o.cookie)}` : "FO";
      case "md5":
        return "md5";
      case "exp":
        return `opt${o.kind2} ${hex(o.data)}`;
    }
  }).join(",");
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ---- flags ---------------------------------------------------------------------------------

const FLAG_BITS: Record<string, number> = {
  F: 0x01,
  S: 0x02,
  R: 0x04,
  P: 0x08,
  ".": 0x10,
  U: 0x20,
  E: 0x40,
  W: 0x80,
};

/** Script flag letters to the TCP flags byte. */
export function flagsToBits(flags: string): number {
  let b = 0;
  for (const c of flags) b |= FLAG_BITS[c] ?? 0;
  return b;
}

/** TCP flags byte to script letters (in packetdrill's order). */
export function bitsToFlags(b: number): string {
  let s = "";
  for (const c of "SFRPUEW.") if (b & FLAG_BITS[c]) s += c;
  return s;
}

/** ECN codepoint names used in brackets. */
export function ecnValue(name: string): number[] {
  switch (name) {
    case "noecn":
      return [0];
    case "ect1":
      return [1];
    case "ect0":
      return [2];
    case "ce":
      return [3];
    case "ect01":
      return [1, 2];
    default:
      throw new UnsupportedError(`unknown ECN codepoint [${name}]`);
  }
}

// ---- inbound building ----------------------------------------------------------------------

/** Builds the IP packet for an inbound TCP line. */
export function buildInboundTcp(spec: TcpPacketSpec, ep: Endpoints, map: SeqMap): Uint8Array {
  if (spec.seq === undefined) throw new UnsupportedError("inbound packet with `...` sequence");
  const opts = spec.options === "any" ? undefined : spec.options;
  if (spec.options === "any") throw new UnsupportedError("inbound packet with <...> options");
  const mapped = (opts ?? []).map((o): TcpOptionSpec => {
    if (o.kind === "ts") return { kind: "ts", val: o.val, ecr: (o.ecr + map.tsOffset) >>> 0 };
    if (o.kind === "sack") {
      return {
        kind: "sack",
        blocks: o.blocks.map(([l, r]) => [(l + map.localIsn) >>> 0, (r + map.localIsn) >>> 0]),
      };
    }
    return o;
  });
  const ob = encodeOptions(mapped);
  const tcp = new Uint8Array(20 + ob.length + spec.len);
  const v = new DataView(tcp.buffer);
  // With /udp the ports written are the UDP ones; the TCP ports stay the connection's.
  v.setUint16(0, ep.remotePort);
  v.setUint16(2, ep.localPort);
  v.setUint32(4, spec.seq >>> 0);
  const ack = spec.ack === undefined ? 0 : spec.seqAbsolute ? spec.ack : spec.ack + map.localIsn;
  v.setUint32(8, ack >>> 0);
  tcp[12] = ((20 + ob.length) / 4) << 4;
  tcp[13] = flagsToBits(spec.flags);
  v.setUint16(14, spec.win ?? 0);
  tcp.set(ob, 20);
  // Payload: a recognisable pattern rather than zeros.
  for (let i = 0; i < spec.len; i++) tcp[20 + ob.length + i] = 0x61 + (i % 26);
  let tos = spec.ip?.tos ?? 0;
  if (spec.ecn) tos = (tos & 0xfc) | ecnValue(spec.ecn)[0];
  const ipo = { ttl: spec.ip?.ttl, tos };
  const tcpCsum = inetChecksum([
    pseudoHeader(ep.version, ep.remoteIp, ep.localIp, 6, tcp.length),
    tcp,
  ]);
  v.setUint16(16, tcpCsum);
  if (!spec.udp) return ipPacket(ep.version, ep.remoteIp, ep.localIp, 6, tcp, ipo);
  const udp = new Uint8Array(8 + tcp.length);
  const uv = new DataView(udp.buffer);
  uv.setUint16(0, spec.udp.src);
  uv.setUint16(2, spec.udp.dst);
  uv.setUint16(4, udp.length);
  udp.set(tcp, 8);
  const uc = inetChecksum([
    pseudoHeader(ep.version, ep.remoteIp, ep.localIp, 17, udp.length),
    udp,
  ]);
  uv.setUint16(6, uc === 0 ? 0xffff : uc);
  return ipPacket(ep.version, ep.remoteIp, ep.localIp, 17, udp, ipo);
}

const ICMP4: Record<string, [number, Record<string, number>]> = {
  unreachable: [3, {
    net_unreachable: 0,
    host_unreachable: 1,
    protocol_unreachable: 2,
    port_unreachable: 3,
    frag_needed: 4,
    source_route_failed: 5,
    net_unknown: 6,
    host_unknown: 7,
    source_host_isolated: 8,
    net_prohibited: 9,
    host_prohibited: 10,
    net_unreachable_for_tos: 11,
    host_unreachable_for_tos: 12,
    packet_filtered: 13,
    admin_prohibited: 13,
    precedence_violation: 14,
    precedence_cutoff: 15,
  }],
  source_quench: [4, {}],
  redirect: [5, { net: 0, host: 1, tos_net: 2, tos_host: 3 }],
  time_exceeded: [11, { ttl_exceeded_in_transit: 0, frag_reass_exceeded: 1 }],
  parameter_problem: [12, { header_field: 0 }],
};

const ICMP6: Record<string, [number, Record<string, number>]> = {
  unreachable: [1, {
    no_route: 0,
    admin_prohibited: 1,
    not_neighbour: 2,
    beyond_scope: 2,
    address_unreachable: 3,
    port_unreachable: 4,
  }],
  packet_too_big: [2, {}],
  time_exceeded: [3, { exceeded_hop_limit: 0, exceeded_frag_time: 1 }],
  parameter_problem: [4, { header_field: 0, unknown_next_header: 1, unknown_option: 2 }],
};

/** ICMP type and code numbers for a script's names; throws {@link UnsupportedError}. */
export function icmpTypeCode(version: 4 | 6, spec: IcmpPacketSpec): [number, number] {
  const table = version === 4 ? ICMP4 : ICMP6;
  const t = table[spec.icmpType];
  if (!t) throw new UnsupportedError(`ICMPv${version} type "${spec.icmpType}"`);
  let code = 0;
  if (spec.code !== undefined) {
    const cm = /^code_(\d+)$/.exec(spec.code);
    if (cm) code = parseInt(cm[1]);
    else if (spec.code in t[1]) code = t[1][spec.code];
    else throw new UnsupportedError(`ICMPv${version} ${spec.icmpType} code "${spec.code}"`);
  }
  return [t[0], code];
}

/** Builds the IP packet for an inbound ICMP error quoting one of the engine's segments. */
export function buildInboundIcmp(spec: IcmpPacketSpec, ep: Endpoints, map: SeqMap): Uint8Array {
  const [type, code] = icmpTypeCode(ep.version, spec);
  // The quoted datagram: the engine's segment as it went out (IP header + transport header).
  const tcpHdr = new Uint8Array(20);
  const tv = new DataView(tcpHdr.buffer);
  tv.setUint16(0, ep.localPort);
  tv.setUint16(2, ep.remotePort);
  tv.setUint32(4, (spec.quoted.seq + map.localIsn) >>> 0);
  tcpHdr[12] = 0x50;
  tcpHdr[13] = 0x10;
  let inner: Uint8Array;
  let proto = 6;
  if (spec.quoted.udp) {
    proto = 17;
    inner = new Uint8Array(8 + 20);
    const uv = new DataView(inner.buffer);
    uv.setUint16(0, spec.quoted.udp.src);
    uv.setUint16(2, spec.quoted.udp.dst);
    uv.setUint16(4, 8 + 20 + spec.quoted.len);
    inner.set(tcpHdr, 8);
  } else inner = tcpHdr;
  const quotedIp = ipPacket(ep.version, ep.localIp, ep.remoteIp, proto, inner);
  if (ep.version === 4) {
    // Fix the quoted IPv4 total length to what the original datagram had.
    new DataView(quotedIp.buffer).setUint16(2, quotedIp.length + spec.quoted.len);
  } else new DataView(quotedIp.buffer).setUint16(4, inner.length + spec.quoted.len);
  const icmp = new Uint8Array(8 + quotedIp.length);
  const iv = new DataView(icmp.buffer);
  icmp[0] = type;
  icmp[1] = code;
  if (spec.mtu !== undefined) {
    if (ep.version === 4) iv.setUint16(6, spec.mtu);
    else iv.setUint32(4, spec.mtu);
  }
  if (spec.icmpType === "redirect") icmp.set(ipBytes(ep.remoteIp), 4);
  icmp.set(quotedIp, 8);
  if (ep.version === 4) {
    iv.setUint16(2, inetChecksum([icmp]));
    return ipPacket(4, ep.remoteIp, ep.localIp, 1, icmp);
  }
  iv.setUint16(2, inetChecksum([pseudoHeader(6, ep.remoteIp, ep.localIp, 58, icmp.length), icmp]));
  return ipPacket(6, ep.remoteIp, ep.localIp, 58, icmp, { ttl: 255 });
}

// ---- outbound parsing ----------------------------------------------------------------------

/** An outbound packet as the runner sees it. */
export interface OutPacket {
  version: 4 | 6;
  src: string;
  dst: string;
  ttl: number;
  tos: number;
  proto: number;
  udp?: { src: number; dst: number };
  tcp?: {
    srcPort: number;
    dstPort: number;
    seq: number;
    ack: number;
    flags: number;
    win: number;
    options: TcpOptionSpec[];
    payloadLen: number;
    checksumOk: boolean;
  };
  /** Why the packet could not be decoded, when it could not. */
  error?: string;
}

function ipText(b: Uint8Array): string {
  if (b.length === 4) return b.join(".");
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i] << 8) | b[i + 1]).toString(16));
  // Compress the longest run of zero words (RFC 5952).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return w.join(":");
  return w.slice(0, best).join(":") + "::" + w.slice(best + bestLen).join(":");
}

/** Decodes an IP packet the engine transmitted. */
export function parseOutbound(p: Uint8Array): OutPacket {
  const bad = (error: string): OutPacket => ({
    version: 4,
    src: "",
    dst: "",
    ttl: 0,
    tos: 0,
    proto: 0,
    error,
  });
  if (p.length < 1) return bad("empty packet");
  const version = p[0] >> 4;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let out: OutPacket;
  let payload: Uint8Array;
  if (version === 4) {
    if (p.length < 20) return bad("truncated IPv4 header");
    const ihl = (p[0] & 0xf) * 4;
    const total = v.getUint16(2);
    if (ihl < 20 || total < ihl || total > p.length) return bad("bad IPv4 lengths");
    if (inetChecksum([p.subarray(0, ihl)]) !== 0) return bad("bad IPv4 header checksum");
    out = {
      version: 4,
      src: ipText(p.subarray(12, 16)),
      dst: ipText(p.subarray(16, 20)),
      ttl: p[8],
      tos: p[1],
      proto: p[9],
    };
    payload = p.subarray(ihl, total);
  } else if (version === 6) {
    if (p.length < 40) return bad("truncated IPv6 header");
    const plen = v.getUint16(4);
    if (40 + plen > p.length) return bad("bad IPv6 payload length");
    out = {
      version: 6,
      src: ipText(p.subarray(8, 24)),
      dst: ipText(p.subarray(24, 40)),
      ttl: p[7],
      tos: (v.getUint32(0) >>> 20) & 0xff,
      proto: p[6],
    };
    payload = p.subarray(40, 40 + plen);
  } else return bad(`IP version ${version}`);
  let tcpBytes = payload;
  if (out.proto === 17) {
    if (payload.length < 8) return { ...out, error: "truncated UDP header" };
    const uv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    out.udp = { src: uv.getUint16(0), dst: uv.getUint16(2) };
    tcpBytes = payload.subarray(8);
  } else if ((out.proto === 1 || out.proto === 58) && payload.length >= 2) {
    return { ...out, error: `ICMPv${out.version} type ${payload[0]} code ${payload[1]}` };
  } else if (out.proto !== 6) return { ...out, error: `IP protocol ${out.proto}` };
  if (tcpBytes.length < 20) return { ...out, error: "truncated TCP header" };
  const tv = new DataView(tcpBytes.buffer, tcpBytes.byteOffset, tcpBytes.byteLength);
  const off = (tcpBytes[12] >> 4) * 4;
  if (off < 20 || off > tcpBytes.length) return { ...out, error: `TCP data offset ${off}` };
  const options = decodeOptions(tcpBytes.subarray(20, off));
  if (!options) return { ...out, error: "malformed TCP options" };
  let checksumOk = inetChecksum([
    pseudoHeader(out.version, out.src, out.dst, 6, tcpBytes.length),
    tcpBytes,
  ]) === 0;
  if (!checksumOk && out.udp) {
    // TCP over UDP: the encapsulation's documents leave the inner checksum's pseudo-header
    // open; a datagram whose UDP checksum verifies is accepted.
    checksumOk = inetChecksum([
      pseudoHeader(out.version, out.src, out.dst, 17, payload.length),
      payload,
    ]) === 0;
  }
  out.tcp = {
    srcPort: tv.getUint16(0),
    dstPort: tv.getUint16(2),
    seq: tv.getUint32(4),
    ack: tv.getUint32(8),
    flags: tcpBytes[13],
    win: tv.getUint16(14),
    options,
    payloadLen: tcpBytes.length - off,
    checksumOk,
  };
  return out;
}

/** The outbound packet in script notation, with the engine's numbers mapped back. */
export function formatOutbound(p: OutPacket, map: SeqMap | undefined): string {
  if (!p.tcp) return `<undecodable: ${p.error}>`;
  const t = p.tcp;
  const isn = map?.localIsn ?? 0;
  const seq = (t.seq - isn) >>> 0;
  let s = `${bitsToFlags(t.flags) || "-"} ${seq}:${(seq + t.payloadLen) >>> 0}(${t.payloadLen})`;
  if (t.flags & 0x10) s += ` ack ${t.ack}`;
  s += ` win ${t.win}`;
  if (t.options.length) s += ` <${formatOptions(t.options)}>`;
  if (p.udp) s += `/udp(${p.udp.src} > ${p.udp.dst})`;
  return s;
}

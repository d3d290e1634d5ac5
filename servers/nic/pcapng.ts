/**
 * pcapng (draft-ietf-opsawg-pcapng): the encoder the NIC server's capture writes with, and a
 * parser for tests and tools. Little-endian; one section, Ethernet interfaces, nanosecond
 * timestamps (if_tsresol = 9), Enhanced Packet Blocks with the direction in epb_flags.
 */

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const LINKTYPE_ETHERNET = 1;
const OPT_END = 0;
const OPT_IF_NAME = 2;
const OPT_IF_TSRESOL = 9;
const OPT_SHB_USERAPPL = 4;
const OPT_EPB_FLAGS = 2;

/** Direction of a captured frame, as epb_flags bits 0-1 encode it. */
export type Direction = "in" | "out";

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function option(code: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + pad4(value.length));
  const v = new DataView(out.buffer);
  v.setUint16(0, code, true);
  v.setUint16(2, value.length, true);
  out.set(value, 4);
  return out;
}

function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + body.length;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, total, true);
  out.set(body, 8);
  v.setUint32(total - 4, total, true);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const enc = new TextEncoder();

/** Section Header Block. */
export function sectionHeader(application = "joyride nic"): Uint8Array {
  const fixed = new Uint8Array(16);
  const v = new DataView(fixed.buffer);
  v.setUint32(0, BYTE_ORDER_MAGIC, true);
  v.setUint16(4, 1, true);
  v.setUint16(6, 0, true);
  v.setBigInt64(8, -1n, true); // section length not given
  return block(
    BT_SHB,
    concat([fixed, option(OPT_SHB_USERAPPL, enc.encode(application)), new Uint8Array(4)]),
  );
}

/** Interface Description Block for an Ethernet interface with nanosecond timestamps. */
export function interfaceDescription(name: string, snaplen = 65535): Uint8Array {
  const fixed = new Uint8Array(8);
  const v = new DataView(fixed.buffer);
  v.setUint16(0, LINKTYPE_ETHERNET, true);
  v.setUint32(4, snaplen, true);
  return block(
    BT_IDB,
    concat([
      fixed,
      option(OPT_IF_NAME, enc.encode(name)),
      option(OPT_IF_TSRESOL, new Uint8Array([9])),
      new Uint8Array(4), // opt_endofopt
    ]),
  );
}

/**
 * Enhanced Packet Block. `tsNs` is nanoseconds since the Unix epoch; `origLen` the frame's length
 * on the wire when `data` is truncated.
 */
export function enhancedPacket(
  iface: number,
  tsNs: bigint,
  data: Uint8Array,
  dir: Direction,
  origLen = data.length,
): Uint8Array {
  const body = new Uint8Array(20 + pad4(data.length) + 8 + 4);
  const v = new DataView(body.buffer);
  v.setUint32(0, iface, true);
  v.setUint32(4, Number(tsNs >> 32n), true);
  v.setUint32(8, Number(tsNs & 0xffffffffn), true);
  v.setUint32(12, data.length, true);
  v.setUint32(16, origLen, true);
  body.set(data, 20);
  const o = 20 + pad4(data.length);
  v.setUint16(o, OPT_EPB_FLAGS, true);
  v.setUint16(o + 2, 4, true);
  v.setUint32(o + 4, dir === "in" ? 1 : 2, true);
  // opt_endofopt: the trailing 4 zero bytes
  return block(BT_EPB, body);
}

/** A captured frame, as parsed back. */
export interface PcapngPacket {
  iface: number;
  tsNs: bigint;
  data: Uint8Array;
  origLen: number;
  dir?: Direction;
}

/** A parsed pcapng file. */
export interface Pcapng {
  interfaces: { linkType: number; snaplen: number; name?: string; tsresol: number }[];
  packets: PcapngPacket[];
}

/** Parses a little-endian pcapng file; throws on malformed input, naming what is wrong. */
export function parsePcapng(buf: Uint8Array): Pcapng {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Pcapng = { interfaces: [], packets: [] };
  let o = 0;
  let sawShb = false;
  while (o < buf.length) {
    if (buf.length - o < 12) throw new Error(`Cannot parse pcapng: truncated block at ${o}`);
    const type = v.getUint32(o, true);
    const total = v.getUint32(o + 4, true);
    if (total < 12 || total % 4 !== 0 || o + total > buf.length) {
      throw new Error(`Cannot parse pcapng: bad block length ${total} at ${o}`);
    }
    if (v.getUint32(o + total - 4, true) !== total) {
      throw new Error(`Cannot parse pcapng: trailing length mismatch at ${o}`);
    }
    const body = o + 8, end = o + total - 4;
    if (type === BT_SHB) {
      if (v.getUint32(body, true) !== BYTE_ORDER_MAGIC) {
        throw new Error("Cannot parse pcapng: not little-endian or bad byte-order magic");
      }
      sawShb = true;
    } else if (!sawShb) {
      throw new Error("Cannot parse pcapng: first block is not a section header");
    } else if (type === BT_IDB) {
      const iface = {
        linkType: v.getUint16(body, true),
        snaplen: v.getUint32(body + 4, true),
        name: undefined as string | undefined,
        tsresol: 6,
      };
      for (const [code, val] of options(buf, body + 8, end)) {
        if (code === OPT_IF_NAME) iface.name = new TextDecoder().decode(val);
        if (code === OPT_IF_TSRESOL && val.length >= 1) iface.tsresol = val[0];
      }
      out.interfaces.push(iface);
    } else if (type === BT_EPB) {
      const iface = v.getUint32(body, true);
      if (iface >= out.interfaces.length) {
        throw new Error(`Cannot parse pcapng: packet for unknown interface ${iface}`);
      }
      const ts = (BigInt(v.getUint32(body + 4, true)) << 32n) | BigInt(v.getUint32(body + 8, true));
      const cap = v.getUint32(body + 12, true);
      const orig = v.getUint32(body + 16, true);
      if (body + 20 + pad4(cap) > end) {
        throw new Error(`Cannot parse pcapng: captured length ${cap} overruns its block`);
      }
      const pkt: PcapngPacket = {
        iface,
        tsNs: out.interfaces[iface].tsresol === 9 ? ts : ts * 1000n,
        data: buf.slice(body + 20, body + 20 + cap),
        origLen: orig,
      };
      for (const [code, val] of options(buf, body + 20 + pad4(cap), end)) {
        if (code === OPT_EPB_FLAGS && val.length === 4) {
          const d = new DataView(val.buffer, val.byteOffset).getUint32(0, true) & 3;
          pkt.dir = d === 1 ? "in" : d === 2 ? "out" : undefined;
        }
      }
      out.packets.push(pkt);
    }
    o += total;
  }
  if (!sawShb) throw new Error("Cannot parse pcapng: empty file");
  return out;
}

function* options(buf: Uint8Array, o: number, end: number): Generator<[number, Uint8Array]> {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  while (o + 4 <= end) {
    const code = v.getUint16(o, true), len = v.getUint16(o + 2, true);
    if (code === OPT_END) return;
    if (o + 4 + len > end) throw new Error(`Cannot parse pcapng: option ${code} overruns block`);
    yield [code, buf.subarray(o + 4, o + 4 + len)];
    o += 4 + pad4(len);
  }
}

/**
 * IPv6 (RFC 8200): the fixed header as thin view + plain value, the fragment header, and a
 * walk over extension headers that finds the upper-layer protocol (and a fragment header on
 * the way) without trusting any length it reads.
 *
 * @module
 */
import { rd16, rd32, wr16, wr32 } from "./_bytes.ts";
import { type IpAddr, ipFromBytes, ipWrite } from "../ip/addr.ts";

export const IPV6_HEADER_LEN = 40;
export const IPV6_FRAG_HEADER_LEN = 8;
/** RFC 8200 §5: every link carries 1280-byte packets. */
export const IPV6_MIN_MTU = 1280;

export const NH_HOPOPTS = 0;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ESP = 50;
export const NH_AH = 51;
export const NH_NONE = 59;
export const NH_DSTOPTS = 60;

/** Why an IPv6 packet could not be read. */
export type Ipv6ParseError = "truncated" | "bad-version" | "bad-payload-length";

/** Thin view over an IPv6 packet. */
export class Ipv6View {
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  /** The one length check: version 6 and 40 + payload length ≤ bytes present. */
  check(): Ipv6ParseError | undefined {
    if (this.buf.length < IPV6_HEADER_LEN) return "truncated";
    if (this.buf[0] >> 4 !== 6) return "bad-version";
    // A zero payload length with a Jumbo option (RFC 2675) is not supported.
    if (IPV6_HEADER_LEN + this.payloadLength > this.buf.length) return "bad-payload-length";
    return undefined;
  }
  get trafficClass(): number {
    return ((this.buf[0] & 0x0f) << 4) | (this.buf[1] >> 4);
  }
  get dscp(): number {
    return this.trafficClass >> 2;
  }
  get ecn(): number {
    return this.trafficClass & 3;
  }
  get flowLabel(): number {
    return ((this.buf[1] & 0x0f) << 16) | rd16(this.buf, 2);
  }
  get payloadLength(): number {
    return rd16(this.buf, 4);
  }
  get nextHeader(): number {
    return this.buf[6];
  }
  get hopLimit(): number {
    return this.buf[7];
  }
  get src(): IpAddr {
    return ipFromBytes(this.buf, 8, 6);
  }
  get dst(): IpAddr {
    return ipFromBytes(this.buf, 24, 6);
  }
  get srcBytes(): Uint8Array {
    return this.buf.subarray(8, 24);
  }
  get dstBytes(): Uint8Array {
    return this.buf.subarray(24, 40);
  }
  /** Everything after the fixed header, cut at the payload length. */
  get payload(): Uint8Array {
    return this.buf.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLength);
  }
}

/** The fixed IPv6 header as a plain value. */
export interface Ipv6Repr {
  src: IpAddr;
  dst: IpAddr;
  nextHeader: number;
  hopLimit: number;
  dscp: number;
  ecn: number;
  flowLabel: number;
  payloadLength: number;
}

/** Parses the fixed header. */
export function parseIpv6(b: Uint8Array): Ipv6Repr | Ipv6ParseError {
  const v = new Ipv6View(b);
  const err = v.check();
  if (err !== undefined) return err;
  return {
    src: v.src,
    dst: v.dst,
    nextHeader: v.nextHeader,
    hopLimit: v.hopLimit,
    dscp: v.dscp,
    ecn: v.ecn,
    flowLabel: v.flowLabel,
    payloadLength: v.payloadLength,
  };
}

/** Writes the 40-byte fixed header at `buf[off…]`; returns 40. */
export function emitIpv6(r: Ipv6Repr, buf: Uint8Array, off = 0): number {
  const tc = ((r.dscp & 0x3f) << 2) | (r.ecn & 3);
  buf[off] = 0x60 | (tc >> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | ((r.flowLabel >> 16) & 0x0f);
  wr16(buf, off + 2, r.flowLabel & 0xffff);
  wr16(buf, off + 4, r.payloadLength);
  buf[off + 6] = r.nextHeader;
  buf[off + 7] = r.hopLimit;
  ipWrite(r.src, buf, off + 8);
  ipWrite(r.dst, buf, off + 24);
  return IPV6_HEADER_LEN;
}

/** The fragment header (RFC 8200 §4.5) as a plain value. */
export interface Ipv6FragRepr {
  nextHeader: number;
  /** Offset in bytes (a multiple of 8). */
  offset: number;
  more: boolean;
  ident: number;
}

/** Parses a fragment header at `b[off…]`; undefined when truncated. */
export function parseIpv6Frag(b: Uint8Array, off = 0): Ipv6FragRepr | undefined {
  if (off + IPV6_FRAG_HEADER_LEN > b.length) return undefined;
  const w = rd16(b, off + 2);
  return { nextHeader: b[off], offset: w & 0xfff8, more: (w & 1) === 1, ident: rd32(b, off + 4) };
}

/** Writes an 8-byte fragment header (reserved bits zero); returns 8. */
export function emitIpv6Frag(r: Ipv6FragRepr, buf: Uint8Array, off = 0): number {
  buf[off] = r.nextHeader;
  buf[off + 1] = 0;
  wr16(buf, off + 2, (r.offset & 0xfff8) | (r.more ? 1 : 0));
  wr32(buf, off + 4, r.ident);
  return IPV6_FRAG_HEADER_LEN;
}

/** Where the extension-header walk ended. */
export interface Ipv6Walk {
  /** Upper-layer protocol (or NH_NONE, or NH_FRAGMENT's next header for a later fragment). */
  proto: number;
  /** Offset of the upper-layer header within the payload given to the walk. */
  offset: number;
  /** Offset within the payload of the byte naming `proto` (-1: the fixed header's). */
  protoAt: number;
  /** Offset of the fragment header within the payload, when there is one. */
  fragOffset?: number;
  frag?: Ipv6FragRepr;
  /**
   * Offset of the "next header" byte that names the fragment header (-1 for the fixed
   * header's), so reassembly can patch it.
   */
  fragNextHeaderAt?: number;
}

/** Why an extension-header chain was refused. */
export type Ipv6WalkError =
  | "truncated-ext"
  | "hbh-not-first"
  | "bad-option"
  | "routing-header"
  | "too-many-ext";

/**
 * Walks the extension headers of `payload` (everything after the fixed header) starting at
 * next header `nh`. Hop-by-Hop and Destination options are checked TLV by TLV: an unknown
 * option whose type says "discard" (RFC 8200 §4.2, high bits ≠ 00) refuses the packet. A
 * Routing header with segments left is refused (we are not a router). The walk stops at the
 * first upper-layer header, at No Next Header, or after a fragment header whose offset is not
 * zero (the rest belongs to the reassembled packet).
 */
export function walkIpv6(payload: Uint8Array, nh: number): Ipv6Walk | Ipv6WalkError {
  let off = 0;
  let nhAt = -1;
  let count = 0;
  let frag: Ipv6FragRepr | undefined;
  let fragOffset: number | undefined;
  let fragNhAt: number | undefined;
  for (;;) {
    if (++count > 16) return "too-many-ext";
    switch (nh) {
      case NH_HOPOPTS:
      case NH_DSTOPTS: {
        if (nh === NH_HOPOPTS && off !== 0) return "hbh-not-first";
        if (off + 2 > payload.length) return "truncated-ext";
        const len = (payload[off + 1] + 1) * 8;
        if (off + len > payload.length) return "truncated-ext";
        if (!optionsOk(payload, off + 2, off + len)) return "bad-option";
        nhAt = off;
        nh = payload[off];
        off += len;
        break;
      }
      case NH_ROUTING: {
        if (off + 4 > payload.length) return "truncated-ext";
        const len = (payload[off + 1] + 1) * 8;
        if (off + len > payload.length) return "truncated-ext";
        if (payload[off + 3] !== 0) return "routing-header"; // segments left
        nhAt = off;
        nh = payload[off];
        off += len;
        break;
      }
      case NH_FRAGMENT: {
        const f = parseIpv6Frag(payload, off);
        if (f === undefined) return "truncated-ext";
        if (frag !== undefined) return "too-many-ext"; // two fragment headers
        frag = f;
        fragOffset = off;
        fragNhAt = nhAt;
        nhAt = off;
        nh = f.nextHeader;
        off += IPV6_FRAG_HEADER_LEN;
        if (f.offset !== 0) {
          return {
            proto: nh,
            offset: off,
            protoAt: nhAt,
            frag,
            fragOffset,
            fragNextHeaderAt: fragNhAt,
          };
        }
        break;
      }
      default:
        return frag === undefined
          ? { proto: nh, offset: off, protoAt: nhAt }
          : { proto: nh, offset: off, protoAt: nhAt, frag, fragOffset, fragNextHeaderAt: fragNhAt };
    }
  }
}

function optionsOk(b: Uint8Array, start: number, end: number): boolean {
  return badOption(b, start, end) === -1;
}

/** -1 when fine, -2 when malformed, else the offset of an unknown option to act on. */
function badOption(b: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const t = b[i];
    if (t === 0) { // Pad1
      i++;
      continue;
    }
    if (i + 2 > end) return -2;
    const l = b[i + 1];
    if (i + 2 + l > end) return -2;
    // PadN (1) and Router Alert (5) are known; others act on their high two bits.
    if (t !== 1 && t !== 5 && (t >> 6) !== 0) return i;
    i += 2 + l;
  }
  return -1;
}

/**
 * After {@link walkIpv6} refused a packet with "bad-option": where the first unknown option
 * that asks for action is (offset in the payload) and its type; undefined when the options
 * were malformed instead. RFC 8200 §4.2: type bits 10 → ICMP parameter problem code 2
 * always, 11 → only when the destination was not multicast, 01 → discard silently.
 */
export function ipv6BadOption(
  payload: Uint8Array,
  nh: number,
): { offset: number; type: number } | undefined {
  let off = 0;
  for (let n = 0; n < 16 && (nh === NH_HOPOPTS || nh === NH_DSTOPTS); n++) {
    if (off + 2 > payload.length) return undefined;
    const len = (payload[off + 1] + 1) * 8;
    if (off + len > payload.length) return undefined;
    const r = badOption(payload, off + 2, off + len);
    if (r >= 0) return { offset: r, type: payload[r] };
    if (r === -2) return undefined;
    nh = payload[off];
    off += len;
  }
  return undefined;
}

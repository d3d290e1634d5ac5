/**
 * IPv4 headers (RFC 791): thin view + plain value. Options are not interpreted: they are
 * skipped by the header length, and kept as raw bytes in the value so a round trip is exact.
 *
 * @module
 */
import { rd16, wr16 } from "./_bytes.ts";
import { type IpAddr, ipFromBytes, ipWrite } from "../ip/addr.ts";
import { finishSum, sumBytes } from "./checksum.ts";

export const IPV4_HEADER_MIN = 20;
export const IPV4_HEADER_MAX = 60;
export const IPV4_CHECKSUM_OFFSET = 10;
/** Flag bits in the 16-bit word at offset 6. */
export const IPV4_DF = 0x4000;
export const IPV4_MF = 0x2000;

/** Why an IPv4 header could not be read. */
export type Ipv4ParseError =
  | "truncated"
  | "bad-version"
  | "bad-header-length"
  | "bad-total-length";

/** Thin view over an IPv4 packet. Call {@link Ipv4View.check} before any getter. */
export class Ipv4View {
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  /**
   * The one length check: version 4, 20 ≤ header length ≤ total length ≤ bytes present
   * (trailing bytes, e.g. Ethernet padding, are allowed and ignored).
   */
  check(): Ipv4ParseError | undefined {
    const b = this.buf;
    if (b.length < IPV4_HEADER_MIN) return "truncated";
    if (b[0] >> 4 !== 4) return "bad-version";
    const hl = this.headerLength;
    if (hl < IPV4_HEADER_MIN || hl > b.length) return "bad-header-length";
    const tl = this.totalLength;
    if (tl < hl || tl > b.length) return "bad-total-length";
    return undefined;
  }
  get headerLength(): number {
    return (this.buf[0] & 0x0f) * 4;
  }
  get dscp(): number {
    return this.buf[1] >> 2;
  }
  get ecn(): number {
    return this.buf[1] & 3;
  }
  get totalLength(): number {
    return rd16(this.buf, 2);
  }
  get ident(): number {
    return rd16(this.buf, 4);
  }
  get dontFragment(): boolean {
    return (this.buf[6] & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.buf[6] & 0x20) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragOffset(): number {
    return (rd16(this.buf, 6) & 0x1fff) * 8;
  }
  /** The reserved ("evil") bit. */
  get reservedFlag(): boolean {
    return (this.buf[6] & 0x80) !== 0;
  }
  get ttl(): number {
    return this.buf[8];
  }
  get proto(): number {
    return this.buf[9];
  }
  get checksum(): number {
    return rd16(this.buf, 10);
  }
  get src(): IpAddr {
    return ipFromBytes(this.buf, 12, 4);
  }
  get dst(): IpAddr {
    return ipFromBytes(this.buf, 16, 4);
  }
  get srcBytes(): Uint8Array {
    return this.buf.subarray(12, 16);
  }
  get dstBytes(): Uint8Array {
    return this.buf.subarray(16, 20);
  }
  get options(): Uint8Array {
    return this.buf.subarray(IPV4_HEADER_MIN, this.headerLength);
  }
  /** The payload, cut at the total length. */
  get payload(): Uint8Array {
    return this.buf.subarray(this.headerLength, this.totalLength);
  }
  /** Whether the header checksum verifies. */
  checksumOk(): boolean {
    return finishSum(sumBytes(0, this.buf, 0, this.headerLength)) === 0;
  }
}

/** An IPv4 header as a plain value. */
export interface Ipv4Repr {
  src: IpAddr;
  dst: IpAddr;
  proto: number;
  ttl: number;
  dscp: number;
  ecn: number;
  ident: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset: number;
  /** Length of the payload following the header. */
  payloadLength: number;
  /** Raw option bytes (padded to a multiple of 4 on emit); empty for none. */
  options: Uint8Array;
}

/** Parses an IPv4 header (the checksum is not checked here: see {@link Ipv4View.checksumOk}). */
export function parseIpv4(b: Uint8Array): Ipv4Repr | Ipv4ParseError {
  const v = new Ipv4View(b);
  const err = v.check();
  if (err !== undefined) return err;
  return {
    src: v.src,
    dst: v.dst,
    proto: v.proto,
    ttl: v.ttl,
    dscp: v.dscp,
    ecn: v.ecn,
    ident: v.ident,
    dontFragment: v.dontFragment,
    moreFragments: v.moreFragments,
    fragOffset: v.fragOffset,
    payloadLength: v.totalLength - v.headerLength,
    options: v.options.slice(),
  };
}

/** The header length of `r` in bytes (options padded to 4). */
export function ipv4HeaderLength(r: Pick<Ipv4Repr, "options">): number {
  return IPV4_HEADER_MIN + ((r.options.length + 3) & ~3);
}

/**
 * Writes the header at `buf[off…]` with its checksum (zero when `checksum` is false, for a
 * link that fills it); returns the header length.
 */
export function emitIpv4(r: Ipv4Repr, buf: Uint8Array, off = 0, checksum = true): number {
  const hl = ipv4HeaderLength(r);
  buf[off] = 0x40 | (hl >> 2);
  buf[off + 1] = ((r.dscp & 0x3f) << 2) | (r.ecn & 3);
  wr16(buf, off + 2, hl + r.payloadLength);
  wr16(buf, off + 4, r.ident);
  wr16(
    buf,
    off + 6,
    (r.dontFragment ? IPV4_DF : 0) | (r.moreFragments ? IPV4_MF : 0) |
      ((r.fragOffset >> 3) & 0x1fff),
  );
  buf[off + 8] = r.ttl;
  buf[off + 9] = r.proto;
  wr16(buf, off + 10, 0);
  ipWrite(r.src, buf, off + 12);
  ipWrite(r.dst, buf, off + 16);
  buf.set(r.options, off + 20);
  buf.fill(0, off + 20 + r.options.length, off + hl); // EOL padding
  if (checksum) wr16(buf, off + 10, finishSum(sumBytes(0, buf, off, hl)));
  return hl;
}

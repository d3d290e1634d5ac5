/**
 * UDP headers (RFC 768): thin view + plain value. The checksum covers the IPv4/IPv6
 * pseudo-header; a zero checksum means "none" in IPv4 and is invalid in IPv6 (RFC 8200 §8.1).
 *
 * @module
 */
import { rd16, wr16 } from "./_bytes.ts";
import { finishSum, pseudoHeaderSum, sumBytes } from "./checksum.ts";

export const UDP_HEADER_LEN = 8;
export const UDP_CHECKSUM_OFFSET = 6;

/** Why a UDP datagram could not be read. */
export type UdpParseError = "truncated" | "bad-length";

/** Thin view over a UDP datagram. */
export class UdpView {
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  /** The one length check: 8 ≤ length field ≤ bytes present. */
  check(): UdpParseError | undefined {
    if (this.buf.length < UDP_HEADER_LEN) return "truncated";
    const l = this.length;
    if (l < UDP_HEADER_LEN || l > this.buf.length) return "bad-length";
    return undefined;
  }
  get srcPort(): number {
    return rd16(this.buf, 0);
  }
  get dstPort(): number {
    return rd16(this.buf, 2);
  }
  get length(): number {
    return rd16(this.buf, 4);
  }
  get checksum(): number {
    return rd16(this.buf, 6);
  }
  /** The payload, cut at the length field. */
  get payload(): Uint8Array {
    return this.buf.subarray(UDP_HEADER_LEN, this.length);
  }
  /** Whether the checksum verifies (4- or 16-byte address bytes). */
  checksumOk(src: Uint8Array, dst: Uint8Array): boolean {
    const l = this.length;
    return finishSum(sumBytes(pseudoHeaderSum(src, dst, 17, l), this.buf, 0, l)) === 0;
  }
}

/** A UDP header as a plain value. */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Payload length (the length field is this + 8). */
  payloadLength: number;
}

/** Parses a UDP header. */
export function parseUdp(b: Uint8Array): UdpRepr | UdpParseError {
  const v = new UdpView(b);
  const err = v.check();
  if (err !== undefined) return err;
  return { srcPort: v.srcPort, dstPort: v.dstPort, payloadLength: v.length - UDP_HEADER_LEN };
}

/**
 * Writes the 8-byte header at `buf[off…]` with a zero checksum (the IP layer fills it at
 * {@link UDP_CHECKSUM_OFFSET}, or use {@link udpChecksum}); returns 8.
 */
export function emitUdp(r: UdpRepr, buf: Uint8Array, off = 0): number {
  wr16(buf, off, r.srcPort);
  wr16(buf, off + 2, r.dstPort);
  wr16(buf, off + 4, r.payloadLength + UDP_HEADER_LEN);
  wr16(buf, off + 6, 0);
  return UDP_HEADER_LEN;
}

/** The checksum of a whole datagram `d` (header checksum field zero); 0 is sent as 0xffff. */
export function udpChecksum(src: Uint8Array, dst: Uint8Array, d: Uint8Array): number {
  const c = finishSum(sumBytes(pseudoHeaderSum(src, dst, 17, d.length), d));
  return c === 0 ? 0xffff : c;
}

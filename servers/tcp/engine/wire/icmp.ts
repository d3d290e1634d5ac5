/**
 * ICMP for IPv4 (RFC 792, RFC 1191): thin view + plain value. The 4 bytes after the checksum
 * ("rest of header") are kept as one 32-bit word with helpers for the echo id/sequence and
 * the next-hop MTU of fragmentation-needed.
 *
 * @module
 */
import { rd16, rd32, wr16, wr32 } from "./_bytes.ts";
import { finishSum, sumBytes } from "./checksum.ts";

export const ICMP_HEADER_LEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;

/** Codes of destination unreachable. */
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
export const ICMP_UNREACH_NEEDFRAG = 4;
export const ICMP_UNREACH_SRCFAIL = 5;
export const ICMP_UNREACH_NET_UNKNOWN = 6;
export const ICMP_UNREACH_HOST_UNKNOWN = 7;
export const ICMP_UNREACH_NET_PROHIB = 9;
export const ICMP_UNREACH_HOST_PROHIB = 10;
export const ICMP_UNREACH_FILTER_PROHIB = 13;

/** Why an ICMP message could not be read. */
export type IcmpParseError = "truncated";

/** Thin view over an ICMP message. */
export class IcmpView {
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  /** The one length check: the 8-byte header fits. */
  check(): IcmpParseError | undefined {
    return this.buf.length < ICMP_HEADER_LEN ? "truncated" : undefined;
  }
  get type(): number {
    return this.buf[0];
  }
  get code(): number {
    return this.buf[1];
  }
  get checksum(): number {
    return rd16(this.buf, 2);
  }
  get restOfHeader(): number {
    return rd32(this.buf, 4);
  }
  get data(): Uint8Array {
    return this.buf.subarray(ICMP_HEADER_LEN);
  }
  checksumOk(): boolean {
    return finishSum(sumBytes(0, this.buf)) === 0;
  }
}

/** An ICMP message as a plain value. */
export interface IcmpRepr {
  type: number;
  code: number;
  /** The 32-bit "rest of header" word (echo id/seq, next-hop MTU, pointer, gateway). */
  restOfHeader: number;
  data: Uint8Array;
}

/** Parses an ICMP message (the checksum is checked by {@link IcmpView.checksumOk}). */
export function parseIcmp(b: Uint8Array): IcmpRepr | IcmpParseError {
  const v = new IcmpView(b);
  const err = v.check();
  if (err !== undefined) return err;
  return { type: v.type, code: v.code, restOfHeader: v.restOfHeader, data: v.data };
}

/** Length of the emitted message. */
export function icmpLength(r: IcmpRepr): number {
  return ICMP_HEADER_LEN + r.data.length;
}

/** Writes the message with its checksum at `buf[off…]`; returns its length. */
export function emitIcmp(r: IcmpRepr, buf: Uint8Array, off = 0): number {
  buf[off] = r.type;
  buf[off + 1] = r.code;
  wr16(buf, off + 2, 0);
  wr32(buf, off + 4, r.restOfHeader);
  buf.set(r.data, off + ICMP_HEADER_LEN);
  const len = icmpLength(r);
  wr16(buf, off + 2, finishSum(sumBytes(0, buf, off, len)));
  return len;
}

/** The rest-of-header word of an echo request/reply. */
export function echoWord(id: number, seq: number): number {
  return (((id & 0xffff) << 16) | (seq & 0xffff)) >>> 0;
}

/** Whether an ICMP type is an error (quotes a datagram). */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAM_PROBLEM;
}

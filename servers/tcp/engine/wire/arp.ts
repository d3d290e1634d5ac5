/**
 * ARP for IPv4 over Ethernet (RFC 826): thin view + plain value. Only hardware type 1
 * (Ethernet, 6-byte addresses) with protocol 0x0800 (4-byte addresses) is accepted.
 *
 * @module
 */
import { rd16, wr16 } from "./_bytes.ts";
import { type IpAddr, ipFromBytes, ipWrite } from "../ip/addr.ts";
import { ETHERTYPE_IPV4 } from "./ethernet.ts";

export const ARP_LEN = 28;
export const ARP_HTYPE_ETHERNET = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

/** Why an ARP packet could not be read. */
export type ArpParseError =
  | "truncated"
  | "unsupported-hardware"
  | "unsupported-protocol"
  | "bad-op";

/** Thin view over an ARP packet. */
export class ArpView {
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  /** The one length check (plus the Ethernet/IPv4 address-size check). */
  check(): ArpParseError | undefined {
    if (this.buf.length < ARP_LEN) return "truncated";
    if (this.htype !== ARP_HTYPE_ETHERNET || this.buf[4] !== 6) return "unsupported-hardware";
    if (this.ptype !== ETHERTYPE_IPV4 || this.buf[5] !== 4) return "unsupported-protocol";
    return undefined;
  }
  get htype(): number {
    return rd16(this.buf, 0);
  }
  get ptype(): number {
    return rd16(this.buf, 2);
  }
  get op(): number {
    return rd16(this.buf, 6);
  }
  get senderMac(): Uint8Array {
    return this.buf.subarray(8, 14);
  }
  get senderIp(): IpAddr {
    return ipFromBytes(this.buf, 14, 4);
  }
  get targetMac(): Uint8Array {
    return this.buf.subarray(18, 24);
  }
  get targetIp(): IpAddr {
    return ipFromBytes(this.buf, 24, 4);
  }
}

/** An ARP packet as a plain value. */
export interface ArpRepr {
  op: number;
  senderMac: Uint8Array;
  senderIp: IpAddr;
  targetMac: Uint8Array;
  targetIp: IpAddr;
}

/** Parses an ARP packet (request or reply). */
export function parseArp(b: Uint8Array): ArpRepr | ArpParseError {
  const v = new ArpView(b);
  const err = v.check();
  if (err !== undefined) return err;
  if (v.op !== ARP_OP_REQUEST && v.op !== ARP_OP_REPLY) return "bad-op";
  return {
    op: v.op,
    senderMac: v.senderMac.slice(),
    senderIp: v.senderIp,
    targetMac: v.targetMac.slice(),
    targetIp: v.targetIp,
  };
}

/** Writes the 28-byte packet at `buf[off…]`; returns the bytes written. */
export function emitArp(r: ArpRepr, buf: Uint8Array, off = 0): number {
  wr16(buf, off, ARP_HTYPE_ETHERNET);
  wr16(buf, off + 2, ETHERTYPE_IPV4);
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  wr16(buf, off + 6, r.op);
  buf.set(r.senderMac.subarray(0, 6), off + 8);
  ipWrite(r.senderIp, buf, off + 14);
  buf.set(r.targetMac.subarray(0, 6), off + 18);
  ipWrite(r.targetIp, buf, off + 24);
  return ARP_LEN;
}

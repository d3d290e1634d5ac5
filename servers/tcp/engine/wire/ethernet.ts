/**
 * Ethernet II frames (IEEE 802.3 with an EtherType): a thin view ({@link EthernetView}) and a
 * plain value ({@link EthernetRepr}) with {@link parseEthernet} / {@link emitEthernet}.
 *
 * @module
 */
import { rd16, wr16 } from "./_bytes.ts";

export const ETH_HEADER_LEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;

/** ff:ff:ff:ff:ff:ff. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** Why an Ethernet frame could not be read. */
export type EthernetParseError = "truncated";

/** Thin view over an Ethernet frame. Call {@link EthernetView.check} before any getter. */
export class EthernetView {
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  /** The one length check: the 14-byte header fits. */
  check(): EthernetParseError | undefined {
    return this.buf.length < ETH_HEADER_LEN ? "truncated" : undefined;
  }
  get dst(): Uint8Array {
    return this.buf.subarray(0, 6);
  }
  get src(): Uint8Array {
    return this.buf.subarray(6, 12);
  }
  get etherType(): number {
    return rd16(this.buf, 12);
  }
  get payload(): Uint8Array {
    return this.buf.subarray(ETH_HEADER_LEN);
  }
}

/** An Ethernet header as a plain value. */
export interface EthernetRepr {
  dst: Uint8Array;
  src: Uint8Array;
  etherType: number;
}

/** Parses the header of `frame`; the payload is `frame.subarray(ETH_HEADER_LEN)`. */
export function parseEthernet(frame: Uint8Array): EthernetRepr | EthernetParseError {
  const v = new EthernetView(frame);
  const err = v.check();
  if (err !== undefined) return err;
  return { dst: v.dst.slice(), src: v.src.slice(), etherType: v.etherType };
}

/** Writes the 14-byte header at `buf[off…]`; returns the bytes written. */
export function emitEthernet(r: EthernetRepr, buf: Uint8Array, off = 0): number {
  buf.set(r.dst.subarray(0, 6), off);
  buf.set(r.src.subarray(0, 6), off + 6);
  wr16(buf, off + 12, r.etherType);
  return ETH_HEADER_LEN;
}

/** "02:00:00:00:00:01". */
export function macToString(m: Uint8Array): string {
  return Array.from(m.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Parses "02:00:00:00:00:01" (or with "-"); undefined when malformed. */
export function parseMac(s: string): Uint8Array | undefined {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) return undefined;
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

/** Whether the group bit (multicast or broadcast) of MAC `m` is set. */
export function isMulticastMac(m: Uint8Array): boolean {
  return (m[0] & 1) === 1;
}

/** Whether two MACs are equal. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

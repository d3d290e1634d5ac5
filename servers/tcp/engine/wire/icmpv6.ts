/**
 * ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861) messages: thin view + plain value. The
 * checksum covers the IPv6 pseudo-header, so emit and verify take the addresses' bytes.
 *
 * @module
 */
import { rd16, rd32, wr16, wr32 } from "./_bytes.ts";
import { finishSum, pseudoHeaderSum, sumBytes } from "./checksum.ts";
import { type IpAddr, ipFromBytes, ipWrite } from "../ip/addr.ts";

export const ICMPV6_HEADER_LEN = 8;
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAM_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_REDIRECT = 137;

/** Codes of destination unreachable. */
export const ICMPV6_UNREACH_NOROUTE = 0;
export const ICMPV6_UNREACH_ADMIN = 1;
export const ICMPV6_UNREACH_BEYONDSCOPE = 2;
export const ICMPV6_UNREACH_ADDR = 3;
export const ICMPV6_UNREACH_PORT = 4;
/** Codes of parameter problem. */
export const ICMPV6_PARAMPROB_HEADER = 0;
export const ICMPV6_PARAMPROB_NEXTHEADER = 1;
export const ICMPV6_PARAMPROB_OPTION = 2;

/** NDP option types. */
export const ND_OPT_SOURCE_LINKADDR = 1;
export const ND_OPT_TARGET_LINKADDR = 2;
export const ND_OPT_PREFIX_INFORMATION = 3;
export const ND_OPT_REDIRECTED_HEADER = 4;
export const ND_OPT_MTU = 5;

/** NA flag bits (first byte of the rest of header). */
export const ND_NA_FLAG_ROUTER = 0x80;
export const ND_NA_FLAG_SOLICITED = 0x40;
export const ND_NA_FLAG_OVERRIDE = 0x20;

/** Why an ICMPv6 message could not be read. */
export type Icmpv6ParseError = "truncated" | "bad-nd-option" | "truncated-nd";

/** Thin view over an ICMPv6 message. */
export class Icmpv6View {
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  /** The one length check: the 8-byte header fits. */
  check(): Icmpv6ParseError | undefined {
    return this.buf.length < ICMPV6_HEADER_LEN ? "truncated" : undefined;
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
    return this.buf.subarray(ICMPV6_HEADER_LEN);
  }
  /** Whether the checksum verifies for source/destination address bytes `src`, `dst`. */
  checksumOk(src: Uint8Array, dst: Uint8Array): boolean {
    const s = sumBytes(pseudoHeaderSum(src, dst, 58, this.buf.length), this.buf);
    return finishSum(s) === 0;
  }
}

/** A generic ICMPv6 message as a plain value. */
export interface Icmpv6Repr {
  type: number;
  code: number;
  restOfHeader: number;
  data: Uint8Array;
}

/** Parses the generic form (the checksum is checked by {@link Icmpv6View.checksumOk}). */
export function parseIcmpv6(b: Uint8Array): Icmpv6Repr | Icmpv6ParseError {
  const v = new Icmpv6View(b);
  const err = v.check();
  if (err !== undefined) return err;
  return { type: v.type, code: v.code, restOfHeader: v.restOfHeader, data: v.data };
}

/** Length of the emitted message. */
export function icmpv6Length(r: Icmpv6Repr): number {
  return ICMPV6_HEADER_LEN + r.data.length;
}

/**
 * Writes the message at `buf[off…]` with its checksum over the pseudo-header of `src`/`dst`
 * (16 bytes each); returns its length.
 */
export function emitIcmpv6(
  r: Icmpv6Repr,
  src: Uint8Array,
  dst: Uint8Array,
  buf: Uint8Array,
  off = 0,
): number {
  buf[off] = r.type;
  buf[off + 1] = r.code;
  wr16(buf, off + 2, 0);
  wr32(buf, off + 4, r.restOfHeader);
  buf.set(r.data, off + ICMPV6_HEADER_LEN);
  const len = icmpv6Length(r);
  const s = sumBytes(pseudoHeaderSum(src, dst, 58, len), buf, off, len);
  wr16(buf, off + 2, finishSum(s));
  return len;
}

/** Whether an ICMPv6 type is an error message (types 0..127, RFC 4443 §2.1). */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

// ---- Neighbor Discovery -------------------------------------------------------------------

/** One NDP option, in wire order. */
export type NdOption =
  | { kind: "sourceLinkAddr"; mac: Uint8Array }
  | { kind: "targetLinkAddr"; mac: Uint8Array }
  | {
    kind: "prefix";
    prefixLength: number;
    onLink: boolean;
    autonomous: boolean;
    validLifetime: number;
    preferredLifetime: number;
    prefix: IpAddr;
  }
  | { kind: "mtu"; mtu: number }
  | { kind: "unknown"; type: number; data: Uint8Array };

/** Parses NDP options; a zero length or one overrunning the buffer refuses them all (§4.6). */
export function parseNdOptions(b: Uint8Array): NdOption[] | Icmpv6ParseError {
  const out: NdOption[] = [];
  let i = 0;
  while (i < b.length) {
    if (i + 2 > b.length) return "bad-nd-option";
    const type = b[i];
    const len = b[i + 1] * 8;
    if (len === 0 || i + len > b.length) return "bad-nd-option";
    const body = b.subarray(i, i + len);
    if ((type === ND_OPT_SOURCE_LINKADDR || type === ND_OPT_TARGET_LINKADDR) && len === 8) {
      out.push({
        kind: type === ND_OPT_SOURCE_LINKADDR ? "sourceLinkAddr" : "targetLinkAddr",
        mac: body.slice(2, 8),
      });
    } else if (type === ND_OPT_PREFIX_INFORMATION && len === 32) {
      out.push({
        kind: "prefix",
        prefixLength: body[2],
        onLink: (body[3] & 0x80) !== 0,
        autonomous: (body[3] & 0x40) !== 0,
        validLifetime: rd32(body, 4),
        preferredLifetime: rd32(body, 8),
        prefix: ipFromBytes(body, 16, 6),
      });
    } else if (type === ND_OPT_MTU && len === 8) {
      out.push({ kind: "mtu", mtu: rd32(body, 4) });
    } else {
      out.push({ kind: "unknown", type, data: body.slice(2) });
    }
    i += len;
  }
  return out;
}

/** Bytes an option takes on the wire. */
export function ndOptionLength(o: NdOption): number {
  switch (o.kind) {
    case "sourceLinkAddr":
    case "targetLinkAddr":
    case "mtu":
      return 8;
    case "prefix":
      return 32;
    case "unknown":
      return (o.data.length + 2 + 7) & ~7;
  }
}

/** Writes options at `buf[off…]` (every byte, padding included); returns the bytes written. */
export function emitNdOptions(opts: readonly NdOption[], buf: Uint8Array, off = 0): number {
  let i = off;
  for (const o of opts) {
    const len = ndOptionLength(o);
    buf.fill(0, i, i + len);
    buf[i + 1] = len / 8;
    switch (o.kind) {
      case "sourceLinkAddr":
      case "targetLinkAddr":
        buf[i] = o.kind === "sourceLinkAddr" ? ND_OPT_SOURCE_LINKADDR : ND_OPT_TARGET_LINKADDR;
        buf.set(o.mac.subarray(0, 6), i + 2);
        break;
      case "mtu":
        buf[i] = ND_OPT_MTU;
        wr32(buf, i + 4, o.mtu);
        break;
      case "prefix":
        buf[i] = ND_OPT_PREFIX_INFORMATION;
        buf[i + 2] = o.prefixLength;
        buf[i + 3] = (o.onLink ? 0x80 : 0) | (o.autonomous ? 0x40 : 0);
        wr32(buf, i + 4, o.validLifetime);
        wr32(buf, i + 8, o.preferredLifetime);
        ipWrite(o.prefix, buf, i + 16);
        break;
      case "unknown":
        buf[i] = o.type;
        buf.set(o.data, i + 2);
        break;
    }
    i += len;
  }
  return i - off;
}

/** An NDP message as a plain value (the ICMPv6 type selects the fields that apply). */
export type NdRepr =
  | { type: typeof ND_ROUTER_SOLICIT; options: NdOption[] }
  | {
    type: typeof ND_ROUTER_ADVERT;
    curHopLimit: number;
    managed: boolean;
    other: boolean;
    routerLifetime: number;
    reachableTime: number;
    retransTimer: number;
    options: NdOption[];
  }
  | { type: typeof ND_NEIGHBOR_SOLICIT; target: IpAddr; options: NdOption[] }
  | {
    type: typeof ND_NEIGHBOR_ADVERT;
    router: boolean;
    solicited: boolean;
    override: boolean;
    target: IpAddr;
    options: NdOption[];
  };

/** Parses an RS/RA/NS/NA message (the whole ICMPv6 message, header included). */
export function parseNd(b: Uint8Array): NdRepr | Icmpv6ParseError | "not-nd" {
  if (b.length < ICMPV6_HEADER_LEN) return "truncated";
  const type = b[0];
  const opts = (from: number) =>
    from > b.length ? "truncated-nd" : parseNdOptions(b.subarray(from));
  switch (type) {
    case ND_ROUTER_SOLICIT: {
      const o = opts(8);
      return typeof o === "string" ? o : { type, options: o };
    }
    case ND_ROUTER_ADVERT: {
      const o = opts(16);
      if (typeof o === "string") return o;
      return {
        type,
        curHopLimit: b[4],
        managed: (b[5] & 0x80) !== 0,
        other: (b[5] & 0x40) !== 0,
        routerLifetime: rd16(b, 6),
        reachableTime: rd32(b, 8),
        retransTimer: rd32(b, 12),
        options: o,
      };
    }
    case ND_NEIGHBOR_SOLICIT:
    case ND_NEIGHBOR_ADVERT: {
      const o = opts(24);
      if (typeof o === "string") return o;
      const target = ipFromBytes(b, 8, 6);
      if (type === ND_NEIGHBOR_SOLICIT) return { type, target, options: o };
      return {
        type,
        router: (b[4] & ND_NA_FLAG_ROUTER) !== 0,
        solicited: (b[4] & ND_NA_FLAG_SOLICITED) !== 0,
        override: (b[4] & ND_NA_FLAG_OVERRIDE) !== 0,
        target,
        options: o,
      };
    }
    default:
      return "not-nd";
  }
}

/** Length of the emitted NDP message. */
export function ndLength(r: NdRepr): number {
  const fixed = r.type === ND_ROUTER_SOLICIT ? 8 : r.type === ND_ROUTER_ADVERT ? 16 : 24;
  return fixed + r.options.reduce((s, o) => s + ndOptionLength(o), 0);
}

/** Writes an NDP message with its checksum; returns its length. */
export function emitNd(
  r: NdRepr,
  src: Uint8Array,
  dst: Uint8Array,
  buf: Uint8Array,
  off = 0,
): number {
  const len = ndLength(r);
  buf.fill(0, off, off + len);
  buf[off] = r.type;
  let p = off + 8;
  switch (r.type) {
    case ND_ROUTER_SOLICIT:
      break;
    case ND_ROUTER_ADVERT:
      buf[off + 4] = r.curHopLimit;
      buf[off + 5] = (r.managed ? 0x80 : 0) | (r.other ? 0x40 : 0);
      wr16(buf, off + 6, r.routerLifetime);
      wr32(buf, off + 8, r.reachableTime);
      wr32(buf, off + 12, r.retransTimer);
      p = off + 16;
      break;
    case ND_NEIGHBOR_SOLICIT:
      ipWrite(r.target, buf, off + 8);
      p = off + 24;
      break;
    case ND_NEIGHBOR_ADVERT:
      buf[off + 4] = (r.router ? ND_NA_FLAG_ROUTER : 0) | (r.solicited ? ND_NA_FLAG_SOLICITED : 0) |
        (r.override ? ND_NA_FLAG_OVERRIDE : 0);
      ipWrite(r.target, buf, off + 8);
      p = off + 24;
      break;
  }
  emitNdOptions(r.options, buf, p);
  const s = sumBytes(pseudoHeaderSum(src, dst, 58, len), buf, off, len);
  wr16(buf, off + 2, finishSum(s));
  return len;
}

/**
 * TCP header (RFC 9293 §3.1) and options (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 7413).
 *
 * Two levels, as in smoltcp: {@link TcpView} is a thin view over the bytes with named offsets and
 * one length check ({@link TcpView.check}); {@link TcpRepr} is a plain value with
 * {@link parseTcp} / {@link emitTcp} / {@link tcpHeaderLength}. Options keep their order (the
 * conformance suite compares the option list byte for byte), so they are a list of
 * {@link TcpOption}; {@link optionSummary} folds that list into named values.
 *
 * The checksum is not computed here: the IP layer fills it (pseudo-header included) at the
 * offset {@link TCP_CHECKSUM_OFFSET} when it sends, and has verified it on receive.
 */

/** Flag bits in the 16-bit word at offset 12 (low 9 bits). */
export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_PUSH = 0x08;
export const TH_ACK = 0x10;
export const TH_URG = 0x20;
export const TH_ECE = 0x40;
export const TH_CWR = 0x80;
/** RFC 3540 nonce sum / AccECN "AE" bit. */
export const TH_AE = 0x100;

/** Option kinds. */
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MAXSEG = 2;
export const TCPOPT_WINDOW = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
export const TCPOPT_MD5 = 19;
export const TCPOPT_FAST_OPEN = 34;
/** Experimental option kind used by RFC 6994 experiment ids (e.g. old TFO 0xf989). */
export const TCPOPT_EXP = 254;

export const TCP_HEADER_MIN = 20;
export const TCP_HEADER_MAX = 60;
export const TCP_MAX_OPTION_SPACE = 40;
export const TCP_CHECKSUM_OFFSET = 16;
/** RFC 7323 §2.3: the largest shift count. */
export const TCP_MAX_WINSHIFT = 14;

/** One TCP option, in wire order. */
export type TcpOption =
  | { kind: "eol" }
  | { kind: "nop" }
  | { kind: "mss"; mss: number }
  | { kind: "wscale"; shift: number }
  | { kind: "sackOk" }
  | { kind: "sack"; blocks: Array<[number, number]> }
  | { kind: "ts"; val: number; ecr: number }
  | { kind: "fastopen"; cookie: Uint8Array }
  | { kind: "unknown"; type: number; data: Uint8Array };

/** A parsed TCP segment header (plus a view of its payload). */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** TH_* bits (9 bits incl. TH_AE). */
  flags: number;
  window: number;
  urgent: number;
  options: TcpOption[];
  /** Payload bytes (a subarray of the segment on parse). */
  payload: Uint8Array;
}

/** Named values of an option list; the last occurrence of each kind wins. */
export interface TcpOptionSummary {
  mss?: number;
  wscale?: number;
  sackOk: boolean;
  sack?: Array<[number, number]>;
  ts?: { val: number; ecr: number };
  fastopen?: Uint8Array;
}

/** Why a TCP header could not be read. */
export type TcpParseError =
  | "truncated"
  | "bad-data-offset"
  | "bad-option-length"
  | "truncated-option";

/** Thin view over the bytes of a TCP segment. Call {@link TcpView.check} before any getter. */
export class TcpView {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  /** The one length check: the fixed header and the data offset fit. */
  check(): TcpParseError | undefined {
    if (this.buf.length < TCP_HEADER_MIN) return "truncated";
    const off = this.dataOffset;
    if (off < TCP_HEADER_MIN || off > this.buf.length) return "bad-data-offset";
    return undefined;
  }
  get srcPort(): number {
    return this.dv.getUint16(0);
  }
  get dstPort(): number {
    return this.dv.getUint16(2);
  }
  get seq(): number {
    return this.dv.getUint32(4);
  }
  get ack(): number {
    return this.dv.getUint32(8);
  }
  /** Header length in bytes. */
  get dataOffset(): number {
    return (this.buf[12] >> 4) * 4;
  }
  get flags(): number {
    return ((this.buf[12] & 1) << 8) | this.buf[13];
  }
  get window(): number {
    return this.dv.getUint16(14);
  }
  get checksum(): number {
    return this.dv.getUint16(16);
  }
  get urgent(): number {
    return this.dv.getUint16(18);
  }
  get optionBytes(): Uint8Array {
    return this.buf.subarray(TCP_HEADER_MIN, this.dataOffset);
  }
  get payload(): Uint8Array {
    return this.buf.subarray(this.dataOffset);
  }
}

/** Shared NOP / EOL entries of parsed option lists (they carry nothing; never modified). */
const OPT_NOP: TcpOption = Object.freeze({ kind: "nop" });
const OPT_EOL: TcpOption = Object.freeze({ kind: "eol" });

function be32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

/** Whether `len` is a length an option of `kind` can have (any, for kinds not known here). */
function lengthFits(kind: number, len: number): boolean {
  switch (kind) {
    case TCPOPT_MAXSEG:
      return len === 4;
    case TCPOPT_WINDOW:
      return len === 3;
    case TCPOPT_SACK_PERMITTED:
      return len === 2;
    case TCPOPT_SACK:
      return (len - 2) % 8 === 0;
    case TCPOPT_TIMESTAMP:
      return len === 10;
  }
  return true;
}

/**
 * Parses an option area. Returns the options in order or an error. Never throws. Variable
 * bodies (TFO cookie, unknown options) are copies, not views of `b`.
 *
 * Strict (the default: what the engine sends is checked so in tests), a malformed option is
 * an error. `lenient` reads a received segment as FreeBSD's tcp_dooptions and Linux do: an
 * option of a known kind with the wrong length is skipped, and EOL, a length below 2 or one
 * past the area end the options there — the segment itself is good. Dropped for it, a
 * peer's segment with such an option was dropped at every retransmission and its
 * connection stalled (a helper's scapy frames; Linux answered all of them).
 */
export function parseTcpOptions(b: Uint8Array, lenient = false): TcpOption[] | TcpParseError {
  const out: TcpOption[] = [];
  let i = 0;
  while (i < b.length) {
    const kind = b[i];
    if (kind === TCPOPT_EOL) {
      out.push(OPT_EOL);
      if (lenient) return out;
      i++;
      continue; // padding after EOL is listed too (as further EOLs), which keeps byte order.
    }
    if (kind === TCPOPT_NOP) {
      out.push(OPT_NOP);
      i++;
      continue;
    }
    if (i + 1 >= b.length) return lenient ? out : "truncated-option";
    const len = b[i + 1];
    if (len < 2) return lenient ? out : "bad-option-length";
    if (i + len > b.length) return lenient ? out : "truncated-option";
    const o = i + 2; // the option's body; fields read in place (no view per option)
    if (!lengthFits(kind, len)) {
      if (!lenient) return "bad-option-length";
      i += len; // skipped
      continue;
    }
    switch (kind) {
      case TCPOPT_MAXSEG:
        out.push({ kind: "mss", mss: (b[o] << 8) | b[o + 1] });
        break;
      case TCPOPT_WINDOW:
        out.push({ kind: "wscale", shift: b[o] });
        break;
      case TCPOPT_SACK_PERMITTED:
        out.push({ kind: "sackOk" });
        break;
      case TCPOPT_SACK: {
        const blocks: Array<[number, number]> = [];
        for (let j = o; j < i + len; j += 8) blocks.push([be32(b, j), be32(b, j + 4)]);
        out.push({ kind: "sack", blocks });
        break;
      }
      case TCPOPT_TIMESTAMP:
        out.push({ kind: "ts", val: be32(b, o), ecr: be32(b, o + 4) });
        break;
      case TCPOPT_FAST_OPEN:
        out.push({ kind: "fastopen", cookie: b.slice(o, i + len) });
        break;
      default:
        out.push({ kind: "unknown", type: kind, data: b.slice(o, i + len) });
    }
    i += len;
  }
  return out;
}

/** Parses a whole segment (header, options, payload view; options as parseTcpOptions). Never throws. */
export function parseTcp(seg: Uint8Array, lenient = false): TcpRepr | TcpParseError {
  const v = new TcpView(seg);
  const err = v.check();
  if (err) return err;
  const options = parseTcpOptions(v.optionBytes, lenient);
  if (typeof options === "string") return options;
  return {
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    seq: v.seq,
    ack: v.ack,
    flags: v.flags,
    window: v.window,
    urgent: v.urgent,
    options,
    payload: v.payload,
  };
}

/** Folds an option list into named values. */
export function optionSummary(opts: readonly TcpOption[]): TcpOptionSummary {
  const s: TcpOptionSummary = { sackOk: false };
  for (const o of opts) {
    switch (o.kind) {
      case "mss":
        s.mss = o.mss;
        break;
      case "wscale":
        s.wscale = o.shift;
        break;
      case "sackOk":
        s.sackOk = true;
        break;
      case "sack":
        s.sack = o.blocks;
        break;
      case "ts":
        s.ts = { val: o.val, ecr: o.ecr };
        break;
      case "fastopen":
        s.fastopen = o.cookie;
        break;
    }
  }
  return s;
}

function wr16(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 8;
  b[i + 1] = v;
}

function wr32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = v >>> 16;
  b[i + 2] = v >>> 8;
  b[i + 3] = v;
}

/** Encoded length of one option. */
export function optionLength(o: TcpOption): number {
  switch (o.kind) {
    case "eol":
    case "nop":
      return 1;
    case "mss":
      return 4;
    case "wscale":
      return 3;
    case "sackOk":
      return 2;
    case "sack":
      return 2 + 8 * o.blocks.length;
    case "ts":
      return 10;
    case "fastopen":
      return 2 + o.cookie.length;
    case "unknown":
      return 2 + o.data.length;
  }
}

/** Length of the option area, padded to a multiple of 4. */
export function optionsLength(opts: readonly TcpOption[]): number {
  let n = 0;
  for (const o of opts) n += optionLength(o);
  return (n + 3) & ~3;
}

/** Header length (20 + padded options). */
export function tcpHeaderLength(r: Pick<TcpRepr, "options">): number {
  return TCP_HEADER_MIN + optionsLength(r.options);
}

/**
 * Writes options at `off`, padding with EOL (zero) bytes to a multiple of 4. Returns the end
 * offset. The caller ensures the space (optionsLength ≤ 40).
 */
export function emitTcpOptions(buf: Uint8Array, off: number, opts: readonly TcpOption[]): number {
  const start = off;
  for (const o of opts) {
    switch (o.kind) {
      case "eol":
        buf[off++] = TCPOPT_EOL;
        break;
      case "nop":
        buf[off++] = TCPOPT_NOP;
        break;
      case "mss":
        buf[off] = TCPOPT_MAXSEG;
        buf[off + 1] = 4;
        wr16(buf, off + 2, o.mss);
        off += 4;
        break;
      case "wscale":
        buf[off] = TCPOPT_WINDOW;
        buf[off + 1] = 3;
        buf[off + 2] = o.shift;
        off += 3;
        break;
      case "sackOk":
        buf[off] = TCPOPT_SACK_PERMITTED;
        buf[off + 1] = 2;
        off += 2;
        break;
      case "sack":
        buf[off] = TCPOPT_SACK;
        buf[off + 1] = 2 + 8 * o.blocks.length;
        off += 2;
        for (const [l, r] of o.blocks) {
          wr32(buf, off, l >>> 0);
          wr32(buf, off + 4, r >>> 0);
          off += 8;
        }
        break;
      case "ts":
        buf[off] = TCPOPT_TIMESTAMP;
        buf[off + 1] = 10;
        wr32(buf, off + 2, o.val >>> 0);
        wr32(buf, off + 6, o.ecr >>> 0);
        off += 10;
        break;
      case "fastopen":
        buf[off] = TCPOPT_FAST_OPEN;
        buf[off + 1] = 2 + o.cookie.length;
        buf.set(o.cookie, off + 2);
        off += 2 + o.cookie.length;
        break;
      case "unknown":
        buf[off] = o.type;
        buf[off + 1] = 2 + o.data.length;
        buf.set(o.data, off + 2);
        off += 2 + o.data.length;
        break;
    }
  }
  while ((off - start) & 3) buf[off++] = TCPOPT_EOL;
  return off;
}

/**
 * Writes header, options and payload into `buf` at `off` (checksum left 0). Every byte of the
 * header is written. Returns the number of bytes written. The caller sizes `buf` with
 * {@link tcpHeaderLength} + payload length.
 */
export function emitTcp(r: TcpRepr, buf: Uint8Array, off = 0): number {
  const hl = tcpHeaderLength(r);
  // Byte writes, not a DataView: this runs for every segment and a view is an allocation.
  wr16(buf, off, r.srcPort);
  wr16(buf, off + 2, r.dstPort);
  wr32(buf, off + 4, r.seq >>> 0);
  wr32(buf, off + 8, r.ack >>> 0);
  buf[off + 12] = ((hl / 4) << 4) | ((r.flags >> 8) & 1);
  buf[off + 13] = r.flags & 0xff;
  wr16(buf, off + 14, r.window & 0xffff);
  wr16(buf, off + 16, 0);
  wr16(buf, off + 18, r.urgent & 0xffff);
  emitTcpOptions(buf, off + TCP_HEADER_MIN, r.options);
  buf.set(r.payload, off + hl);
  return hl + r.payload.length;
}

/** Allocates and emits a segment. */
export function buildTcp(r: TcpRepr): Uint8Array {
  const out = new Uint8Array(tcpHeaderLength(r) + r.payload.length);
  emitTcp(r, out, 0);
  return out;
}

/** Flags as packetdrill letters (S, F, R, P, ., E, W, U), for logs and test names. */
export function flagString(flags: number): string {
  let s = "";
  if (flags & TH_SYN) s += "S";
  if (flags & TH_FIN) s += "F";
  if (flags & TH_RST) s += "R";
  if (flags & TH_PUSH) s += "P";
  if (flags & TH_ACK) s += ".";
  if (flags & TH_URG) s += "U";
  if (flags & TH_ECE) s += "E";
  if (flags & TH_CWR) s += "W";
  return s;
}

/**
 * Runtime of the generated fixed-offset accessors (schema/gen/hot.ts): locating structs in a
 * single-segment Cap'n Proto message with one bounds check per pointer, and a small bump
 * writer. Nothing here throws on hostile input: readers return error codes (the same values
 * as the C codec's JR_CAPNP_E*) and reads beyond a short data section give the default 0.
 */

/** Error codes, equal to the C codec's. */
export const HotError = {
  TRUNC: -1,
  SEGMENT: -2,
  BOUNDS: -3,
  TYPE: -4,
  TEXT: -5,
  SPACE: -8,
} as const;

/** Where a struct sits in a message: byte offsets into `dv`. Reused to avoid allocation. */
export class HotStruct {
  dv: DataView = new DataView(new ArrayBuffer(0));
  /** Segment bounds (bytes). */
  seg = 0;
  segEnd = 0;
  /** Data section start and size (bytes); pointer section start and count. */
  data = 0;
  dataBytes = 0;
  ptrs = 0;
  ptrCount = 0;
}

/** A list of structs inside a message. */
export class HotList {
  dv: DataView = new DataView(new ArrayBuffer(0));
  seg = 0;
  segEnd = 0;
  start = 0;
  count = 0;
  dataBytes = 0;
  ptrCount = 0;
}

/** Opens a framed single-segment message and locates its root struct. 0 ok, 1 null root. */
export function hotOpen(dv: DataView, out: HotStruct): number {
  if (dv.byteLength < 8) return HotError.TRUNC;
  if (dv.getUint32(0, true) !== 0) return HotError.SEGMENT;
  const words = dv.getUint32(4, true);
  if (words === 0) return HotError.BOUNDS;
  if (words > (dv.byteLength - 8) / 8) return HotError.TRUNC;
  out.dv = dv;
  out.seg = 8;
  out.segEnd = 8 + words * 8;
  return followPointer(out, 8, out);
}

/** Follows the struct pointer at byte `at` of `from`'s segment into `out`. 0 ok, 1 null. */
export function followPointer(from: HotStruct | HotList, at: number, out: HotStruct): number {
  const dv = from.dv;
  const lo = dv.getUint32(at, true), hi = dv.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return 1;
  if ((lo & 3) === 2) return HotError.SEGMENT;
  if ((lo & 3) !== 0) return HotError.TYPE;
  const target = at + 8 + (lo >> 2) * 8; // lo >> 2 is the signed word offset
  const dw = hi & 0xffff, pc = hi >>> 16;
  if (target < from.seg || target + (dw + pc) * 8 > from.segEnd) return HotError.BOUNDS;
  out.dv = dv;
  out.seg = from.seg;
  out.segEnd = from.segEnd;
  out.data = target;
  out.dataBytes = dw * 8;
  out.ptrs = target + dw * 8;
  out.ptrCount = pc;
  return 0;
}

/** Follows pointer `index` of struct `s` (null when beyond its pointer section). */
export function hotStructField(s: HotStruct, index: number, out: HotStruct): number {
  if (index >= s.ptrCount) return 1;
  return followPointer(s, s.ptrs + index * 8, out);
}

/** Pointer `index` of `s` as a list of structs. 0 ok, 1 null. */
export function hotStructListField(s: HotStruct, index: number, out: HotList): number {
  if (index >= s.ptrCount) return 1;
  const dv = s.dv, at = s.ptrs + index * 8;
  const lo = dv.getUint32(at, true), hi = dv.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return 1;
  if ((lo & 3) !== 1 || (hi & 7) !== 7) return HotError.TYPE;
  const tag = at + 8 + (lo >> 2) * 8, words = hi >>> 3;
  if (tag < s.seg || tag + 8 + words * 8 > s.segEnd) return HotError.BOUNDS;
  const tlo = dv.getUint32(tag, true), thi = dv.getUint32(tag + 4, true);
  if ((tlo & 3) !== 0) return HotError.TYPE;
  const count = tlo >>> 2, dw = thi & 0xffff, pc = thi >>> 16;
  if (count * (dw + pc) > words) return HotError.BOUNDS;
  out.dv = dv;
  out.seg = s.seg;
  out.segEnd = s.segEnd;
  out.start = tag + 8;
  out.count = count;
  out.dataBytes = dw * 8;
  out.ptrCount = pc;
  return 0;
}

/** Element `i` (< list.count) of a struct list. */
export function hotListElement(list: HotList, i: number, out: HotStruct): void {
  out.dv = list.dv;
  out.seg = list.seg;
  out.segEnd = list.segEnd;
  out.data = list.start + i * (list.dataBytes + list.ptrCount * 8);
  out.dataBytes = list.dataBytes;
  out.ptrs = out.data + list.dataBytes;
  out.ptrCount = list.ptrCount;
}

/**
 * Pointer `index` of `s` as Text/Data bytes: a view into the message (Text without its NUL),
 * empty when null, undefined when malformed.
 */
export function hotBytes(s: HotStruct, index: number, text: boolean): Uint8Array | undefined {
  if (index >= s.ptrCount) return new Uint8Array(0);
  const dv = s.dv, at = s.ptrs + index * 8;
  const lo = dv.getUint32(at, true), hi = dv.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return new Uint8Array(0);
  if ((lo & 3) !== 1 || (hi & 7) !== 2) return undefined;
  const start = at + 8 + (lo >> 2) * 8;
  let n = hi >>> 3;
  if (start < s.seg || start + n > s.segEnd) return undefined;
  if (text) {
    if (n === 0 || dv.getUint8(start + n - 1) !== 0) return undefined;
    n--;
  }
  return new Uint8Array(dv.buffer, dv.byteOffset + start, n);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Pointer `index` of `s` as a string ("" when null or malformed). */
export function hotText(s: HotStruct, index: number): string {
  const b = hotBytes(s, index, true);
  return b ? decoder.decode(b) : "";
}

/** Bump writer of single-segment messages into a caller-supplied buffer. */
export class HotWriter {
  readonly dv: DataView;
  private used = 0; // words of the segment
  private readonly cap: number;

  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.cap = Math.floor((buf.byteLength - 8) / 8);
  }

  /** Starts a message whose root struct has dw data words and pc pointers. */
  root(dw: number, pc: number, out: HotStruct): number {
    this.used = 0;
    if (this.cap < 1) return HotError.SPACE;
    this.used = 1;
    this.buf.fill(0, 8, 16);
    return this.alloc(8, dw, pc, out);
  }

  /** Allocates a struct and points pointer `index` of `parent` at it. */
  struct(parent: HotStruct, index: number, dw: number, pc: number, out: HotStruct): number {
    return this.alloc(parent.ptrs + index * 8, dw, pc, out);
  }

  /** Copies Text/Data into the message and points pointer `index` of `parent` at it. */
  bytes(parent: HotStruct, index: number, data: Uint8Array, text: boolean): number {
    const n = data.length + (text ? 1 : 0), words = Math.ceil(n / 8);
    if (n >= 1 << 29) return HotError.SPACE;
    const at = this.take(words);
    if (at < 0) return at;
    this.buf.set(data, at);
    const p = parent.ptrs + index * 8;
    this.dv.setUint32(p, ((((at - p - 8) / 8) << 2) | 1) >>> 0, true);
    this.dv.setUint32(p + 4, ((n << 3) | 2) >>> 0, true);
    return 0;
  }

  /** Text from a string. */
  text(parent: HotStruct, index: number, s: string): number {
    return this.bytes(parent, index, encoder.encode(s), true);
  }

  /**
   * Allocates a list of n structs (dw data words, pc pointers each) and points pointer `index`
   * of `parent` at it; fill the elements through hotListElement(out, i, …).
   */
  structList(
    parent: HotStruct,
    index: number,
    n: number,
    dw: number,
    pc: number,
    out: HotList,
  ): number {
    const words = n * (dw + pc);
    if (words >= 1 << 29) return HotError.SPACE;
    const tag = this.take(1 + words);
    if (tag < 0) return tag;
    const p = parent.ptrs + index * 8;
    this.dv.setUint32(p, ((((tag - p - 8) / 8) << 2) | 1) >>> 0, true);
    this.dv.setUint32(p + 4, ((words << 3) | 7) >>> 0, true);
    this.dv.setUint32(tag, (n << 2) >>> 0, true);
    this.dv.setUint32(tag + 4, (dw | (pc << 16)) >>> 0, true);
    out.dv = this.dv;
    out.seg = 8;
    out.segEnd = 8 + this.cap * 8;
    out.start = tag + 8;
    out.count = n;
    out.dataBytes = dw * 8;
    out.ptrCount = pc;
    return 0;
  }

  /** Length in bytes of the framed message written so far; writes the segment table. */
  finish(): number {
    this.dv.setUint32(0, 0, true);
    this.dv.setUint32(4, this.used, true);
    return 8 + this.used * 8;
  }

  private take(words: number): number {
    if (words > this.cap - this.used) return HotError.SPACE;
    const at = 8 + this.used * 8;
    this.buf.fill(0, at, at + words * 8);
    this.used += words;
    return at;
  }

  private alloc(p: number, dw: number, pc: number, out: HotStruct): number {
    const at = this.take(dw + pc);
    if (at < 0) return at;
    this.dv.setUint32(p, (((at - p - 8) / 8) << 2) >>> 0, true);
    this.dv.setUint32(p + 4, (dw | (pc << 16)) >>> 0, true);
    out.dv = this.dv;
    out.seg = 8;
    out.segEnd = 8 + this.cap * 8;
    out.data = at;
    out.dataBytes = dw * 8;
    out.ptrs = at + dw * 8;
    out.ptrCount = pc;
    return 0;
  }
}

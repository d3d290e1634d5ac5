/**
 * IP addresses as canonical text ("198.18.0.2"; RFC 5952 for IPv6, e.g. "fd00:198:18::2"),
 * with conversions to and from bytes. Canonical text makes addresses usable as Map keys and
 * comparable with `===`.
 *
 * @module
 */

/** An IPv4 or IPv6 address in canonical text form. */
export type IpAddr = string;

/** An address with a prefix length, as configured on an interface ("198.18.0.2/24"). */
export interface Cidr {
  addr: IpAddr;
  prefix: number;
  version: 4 | 6;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4Bytes(s: string, out: Uint8Array, off: number): boolean {
  const m = V4_RE.exec(s);
  if (m === null) return false;
  for (let i = 0; i < 4; i++) {
    const t = m[i + 1];
    if (t.length > 1 && t[0] === "0") return false; // leading zeros are ambiguous (octal)
    const n = Number(t);
    if (n > 255) return false;
    out[off + i] = n;
  }
  return true;
}

function parseV6Bytes(s: string, out: Uint8Array): boolean {
  if (s.length < 2 || s.length > 45) return false;
  const dbl = s.indexOf("::");
  if (dbl !== -1 && s.indexOf("::", dbl + 1) !== -1) return false;
  const head = dbl === -1 ? s : s.slice(0, dbl);
  const tail = dbl === -1 ? "" : s.slice(dbl + 2);
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const items = part.split(":");
    const res: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (i === items.length - 1 && it.includes(".")) {
        const b = new Uint8Array(4);
        if (!parseV4Bytes(it, b, 0)) return null;
        res.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return null;
        res.push(parseInt(it, 16));
      }
    }
    return res;
  };
  const h = groups(head);
  const t = groups(tail);
  if (h === null || t === null) return false;
  // An embedded IPv4 address may only end the address.
  if (dbl !== -1 && tail === "" && head.includes(".")) return false;
  if (dbl === -1 ? h.length !== 8 : h.length + t.length > 7) return false;
  out.fill(0);
  for (let i = 0; i < h.length; i++) {
    out[2 * i] = h[i] >> 8;
    out[2 * i + 1] = h[i] & 0xff;
  }
  for (let i = 0; i < t.length; i++) {
    const g = 8 - t.length + i;
    out[2 * g] = t[i] >> 8;
    out[2 * g + 1] = t[i] & 0xff;
  }
  return true;
}

/**
 * Parses an IPv4 or IPv6 address and returns its canonical form, or undefined when `s` is
 * not an address (zone ids, prefixes and leading-zero IPv4 octets are rejected).
 */
export function parseIp(s: string): IpAddr | undefined {
  if (s.includes(":")) {
    const b = new Uint8Array(16);
    return parseV6Bytes(s, b) ? ipFromBytes(b, 0, 6) : undefined;
  }
  const b = new Uint8Array(4);
  return parseV4Bytes(s, b, 0) ? ipFromBytes(b, 0, 4) : undefined;
}

/** 4 for an IPv4 address, 6 for IPv6 (by syntax; the address is assumed canonical). */
export function ipVersion(a: IpAddr): 4 | 6 {
  return a.includes(":") ? 6 : 4;
}

const CACHE_MAX = 4096;
const cache = new Map<IpAddr, Uint8Array>();

/**
 * The 4 or 16 bytes of `a` from a small cache: the result is SHARED and must not be
 * modified (use {@link ipToBytes} for a private copy). Throws like {@link ipToBytes}.
 */
export function ipBytes(a: IpAddr): Uint8Array {
  let b = cache.get(a);
  if (b === undefined) {
    b = parseBytes(a);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(a, b);
  }
  return b;
}

/** The 4 or 16 bytes of `a` (a fresh copy); throws on text that is not an address. */
export function ipToBytes(a: IpAddr): Uint8Array {
  return ipBytes(a).slice();
}

function parseBytes(a: IpAddr): Uint8Array {
  if (a.includes(":")) {
    const b = new Uint8Array(16);
    if (!parseV6Bytes(a, b)) throw new Error(`Cannot convert "${a}" to bytes: not an IPv6 address`);
    return b;
  }
  const b = new Uint8Array(4);
  if (!parseV4Bytes(a, b, 0)) {
    throw new Error(`Cannot convert "${a}" to bytes: not an IPv4 address`);
  }
  return b;
}

/** Writes the bytes of `a` into `out` at `off` (4 or 16 bytes). */
export function ipWrite(a: IpAddr, out: Uint8Array, off: number): void {
  out.set(ipBytes(a), off);
}

const V4_TEXT_SLOTS = 1024;
const v4Keys = new Int32Array(V4_TEXT_SLOTS);
const v4Texts: (IpAddr | undefined)[] = new Array(V4_TEXT_SLOTS).fill(undefined);

/** The canonical text of the address of version `v` at `b[off…]` (the caller checks length). */
export function ipFromBytes(b: Uint8Array, off: number, v: 4 | 6): IpAddr {
  if (v === 4) {
    // Per packet on the hot path: a direct-mapped cache of the texts keeps it allocation-free.
    const k = (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
    const i = (k ^ (k >>> 10) ^ (k >>> 20)) & (V4_TEXT_SLOTS - 1);
    let t = v4Texts[i];
    if (t === undefined || v4Keys[i] !== k) {
      t = `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
      v4Texts[i] = t;
      v4Keys[i] = k;
    }
    return t;
  }
  const g: number[] = new Array(8);
  for (let i = 0; i < 8; i++) g[i] = (b[off + 2 * i] << 8) | b[off + 2 * i + 1];
  // RFC 5952 §5: IPv4-mapped addresses keep their dotted quad.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first one on a tie.
  let bestStart = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(":");
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Parses "198.18.0.2/24" (a bare address gets a full-length prefix); undefined when bad. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  const addr = parseIp(slash === -1 ? s : s.slice(0, slash));
  if (addr === undefined) return undefined;
  const version = ipVersion(addr);
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const t = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(t)) return undefined;
    prefix = Number(t);
    if (prefix > max) return undefined;
  }
  return { addr, prefix, version };
}

/** Whether `a` and `b` (same version) agree on their first `prefix` bits. */
export function samePrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  if (a.length !== b.length) return false;
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rem = prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (a[full] & mask) === (b[full] & mask);
}

/** Whether `a` is the unspecified address (0.0.0.0 or ::). */
export function isUnspecified(a: IpAddr): boolean {
  return a === "0.0.0.0" || a === "::";
}

/** Whether `a` is a multicast address (224.0.0.0/4 or ff00::/8). */
export function isMulticast(a: IpAddr): boolean {
  // 224.–239. by its characters: ipOutput asks this of every packet it sends.
  if (a.charCodeAt(0) !== 50 /* 2 */ || a.charCodeAt(3) !== 46 /* . */) {
    return a.charCodeAt(0) === 102 /* f */ && a.charCodeAt(1) === 102 && a.includes(":");
  }
  const d1 = a.charCodeAt(1) - 48, d2 = a.charCodeAt(2) - 48;
  return (d1 === 2 && d2 >= 4 && d2 <= 9) || (d1 === 3 && d2 >= 0 && d2 <= 9);
}

/** Whether `a` is a loopback address (127.0.0.0/8 or ::1). */
export function isLoopback(a: IpAddr): boolean {
  return a === "::1" || a.startsWith("127.");
}

/** Whether `a` is an IPv6 link-local unicast address (fe80::/10). */
export function isLinkLocal6(a: IpAddr): boolean {
  return /^fe[89ab][0-9a-f]:/.test(a);
}

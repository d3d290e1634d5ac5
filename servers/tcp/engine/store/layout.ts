/**
 * The shared-memory layout of the TCP state region (DESIGN §5): one definition, from which the
 * offsets are computed and a layout hash is taken (a new incarnation whose layout differs
 * refuses to read the records instead of misreading them).
 *
 * All values are float64 words (integers up to 2^53 and µs times fit; uint32 sequence numbers
 * are stored as they are). Offsets below are in words unless named `…Bytes`.
 *
 * ```
 * region:  header (HEADER_WORDS) | records × recordWords | records × 2 rings of ringBytes
 * record:  control (CTL_WORDS) | slot 0 (slotWords) | slot 1 (slotWords)
 * ```
 *
 * Control words: `gen` (commits of this record; the active slot is `gen & 1`, 0 = never
 * written), `dirty` (1 while a commit of this record is in progress: the inactive slot may be
 * torn, the active one is intact). A slot holds the connection part ({@link CONN_FIELDS}),
 * every numeric field of the tcpcb ({@link TCPCB_FIELDS}, taken from `newTcpcb()` so a field the
 * TCP core adds is stored without an edit here), the timer deadlines and the congestion-control
 * state ({@link CC_WORDS}: the cc_var fields and the algorithm's own, e.g. CUBIC's W_max, K and
 * epoch start, as `ccSaveState` lays them out; the algorithm by index in {@link CC_NAMES}).
 * Each record owns a send
 * ring and a receive ring of `ringBytes` (a power of two), indexed by absolute stream offset
 * modulo `ringBytes`.
 *
 * @module
 */
import { newTcpcb, TT_COUNT } from "../tcp/tcpcb.ts";
import { CC_SAVED_WORDS, ccAlgo, CCV_FIELDS } from "../tcp/cc/builtin.ts";

/** "JRTCPST1" as a number that fits a float64 exactly. */
export const MAGIC = 0x4a52_5443_5053;

/** Header words. */
export const HDR = {
  magic: 0,
  layoutHash: 1,
  records: 2,
  ringBytes: 3,
  /** Engine clock (µs) at the last commit: a restarted server continues from here. */
  clock: 4,
  /** Commits so far (all records). */
  commits: 5,
  /** Times the region was restored by a new incarnation. */
  restores: 6,
  /** 1 once the engine's keys are stored in the eight words from `keys` on (ShmTcbStore.keys). */
  keysSet: 7,
  keys: 8,
} as const;
/** Bytes of keys the header keeps (HDR.keys: one u32 a word). */
export const KEY_BYTES = 32;
export const HEADER_WORDS = 16;

/** Control words of a record. */
export const CTL = { gen: 0, dirty: 1 } as const;
export const CTL_WORDS = 4;

/** Connection fields of a slot (everything of a TcpConn that is not in the tcpcb). */
export const CONN_FIELDS = [
  /** 0 free, 1 live, 2 lost (could not be stored: the restart resets it). */
  "live",
  "version",
  "laddr0",
  "laddr1",
  "laddr2",
  "laddr3",
  "lport",
  "faddr0",
  "faddr1",
  "faddr2",
  "faddr3",
  "fport",
  "fd",
  /** Listener's record index + 1 (0: none). */
  "parent",
  /** CF_* bits. */
  "flags",
  "sndHiwat",
  "rcvHiwat",
  "soError",
  "backlog",
  "lingerSecs",
  "ipTtl",
  "ipTos",
  /** TCP_MAXSEG, TCP_USER_TIMEOUT (µs), TCP_SYNCNT as the user set them (0: not set). */
  "userMss",
  "maxUnack",
  "synRetries",
  /** Congestion control: index in CC_NAMES. */
  "cc",
  "oobMark",
  /** Absolute stream offsets of the send queue (bytes taken from the user so far = tail). */
  "sndHead",
  "sndTail",
  /** Absolute stream offsets of the receive queue (bytes given to the user so far = head). */
  "rcvHead",
  "rcvTail",
  /**
   * Owner tag: opaque words the socket's user side stores with the connection (the socket
   * service: app id, socket id, placeholder pid and fd, 48 bits of the app's token), to find
   * its sockets again.
   */
  "owner0",
  "owner1",
  "owner2",
  "owner3",
  "owner4",
] as const;

/** Words of the owner tag. */
export const OWNER_WORDS = 5;

/** Connection flag bits. */
export const CF = {
  cantRcvMore: 1 << 0,
  cantSendMore: 1 << 1,
  closed: 1 << 2,
  isDisconnected: 1 << 3,
  keepalive: 1 << 4,
  lingerOn: 1 << 5,
  reuseAddr: 1 << 6,
  reusePort: 1 << 7,
  oobInline: 1 << 8,
  dropped: 1 << 9,
  peerSackOk: 1 << 10,
  dropOptions: 1 << 11,
  /** Found in the 4-tuple table. */
  inConns: 1 << 12,
  /** Found in the listener/bound table. */
  inListeners: 1 << 13,
} as const;

/** Congestion control algorithms by stored index (unknown names restore as newreno). */
export const CC_NAMES = ["newreno", "cubic"] as const;

/** The tcpcb's numeric fields, in a fixed order (tTimers is stored separately). */
export const TCPCB_FIELDS: readonly string[] = Object.keys(newTcpcb()).filter((k) =>
  k !== "tTimers"
).sort();

/** Word offsets inside a slot. */
export const SLOT: Readonly<Record<string, number>> = (() => {
  const o: Record<string, number> = {};
  let i = 0;
  for (const f of CONN_FIELDS) o[f] = i++;
  for (const f of TCPCB_FIELDS) o[`tp.${f}`] = i++;
  o.timers = i;
  o.ccState = i + TT_COUNT;
  return o;
})();

/** Words of the congestion-control state at `SLOT.ccState`. */
export const CC_WORDS = CC_SAVED_WORDS;

/** Words per slot. */
export const SLOT_WORDS = SLOT.ccState + CC_WORDS;
/** Words per record (control + two slots), rounded to a 64-byte line. */
export const RECORD_WORDS = Math.ceil((CTL_WORDS + 2 * SLOT_WORDS) / 8) * 8;

/** FNV-1a over the field names and sizes: changes whenever the layout does. */
export const LAYOUT_HASH = (() => {
  let h = 0x811c9dc5;
  // The meaning of the cc words too: the cc_var fields and each stored algorithm's fields.
  const cc = CC_NAMES.map((n) => `${n}(${(ccAlgo(n)?.stateFields ?? []).join(" ")})`);
  const s = [
    ...CONN_FIELDS,
    ...TCPCB_FIELDS,
    `timers${TT_COUNT}`,
    `cc${CC_WORDS}`,
    ...CCV_FIELDS,
    ...cc,
    `rec${RECORD_WORDS}`,
  ].join(",");
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
})();

/** Geometry of one region. */
export interface StoreGeometry {
  /** Records (connections, listeners included). */
  records: number;
  /** Bytes of each send and each receive ring (a power of two). */
  ringBytes: number;
}

/** Bytes a region of `g` needs. */
export function regionBytes(g: StoreGeometry): number {
  return ringsOffset(g) + g.records * 2 * g.ringBytes;
}

/** Byte offset of the first record. */
export function recordsOffset(): number {
  return HEADER_WORDS * 8;
}

/** Byte offset of the first ring. */
export function ringsOffset(g: StoreGeometry): number {
  const b = recordsOffset() + g.records * RECORD_WORDS * 8;
  return Math.ceil(b / 4096) * 4096;
}

/** Checks a geometry; returns a message naming what is wrong, or undefined. */
export function checkGeometry(g: StoreGeometry): string | undefined {
  if (!Number.isInteger(g.records) || g.records < 1 || g.records > 1 << 20) {
    return `records must be an integer in 1..${1 << 20}, got ${g.records}`;
  }
  const r = g.ringBytes;
  if (!Number.isInteger(r) || r < 4096 || r > 1 << 30 || (r & (r - 1)) !== 0) {
    return `ringBytes must be a power of two in 4096..2^30, got ${r}`;
  }
  return undefined;
}

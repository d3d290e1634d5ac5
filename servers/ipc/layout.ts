/**
 * The shared-memory layout of Joyride's rings: the one definition from which the C header
 * `native/ipc/joyride_layout.h` is generated (`deno run -A servers/ipc/gen_layout_h.ts`), and
 * which the TypeScript rings use. `layout_test.ts` fails when the committed header drifts.
 *
 * All offsets are bytes; all fields are little-endian and naturally aligned. A ring is a
 * 256-byte header (four 64-byte cache lines) followed by its data area:
 *
 * ```
 *   line 0  magic, version, kind, capacity, slot size, data offset, data size   (written once)
 *   line 1  head    consumer's index, written only by the consumer
 *   line 2  tail    producer's index, written only by the producer
 *   line 3  data bell, space bell (futex words), state flags
 *   data    capacity bytes (message/byte rings) or capacity × slot size (slot rings)
 * ```
 *
 * Indices are free-running unsigned 32-bit counters (bytes for message and byte rings, slots
 * for slot rings); `tail - head` (mod 2^32) is what is in the ring, `index & (capacity - 1)` is
 * where. Capacities are powers of two.
 *
 * @module
 */

/** A group of named constants, rendered into C as `#define <prefix><NAME> <value>`. */
export interface LayoutGroup {
  prefix: string;
  doc: string;
  values: Record<string, number>;
  docs: Record<string, string>;
}

/** Ring header: fields and their offsets from the start of the ring. */
export const RING = {
  MAGIC: 0x474e524a, // "JRNG" little-endian
  VERSION: 1,
  CACHE_LINE: 64,
  HEADER_SIZE: 256,
  OFF_MAGIC: 0,
  OFF_VERSION: 4,
  OFF_KIND: 8,
  OFF_CAPACITY: 12,
  OFF_SLOT_SIZE: 16,
  OFF_DATA_OFFSET: 20,
  OFF_DATA_SIZE: 24,
  OFF_HEAD: 64,
  OFF_TAIL: 128,
  OFF_DATA_BELL: 192,
  OFF_SPACE_BELL: 196,
  OFF_STATE: 200,
  /** Smallest and largest capacity (bytes or slots) a ring may have. */
  MIN_CAPACITY: 64,
  MAX_CAPACITY: 1 << 30,
} as const;

/** Ring kinds (the `kind` field). */
export const KIND = {
  MESSAGE: 1,
  BYTE: 2,
  DESCRIPTOR: 3,
  INDEX: 4,
} as const;

/** Message ring records: an 8-byte header, then the payload, padded to 8 bytes. */
export const MSG = {
  ALIGN: 8,
  RECORD_HEADER: 8,
  OFF_LENGTH: 0,
  OFF_FLAGS: 4,
  /** The record is padding up to the end of the data area; the next record is at offset 0. */
  FLAG_PAD: 1,
} as const;

/** Frame descriptor ring slots: (offset, length) into a buffer pool, plus flags and a user word. */
export const DESC = {
  SLOT_SIZE: 16,
  OFF_OFFSET: 0,
  OFF_LENGTH: 4,
  OFF_FLAGS: 8,
  OFF_USER: 12,
} as const;

/** Index ring slots (a buffer pool's free list): one buffer index each. */
export const INDEX = {
  SLOT_SIZE: 4,
} as const;

/**
 * Doorbells: a futex word per direction. Bit 0 is the waiter flag, set by a side before it
 * sleeps; the other side, after publishing an index, wakes only when it sees the flag, and then
 * adds SEQ_STEP with the flag cleared (the futex value changes, so no wake-up is lost).
 */
export const BELL = {
  WAITER: 1,
  SEQ_STEP: 2,
} as const;

/** Ring state flags (the `state` word). */
export const STATE = {
  PRODUCER_CLOSED: 1,
  CONSUMER_CLOSED: 2,
} as const;

/**
 * A buffer pool: a 64-byte header, its free-list index ring, then `count` buffers of
 * `buf_size` bytes (a multiple of 64). Descriptors' offsets are relative to the first buffer.
 */
export const POOL = {
  MAGIC: 0x4c4f504a, // "JPOL"
  VERSION: 1,
  HEADER_SIZE: 64,
  OFF_MAGIC: 0,
  OFF_VERSION: 4,
  OFF_BUF_SIZE: 8,
  OFF_COUNT: 12,
  OFF_RING: 16,
  OFF_BUFFERS: 20,
  BUF_ALIGN: 64,
} as const;

/**
 * A datagram socket's ring record: this header, then the payload (not padded). The address is
 * the peer's (from on receive, to on send; family 0: none), 16 bytes with IPv4 in the first 4;
 * DST, IFINDEX and TTL are set on receive only (IP_PKTINFO, IP_RECVTTL and their IPv6 twins).
 */
export const DGRAM = {
  HEADER_SIZE: 48,
  OFF_LEN: 0,
  OFF_FAMILY: 4,
  OFF_PORT: 6,
  OFF_ADDR: 8,
  OFF_DST: 24,
  OFF_IFINDEX: 40,
  OFF_TTL: 44,
} as const;

/** Every group, in the order the C header lists them. */
export const layoutGroups: LayoutGroup[] = [
  {
    prefix: "JR_RING_",
    doc: "Ring header (256 bytes, four cache lines), offsets from the ring's start.",
    values: RING,
    docs: {
      MAGIC: '"JRNG"',
      OFF_HEAD: "consumer index (u32, free-running), own cache line",
      OFF_TAIL: "producer index (u32, free-running), own cache line",
      OFF_DATA_BELL: "futex word: the consumer waits here for data",
      OFF_SPACE_BELL: "futex word: the producer waits here for space",
      OFF_STATE: "JR_STATE_* flags",
    },
  },
  { prefix: "JR_KIND_", doc: "Ring kinds.", values: KIND, docs: {} },
  {
    prefix: "JR_MSG_",
    doc: "Message ring records: u32 length, u32 flags, payload padded to 8 bytes.",
    values: MSG,
    docs: { FLAG_PAD: "padding to the end of the data area" },
  },
  {
    prefix: "JR_DESC_",
    doc: "Frame descriptor slots: u32 offset, u32 length, u32 flags, u32 user.",
    values: DESC,
    docs: {},
  },
  { prefix: "JR_INDEX_", doc: "Index ring slots: u32 buffer index.", values: INDEX, docs: {} },
  {
    prefix: "JR_BELL_",
    doc: "Doorbell words: bit 0 waiter flag, the rest a wake sequence.",
    values: BELL,
    docs: {},
  },
  { prefix: "JR_STATE_", doc: "Ring state flags.", values: STATE, docs: {} },
  {
    prefix: "JR_DGRAM_",
    doc: "Datagram ring records: this header, then the payload.",
    values: DGRAM,
    docs: {
      OFF_LEN: "u32 payload length",
      OFF_FAMILY: "u16 AF_INET/AF_INET6 of the peer's address, 0: none",
      OFF_PORT: "u16 peer port (host order)",
      OFF_ADDR: "16 bytes, peer address (IPv4: the first 4)",
      OFF_DST: "16 bytes, receive only: the datagram's destination address",
      OFF_IFINDEX:
        "u32, receive only: the interface it came in on (1 loopback, 2 the NIC; 0 unknown)",
      OFF_TTL: "u8, receive only: its TTL / hop limit",
    },
  },
  {
    prefix: "JR_POOL_",
    doc: "Buffer pool header (64 bytes), then the free-list ring, then the buffers.",
    values: POOL,
    docs: { MAGIC: '"JPOL"', OFF_RING: "u32, from the pool's start", OFF_BUFFERS: "u32, ditto" },
  },
];

/** Rounds `n` up to a multiple of `a` (a power of two). */
export function alignUp(n: number, a: number): number {
  return (n + a - 1) & ~(a - 1);
}

/** Size in bytes of the data area of a ring of `kind` with `capacity` bytes or slots. */
export function ringDataSize(kind: number, capacity: number): number {
  switch (kind) {
    case KIND.DESCRIPTOR:
      return capacity * DESC.SLOT_SIZE;
    case KIND.INDEX:
      return capacity * INDEX.SLOT_SIZE;
    default:
      return capacity;
  }
}

/** Total bytes a ring takes (header + data), rounded to a cache line. */
export function ringBytes(kind: number, capacity: number): number {
  return alignUp(RING.HEADER_SIZE + ringDataSize(kind, capacity), RING.CACHE_LINE);
}

/** The capacity of a pool's free-list ring: the next power of two that holds every index. */
export function poolRingCapacity(count: number): number {
  let c = RING.MIN_CAPACITY;
  while (c < count) c *= 2;
  return c;
}

/** Total bytes a buffer pool of `count` buffers of `bufSize` (a multiple of 64) takes. */
export function poolBytes(count: number, bufSize: number): number {
  return POOL.HEADER_SIZE + ringBytes(KIND.INDEX, poolRingCapacity(count)) + count * bufSize;
}

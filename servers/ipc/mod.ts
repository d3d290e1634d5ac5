/**
 * Joyride's shared-memory message layer: regions, rings (message, byte, descriptor, index),
 * buffer pools and their doorbells. The layout shared with C is in `layout.ts`
 * (`native/ipc/joyride_layout.h` is generated from it; `native/ipc/joyride_ipc.h` is the C twin).
 *
 * @example
 * ```ts
 * import { MessageRing, Region } from "./mod.ts";
 * using region = Region.create(1 << 20);
 * const ring = MessageRing.init(region, 0, 65536);
 * ring.push(bytes);
 * if (ring.waitReadable(100)) { const m = ring.peek(); ring.release(); }
 * ```
 * @module
 */
export { Region } from "./region.ts";
export { DEFAULT_SPIN_US, DEFAULT_TIMEOUT_MS, ipcCounters, Ring } from "./ring.ts";
export type { RingStats } from "./ring.ts";
export { MessageRing } from "./message_ring.ts";
export { ByteRing } from "./byte_ring.ts";
export { DescriptorRing, IndexRing } from "./slot_rings.ts";
export type { Descriptor, DescriptorBounds } from "./slot_rings.ts";
export { BufferPool } from "./pool.ts";
export * from "./layout.ts";

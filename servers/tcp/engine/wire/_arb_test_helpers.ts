// Shared fast-check arbitraries for the wire tests (not itself a test file).
import fc from "fast-check";
import { ipFromBytes } from "../ip/addr.ts";

export const arbV4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ipFromBytes(b, 0, 4));
export const arbV6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) =>
  ipFromBytes(b, 0, 6)
);
export const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const SEED = { seed: 20261127, numRuns: 300 };

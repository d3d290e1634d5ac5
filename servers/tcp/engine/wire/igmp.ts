/**
 * IGMPv2 messages (RFC 2236): membership query, version 2 report, leave group. Eight bytes:
 * type, max response time (tenths of a second), checksum, group address. IGMPv3 queries
 * (RFC 3376 §4.1, longer than eight bytes) are read as version 2 ones, which RFC 3376 §7.2.1
 * lets a version 2 host do.
 *
 * @module
 */
import { finishSum, sumBytes } from "./checksum.ts";
import { type IpAddr, ipFromBytes, ipToBytes } from "../ip/addr.ts";

export const IGMP_QUERY = 0x11;
export const IGMP_V1_REPORT = 0x12;
export const IGMP_V2_REPORT = 0x16;
export const IGMP_LEAVE = 0x17;
export const IGMP_LENGTH = 8;

export interface IgmpRepr {
  type: number;
  /** Max response time, tenths of a second (queries). */
  maxResp: number;
  /** The group; 0.0.0.0 in a general query. */
  group: IpAddr;
}

/** Parses an IGMP message, checksum verified; undefined when short or corrupt. */
export function parseIgmp(b: Uint8Array): IgmpRepr | undefined {
  if (b.length < IGMP_LENGTH) return undefined;
  if (finishSum(sumBytes(0, b)) !== 0) return undefined;
  return { type: b[0], maxResp: b[1], group: ipFromBytes(b, 4, 4) };
}

/** An IGMP message of eight bytes with its checksum. */
export function emitIgmp(r: IgmpRepr): Uint8Array {
  const b = new Uint8Array(IGMP_LENGTH);
  b[0] = r.type;
  b[1] = r.maxResp;
  b.set(ipToBytes(r.group), 4);
  const c = finishSum(sumBytes(0, b));
  b[2] = c >> 8;
  b[3] = c & 0xff;
  return b;
}

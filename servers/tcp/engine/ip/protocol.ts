/**
 * The seam between the IP layer and the transport protocols (TCP, UDP).
 *
 * @module
 */
import type { IpAddr } from "./addr.ts";

export type { IpAddr } from "./addr.ts";

/** IP protocol numbers used by the engine. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_HOPOPTS = 0;

/** What the IP layer tells a transport about an inbound datagram. */
export interface IpMeta {
  version: 4 | 6;
  src: IpAddr;
  dst: IpAddr;
  proto: number;
  /** TTL (IPv4) or hop limit (IPv6). */
  ttl: number;
  /** The ECN field, 0..3 (RFC 3168). */
  ecn: number;
  ifIndex: number;
}

/** An ICMP/ICMPv6 error received about a datagram we sent, validated by the IP layer. */
export interface IcmpErrorInfo {
  version: 4 | 6;
  type: number;
  code: number;
  /** Next-hop MTU for fragmentation-needed (v4) / packet-too-big (v6). */
  mtu?: number;
  /** Source, destination and protocol of the quoted original datagram. */
  src: IpAddr;
  dst: IpAddr;
  proto: number;
  /** The quoted transport header bytes (at least 8). */
  quoted: Uint8Array;
  /** Raised by this host (its link layer gave up on the next hop), not received. */
  local?: boolean;
}

/** A transport protocol registered with {@link Stack.registerProtocol}. */
export interface TransportProtocol {
  /**
   * An inbound segment; its checksum is already verified (or offloaded). `segment` is a view
   * into the received frame, which the NIC reuses once the call returns: copy whatever you
   * keep (queued data, options) — never store the view itself.
   */
  input(meta: IpMeta, segment: Uint8Array): void;
  /**
   * An ICMP error quoting one of our datagrams (`e.quoted` is valid during the call only).
   * True when it quotes a socket or connection of this protocol (for TCP, with a sequence
   * number in flight): only then does the stack keep a path MTU it carries (RFC 5927 §4.1).
   */
  icmpError(e: IcmpErrorInfo): boolean;
}

/** What a transport asks of {@link Stack.ipOutput}. */
export interface IpOutputMeta {
  version: 4 | 6;
  /** Source address; chosen by the route when absent. */
  src?: IpAddr;
  dst: IpAddr;
  proto: number;
  /** TTL / hop limit; the stack's default (64) when absent. */
  ttl?: number;
  /** ECN field 0..3; 0 when absent. */
  ecn?: number;
  /** DSCP 0..63 (IP_TOS >> 2 / IPV6_TCLASS >> 2); 0 when absent. */
  dscp?: number;
  /** Set DF (IPv4); for IPv6 it forbids fragmenting at the source. */
  dontFragment?: boolean;
  /** A multicast destination's interface (IP_MULTICAST_IF); the stack picks when absent. */
  ifIndex?: number;
  /** A multicast packet is looped back when this host is in its group (default true). */
  multicastLoop?: boolean;
}

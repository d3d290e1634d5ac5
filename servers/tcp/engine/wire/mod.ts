/**
 * Wire formats: each a thin view over bytes with one length check, and a plain value with
 * parse / emit.
 *
 * @module
 */
export * from "./checksum.ts";
export * from "./ethernet.ts";
export * from "./arp.ts";
export * from "./ipv4.ts";
export * from "./ipv6.ts";
export * from "./icmp.ts";
export * from "./icmpv6.ts";
export * from "./udp.ts";
export * from "./tcp.ts";

/**
 * The sans-I/O TCP/IP engine's public face.
 *
 * @module
 */
export * from "./context.ts";
export * from "./timers.ts";
export * from "./errno.ts";
export * from "./sysctl.ts";
export * from "./counters.ts";
export * from "./stack.ts";
export * from "./ip/addr.ts";
export * from "./ip/protocol.ts";
export * from "./wire/checksum.ts";
export { Udp, UdpSocket } from "./udp/udp.ts";

/**
 * The sans-I/O TCP/IP engine's public face: the IP layer ({@link Stack}), UDP, TCP, the
 * engine-level socket API ({@link Sockets}), wire formats and the plumbing they share.
 *
 * @example
 * ```ts
 * import { FakeContext, Sockets, Stack, Udp, SOCK_DGRAM, IPPROTO_UDP } from "./mod.ts";
 * const stack = new Stack(new FakeContext(1));
 * stack.addInterface(link, { addrs: ["198.18.0.2/24"] });
 * const sockets = new Sockets(stack);          // registers TCP
 * sockets.register(SOCK_DGRAM, IPPROTO_UDP, Udp.of(stack).factory);
 * ```
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
// socket/api.ts repeats a few protocol numbers; these explicit exports settle which one.
export { IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP } from "./ip/protocol.ts";
export * from "./socket/api.ts";
export { Sockets, type SocketsOptions } from "./socket/sockets.ts";
export { Tcp } from "./tcp/tcp.ts";
export { Udp, UdpSocket, type UdpTunnel } from "./udp/udp.ts";
export * from "./wire/checksum.ts";
export * as wire from "./wire/mod.ts";

/**
 * The engine-level socket API: constants, result types and the per-protocol interface
 * (api.ts), and the socket table over a stack (sockets.ts).
 *
 * @module
 */
export * from "./api.ts";
export { Sockets, type SocketsOptions } from "./sockets.ts";

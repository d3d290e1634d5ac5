/**
 * TCP, FreeBSD's netinet design in TypeScript: the public face of the folder.
 *
 * - {@link Tcp} — the protocol instance of a stack (`Tcp.of(stack)`): connection tables,
 *   input demultiplexing, listeners with a syncache-like embryonic table and SYN cookies,
 *   ICMP errors, TCP over UDP, `connections()` / `dropConnections()` (sockstat / tcpdrop).
 * - {@link TcpSocket} — the socket calls (tcp_usrreq), a {@link ProtoSocket} for the socket
 *   layer (socket/sockets.ts registers it).
 * - The control block ({@link Tcpcb}, TCPS_*, TF_*, TT_*) behind a {@link TcbStore}.
 * - Split as in FreeBSD: input.ts (tcp_input / tcp_do_segment / tcp_twcheck), output.ts
 *   (tcp_output), timers.ts (tcp_timer), subr.ts (tcp_subr), usrreq.ts, syncache.ts,
 *   options.ts, sysctls.ts (net.inet.tcp.*); subsystems: sack.ts, cc/, rtt.ts (RTT/RTO),
 *   reass.ts (reassembly queue), ecn.ts (RFC 3168), isn.ts, syncookie.ts, rack.ts with
 *   rack_recovery.ts (RACK-TLP behind net.inet.tcp.functions_default=rack, default off).
 *
 * @module
 */
export { type ConnListing, Tcp, type UdpTunnelHost, windowScaleFor } from "./tcp.ts";
export { TcpSocket } from "./usrreq.ts";
export { TcpConn, type TcpHost, type TcpStack } from "./conn.ts";
export * from "./tcpcb.ts";
export { defineTcpSysctls } from "./sysctls.ts";
export * from "./seq.ts";

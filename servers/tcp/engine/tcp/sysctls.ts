/**
 * TCP's tunables, named and defaulted as FreeBSD's sysctls (times in milliseconds as FreeBSD
 * reports them), defined on the stack's {@link Sysctls} when TCP attaches.
 *
 * @module
 */
import type { Sysctls } from "../sysctl.ts";

const B = { min: 0, max: 1 };
const POS = { min: 1, max: 0x7fffffff };
const NN = { min: 0, max: 0x7fffffff };

/** [name, default, check, description] */
const DEFS: Array<[string, number | string, { min?: number; max?: number }, string]> = [
  ["net.inet.tcp.rfc1323", 1, { min: 0, max: 3 }, "RFC 7323 window scaling and timestamps"],
  ["net.inet.tcp.blackhole", 0, { min: 0, max: 2 }, "Send no RST to closed ports"],
  ["net.inet.tcp.sack.enable", 1, B, "RFC 2018 SACK"],
  ["net.inet.tcp.ecn.enable", 2, { min: 0, max: 2 }, "ECN: 1 request and accept, 2 accept"],
  ["net.inet.tcp.ecn.maxretries", 1, NN, "ECN-setup SYN retransmissions before giving up ECN"],
  ["net.inet.tcp.rexmit_initial", 1000, POS, "Initial RTO (ms)"],
  ["net.inet.tcp.rexmit_min", 30, POS, "Minimum RTO (ms)"],
  ["net.inet.tcp.rexmit_slop", 200, NN, "Slop added to the RTO (ms)"],
  ["net.inet.tcp.rexmit_drop_options", 0, B, "Drop options from the third SYN retransmission"],
  ["net.inet.tcp.recvspace", 65536, POS, "Initial receive buffer"],
  ["net.inet.tcp.sendspace", 32768, POS, "Initial send buffer"],
  ["net.inet.tcp.hostcache.purgenow", 0, B, "Flush the host cache"],
  ["net.inet.tcp.insecure_rst", 0, B, "Accept any in-window RST (no RFC 5961 challenge ACK)"],
  ["net.inet.tcp.insecure_syn", 0, B, "Reset on an in-window SYN (no RFC 5961 challenge ACK)"],
  ["net.inet.tcp.drop_synfin", 0, B, "Drop SYN+FIN segments"],
  ["net.inet.tcp.syncookies", 1, B, "SYN cookies when the syncache overflows"],
  ["net.inet.tcp.syncookies_only", 0, B, "Use only SYN cookies"],
  ["net.inet.tcp.keepinit", 75000, POS, "Connection establishment timeout (ms)"],
  ["net.inet.tcp.keepidle", 7200000, POS, "Keepalive idle time (ms)"],
  ["net.inet.tcp.keepintvl", 75000, POS, "Keepalive probe interval (ms)"],
  ["net.inet.tcp.keepcnt", 8, POS, "Keepalive probes before dropping"],
  ["net.inet.tcp.always_keepalive", 1, B, "Keepalive timer runs on all connections"],
  ["net.inet.tcp.delacktime", 100, POS, "Delayed ACK time (ms)"],
  ["net.inet.tcp.delayed_ack", 1, B, "Delay ACKs"],
  [
    "net.inet.tcp.quickack_segments",
    0,
    { min: 0, max: 1000 },
    "Data segments a connection ACKs at once before it delays ACKs (Linux's quick-ack mode at a connection's start; not FreeBSD's: 0)",
  ],
  ["net.inet.tcp.icmp_may_rst", 1, B, "ICMP unreachable may reset a connection in SYN-SENT"],
  [
    "net.inet.tcp.orphan_probes",
    0,
    { min: 0, max: 12 },
    "Zero-window probes after which a connection its user closed is dropped, as Linux's tcp_orphan_retries (0: never, FreeBSD's way; the TCP/IP server sets 8)",
  ],
  [
    "net.inet.tcp.icmp_linux_errors",
    0,
    B,
    "A connection in SYN-SENT fails on any ICMP error with Linux's errno (net or host unreachable: ENETUNREACH, EHOSTUNREACH; IPv6 administratively prohibited: EACCES), as Linux's connect() does, instead of FreeBSD's hard errors only (not FreeBSD's: 0; the TCP/IP server sets 1)",
  ],
  ["net.inet.tcp.fastopen.client_enable", 1, B, "TCP Fast Open, client side"],
  ["net.inet.tcp.fastopen.server_enable", 0, B, "TCP Fast Open, server side"],
  ["net.inet.tcp.udp_tunneling_port", 0, { min: 0, max: 65535 }, "UDP tunneling port"],
  ["net.inet.tcp.udp_tunneling_overhead", 8, { min: 8, max: 1024 }, "UDP tunnel overhead"],
  ["net.inet.tcp.path_mtu_discovery", 1, B, "Path MTU discovery"],
  ["net.inet.tcp.pmtud_blackhole_detection", 0, { min: 0, max: 3 }, "PMTUD blackhole detect"],
  ["net.inet.tcp.pmtud_blackhole_mss", 1200, POS, "PMTUD blackhole MSS (IPv4)"],
  ["net.inet.tcp.v6pmtud_blackhole_mss", 1220, POS, "PMTUD blackhole MSS (IPv6)"],
  ["net.inet.tcp.mssdflt", 536, { min: 88, max: 65535 }, "Default MSS (IPv4)"],
  ["net.inet.tcp.v6mssdflt", 1220, { min: 88, max: 65535 }, "Default MSS (IPv6)"],
  ["net.inet.tcp.minmss", 216, { min: 0, max: 65535 }, "Minimum MSS"],
  ["net.inet.tcp.tolerate_missing_ts", 1, B, "Accept segments without timestamps"],
  ["net.inet.tcp.msl", 30000, POS, "Maximum segment lifetime (ms)"],
  ["net.inet.tcp.finwait2_timeout", 60000, POS, "FIN_WAIT_2 timeout after close (ms)"],
  ["net.inet.tcp.initcwnd_segments", 10, { min: 1, max: 1000 }, "Initial window (segments)"],
  ["net.inet.tcp.abc_l_var", 2, POS, "RFC 3465 L"],
  ["net.inet.tcp.rfc3042", 1, B, "RFC 3042 limited transmit"],
  ["net.inet.tcp.ack_war_timewindow", 1000, NN, "Challenge ACK rate window (ms)"],
  ["net.inet.tcp.ack_war_cnt", 5, NN, "Challenge ACKs per window"],
  ["net.inet.tcp.syncache.rexmtlimit", 3, NN, "SYN-ACK retransmissions"],
  ["net.inet.tcp.syncache.bucketlimit", 30, POS, "SYN cache entries per listener"],
  [
    "net.inet.tcp.syncache.rst_on_sock_fail",
    1,
    B,
    "RST when the accept queue is full (0: drop the handshake's ACK, as Linux's tcp_abort_on_overflow = 0)",
  ],
  ["net.inet.tcp.do_tcpdrain", 1, B, "Drain reassembly queues under memory pressure"],
  ["net.inet.tcp.reass.maxqueuelen", 100, NN, "Segments held in one reassembly queue"],
  ["net.inet.tcp.nolocaltimewait", 0, B, "No TIME_WAIT for local connections"],
];

/** Defines every TCP sysctl (idempotent: names already defined are left alone). */
export function defineTcpSysctls(s: Sysctls): void {
  for (const [name, def, check, desc] of DEFS) {
    if (!s.has(name)) s.define(name, def, check, desc);
  }
  if (!s.has("kern.ipc.maxsockbuf")) {
    s.define("kern.ipc.maxsockbuf", 2097152, { min: 2048, max: 0xffffffff }, "Max socket buffer");
  }
  if (!s.has("net.inet.tcp.functions_default")) {
    // FreeBSD's TCP stack choice: "freebsd" (the default stack) or "rack" (RACK-TLP loss
    // detection, RFC 8985; tcp/rack_recovery.ts). Applies to connections created afterwards.
    s.define(
      "net.inet.tcp.functions_default",
      "freebsd",
      (v) => (v === "freebsd" || v === "rack") ? null : `unknown TCP stack ${v}`,
      "Default TCP function set (stack) for new connections",
    );
  }
  if (!s.has("net.inet.tcp.cc.algorithm")) {
    // CUBIC (RFC 9438), FreeBSD's default since 14.0; the TCB store keeps its state across a
    // live restart (store/layout.ts).
    s.define(
      "net.inet.tcp.cc.algorithm",
      "cubic",
      (v) => (v === "newreno" || v === "cubic") ? null : `unknown algorithm ${v}`,
      "Default congestion control",
    );
  }
}

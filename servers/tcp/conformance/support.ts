/**
 * What the runner can execute: the options, constants, commands, Python snippets and system
 * calls it knows, and a check over a whole script before it runs.
 *
 * @module
 */

import type { Expr, Script } from "./ast.ts";
import { ecnValue, icmpTypeCode, UnsupportedError } from "./packet.ts";
import * as api from "../engine/socket/api.ts";
import { errnoFromName } from "../engine/errno.ts";

/** Options the runner understands; anything else is an error. */
export const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  "ip_version",
  "tolerance_usecs",
  "mtu",
  "udp_encapsulation",
  "non_fatal",
  "tcp_md5_secret",
  "local_ip",
  "remote_ip",
  "bind_port",
  "connect_port",
]);

/** Names usable in %{ }% snippets: TCPI_* states and option bits. */
export const TCPI_STATES: Record<string, number> = {
  TCPI_CLOSED: api.TCPS_CLOSED,
  TCPI_LISTEN: api.TCPS_LISTEN,
  TCPI_SYN_SENT: api.TCPS_SYN_SENT,
  TCPI_SYN_RECEIVED: api.TCPS_SYN_RECEIVED,
  TCPI_ESTABLISHED: api.TCPS_ESTABLISHED,
  TCPI_CLOSE_WAIT: api.TCPS_CLOSE_WAIT,
  TCPI_FIN_WAIT_1: api.TCPS_FIN_WAIT_1,
  TCPI_CLOSING: api.TCPS_CLOSING,
  TCPI_LAST_ACK: api.TCPS_LAST_ACK,
  TCPI_FIN_WAIT_2: api.TCPS_FIN_WAIT_2,
  TCPI_TIME_WAIT: api.TCPS_TIME_WAIT,
  TCPI_OPT_TIMESTAMPS: api.TCPI_OPT_TIMESTAMPS,
  TCPI_OPT_SACK: api.TCPI_OPT_SACK,
  TCPI_OPT_WSCALE: api.TCPI_OPT_WSCALE,
  TCPI_OPT_ECN: api.TCPI_OPT_ECN,
  TCPI_OPT_TOE: api.TCPI_OPT_TOE,
  TCPI_OPT_TFO: api.TCPI_OPT_TFO,
};

/** sockstat's state names → TCPS_* numbers. */
export const SOCKSTAT_STATES: Record<string, number> = {
  CLOSED: api.TCPS_CLOSED,
  LISTEN: api.TCPS_LISTEN,
  SYN_SENT: api.TCPS_SYN_SENT,
  SYN_RCVD: api.TCPS_SYN_RECEIVED,
  ESTABLISHED: api.TCPS_ESTABLISHED,
  CLOSE_WAIT: api.TCPS_CLOSE_WAIT,
  FIN_WAIT_1: api.TCPS_FIN_WAIT_1,
  CLOSING: api.TCPS_CLOSING,
  LAST_ACK: api.TCPS_LAST_ACK,
  FIN_WAIT_2: api.TCPS_FIN_WAIT_2,
  TIME_WAIT: api.TCPS_TIME_WAIT,
};

/** Extra names a script may use as values (besides the socket API's constants). */
const EXTRA_CONSTANTS: Record<string, number> = {
  IPTOS_DSCP_CS0: 0x00,
  IPTOS_DSCP_CS1: 0x20,
  IPTOS_DSCP_CS2: 0x40,
  IPTOS_DSCP_CS3: 0x60,
  IPTOS_DSCP_CS4: 0x80,
  IPTOS_DSCP_CS5: 0xa0,
  IPTOS_DSCP_CS6: 0xc0,
  IPTOS_DSCP_CS7: 0xe0,
  TCP_RACK_PACE_MAX_SEG: -1,
  TCP_RACK_PACE_RATE_SS: -1,
  TCP_RACK_PACE_ALWAYS: -1,
};

/** The value of a constant a script names (socket API, errno, TCPI_*), if known. */
export function constant(name: string): number | undefined {
  const a = api as unknown as Record<string, unknown>;
  if (typeof a[name] === "number") return a[name] as number;
  if (name in EXTRA_CONSTANTS) return EXTRA_CONSTANTS[name];
  if (name in TCPI_STATES) return TCPI_STATES[name];
  return errnoFromName(name);
}

export const SYSCTL_RE: RegExp = /^sysctl\s+-w\s+(.+)$/s;
export const SOCKSTAT_RE: RegExp =
  /^sockstat\s+(.*?)\s*\|\s*(grep\s+packetdril\s*\|\s*)?grep\s+-c\s+(\w+)\s*\|\s*grep\s+(\d+)$/;
export const TCPDROP_RE: RegExp = /^tcpdrop\s+-s\s+(\w+)$/;
export const PYTHON_RE: RegExp = /^assert\s+(tcpi_\w+)\s*(==|!=|<=|>=|<|>)\s*(.+)$/s;

/** The system calls the executor implements. */
export const SUPPORTED_CALLS: ReadonlySet<string> = new Set([
  "socket",
  "bind",
  "listen",
  "accept",
  "connect",
  "write",
  "send",
  "sendto",
  "read",
  "recv",
  "recvfrom",
  "shutdown",
  "close",
  "fcntl",
  "setsockopt",
  "getsockopt",
  "writev",
  "sendmsg",
  "readv",
  "recvmsg",
  "poll",
  "getsockname",
  "getpeername",
]);

/**
 * What in `script` the runner cannot execute, found before running it (so a script that uses
 * an unsupported feature late is reported as "error" with that reason, not as a failure).
 */
export function unsupportedFeatures(script: Script): { line: number; reason: string }[] {
  const out: { line: number; reason: string }[] = [];
  const o = script.options;
  for (const k of o.keys()) {
    if (!KNOWN_OPTIONS.has(k)) out.push({ line: 1, reason: `option --${k}` });
  }
  if (o.has("local_ip") || o.has("remote_ip")) {
    out.push({ line: 1, reason: "--local_ip/--remote_ip: the runner uses fixed addresses" });
  }
  const ipv = o.get("ip_version") ?? "ipv4";
  const version: 4 | 6 = ipv === "ipv6" ? 6 : 4;
  const idents = (e: Expr | undefined, line: number): void => {
    if (!e) return;
    if (e.kind === "ident") {
      const v = constant(e.name);
      if (v === undefined) out.push({ line, reason: `unknown constant ${e.name}` });
      else if (v < 0) out.push({ line, reason: `${e.name} is not supported by the engine` });
    } else if (e.kind === "or" || e.kind === "array") e.items.forEach((x) => idents(x, line));
    else if (e.kind === "struct") e.fields.forEach((f) => idents(f.value, line));
    else if (e.kind === "call") out.push({ line, reason: `expression ${e.name}(…)` });
  };
  for (const ev of script.events) {
    const b = ev.body;
    const line = ev.line;
    if (b.type === "syscall") {
      if (!SUPPORTED_CALLS.has(b.call.name)) {
        out.push({ line, reason: `system call ${b.call.name}()` });
      }
      b.call.args.forEach((a) => idents(a, line));
      idents(b.call.ret, line);
      if (b.call.errno && errnoFromName(b.call.errno) === undefined) {
        out.push({ line, reason: `unknown errno ${b.call.errno}` });
      }
    } else if (b.type === "command") {
      if (/\bsetkey\b/.test(b.command)) {
        out.push({ line, reason: "TCP-MD5 keys (kldload tcpmd5 / setkey) are not supported" });
      } else if (
        !SYSCTL_RE.test(b.command) && !SOCKSTAT_RE.test(b.command) && !TCPDROP_RE.test(b.command)
      ) out.push({ line, reason: `shell command ${b.command.split("\n")[0]}` });
    } else if (b.type === "python") {
      const m = PYTHON_RE.exec(b.code.trim());
      if (!m) out.push({ line, reason: `Python snippet ${b.code}` });
      else {
        for (const part of m[3].trim().replace(/^\((.*)\)$/s, "$1").split("|")) {
          const t = part.trim();
          if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(t) && !(t in TCPI_STATES)) {
            out.push({ line, reason: `Python snippet: unknown name ${t}` });
          }
        }
      }
    } else {
      const p = b.packet;
      try {
        if (p.type === "icmp") icmpTypeCode(version, p);
        else {
          if (p.ecn) ecnValue(p.ecn);
          if (p.options !== "any" && p.options?.some((x) => x.kind === "md5")) {
            throw new UnsupportedError("TCP MD5 signatures (md5 valid)");
          }
          if (b.dir === "<" && p.seq === undefined) {
            throw new UnsupportedError("inbound packet with `...` sequence");
          }
          if (b.dir === "<" && p.options === "any") {
            throw new UnsupportedError("inbound packet with <...> options");
          }
        }
      } catch (e) {
        if (!(e instanceof UnsupportedError)) throw e;
        out.push({ line, reason: e.message });
      }
    }
  }
  return out;
}

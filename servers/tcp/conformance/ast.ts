/**
 * The parsed form of a packetdrill-format script: options, then a list of timed events.
 *
 * Sequence numbers are kept as written in the script; the executor maps them onto the
 * engine's actual initial sequence numbers.
 *
 * @module
 */

/** When an event happens, in microseconds of script time. */
export type TimeSpec =
  | { kind: "any" }
  | {
    kind: "at";
    /** Start (or only) time; relative to the previous event when `relative`. */
    start: number;
    relative: boolean;
    /** End of a range (`a~b` for packets, `a...b` for a blocking call). */
    end?: number;
    endRelative?: boolean;
    /** "~" (the event happens somewhere in the range) or "..." (a call that blocks). */
    rangeKind?: "~" | "...";
  };

/** A TCP option as written in a script. */
export type TcpOptionSpec =
  | { kind: "nop" }
  | { kind: "eol" }
  | { kind: "mss"; value: number }
  | { kind: "wscale"; value: number }
  | { kind: "sackOK" }
  | { kind: "sack"; blocks: [number, number][] }
  | { kind: "ts"; val: number; ecr: number }
  | { kind: "fo"; cookie: Uint8Array }
  | { kind: "md5" }
  | { kind: "exp"; kind2: number; data: Uint8Array };

/** IP header expectations or settings written in parentheses, e.g. `(ttl 64)`. */
export interface IpFieldsSpec {
  ttl?: number;
  tos?: number;
}

/** An inbound or outbound TCP segment line. */
export interface TcpPacketSpec {
  type: "tcp";
  /** Flag letters as written (S F R P . E W U), "." meaning ACK. */
  flags: string;
  /** Start sequence number; undefined when written `...` (any). */
  seq?: number;
  /** Payload length. */
  len: number;
  /** `!` after the sequence range: the number is absolute, not relative to the ISN. */
  seqAbsolute: boolean;
  ack?: number;
  win?: number;
  /** Options; undefined when the script gave none, `"any"` for `<...>`. */
  options?: TcpOptionSpec[] | "any";
  /** ECN codepoint in brackets: noecn / ect0 / ect1 / ce / ect01. */
  ecn?: string;
  ip?: IpFieldsSpec;
  /** UDP encapsulation `/udp(src > dst)`. */
  udp?: { src: number; dst: number };
}

/** An inbound ICMP error quoting one of the engine's segments. */
export interface IcmpPacketSpec {
  type: "icmp";
  /** e.g. "unreachable", "time_exceeded", "packet_too_big", "parameter_problem". */
  icmpType: string;
  /** e.g. "port_unreachable", "code_0"; undefined when omitted. */
  code?: string;
  mtu?: number;
  /** The quoted TCP segment (sequence numbers in the engine's space). */
  quoted: { seq: number; end: number; len: number; udp?: { src: number; dst: number } };
}

/** A value in a system call's arguments or return. */
export type Expr =
  | { kind: "num"; value: number }
  | { kind: "ident"; name: string }
  | { kind: "ellipsis" }
  | { kind: "string"; value: string }
  | { kind: "array"; items: Expr[] }
  | { kind: "struct"; fields: { name: string; value: Expr }[] }
  | { kind: "or"; items: Expr[] }
  | { kind: "call"; name: string; args: Expr[] };

/** A socket system call with its expected result. */
export interface SyscallSpec {
  name: string;
  args: Expr[];
  ret: Expr;
  /** Expected errno name when the call fails (e.g. "EINPROGRESS"). */
  errno?: string;
  /** The parenthesized text after the result, if any. */
  note?: string;
}

/** The body of one event. */
export type EventBody =
  | { type: "packet"; dir: "<" | ">"; packet: TcpPacketSpec | IcmpPacketSpec }
  | { type: "syscall"; call: SyscallSpec }
  | { type: "command"; command: string }
  | { type: "python"; code: string };

/** One timed line (or several lines, for a multi-line command). */
export interface ScriptEvent {
  /** 1-based line number where the event starts. */
  line: number;
  time: TimeSpec;
  body: EventBody;
}

/** A whole script. */
export interface Script {
  /** `--name=value` lines (value "" for a bare `--name`). */
  options: Map<string, string>;
  events: ScriptEvent[];
  /** Things the parser skipped with a warning (e.g. a stray word line). */
  warnings: string[];
}

/** Thrown for a script that cannot be parsed, with the line number. */
export class ScriptParseError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = "ScriptParseError";
  }
}

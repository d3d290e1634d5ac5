/**
 * Parser of the packetdrill script format, written from the format's documentation and the
 * scripts of the FreeBSD TCP test suite.
 *
 * A script is: `--option=value` lines, then events, each starting with a time (`0.1`, `+0.1`,
 * `*`, `a~b`, `a...b`) followed by a packet (`<` inbound, `>` outbound), a system call with its
 * expected result, a shell command in backticks or a `%{ … }%` Python snippet. `//` comments,
 * `/* … *\/` comments and `#ifdef NAME` / `#ifndef` / `#else` / `#endif` blocks are handled
 * (FreeBSD is defined, as the suite targets FreeBSD).
 *
 * @module
 */

import {
  type EventBody,
  type Expr,
  type IcmpPacketSpec,
  type IpFieldsSpec,
  type Script,
  type ScriptEvent,
  ScriptParseError,
  type SyscallSpec,
  type TcpOptionSpec,
  type TcpPacketSpec,
  type TimeSpec,
} from "./ast.ts";

export { ScriptParseError };

/** Preprocessor names defined while parsing. */
export const DEFINES: ReadonlySet<string> = new Set(["FreeBSD"]);

interface Stmt {
  line: number;
  text: string;
}

/** Parses a whole script. Throws {@link ScriptParseError} with a line number. */
export function parseScript(source: string, defines: ReadonlySet<string> = DEFINES): Script {
  const stmts = splitStatements(source, defines);
  const options = new Map<string, string>();
  const events: ScriptEvent[] = [];
  const warnings: string[] = [];
  for (const s of stmts) {
    const t = s.text.trim();
    if (t === "") continue;
    if (t.startsWith("--")) {
      const m = /^--([A-Za-z0-9_]+)(?:\s*=\s*(.*))?$/.exec(t);
      if (!m) throw new ScriptParseError(s.line, `bad option line "${t}"`);
      options.set(m[1], (m[2] ?? "").trim());
      continue;
    }
    if (/^[A-Za-z_]\w*$/.test(t)) {
      // A stray word on its own line (one suite script starts with "s"): not an event.
      warnings.push(`line ${s.line}: ignored stray text "${t}"`);
      continue;
    }
    events.push(parseEvent(s));
  }
  return { options, events, warnings };
}

/**
 * Splits the source into statements: comments removed, preprocessor blocks resolved, lines
 * joined while a backtick command, a `%{ }%` block or a bracket is still open.
 */
function splitStatements(source: string, defines: ReadonlySet<string>): Stmt[] {
  const lines = source.split(/\r?\n/);
  const out: Stmt[] = [];
  const active: boolean[] = [];
  const isActive = () => active.every((a) => a);
  let inBlockComment = false;
  let cur: Stmt | undefined;
  let inBacktick = false;
  let inPython = false;
  let depth = 0;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let raw = lines[i];
    if (!inBacktick && !inPython && !cur) {
      const pp = /^\s*#\s*(ifdef|ifndef|else|endif|if|define)\b\s*(\S*)/.exec(raw);
      if (pp) {
        const [, dir, name] = pp;
        if (dir === "ifdef") active.push(defines.has(name));
        else if (dir === "ifndef") active.push(!defines.has(name));
        else if (dir === "if") active.push(name !== "0" && (name === "1" || defines.has(name)));
        else if (dir === "else") {
          if (active.length === 0) throw new ScriptParseError(lineNo, "#else without #ifdef");
          active[active.length - 1] = !active[active.length - 1];
        } else if (dir === "endif") {
          if (active.length === 0) throw new ScriptParseError(lineNo, "#endif without #ifdef");
          active.pop();
        }
        continue;
      }
    }
    if (!isActive()) continue;
    // Strip comments outside backticks, quotes and Python blocks.
    let text = "";
    let quote: string | undefined;
    for (let j = 0; j < raw.length; j++) {
      const c = raw[j];
      const n = raw[j + 1];
      if (inBlockComment) {
        if (c === "*" && n === "/") {
          inBlockComment = false;
          j++;
        }
        continue;
      }
      if (inPython) {
        text += c;
        if (c === "}" && n === "%") {
          text += n;
          j++;
          inPython = false;
        }
        continue;
      }
      if (inBacktick) {
        text += c;
        if (c === "`") inBacktick = false;
        continue;
      }
      if (quote) {
        text += c;
        if (c === "\\" && n !== undefined) {
          text += n;
          j++;
        } else if (c === quote) quote = undefined;
        continue;
      }
      if (c === "/" && n === "/") break;
      if (c === "/" && n === "*") {
        inBlockComment = true;
        j++;
        continue;
      }
      if (c === "%" && n === "{") {
        inPython = true;
        text += "%{";
        j++;
        continue;
      }
      if (c === "`") inBacktick = true;
      else if (c === '"') quote = c;
      else if (c === "(" || c === "[" || c === "{") depth++;
      else if (c === ")" || c === "]" || c === "}") depth = Math.max(0, depth - 1);
      text += c;
    }
    raw = text;
    if (!cur) {
      if (raw.trim() === "") continue;
      cur = { line: lineNo, text: raw };
    } else {
      cur.text += "\n" + raw;
    }
    if (!inBacktick && !inPython && depth === 0) {
      out.push(cur);
      cur = undefined;
    }
  }
  if (cur) {
    const what = inBacktick ? "backtick command" : inPython ? "%{ }% block" : "bracket";
    throw new ScriptParseError(cur.line, `unterminated ${what}`);
  }
  if (active.length !== 0) throw new ScriptParseError(lines.length, "missing #endif");
  return out;
}

const NUM = String.raw`\d+(?:\.\d+)?|\.\d+`;
const TIME_RE = new RegExp(
  String.raw`^\s*(?:(\*)|(\+?)\s*(${NUM})(?:\s*(~|\.\.\.)\s*(\+?)\s*(${NUM}))?)`,
);

function secondsToUs(s: string): number {
  return Math.round(parseFloat(s) * 1e6);
}

function parseEvent(s: Stmt): ScriptEvent {
  let text = s.text;
  let time: TimeSpec;
  const m = TIME_RE.exec(text);
  if (m && m[0].trim() !== "") {
    if (m[1]) time = { kind: "any" };
    else {
      time = { kind: "at", start: secondsToUs(m[3]), relative: m[2] === "+" };
      if (m[4]) {
        time.rangeKind = m[4] as "~" | "...";
        time.end = secondsToUs(m[6]);
        time.endRelative = m[5] === "+";
      }
    }
    text = text.slice(m[0].length);
  } else if (/^\s*`/.test(text)) {
    // A command without a time: runs right after the previous event.
    time = { kind: "at", start: 0, relative: true };
  } else {
    throw new ScriptParseError(s.line, `expected a time at the start of "${firstLine(text)}"`);
  }
  const body = parseBody(s.line, text.trim());
  return { line: s.line, time, body };
}

function firstLine(t: string): string {
  return t.trim().split("\n")[0];
}

function parseBody(line: number, text: string): EventBody {
  if (text.startsWith("`")) {
    if (!text.endsWith("`")) throw new ScriptParseError(line, "text after a backtick command");
    return { type: "command", command: text.slice(1, -1).trim() };
  }
  if (text.startsWith("%{")) {
    if (!text.endsWith("}%")) throw new ScriptParseError(line, "text after a %{ }% block");
    return { type: "python", code: text.slice(2, -2).trim() };
  }
  if (text.startsWith("<") || text.startsWith(">")) {
    const dir = text[0] as "<" | ">";
    return { type: "packet", dir, packet: parsePacket(line, text.slice(1).trim(), dir) };
  }
  return { type: "syscall", call: parseSyscall(line, text) };
}

// ---------------------------------------------------------------------------------------------
// Packets

/** A simple cursor over one statement's text. */
class Cursor {
  pos = 0;
  constructor(readonly line: number, readonly text: string) {}
  ws(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }
  eof(): boolean {
    this.ws();
    return this.pos >= this.text.length;
  }
  peek(s: string): boolean {
    this.ws();
    return this.text.startsWith(s, this.pos);
  }
  eat(s: string): boolean {
    if (this.peek(s)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }
  expect(s: string): void {
    if (!this.eat(s)) this.fail(`expected "${s}"`);
  }
  match(re: RegExp): RegExpExecArray | null {
    this.ws();
    const r = new RegExp(re.source, "y" + re.flags.replace(/[gy]/g, ""));
    r.lastIndex = this.pos;
    const m = r.exec(this.text);
    if (m) this.pos = r.lastIndex;
    return m;
  }
  word(): string | undefined {
    return this.match(/[A-Za-z_][A-Za-z0-9_]*/)?.[0];
  }
  number(): number {
    const m = this.match(/-?(?:0[xX][0-9a-fA-F]+|\d+)/);
    if (!m) this.fail("expected a number");
    return parseInt(m[0]);
  }
  rest(): string {
    return this.text.slice(this.pos).trim();
  }
  fail(msg: string): never {
    const near = this.text.slice(this.pos, this.pos + 30).split("\n")[0];
    throw new ScriptParseError(this.line, `${msg} near "${near}"`);
  }
}

function parsePacket(line: number, text: string, dir: "<" | ">"): TcpPacketSpec | IcmpPacketSpec {
  const c: Cursor = new Cursor(line, text);
  let ecn: string | undefined;
  if (c.eat("[")) {
    const w = c.word();
    if (!w) c.fail("expected an ECN codepoint");
    ecn = w;
    c.expect("]");
  }
  let ip: IpFieldsSpec | undefined;
  if (c.peek("(")) ip = parseIpFields(c);
  if (c.match(/icmp\b/)) {
    if (dir !== "<") c.fail("outbound ICMP is not supported");
    return parseIcmp(c);
  }
  const fm = c.match(/[SFRPUEW.]+/);
  if (!fm) c.fail("expected TCP flags");
  let flags = fm[0];
  // "F ." is written once in the suite with a space between the flags.
  const save = c.pos;
  if (c.match(/\.(?=\s)/)) flags += ".";
  else c.pos = save;
  let seq: number | undefined;
  let len: number;
  if (c.eat("...")) {
    c.expect("(");
    len = c.number();
    c.expect(")");
  } else {
    const sm = c.match(/(\d+):(\d+)\((\d+)\)/);
    if (!sm) c.fail("expected start:end(length)");
    seq = parseInt(sm[1]);
    const end = parseInt(sm[2]);
    len = parseInt(sm[3]);
    if (((end - seq) >>> 0) !== len) {
      c.fail(`sequence range ${seq}:${end} does not match length ${len}`);
    }
  }
  const seqAbsolute = c.eat("!");
  const p: TcpPacketSpec = { type: "tcp", flags, seq, len, seqAbsolute, ecn, ip };
  for (;;) {
    if (c.match(/ack\b/)) p.ack = c.number() >>> 0;
    else if (c.match(/win\b/)) p.win = c.number();
    else if (c.peek("<")) p.options = parseTcpOptions(c);
    else if (c.peek("/udp")) p.udp = parseUdp(c);
    else if (c.eof()) break;
    else c.fail("unexpected text in TCP packet");
  }
  return p;
}

function parseIpFields(c: Cursor): IpFieldsSpec {
  c.expect("(");
  const f: IpFieldsSpec = {};
  for (;;) {
    const w = c.word();
    if (!w) c.fail("expected an IP field name");
    const v = c.number();
    if (w === "ttl" || w === "hlim") f.ttl = v;
    else if (w === "tos" || w === "class") f.tos = v;
    else c.fail(`unknown IP field "${w}"`);
    if (c.eat(")")) break;
    c.expect(",");
  }
  return f;
}

function parseUdp(c: Cursor): { src: number; dst: number } {
  c.expect("/udp");
  c.expect("(");
  const src = c.number();
  c.expect(">");
  const dst = c.number();
  c.expect(")");
  return { src, dst };
}

function parseHex(c: Cursor, s: string): Uint8Array {
  if (s.length % 2 !== 0) c.fail(`odd number of hex digits in "${s}"`);
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function parseTcpOptions(c: Cursor): TcpOptionSpec[] | "any" {
  c.expect("<");
  if (c.eat("...")) {
    c.expect(">");
    return "any";
  }
  const opts: TcpOptionSpec[] = [];
  if (c.eat(">")) return opts;
  for (;;) {
    const w = c.word();
    if (!w) c.fail("expected a TCP option");
    switch (w) {
      case "nop":
        opts.push({ kind: "nop" });
        break;
      case "eol":
        opts.push({ kind: "eol" });
        break;
      case "mss":
        opts.push({ kind: "mss", value: c.number() });
        break;
      case "wscale":
        opts.push({ kind: "wscale", value: c.number() });
        break;
      case "sackOK":
        opts.push({ kind: "sackOK" });
        break;
      case "sack": {
        const blocks: [number, number][] = [];
        for (;;) {
          const m = c.match(/(\d+):(\d+)/);
          if (!m) break;
          blocks.push([parseInt(m[1]) >>> 0, parseInt(m[2]) >>> 0]);
        }
        opts.push({ kind: "sack", blocks });
        break;
      }
      case "TS": {
        c.expect("val");
        const val = c.number() >>> 0;
        c.expect("ecr");
        const ecr = c.number() >>> 0;
        opts.push({ kind: "ts", val, ecr });
        break;
      }
      case "FO": {
        const m = c.match(/[0-9a-fA-F]+/);
        opts.push({ kind: "fo", cookie: m ? parseHex(c, m[0]) : new Uint8Array(0) });
        break;
      }
      case "md5":
        c.expect("valid");
        opts.push({ kind: "md5" });
        break;
      default:
        c.fail(`unknown TCP option "${w}"`);
    }
    if (c.eat(">")) break;
    c.expect(",");
  }
  return opts;
}

function parseIcmp(c: Cursor): IcmpPacketSpec {
  const t = c.word();
  if (!t) c.fail("expected an ICMP type");
  const spec: IcmpPacketSpec = { type: "icmp", icmpType: t, quoted: { seq: 0, end: 0, len: 0 } };
  const save = c.pos;
  const code = c.word();
  if (code === "mtu") c.pos = save;
  else if (code) spec.code = code;
  if (c.match(/mtu\b/)) spec.mtu = c.number();
  c.expect("[");
  const m = c.match(/(\d+):(\d+)\((\d+)\)/);
  if (!m) c.fail("expected the quoted segment start:end(length)");
  spec.quoted = { seq: parseInt(m[1]) >>> 0, end: parseInt(m[2]) >>> 0, len: parseInt(m[3]) };
  if (c.peek("/udp")) spec.quoted.udp = parseUdp(c);
  c.expect("]");
  if (!c.eof()) c.fail("unexpected text after ICMP packet");
  return spec;
}

// ---------------------------------------------------------------------------------------------
// System calls

function parseSyscall(line: number, text: string): SyscallSpec {
  const c: Cursor = new Cursor(line, text);
  const name = c.word();
  if (!name) c.fail("expected a system call, packet, command or %{ }% block");
  c.expect("(");
  const args: Expr[] = [];
  if (!c.eat(")")) {
    for (;;) {
      args.push(parseExpr(c));
      if (c.eat(")")) break;
      c.expect(",");
    }
  }
  c.expect("=");
  const ret = parseExpr(c);
  const call: SyscallSpec = { name, args, ret };
  const e = c.match(/E[A-Z0-9]+/);
  if (e) call.errno = e[0];
  if (c.peek("(")) {
    const start = c.pos + 1;
    let d = 0;
    for (; c.pos < c.text.length; c.pos++) {
      if (c.text[c.pos] === "(") d++;
      else if (c.text[c.pos] === ")" && --d === 0) break;
    }
    if (d !== 0) c.fail("unterminated note");
    call.note = c.text.slice(start, c.pos).trim();
    c.pos++;
  }
  if (!c.eof()) c.fail("unexpected text after system call");
  return call;
}

function parseExpr(c: Cursor): Expr {
  const first = parseTerm(c);
  if (!c.peek("|")) return first;
  const items = [first];
  while (c.eat("|")) items.push(parseTerm(c));
  return { kind: "or", items };
}

function parseTerm(c: Cursor): Expr {
  if (c.eat("...")) return { kind: "ellipsis" };
  if (c.eat("[")) {
    const items: Expr[] = [];
    if (!c.eat("]")) {
      for (;;) {
        items.push(parseExpr(c));
        if (c.eat("]")) break;
        c.expect(",");
      }
    }
    return { kind: "array", items };
  }
  if (c.eat("{")) {
    const fields: { name: string; value: Expr }[] = [];
    if (!c.eat("}")) {
      for (;;) {
        const m = c.match(/\.?([A-Za-z_][A-Za-z0-9_.]*)/);
        if (!m) c.fail("expected a struct field name");
        // msghdr-style "msg_iov(1)=…": the count in parentheses is informational.
        if (c.eat("(")) {
          parseExpr(c);
          c.expect(")");
        }
        c.expect("=");
        fields.push({ name: m[1], value: parseExpr(c) });
        if (c.eat("}")) break;
        c.expect(",");
      }
    }
    return { kind: "struct", fields };
  }
  if (c.eat("(")) {
    const e = parseExpr(c);
    c.expect(")");
    return e;
  }
  const s = c.match(/"((?:[^"\\]|\\.)*)"/);
  if (s) return { kind: "string", value: s[1].replace(/\\(.)/g, "$1") };
  const n = c.match(/-?(?:0[xX][0-9a-fA-F]+|\d+)/);
  if (n) return { kind: "num", value: parseInt(n[0]) };
  const w = c.word();
  if (w) {
    if (c.eat("(")) {
      const args: Expr[] = [];
      if (!c.eat(")")) {
        for (;;) {
          args.push(parseExpr(c));
          if (c.eat(")")) break;
          c.expect(",");
        }
      }
      return { kind: "call", name: w, args };
    }
    return { kind: "ident", name: w };
  }
  c.fail("expected a value");
}

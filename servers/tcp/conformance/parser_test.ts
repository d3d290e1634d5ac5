import assert from "node:assert/strict";
import { parseScript, ScriptParseError } from "./parser.ts";
import { collectScripts } from "./runner.ts";
import { conformanceSuiteDir } from "../../../scripts/paths.ts";

Deno.test("parser: every script of the FreeBSD suite parses", () => {
  const suite = conformanceSuiteDir();
  if (!suite) return; // the suite lives next to the repository; nothing to check without it
  const files = collectScripts([suite]);
  assert.ok(files.length > 900, `only ${files.length} scripts found`);
  const bad: string[] = [];
  let events = 0;
  for (const f of files) {
    try {
      const s = parseScript(Deno.readTextFileSync(f));
      events += s.events.length;
      assert.ok(s.events.length > 0, `${f}: no events`);
    } catch (e) {
      bad.push(`${f}: ${(e as Error).message}`);
    }
  }
  assert.deepEqual(bad, []);
  assert.ok(events > 20000);
});

Deno.test("parser: options, times, ranges and comments", () => {
  const s = parseScript(`// header
--ip_version=ipv6
--tolerance_usecs=50000
 0.00 \`sysctl -w net.inet.tcp.sack.enable=1\` // trailing
+0.10 close(3) = 0
 1.00...6.00 connect(3, ..., ...) = -1 ETIMEDOUT (Operation timed out)
*     > S 0:0(0) win 65535 <...>
+0~+0.2 > . 1:1(0) ack 1
/* block
comment */ +0 close(4) = 0
`);
  assert.equal(s.options.get("ip_version"), "ipv6");
  assert.equal(s.options.get("tolerance_usecs"), "50000");
  assert.equal(s.events.length, 6);
  assert.deepEqual(s.events[0].time, { kind: "at", start: 0, relative: false });
  assert.deepEqual(s.events[0].body, {
    type: "command",
    command: "sysctl -w net.inet.tcp.sack.enable=1",
  });
  assert.deepEqual(s.events[1].time, { kind: "at", start: 100000, relative: true });
  assert.equal(s.events[2].line, 6);
  assert.deepEqual(s.events[2].time, {
    kind: "at",
    start: 1000000,
    relative: false,
    rangeKind: "...",
    end: 6000000,
    endRelative: false,
  });
  const c = s.events[2].body;
  assert.ok(c.type === "syscall");
  assert.equal(c.call.errno, "ETIMEDOUT");
  assert.equal(c.call.note, "Operation timed out");
  assert.deepEqual(s.events[3].time, { kind: "any" });
  assert.ok(s.events[3].body.type === "packet" && s.events[3].body.packet.type === "tcp");
  assert.equal(s.events[3].body.packet.options, "any");
  assert.equal(s.events[4].time.kind === "at" && s.events[4].time.rangeKind, "~");
  assert.equal(s.events[5].line, 10);
});

Deno.test("parser: TCP packets with every option, ECN, IP fields and UDP", () => {
  const s = parseScript(
    `0 < [ect0] (tos 0x2) SEW 0:10(10)! ack 5 win 100 ` +
      `<mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0,sack 1:2 3:4,FO 0102,FO,md5 valid,eol>` +
      `/udp(1 > 9811)
+0 > S. ...(0) ack 4 win 65535 <mss 1452>
+0 < F . 1:1(0) ack 1 win 10
`,
  );
  const p = s.events[0].body;
  assert.ok(p.type === "packet" && p.packet.type === "tcp");
  assert.equal(p.dir, "<");
  assert.deepEqual({ ...p.packet, options: undefined }, {
    type: "tcp",
    flags: "SEW",
    seq: 0,
    len: 10,
    seqAbsolute: true,
    ack: 5,
    win: 100,
    ecn: "ect0",
    ip: { tos: 2 },
    udp: { src: 1, dst: 9811 },
    options: undefined,
  });
  assert.deepEqual(p.packet.options, [
    { kind: "mss", value: 1460 },
    { kind: "nop" },
    { kind: "wscale", value: 6 },
    { kind: "sackOK" },
    { kind: "ts", val: 100, ecr: 0 },
    { kind: "sack", blocks: [[1, 2], [3, 4]] },
    { kind: "fo", cookie: new Uint8Array([1, 2]) },
    { kind: "fo", cookie: new Uint8Array(0) },
    { kind: "md5" },
    { kind: "eol" },
  ]);
  const q = s.events[1].body;
  assert.ok(q.type === "packet" && q.packet.type === "tcp");
  assert.equal(q.packet.seq, undefined);
  const f = s.events[2].body;
  assert.ok(f.type === "packet" && f.packet.type === "tcp");
  assert.equal(f.packet.flags, "F.");
});

Deno.test("parser: ICMP errors, syscall expressions, #ifdef and Python", () => {
  const s = parseScript(`0 < icmp unreachable frag_needed mtu 1300 [0:0(0)/udp(9811 > 1)]
+0 < icmp packet_too_big mtu 1280 [1:1(0)]
+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 sendmsg(3, {msg_name(...)=..., msg_iov(1)=[{iov_base=..., iov_len=10}], msg_flags=0}, 0) = 10
+0 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 0) = 1
#ifdef STANDARD
+0 close(3) = 0
#else
+0 close(4) = 0
#endif
+0 %{
assert tcpi_state == TCPI_CLOSE_WAIT
}%
`);
  assert.equal(s.events.length, 8);
  const i = s.events[0].body;
  assert.ok(i.type === "packet" && i.packet.type === "icmp");
  assert.deepEqual(i.packet, {
    type: "icmp",
    icmpType: "unreachable",
    code: "frag_needed",
    mtu: 1300,
    quoted: { seq: 0, end: 0, len: 0, udp: { src: 9811, dst: 1 } },
  });
  const j = s.events[1].body;
  assert.ok(j.type === "packet" && j.packet.type === "icmp");
  assert.equal(j.packet.mtu, 1280);
  assert.equal(j.packet.code, undefined);
  const l = s.events[2].body;
  assert.ok(l.type === "syscall");
  assert.deepEqual(l.call.args[3], {
    kind: "struct",
    fields: [
      { name: "l_onoff", value: { kind: "num", value: 1 } },
      { name: "l_linger", value: { kind: "num", value: 0 } },
    ],
  });
  const fl = s.events[3].body;
  assert.ok(fl.type === "syscall");
  assert.equal(fl.call.args[2].kind, "or");
  const c = s.events[6].body;
  assert.ok(c.type === "syscall");
  assert.deepEqual(c.call.args[0], { kind: "num", value: 4 });
  const py = s.events[7].body;
  assert.ok(py.type === "python");
  assert.equal(py.code, "assert tcpi_state == TCPI_CLOSE_WAIT");
});

Deno.test("parser: errors carry the line number", () => {
  assert.throws(() => parseScript("0 close(3) = 0\n+0 > S 0:5(4) win 1\n"), (e) => {
    assert.ok(e instanceof ScriptParseError);
    assert.equal(e.line, 2);
    assert.match(e.message, /does not match length/);
    return true;
  });
  assert.throws(() => parseScript("close(3) = 0\n"), /line 1: expected a time/);
  assert.throws(() => parseScript("0 `sysctl\n"), /unterminated backtick/);
  assert.throws(() => parseScript("#ifdef X\n0 close(3) = 0\n"), /missing #endif/);
});

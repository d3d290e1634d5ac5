import assert from "node:assert/strict";
import { parseScript } from "./parser.ts";
import { runScript, unsupportedFeatures } from "./executor.ts";
import { collectScripts } from "./runner.ts";
import { conformanceSuiteDir } from "../../../scripts/paths.ts";
import { FakeHost } from "./_fake_host.ts";
import { ipPacket } from "./packet.ts";

const HEAD = `--ip_version=ipv4
--tolerance_usecs=10000
0.000 \`sysctl -w net.inet.tcp.sack.enable=1\`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460>
`;

function run(text: string, host = new FakeHost()) {
  return { r: runScript(parseScript(text), host), host };
}

Deno.test("executor: handshake and close against the fake pass", () => {
  const { r, host } = run(
    HEAD + `+0.1 < S. 0:0(0) ack 1 win 32768 <mss 1000>
+0 > . 1:1(0) ack 1 win 65535
+0 %{ assert tcpi_state == TCPI_ESTABLISHED }%
+0.1 close(3) = 0
+0 > F. 1:1(0) ack 1 win 65535
`,
  );
  assert.deepEqual(r, { result: "pass" });
  assert.equal(host.sysctls.get("net.inet.tcp.sack.enable"), "1");
});

Deno.test("executor: retransmitted SYN matched with timing and *", () => {
  const { r } = run(
    HEAD + `+1 > S 0:0(0) win 65535 <mss 1460>
* > S 0:0(0) win 65535 <...>
`,
  );
  assert.equal(r.result, "pass", r.reason);
});

Deno.test("executor: a packet outside the tolerance fails with the line", () => {
  const { r } = run(HEAD.replace("+0 > S", "+0.5 > S"));
  assert.equal(r.result, "fail");
  assert.equal(r.line, 8);
  assert.match(r.reason!, /timing/);
});

Deno.test("executor: wrong window, ack and options are reported expected vs actual", () => {
  let { r } = run(HEAD.replace("win 65535 <mss 1460>", "win 1000 <mss 1460>"));
  assert.equal(r.result, "fail");
  assert.match(r.reason!, /win 65535, expected 1000/);
  ({ r } = run(HEAD.replace("<mss 1460>", "<mss 1460,nop,wscale 6>")));
  assert.match(r.reason!, /options <mss 1460>, expected <mss 1460,nop,wscale 6>/);
  ({ r } = run(HEAD + `+0.1 < S. 0:0(0) ack 1 win 32768\n+0 > . 1:1(0) ack 7 win 65535\n`));
  assert.match(r.reason!, /ack 1, expected 7/);
});

Deno.test("executor: the inbound ack is mapped onto the engine's ISN", () => {
  // ack 2 maps to ISN+2, which the fake ignores: no ACK comes out, so the next line fails.
  const { r } = run(HEAD + `+0.1 < S. 0:0(0) ack 2 win 32768\n+0 > . 1:1(0) ack 1 win 65535\n`);
  assert.equal(r.result, "fail");
  assert.match(r.reason!, /none sent|timing/);
});

Deno.test("executor: wrong syscall result and errno fail", () => {
  let { r } = run(HEAD.replace("-1 EINPROGRESS", "-1 ECONNREFUSED"));
  assert.match(r.reason!, /connect\(\) = -1 EINPROGRESS, expected -1 ECONNREFUSED/);
  ({ r } = run(HEAD + "+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0\n"));
  assert.match(r.reason!, /value \[0\], expected \[ECONNRESET\]/);
});

Deno.test("executor: unknown sysctl, command and Python are errors with a reason", () => {
  let { r } = run("0 `sysctl -w kern.foo=1`\n");
  assert.equal(r.result, "error");
  assert.match(r.reason!, /unknown sysctl kern\.foo/);
  ({ r } = run("0 `ls /`\n"));
  assert.match(r.reason!, /not supported: shell command ls \//);
  ({ r } = run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ print(tcpi_rtt) }%\n"));
  assert.equal(r.result, "error");
  assert.match(r.reason!, /not supported: Python snippet print/);
});

Deno.test("executor: an unexpected extra outbound packet fails at the end", () => {
  const { r } = run(HEAD.replace("+0 > S 0:0(0) win 65535 <mss 1460>\n", "+0.1 close(3) = 0\n"));
  assert.equal(r.result, "fail");
  assert.match(r.reason!, /unexpected outbound packet/);
});

Deno.test("executor: sockstat falls back to the script's sockets", () => {
  const { r } = run(
    HEAD + `+0.1 < S. 0:0(0) ack 1 win 32768
+0 > . 1:1(0) ack 1 win 65535
+0 \`sockstat -4 -P tcp -s | grep packetdril | grep -c ESTABLISHED | grep 1\`
+0 \`sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1\`
`,
  );
  assert.equal(r.result, "fail");
  assert.equal(r.line, 12);
  assert.ok(r.reason!.includes("0 connection(s) in TIME_WAIT"));
});

Deno.test("executor: a blocking connect completes when the handshake does", () => {
  const script = (end: string) =>
    `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0...${end} connect(3, ..., ...) = 0
+0 > S 0:0(0) win 65535 <mss 1460>
+0.1 < S. 0:0(0) ack 1 win 32768
+0 > . 1:1(0) ack 1 win 65535
`;
  let { r } = run(script("0.1"));
  assert.equal(r.result, "pass", r.reason);
  ({ r } = run(script("0.5")));
  assert.equal(r.result, "fail");
  assert.match(r.reason!, /connect\(\) returned at 0.100000s, expected at 0.500000s/);
  // Not written as blocking: the call must return at once.
  ({ r } = run(script("0.1").replace("+0...0.1 connect", "+0 connect")));
  assert.equal(r.result, "fail");
  assert.match(r.reason!, /blocked/);
});

Deno.test("executor: the suite uses only supported features, TCP-MD5 aside", () => {
  const suite = conformanceSuiteDir();
  if (!suite) return;
  const flagged: string[] = [];
  for (const f of collectScripts([suite])) {
    const problems = unsupportedFeatures(parseScript(Deno.readTextFileSync(f)));
    if (problems.some((p) => !/MD5/.test(p.reason))) {
      flagged.push(`${f}: ${problems.map((p) => `${p.line} ${p.reason}`).join("; ")}`);
    }
  }
  assert.deepEqual(flagged, []);
  // And the check does flag what it cannot do.
  const s = parseScript(`--weird=1
0 frobnicate(3) = 0
+0 \`rm -rf /\`
+0 < S ...(0) win 1
+0 setsockopt(3, SOL_SOCKET, SO_NOSUCH, [1], 4) = 0
`);
  assert.deepEqual(unsupportedFeatures(s).map((p) => p.line), [1, 2, 3, 4, 5]);
});

Deno.test("executor: outbound ICMP errors are not matched against the script", () => {
  class IcmpHost extends FakeHost {
    override inject(packet: Uint8Array): void {
      // Answer every inbound packet with an ICMP port unreachable quoting it.
      const icmp = new Uint8Array(8 + 28);
      icmp[0] = 3;
      icmp[1] = 3;
      icmp.set(packet.subarray(0, 28), 8);
      this.out.push({ time: this.time, bytes: ipPacket(4, "198.18.0.2", "198.18.0.1", 1, icmp) });
      super.inject(packet);
    }
  }
  const { r } = run(
    HEAD + `+0.1 < S. 0:0(0) ack 1 win 32768 <mss 1000>
+0 > . 1:1(0) ack 1 win 65535
`,
    new IcmpHost(),
  );
  assert.deepEqual(r, { result: "pass" });
});

import assert from "node:assert/strict";
import { parseScript } from "./parser.ts";
import { runScript } from "./executor.ts";
import { EngineHost, loadSocketsFactory } from "./engine_host.ts";

// Small scripts run end to end against the real engine, each with a mutation that must fail:
// the runner is only worth something if it notices a wrong window, ack, option or state.

const ACTIVE = (v: 4 | 6, w = v === 4 ? 1027 : 1035) =>
  `--ip_version=ipv${v}
--tolerance_usecs=50000
 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.00 > S  0:0(0) win 65535 <mss ${v === 4 ? 1460 : 1440},nop,wscale 6,sackOK,TS val 100 ecr 0>
+0.10 < S. 0:0(0) ack 1 win 32767 <mss 1460,nop,wscale 6,sackOK,TS val 7 ecr 100>
+0.00 >  . 1:1(0) ack 1 win ${w} <nop,nop,TS val 100 ecr 7>
+0.10 < F. 1:1(0) ack 1 win 512 <nop,nop,TS val 8 ecr 100>
+0.00 >  . 1:1(0) ack 2 win ${w} <nop,nop,TS val 200 ecr 8>
+0.00 %{ assert tcpi_state == TCPI_CLOSE_WAIT }%
+0.00 close(3) = 0
+0.00 > F. 1:1(0) ack 2 win ${w} <nop,nop,TS val 200 ecr 8>
+0.10 <  . 2:2(0) ack 2 win 512 <nop,nop,TS val 9 ecr 200>
`;

const PASSIVE = (v: 4 | 6) =>
  `--ip_version=ipv${v}
--tolerance_usecs=10000
 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0.00 < S   0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S.  0:0(0) ack 1 win 65535 <mss ${v === 4 ? 1460 : 1440},sackOK,eol,eol>
+0.01 <  .  1:1(0) ack 1 win 65535
+0.00 accept(3, ..., ...) = 4
+0.00 <  . 8:16(8) ack 1 win 65535
+0.00 >  .  1:1(0) ack 1 win 65535 <nop,nop,sack 8:16>
+0.00 <  .  1:8(7) ack 1 win 65535
+0.00 >  .  1:1(0) ack 16 win 65535
+0.00 recv(4, ..., 1024, 0) = 15
+0.10 < F. 16:16(0) ack 1 win 65535
+0.00 >  .  1:1(0) ack 17 win 65535
+0.00 close(4) = 0
+0.00 > F.  1:1(0) ack 17 win 65535
+0.01 <  . 17:17(0) ack 2 win 65535
+0.00 close(3) = 0
`;

async function run(text: string) {
  const make = await loadSocketsFactory();
  assert.ok(make, "the engine's socket layer loads");
  return runScript(parseScript(text), new EngineHost(make));
}

for (const v of [4, 6] as const) {
  Deno.test(`engine e2e IPv${v}: active open to CLOSE_WAIT with timestamps passes`, async () => {
    const r = await run(ACTIVE(v));
    assert.equal(r.result, "pass", r.reason);
  });

  Deno.test(`engine e2e IPv${v}: passive open, out-of-order data and SACK passes`, async () => {
    const r = await run(PASSIVE(v));
    assert.equal(r.result, "pass", r.reason);
  });

  Deno.test(`engine e2e IPv${v}: mutated scripts fail where they differ`, async () => {
    const cases: [string, string, string, RegExp][] = [
      [ACTIVE(v), "ack 2 win ", "ack 2 win 1", /win \d+, expected 1\d+/],
      [ACTIVE(v), "TCPI_CLOSE_WAIT", "TCPI_ESTABLISHED", /tcpi_state = 5, expected == 4/],
      [ACTIVE(v), "ecr 7>", "ecr 6>", /options/],
      [PASSIVE(v), "sack 8:16", "sack 8:15", /options/],
      [PASSIVE(v), "= 15", "= 14", /recv\(\) = 15, expected 14/],
      [
        PASSIVE(v),
        "+0.00 >  .  1:1(0) ack 16 win 65535\n",
        "",
        /timing|unexpected|ack 16, expected 17/,
      ],
    ];
    for (const [src, from, to, why] of cases) {
      assert.ok(src.includes(from), from);
      const r = await run(src.replace(from, to));
      assert.equal(r.result, "fail", `${from} → ${to}`);
      assert.match(r.reason!, why);
    }
  });
}

const MISC = `--tolerance_usecs=10000
 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0.00 poll([{fd=3, events=POLLIN, revents=0}], 1, 0) = 0
+0.00 < S   0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S.  0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0.01 <  .  1:1(0) ack 1 win 65535
+0.00 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 0) = 1
+0.00 accept(3, ..., ...) = 4
+0.00 writev(4, [{iov_base=..., iov_len=10}, {iov_base=..., iov_len=20}], 2) = 30
+0.00 > P.  1:31(30) ack 1 win 65535
+0.01 <  .  1:1(0) ack 31 win 65535
+0.00 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{iov_base=..., iov_len=5}], msg_flags=0}, 0) = 5
+0.00 > P.  31:36(5) ack 1 win 65535
+0.01 <  .  1:11(10) ack 36 win 65535
+0.00 readv(4, [{iov_base=..., iov_len=4}], 1) = 4
+0.00 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{iov_base=..., iov_len=100}], msg_flags=0}, 0) = 6
+0.00...+0.30 poll([{fd=4, events=POLLIN, revents=0}], 1, 300) = 0
`;

Deno.test("engine e2e: poll, writev, sendmsg, readv and recvmsg map onto the socket API", async () => {
  const r = await run(MISC);
  assert.equal(r.result, "pass", r.reason);
  for (
    const [from, to, why] of [
      ["revents=POLLIN}], 1, 0) = 1", "revents=POLLOUT}], 1, 0) = 1", /revents of fd 3 0x1/],
      ["iov_len=20}], 2) = 30", "iov_len=21}], 2) = 31", /P. 1:32\(31\)/],
      ["+0.00...+0.30 poll", "+0.00...+0.20 poll", /poll\(\) (returned|did not return)/],
    ]
  ) {
    const m = await run(MISC.replace(from as string, to as string));
    assert.equal(m.result, "fail", `${from} → ${to}`);
    assert.match(m.reason!, why as RegExp);
  }
});

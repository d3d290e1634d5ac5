import { assertEquals } from "../../supervisor/_assert.ts";
import { bufMax, bufReadBack, LINUX_DEFAULT_BUF_MAX, parseSysctl } from "./host_limits.ts";

Deno.test("host limits: sysctl text parsed, bad text refused", () => {
  assertEquals(parseSysctl("4194304\n"), 4194304);
  assertEquals(parseSysctl(""), undefined);
  assertEquals(parseSysctl("-1"), undefined);
  assertEquals(parseSysctl("12abc"), undefined);
});

Deno.test("host limits: SO_RCVBUF/SO_SNDBUF read back doubled, capped at the host's ceiling", () => {
  const r = bufMax("rmem"), w = bufMax("wmem");
  let text = "";
  try {
    text = Deno.readTextFileSync("/proc/sys/net/core/rmem_max");
  } catch {
    // no /proc/sys: the default
  }
  assertEquals(r, parseSysctl(text) ?? LINUX_DEFAULT_BUF_MAX);
  assertEquals(bufReadBack("rcv", 262144), 2 * Math.min(262144, r));
  assertEquals(bufReadBack("snd", 1 << 30), 2 * w);
  assertEquals(bufReadBack("rcv", 1), 2304);
  assertEquals(bufReadBack("snd", 1), 4608);
});

import { assert, assertEquals } from "../../supervisor/_assert.ts";
import {
  ccNameBytes,
  cString,
  deviceExists,
  engineCcName,
  getOnly,
  intBytes,
  keptValue,
  linuxCcName,
  linuxValue,
  optionRangeProblem,
} from "./sockopt_values.ts";
import { IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET } from "../engine/socket/api.ts";

Deno.test("sockopt values: ints read as Linux reads them", () => {
  const b = (...x: number[]) => new Uint8Array(x);
  assertEquals(linuxValue(SOL_SOCKET, 9, b(1, 0, 0, 0, 0, 0, 0, 0)), 1, "SO_KEEPALIVE, 8 bytes");
  assertEquals(linuxValue(SOL_SOCKET, 9, b(1, 0)), { errno: 22 }, "2 bytes");
  assertEquals(linuxValue(IPPROTO_IP, 1, b(0x40)), 0x40, "IP_TOS as a char");
  assertEquals(linuxValue(IPPROTO_IP, 2, b()), { errno: 22 });
  assertEquals(linuxValue(IPPROTO_TCP, 1, 1), 1, "a number stays");
  const mreq = b(239, 1, 2, 3, 0, 0, 0, 0);
  assertEquals(linuxValue(IPPROTO_IP, 35, mreq), mreq, "IP_ADD_MEMBERSHIP is a struct");
  assertEquals(linuxValue(IPPROTO_TCP, 13, b(99, 117, 98, 105, 99)), b(99, 117, 98, 105, 99));
  assert(getOnly(SOL_SOCKET, 3) && getOnly(IPPROTO_TCP, 11) && !getOnly(SOL_SOCKET, 2));
});

Deno.test("sockopt values: congestion control names as Linux has them", () => {
  assertEquals(engineCcName(cString(new TextEncoder().encode("reno\0\0"))), "newreno");
  assertEquals(engineCcName("cubic"), "cubic");
  assertEquals(linuxCcName("newreno"), "reno");
  const n = ccNameBytes("cubic");
  assertEquals(n.length, 16);
  assertEquals(cString(n), "cubic");
  assertEquals(n[5], 0);
});

Deno.test("sockopt values: options the engine does not keep read back as Linux reads them", () => {
  assertEquals(keptValue(SOL_SOCKET, 12, 6), 6, "SO_PRIORITY");
  assertEquals(keptValue(SOL_SOCKET, 6, 7), 1, "SO_BROADCAST is a flag");
  assertEquals(keptValue(IPPROTO_IP, 11, 0), 0, "IP_RECVERR off");
  assertEquals(keptValue(IPPROTO_TCP, 1, 1), undefined, "TCP_NODELAY is the engine's");
});

Deno.test("sockopt values: Linux's ranges, device names, ints as bytes", () => {
  assertEquals(optionRangeProblem(IPPROTO_IP, 2, 0), 22, "IP_TTL 0");
  assertEquals(optionRangeProblem(IPPROTO_IP, 2, -1), 0);
  assertEquals(optionRangeProblem(IPPROTO_IP, 2, 255), 0);
  assertEquals(optionRangeProblem(IPPROTO_IPV6, 16, 256), 22, "IPV6_UNICAST_HOPS 256");
  assertEquals(optionRangeProblem(IPPROTO_IP, 10, 9), 22, "IP_MTU_DISCOVER 9");
  assertEquals(optionRangeProblem(IPPROTO_IP, 10, 5), 0);
  assert(deviceExists("lo"));
  assert(!deviceExists("nosuch0") && !deviceExists("../x") && !deviceExists("a".repeat(16)));
  assertEquals(cString(intBytes(0x6f6e6572)), "reno");
});

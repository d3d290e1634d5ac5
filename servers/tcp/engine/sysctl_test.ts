import assert from "node:assert/strict";
import { Sysctls } from "./sysctl.ts";

Deno.test("Sysctls: define, get, set with string coercion and bounds", () => {
  const s = new Sysctls();
  s.define("net.inet.tcp.sack.enable", 1, { min: 0, max: 1 }, "SACK");
  s.define(
    "net.inet.tcp.cc.algorithm",
    "newreno",
    (v) => v === "newreno" || v === "cubic" ? null : `no algorithm ${v}`,
    "CC",
  );
  assert.equal(s.get("net.inet.tcp.sack.enable"), 1);
  s.set("net.inet.tcp.sack.enable", "0");
  assert.equal(s.getNumber("net.inet.tcp.sack.enable"), 0);
  assert.throws(() => s.set("net.inet.tcp.sack.enable", 2), /above 1/);
  assert.throws(() => s.set("net.inet.tcp.sack.enable", "yes"), /not an integer/);
  assert.equal(s.get("net.inet.tcp.sack.enable"), 0);
  s.set("net.inet.tcp.cc.algorithm", "cubic");
  assert.throws(() => s.set("net.inet.tcp.cc.algorithm", "bbr"), /no algorithm bbr/);
  assert.throws(() => s.set("net.inet.tcp.nosuch", 1), /unknown name/);
  assert.throws(() => s.get("net.inet.tcp.nosuch"), /unknown name/);
  assert.throws(() => s.define("net.inet.tcp.sack.enable", 1, {}, "again"), /already defined/);
});

Deno.test("Sysctls: onChange and reset", () => {
  const s = new Sysctls();
  s.define("a.b", 5, { min: 0 }, "x");
  const seen: unknown[] = [];
  s.onChange("a.b", (v) => seen.push(v));
  s.set("a.b", 7);
  s.reset();
  assert.deepEqual(seen, [7, 5]);
  assert.deepEqual(s.list(), [{ name: "a.b", value: 5, default: 5, description: "x" }]);
});

import { assertEquals } from "./_assert.ts";
import { addressesText, runtimePaths } from "./runtime.ts";

Deno.test("runtime: paths under <runtimeDir>/<instance>, the addresses file among them", () => {
  const p = runtimePaths({ runtimeDir: "/run/joyride", instance: "a" });
  assertEquals(p.dir, "/run/joyride/a");
  assertEquals(p.addresses, "/run/joyride/a/addresses");
});

Deno.test("runtime: addresses text, one IFNAME ADDRESS/PREFIX line per address", () => {
  assertEquals(
    addressesText(
      { joyrideAddress: "198.18.0.2", prefixLength: 24, joyrideAddress6: "fd00:198:18::2/64" },
      "jr0",
    ),
    "jr0 198.18.0.2/24\njr0 fd00:198:18::2/64\n",
  );
  // no IPv6, and an IPv6 address given without its prefix
  assertEquals(
    addressesText({ joyrideAddress: "198.18.0.2", prefixLength: 30, joyrideAddress6: "" }, "x"),
    "x 198.18.0.2/30\n",
  );
  assertEquals(
    addressesText(
      { joyrideAddress: "198.18.0.2", prefixLength: 24, joyrideAddress6: "fd00::2" },
      "jr0",
    ),
    "jr0 198.18.0.2/24\njr0 fd00::2/64\n",
  );
});

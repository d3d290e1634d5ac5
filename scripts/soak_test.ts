import { assertEquals } from "../servers/supervisor/_assert.ts";
import { parseSoakArgs, soakConditions } from "./soak.ts";

Deno.test("soak: defaults are one hour, 20 MB, instance soak", () => {
  assertEquals(parseSoakArgs([]), { minutes: 60, mb: 20, instance: "soak" });
});

Deno.test("soak: options are parsed and bounded", () => {
  assertEquals(parseSoakArgs(["--minutes", "2", "--mb", "4", "--instance", "s2", "--json", "x"]), {
    minutes: 2,
    mb: 4,
    instance: "s2",
    json: "x",
  });
  for (
    const bad of [
      ["--minutes", "0"],
      ["--minutes", "241"],
      ["--minutes"],
      ["--mb", "x"],
      ["--instance", "Bad"],
      ["--json"],
      ["--what"],
    ]
  ) {
    let msg = "";
    try {
      parseSoakArgs(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertEquals(msg.startsWith("Cannot soak:"), true, `${bad.join(" ")} refused (${msg})`);
  }
});

Deno.test("soak: the conditions cover the issue's list, clean first", () => {
  assertEquals(soakConditions[0].name, "clean");
  assertEquals(soakConditions.length, 9);
});

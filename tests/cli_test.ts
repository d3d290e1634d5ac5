/**
 * `./joyride` commands without a running system: a bad configuration is refused with the
 * field named, and status/stop/restart of an instance that is not running say so.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { TestInstance } from "./_system.ts";

const jr = new TestInstance("clitest");

Deno.test("cli: a bad configuration file names the field", async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify({ topology: { mtu: 70000 } }));
    const r = await jr.cli(["status", "--config", file]);
    assertEquals(r.code, 2, r.stderr);
    assert(r.stderr.includes(`Cannot load configuration ${file}: topology.mtu must be`), r.stderr);
    await Deno.writeTextFile(file, JSON.stringify({ tcp: { servics: {} } }));
    const u = await jr.cli(["start", "--detach", "--config", file]);
    assertEquals(u.code, 2);
    assert(u.stderr.includes("tcp.servics is not a known field"), u.stderr);
    const i = await jr.cli(["status", "--instance", "No Such"]);
    assert(i.code !== 0, "a bad instance name is refused");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("cli: status, stop and restart of an instance that is not running", async () => {
  const s = await jr.cli(["status", "--json"]);
  assertEquals(s.code, 3);
  assertEquals(JSON.parse(s.stdout), { instance: "clitest", running: false, servers: [] });
  const st = await jr.cli(["stop"]);
  assertEquals(st.code, 0);
  assert(st.stdout.includes("not running; nothing to remove"), st.stdout);
  const r = await jr.cli(["restart", "tcp"]);
  assertEquals(r.code, 1);
  assert(r.stderr.includes("not running"), r.stderr);
  assertEquals(await jr.leftovers(), []);
});

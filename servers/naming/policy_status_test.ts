import { assert, assertEquals } from "../supervisor/_assert.ts";
import { appLines } from "./policy_status.ts";

Deno.test("status: apps table and non-zero refusals, never a token", () => {
  const lines = appLines(
    [{ appId: 1, pid: 42, uid: 1000, command: "nc", tokenId: "a1b2c3d4", sockets: 2, bytesIn: 5 }],
    { "tcp.refusals.badToken": 3, "tcp.refusals.total": 3, "naming.refusals.revoked": 0 },
  );
  const text = lines.join("\n");
  assert(text.includes("Apps (1):"), text);
  assert(/42\s+1000\s+nc\s+a1b2c3d4\s+2\s+5\s+0/.test(text), text);
  assert(text.includes("Refused: tcp badToken 3"), text);
  assert(!text.includes("revoked"), text);
  assertEquals(appLines([], {}), []);
});

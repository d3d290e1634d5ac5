import { assert, assertEquals } from "../supervisor/_assert.ts";
import { appLines, printable } from "./policy_status.ts";

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

Deno.test("status: an app's command is shown with its control characters escaped", () => {
  const lines = appLines([{ pid: 7, uid: 0, command: "ev\x1b[2J\x1b[31mil\x7f" }], {});
  const row = lines.find((l) => l.includes("ev"))!;
  assert(![...row].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), row);
  assert(row.includes("ev\\x1b[2J\\x1b[31mil\\x7f"), row);
  assertEquals(printable("nginx: worker"), "nginx: worker");
});

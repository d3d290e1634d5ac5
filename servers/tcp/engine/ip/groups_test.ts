import assert from "node:assert/strict";
import { MAX_GROUPS_PER_INTERFACE, MulticastGroups } from "./groups.ts";

Deno.test("multicast groups: counted per interface, first join and last leave", () => {
  const g = new MulticastGroups();
  assert.equal(g.join(1, "ff12::123"), "first");
  assert.equal(g.join(1, "ff12::123"), "more");
  assert.equal(g.join(2, "ff12::123"), "first");
  assert.ok(g.has(1, "ff12::123") && g.hasAnywhere("ff12::123"));
  assert.equal(g.leave(1, "ff12::123"), false);
  assert.equal(g.leave(1, "ff12::123"), true);
  assert.equal(g.has(1, "ff12::123"), false);
  assert.equal(g.leave(1, "ff12::123"), false, "not a member");
  assert.deepEqual(g.on(2), ["ff12::123"]);
  assert.equal(g.leave(2, "ff12::123"), true);
  assert.equal(g.hasAnywhere("ff12::123"), false);
});

Deno.test("multicast groups: an interface's groups are bounded", () => {
  const g = new MulticastGroups();
  for (let i = 0; i < MAX_GROUPS_PER_INTERFACE; i++) {
    assert.equal(g.join(1, `ff12::1:${i.toString(16)}`), "first");
  }
  assert.equal(g.join(1, "ff12::9999"), "full");
  assert.equal(g.join(1, "ff12::1:0"), "more", "a group already joined still counts");
});

import assert from "node:assert/strict";
import { MAX_GROUPS_PER_INTERFACE, MulticastGroups } from "./groups.ts";

Deno.test("multicast groups: counted per interface, first join and last leave", () => {
  const g = new MulticastGroups();
  assert.equal(g.join(1, "239.1.2.3"), "first");
  assert.equal(g.join(1, "239.1.2.3"), "more");
  assert.equal(g.join(2, "239.1.2.3"), "first");
  assert.ok(g.has(1, "239.1.2.3") && g.hasAnywhere("239.1.2.3"));
  assert.equal(g.leave(1, "239.1.2.3"), false);
  assert.equal(g.leave(1, "239.1.2.3"), true);
  assert.equal(g.has(1, "239.1.2.3"), false);
  assert.equal(g.leave(1, "239.1.2.3"), false, "not a member");
  assert.deepEqual(g.on(2), ["239.1.2.3"]);
  assert.equal(g.leave(2, "239.1.2.3"), true);
  assert.equal(g.hasAnywhere("239.1.2.3"), false);
});

Deno.test("multicast groups: an interface's groups are bounded", () => {
  const g = new MulticastGroups();
  for (let i = 0; i < MAX_GROUPS_PER_INTERFACE; i++) {
    assert.equal(g.join(1, `239.0.${i >> 8}.${i & 255}`), "first");
  }
  assert.equal(g.join(1, "239.9.9.9"), "full");
  assert.equal(g.join(1, "239.0.0.0"), "more", "a group already joined still counts");
});

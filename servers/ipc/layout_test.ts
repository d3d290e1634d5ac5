import { assert, assertEquals } from "./_assert.ts";
import { headerUrl, renderLayoutHeader } from "./gen_layout_h.ts";
import { DESC, layoutGroups, RING } from "./layout.ts";

Deno.test("layout: native/ipc/joyride_layout.h matches layout.ts (regenerate with gen_layout_h.ts --write)", () => {
  const committed = Deno.readTextFileSync(headerUrl);
  assertEquals(committed, renderLayoutHeader(), "joyride_layout.h is stale");
});

Deno.test("layout: head, tail and bells each sit in their own cache line", () => {
  const line = (o: number) => Math.floor(o / RING.CACHE_LINE);
  const lines = [RING.OFF_MAGIC, RING.OFF_HEAD, RING.OFF_TAIL, RING.OFF_DATA_BELL].map(line);
  assertEquals(new Set(lines).size, 4);
  assert(RING.OFF_STATE + 4 <= RING.HEADER_SIZE);
  assertEquals(DESC.OFF_USER + 4, DESC.SLOT_SIZE);
});

Deno.test("layout: C names are unique", () => {
  const names = layoutGroups.flatMap((g) => Object.keys(g.values).map((k) => g.prefix + k));
  assertEquals(new Set(names).size, names.length);
});

/**
 * The app region's layout has one definition (apps_region.ts) and a C mirror in the shim
 * (shim/shim.h `CTL_*`, `SLOT_*`): this test fails when they drift, and checks that a laid
 * out region reads back and that rings and slots never overlap.
 */
import { assert, assertEquals } from "../supervisor/_assert.ts";
import { Region } from "../ipc/region.ts";
import {
  appLayout,
  CTL,
  HOLDERS,
  initAppRegion,
  readAppLayout,
  SLOT,
  SLOT_BITS,
  slotRings,
  slotsFor,
} from "./apps_region.ts";
import { RING } from "../ipc/layout.ts";

const shimSource = Deno.readTextFileSync(new URL("../../shim/shim.h", import.meta.url));

function cDefine(name: string): number {
  const m = shimSource.match(new RegExp(`#define ${name}\\s+(0x[0-9a-fA-F]+|\\d+)u?\\b`));
  if (!m) throw new Error(`shim/shim.h has no #define ${name}`);
  return Number(m[1]);
}

Deno.test("apps region: the shim's C constants match apps_region.ts", () => {
  const pairs: [string, number][] = [
    ["CTL_MAGIC", CTL.MAGIC],
    ["CTL_OFF_MAGIC", CTL.OFF_MAGIC],
    ["CTL_OFF_APP_ID", CTL.OFF_APP_ID],
    ["CTL_OFF_MAX_SOCKETS", CTL.OFF_MAX_SOCKETS],
    ["CTL_OFF_LOCK", CTL.OFF_LOCK],
    ["CTL_OFF_SRV_SLEEPING", CTL.OFF_SRV_SLEEPING],
    ["CTL_OFF_ACTIVITY", CTL.OFF_ACTIVITY],
    ["CTL_OFF_REQ_RING", CTL.OFF_REQ_RING],
    ["CTL_OFF_REP_RING", CTL.OFF_REP_RING],
    ["CTL_OFF_SLOTS", CTL.OFF_SLOTS],
    ["CTL_OFF_RINGS", CTL.OFF_RINGS],
    ["CTL_OFF_RING_SIZE", CTL.OFF_RING_SIZE],
    ["CTL_OFF_SOCKET_BYTES", CTL.OFF_SOCKET_BYTES],
    ["CTL_OFF_TOUCHED", CTL.OFF_TOUCHED],
    ["CTL_OFF_HOLDER_ROWS", CTL.OFF_HOLDER_ROWS],
    ["CTL_OFF_HOLDERS", CTL.OFF_HOLDERS],
    ["HOLDERS", HOLDERS],
    ["SLOT_SIZE", SLOT.SIZE],
    ["SLOT_OFF_STATE", SLOT.OFF_STATE],
    ["SLOT_OFF_EVENTS", SLOT.OFF_EVENTS],
    ["SLOT_OFF_SO_ERROR", SLOT.OFF_SO_ERROR],
    ["SLOT_OFF_SEQ", SLOT.OFF_SEQ],
    ["SLOT_OFF_INTEREST", SLOT.OFF_INTEREST],
    ["SLOT_OFF_REFS", SLOT.OFF_REFS],
    ["SLOT_OFF_SEND_LOCK", SLOT.OFF_SEND_LOCK],
    ["SLOT_OFF_RECV_LOCK", SLOT.OFF_RECV_LOCK],
    ["SLOT_OFF_SOCKET_ID", SLOT.OFF_SOCKET_ID],
    ["SLOT_OFF_TYPE", SLOT.OFF_TYPE],
    ["SLOT_OFF_EFD_ID", SLOT.OFF_EFD_ID],
    ["SLOT_OFF_HANDOFF", SLOT.OFF_HANDOFF],
    ["SLOT_OFF_FLAGS", SLOT.OFF_FLAGS],
    ["SLOT_BITS", SLOT_BITS],
    // Every slot field, so that a new one without its #define fails here.
    ...Object.entries(SLOT).map(([k, v]): [string, number] => [`SLOT_${k}`, v]),
  ];
  for (const [name, value] of pairs) assertEquals(cDefine(name), value, name);
});

Deno.test("apps region: a laid-out region reads back; rings and slots do not overlap", () => {
  const l = appLayout(16, 4096);
  using region = Region.create(l.total);
  initAppRegion(region, 42, l);
  const back = readAppLayout(region);
  assertEquals(back, l);
  assertEquals(region.u32[CTL.OFF_APP_ID / 4], 42);
  assertEquals(region.u32[CTL.OFF_SRV_SLEEPING / 4], 1, "the first request wakes the server");
  const spans: [number, number, string][] = [
    [0, CTL.SIZE, "ctl"],
    [l.reqRing, l.repRing, "req"],
    [l.repRing, l.slots, "rep"],
    [l.slots, l.slots + l.maxSockets * SLOT.SIZE, "slots"],
    [l.holderRows, l.holderRows + HOLDERS * l.maxSockets, "holder rows"],
  ];
  assert(CTL.OFF_HOLDERS + HOLDERS * 4 <= CTL.SIZE, "the holder table fits the control block");
  assert(CTL.OFF_TOUCHED + 512 <= CTL.OFF_HOLDERS, "the touched map ends before the holders");
  for (let i = 0; i < l.maxSockets; i++) {
    const r = slotRings(l, i);
    const ringBytes = RING.HEADER_SIZE + l.ringSize;
    spans.push([r.send, r.send + ringBytes, `send ${i}`], [
      r.recv,
      r.recv + ringBytes,
      `recv ${i}`,
    ]);
    assertEquals(r.send % RING.CACHE_LINE, 0);
    assertEquals(r.recv % RING.CACHE_LINE, 0);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    assert(spans[i - 1][1] <= spans[i][0], `${spans[i - 1][2]} overlaps ${spans[i][2]}`);
  }
  assert(spans[spans.length - 1][1] <= l.total, "everything inside the region");
});

Deno.test("apps region: a region that is not one is refused", () => {
  using region = Region.create(65536);
  let err = "";
  try {
    readAppLayout(region);
  } catch (e) {
    err = (e as Error).message;
  }
  assert(/bad magic/.test(err), err);
});

Deno.test("apps region: R5 — the policy's socket limit sizes the region (up to 4096), sparse", () => {
  assertEquals(slotsFor(8), 8);
  assertEquals(slotsFor(4096), 4096);
  assertEquals(slotsFor(1e9), 1 << SLOT_BITS, "never more slots than socket ids can name");
  assertEquals(slotsFor(0), 1);
  const l = appLayout(slotsFor(4096));
  assert(l.total > 1e9, `a 4096-socket region is ~1 GB of address space (${l.total})`);
  using region = Region.create(l.total);
  initAppRegion(region, 7, l);
  assertEquals(readAppLayout(region).maxSockets, 4096);
  // The last slot's rings are usable and a memfd only commits what is touched.
  const last = slotRings(l, 4095);
  region.u8[last.recv + RING.HEADER_SIZE + l.ringSize - 1] = 1;
  const blocks = Deno.statSync(`/proc/self/fd/${region.fd}`).blocks ?? 0;
  assert(blocks * 512 < 8 << 20, `committed ${blocks * 512} bytes of ${l.total}`);
});

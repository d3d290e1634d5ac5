/**
 * Cap'n Proto messages through a message ring: one message per record, read in place (the
 * capnp-es reader and the generated fixed-offset accessors both look at the ring's bytes).
 */
import fc from "fast-check";
import { Message } from "capnp-es";
import { assert, assertEquals } from "./_assert.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import { SEED } from "./_test_util.ts";
import { SocketCall } from "../../schema/gen/socket.ts";
import { SocketCallHot } from "../../schema/gen/hot.ts";
import { hotOpen, HotStruct } from "../../schema/hot_runtime.ts";

Deno.test("capnp in a message ring: SocketCall.listen round-trips in place, capnp-es and hot", () => {
  using region = Region.create(1 << 16);
  const ring = MessageRing.init(region, 0, 4096);
  const pos = new HotStruct();
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          socketId: fc.integer({ min: 0, max: 0xffffffff }),
          requestId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          backlog: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        }),
        { minLength: 1, maxLength: 40 },
      ),
      (calls) => {
        let read = 0;
        const check = () => {
          const view = ring.peek()!;
          assert(view.byteOffset >= ring.dataStart, "a view into the ring, not a copy");
          const want = calls[read++];
          const c = new Message(view, false).getRoot(SocketCall);
          assertEquals(c.socketId, want.socketId);
          assertEquals(c.header.requestId, want.requestId);
          assertEquals(c.call.listen, want.backlog);
          const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
          assertEquals(hotOpen(dv, pos), 0);
          assertEquals(SocketCallHot.socketId(pos), want.socketId);
          assertEquals(SocketCallHot.callWhich(pos), SocketCallHot.CALL_LISTEN);
          ring.release();
        };
        for (const call of calls) {
          const m = new Message();
          const c = m.initRoot(SocketCall);
          c._initHeader().requestId = call.requestId;
          c.socketId = call.socketId;
          c.call.listen = call.backlog;
          const bytes = new Uint8Array(m.toArrayBuffer());
          while (!ring.push(bytes)) check();
        }
        while (read < calls.length) check();
        assertEquals(ring.peek(), null);
      },
    ),
    { seed: SEED, numRuns: 50 },
  );
});

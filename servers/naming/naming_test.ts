import fc from "fast-check";
import { assert, assertEquals } from "../supervisor/_assert.ts";
import { encodeMessage, MessageDecoder } from "./framing.ts";
import {
  emptyRegistry,
  endpoint,
  type Entry,
  fromJson,
  markDead,
  register,
  resolve,
  toJson,
} from "./registry.ts";
import { NamingServer } from "./server.ts";
import { Follower, listEntries, Registration, resolveLabel } from "./client.ts";
import { connectNaming, encodeFrame, FrameDecoder, Kind, Message, NamingRequest } from "./wire.ts";

Deno.test("framing: any split of a message stream decodes to the same messages", () => {
  fc.assert(
    fc.property(
      fc.array(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean())), {
        maxLength: 8,
      }),
      fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }),
      (msgs, cuts) => {
        const bytes = msgs.map(encodeMessage);
        const all = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
        let o = 0;
        for (const b of bytes) {
          all.set(b, o);
          o += b.length;
        }
        const d = new MessageDecoder();
        const out: unknown[] = [];
        let i = 0;
        for (let k = 0; i < all.length; k++) {
          const n = cuts[k % cuts.length];
          d.push(all.subarray(i, i + n));
          i += n;
          for (let m = d.next(); m; m = d.next()) out.push(m);
        }
        assertEquals(out, msgs);
        assertEquals(d.pending, 0);
      },
    ),
    { seed: 4, numRuns: 200 },
  );
});

Deno.test("framing: a huge length prefix is refused", () => {
  const d = new MessageDecoder();
  d.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2]));
  let err = "";
  try {
    d.next();
  } catch (e) {
    err = (e as Error).message;
  }
  assert(err.includes("over"), err);
});

Deno.test("registry: generations only grow; stale announcements are refused; save and load", () => {
  const r = emptyRegistry();
  const ep = endpoint("ring", "/dev/shm/x");
  assertEquals((register(r, "tcp", ep, 10, 0) as Entry).generation, 1);
  assertEquals((register(r, "tcp", ep, 11, 0, 3) as Entry).generation, 3);
  assertEquals(register(r, "tcp", ep, 12, 0, 2), "stale");
  // a late goodbye from generation 1 does not kill generation 3
  assertEquals(markDead(r, "tcp", 1), false);
  assertEquals(resolve(r, "tcp")?.pid, 11);
  const r2 = fromJson(toJson(r));
  assertEquals(resolve(r2, "tcp")?.endpoint, ep);
  // the same generation again (naming restarted) keeps the entry
  assertEquals((register(r2, "tcp", ep, 11, 0, 3) as Entry).generation, 3);
  assertEquals((register(r2, "tcp", ep, 12, 0) as Entry).generation, 4);
  assertEquals(markDead(r2, "tcp", 4), true);
  assertEquals(resolve(r2, "tcp"), undefined);
  assertEquals(fromJson("not json").entries.size, 0);
  assertEquals(
    fromJson('{"entries":[{"label":"BAD!","endpoint":{"kind":"ring","path":"x"},"generation":1}]}')
      .entries.size,
    0,
  );
});

Deno.test("wire: any split of a frame stream decodes to the same messages", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 10 }),
      (labels, cuts) => {
        const frames = labels.map((l) => {
          const m = new Message();
          m.initRoot(NamingRequest).resolve = l;
          return encodeFrame(Kind.namingRequest, m);
        });
        const all = new Uint8Array(frames.reduce((n, b) => n + b.length, 0));
        let o = 0;
        for (const b of frames) {
          all.set(b, o);
          o += b.length;
        }
        const d = new FrameDecoder();
        const out: string[] = [];
        for (let i = 0, k = 0; i < all.length; k++) {
          const n = cuts[k % cuts.length];
          d.push(all.subarray(i, i + n));
          i += n;
          for (let f = d.next(); f; f = d.next()) {
            assertEquals(f.kind, Kind.namingRequest);
            out.push(f.message.getRoot(NamingRequest).resolve);
          }
        }
        assertEquals(out, labels);
      },
    ),
    { seed: 4, numRuns: 200 },
  );
});

Deno.test("wire: a frame whose segment table claims 2^31 segments is refused at once", () => {
  // A helper's 16 bytes: length 12, kind 0, segment count - 1 = 0x7ffffffe, one size word.
  // capnp-es made the table's array first: the naming server hung ~11 s and was killed.
  const f = new Uint8Array(16);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, 12, true);
  dv.setUint32(8, 0x7ffffffe, true);
  const d = new FrameDecoder();
  d.push(f);
  const t = performance.now();
  let refused = false;
  try {
    d.next();
  } catch {
    refused = true;
  }
  assert(refused, "decoded");
  assert(performance.now() - t < 100, "took long");
});

Deno.test("naming server: announce, resolve, follow, hostile clients, survive its own restart", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "jr-naming-" });
  const sock = `${dir}/naming.sock`;
  const save = `${dir}/registry.json`;
  let server = NamingServer.listen({ socketPath: sock, savePath: save });
  const seen: (number | undefined)[] = [];
  const follower = new Follower(sock, "tcp", (e) => seen.push(e?.generation));
  try {
    const ep = endpoint("unixSocket", "/x.sock");
    const reg = await Registration.start(sock, "tcp", ep, 2);
    assertEquals((await resolveLabel(sock, "tcp"))?.endpoint, ep);
    assertEquals(await resolveLabel(sock, "nic"), undefined);
    // a stale incarnation (older generation) is refused
    const stale = await assertRejectsMsg(() => Registration.start(sock, "tcp", ep, 1));
    assert(stale.includes("errno 116"), stale);
    // the same generation from a second connection, closed: the first one still holds it
    (await Registration.start(sock, "tcp", ep, 2)).close();
    await new Promise((r) => setTimeout(r, 50));
    const bad = await assertRejectsMsg(() => Registration.start(sock, "Bad Label", ep, 1));
    assert(bad.includes("errno 22"), bad);
    // hostile frames: a huge length, an unknown kind, garbage in place of Cap'n Proto
    for (
      const junk of [
        Uint8Array.of(0xff, 0xff, 0xff, 0xff),
        Uint8Array.of(8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0),
        Uint8Array.of(12, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4),
      ]
    ) {
      using raw = await connectNaming(sock);
      await raw.conn.write(junk);
      assertEquals(await raw.receive().catch(() => undefined), undefined);
    }
    assert(server.refused >= 3, `refused ${server.refused}`);
    assertEquals((await resolveLabel(sock, "tcp"))?.generation, 2);
    // naming restarts: the registration re-announces, same generation
    await server.close();
    server = NamingServer.listen({
      socketPath: sock,
      savePath: save,
      generation: 2,
      resumeGraceMs: 300,
    });
    await waitFor(async () => (await listEntries(sock).catch(() => []))[0]?.alive === true);
    assertEquals((await listEntries(sock))[0].generation, 2);
    await waitFor(() => seen.includes(2));
    // a new incarnation of tcp: generation 3, the follower sees it
    await reg.closed();
    await waitFor(() => seen.at(-1) === undefined);
    const reg2 = await Registration.start(sock, "tcp", endpoint("unixSocket", "/y.sock"), 3);
    await waitFor(() => seen.at(-1) === 3);
    await reg2.closed();
  } finally {
    await follower.closed();
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

async function assertRejectsMsg(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a rejection");
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

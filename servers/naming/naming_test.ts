import fc from "fast-check";
import { assert, assertEquals } from "../supervisor/_assert.ts";
import { encodeMessage, MessageDecoder } from "./framing.ts";
import { emptyRegistry, fromJson, markDead, register, resolve, toJson } from "./registry.ts";
import { NamingServer } from "./server.ts";
import { Follower, listEntries, namingRequest, Registration, resolveLabel } from "./client.ts";
import { connectFramed } from "./framing.ts";

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

Deno.test("registry: generations only grow, also through save and load", () => {
  const r = emptyRegistry();
  assertEquals(register(r, "tcp", "a", 10, 0).generation, 1);
  assertEquals(register(r, "tcp", "a", 11, 0).generation, 2);
  // a late goodbye from generation 1 does not kill generation 2
  assertEquals(markDead(r, "tcp", 1), false);
  assertEquals(resolve(r, "tcp")?.pid, 11);
  const r2 = fromJson(toJson(r));
  // same pid resuming its generation keeps it; anyone else gets the next one
  assertEquals(register(r2, "tcp", "a", 11, 0, 2).generation, 2);
  assertEquals(register(r2, "tcp", "a", 12, 0, 2).generation, 3);
  assertEquals(markDead(r2, "tcp", 3), true);
  assertEquals(resolve(r2, "tcp"), undefined);
  assertEquals(fromJson("not json").entries.size, 0);
  assertEquals(
    fromJson('{"entries":[{"label":"BAD!","endpoint":"x","generation":1}]}').entries.size,
    0,
  );
});

Deno.test("naming server: register, resolve, follow, survive its own restart", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "jr-naming-" });
  const sock = `${dir}/naming.sock`;
  const save = `${dir}/registry.json`;
  let server = NamingServer.listen({ socketPath: sock, savePath: save });
  const seen: (number | undefined)[] = [];
  const follower = new Follower(sock, "tcp", (e) => seen.push(e?.generation));
  try {
    const reg = await Registration.start(sock, "tcp", "unix:/x");
    assertEquals(reg.generation, 1);
    assertEquals((await resolveLabel(sock, "tcp"))?.endpoint, "unix:/x");
    assertEquals(await resolveLabel(sock, "nic"), undefined);
    // malformed requests are refused, the server keeps serving
    const bad = await namingRequest(sock, { op: "register", label: "Bad Label", endpoint: "x" });
    assertEquals(bad.ok, false);
    const unknown = await namingRequest(sock, { op: "explode" });
    assertEquals(unknown.ok, false);
    {
      using raw = await connectFramed(sock);
      await raw.conn.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
      assertEquals(await raw.receive().catch(() => undefined), undefined);
    }
    // naming restarts: the registration resumes with the same generation
    await server.close();
    server = NamingServer.listen({ socketPath: sock, savePath: save });
    await waitFor(async () => (await listEntries(sock).catch(() => []))[0]?.alive === true);
    await waitFor(() => reg.generation === 1 && seen.length >= 1);
    // a new incarnation of tcp: generation 2, the follower sees it
    await reg.closed();
    await waitFor(() => seen.includes(undefined));
    const reg2 = await Registration.start(sock, "tcp", "unix:/y");
    assertEquals(reg2.generation, 2);
    await waitFor(() => seen.at(-1) === 2);
    assert(seen.includes(1), `follower saw generation 1: ${seen}`);
    await reg2.closed();
  } finally {
    await follower.closed();
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Round trips of every message type between the three codecs: capnp-es (TypeScript), the
 * generated C codec (native/gen) and Debian's libcapnp (C++ reference, schema/ref).
 * Random values (seeded fast-check) are encoded by capnp-es; the C codec and libcapnp decode
 * and re-encode them; capnp-es decodes the results, which must equal the original values.
 * libcapnp also decodes what the C codec wrote, and the C codec what libcapnp wrote.
 */
import fc from "fast-check";
import { deepStrictEqual } from "node:assert";
import { model } from "./gen/model.ts";
import {
  arbStruct,
  decodeWithCapnpEs,
  encodeWithCapnpEs,
  fromJson,
  messageTypes,
  type Value,
} from "./_values.ts";
import {
  buildTools,
  type Record,
  type Result,
  runDriver,
  runDriverJson,
  runRef,
} from "./_tools.ts";
import type { StructModel } from "./codegen/model.ts";
import { repoRoot } from "../scripts/paths.ts";

const perType = 100;

interface Case {
  type: StructModel;
  value: Value;
  bytes: Uint8Array;
}

function cases(seed: number): Case[] {
  const out: Case[] = [];
  messageTypes.forEach((type, i) => {
    for (const value of fc.sample(arbStruct(model, type), { seed: seed + i, numRuns: perType })) {
      out.push({ type, value, bytes: encodeWithCapnpEs(type, value) });
    }
  });
  return out;
}

function check(what: string, cs: Case[], results: Result[]) {
  results.forEach((r, i) => {
    const c = cs[i];
    if (r.status !== 0) {
      throw new Error(
        `${what}: ${c.type.name} failed with status ${r.status} ${
          new TextDecoder().decode(r.bytes)
        } for ${Deno.inspect(c.value, { depth: 8 })}`,
      );
    }
    deepStrictEqual(decodeWithCapnpEs(c.type, r.bytes), c.value, `${what}: ${c.type.name}`);
  });
}

const records = (cs: Case[], bytes: (c: Case, i: number) => Uint8Array): Record[] =>
  cs.map((c, i) => ({ typeId: c.type.id, bytes: bytes(c, i) }));

Deno.test("codec: every message type round-trips TS → C → TS and TS → libcapnp → TS", async () => {
  await buildTools();
  const cs = cases(0x5eed);
  const [viaC, viaRef, cValues] = await Promise.all([
    runDriver(records(cs, (c) => c.bytes)),
    runRef(records(cs, (c) => c.bytes)),
    runDriverJson(records(cs, (c) => c.bytes)),
  ]);
  // The C structs themselves hold the values capnp-es wrote (not only their re-encoding).
  cValues.forEach((r, i) => {
    deepStrictEqual(r.status, 0, `C decode of ${cs[i].type.name}`);
    const json = JSON.parse(new TextDecoder().decode(r.bytes));
    deepStrictEqual(
      fromJson(model, cs[i].type, json),
      cs[i].value,
      `C struct of ${cs[i].type.name}`,
    );
  });
  check("capnp-es → C codec → capnp-es", cs, viaC);
  check("capnp-es → libcapnp → capnp-es", cs, viaRef);
  // Cross: libcapnp reads what C wrote; C reads what libcapnp wrote.
  const [cThenRef, refThenC] = await Promise.all([
    runRef(records(cs, (_, i) => viaC[i].bytes)),
    runDriver(records(cs, (_, i) => viaRef[i].bytes)),
  ]);
  check("C codec → libcapnp → capnp-es", cs, cThenRef);
  check("libcapnp → C codec → capnp-es", cs, refThenC);
  // Every message type was covered, and so was every union member of every type.
  deepStrictEqual(new Set(cs.map((c) => c.type.name)).size, messageTypes.length);
});

Deno.test("codec: the C codec writes the same words as capnp-es for the hot messages", async () => {
  // Same layout rules (struct order, no padding surprises): byte-identical for data-only
  // messages, which is what the shim sends most.
  await buildTools();
  const type = messageTypes.find((t) => t.name === "ReadinessEvent")!;
  const cs = fc.sample(arbStruct(model, type), { seed: 7, numRuns: 50 })
    .map((value) => ({ type, value, bytes: encodeWithCapnpEs(type, value) }));
  const out = await runDriver(records(cs, (c) => c.bytes));
  out.forEach((r, i) => deepStrictEqual(r.bytes, cs[i].bytes));
});

Deno.test("codec: a C program linked with libjoyride_capnp.a alone writes what capnp-es reads", async () => {
  const make = await new Deno.Command("make", {
    args: ["-s", "-C", `${repoRoot}/native/gen`, "smoke"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!make.success) throw new Error(new TextDecoder().decode(make.stderr));
  const run = await new Deno.Command(`${repoRoot}/build/gen/capnp_smoke`, { stdout: "piped" })
    .output();
  deepStrictEqual(run.code, 0);
  const type = messageTypes.find((t) => t.name === "SocketCall")!;
  const v = decodeWithCapnpEs(type, run.stdout);
  deepStrictEqual((v.header as Value).requestId, 42n);
  deepStrictEqual(v.socketId, 5);
  deepStrictEqual(v.$which, undefined); // the union is named: SocketCall.call
  const call = v.call as Value;
  deepStrictEqual(call.$which, "connect");
  deepStrictEqual(call.connect, {
    family: 1,
    port: 7,
    addr: new Uint8Array([198, 18, 0, 1]),
    flowInfo: 0,
    scopeId: 0,
  });
});

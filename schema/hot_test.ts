/**
 * The generated fixed-offset accessors (schema/gen/hot.ts) agree with capnp-es: they read
 * what capnp-es wrote, capnp-es reads what they wrote, and hostile bytes never make them throw.
 */
import fc from "fast-check";
import { deepStrictEqual } from "node:assert";
import * as hot from "./gen/hot.ts";
import { model } from "./gen/model.ts";
import { hotFiles } from "./codegen/hot.ts";
import { structById, type StructModel } from "./codegen/model.ts";
import { HotList, hotListElement, hotOpen, HotStruct, HotWriter } from "./hot_runtime.ts";
import { arbStruct, decodeWithCapnpEs, encodeWithCapnpEs, type Value } from "./_values.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const camel = (parts: string[]) => parts[0] + parts.slice(1).map(cap).join("");
const accessors = (s: StructModel): Any => (hot as Any)[`${s.name}Hot`];

const hotTypes = model.structs.filter((s) => !s.isGroup && hotFiles.includes(s.file));
/** Reads a whole value through the accessors; throws only on a test-visible mismatch. */
function hotRead(s: StructModel, acc: Any, pos: HotStruct, prefix: string[]): Value {
  const out: Value = {};
  const field = (f: StructModel["fields"][number]): unknown => {
    const path = [...prefix, f.name], name = camel(path);
    if (f.group) return hotRead(structById(model, f.group), acc, pos, path);
    const t = f.slot!.type;
    switch (t.kind) {
      case "void":
        return null;
      case "data":
        return hotData(acc[name](pos));
      case "struct": {
        const ts = structById(model, t.id), inner = new HotStruct();
        const r = acc[name](pos, inner);
        if (r !== 0) throw new Error(`${s.name}.${name}: struct not found (${r})`);
        return hotRead(ts, accessors(ts), inner, []);
      }
      case "list": {
        if (t.element.kind !== "struct") throw new Error("only struct lists have accessors");
        const es = structById(model, t.element.id), list = new HotList(), el = new HotStruct();
        const r = acc[name](pos, list);
        if (r < 0) throw new Error(`${s.name}.${name}: bad list (${r})`);
        const items: Value[] = [];
        for (let i = 0; r === 0 && i < list.count; i++) {
          hotListElement(list, i, el);
          items.push(hotRead(es, accessors(es), el, []));
        }
        return items;
      }
      default:
        return acc[name](pos);
    }
  };
  for (const f of s.fields) if (f.discriminant === null) out[f.name] = field(f);
  if (s.discriminantOffset !== null) {
    const w = acc[camel([...prefix, "which"])](pos);
    const f = s.fields.find((x) => x.discriminant === w);
    if (!f) throw new Error(`${s.name}: unknown union member ${w}`);
    out.$which = f.name;
    out[f.name] = field(f);
  }
  return out;
}

function hotData(d: Uint8Array | undefined): Uint8Array {
  if (!d) throw new Error("malformed Data");
  return d.slice();
}

/** Writes a whole value through the accessors. */
function hotWrite(
  w: HotWriter,
  s: StructModel,
  acc: Any,
  pos: HotStruct,
  prefix: string[],
  v: Value,
) {
  const field = (f: StructModel["fields"][number], x: unknown) => {
    const path = [...prefix, f.name];
    const set = camel(["set", ...path]);
    if (f.group) {
      if (f.discriminant !== null) acc[set](pos);
      hotWrite(w, structById(model, f.group), acc, pos, path, x as Value);
      return;
    }
    const t = f.slot!.type;
    let r = 0;
    switch (t.kind) {
      case "void":
        acc[set](pos);
        break;
      case "data":
      case "text":
        r = acc[set](w, pos, x);
        break;
      case "struct": {
        const ts = structById(model, t.id), inner = new HotStruct();
        r = acc[camel(["init", ...path])](w, pos, inner);
        if (r === 0) hotWrite(w, ts, accessors(ts), inner, [], x as Value);
        break;
      }
      case "list": {
        if (t.element.kind !== "struct") throw new Error("only struct lists have accessors");
        const es = structById(model, t.element.id), items = x as Value[];
        const list = new HotList(), el = new HotStruct();
        r = acc[camel(["init", ...path])](w, pos, items.length, list);
        for (let i = 0; r === 0 && i < items.length; i++) {
          hotListElement(list, i, el);
          hotWrite(w, es, accessors(es), el, [], items[i]);
        }
        break;
      }
      default:
        acc[set](pos, x);
    }
    if (r !== 0) throw new Error(`${s.name}.${path.join(".")}: write failed (${r})`);
  };
  for (const f of s.fields) if (f.discriminant === null) field(f, v[f.name]);
  if (s.discriminantOffset !== null) {
    const f = s.fields.find((x) => x.name === v.$which)!;
    field(f, v[f.name]);
  }
}

for (const type of hotTypes) {
  Deno.test(`hot: ${type.name} accessors read what capnp-es wrote`, () => {
    fc.assert(
      fc.property(arbStruct(model, type), (v) => {
        const bytes = encodeWithCapnpEs(type, v);
        const pos = new HotStruct();
        deepStrictEqual(hotOpen(new DataView(bytes.buffer), pos), 0);
        deepStrictEqual(hotRead(type, accessors(type), pos, []), v);
      }),
      { seed: 0x40, numRuns: 200 },
    );
  });
  Deno.test(`hot: capnp-es reads what ${type.name} accessors wrote`, () => {
    const buf = new Uint8Array(4096);
    fc.assert(
      fc.property(arbStruct(model, type), (v) => {
        const w = new HotWriter(buf), pos = new HotStruct();
        deepStrictEqual(accessors(type).initRoot(w, pos), 0);
        hotWrite(w, type, accessors(type), pos, [], v);
        const n = w.finish();
        deepStrictEqual(decodeWithCapnpEs(type, buf.slice(0, n)), v);
      }),
      { seed: 0x41, numRuns: 200 },
    );
  });
}

Deno.test("hot: offsets of SocketCall match the schema layout", () => {
  // A spot check against the layout capnp computed (schema/gen/model.ts), by hand-readable
  // numbers: socketId is the first UInt32 of the data section, the union tag follows.
  const sc = model.structs.find((s) => s.name === "SocketCall")!;
  deepStrictEqual([sc.dataWords, sc.pointerCount], [
    hot.SocketCallHot.DATA_WORDS,
    hot.SocketCallHot.POINTERS,
  ]);
  const buf = new Uint8Array(256), w = new HotWriter(buf), pos = new HotStruct();
  hot.SocketCallHot.initRoot(w, pos);
  hot.SocketCallHot.setSocketId(pos, 0x01020304);
  deepStrictEqual(Array.from(buf.slice(pos.data, pos.data + 4)), [4, 3, 2, 1]);
});

Deno.test("hot: garbage and truncated messages never make accessors throw", () => {
  const types = hotTypes;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: types.length - 1 }).chain((i) =>
        fc.tuple(fc.constant(types[i]), arbStruct(model, types[i]))
      ),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 8 }),
      fc.nat(),
      ([type, v], flips, cut) => {
        const good = encodeWithCapnpEs(type, v);
        const bytes = good.slice(0, good.length - (cut % 9 === 0 ? cut % good.length : 0));
        for (const [at, b] of flips) if (bytes.length) bytes[at % bytes.length] = b;
        const pos = new HotStruct();
        if (hotOpen(new DataView(bytes.buffer), pos) !== 0) return;
        try {
          hotRead(type, accessors(type), pos, []);
        } catch (e) {
          // The test's own mismatch reports are fine; a RangeError from DataView is not.
          if (e instanceof RangeError) throw e;
        }
      },
    ),
    { seed: 0x42, numRuns: 2000 },
  );
});

/**
 * Test helpers: plain values of any schema struct, random ones (fast-check, from the schema
 * model), and writing/reading them through the capnp-es generated classes.
 *
 * A struct value is an object keyed by field name; a union's active member is named by
 * `$which` (and its value sits under its own name; Void members hold null). Int64/UInt64 are
 * bigint, Data is Uint8Array, lists are arrays. Struct fields are always present.
 */
import fc from "fast-check";
import { Message } from "capnp-es";
import type { FieldModel, SchemaModel, StructModel, TypeRef } from "./codegen/model.ts";
import { enumById, structById } from "./codegen/model.ts";
import { model } from "./gen/model.ts";
import * as common from "./gen/common.ts";
import * as naming from "./gen/naming.ts";
import * as socket from "./gen/socket.ts";
import * as registry from "./gen/registry.ts";
import * as nic from "./gen/nic.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
export type Value = Record<string, unknown>;

const classes: Record<string, Any> = { ...common, ...naming, ...socket, ...registry, ...nic };

/** The capnp-es class of a top-level struct. */
export function classOf(s: StructModel): Any {
  const c = classes[s.name.replace(/\./g, "_")];
  if (!c) throw new Error(`No capnp-es class for ${s.name}`);
  return c;
}

/** Every top-level (non-group) struct: the message types. */
export const messageTypes: StructModel[] = model.structs.filter((s) => !s.isGroup);

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

function arbType(m: SchemaModel, t: TypeRef, depth: number): fc.Arbitrary<unknown> {
  switch (t.kind) {
    case "void":
      return fc.constant(null);
    case "bool":
      return fc.boolean();
    case "int8":
      return fc.integer({ min: -128, max: 127 });
    case "uint8":
      return fc.integer({ min: 0, max: 255 });
    case "int16":
      return fc.integer({ min: -32768, max: 32767 });
    case "uint16":
      return fc.integer({ min: 0, max: 65535 });
    case "int32":
      return fc.integer();
    case "uint32":
      return fc.nat({ max: 0xffffffff });
    case "int64":
      return fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
    case "uint64":
      return fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    case "float32":
      return fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => x === 0 ? 0 : x);
    case "float64":
      return fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x === 0 ? 0 : x);
    case "text":
      return fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => s.replace(/\0/g, ""));
    case "data":
      return fc.uint8Array({ maxLength: 20 });
    case "enum":
      return fc.nat({ max: enumById(m, t.id).enumerants.length - 1 });
    case "struct":
      return arbStruct(m, structById(m, t.id), depth + 1);
    case "list":
      return fc.array(arbType(m, t.element, depth), { maxLength: depth > 3 ? 0 : 4 });
  }
}

function arbField(m: SchemaModel, f: FieldModel, depth: number): fc.Arbitrary<unknown> {
  return f.group ? arbStruct(m, structById(m, f.group), depth) : arbType(m, f.slot!.type, depth);
}

/** Random values of struct s (lists are short, recursion is bounded). */
export function arbStruct(m: SchemaModel, s: StructModel, depth = 0): fc.Arbitrary<Value> {
  const plain: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of s.fields) if (f.discriminant === null) plain[f.name] = arbField(m, f, depth);
  const base = fc.record(plain).map((r) => ({ ...r }) as Value);
  const members = s.fields.filter((f) => f.discriminant !== null);
  if (members.length === 0) return base;
  const union = fc.oneof(
    ...members.map((f) =>
      arbField(m, f, depth).map((v) => ({ $which: f.name, [f.name]: v }) as Value)
    ),
  );
  return fc.tuple(base, union).map(([a, b]) => ({ ...a, ...b }));
}

function writeField(m: SchemaModel, obj: Any, f: FieldModel, v: unknown, inUnion: boolean) {
  const init = `_init${cap(f.name)}`;
  if (f.group) {
    writeStruct(m, inUnion ? obj[init]() : obj[f.name], structById(m, f.group), v as Value);
    return;
  }
  const t = f.slot!.type;
  switch (t.kind) {
    case "void":
      obj[f.name] = true;
      return;
    case "data": {
      const d = v as Uint8Array;
      obj[init](d.length).copyBuffer(d);
      return;
    }
    case "struct":
      writeStruct(m, obj[init](), structById(m, t.id), v as Value);
      return;
    case "list": {
      const items = v as unknown[];
      const list = obj[init](items.length);
      items.forEach((x, i) => {
        if (t.element.kind === "struct") {
          writeStruct(m, list.get(i), structById(m, t.element.id), x as Value);
        } else if (t.element.kind === "data" || t.element.kind === "list") {
          throw new Error(`Cannot write list of ${t.element.kind} in ${f.name}`);
        } else list.set(i, x);
      });
      return;
    }
    default:
      obj[f.name] = v;
  }
}

/** Writes value v into the capnp-es struct obj of type s. */
export function writeStruct(m: SchemaModel, obj: Any, s: StructModel, v: Value) {
  for (const f of s.fields) if (f.discriminant === null) writeField(m, obj, f, v[f.name], false);
  if (s.discriminantOffset !== null) {
    const f = s.fields.find((x) => x.name === v.$which)!;
    writeField(m, obj, f, v[f.name], true);
  }
}

function readField(m: SchemaModel, obj: Any, f: FieldModel): unknown {
  if (f.group) return readStruct(m, obj[f.name], structById(m, f.group));
  const t = f.slot!.type;
  switch (t.kind) {
    case "void":
      return null;
    case "data":
      return new Uint8Array(obj[f.name].toUint8Array());
    case "struct":
      return readStruct(m, obj[f.name], structById(m, t.id));
    case "list": {
      const list = obj[f.name];
      const out: unknown[] = [];
      for (let i = 0; i < list.length; i++) {
        out.push(
          t.element.kind === "struct"
            ? readStruct(m, list.get(i), structById(m, t.element.id))
            : list.get(i),
        );
      }
      return out;
    }
    default:
      return obj[f.name];
  }
}

/** Reads the capnp-es struct obj of type s as a plain value. */
export function readStruct(m: SchemaModel, obj: Any, s: StructModel): Value {
  const out: Value = {};
  for (const f of s.fields) if (f.discriminant === null) out[f.name] = readField(m, obj, f);
  if (s.discriminantOffset !== null) {
    const w = obj.which();
    const f = s.fields.find((x) => x.discriminant === w);
    if (!f) throw new Error(`${s.name}: unknown union member ${w}`);
    out.$which = f.name;
    out[f.name] = readField(m, obj, f);
  }
  return out;
}

/** Encodes v as a framed message of type s with capnp-es. */
export function encodeWithCapnpEs(s: StructModel, v: Value): Uint8Array {
  const msg = new Message();
  writeStruct(model, msg.initRoot(classOf(s)), s, v);
  return new Uint8Array(msg.toArrayBuffer());
}

/** Decodes a framed message of type s with capnp-es into a plain value. */
export function decodeWithCapnpEs(s: StructModel, bytes: Uint8Array): Value {
  const msg = new Message(bytes, false);
  return readStruct(model, msg.getRoot(classOf(s)), s);
}

function fromJsonType(m: SchemaModel, t: TypeRef, j: unknown): unknown {
  switch (t.kind) {
    case "void":
      return null;
    case "int64":
    case "uint64":
      return BigInt(j as string);
    case "float32":
      return Math.fround(j as number);
    case "data":
      return new Uint8Array(j as number[]);
    case "struct":
      return fromJson(m, structById(m, t.id), j as Value);
    case "list":
      return (j as unknown[]).map((x) => fromJsonType(m, t.element, x));
    default:
      return j;
  }
}

function fromJsonField(m: SchemaModel, f: FieldModel, j: unknown): unknown {
  return f.group
    ? fromJson(m, structById(m, f.group), j as Value)
    : fromJsonType(m, f.slot!.type, j);
}

/** Converts the C driver's JSON dump of a struct (joyride_capnp_dump.c) into a plain value. */
export function fromJson(m: SchemaModel, s: StructModel, j: Value): Value {
  const out: Value = {};
  for (const f of s.fields) {
    if (f.discriminant === null) out[f.name] = fromJsonField(m, f, j[f.name]);
  }
  if (s.discriminantOffset !== null) {
    const f = s.fields.find((x) => x.name === j.$which);
    if (!f) throw new Error(`${s.name}: the C dump names no known union member`);
    out.$which = f.name;
    out[f.name] = fromJsonField(m, f, j[f.name]);
  }
  return out;
}

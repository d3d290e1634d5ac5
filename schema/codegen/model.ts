/**
 * A plain, JSON-able model of the schema set, built from the CodeGeneratorRequest that
 * `capnp compile -o-` writes. The C generator, the hot-accessor generator and the tests all
 * work from this model, so no offset is kept by hand anywhere.
 */
import { Message } from "capnp-es";
import {
  CodeGeneratorRequest,
  Field,
  type Node,
  Node_Which,
  type Type,
  Type_Which,
} from "capnp-es/capnp/schema";

/** Primitive kinds that live in a struct's data section. */
export type DataKind =
  | "void"
  | "bool"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "float32"
  | "float64";

/** A field's type. Enum and struct types refer to nodes by id (hex string). */
export type TypeRef =
  | { kind: DataKind }
  | { kind: "text" | "data" }
  | { kind: "enum"; id: string }
  | { kind: "struct"; id: string }
  | { kind: "list"; element: TypeRef };

/** One field of a struct or group. */
export interface FieldModel {
  name: string;
  /** Discriminant value when the field is a union member, else null. */
  discriminant: number | null;
  /** A slot lives at `offset` (in units of its own size; pointer index for pointers). */
  slot?: { offset: number; type: TypeRef };
  /** A group is laid out in the parent's sections; its fields are in node `group`. */
  group?: string;
}

/** A struct or a group. Groups share their parent's data and pointer sections. */
export interface StructModel {
  id: string;
  /** Scoped name: "SocketCall", "SocketCall.call.setsockopt". */
  name: string;
  file: string;
  isGroup: boolean;
  dataWords: number;
  pointerCount: number;
  /** Union discriminant, in 16-bit units of the data section; null when no union. */
  discriminantOffset: number | null;
  fields: FieldModel[];
  doc: string;
}

export interface EnumModel {
  id: string;
  name: string;
  file: string;
  enumerants: string[];
}

export interface SchemaModel {
  files: { name: string; id: string }[];
  structs: StructModel[];
  enums: EnumModel[];
}

const dataKinds: Record<number, DataKind> = {
  [Type_Which.VOID]: "void",
  [Type_Which.BOOL]: "bool",
  [Type_Which.INT8]: "int8",
  [Type_Which.INT16]: "int16",
  [Type_Which.INT32]: "int32",
  [Type_Which.INT64]: "int64",
  [Type_Which.UINT8]: "uint8",
  [Type_Which.UINT16]: "uint16",
  [Type_Which.UINT32]: "uint32",
  [Type_Which.UINT64]: "uint64",
  [Type_Which.FLOAT32]: "float32",
  [Type_Which.FLOAT64]: "float64",
};

const hex = (id: bigint): string => id.toString(16).padStart(16, "0");

function typeRef(t: Type, where: string): TypeRef {
  const w = t.which();
  if (w in dataKinds) return { kind: dataKinds[w] };
  switch (w) {
    case Type_Which.TEXT:
      return { kind: "text" };
    case Type_Which.DATA:
      return { kind: "data" };
    case Type_Which.ENUM:
      return { kind: "enum", id: hex(t.enum.typeId) };
    case Type_Which.STRUCT:
      return { kind: "struct", id: hex(t.struct.typeId) };
    case Type_Which.LIST:
      return { kind: "list", element: typeRef(t.list.elementType, where) };
  }
  throw new Error(`Cannot model ${where}: type ${w} (interface/AnyPointer) is not supported`);
}

/** Decodes a CodeGeneratorRequest and builds the model of its requested files. */
export function buildModel(request: Uint8Array): SchemaModel {
  const req = new Message(request, false).getRoot(CodeGeneratorRequest);
  const nodes = new Map<string, Node>();
  for (const n of req.nodes) nodes.set(hex(n.id), n);
  const model: SchemaModel = { files: [], structs: [], enums: [] };
  const scopedName = (n: Node) => n.displayName.slice(n.displayNamePrefixLength);
  const fullName = (n: Node): string => {
    const parts: string[] = [];
    let cur: Node | undefined = n;
    while (cur && cur.which() !== Node_Which.FILE) {
      parts.unshift(scopedName(cur));
      cur = nodes.get(hex(cur.scopeId));
    }
    return parts.join(".");
  };
  const visit = (n: Node, file: string) => {
    const w = n.which();
    if (w === Node_Which.STRUCT) {
      const s = n.struct;
      const fields: FieldModel[] = [];
      for (const f of s.fields) {
        const disc = f.discriminantValue === Field.NO_DISCRIMINANT ? null : f.discriminantValue;
        const where = `${fullName(n)}.${f.name}`;
        if (f._isGroup) {
          fields.push({ name: f.name, discriminant: disc, group: hex(f.group.typeId) });
        } else {
          if (f.slot.hadExplicitDefault) {
            throw new Error(`Cannot model ${where}: explicit default values are not supported`);
          }
          fields.push({
            name: f.name,
            discriminant: disc,
            slot: { offset: f.slot.offset, type: typeRef(f.slot.type, where) },
          });
        }
        if (f._isGroup) visit(nodes.get(hex(f.group.typeId))!, file);
      }
      model.structs.push({
        id: hex(n.id),
        name: fullName(n),
        file,
        isGroup: s.isGroup,
        dataWords: s.dataWordCount,
        pointerCount: s.pointerCount,
        discriminantOffset: s.discriminantCount > 0 ? s.discriminantOffset : null,
        fields,
        doc: "",
      });
    } else if (w === Node_Which.ENUM) {
      model.enums.push({
        id: hex(n.id),
        name: fullName(n),
        file,
        enumerants: Array.from(n.enum.enumerants, (e) => e.name),
      });
    }
    for (const nested of n.nestedNodes) {
      const child = nodes.get(hex(nested.id));
      if (child) visit(child, file);
    }
  };
  for (const rf of req.requestedFiles) {
    model.files.push({ name: rf.filename, id: hex(rf.id) });
    visit(nodes.get(hex(rf.id))!, rf.filename);
  }
  return model;
}

/** Looks a struct up by id; throws when missing. */
export function structById(m: SchemaModel, id: string): StructModel {
  const s = m.structs.find((x) => x.id === id);
  if (!s) throw new Error(`Cannot find struct ${id} in the schema model`);
  return s;
}

/** Looks an enum up by id; throws when missing. */
export function enumById(m: SchemaModel, id: string): EnumModel {
  const e = m.enums.find((x) => x.id === id);
  if (!e) throw new Error(`Cannot find enum ${id} in the schema model`);
  return e;
}

/** Size in bits of a data-section kind. */
export const bitSize: Record<DataKind | "enum", number> = {
  void: 0,
  bool: 1,
  int8: 8,
  uint8: 8,
  int16: 16,
  uint16: 16,
  enum: 16,
  int32: 32,
  uint32: 32,
  float32: 32,
  int64: 64,
  uint64: 64,
  float64: 64,
};

/** Whether a type lives in the pointer section. */
export function isPointer(t: TypeRef): boolean {
  return t.kind === "text" || t.kind === "data" || t.kind === "struct" || t.kind === "list";
}

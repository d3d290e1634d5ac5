/**
 * The hot-accessor generator: for the structs of the hot files (socket calls, replies and
 * readiness events, and the common types they use) emits schema/gen/hot.ts, plain functions
 * reading and writing fields through DataView at offsets taken from the schema model.
 */
import { type FieldModel, type SchemaModel, structById, type StructModel } from "./model.ts";

/** Files whose structs get hot accessors. */
export const hotFiles = ["common.capnp", "socket.capnp"];

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const camel = (parts: string[]) => parts[0] + parts.slice(1).map(cap).join("");
const upper = (parts: string[]) =>
  parts.map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("_");

interface Ctx {
  m: SchemaModel;
  out: string[];
}

const getters: Record<string, [string, number, string]> = {
  int8: ["getInt8", 1, "number"],
  uint8: ["getUint8", 1, "number"],
  int16: ["getInt16", 2, "number"],
  uint16: ["getUint16", 2, "number"],
  enum: ["getUint16", 2, "number"],
  int32: ["getInt32", 4, "number"],
  uint32: ["getUint32", 4, "number"],
  float32: ["getFloat32", 4, "number"],
  int64: ["getBigInt64", 8, "bigint"],
  uint64: ["getBigUint64", 8, "bigint"],
  float64: ["getFloat64", 8, "number"],
};

/** Statements that set the discriminants making `path` the active union member chain. */
type Disc = { offset: number; value: number };

function emitStruct(c: Ctx, top: StructModel) {
  const members: string[] = [];
  members.push(`  DATA_WORDS: ${top.dataWords},`, `  POINTERS: ${top.pointerCount},`);
  members.push(
    `  /** Starts a message with this struct as root. */`,
    `  initRoot(w: HotWriter, out: HotStruct): number {`,
    `    return w.root(${top.dataWords}, ${top.pointerCount}, out);`,
    `  },`,
  );
  const walk = (s: StructModel, prefix: string[], discs: Disc[]) => {
    if (s.discriminantOffset !== null) {
      const off = s.discriminantOffset * 2;
      const name = camel([...prefix, "which"]);
      members.push(
        `  /** Active member of the ${prefix.length ? prefix.join(".") : "unnamed"} union. */`,
        `  ${name}(s: HotStruct): number {`,
        `    return ${off + 2} <= s.dataBytes ? s.dv.getUint16(s.data + ${off}, true) : 0;`,
        `  },`,
      );
      for (const f of s.fields) {
        if (f.discriminant !== null) {
          members.push(`  ${upper([...prefix, f.name])}: ${f.discriminant},`);
        }
      }
    }
    for (const f of s.fields) emitField(c, s, f, prefix, discs, members, walk);
  };
  walk(top, [], []);
  c.out.push(
    `/** Fixed-offset accessors of ${top.name} (${top.file}). */`,
    `export const ${top.name}Hot = {`,
    ...members,
    `};`,
    "",
  );
}

function discWrites(discs: Disc[]): string[] {
  return discs.map((d) => `    s.dv.setUint16(s.data + ${d.offset * 2}, ${d.value}, true);`);
}

function emitField(
  c: Ctx,
  s: StructModel,
  f: FieldModel,
  prefix: string[],
  parentDiscs: Disc[],
  members: string[],
  walk: (s: StructModel, prefix: string[], discs: Disc[]) => void,
) {
  const discs = f.discriminant !== null
    ? [...parentDiscs, { offset: s.discriminantOffset!, value: f.discriminant }]
    : parentDiscs;
  const path = [...prefix, f.name];
  const get = camel(path), set = camel(["set", ...path]);
  if (f.group) {
    if (f.discriminant !== null) {
      members.push(`  ${set}(s: HotStruct): void {`, ...discWrites(discs), `  },`);
    }
    walk(structById(c.m, f.group), path, discs);
    return;
  }
  const { offset, type: t } = f.slot!;
  switch (t.kind) {
    case "void":
      if (discs.length) {
        members.push(`  ${set}(s: HotStruct): void {`, ...discWrites(discs), `  },`);
      }
      return;
    case "bool": {
      const byte = offset >> 3, bit = offset & 7;
      members.push(
        `  ${get}(s: HotStruct): boolean {`,
        `    return ${byte} < s.dataBytes && (s.dv.getUint8(s.data + ${byte}) & ${
          1 << bit
        }) !== 0;`,
        `  },`,
        `  ${set}(s: HotStruct, v: boolean): void {`,
        ...discWrites(discs),
        `    const b = s.dv.getUint8(s.data + ${byte});`,
        `    s.dv.setUint8(s.data + ${byte}, v ? b | ${1 << bit} : b & ${0xff ^ (1 << bit)});`,
        `  },`,
      );
      return;
    }
    case "text":
      members.push(
        `  ${get}(s: HotStruct): string {`,
        `    return hotText(s, ${offset});`,
        `  },`,
        `  ${set}(w: HotWriter, s: HotStruct, v: string): number {`,
        ...discWrites(discs),
        `    return w.text(s, ${offset}, v);`,
        `  },`,
      );
      return;
    case "data":
      members.push(
        `  /** A view into the message; empty when null, undefined when malformed. */`,
        `  ${get}(s: HotStruct): Uint8Array | undefined {`,
        `    return hotBytes(s, ${offset}, false);`,
        `  },`,
        `  ${set}(w: HotWriter, s: HotStruct, v: Uint8Array): number {`,
        ...discWrites(discs),
        `    return w.bytes(s, ${offset}, v, false);`,
        `  },`,
      );
      return;
    case "struct": {
      const ts = structById(c.m, t.id);
      members.push(
        `  /** Locates the ${ts.name} into out: 0 found, 1 null, < 0 malformed. */`,
        `  ${get}(s: HotStruct, out: HotStruct): number {`,
        `    return hotStructField(s, ${offset}, out);`,
        `  },`,
        `  ${camel(["init", ...path])}(w: HotWriter, s: HotStruct, out: HotStruct): number {`,
        ...discWrites(discs),
        `    return w.struct(s, ${offset}, ${ts.dataWords}, ${ts.pointerCount}, out);`,
        `  },`,
      );
      return;
    }
    case "list":
      if (t.element.kind === "struct") {
        const es = structById(c.m, t.element.id);
        members.push(
          `  /** Locates the list into out: 0 found, 1 null, < 0 malformed. */`,
          `  ${get}(s: HotStruct, out: HotList): number {`,
          `    return hotStructListField(s, ${offset}, out);`,
          `  },`,
          `  /** Allocates n elements; fill them through hotListElement(out, i, …). */`,
          `  ${
            camel(["init", ...path])
          }(w: HotWriter, s: HotStruct, n: number, out: HotList): number {`,
          ...discWrites(discs),
          `    return w.structList(s, ${offset}, n, ${es.dataWords}, ${es.pointerCount}, out);`,
          `  },`,
        );
      }
      return;
  }
  const [g, size, ty] = getters[t.kind];
  const byte = offset * size;
  const zero = ty === "bigint" ? "0n" : "0";
  members.push(
    `  ${get}(s: HotStruct): ${ty} {`,
    `    return ${byte + size} <= s.dataBytes ? s.dv.${g}(s.data + ${byte}, true) : ${zero};`,
    `  },`,
    `  ${set}(s: HotStruct, v: ${ty}): void {`,
    ...discWrites(discs),
    `    s.dv.${g.replace("get", "set")}(s.data + ${byte}, v, true);`,
    `  },`,
  );
}

/** Generates the text of schema/gen/hot.ts. */
export function generateHot(m: SchemaModel): string {
  const c: Ctx = { m, out: [] };
  for (const s of m.structs) {
    if (!s.isGroup && hotFiles.includes(s.file)) emitStruct(c, s);
  }
  const body = c.out.join("\n");
  // Import only what the accessors use (deno lint rejects unused imports).
  const names = ["hotBytes", "HotList", "hotStructField", "hotStructListField", "hotText"]
    .filter((n) => new RegExp(`\\b${n}\\b`).test(body));
  const typeOnly = new Set(["HotList", "HotWriter"]);
  const imports = ["HotStruct", "HotWriter", ...names].sort((a, b) =>
    a.toLowerCase().localeCompare(b.toLowerCase())
  ).map((n) => `${typeOnly.has(n) ? "type " : ""}${n}`);
  return [
    "// Generated by scripts/gen.ts from the schema/ files. Do not edit.",
    "// Fixed-offset accessors: getters take a located struct (HotStruct), setters write in place.",
    "// Setting a union member also sets its discriminant(s), like capnp-es does.",
    `import { ${imports.join(", ")} } from "../hot_runtime.ts";`,
    "",
    "export { HotStruct };",
    "",
    body,
  ].join("\n");
}

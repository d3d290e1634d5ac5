/**
 * The C generator: from the schema model, emits native/gen/joyride_capnp.h and .c — for each
 * struct a plain C struct and encode/decode functions over caller-supplied buffers (single
 * segment, bounds-checked, no allocation, no C++). Offsets come from the model only.
 */
import {
  bitSize,
  enumById,
  type FieldModel,
  isPointer,
  type SchemaModel,
  structById,
  type StructModel,
  type TypeRef,
} from "./model.ts";

const cKeywords = new Set(
  ("auto break case char const continue default do double else enum extern float for goto if " +
    "inline int long register restrict return short signed sizeof static struct switch typedef " +
    "union unsigned void volatile while bool true false errno").split(" "),
);

/** camelCase → snake_case. */
export function snake(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** A field's C member name: snake_case, with a trailing underscore for C keywords. */
export function cField(name: string): string {
  const s = snake(name);
  return cKeywords.has(s) ? `${s}_` : s;
}

/** The C type name of a struct or group: "SocketCall.call" → "jr_SocketCall_call". */
export function cType(name: string): string {
  return `jr_${name.replace(/\./g, "_")}`;
}

/** Macro prefix of a struct, group or enum: "SocketCall.call" → "JR_SOCKET_CALL_CALL". */
export function cMacro(name: string): string {
  return `JR_${name.split(".").map((p) => snake(p).toUpperCase()).join("_")}`;
}

const scalarC: Record<string, string> = {
  bool: "bool",
  int8: "int8_t",
  int16: "int16_t",
  int32: "int32_t",
  int64: "int64_t",
  uint8: "uint8_t",
  uint16: "uint16_t",
  uint32: "uint32_t",
  uint64: "uint64_t",
  float32: "float",
  float64: "double",
};

function elemC(m: SchemaModel, t: TypeRef, where: string): string {
  switch (t.kind) {
    case "text":
      return "jr_capnp_text";
    case "data":
      return "jr_capnp_data";
    case "enum":
      return cType(enumById(m, t.id).name);
    case "struct":
      return cType(structById(m, t.id).name);
    case "list":
      throw new Error(`Cannot generate C for ${where}: lists of lists are not supported`);
    case "void":
      throw new Error(`Cannot generate C for ${where}: lists of Void are not supported`);
    default:
      return scalarC[t.kind];
  }
}

/** Element size code of a list (Cap'n Proto encoding spec). */
function listCode(t: TypeRef): number {
  switch (t.kind) {
    case "bool":
      return 1;
    case "int8":
    case "uint8":
      return 2;
    case "int16":
    case "uint16":
    case "enum":
      return 3;
    case "int32":
    case "uint32":
    case "float32":
      return 4;
    case "int64":
    case "uint64":
    case "float64":
      return 5;
    case "text":
    case "data":
      return 6;
    case "struct":
      return 7;
  }
  throw new Error(`No list encoding for ${t.kind}`);
}

const runtimeH = `
/* Error codes (negative). Decoding never reads outside the buffer it is given. */
#define JR_CAPNP_OK 0
#define JR_CAPNP_ETRUNC (-1)   /* buffer shorter than its segment table says */
#define JR_CAPNP_ESEGMENT (-2) /* more than one segment, or a far pointer */
#define JR_CAPNP_EBOUNDS (-3)  /* a pointer points outside the segment */
#define JR_CAPNP_ETYPE (-4)    /* wrong pointer kind or list element size */
#define JR_CAPNP_ETEXT (-5)    /* Text not NUL-terminated */
#define JR_CAPNP_EDEPTH (-6)   /* nesting deeper than JR_CAPNP_MAX_DEPTH */
#define JR_CAPNP_ELIMIT (-7)   /* traversal limit exceeded (pointer amplification) */
#define JR_CAPNP_ESPACE (-8)   /* arena or output buffer too small */
#define JR_CAPNP_EINVAL (-9)   /* value cannot be encoded (list too long, NULL items) */
#define JR_CAPNP_MAX_DEPTH 32

/* Text and Data decode as views into the input buffer (zero copy). ptr is NULL for a null
 * pointer (encoded back as null) and non-NULL for a present, possibly empty, value. */
typedef struct jr_capnp_text { const char *ptr; uint32_t len; } jr_capnp_text;
typedef struct jr_capnp_data { const uint8_t *ptr; uint32_t len; } jr_capnp_data;

/* Caller-supplied memory for decoded lists (element arrays). A list decodes as
 * { items, count }: items is NULL for a null pointer, non-NULL for a present list (even an
 * empty one); the encoder writes a null pointer for { NULL, 0 }. */
typedef struct jr_capnp_arena { uint8_t *base; size_t cap; size_t used; } jr_capnp_arena;

/* A human-readable name for an error code. */
const char *jr_capnp_strerror(int err);

/* Decodes a message of the struct type type_id and encodes it again into out (tests). */
int jr_capnp_reencode(uint64_t type_id, const void *in, size_t in_len, void *out, size_t cap,
                      size_t *out_len, jr_capnp_arena *arena);
`;

const runtimeC = `
const char *jr_capnp_strerror(int err) {
  switch (err) {
  case JR_CAPNP_OK: return "ok";
  case JR_CAPNP_ETRUNC: return "message truncated";
  case JR_CAPNP_ESEGMENT: return "multi-segment messages and far pointers are not supported";
  case JR_CAPNP_EBOUNDS: return "pointer out of bounds";
  case JR_CAPNP_ETYPE: return "unexpected pointer or element type";
  case JR_CAPNP_ETEXT: return "text not NUL-terminated";
  case JR_CAPNP_EDEPTH: return "nesting too deep";
  case JR_CAPNP_ELIMIT: return "traversal limit exceeded";
  case JR_CAPNP_ESPACE: return "buffer too small";
  case JR_CAPNP_EINVAL: return "value cannot be encoded";
  default: return "unknown error";
  }
}

/* ---- decoding ---- */
typedef struct dctx { const uint8_t *seg; uint32_t words; int64_t budget; jr_capnp_arena *arena; } dctx;
/* A struct in the segment: data section at word \`data\`, then \`pc\` pointers. */
typedef struct sview { uint32_t data; uint16_t dw; uint16_t pc; } sview;
/* A list in the segment: elements from word \`start\` (for composite lists, after the tag). */
typedef struct lview { uint32_t start; uint32_t count; unsigned code; uint16_t dw; uint16_t pc; } lview;

static uint64_t ld_le(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}
static void st_le(uint8_t *p, unsigned n, uint64_t v) {
  for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
/* A data field of n bytes at byte offset off; 0 when beyond the data section (older writer). */
static uint64_t rd_data(const dctx *c, sview v, uint32_t off, unsigned n) {
  if ((uint64_t)off + n > (uint64_t)v.dw * 8) return 0;
  return ld_le(c->seg + (size_t)v.data * 8 + off, n);
}
static bool rd_bit(const dctx *c, sview v, uint32_t bit) {
  if (bit >= (uint32_t)v.dw * 64) return false;
  return (c->seg[(size_t)v.data * 8 + bit / 8] >> (bit % 8)) & 1;
}
static float bits_f32(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static double bits_f64(uint64_t b) { double f; memcpy(&f, &b, 8); return f; }
static uint32_t f32_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static uint64_t f64_bits(double f) { uint64_t b; memcpy(&b, &f, 8); return b; }

static int charge(dctx *c, uint64_t words) {
  c->budget -= (int64_t)(words ? words : 1);
  return c->budget < 0 ? JR_CAPNP_ELIMIT : JR_CAPNP_OK;
}
/* Word index p holds a pointer; *w gets it, *target its target word (may be out of range). */
static int ptr_target(const dctx *c, uint32_t p, uint64_t *w, int64_t *target) {
  *w = ld_le(c->seg + (size_t)p * 8, 8);
  if (*w == 0) return 1;
  unsigned kind = (unsigned)(*w & 3);
  if (kind == 2) return JR_CAPNP_ESEGMENT;
  if (kind == 3) return JR_CAPNP_ETYPE;
  int32_t off = (int32_t)((uint32_t)*w & 0xfffffffcu) / 4;
  *target = (int64_t)p + 1 + off;
  return 0;
}
/* Pointer slot i of struct v (null when beyond the pointer section). */
static int ptr_index(sview v, uint32_t i, uint32_t *p) {
  if (i >= v.pc) return 1;
  *p = v.data + v.dw + i;
  return 0;
}
/* Reads a struct pointer. Returns 1 for null, 0 for a struct, <0 on error. */
static int rd_struct(dctx *c, uint32_t p, sview *out) {
  uint64_t w; int64_t t;
  int r = ptr_target(c, p, &w, &t);
  if (r != 0) return r;
  if ((w & 3) != 0) return JR_CAPNP_ETYPE;
  uint16_t dw = (uint16_t)(w >> 32), pc = (uint16_t)(w >> 48);
  if (t < 0 || t + dw + pc > (int64_t)c->words) return JR_CAPNP_EBOUNDS;
  out->data = (uint32_t)t; out->dw = dw; out->pc = pc;
  return charge(c, (uint64_t)dw + pc);
}
/* Reads a list pointer whose element size code must be \`code\`. 1: null, 0: list, <0: error. */
static int rd_list(dctx *c, uint32_t p, unsigned code, lview *out) {
  static const unsigned bits[8] = {0, 1, 8, 16, 32, 64, 64, 0};
  uint64_t w; int64_t t;
  int r = ptr_target(c, p, &w, &t);
  if (r != 0) return r;
  if ((w & 3) != 1) return JR_CAPNP_ETYPE;
  unsigned es = (unsigned)(w >> 32) & 7;
  uint32_t n = (uint32_t)(w >> 35);
  if (es != code) return JR_CAPNP_ETYPE;
  if (t < 0) return JR_CAPNP_EBOUNDS;
  if (es == 7) {
    if (t + 1 + (int64_t)n > (int64_t)c->words) return JR_CAPNP_EBOUNDS;
    uint64_t tag = ld_le(c->seg + (size_t)t * 8, 8);
    if ((tag & 3) != 0) return JR_CAPNP_ETYPE;
    uint32_t count = (uint32_t)tag >> 2;
    uint16_t dw = (uint16_t)(tag >> 32), pc = (uint16_t)(tag >> 48);
    if ((uint64_t)count * ((uint64_t)dw + pc) > n) return JR_CAPNP_EBOUNDS;
    out->start = (uint32_t)t + 1; out->count = count; out->code = es; out->dw = dw; out->pc = pc;
    return charge(c, (uint64_t)n > count ? n : count);
  }
  uint64_t nwords = ((uint64_t)n * bits[es] + 63) / 64;
  if ((uint64_t)t + nwords > c->words) return JR_CAPNP_EBOUNDS;
  out->start = (uint32_t)t; out->count = n; out->code = es; out->dw = 0; out->pc = 0;
  return charge(c, nwords);
}
/* items of a present but empty list (never dereferenced): null and [] differ. */
static uint64_t empty_list[1];
static void *arena_alloc(dctx *c, size_t n, size_t size) {
  jr_capnp_arena *a = c->arena;
  if (a == NULL || n == 0) return NULL;
  if (n > (SIZE_MAX / 2) / size) return NULL;
  size_t start = (a->used + 7) & ~(size_t)7, bytes = n * size;
  if (start > a->cap || bytes > a->cap - start) return NULL;
  a->used = start + bytes;
  memset(a->base + start, 0, bytes);
  return a->base + start;
}
/* Text (needs NUL) and Data: byte lists viewed in place. */
static int rd_bytes(dctx *c, uint32_t p, bool text, const uint8_t **ptr, uint32_t *len) {
  lview l;
  int r = rd_list(c, p, 2, &l);
  *ptr = NULL; *len = 0;
  if (r == 1) return 0;
  if (r < 0) return r;
  if (text) {
    if (l.count == 0 || c->seg[(size_t)l.start * 8 + l.count - 1] != 0) return JR_CAPNP_ETEXT;
    l.count--;
  }
  *ptr = c->seg + (size_t)l.start * 8; /* non-NULL even when empty: null and "" differ */
  *len = l.count;
  return 0;
}
static int rd_text(dctx *c, sview v, uint32_t i, jr_capnp_text *out) {
  uint32_t p; const uint8_t *ptr;
  out->ptr = NULL; out->len = 0;
  if (ptr_index(v, i, &p)) return 0;
  int r = rd_bytes(c, p, true, &ptr, &out->len);
  out->ptr = (const char *)ptr;
  return r;
}
static int rd_blob(dctx *c, sview v, uint32_t i, jr_capnp_data *out) {
  uint32_t p;
  out->ptr = NULL; out->len = 0;
  if (ptr_index(v, i, &p)) return 0;
  return rd_bytes(c, p, false, &out->ptr, &out->len);
}
/* Opens a framed single-segment message. */
static int open_msg(dctx *c, const void *buf, size_t len, jr_capnp_arena *arena) {
  const uint8_t *b = buf;
  if (b == NULL || len < 8) return JR_CAPNP_ETRUNC;
  if (ld_le(b, 4) != 0) return JR_CAPNP_ESEGMENT;
  uint64_t words = ld_le(b + 4, 4);
  if (words == 0) return JR_CAPNP_EBOUNDS;
  if (words > (len - 8) / 8) return JR_CAPNP_ETRUNC;
  c->seg = b + 8; c->words = (uint32_t)words; c->arena = arena;
  c->budget = (int64_t)words * 8 + 64;
  return 0;
}

/* ---- encoding ---- */
typedef struct ectx { uint8_t *seg; uint32_t cap; uint32_t used; } ectx;
static int e_alloc(ectx *e, uint64_t n, uint32_t *at) {
  if (n > e->cap - e->used) return JR_CAPNP_ESPACE;
  *at = e->used;
  memset(e->seg + (size_t)e->used * 8, 0, (size_t)n * 8);
  e->used += (uint32_t)n;
  return 0;
}
static void wr_data(ectx *e, uint32_t data, uint32_t off, unsigned n, uint64_t v) {
  st_le(e->seg + (size_t)data * 8 + off, n, v);
}
static void wr_bit(ectx *e, uint32_t data, uint32_t bit, bool v) {
  uint8_t *b = e->seg + (size_t)data * 8 + bit / 8;
  if (v) *b |= (uint8_t)(1u << (bit % 8)); else *b &= (uint8_t)~(1u << (bit % 8));
}
static void put_struct_ptr(ectx *e, uint32_t p, uint32_t target, uint16_t dw, uint16_t pc) {
  int32_t off = (int32_t)target - (int32_t)p - 1;
  uint64_t w = ((uint64_t)(uint32_t)off << 2 & 0xffffffffu) | (uint64_t)dw << 32 | (uint64_t)pc << 48;
  st_le(e->seg + (size_t)p * 8, 8, w);
}
static void put_list_ptr(ectx *e, uint32_t p, uint32_t target, unsigned code, uint32_t n) {
  int32_t off = (int32_t)target - (int32_t)p - 1;
  uint64_t w = ((uint64_t)(uint32_t)off << 2 & 0xffffffffu) | 1 | (uint64_t)code << 32 | (uint64_t)n << 35;
  st_le(e->seg + (size_t)p * 8, 8, w);
}
/* Allocates a list of n elements of \`bits\` each (code 2..6) and points p at it. */
static int e_list(ectx *e, uint32_t p, unsigned code, unsigned bits, uint32_t n, uint32_t *at) {
  if (n >= (1u << 29)) return JR_CAPNP_EINVAL;
  int r = e_alloc(e, ((uint64_t)n * bits + 63) / 64, at);
  if (r) return r;
  put_list_ptr(e, p, *at, code, n);
  return 0;
}
/* Allocates a composite list and points p at it; *at is the first element's word. */
static int e_struct_list(ectx *e, uint32_t p, uint32_t n, uint16_t dw, uint16_t pc, uint32_t *at) {
  uint64_t words = (uint64_t)n * (dw + pc);
  if (n >= (1u << 29) || words >= (1u << 29)) return JR_CAPNP_EINVAL;
  uint32_t tag;
  int r = e_alloc(e, 1 + words, &tag);
  if (r) return r;
  put_list_ptr(e, p, tag, 7, (uint32_t)words);
  /* The tag is shaped like a struct pointer whose offset field holds the element count. */
  uint64_t w = ((uint64_t)n << 2) | (uint64_t)dw << 32 | (uint64_t)pc << 48;
  st_le(e->seg + (size_t)tag * 8, 8, w);
  *at = tag + 1;
  return 0;
}
static int wr_bytes(ectx *e, uint32_t p, const void *ptr, uint32_t len, bool text) {
  if (ptr == NULL && len == 0) return 0; /* null pointer: reads as empty */
  if (ptr == NULL) return JR_CAPNP_EINVAL;
  if (len >= (1u << 29) - 1) return JR_CAPNP_EINVAL;
  uint32_t at;
  int r = e_list(e, p, 2, 8, len + (text ? 1 : 0), &at);
  if (r) return r;
  if (len) memcpy(e->seg + (size_t)at * 8, ptr, len);
  return 0;
}
static int begin_msg(ectx *e, void *buf, size_t cap, uint16_t dw, uint16_t pc, uint32_t *root) {
  if (buf == NULL || cap < 16) return JR_CAPNP_ESPACE;
  size_t words = (cap - 8) / 8;
  e->seg = (uint8_t *)buf + 8;
  e->cap = words > 0x1fffffff ? 0x1fffffff : (uint32_t)words;
  e->used = 0;
  uint32_t rp;
  int r = e_alloc(e, 1, &rp);
  if (r == 0) r = e_alloc(e, (uint64_t)dw + pc, root);
  if (r == 0) put_struct_ptr(e, rp, *root, dw, pc);
  return r;
}
static void end_msg(ectx *e, void *buf, size_t *out_len) {
  st_le(buf, 4, 0);
  st_le((uint8_t *)buf + 4, 4, e->used);
  *out_len = 8 + (size_t)e->used * 8;
}
`;

interface Gen {
  m: SchemaModel;
  decl: string[];
  defs: string[];
  proto: string[];
}

/** All structs that a C struct embeds by value (groups and struct fields), for ordering. */
function inlineDeps(m: SchemaModel, s: StructModel): string[] {
  const deps: string[] = [];
  for (const f of s.fields) {
    if (f.group) deps.push(f.group);
    else if (f.slot?.type.kind === "struct") deps.push(f.slot.type.id);
  }
  return deps.filter((d) => m.structs.some((x) => x.id === d));
}

function orderStructs(m: SchemaModel): StructModel[] {
  const out: StructModel[] = [];
  const state = new Map<string, number>();
  const visit = (s: StructModel) => {
    const st = state.get(s.id);
    if (st === 2) return;
    if (st === 1) throw new Error(`Cannot generate C: ${s.name} contains itself`);
    state.set(s.id, 1);
    for (const d of inlineDeps(m, s)) visit(structById(m, d));
    state.set(s.id, 2);
    out.push(s);
  };
  for (const s of m.structs) visit(s);
  return out;
}

/** The top-level struct whose sections a group uses. */
function rootOf(m: SchemaModel, s: StructModel): StructModel {
  if (!s.isGroup) return s;
  const parent = m.structs.find((p) => p.fields.some((f) => f.group === s.id));
  if (!parent) throw new Error(`Cannot find the parent of group ${s.name}`);
  return rootOf(m, parent);
}

function memberDecl(g: Gen, s: StructModel, f: FieldModel): string[] {
  const name = cField(f.name);
  if (f.group) return [`  ${cType(structById(g.m, f.group).name)} ${name};`];
  const t = f.slot!.type;
  const where = `${s.name}.${f.name}`;
  switch (t.kind) {
    case "void":
      return [];
    case "text":
      return [`  jr_capnp_text ${name};`];
    case "data":
      return [`  jr_capnp_data ${name};`];
    case "enum":
      return [`  ${cType(enumById(g.m, t.id).name)} ${name};`];
    case "struct":
      return [
        `  bool has_${name};`,
        `  ${cType(structById(g.m, t.id).name)} ${name};`,
      ];
    case "list":
      return [`  struct { ${elemC(g.m, t.element, where)} *items; uint32_t count; } ${name};`];
    default:
      return [`  ${scalarC[t.kind]} ${name};`];
  }
}

/** C code reading one data-section value of kind k at offset (units of its size) into dst. */
function readScalar(k: string, off: number, dst: string, cty: string): string {
  const bits = bitSize[k as keyof typeof bitSize];
  if (k === "bool") return `${dst} = rd_bit(c, v, ${off});`;
  const bytes = bits / 8, at = off * bytes;
  if (k === "float32") return `${dst} = bits_f32((uint32_t)rd_data(c, v, ${at}, 4));`;
  if (k === "float64") return `${dst} = bits_f64(rd_data(c, v, ${at}, 8));`;
  return `${dst} = (${cty})rd_data(c, v, ${at}, ${bytes});`;
}

function writeScalar(k: string, off: number, src: string): string {
  const bits = bitSize[k as keyof typeof bitSize];
  if (k === "bool") return `wr_bit(e, d, ${off}, ${src});`;
  const bytes = bits / 8, at = off * bytes;
  if (k === "float32") return `wr_data(e, d, ${at}, 4, f32_bits(${src}));`;
  if (k === "float64") return `wr_data(e, d, ${at}, 8, f64_bits(${src}));`;
  return `wr_data(e, d, ${at}, ${bytes}, (uint64_t)${src});`;
}

function elemKindForScalar(t: TypeRef): string {
  return t.kind === "enum" ? "uint16" : t.kind;
}

function decodeField(g: Gen, s: StructModel, f: FieldModel): string[] {
  const name = `out->${cField(f.name)}`;
  if (f.group) {
    const gs = structById(g.m, f.group);
    return [`if ((r = dec_${cType(gs.name)}(c, v, &${name}, depth)) < 0) return r;`];
  }
  const { offset, type: t } = f.slot!;
  switch (t.kind) {
    case "void":
      return [];
    case "text":
      return [`if ((r = rd_text(c, v, ${offset}, &${name})) < 0) return r;`];
    case "data":
      return [`if ((r = rd_blob(c, v, ${offset}, &${name})) < 0) return r;`];
    case "enum":
      return [readScalar("uint16", offset, name, "uint16_t")];
    case "struct": {
      const ts = structById(g.m, t.id);
      return [
        `if (!ptr_index(v, ${offset}, &p)) {`,
        `  sview sv;`,
        `  if ((r = rd_struct(c, p, &sv)) < 0) return r;`,
        `  if (r == 0) {`,
        `    if (depth >= JR_CAPNP_MAX_DEPTH) return JR_CAPNP_EDEPTH;`,
        `    ${name.replace("out->", "out->has_")} = true;`,
        `    if ((r = dec_${cType(ts.name)}(c, sv, &${name}, depth + 1)) < 0) return r;`,
        `  }`,
        `}`,
      ];
    }
    case "list": {
      const el = t.element;
      const ec = elemC(g.m, el, `${s.name}.${f.name}`);
      const code = listCode(el);
      const lines = [
        `if (!ptr_index(v, ${offset}, &p)) {`,
        `  lview l;`,
        `  if ((r = rd_list(c, p, ${code}, &l)) < 0) return r;`,
        `  if (r == 0 && l.count == 0) ${name}.items = (${ec} *)(void *)empty_list;`,
        `  if (r == 0 && l.count > 0) {`,
        `    ${ec} *items = arena_alloc(c, l.count, sizeof(${ec}));`,
        `    if (items == NULL) return JR_CAPNP_ESPACE;`,
        `    ${name}.items = items;`,
        `    ${name}.count = l.count;`,
        `    for (uint32_t i = 0; i < l.count; i++) {`,
      ];
      if (el.kind === "struct") {
        const es = structById(g.m, el.id);
        lines.push(
          `      if (depth >= JR_CAPNP_MAX_DEPTH) return JR_CAPNP_EDEPTH;`,
          `      sview ev = { l.start + i * (uint32_t)(l.dw + l.pc), l.dw, l.pc };`,
          `      if ((r = dec_${cType(es.name)}(c, ev, &items[i], depth + 1)) < 0) return r;`,
        );
      } else if (el.kind === "text" || el.kind === "data") {
        lines.push(
          `      const uint8_t *bp; uint32_t bl;`,
          `      if ((r = rd_bytes(c, l.start + i, ${
            el.kind === "text"
          }, &bp, &bl)) < 0) return r;`,
          `      items[i].ptr = (${el.kind === "text" ? "const char *" : "const uint8_t *"})bp;`,
          `      items[i].len = bl;`,
        );
      } else {
        // Element i of a primitive list read as field i of a data section of the list's size.
        const k = elemKindForScalar(el);
        const bits = bitSize[k as keyof typeof bitSize];
        if (k === "bool") {
          lines.push(`      items[i] = (c->seg[(size_t)l.start * 8 + i / 8] >> (i % 8)) & 1;`);
        } else {
          const bytes = bits / 8;
          const raw = `ld_le(c->seg + (size_t)l.start * 8 + (size_t)i * ${bytes}, ${bytes})`;
          if (k === "float32") lines.push(`      items[i] = bits_f32((uint32_t)${raw});`);
          else if (k === "float64") lines.push(`      items[i] = bits_f64(${raw});`);
          else lines.push(`      items[i] = (${ec})${raw};`);
        }
      }
      lines.push(`    }`, `  }`, `}`);
      return lines;
    }
    default:
      return [readScalar(t.kind, offset, name, scalarC[t.kind])];
  }
}

function encodeField(g: Gen, f: FieldModel, root: StructModel): string[] {
  const name = `in->${cField(f.name)}`;
  if (f.group) {
    const gs = structById(g.m, f.group);
    return [`if ((r = enc_${cType(gs.name)}(e, d, &${name})) < 0) return r;`];
  }
  const { offset, type: t } = f.slot!;
  const p = `d + ${root.dataWords} + ${offset}`;
  switch (t.kind) {
    case "void":
      return [];
    case "text":
      return [`if ((r = wr_bytes(e, ${p}, ${name}.ptr, ${name}.len, true)) < 0) return r;`];
    case "data":
      return [`if ((r = wr_bytes(e, ${p}, ${name}.ptr, ${name}.len, false)) < 0) return r;`];
    case "enum":
      return [writeScalar("uint16", offset, name)];
    case "struct": {
      const ts = structById(g.m, t.id);
      return [
        `if (${name.replace("in->", "in->has_")}) {`,
        `  uint32_t at;`,
        `  if ((r = e_alloc(e, ${ts.dataWords + ts.pointerCount}, &at)) < 0) return r;`,
        `  put_struct_ptr(e, ${p}, at, ${ts.dataWords}, ${ts.pointerCount});`,
        `  if ((r = enc_${cType(ts.name)}(e, at, &${name})) < 0) return r;`,
        `}`,
      ];
    }
    case "list": {
      const el = t.element;
      const lines = [
        `if (${name}.count > 0 || ${name}.items != NULL) {`,
        `  uint32_t at;`,
        `  if (${name}.items == NULL) return JR_CAPNP_EINVAL;`,
      ];
      if (el.kind === "struct") {
        const es = structById(g.m, el.id);
        lines.push(
          `  if ((r = e_struct_list(e, ${p}, ${name}.count, ${es.dataWords}, ${es.pointerCount}, &at)) < 0) return r;`,
          `  for (uint32_t i = 0; i < ${name}.count; i++) {`,
          `    if ((r = enc_${cType(es.name)}(e, at + i * ${
            es.dataWords + es.pointerCount
          }, &${name}.items[i])) < 0) return r;`,
          `  }`,
        );
      } else if (el.kind === "text" || el.kind === "data") {
        lines.push(
          `  if ((r = e_list(e, ${p}, 6, 64, ${name}.count, &at)) < 0) return r;`,
          `  for (uint32_t i = 0; i < ${name}.count; i++) {`,
          `    if ((r = wr_bytes(e, at + i, ${name}.items[i].ptr, ${name}.items[i].len, ${
            el.kind === "text"
          })) < 0) return r;`,
          `  }`,
        );
      } else {
        const k = elemKindForScalar(el);
        const bits = bitSize[k as keyof typeof bitSize];
        lines.push(
          `  if ((r = e_list(e, ${p}, ${
            listCode(el)
          }, ${bits}, ${name}.count, &at)) < 0) return r;`,
          `  for (uint32_t i = 0; i < ${name}.count; i++) {`,
        );
        if (k === "bool") lines.push(`    wr_bit(e, at, i, ${name}.items[i]);`);
        else if (k === "float32") {
          lines.push(`    wr_data(e, at, i * 4, 4, f32_bits(${name}.items[i]));`);
        } else if (k === "float64") {
          lines.push(`    wr_data(e, at, i * 8, 8, f64_bits(${name}.items[i]));`);
        } else {
          lines.push(
            `    wr_data(e, at, i * ${bits / 8}, ${bits / 8}, (uint64_t)${name}.items[i]);`,
          );
        }
        lines.push(`  }`);
      }
      lines.push(`}`);
      return lines;
    }
    default:
      return [writeScalar(t.kind, offset, name)];
  }
}

function genStruct(g: Gen, s: StructModel) {
  const ct = cType(s.name);
  const root = rootOf(g.m, s);
  const union = s.fields.filter((f) => f.discriminant !== null);
  const plain = s.fields.filter((f) => f.discriminant === null);
  // Type.
  const members: string[] = [];
  if (s.discriminantOffset !== null) {
    members.push(`  uint16_t which; /* ${cMacro(s.name)}_* */`);
  }
  for (const f of s.fields) members.push(...memberDecl(g, s, f));
  if (members.length === 0) members.push(`  char unused_; /* no fields */`);
  g.decl.push(`typedef struct ${ct} ${ct};`);
  const head = [`/* ${s.isGroup ? "group" : "struct"} ${s.name} (${s.file}) */`];
  if (!s.isGroup) {
    head.push(
      `#define ${cMacro(s.name)}_TYPE_ID 0x${s.id}ULL`,
      `#define ${cMacro(s.name)}_DATA_WORDS ${s.dataWords}`,
      `#define ${cMacro(s.name)}_POINTERS ${s.pointerCount}`,
    );
  }
  for (const f of union) {
    head.push(`#define ${cMacro(s.name)}_${snake(f.name).toUpperCase()} ${f.discriminant}`);
  }
  g.decl.push(...[]);
  g.proto.push(...head, `struct ${ct} {`, ...members, `};`);
  if (!s.isGroup) {
    g.proto.push(
      `/* Decodes a framed single-segment message; lists go to arena, Text/Data point into buf. */`,
      `int ${ct}_decode(const void *buf, size_t len, ${ct} *out, jr_capnp_arena *arena);`,
      `/* Encodes into buf (cap bytes); *out_len gets the framed message length. */`,
      `int ${ct}_encode(const ${ct} *in, void *buf, size_t cap, size_t *out_len);`,
    );
  }
  g.proto.push("");
  // Decoder.
  const dec = [
    `static int dec_${ct}(dctx *c, sview v, ${ct} *out, int depth) {`,
    `  int r = 0;`,
    `  uint32_t p = 0;`,
    `  (void)c; (void)v; (void)out; (void)depth; (void)p;`,
  ];
  for (const f of plain) dec.push(...decodeField(g, s, f).map((l) => `  ${l}`));
  if (s.discriminantOffset !== null) {
    dec.push(`  out->which = (uint16_t)rd_data(c, v, ${s.discriminantOffset * 2}, 2);`);
    dec.push(`  switch (out->which) {`);
    for (const f of union) {
      dec.push(`  case ${f.discriminant}:`);
      dec.push(...decodeField(g, s, f).map((l) => `    ${l}`));
      dec.push(`    break;`);
    }
    dec.push(`  default: break; /* unknown member from a newer writer: left zero */`, `  }`);
  }
  dec.push(`  return r < 0 ? r : 0;`, `}`);
  // Encoder: d is the data section word of the enclosing (top-level) struct.
  const enc = [
    `static int enc_${ct}(ectx *e, uint32_t d, const ${ct} *in) {`,
    `  int r = 0;`,
    `  (void)e; (void)d; (void)in;`,
  ];
  for (const f of plain) enc.push(...encodeField(g, f, root).map((l) => `  ${l}`));
  if (s.discriminantOffset !== null) {
    enc.push(`  wr_data(e, d, ${s.discriminantOffset * 2}, 2, in->which);`);
    enc.push(`  switch (in->which) {`);
    for (const f of union) {
      enc.push(`  case ${f.discriminant}:`);
      enc.push(...encodeField(g, f, root).map((l) => `    ${l}`));
      enc.push(`    break;`);
    }
    enc.push(`  default: return JR_CAPNP_EINVAL;`, `  }`);
  }
  enc.push(`  return r < 0 ? r : 0;`, `}`);
  g.defs.push(...dec, "", ...enc, "");
  if (!s.isGroup) {
    g.defs.push(
      `int ${ct}_decode(const void *buf, size_t len, ${ct} *out, jr_capnp_arena *arena) {`,
      `  dctx c;`,
      `  sview v = {0, 0, 0};`,
      `  memset(out, 0, sizeof *out);`,
      `  int r = open_msg(&c, buf, len, arena);`,
      `  if (r == 0) r = rd_struct(&c, 0, &v);`,
      `  if (r == 1) return 0; /* null root: all defaults */`,
      `  if (r == 0) r = dec_${ct}(&c, v, out, 1);`,
      `  return r;`,
      `}`,
      "",
      `int ${ct}_encode(const ${ct} *in, void *buf, size_t cap, size_t *out_len) {`,
      `  ectx e;`,
      `  uint32_t d;`,
      `  int r = begin_msg(&e, buf, cap, ${s.dataWords}, ${s.pointerCount}, &d);`,
      `  if (r == 0) r = enc_${ct}(&e, d, in);`,
      `  if (r == 0) end_msg(&e, buf, out_len);`,
      `  return r;`,
      `}`,
      "",
    );
  }
}

/** Generates { "joyride_capnp.h": …, "joyride_capnp.c": … } from the model. */
export function generateC(m: SchemaModel): Record<string, string> {
  const g: Gen = { m, decl: [], defs: [], proto: [] };
  const banner = "/* Generated by scripts/gen.ts from the schema/ files. Do not edit. */";
  const enums: string[] = [];
  for (const e of m.enums) {
    enums.push(`/* enum ${e.name} (${e.file}) */`, `typedef uint16_t ${cType(e.name)};`);
    e.enumerants.forEach((n, i) =>
      enums.push(`#define ${cMacro(e.name)}_${snake(n).toUpperCase()} ${i}`)
    );
    enums.push("");
  }
  const ordered = orderStructs(m);
  for (const s of ordered) genStruct(g, s);
  const tops = m.structs.filter((s) => !s.isGroup);
  const h = [
    banner,
    "#ifndef JOYRIDE_CAPNP_H",
    "#define JOYRIDE_CAPNP_H",
    "#include <stdbool.h>",
    "#include <stddef.h>",
    "#include <stdint.h>",
    "#ifdef __cplusplus",
    'extern "C" {',
    "#endif",
    runtimeH,
    ...enums,
    ...g.decl,
    "",
    ...g.proto,
    "#ifdef __cplusplus",
    "}",
    "#endif",
    "#endif",
    "",
  ].join("\n");
  const c = [
    banner,
    '#include "joyride_capnp.h"',
    "#include <string.h>",
    runtimeC,
    ...g.defs,
    `int jr_capnp_reencode(uint64_t type_id, const void *in, size_t in_len, void *out, size_t cap,`,
    `                      size_t *out_len, jr_capnp_arena *arena) {`,
    `  int r;`,
    `  switch (type_id) {`,
    ...tops.flatMap((s) => [
      `  case ${cMacro(s.name)}_TYPE_ID: {`,
      `    ${cType(s.name)} v;`,
      `    if ((r = ${cType(s.name)}_decode(in, in_len, &v, arena)) < 0) return r;`,
      `    return ${cType(s.name)}_encode(&v, out, cap, out_len);`,
      `  }`,
    ]),
    `  default: return JR_CAPNP_EINVAL;`,
    `  }`,
    `}`,
    "",
  ].join("\n");
  void isPointer;
  return { "joyride_capnp.h": h, "joyride_capnp.c": c };
}

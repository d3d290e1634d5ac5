/* Test driver of the generated codec (schema/codec_test.ts). Reads a batch of records from
 * stdin: u64 type id, u32 length, message bytes (little endian). For each it decodes the
 * message as that type and encodes the result again, and writes: i32 status (0 or a
 * JR_CAPNP_E* code), u32 length, the re-encoded bytes. With the argument "json" it writes the
 * decoded C struct as JSON instead (joyride_capnp_dump.c). Each input is copied into a buffer
 * of exactly its length, so the sanitizers catch any read outside it. */
#define _POSIX_C_SOURCE 200809L /* fmemopen */
#include "joyride_capnp.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jr_capnp_dump_json(uint64_t type_id, const void *in, size_t len, jr_capnp_arena *arena,
                       FILE *f);

static int read_full(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void put32(uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  fwrite(b, 1, 4, stdout);
}

int main(int argc, char **argv) {
  enum { OUT_CAP = 1 << 20, ARENA_CAP = 1 << 20 };
  uint8_t *out = malloc(OUT_CAP), *arena_mem = malloc(ARENA_CAP);
  int json = argc > 1 && strcmp(argv[1], "json") == 0;
  if (out == NULL || arena_mem == NULL) return 2;
  for (;;) {
    uint8_t hdr[12];
    if (!read_full(hdr, 12)) break;
    uint64_t id = le(hdr, 8);
    uint32_t len = (uint32_t)le(hdr + 8, 4);
    uint8_t *in = malloc(len ? len : 1);
    if (in == NULL || !read_full(in, len)) return 3;
    jr_capnp_arena arena = {arena_mem, ARENA_CAP, 0};
    size_t out_len = 0;
    int r;
    if (json) {
      FILE *mem = fmemopen(out, OUT_CAP, "w");
      if (mem == NULL) return 5;
      r = jr_capnp_dump_json(id, in, len, &arena, mem);
      long n = ftell(mem);
      fclose(mem);
      out_len = n > 0 ? (size_t)n : 0;
    } else {
      r = jr_capnp_reencode(id, in, len, out, OUT_CAP, &out_len, &arena);
    }
    free(in);
    put32((uint32_t)r);
    put32(r == 0 ? (uint32_t)out_len : 0);
    if (r == 0) fwrite(out, 1, out_len, stdout);
  }
  free(out);
  free(arena_mem);
  return fflush(stdout) == 0 ? 0 : 4;
}

// Reference codec for tests (schema/codec_test.ts), built on Debian's libcapnp (C++).
// stdin: u32 length + a CodeGeneratorRequest (`capnp compile -o-`) whose nodes are loaded into
// a SchemaLoader; then records of u64 struct type id, u32 length, a framed message.
// For each record: decode with libcapnp as that type, convert the value to JSON (capnp's
// JsonCodec) and back into a new message, and write i32 status (0 ok, 1 error), u32 length,
// then the re-encoded message (or the error text). Going through JSON makes the round trip a
// value-level one: nothing is copied as raw words.
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/schema-loader.h>
#include <capnp/schema.capnp.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static bool readFull(void* p, size_t n) { return fread(p, 1, n, stdin) == n; }

static uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

static void put32(uint32_t v) {
  unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                        static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 24)};
  fwrite(b, 1, 4, stdout);
}

static void reply(uint32_t status, const void* p, size_t n) {
  put32(status);
  put32(static_cast<uint32_t>(n));
  fwrite(p, 1, n, stdout);
}

static kj::Array<capnp::word> words(const std::vector<unsigned char>& bytes) {
  auto w = kj::heapArray<capnp::word>(bytes.size() / 8);
  memcpy(w.begin(), bytes.data(), w.size() * 8);
  return w;
}

int main() {
  unsigned char n4[4];
  if (!readFull(n4, 4)) return 2;
  std::vector<unsigned char> reqBytes(le(n4, 4));
  if (!readFull(reqBytes.data(), reqBytes.size())) return 2;
  auto reqWords = words(reqBytes);
  capnp::FlatArrayMessageReader reqReader(reqWords);
  capnp::SchemaLoader loader;
  for (auto node : reqReader.getRoot<capnp::schema::CodeGeneratorRequest>().getNodes()) {
    loader.load(node);
  }
  capnp::JsonCodec json;
  for (;;) {
    unsigned char hdr[12];
    if (!readFull(hdr, 12)) break;
    uint64_t id = le(hdr, 8);
    std::vector<unsigned char> msg(le(hdr + 8, 4));
    if (!readFull(msg.data(), msg.size())) return 3;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
      if (msg.size() % 8 != 0) KJ_FAIL_REQUIRE("message length is not a multiple of 8");
      auto schema = loader.get(id).asStruct();
      auto w = words(msg);
      capnp::FlatArrayMessageReader reader(w);
      auto root = reader.getRoot<capnp::DynamicStruct>(schema);
      kj::String text = json.encode(capnp::DynamicValue::Reader(root), capnp::Type(schema));
      capnp::MallocMessageBuilder builder;
      json.decode(text, builder.initRoot<capnp::DynamicStruct>(schema));
      auto flat = capnp::messageToFlatArray(builder);
      reply(0, flat.begin(), flat.size() * 8);
    })) {
      auto d = e->getDescription();
      reply(1, d.cStr(), d.size());
    }
  }
  return fflush(stdout) == 0 ? 0 : 4;
}

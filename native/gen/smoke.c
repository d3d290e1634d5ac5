/* How the shim uses the codec, linked against build/gen/libjoyride_capnp.a alone (no C++):
 * builds a SocketCall (connect to 198.18.0.1:7 over IPv4), decodes it back, checks it, and
 * writes the framed message to stdout for schema/codec_test.ts to read with capnp-es. */
#include "joyride_capnp.h"
#include <stdio.h>
#include <string.h>

int main(void) {
  static const uint8_t addr[4] = {198, 18, 0, 1};
  static const uint8_t token[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  jr_SocketCall call;
  memset(&call, 0, sizeof call);
  call.has_header = true;
  call.header.request_id = 42;
  call.header.generation = 3;
  call.header.app_id = 9;
  call.header.token = (jr_capnp_data){token, sizeof token};
  call.socket_id = 5;
  call.call.which = JR_SOCKET_CALL_CALL_CONNECT;
  call.call.has_connect = true;
  call.call.connect.family = JR_ADDRESS_FAMILY_INET;
  call.call.connect.port = 7;
  call.call.connect.addr = (jr_capnp_data){addr, sizeof addr};

  uint8_t buf[256];
  size_t len = 0;
  int r = jr_SocketCall_encode(&call, buf, sizeof buf, &len);
  if (r != 0) {
    fprintf(stderr, "encode: %s\n", jr_capnp_strerror(r));
    return 1;
  }
  jr_SocketCall back;
  uint8_t arena_mem[256];
  jr_capnp_arena arena = {arena_mem, sizeof arena_mem, 0};
  r = jr_SocketCall_decode(buf, len, &back, &arena);
  if (r != 0) {
    fprintf(stderr, "decode: %s\n", jr_capnp_strerror(r));
    return 1;
  }
  if (back.header.request_id != 42 || back.call.which != JR_SOCKET_CALL_CALL_CONNECT ||
      back.call.connect.port != 7 || back.call.connect.addr.len != 4 ||
      memcmp(back.call.connect.addr.ptr, addr, 4) != 0 || back.header.token.len != 16) {
    fprintf(stderr, "decoded values differ\n");
    return 1;
  }
  /* A truncated copy is refused, not read past. */
  if (jr_SocketCall_decode(buf, len - 8, &back, &arena) != JR_CAPNP_ETRUNC) return 1;
  return fwrite(buf, 1, len, stdout) == len ? 0 : 1;
}

import { assert, assertEquals } from "../supervisor/_assert.ts";
import { Region } from "../ipc/region.ts";
import { createSealedRegion, SEAL, sealsOf, sizeSealed } from "./policy_seal.ts";

const libc = Deno.dlopen("libc.so.6", {
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
});

Deno.test("sealed regions: their size cannot change; plain regions are told apart", () => {
  const r = createSealedRegion(10000, "jr-seal-test");
  try {
    assertEquals(r.size, 12288);
    assert(sizeSealed(r.fd));
    assertEquals(sealsOf(r.fd) & SEAL.WRITE, 0, "still writable");
    assert(libc.symbols.ftruncate(r.fd, 4096n) !== 0, "shrank");
    assert(libc.symbols.ftruncate(r.fd, 1n << 20n) !== 0, "grew");
    r.u8[12287] = 7;
    assertEquals(r.u8[12287], 7);
  } finally {
    r.close();
  }
  const plain = Region.create(4096, "jr-plain");
  try {
    assert(!sizeSealed(plain.fd));
  } finally {
    plain.close();
  }
});

/**
 * `./joyride run`'s detection of what LD_PRELOAD cannot reach (shim/run.ts): a statically
 * linked ELF (no PT_INTERP) and a Go program (raw syscalls) get a warning; a dynamic one not.
 */
import { assertEquals } from "../servers/supervisor/_assert.ts";
import { reachWarning, resolveCommand, shimEnv, unreachable } from "../shim/run.ts";

/** A minimal 64-bit little-endian ELF header with the given program header types. */
function elf(types: number[], extra: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(64 + types.length * 56 + extra.length);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  v.setBigUint64(32, 64n, true); // e_phoff
  v.setUint16(54, 56, true); // e_phentsize
  v.setUint16(56, types.length, true); // e_phnum
  types.forEach((t, i) => v.setUint32(64 + i * 56, t, true));
  b.set(extra, 64 + types.length * 56);
  return b;
}

Deno.test("run: static and Go executables are told apart from dynamic ones", () => {
  assertEquals(unreachable(elf([1, 1])), "static");
  assertEquals(unreachable(elf([6, 3, 1])), undefined);
  const go = new Uint8Array([0xff, ...new TextEncoder().encode(" Go buildinf:")]);
  assertEquals(unreachable(elf([6, 3, 1], go)), "go");
  assertEquals(unreachable(new TextEncoder().encode("#!/bin/sh\necho hi\n")), undefined);
});

Deno.test("run: real executables on this host", () => {
  assertEquals(reachWarning("sh"), undefined, "sh is dynamically linked");
  const ldconfig = resolveCommand("/sbin/ldconfig");
  if (ldconfig) {
    const w = reachWarning(ldconfig) ?? "";
    assertEquals(w.includes("statically linked"), true, w);
  }
});

Deno.test("run: the caller's LD_PRELOAD is kept, with the shim after it", () => {
  const shim = "/r/build/libjoyride.so";
  const pre = (p?: string) => shimEnv("/r", "/run/joyride/x", "x", p).LD_PRELOAD;
  assertEquals(pre(), shim);
  // proxychains4 around `joyride run`: it wraps connect() and hands it to the shim.
  assertEquals(pre("/usr/lib/libproxychains.so.4"), `/usr/lib/libproxychains.so.4 ${shim}`);
  // Separated by colons or spaces; the shim named already is not doubled.
  assertEquals(pre(`a.so:b.so ${shim}`), `a.so b.so ${shim}`);
});

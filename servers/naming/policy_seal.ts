/**
 * Sealed app regions (issue 6). An app holds its region's memfd with write access: without
 * seals it could ftruncate(2) the file below what the TCP/IP server has mapped, and the
 * server's next touch of a socket ring would die of SIGBUS (found by the hostile client's
 * `shrink`). So naming creates app regions with MFD_ALLOW_SEALING and seals their size
 * (F_SEAL_SHRINK | F_SEAL_GROW, then F_SEAL_SEAL so the seals cannot change), and the socket
 * service refuses a region whose size is not sealed ({@link sizeSealed}).
 *
 * @module
 */
import { Region } from "../ipc/region.ts";

const lib = Deno.dlopen("libc.so.6", {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
});

const MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;
const F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
/** Seal bits (fcntl(2)). */
export const SEAL = { SEAL: 1, SHRINK: 2, GROW: 4, WRITE: 8 } as const;

/** A new zeroed region of `size` bytes (whole pages) on a memfd whose size is sealed. */
export function createSealedRegion(size: number, name: string): Region {
  const bytes = Math.ceil(size / 4096) * 4096;
  const fd = lib.symbols.memfd_create(
    new TextEncoder().encode(name + "\0"),
    MFD_CLOEXEC | MFD_ALLOW_SEALING,
  );
  if (fd < 0) throw new Error("Cannot create a sealed region: memfd_create failed");
  if (
    lib.symbols.ftruncate(fd, BigInt(bytes)) !== 0 ||
    lib.symbols.fcntl(fd, F_ADD_SEALS, SEAL.SHRINK | SEAL.GROW | SEAL.SEAL) !== 0
  ) {
    lib.symbols.close(fd);
    throw new Error(`Cannot create a sealed region of ${bytes} bytes: ftruncate or F_ADD_SEALS`);
  }
  return Region.adopt(fd);
}

/** The seals of `fd` (F_GET_SEALS), or -1 when it has none to tell (not a memfd). */
export function sealsOf(fd: number): number {
  return lib.symbols.fcntl(fd, F_GET_SEALS, 0);
}

/** Whether `fd`'s size can no longer change (shrink and grow sealed). */
export function sizeSealed(fd: number): boolean {
  const s = sealsOf(fd);
  return s >= 0 && (s & (SEAL.SHRINK | SEAL.GROW)) === (SEAL.SHRINK | SEAL.GROW);
}

/**
 * futex_waitv(2) (Linux 5.16+): one synchronous sleep on several futex words at once, for the
 * TCP/IP server's naps (issue 9): the NIC region's RX doorbell and every app's "server sleeps"
 * word, so that a frame or an app's call ends the nap without a thread-pool hop.
 *
 * ffi/libc.ts is the project's glibc binding; its `syscall` signature is futex(2)'s, so this
 * module binds syscall(2) once more with futex_waitv's argument types.
 *
 * @example
 * ```ts
 * const w = new FutexWaitv();
 * w.clear();
 * w.add(bellPtr, bellValue);     // sleeps only while *bellPtr === bellValue
 * const woke = w.wait(200);      // index of the word that woke it, or -1 (timeout, changed)
 * ```
 * @module
 */

const SYS_futex_waitv = 449n; // x86-64 and aarch64 (the generic syscall table) alike
const FUTEX2_SIZE_U32 = 0x02;
const CLOCK_MONOTONIC = 1;
/** The kernel's bound on words per call (FUTEX_WAITV_MAX). */
export const FUTEX_WAITV_MAX = 128;

let lib:
  | Deno.DynamicLibrary<{
    syscall: {
      parameters: ["i64", "buffer", "u32", "u32", "buffer", "i32"];
      result: "i64";
    };
    clock_gettime: { parameters: ["i32", "buffer"]; result: "i32" };
  }>
  | undefined;

function sym() {
  lib ??= Deno.dlopen(
    "libc.so.6",
    {
      syscall: { parameters: ["i64", "buffer", "u32", "u32", "buffer", "i32"], result: "i64" },
      clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    } as const,
  );
  return lib.symbols;
}

/** A reusable list of futex words to sleep on together (one JS thread). */
export class FutexWaitv {
  // struct futex_waitv { u64 val; u64 uaddr; u32 flags; u32 __reserved; } — 24 bytes each.
  readonly #buf = new Uint8Array(FUTEX_WAITV_MAX * 24);
  readonly #dv = new DataView(this.#buf.buffer);
  readonly #ts = new BigInt64Array(2);
  readonly #tsBytes = new Uint8Array(this.#ts.buffer);
  #n = 0;
  /** Sleeps entered, and how many ended by a wake rather than a timeout or a changed word. */
  readonly stats = { waits: 0, woken: 0 };

  /** Words added so far. */
  get length(): number {
    return this.#n;
  }

  /** Empties the list. */
  clear(): void {
    this.#n = 0;
  }

  /** Adds a word (shared, 32-bit) to sleep on while it holds `expected`; false when full. */
  add(ptr: Deno.PointerValue, expected: number): boolean {
    if (this.#n >= FUTEX_WAITV_MAX || ptr === null) return false;
    const o = this.#n * 24;
    this.#dv.setBigUint64(o, BigInt(expected >>> 0), true);
    this.#dv.setBigUint64(o + 8, BigInt(Deno.UnsafePointer.value(ptr)), true);
    this.#dv.setUint32(o + 16, FUTEX2_SIZE_U32, true);
    this.#dv.setUint32(o + 20, 0, true);
    this.#n++;
    return true;
  }

  /**
   * Sleeps (blocking this thread) until one of the words is woken or `timeoutUs` passes.
   * Returns the index of the word that was woken, or -1 (timeout, a word no longer held its
   * value, a signal, or an empty list).
   */
  wait(timeoutUs: number): number {
    if (this.#n === 0) return -1;
    const s = sym();
    s.clock_gettime(CLOCK_MONOTONIC, this.#tsBytes);
    const ns = this.#ts[1] + BigInt(Math.max(0, Math.floor(timeoutUs * 1000)));
    this.#ts[0] += ns / 1_000_000_000n;
    this.#ts[1] = ns % 1_000_000_000n;
    this.stats.waits++;
    const r = Number(
      s.syscall(SYS_futex_waitv, this.#buf, this.#n, 0, this.#tsBytes, CLOCK_MONOTONIC),
    );
    if (r >= 0) this.stats.woken++;
    return r >= 0 ? r : -1;
  }
}

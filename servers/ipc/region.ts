/**
 * Shared-memory regions: a memfd mapped with mmap, seen from TypeScript as an ArrayBuffer.
 * Atomics on Int32Array views of it work across processes (the mapping is MAP_SHARED).
 *
 * @example
 * ```ts
 * using region = Region.create(1 << 20);
 * // Another process: Region.open(`/proc/${pid}/fd/${region.fd}`) or an fd passed with
 * // SCM_RIGHTS: Region.adopt(fd).
 * ```
 * @module
 */
import { errno, libc, strerror } from "../../ffi/libc.ts";

/** A mapped shared-memory region; unmaps and closes its fd on dispose. */
export class Region implements Disposable {
  /** The memfd (or other file) behind the mapping; -1 once closed. */
  fd: number;
  /** Bytes mapped. */
  readonly size: number;
  /** Start of the mapping. */
  readonly ptr: Deno.PointerObject;
  /** The whole region as bytes. */
  readonly u8: Uint8Array<ArrayBuffer>;
  /** The whole region as 32-bit words (for Atomics). */
  readonly i32: Int32Array<ArrayBuffer>;
  /** The whole region as unsigned 32-bit words. */
  readonly u32: Uint32Array<ArrayBuffer>;
  #closed = false;

  private constructor(fd: number, size: number, ptr: Deno.PointerObject, viewBytes = size) {
    this.fd = fd;
    this.size = size;
    this.ptr = ptr;
    const buffer = Deno.UnsafePointerView.getArrayBuffer(ptr, Math.min(size, viewBytes));
    this.u8 = new Uint8Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.u32 = new Uint32Array(buffer);
  }

  /** Creates a zeroed region of `size` bytes (rounded up to a page) backed by a new memfd. */
  static create(size: number, name = "joyride"): Region {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`Cannot create region: size ${size} is not a positive integer`);
    }
    const bytes = Math.ceil(size / 4096) * 4096;
    const fd = libc.memfdCreate(name, libc.MFD_CLOEXEC);
    if (fd < 0) throw new Error(`Cannot create region: memfd_create: ${strerror(errno())}`);
    if (libc.ftruncate(fd, bytes) !== 0) {
      const e = errno();
      libc.close(fd);
      throw new Error(`Cannot create region: ftruncate(${bytes}): ${strerror(e)}`);
    }
    return Region.#map(fd, bytes, "create");
  }

  /**
   * Maps an fd received from another process (SCM_RIGHTS) and takes ownership of it: the
   * region closes it on dispose. The size is the file's size.
   */
  static adopt(fd: number, viewBytes?: number): Region {
    const size = libc.fileSize(fd);
    if (size <= 0) {
      throw new Error(`Cannot adopt region: fd ${fd} has size ${size} (${strerror(errno())})`);
    }
    return Region.#map(fd, size, "adopt", viewBytes);
  }

  /**
   * Opens a path naming a region (e.g. `/proc/<pid>/fd/<fd>`) and maps it. `viewBytes`: `u8`,
   * `i32` and `u32` cover only the first that many bytes; the rest is reached with
   * {@link bytesAt} (a region of many GiB is then never one ArrayBuffer: see
   * shm_store.ts RingViews).
   */
  static open(path: string, viewBytes?: number): Region {
    const fd = libc.open(path, libc.O_RDWR | libc.O_CLOEXEC);
    if (fd < 0) throw new Error(`Cannot open region ${path}: ${strerror(errno())}`);
    try {
      return Region.adopt(fd, viewBytes);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
  }

  static #map(fd: number, size: number, what: string, viewBytes?: number): Region {
    const ptr = libc.mmapShared(fd, size);
    if (ptr === null) {
      const e = errno();
      if (what === "create") libc.close(fd);
      throw new Error(`Cannot ${what} region: mmap(${size}): ${strerror(e)}`);
    }
    return new Region(fd, size, ptr, viewBytes);
  }

  /** Bytes `[offset, offset + len)` of the region as an array of their own. */
  bytesAt(offset: number, len: number): Uint8Array<ArrayBuffer> {
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len <= 0 ||
      offset + len > this.size
    ) {
      throw new RangeError(`Cannot view region: [${offset}, +${len}) outside ${this.size}`);
    }
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.ptr, len, offset));
  }

  /**
   * Gives the pages of bytes `[offset, offset + len)` back to the system (page-aligned; they
   * read as zeros after, in every process that maps the region). False if refused.
   */
  release(offset: number, len: number): boolean {
    if (offset < 0 || len <= 0 || offset + len > this.size || offset % 4096 !== 0) return false;
    return libc.madviseRemove(Deno.UnsafePointer.offset(this.ptr, offset), len) === 0;
  }

  /** A pointer `offset` bytes into the region (for futex calls). */
  pointer(offset: number): Deno.PointerObject {
    if (offset < 0 || offset >= this.size) {
      throw new RangeError(`Cannot point into region: offset ${offset} outside ${this.size}`);
    }
    return Deno.UnsafePointer.offset(this.ptr, offset) as Deno.PointerObject;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Unmaps and closes. Views of the region (rings, Uint8Arrays) must not be used afterwards:
   * touching unmapped memory ends the process.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.munmap(this.ptr, this.size);
    if (this.fd >= 0) libc.close(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

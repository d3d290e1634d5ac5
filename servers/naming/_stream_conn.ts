/**
 * What the naming socket (wire.ts, Cap'n Proto frames) and the supervisor's control socket
 * (framing.ts, JSON messages) share: a stream connection that serialises writes and reads
 * whole units out of an incremental decoder.
 */

/** An incremental decoder: bytes in as they arrive, whole units out; throws on bad framing. */
export interface Decoder<T> {
  push(chunk: Uint8Array): void;
  next(): T | undefined;
  /** Bytes held that do not yet form a whole unit. */
  readonly pending: number;
}

/** `a` followed by `b`, in a new array (the decoders' receive buffer). */
export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A connection carrying units of `T` (decoded by `decoder`) in both directions. */
export class StreamConn<T> implements Disposable {
  readonly conn: Deno.Conn;
  #decoder: Decoder<T>;
  #what: string;
  #readBuf = new Uint8Array(64 * 1024);
  #eof = false;
  #closed = false;
  #writing: Promise<void> = Promise.resolve();

  /** `what` names a unit in error messages ("message", "a naming frame"). */
  constructor(conn: Deno.Conn, decoder: Decoder<T>, what: string) {
    this.conn = conn;
    this.#decoder = decoder;
    this.#what = what;
  }

  /** Writes encoded bytes; writes are serialised so concurrent callers never interleave. */
  protected write(bytes: Uint8Array): Promise<void> {
    const p = this.#writing.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
    });
    this.#writing = p.catch(() => {});
    return p;
  }

  /** The next unit, or undefined once the peer closed. Throws on malformed framing. */
  async receive(): Promise<T | undefined> {
    for (;;) {
      const unit = this.#decoder.next();
      if (unit) return unit;
      if (this.#eof) return undefined;
      let n: number | null;
      try {
        n = await this.conn.read(this.#readBuf);
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.ConnectionReset) {
          n = null;
        } else throw e;
      }
      if (n === null) {
        this.#eof = true;
        if (this.#decoder.pending > 0) {
          throw new Error(`Cannot decode ${this.#what}: connection closed in the middle of one`);
        }
        return undefined;
      }
      this.#decoder.push(this.#readBuf.subarray(0, n));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#eof = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

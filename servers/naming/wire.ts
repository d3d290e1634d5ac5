/**
 * The naming socket's wire format: Cap'n Proto messages of the schema (schema/naming.capnp,
 * schema/registry.capnp) in frames.
 *
 * A frame is a u32 little-endian length of what follows, a u32 little-endian message kind,
 * then one Cap'n Proto message in the standard stream serialization (segment table first,
 * as capnp-es `Message.toArrayBuffer()` and the generated C codec produce it):
 *
 * | kind | message |
 * | --- | --- |
 * | 1 | `NamingRequest` |
 * | 2 | `NamingReply` |
 * | 3 | `RegistryMessage` (query → snapshot, subscribe → restart notices) |
 *
 * Frames longer than {@link maxFrameBytes} are refused (the connection is dropped).
 */
import { Message } from "capnp-es";
import { NamingReply, NamingRequest } from "../../schema/gen/naming.ts";
import { RegistryMessage } from "../../schema/gen/registry.ts";

export { Message, NamingReply, NamingRequest, RegistryMessage };

/** Message kinds of a frame. */
export const Kind = { namingRequest: 1, namingReply: 2, registry: 3 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** Largest frame body accepted. */
export const maxFrameBytes = 1 << 20;

/** A received frame: its kind and the message, read in place. */
export interface Frame {
  kind: number;
  message: Message;
}

/** Encodes a message as one frame. */
export function encodeFrame(kind: Kind, message: Message): Uint8Array {
  const body = new Uint8Array(message.toArrayBuffer());
  if (body.length + 4 > maxFrameBytes) {
    throw new Error(`Cannot encode a naming frame: ${body.length} bytes is over ${maxFrameBytes}`);
  }
  const out = new Uint8Array(8 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length + 4, true);
  v.setUint32(4, kind, true);
  out.set(body, 8);
  return out;
}

/** Incremental frame decoder; throws on a bad length (the caller drops the connection). */
export class FrameDecoder {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    const next = new Uint8Array(this.#buf.length + chunk.length);
    next.set(this.#buf);
    next.set(chunk, this.#buf.length);
    this.#buf = next;
  }

  next(): Frame | undefined {
    if (this.#buf.length < 4) return undefined;
    const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(0, true);
    if (len < 4 || len > maxFrameBytes) {
      throw new Error(`Cannot decode a naming frame: length ${len} out of range`);
    }
    if (this.#buf.length < 4 + len) return undefined;
    const kind = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(4, true);
    const body = this.#buf.slice(8, 4 + len);
    this.#buf = this.#buf.slice(4 + len);
    // packed = false: the standard (unpacked) stream serialization.
    return { kind, message: new Message(body, false) };
  }

  get pending(): number {
    return this.#buf.length;
  }
}

/** A connection carrying naming frames. */
export class FrameConn implements Disposable {
  readonly conn: Deno.Conn;
  #decoder = new FrameDecoder();
  #readBuf = new Uint8Array(64 * 1024);
  #eof = false;
  #closed = false;
  #writing: Promise<void> = Promise.resolve();

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Sends a frame; sends are serialised. */
  send(kind: Kind, message: Message): Promise<void> {
    const bytes = encodeFrame(kind, message);
    const p = this.#writing.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
    });
    this.#writing = p.catch(() => {});
    return p;
  }

  /** The next frame, or undefined once the peer closed. Throws on malformed framing. */
  async receive(): Promise<Frame | undefined> {
    for (;;) {
      const f = this.#decoder.next();
      if (f) return f;
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
          throw new Error("Cannot decode a naming frame: connection closed in the middle of one");
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
      // closed
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Connects to a naming socket. */
export async function connectNaming(path: string): Promise<FrameConn> {
  return new FrameConn(await Deno.connect({ transport: "unix", path }));
}

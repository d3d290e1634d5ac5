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
import { concatBytes, type Decoder, StreamConn } from "./_stream_conn.ts";

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
/** Segments a message from an app or a naming client may have (the shim sends one). */
const MAX_SEGMENTS = 16;

/**
 * Whether `m` is a well-framed Cap'n Proto message (standard stream framing: segment count - 1,
 * the segments' sizes in words, padding, the segments) whose segments exactly fill it, with at
 * most 16 segments. Checked before capnp-es sees bytes from a client: capnp-es makes the
 * segment table's array before it bounds it, and a frame claiming 2^31 segments kept the
 * naming server busy for seconds (its heartbeat silent: the supervisor killed it).
 */
export function wellFramed(m: Uint8Array, maxSegments = MAX_SEGMENTS): boolean {
  if (m.length < 8 || m.length % 8 !== 0) return false;
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  const count = dv.getUint32(0, true) + 1;
  if (count > maxSegments) return false;
  const header = (4 + 4 * count + 7) & ~7;
  if (header > m.length) return false;
  let words = 0;
  for (let i = 0; i < count; i++) words += dv.getUint32(4 + 4 * i, true);
  return header + words * 8 === m.length;
}
/** Segments a naming frame may have (replies with long lists take several). */
const FRAME_SEGMENTS = 1024;

export class FrameDecoder implements Decoder<Frame> {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    this.#buf = concatBytes(this.#buf, chunk);
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
    if (!wellFramed(body, FRAME_SEGMENTS)) {
      throw new Error("Cannot decode a naming frame: malformed message framing");
    }
    // packed = false: the standard (unpacked) stream serialization.
    return { kind, message: new Message(body, false) };
  }

  get pending(): number {
    return this.#buf.length;
  }
}

/** A connection carrying naming frames. */
export class FrameConn extends StreamConn<Frame> {
  constructor(conn: Deno.Conn) {
    super(conn, new FrameDecoder(), "a naming frame");
  }

  /** Sends a frame; sends are serialised. */
  send(kind: Kind, message: Message): Promise<void> {
    return this.write(encodeFrame(kind, message));
  }
}

/** Connects to a naming socket. */
export async function connectNaming(path: string): Promise<FrameConn> {
  return new FrameConn(await Deno.connect({ transport: "unix", path }));
}

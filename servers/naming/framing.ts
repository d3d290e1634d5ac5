/**
 * JSON framing for the supervisor's control socket: each message is a 4-byte big-endian length
 * followed by that many bytes of UTF-8 JSON.
 *
 * The naming socket speaks the schema's Cap'n Proto messages (wire.ts). The control socket
 * stays JSON on purpose: what it carries — the status document of `./joyride status --json`
 * and the servers' heartbeat reports (counters, socket lists) — are free-form documents the
 * schema has no type for (registry.capnp's Heartbeat has a load and a queue length only).
 *
 * @example
 * ```ts
 * const conn = new FramedConn(await Deno.connect({ transport: "unix", path }));
 * const reply = await conn.request({ op: "status" });
 * ```
 */
import { concatBytes, type Decoder, StreamConn } from "./_stream_conn.ts";

/** Largest message accepted; a longer length prefix is treated as a protocol error. */
export const maxMessageBytes = 1 << 20;

/** A control message: a plain JSON object. */
export type Message = Record<string, unknown>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes one message with its length prefix. */
export function encodeMessage(msg: Message): Uint8Array {
  const body = encoder.encode(JSON.stringify(msg));
  if (body.length > maxMessageBytes) {
    throw new Error(`Cannot encode message: ${body.length} bytes is over ${maxMessageBytes}`);
  }
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/**
 * Incremental decoder: feed it bytes as they arrive, take whole messages out.
 * Throws on a bad length prefix, invalid UTF-8, or a body that is not a JSON object.
 */
export class MessageDecoder implements Decoder<Message> {
  #buf = new Uint8Array(0);

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    this.#buf = concatBytes(this.#buf, chunk);
  }

  /** The next whole message, or undefined if more bytes are needed. */
  next(): Message | undefined {
    if (this.#buf.length < 4) return undefined;
    const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(0);
    if (len > maxMessageBytes) {
      throw new Error(`Cannot decode message: length ${len} is over ${maxMessageBytes}`);
    }
    if (this.#buf.length < 4 + len) return undefined;
    const body = this.#buf.subarray(4, 4 + len);
    this.#buf = this.#buf.slice(4 + len);
    const value: unknown = JSON.parse(decoder.decode(body));
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error("Cannot decode message: body is not a JSON object");
    }
    return value as Message;
  }

  /** Bytes held that do not yet form a whole message. */
  get pending(): number {
    return this.#buf.length;
  }
}

/** A connection carrying framed messages in both directions. */
export class FramedConn extends StreamConn<Message> {
  constructor(conn: Deno.Conn) {
    super(conn, new MessageDecoder(), "message");
  }

  /** Sends one message; sends are serialised so concurrent callers never interleave bytes. */
  send(msg: Message): Promise<void> {
    return this.write(encodeMessage(msg));
  }

  /** Sends a request and waits for the next message as its reply. */
  async request(msg: Message): Promise<Message> {
    await this.send(msg);
    const reply = await this.receive();
    if (!reply) throw new Error(`No reply to "${String(msg.op)}": connection closed`);
    return reply;
  }
}

/** Connects to a Unix socket and wraps it. */
export async function connectFramed(path: string): Promise<FramedConn> {
  return new FramedConn(await Deno.connect({ transport: "unix", path }));
}

/**
 * The Deno side of the cross-process ring tests and of the ipc benchmark; the same modes and
 * arguments as native/ipc/ipc_peer.c (see there). Private to servers/ipc.
 *
 * @module
 */
import { ByteRing } from "./byte_ring.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import { fillPattern, patternLength } from "./_test_util.ts";

const TIMEOUT_MS = 10_000;
const spinUs = Number(Deno.env.get("JR_SPIN_US") ?? "50");

function echo(inp: MessageRing, out: MessageRing): number {
  for (;;) {
    const at = inp.peekOffset();
    if (at < 0) {
      if (inp.error) return fail(inp.error.message);
      if (!inp.waitReadable(TIMEOUT_MS, spinUs)) {
        if (inp.producerClosed && !inp.hasData()) break;
        return fail("echo: nothing to read");
      }
      continue;
    }
    const len = inp.peekLength;
    let dst = out.reserveOffset(len);
    while (dst < 0) {
      if (!out.waitWritable(len, TIMEOUT_MS, spinUs)) return fail("echo: no room to write");
      dst = out.reserveOffset(len);
    }
    out.region.u8.copyWithin(dst, at, at + len);
    out.commit(len);
    inp.release();
  }
  out.close("producer");
  return 0;
}

function produce(out: MessageRing, n: number): number {
  const buf = new Uint8Array(out.maxMessage);
  for (let seq = 0; seq < n; seq++) {
    const msg = buf.subarray(0, patternLength(seq, out.maxMessage));
    fillPattern(msg, seq);
    while (!out.push(msg)) {
      if (!out.waitWritable(msg.length, TIMEOUT_MS, spinUs)) {
        return fail(`produce: stuck at ${seq}`);
      }
    }
  }
  out.close("producer");
  return 0;
}

function consume(inp: MessageRing, n: number): number {
  const want = new Uint8Array(inp.maxMessage);
  for (let seq = 0; seq < n; seq++) {
    let m = inp.peek();
    while (m === null) {
      if (inp.error || !inp.waitReadable(TIMEOUT_MS, spinUs)) {
        return fail(`consume: stuck at ${seq} (${inp.error?.message ?? "timeout"})`);
      }
      m = inp.peek();
    }
    const w = want.subarray(0, patternLength(seq, inp.maxMessage));
    fillPattern(w, seq);
    if (m.length !== w.length || m.some((b, i) => b !== w[i])) {
      return fail(`message ${seq}: length ${m.length}, want ${w.length}, or bytes differ`);
    }
    inp.release();
  }
  console.log(`ok ${n}`);
  return 0;
}

function sink(inp: MessageRing, out: MessageRing, n: number): number {
  for (let i = 0; i < n; i++) {
    while (inp.peekOffset() < 0) {
      if (!inp.waitReadable(TIMEOUT_MS, spinUs)) return fail(`sink: stuck at ${i}`);
    }
    inp.release();
  }
  const ack = new Uint8Array(4);
  new DataView(ack.buffer).setUint32(0, n, true);
  while (!out.push(ack)) {
    if (!out.waitWritable(4, TIMEOUT_MS, spinUs)) return fail("sink: no room for the ack");
  }
  return 0;
}

function bytesEcho(inp: ByteRing, out: ByteRing): number {
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = inp.read(buf);
    if (n === 0) {
      if (inp.error) return fail(inp.error.message);
      if (!inp.waitReadable(TIMEOUT_MS, spinUs)) {
        if (inp.producerClosed && !inp.hasData()) break;
        return fail("bytes-echo: nothing to read");
      }
      continue;
    }
    for (let done = 0; done < n;) {
      done += out.write(buf.subarray(done, n));
      if (done < n && !out.waitWritable(1, TIMEOUT_MS, spinUs)) return fail("bytes-echo: stuck");
    }
  }
  out.close("producer");
  return 0;
}

/** Garbage into a message ring's tail, record headers and data, mixed with real messages. */
function hostile(out: MessageRing, rounds: number, seed: number): number {
  let x = seed | 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const u32 = out.region.u32;
  const tailW = (out.offset + 128) >> 2;
  const dataW = out.dataStart >> 2;
  const words = out.capacity / 4;
  const buf = new Uint8Array(64);
  for (let i = 0; i < rounds; i++) {
    switch (rnd() % 6) {
      case 0:
        Atomics.store(out.region.i32, tailW, rnd() | 0);
        break;
      case 1:
        Atomics.store(out.region.i32, tailW, (u32[tailW] + (rnd() % 64)) | 0);
        break;
      case 2:
        u32[dataW + (rnd() % words)] = rnd();
        break;
      case 3:
        u32[dataW + ((rnd() % words) & ~1)] = rnd() % (2 * out.capacity);
        break;
      case 4:
        u32[dataW + ((rnd() % words) | 1)] = rnd() % 3;
        break;
      default: {
        // A fresh attach resyncs to whatever tail is there now, then pushes a real message.
        const again = MessageRing.attach(out.region, out.offset);
        fillPattern(buf, i);
        again.push(buf.subarray(0, rnd() % 64));
      }
    }
  }
  // End with a tail no honest producer could write.
  const head = Atomics.load(out.region.i32, (out.offset + 64) >> 2);
  Atomics.store(out.region.i32, tailW, (head + out.capacity + 64) | 0);
  out.close("producer");
  return 0;
}

function fail(why: string): number {
  console.error(`ipc peer (deno): ${why}`);
  return 1;
}

function sockEcho(path: string, size: number): Promise<number> {
  return (async () => {
    const conn = await Deno.connect({ transport: "unix", path });
    const buf = new Uint8Array(size);
    for (;;) {
      let got = 0;
      while (got < size) {
        const k = await conn.read(buf.subarray(got));
        if (k === null) {
          conn.close();
          return got === 0 ? 0 : 1;
        }
        got += k;
      }
      for (let done = 0; done < size;) done += await conn.write(buf.subarray(done));
    }
  })();
}

async function sockSink(path: string, size: number, n: number): Promise<number> {
  const conn = await Deno.connect({ transport: "unix", path });
  const buf = new Uint8Array(65536);
  let left = size * n;
  while (left > 0) {
    const k = await conn.read(buf);
    if (k === null) return 1;
    left -= k;
  }
  await conn.write(new Uint8Array([1]));
  conn.close();
  return 0;
}

async function main(args: string[]): Promise<number> {
  const [mode, a1, a2, a3, a4, a5] = args;
  if (mode === "sock-echo") return await sockEcho(a1, Number(a2));
  if (mode === "sock-sink") return await sockSink(a1, Number(a2), Number(a3));
  using region = Region.open(a1);
  const n = Number(a4 ?? 0);
  switch (mode) {
    case "echo":
      return echo(MessageRing.attach(region, Number(a2)), MessageRing.attach(region, Number(a3)));
    case "produce":
      return produce(MessageRing.attach(region, Number(a2)), n);
    case "consume":
      return consume(MessageRing.attach(region, Number(a2)), n);
    case "sink":
      return sink(
        MessageRing.attach(region, Number(a2)),
        MessageRing.attach(region, Number(a3)),
        n,
      );
    case "bytes-echo":
      return bytesEcho(ByteRing.attach(region, Number(a2)), ByteRing.attach(region, Number(a3)));
    case "hostile":
      return hostile(MessageRing.attach(region, Number(a2)), n, Number(a5));
    default:
      return fail(`unknown mode ${mode}`);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

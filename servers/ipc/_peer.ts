/**
 * The Deno side of the cross-process ring tests and of the ipc benchmark; the same modes and
 * arguments as native/ipc/ipc_peer.c (see there). Private to servers/ipc.
 *
 * @module
 */
import { libc } from "../../ffi/libc.ts";
import { ByteRing } from "./byte_ring.ts";
import { MessageRing } from "./message_ring.ts";
import { Region } from "./region.ts";
import { setSpinYield } from "./ring.ts";
import { fillPattern, patternLength } from "./_test_util.ts";

const TIMEOUT_MS = 10_000;
const spinUs = Number(Deno.env.get("JR_SPIN_US") ?? "20");
setSpinYield(Deno.env.get("JR_SPIN_YIELD") !== "0");

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
  // "Ready": the producer starts its clock once this arrives.
  if (!out.push(new Uint8Array(4))) return fail("sink: no room for ready");
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

/** Connects a blocking Unix stream socket (raw syscalls: the socket at its fastest). */
function sockConnect(path: string): number {
  const fd = libc.socket(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC);
  if (fd < 0 || libc.connectUnix(fd, path) !== 0) throw new Error(`Cannot connect to ${path}`);
  return fd;
}

/** Reads exactly buf.length bytes; false on EOF or error. */
export function readFull(fd: number, buf: Uint8Array<ArrayBuffer>): boolean {
  for (let got = 0; got < buf.length;) {
    const k = libc.read(fd, got === 0 ? buf : buf.subarray(got));
    if (k <= 0) return false;
    got += k;
  }
  return true;
}

/** Writes all of buf; false on error. */
export function writeFull(fd: number, buf: Uint8Array<ArrayBuffer>): boolean {
  for (let done = 0; done < buf.length;) {
    const k = libc.write(fd, done === 0 ? buf : buf.subarray(done));
    if (k <= 0) return false;
    done += k;
  }
  return true;
}

function sockEcho(path: string, size: number): number {
  const fd = sockConnect(path);
  const buf = new Uint8Array(size);
  while (readFull(fd, buf)) if (!writeFull(fd, buf)) return 1;
  libc.close(fd);
  return 0;
}

function sockSink(path: string, size: number, n: number): number {
  const fd = sockConnect(path);
  const buf = new Uint8Array(65536);
  for (let left = size * n; left > 0;) {
    const k = libc.read(fd, left < buf.length ? buf.subarray(0, left) : buf);
    if (k <= 0) return 1;
    left -= k;
  }
  writeFull(fd, new Uint8Array([1]));
  libc.close(fd);
  return 0;
}

function main(args: string[]): number {
  const [mode, a1, a2, a3, a4, a5] = args;
  if (mode === "sock-echo") return sockEcho(a1, Number(a2));
  if (mode === "sock-sink") return sockSink(a1, Number(a2), Number(a3));
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

if (import.meta.main) Deno.exit(main(Deno.args));

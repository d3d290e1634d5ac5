/**
 * Whole-path tests of the NIC server: a namespace pair joined by a veth, the NIC server on
 * af_packet in one namespace, the Linux kernel (raw packet sockets, ping) in the other.
 * Everything created here is removed at the end; only processes started here are ended.
 */
import fc from "fast-check";
import { assert, assertEquals } from "./_nic_assert.ts";
import { openDpdk } from "../ffi/dpdk.ts";
import {
  type Desc,
  F,
  H,
  NicRegion,
  OFF,
  RX,
  RX_FREE,
  TX,
  TX_FREE,
} from "../servers/nic/region.ts";
import { parsePcapng } from "../servers/nic/pcapng.ts";
import { capture } from "../servers/nic/capture.ts";
import { NicFixture } from "./_nic_fixture.ts";
import { systemTest } from "./_system.ts";
import { memifPair, NicChild } from "../servers/nic/_child.ts";

const PY_SEND = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.stdin.read().split():
    s.send(bytes.fromhex(h))
`;

const PY_RECV = `
import socket, sys, select
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((sys.argv[1], 0))
want = int(sys.argv[2])
print("ready", flush=True)
got = 0
while got < want:
    r, _, _ = select.select([s], [], [], 5)
    if not r:
        break
    d = s.recv(65535)
    print(d.hex(), flush=True)
    got += 1
`;

/** A test frame: broadcast, ethertype 0x88b5, payload with a sequence number and a pattern. */
function testFrame(i: number, len: number, src: number[]): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, i);
  for (let k = 18; k < len; k++) f[k] = (k * 7 + i) & 0xff;
  return f;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Sends frames from the peer namespace. */
async function peerSend(fx: NicFixture, frames: Uint8Array[]): Promise<void> {
  const send = new Deno.Command("ip", {
    args: ["netns", "exec", fx.peerNs, "python3", "-c", PY_SEND, fx.peerIf],
    stdin: "piped",
  }).spawn();
  const w = send.stdin.getWriter();
  await w.write(new TextEncoder().encode(frames.map(hex).join("\n")));
  await w.close();
  assertEquals((await send.status).code, 0);
}

/**
 * Starts PY_RECV on the peer (an AF_PACKET socket for `ethertype`, up to `want` frames, ending
 * after 5 quiet seconds) and waits until it listens. `read()` gives its output as it comes,
 * `lines()` every line to its end (the frames in hex), `stop()` ends it.
 */
async function peerRecv(fx: NicFixture, want: number, ethertype = "0x88b5") {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      fx.peerNs,
      "python3",
      "-c",
      PY_RECV.replace("socket.htons(0x88b5)", `socket.htons(${ethertype})`),
      fx.peerIf,
      String(want),
    ],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("ready\n")) {
    const r = await reader.read();
    if (r.done) throw new Error("the peer's receiver ended before it was ready");
    buf += r.value;
  }
  buf = buf.slice(buf.indexOf("ready\n") + 6);
  return {
    /** The output that came since the last read (waits for some); undefined at its end. */
    async read(): Promise<string | undefined> {
      const b = buf;
      buf = "";
      if (b) return b;
      const r = await reader.read();
      return r.done ? undefined : r.value;
    },
    /** The lines of output to its end (the receiver exited). */
    async lines(): Promise<string[]> {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        buf += r.value;
      }
      await child.status;
      return buf.split("\n").filter((l) => l.length > 0);
    },
    async stop(): Promise<void> {
      child.kill();
      await child.status;
    },
  };
}

/** Puts frames on the TX ring (a free tx buffer each, `flags`), then publishes them. */
function txPut(region: NicRegion, frames: Uint8Array[], flags = 0): void {
  const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  for (const f of frames) {
    assert(region.rings[TX_FREE].pop(d), "a free tx buffer");
    region.bytes.set(f, d.off);
    assert(region.rings[TX].push(d.off, f.length, flags), "TX has room");
  }
  region.rings[TX].publish();
}

/**
 * Takes frames off the RX ring, giving every buffer back, and hands each to `each` until
 * `done()` or 5 s.
 */
async function ringEach(
  region: NicRegion,
  done: () => boolean,
  each: (f: Uint8Array, d: Desc) => void,
): Promise<void> {
  const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
  const until = Date.now() + 5000;
  while (!done() && Date.now() < until) {
    if (!region.rings[RX].pop(d)) {
      await region.rings[RX].wait(100_000);
      continue;
    }
    const f = region.frame(d, "rx");
    assert(f !== undefined, `RX descriptor in the rx pool (off ${d.off} len ${d.len})`);
    each(f, d);
    assert(region.rings[RX_FREE].push(d.off, 0), "RX_FREE has room");
    region.rings[RX_FREE].publish();
  }
}

/** Takes marked frames off the RX ring (giving every buffer back) until `n` or 5 s. */
async function ringTake(region: NicRegion, n: number, mark: number): Promise<string[]> {
  const got: string[] = [];
  await ringEach(region, () => got.length >= n, (f) => {
    if (f[12] === 0x88 && f[11] === mark) got.push(hex(f));
  });
  return got;
}

/** Fails the test if the fixture's NIC server has exited. */
async function assertStillRunning(fx: NicFixture): Promise<void> {
  let status: Deno.CommandStatus | undefined;
  fx.child!.status.then((s) => status = s);
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(status, undefined, "the NIC server is still running");
}

systemTest(
  "nic af_packet: frames from the peer arrive intact on the RX ring, ring frames reach the peer, capture records both",
  async () => {
    await using fx = await NicFixture.start("af_packet");
    const dpdk = openDpdk();
    using region = NicRegion.attach(dpdk, fx.regionPath);
    assertEquals(region.mtu, 1500);
    assert((region.offloads & OFF.txCsum) !== 0, "offloads advertise tx checksum");

    // Capture while the test runs.
    const pcap = `${fx.dir}/cap.pcapng`;
    const ac = new AbortController();
    const cap = capture({ file: pcap, region: fx.regionPath, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300));

    // Peer → NIC: 40 frames of assorted sizes.
    const sizes = Array.from({ length: 40 }, (_, i) => [60, 61, 64, 128, 1000, 1514][i % 6]);
    const frames = sizes.map((n, i) => testFrame(i, n, [2, 0, 0, 0, 0, 1]));
    await peerSend(fx, frames);

    const got: Uint8Array[] = [];
    await ringEach(region, () => got.length >= frames.length, (b) => {
      if (b[12] === 0x88 && b[13] === 0xb5) got.push(b.slice());
    });
    assertEquals(got.length, frames.length, "every injected frame arrived");
    for (let i = 0; i < frames.length; i++) assertEquals(hex(got[i]), hex(frames[i]));

    // NIC → peer: 30 frames from the TX ring.
    const recv = await peerRecv(fx, 30);
    const out = Array.from(
      { length: 30 },
      (_, i) => testFrame(1000 + i, 60 + i * 40, [2, 0, 0, 0, 0, 2]),
    );
    txPut(region, out);
    const seen = await recv.lines();
    assertEquals(seen.length, out.length, "every ring frame reached the peer");
    for (let i = 0; i < out.length; i++) assertEquals(seen[i], hex(out[i]));

    ac.abort();
    const res = await cap;
    const parsed = parsePcapng(await Deno.readFile(pcap));
    assertEquals(parsed.interfaces.length, 1);
    const ins = parsed.packets.filter((p) => p.dir === "in" && p.data[12] === 0x88);
    const outs = parsed.packets.filter((p) => p.dir === "out" && p.data[12] === 0x88);
    assertEquals(ins.length, frames.length, "captured received frames");
    assertEquals(outs.length, out.length, "captured sent frames");
    assertEquals(hex(ins[3].data), hex(frames[3]));
    assertEquals(hex(outs[5].data), hex(out[5]));
    assert(res.frames >= frames.length + out.length);
    const c = region.counters();
    assertEquals(c.txBadDesc, 0);
    assert(c.rxFrames >= frames.length);
  },
);

/** Turns the NIC side's veth offloads off: the kernel segments and checksums in software. */
async function vethOffloadsOff(fx: NicFixture): Promise<void> {
  const r = await new Deno.Command("ip", {
    args: ["netns", "exec", fx.nicNs, "ethtool", "-K", fx.nicIf, "tx", "off", "tso", "off"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
}

// --kernel-gso off: rte_gso cuts the frame; on (offloads off on the veth): the kernel does,
// from the virtio-net header the NIC server wrote; pass: the veth hands it to the peer whole.
for (const mode of ["off", "on", "pass"]) {
  systemTest(
    `nic af_packet --kernel-gso ${mode}: TSO frames leave as ${
      mode === "pass" ? "one GSO packet" : "MSS-sized segments with valid checksums"
    }; bad descriptors are refused`,
    () => tsoTest(mode),
  );
}

async function tsoTest(mode: string): Promise<void> {
  {
    await using fx = await NicFixture.start("af_packet", ["--kernel-gso", mode]);
    if (mode === "on") await vethOffloadsOff(fx);
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    // A TCP/IPv4 frame with 10000 bytes of payload to 198.18.5.1:9 (discard; no listener → RST,
    // which we ignore). The peer's kernel counts segments with good checksums in its stats.
    const payload = 10000, mss = 1400;
    const f = new Uint8Array(14 + 20 + 20 + payload);
    const dv = new DataView(f.buffer);
    f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 3, 0x08, 0x00], 0);
    f.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 5, 2, 198, 18, 5, 1], 14);
    dv.setUint16(16, 20 + 20 + payload);
    dv.setUint16(34, 40000);
    dv.setUint16(36, 9);
    dv.setUint32(38, 1000);
    dv.setUint32(42, 0);
    f[46] = 0x50;
    f[47] = 0x18; // PSH|ACK
    dv.setUint16(48, 65535);
    for (let i = 0; i < payload; i++) f[54 + i] = i & 0xff;
    const recv = await peerRecv(fx, 8, "0x0800");
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    assert(region.rings[TX_FREE].pop(d));
    region.bytes.set(f, d.off);
    // Hostile descriptors first: outside the pool, misaligned, too long. All refused.
    region.rings[TX].push(12345, 100);
    region.rings[TX].push(d.off + 1, 100);
    region.rings[TX].push(region.txPoolOff, 1 << 30);
    region.rings[TX].push(d.off, f.length, F.txTso | F.txCsum, mss);
    region.rings[TX].publish();
    const segs = (await recv.lines()).map((h) =>
      Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)))
    ).filter((s) => s[23] === 6 && s[26] === 198 && s[29] === 2);
    if (mode === "pass") {
      // One packet as sent (the checksum is the peer kernel's to trust: CHECKSUM_PARTIAL).
      assertEquals(segs.length, 1, "one GSO packet");
      assertEquals(segs[0].length, f.length);
      for (let i = 0; i < payload; i++) assertEquals(segs[0][54 + i], i & 0xff);
      const c = region.counters();
      assertEquals(c.txBadDesc, 3, "three hostile descriptors refused");
      assertEquals(c.gsoSegments, Math.ceil(payload / mss));
      return;
    }
    assertEquals(segs.length, Math.ceil(payload / mss), "segment count");
    let seq = 1000, total = 0;
    for (const s of segs) {
      const v = new DataView(s.buffer);
      assertEquals(v.getUint32(38), seq, "sequence numbers follow");
      const len = v.getUint16(16) - 40;
      assert(len <= mss);
      assertEquals(ipChecksum(s.subarray(14, 34)), 0, "IPv4 header checksum");
      assertEquals(tcpChecksum(s), 0, "TCP checksum");
      for (let i = 0; i < len; i++) assertEquals(s[54 + i], (seq - 1000 + i) & 0xff);
      seq += len;
      total += len;
    }
    assertEquals(total, payload);
    const c = region.counters();
    assertEquals(c.txBadDesc, 3, "three hostile descriptors refused");
    assertEquals(c.gsoSegments, segs.length);
  }
}

systemTest(
  "nic af_packet: an idle server sleeps (under 1% of a core between frames) and wakes for ping",
  async () => {
    await using fx = await NicFixture.start("af_packet");
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    const used = await idleShare([fx.pid], [region]);
    assert(used < 0.01, `idle NIC server used ${(used * 100).toFixed(2)}% of a core`);
    const before = region.counter("rxFrames");
    // The kernel peer ARPs for 198.18.5.2; the request must arrive on the RX ring promptly.
    await new Deno.Command("ip", {
      args: ["netns", "exec", fx.peerNs, "ping", "-c", "1", "-W", "1", "198.18.5.2"],
      stdout: "null",
      stderr: "null",
    }).output();
    assert(region.counter("rxFrames") > before, "the sleeping server received the ARP request");
  },
);

/** CPU time (ns, from schedstat) of every live thread of a process, by thread id. */
function threadNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      out.set(
        t.name,
        Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[0]),
      );
    } catch {
      // thread gone
    }
  }
  return out;
}

/** CPU ns the processes' threads used since `before` (threadNs of each, in order). */
function nsSince(pids: number[], before: Map<string, number>[]): number {
  let ns = 0;
  pids.forEach((p, i) => {
    for (const [tid, t] of threadNs(p)) ns += t - (before[i].get(tid) ?? 0);
  });
  return ns;
}

/**
 * The share of a core the NIC servers used together while idle: the median over three 1 s
 * windows in which none of them received or sent a frame (looked for after 1 s, for at most
 * 10 windows). Measured per 250 ms from start (schedstat, thread ns), an af_packet server's
 * CPU comes with frames: the peer kernel's IPv6 link-up traffic (MLD, DAD, router
 * solicitations) arrives during the first ~6 s, and each stray frame costs the 5 ms spin after
 * traffic (the first two also ~15 ms of V8 compiling the hot loop); between frames it uses
 * ~0.7 ms per 2 s sleep (under 0.1 % of a core). /proc ticks (10 ms) over 2 s from 0.5 s
 * counted those frames' spins as idle: 5 % on a loaded machine. A busy loop measures ~100 %.
 */
async function idleShare(pids: number[], regions: NicRegion[]): Promise<number> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const frames = () =>
    regions.reduce((n, r) => n + r.counter("rxFrames") + r.counter("txFrames"), 0n);
  await sleep(1000);
  const shares: number[] = [];
  for (let w = 0; w < 10 && shares.length < 3; w++) {
    const before = pids.map(threadNs), f0 = frames();
    await sleep(1000);
    const ns = nsSince(pids, before);
    if (frames() === f0) shares.push(ns / 1e9);
  }
  assert(shares.length === 3, `only ${shares.length} of 10 windows of 1 s without frames`);
  return shares.sort((x, y) => x - y)[1];
}

function sum16(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function ipChecksum(h: Uint8Array): number {
  return (~sum16(h)) & 0xffff;
}

function tcpChecksum(f: Uint8Array): number {
  const ihl = (f[14] & 15) * 4;
  const tot = (f[16] << 8) | f[17];
  const seg = f.subarray(14 + ihl, 14 + tot);
  const ph = new Uint8Array(12);
  ph.set(f.subarray(26, 34), 0);
  ph[9] = 6;
  ph[10] = seg.length >> 8;
  ph[11] = seg.length & 0xff;
  return (~sum16(seg, sum16(ph))) & 0xffff;
}

systemTest(
  "nic memif: frames from one server's TX ring arrive intact on the other's RX ring; both sleep when idle",
  async () => {
    await using pair = await memifPair(`${Deno.pid}-${Date.now() % 100000}`);
    const { a, b } = pair;
    {
      const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
      const sent: Uint8Array[] = [];
      const got: Uint8Array[] = [];
      const until = Date.now() + 15000;
      let i = 0;
      // memif connects in the background; keep sending until 50 frames came through.
      while (got.length < 50 && Date.now() < until) {
        if (sent.length - got.length < 8 && a.region.rings[TX_FREE].pop(d)) {
          const f = testFrame(i++, 60 + (i * 97) % 1455, [2, 0, 0, 0, 0, 4]);
          a.region.bytes.set(f, d.off);
          a.region.rings[TX].push(d.off, f.length);
          a.region.rings[TX].publish();
          sent.push(f);
        }
        while (b.region.rings[RX].pop(d)) {
          const fr = b.region.frame(d, "rx");
          assert(fr !== undefined);
          got.push(fr.slice());
          b.region.rings[RX_FREE].push(d.off, 0);
        }
        b.region.rings[RX_FREE].publish();
        await new Promise((r) => setTimeout(r, 1));
      }
      assert(got.length >= 50, `only ${got.length} frames crossed memif`);
      // Frames sent before the link came up are lost; the rest arrive in order, intact.
      const first = sent.findIndex((f) => hex(f) === hex(got[0]));
      assert(first >= 0, "the first received frame is one we sent");
      for (let k = 0; k < got.length; k++) assertEquals(hex(got[k]), hex(sent[first + k]));
      // Asleep, not spinning (a spinning server takes 50-100 % of a core). Under 10 %: the
      // second right after traffic, on a VM whose wake-ups cost 1-4 ms of CPU each depending
      // on the day (session 15: 5.4-6.6 % with this code and session 14's alike; a bare Deno
      // process with a 1 Hz timer took 2.3 % that hour).
      const used = await idleShare([a.pid, b.pid], [a.region, b.region]) / 2;
      assert(used < 0.1, `two idle memif servers used ${(used * 100).toFixed(2)}% of a core each`);
    }
  },
);

/** A TCP/IPv4 frame from 198.18.5.(1+flow):40000 to 198.18.5.9:7 with valid checksums. */
function tcpFrame(flow: number, seq: number, flags: number, len: number): Uint8Array {
  const f = new Uint8Array(54 + len);
  const v = new DataView(f.buffer);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, 4], 6);
  f.set([0x08, 0x00, 0x45, 0], 12);
  v.setUint16(16, 40 + len);
  v.setUint16(18, seq & 0xffff);
  v.setUint16(20, 0x4000);
  f.set([64, 6], 22);
  f.set([198, 18, 5, 1 + flow, 198, 18, 5, 9], 26);
  v.setUint16(24, ipChecksum(f.subarray(14, 34)));
  v.setUint16(34, 40000);
  v.setUint16(36, 7);
  v.setUint32(38, seq);
  v.setUint32(42, 1);
  f[46] = 0x50;
  f[47] = flags;
  v.setUint16(48, 65535);
  for (let k = 0; k < len; k++) f[54 + k] = ((seq + k) * 13 + flow) & 0xff;
  v.setUint16(50, tcpChecksum(f));
  return f;
}

systemTest(
  "nic memif GRO: bursts of TCP segments (PSH, pure ACKs, two flows) arrive in each flow's order, PSH kept",
  async () => {
    // DPDK 22.11's rte_gro_reassemble_burst put the frames it does not merge (PSH, no data)
    // behind the merged ones of the burst: the receiver saw its stream reordered.
    await using pair = await memifPair(`${Deno.pid}-${Date.now() % 100000}-g`);
    const { a, b } = pair;
    {
      assert((b.region.offloads & OFF.gro) !== 0, "GRO on the receiving side");
      const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
      const drain = (): Uint8Array[] => {
        const out: Uint8Array[] = [];
        while (b.region.rings[RX].pop(d)) {
          const fr = b.region.frame(d, "rx")!;
          if (fr[12] === 0x08 && fr[23] === 6) {
            assert(d.flags & F.rxCsumOk, "verified");
            assertEquals(
              tcpChecksum(fr),
              0,
              `TCP checksum of what arrived (flags ${
                d.flags.toString(16)
              }, ${fr.length} bytes, tcp flags ${fr[47]})`,
            );
            out.push(fr.slice());
          }
          b.region.rings[RX_FREE].push(d.off, 0);
        }
        b.region.rings[RX_FREE].publish();
        return out;
      };
      // The link is up once a frame crosses.
      const up = Date.now() + 15000;
      let crossed = false;
      while (!crossed && Date.now() < up) {
        if (a.region.rings[TX_FREE].pop(d)) {
          const f = testFrame(0, 60, [2, 0, 0, 0, 0, 4]);
          a.region.bytes.set(f, d.off);
          a.region.rings[TX].push(d.off, f.length);
          a.region.rings[TX].publish();
        }
        await new Promise((r) => setTimeout(r, 20));
        while (b.region.rings[RX].pop(d)) {
          crossed = true;
          b.region.rings[RX_FREE].push(d.off, 0);
        }
        b.region.rings[RX_FREE].publish();
      }
      assert(crossed, "memif link up");
      const ACK = 0x10, PSH = 0x08;
      const kind = fc.record({
        flow: fc.integer({ min: 0, max: 1 }),
        what: fc.constantFrom("data", "data", "data", "data", "psh", "psh", "ack"),
        len: fc.integer({ min: 100, max: 1400 }),
      });
      const next = [1000, 1000];
      const bursts = fc.sample(fc.array(kind, { minLength: 8, maxLength: 40 }), {
        seed: 20261128,
        numRuns: 25,
      });
      for (const burst of bursts) {
        const start = [...next];
        const pshEnds = [new Set<number>(), new Set<number>()];
        for (const k of burst) {
          assert(a.region.rings[TX_FREE].pop(d), "a TX buffer");
          const len = k.what === "ack" ? 0 : k.len;
          const f = tcpFrame(k.flow, next[k.flow], k.what === "psh" ? ACK | PSH : ACK, len);
          a.region.bytes.set(f, d.off);
          a.region.rings[TX].push(d.off, f.length);
          next[k.flow] += len;
          if (k.what === "psh") pshEnds[k.flow].add(next[k.flow]);
        }
        a.region.rings[TX].publish(); // one burst
        const at = [...start];
        const until = Date.now() + 5000;
        while ((at[0] < next[0] || at[1] < next[1]) && Date.now() < until) {
          for (const f of drain()) {
            const v = new DataView(f.buffer);
            const flow = f[29] - 1, seq = v.getUint32(38), len = v.getUint16(16) - 40;
            assertEquals(seq, at[flow], `flow ${flow}: segment at ${seq}, expected ${at[flow]}`);
            for (let k = 0; k < len; k++) {
              assertEquals(f[54 + k], ((seq + k) * 13 + flow) & 0xff, `byte ${seq + k}`);
            }
            let pushed = false;
            for (const e of pshEnds[flow]) if (e > seq && e <= seq + len) pushed = true;
            if (pushed) assert(f[47] & PSH, `flow ${flow}: PSH kept on ${seq}+${len}`);
            at[flow] += len;
          }
          if (at[0] < next[0] || at[1] < next[1]) await b.region.rings[RX].wait(100_000);
        }
        assertEquals(at, next, "every byte of both flows arrived");
      }
      assert(b.region.counters().groMerged > 0, "GRO merged some segments");
    }
  },
);

const PY_TCP = `
import socket, struct, sys
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
src, dst = bytes([198, 18, 5, 1]), bytes([198, 18, 5, 2])
dmac, smac = bytes.fromhex(sys.argv[2]), bytes.fromhex("020000000005")
n, size, bad = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frames = []
for i in range(n):
    payload = bytes(((i * size + k) * 13) & 0xff for k in range(size))
    tcp = struct.pack("!HHIIBBHHH", 40000, 7, 5000 + i * size, 1, 0x50, 0x10, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    if bad and i == n - 1: c ^= 0x1234
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    frames.append(dmac + smac + b"\\x08\\x00" + ip + tcp)
for f in frames:
    s.send(f)
`;

systemTest(
  "nic af_packet --gro: TCP segments arrive as a valid byte stream (coalesced or not), checksums verified and flagged",
  async () => {
    await using fx = await NicFixture.start("af_packet", ["--gro"]);
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    assert((region.offloads & OFF.gro) !== 0, "GRO advertised on a --gro region");
    const mac = region.mac.replaceAll(":", "");
    const n = 24, size = 1000;
    const r = await new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        fx.peerNs,
        "python3",
        "-c",
        PY_TCP,
        fx.peerIf,
        mac,
        String(n),
        String(size),
        "1",
      ], // deno-fmt-ignore
      stderr: "piped",
    }).output();
    assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
    const stream = new Map<number, Uint8Array>();
    let frames = 0, merged = 0, bad = 0, got = 0;
    await ringEach(region, () => got >= n * size, (f, d) => {
      if (f[12] === 0x08 && f[23] === 6 && f[26] === 198 && f[29] === 1) {
        frames++;
        const seq = new DataView(f.buffer, f.byteOffset).getUint32(38);
        const len = ((f[16] << 8) | f[17]) - 40;
        if (d.flags & F.rxCsumBad) {
          bad++;
          got += len;
        } else {
          assert(d.flags & F.rxCsumOk, `flags ${d.flags.toString(16)}: verified`);
          assertEquals(ipChecksum(f.subarray(14, 34)), 0, "IPv4 checksum of what we got");
          assertEquals(tcpChecksum(f), 0, "TCP checksum of what we got");
          if (d.flags & F.rxGro) merged++;
          stream.set(seq, f.slice(54, 54 + len));
          got += len;
        }
      }
    });
    assertEquals(bad, 1, "the segment with the broken checksum is flagged bad");
    let seq = 5000, total = 0;
    while (stream.has(seq)) {
      const p = stream.get(seq)!;
      for (let k = 0; k < p.length; k++) {
        assertEquals(p[k], ((seq - 5000 + k) * 13) & 0xff, `byte ${seq - 5000 + k}`);
      }
      seq += p.length;
      total += p.length;
    }
    assertEquals(total, (n - 1) * size, "the good segments' bytes, in order, nothing lost");
    const c = region.counters();
    assertEquals(c.rxCsumBad, 1);
    assertEquals(c.groMerged, n - 1 - (frames - 1), "groMerged counts the frames merged away");
    void merged;
  },
);

systemTest(
  "nic af_packet: hostile TX descriptors and frames (random offsets, lengths, flags, headers) are refused or sent, never crash the server",
  async () => {
    await using fx = await NicFixture.start("af_packet");
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    const g = region.geometry;
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    const slots: number[] = [];
    for (let i = 0; i < 64 && region.rings[TX_FREE].pop(d); i++) slots.push(d.off);
    const header = fc.record({
      ihl: fc.integer({ min: 0, max: 15 }),
      tot: fc.integer({ min: 0, max: 0xffff }),
      proto: fc.constantFrom(6, 17, 1, 255),
      doff: fc.integer({ min: 0, max: 15 }),
      frag: fc.integer({ min: 0, max: 0xffff }),
      ether: fc.constantFrom(0x0800, 0x86dd, 0x88b5),
    });
    const desc = fc.record({
      kind: fc.constantFrom("slot", "slot", "near", "wild"),
      slot: fc.nat(slots.length - 1),
      delta: fc.integer({ min: -4096, max: 4096 }),
      wild: fc.nat(0xffffffff),
      len: fc.oneof(fc.integer({ min: 0, max: 1600 }), fc.integer({ min: 0, max: 0x1ffff })),
      flags: fc.oneof(fc.constantFrom(0, F.txCsum, F.txTso, F.txCsum | F.txTso), fc.nat(0xffff)),
      mss: fc.nat(0xffff),
      h: header,
    });
    const cases = fc.sample(desc, { seed: 4, numRuns: 600 });
    let i = 0;
    for (const c of cases) {
      const off = c.kind === "slot"
        ? slots[c.slot]
        : c.kind === "near"
        ? (slots[c.slot] + c.delta) >>> 0
        : c.wild;
      if (c.kind === "slot") {
        const b = region.bytes.subarray(off, off + Math.min(g.txSlotSize, 80));
        const v = new DataView(b.buffer, b.byteOffset, b.length);
        b.fill(0xff, 0, 6);
        v.setUint16(12, c.h.ether);
        b[14] = 0x40 | c.h.ihl;
        v.setUint16(16, c.h.tot);
        v.setUint16(20, c.h.frag);
        b[23] = c.h.proto;
        b[46] = c.h.doff << 4;
      }
      while (!region.rings[TX].push(off, c.len, c.flags, c.mss)) {
        region.rings[TX].publish();
        await new Promise((r) => setTimeout(r, 5));
      }
      if (++i % 32 === 0) {
        region.rings[TX].publish();
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    region.rings[TX].publish();
    const until = Date.now() + 5000;
    while (region.rings[TX].count > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(region.rings[TX].count, 0, "the server consumed every descriptor");
    const c = region.counters();
    assert(c.txBadDesc > 100, `refused ${c.txBadDesc} descriptors`);
    // Still serving: ordinary frames reach the peer.
    const recv = await peerRecv(fx, 5);
    const out = Array.from({ length: 5 }, (_, k) => testFrame(7000 + k, 100, [2, 0, 0, 0, 0, 6]));
    txPut(region, out);
    const seen = await recv.lines();
    assertEquals(seen.slice(-5), out.map(hex), "valid frames after the storm arrive intact");
    await assertStillRunning(fx);
  },
);

systemTest(
  "nic af_packet --gro: random and malformed frames from the wire all reach the RX ring, checksums flagged, server keeps running",
  async () => {
    const pcap = `/tmp/jr-nictest-${Deno.pid}-start.pcapng`;
    await using fx = await NicFixture.start("af_packet", ["--gro", "--capture", pcap]);
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    const marker = [2, 0, 0, 0xee, 0xee, 7];
    const frameArb = fc.record({
      len: fc.integer({ min: 60, max: 1514 }),
      ether: fc.constantFrom(0x0800, 0x0800, 0x86dd, 0x0806),
      vihl: fc.nat(255),
      tot: fc.nat(0xffff),
      frag: fc.constantFrom(0, 0x4000, 0x2000, 0x1fff),
      proto: fc.constantFrom(6, 6, 17, 1),
      doff: fc.nat(255),
      fill: fc.nat(255),
    });
    const frames = fc.sample(frameArb, { seed: 11, numRuns: 150 }).map((c) => {
      const f = new Uint8Array(c.len);
      for (let k = 0; k < c.len; k++) f[k] = (k * 31 + c.fill) & 0xff;
      f.fill(0xff, 0, 6);
      f.set(marker, 6);
      new DataView(f.buffer).setUint16(12, c.ether);
      f[14] = c.vihl;
      new DataView(f.buffer).setUint16(16, c.tot);
      new DataView(f.buffer).setUint16(20, c.frag);
      f[23] = c.proto;
      f[46] = c.doff;
      return f;
    });
    await peerSend(fx, frames);
    const got: string[] = [];
    await ringEach(region, () => got.length >= frames.length, (f, d) => {
      if (f[6] === 2 && f[9] === 0xee && f[11] === 7) {
        got.push(hex(f));
        assertEquals(d.flags & F.rxCsumOk, 0, "random bytes never pass as checksummed");
      }
    });
    assertEquals(got, frames.map(hex), "every frame arrived, unchanged and in order");
    // --capture recorded them from the start.
    const cap = parsePcapng(await Deno.readFile(pcap));
    await Deno.remove(pcap);
    const capped = cap.packets.filter((p) =>
      p.dir === "in" && p.data[6] === 2 && p.data[9] === 0xee
    )
      .map((p) => hex(p.data));
    assertEquals(capped, frames.map(hex), "--capture wrote every frame");
    await assertStillRunning(fx);
  },
);

systemTest(
  "nic af_packet: after SIGKILL a new server attaches to the same region and traffic goes on",
  async () => {
    await using fx = await NicFixture.start("af_packet");
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    const ino = Deno.statSync(fx.regionPath).ino;
    const gen0 = region.view.getUint32(H.generation, true);
    const before = Array.from({ length: 10 }, (_, i) => testFrame(i, 200, [2, 0, 0, 0, 0, 8]));
    await peerSend(fx, before);
    assertEquals(await ringTake(region, 10, 8), before.map(hex));

    fx.child!.kill("SIGKILL");
    await fx.child!.status;
    await using again = await NicChild.start(
      fx.nicNs,
      ["--kind", "af_packet", "--iface", fx.nicIf],
      fx.regionPath,
      { fresh: false },
    );
    assertEquals(Deno.statSync(fx.regionPath).ino, ino, "same region file");
    assertEquals(region.view.getUint32(H.generation, true), gen0 + 1, "generation bumped");
    assertEquals(region.view.getUint32(H.nicPid, true), again.pid);

    const after = Array.from({ length: 10 }, (_, i) => testFrame(100 + i, 300, [2, 0, 0, 0, 0, 9]));
    await peerSend(fx, after);
    assertEquals(await ringTake(region, 10, 9), after.map(hex), "received through the old mapping");
    // Stray frames (the peer kernel's IPv6 neighbour discovery, MLD) may still be on the RX
    // ring or on their way: give them back until every buffer is free (at most 3 s).
    const stray: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      while (region.rings[RX].pop(stray)) region.rings[RX_FREE].push(stray.off, 0);
      region.rings[RX_FREE].publish();
      if (region.rings[RX_FREE].count === region.geometry.rxSlots) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(
      region.rings[RX_FREE].count,
      region.geometry.rxSlots,
      "every rx buffer is accounted for",
    );
    // And the new server sends what the old mapping queues.
    const recv = await peerRecv(fx, 3);
    const out = Array.from({ length: 3 }, (_, k) => testFrame(900 + k, 90, [2, 0, 0, 0, 0, 10]));
    txPut(region, out);
    assertEquals((await recv.lines()).slice(-3), out.map(hex));
  },
);

systemTest("nic af_packet --mtu 9000: jumbo frames cross both ways intact", async () => {
  await using fx = await NicFixture.start("af_packet", [], 9000);
  using region = NicRegion.attach(openDpdk(), fx.regionPath);
  assertEquals(region.mtu, 9000);
  assert(region.geometry.rxSlotSize >= 9018, "rx buffers hold a jumbo frame");
  const inbound = [
    testFrame(1, 9014, [2, 0, 0, 0, 0, 11]),
    testFrame(2, 5000, [2, 0, 0, 0, 0, 11]),
  ];
  await peerSend(fx, inbound);
  assertEquals(await ringTake(region, 2, 11), inbound.map(hex));
  const recv = await peerRecv(fx, 1);
  const out = testFrame(3, 9014, [2, 0, 0, 0, 0, 12]);
  txPut(region, [out]);
  assertEquals((await recv.lines()).join("\n"), hex(out));
  assertEquals(region.counters().rxTooBig, 0);
});

systemTest(
  "nic af_xdp --xdp-steer: Joyride's address comes to the ring, the kernel keeps its own traffic",
  async () => {
    await using fx = await NicFixture.start(
      "af_xdp",
      ["--xdp-steer", "198.18.5.2"],
      undefined,
      "198.18.5.3/24",
    );
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    // The kernel answers for its own address through the same interface.
    const ping = await new Deno.Command("ip", {
      args: ["netns", "exec", fx.peerNs, "ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.5.3"],
      stdout: "null",
      stderr: "null",
    }).output();
    assertEquals(ping.code, 0, "the kernel's address answers ping");
    // Joyride's address: the peer's ARP request for it lands on the RX ring.
    await new Deno.Command("ip", {
      args: ["netns", "exec", fx.peerNs, "ping", "-c", "1", "-W", "1", "198.18.5.2"],
      stdout: "null",
      stderr: "null",
    }).output();
    const d: Desc = { off: 0, len: 0, flags: 0, mss: 0 };
    let arpForUs = 0, forKernel = 0;
    while (region.rings[RX].pop(d)) {
      const f = region.frame(d, "rx")!;
      if (f[12] === 0x08 && f[13] === 0x06 && f[38] === 198 && f[41] === 2) arpForUs++;
      if (f[12] === 0x08 && f[13] === 0x06 && f[41] === 3) forKernel++;
      if (f[12] === 0x08 && f[13] === 0x00 && f[33] === 3) forKernel++;
      region.rings[RX_FREE].push(d.off, 0);
    }
    region.rings[RX_FREE].publish();
    assert(arpForUs >= 1, "ARP for Joyride's address reached the ring");
    assertEquals(forKernel, 0, "nothing for the kernel's address reached the ring");
  },
);

/** An Ethernet frame: IPv4 or IPv6 carrying `proto` with `payload`; checksums zero. */
function ipFrame(v6: boolean, proto: number, payload: number, mark: number): Uint8Array {
  const l4 = proto === 17 ? 8 : 4; // UDP header, or ICMP type/code/checksum
  const l3 = v6 ? 40 : 20;
  const f = new Uint8Array(14 + l3 + l4 + payload);
  const v = new DataView(f.buffer);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, mark], 6);
  v.setUint16(12, v6 ? 0x86dd : 0x0800);
  if (v6) {
    f[14] = 0x60;
    v.setUint16(18, l4 + payload);
    f[20] = proto;
    f[21] = 64;
    f.set([0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 22);
    f.set([0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 38);
  } else {
    f.set([0x45, 0, 0, 0, 0, 7, 0, 0, 64, proto, 0, 0, 198, 18, 5, 2, 198, 18, 5, 1], 14);
    v.setUint16(16, l3 + l4 + payload);
  }
  const o = 14 + l3;
  if (proto === 17) {
    v.setUint16(o, 5000);
    v.setUint16(o + 2, 9);
    v.setUint16(o + 4, 8 + payload);
  } else {
    f[o] = v6 ? 128 : 8; // echo request
  }
  for (let k = 0; k < payload; k++) f[o + l4 + k] = (k * 5 + mark) & 0xff;
  return f;
}

/** 0 when the frame's transport checksum (and IPv4 header checksum) verify. */
function l4Check(f: Uint8Array): number {
  const v6 = f[12] === 0x86;
  const l3 = v6 ? 40 : (f[14] & 15) * 4;
  const proto = v6 ? f[20] : f[23];
  const len = v6 ? (f[18] << 8) | f[19] : ((f[16] << 8) | f[17]) - l3;
  const seg = f.subarray(14 + l3, 14 + l3 + len);
  if (!v6 && ipChecksum(f.subarray(14, 14 + l3)) !== 0) return -1;
  if (proto === 1) return (~sum16(seg)) & 0xffff;
  const ph = new Uint8Array(v6 ? 40 : 12);
  if (v6) {
    ph.set(f.subarray(22, 54), 0);
    new DataView(ph.buffer).setUint32(32, len);
    ph[39] = proto;
  } else {
    ph.set(f.subarray(26, 34), 0);
    ph[9] = proto;
    ph[10] = len >> 8;
    ph[11] = len & 0xff;
  }
  return (~sum16(seg, sum16(ph))) & 0xffff;
}

systemTest(
  "nic af_packet: checksum offload for IPv4 UDP/ICMP and IPv6 UDP/ICMPv6 out; IPv6 UDP checksums verified in",
  async () => {
    // UDP leaves through the kernel-GSO socket (checksummed by the kernel: offloads off on the
    // veth), ICMP through the PMD (checksummed here).
    await using fx = await NicFixture.start("af_packet", ["--kernel-gso", "on"]);
    await vethOffloadsOff(fx);
    using region = NicRegion.attach(openDpdk(), fx.regionPath);
    const out = [
      ipFrame(false, 17, 333, 20),
      ipFrame(false, 1, 56, 20),
      ipFrame(true, 17, 1001, 20),
      ipFrame(true, 58, 64, 20),
    ];
    const recv = await peerRecv(fx, 200, "3"); // ETH_P_ALL
    txPut(region, out, F.txCsum);
    // Collect until our four frames were seen (the receiver stops after 5 quiet seconds).
    const seen: Uint8Array[] = [];
    const until = Date.now() + 5000;
    let buf = "";
    while (seen.length < 4 && Date.now() < until) {
      const r = await recv.read();
      if (r === undefined) break;
      buf += r;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) {
        const b = Uint8Array.from(l.match(/../g)!.map((x) => parseInt(x, 16)));
        if (b[6] === 2 && b[11] === 20) seen.push(b);
      }
    }
    await recv.stop();
    assertEquals(seen.length, 4, "all four frames reached the peer");
    for (const s of seen) assertEquals(l4Check(s), 0, `checksum of ${hex(s.subarray(12, 24))}`);

    // Inbound IPv6 UDP: a good and a broken checksum.
    const good = ipFrame(true, 17, 200, 21);
    const gv = new DataView(good.buffer);
    gv.setUint16(14 + 40 + 6, 0);
    const ph = new Uint8Array(40);
    ph.set(good.subarray(22, 54), 0);
    new DataView(ph.buffer).setUint32(32, 208);
    ph[39] = 17;
    gv.setUint16(60, (~sum16(good.subarray(54), sum16(ph))) & 0xffff);
    assertEquals(l4Check(good), 0);
    const bad = good.slice();
    bad[11] = 22;
    bad[100] ^= 0xff;
    await peerSend(fx, [good, bad]);
    const flags = new Map<number, number>();
    await ringEach(region, () => flags.size >= 2, (f, d) => {
      if (f[6] === 2 && (f[11] === 21 || f[11] === 22)) flags.set(f[11], d.flags);
    });
    assertEquals(flags.get(21)! & (F.rxCsumOk | F.rxCsumBad), F.rxCsumOk, "good IPv6 UDP");
    assertEquals(flags.get(22)! & (F.rxCsumOk | F.rxCsumBad), F.rxCsumBad, "broken IPv6 UDP");
  },
);

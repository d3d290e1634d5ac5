// Test helper: two engines joined by an in-memory Ethernet link with preallocated frame slots
// (the link allocates only the views it lends), and a 1-byte ping-pong between them through the
// Sockets API. Used by alloc_test.ts to bound the engine's allocation per round trip.
import { FakeContext } from "./context.ts";
import { type LinkEndpoint, Stack } from "./stack.ts";
import { Sockets } from "./socket/sockets.ts";
import { AF_INET, SOCK_NONBLOCK, SOCK_STREAM } from "./socket/api.ts";
import { ShmTcbStore } from "./store/shm_store.ts";
import { Tcp } from "./tcp/tcp.ts";

const SLOTS = 64;
const SLOT = 2048;

/** A one-way queue of frames in preallocated slots. */
class Wire {
  bufs: Uint8Array[] = [];
  views: Uint8Array[] = [];
  lens = new Int32Array(SLOTS);
  head = 0;
  count = 0;
  constructor() {
    for (let i = 0; i < SLOTS; i++) {
      const b = new Uint8Array(SLOT);
      this.bufs.push(b);
      this.views.push(b);
    }
  }
  /** Lends the next free slot (LinkEndpoint.alloc, as the NIC link does). */
  alloc(len: number): Uint8Array | undefined {
    if (this.count === SLOTS || len > SLOT) return undefined;
    return this.bufs[(this.head + this.count) % SLOTS].subarray(0, len);
  }
  /** Queues `f`: as it is when built in the lent slot, else copied into the next free slot. */
  push(f: Uint8Array): void {
    if (this.count === SLOTS) throw new Error("Ping-pong wire overflow");
    const i = (this.head + this.count) % SLOTS;
    if (f.buffer !== this.bufs[i].buffer || f.byteOffset !== 0) this.bufs[i].set(f);
    this.lens[i] = f.length;
    this.count++;
  }
}

/** Two stacks, a connected socket pair, and `run(n)` doing n 1-byte round trips. */
export class PingPong {
  ctx = new FakeContext(7);
  a = new Stack(this.ctx, { copyRx: false });
  b = new Stack(this.ctx, { copyRx: false });
  /** With `store`, b's TCP keeps its state in a ShmTcbStore committed every turn (the server's). */
  store: ShmTcbStore | undefined;
  tcpB: Tcp | undefined;
  sa: Sockets;
  sb: Sockets;
  ab = new Wire();
  ba = new Wire();
  aIf: number;
  bIf: number;
  cfd: number;
  sfd = -1;
  #one = new Uint8Array(1);
  #rx = new Uint8Array(64);

  constructor(opts: { store?: boolean } = {}) {
    if (opts.store) {
      const g = { records: 16, ringBytes: 65536 };
      this.store = ShmTcbStore.format(new Uint8Array(ShmTcbStore.bytes(g)), g);
      this.tcpB = new Tcp(this.b, this.store); // the one Tcp.of(b) (and Sockets) then uses
    }
    this.sa = new Sockets(this.a);
    this.sb = new Sockets(this.b);
    // Like the TCP server's NIC link: Ethernet, frames built in lent buffers, checksums
    // computed and verified by the engine (a NIC without checksum offload).
    const ep = (w: Wire, n: number): LinkEndpoint => ({
      kind: "ethernet",
      mtu: 1500,
      mac: new Uint8Array([2, 0, 0, 0, 0, n]),
      caps: { txChecksum: false, rxChecksum: false, tso: false },
      transmit: (f) => w.push(f),
      alloc: (len) => w.alloc(len),
    });
    this.aIf = this.a.addInterface(ep(this.ab, 1), { addrs: ["198.18.0.1/24"] });
    this.bIf = this.b.addInterface(ep(this.ba, 2), { addrs: ["198.18.0.2/24"] });
    const l = this.sb.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
    this.sb.bind(l, { family: AF_INET, addr: "198.18.0.2", port: 7 });
    this.sb.listen(l, 4);
    this.cfd = this.sa.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value!;
    this.sa.connect(this.cfd, { family: AF_INET, addr: "198.18.0.2", port: 7 });
    this.pump();
    const acc = this.sb.accept(l);
    if (acc.errno !== undefined) throw new Error(`Ping-pong accept failed: ${acc.errno}`);
    this.sfd = acc.value.fd;
  }

  /** Delivers queued frames both ways until both wires are empty. */
  pump(): void {
    for (let k = 0; k < 1000 && (this.ab.count > 0 || this.ba.count > 0); k++) {
      this.#deliver(this.ab, this.b, this.bIf);
      this.#deliver(this.ba, this.a, this.aIf);
      if (this.store) this.store.commit(this.tcpB!, this.ctx.time);
    }
  }

  #deliver(w: Wire, to: Stack, ifIndex: number): void {
    while (w.count > 0) {
      const i = w.head;
      w.head = (w.head + 1) % SLOTS;
      w.count--;
      const len = w.lens[i];
      let v = w.views[i];
      if (v.length !== len) v = w.views[i] = w.bufs[i].subarray(0, len);
      to.receive(ifIndex, v);
    }
  }

  /** n round trips of 1 byte: a sends, b echoes, a reads; time moves 10 us per step. */
  run(n: number): void {
    for (let i = 0; i < n; i++) {
      this.#one[0] = i & 0xff;
      if (this.sa.send(this.cfd, this.#one, 0).value !== 1) throw new Error("Ping send failed");
      this.ctx.time += 10;
      this.pump();
      if (this.sb.recvInto(this.sfd, this.#rx, 0).value !== 1) throw new Error("Ping lost");
      if (this.sb.send(this.sfd, this.#rx.subarray(0, 1), 0).value !== 1) {
        throw new Error("Pong send failed");
      }
      this.ctx.time += 10;
      this.pump();
      if (this.sa.recvInto(this.cfd, this.#rx, 0).value !== 1) throw new Error("Pong lost");
      if (this.#rx[0] !== (i & 0xff)) throw new Error("Pong corrupted");
      this.a.poll(this.ctx.time);
      this.b.poll(this.ctx.time);
    }
  }
}

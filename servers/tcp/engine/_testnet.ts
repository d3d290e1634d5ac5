// Test helpers: stacks joined in-process by fake links, driven by a FakeContext clock.
// Not a test file itself; used by stack_test.ts, udp/*_test.ts, reuseport_test.ts and
// ../service/udp_restore_test.ts.
import { FakeContext } from "./context.ts";
import { type LinkEndpoint, Stack } from "./stack.ts";
import type { IcmpErrorInfo, IpMeta, TransportProtocol } from "./ip/protocol.ts";

/** A transport that records what it gets. */
export class Recorder implements TransportProtocol {
  inputs: { meta: IpMeta; seg: Uint8Array }[] = [];
  errors: IcmpErrorInfo[] = [];
  input(meta: IpMeta, segment: Uint8Array): void {
    this.inputs.push({ meta, seg: segment.slice() });
  }
  /** What icmpError answers: whether the error quoted one of "its" sockets. */
  ours = true;
  icmpError(e: IcmpErrorInfo): boolean {
    this.errors.push({ ...e, quoted: e.quoted.slice() });
    return this.ours;
  }
}

/** A stack on an "ip" link whose transmitted packets are collected in `out`. */
export function ipLinkStack(
  addrs = ["198.18.0.2/24", "fd00:198:18::2/64"],
  mtu = 1500,
  seed = 1,
): { ctx: FakeContext; stack: Stack; out: Uint8Array[]; ifIndex: number } {
  const ctx = new FakeContext(seed);
  const stack = new Stack(ctx);
  const out: Uint8Array[] = [];
  const link: LinkEndpoint = {
    kind: "ip",
    mtu,
    caps: { txChecksum: false, rxChecksum: false, tso: false },
    transmit: (f) => out.push(f.slice()),
  };
  const ifIndex = stack.addInterface(link, { addrs, defaultRoute: true });
  return { ctx, stack, out, ifIndex };
}

/** A stack with one Ethernet interface at 198.18.0.2/24 whose frames go nowhere. */
export function ethernetStack(seed = 7): Stack {
  const s = new Stack(new FakeContext(seed, 1_000_000));
  s.addInterface({
    kind: "ethernet",
    mtu: 1500,
    mac: Uint8Array.of(2, 0, 0, 0, 0, 1),
    caps: { txChecksum: false, rxChecksum: false, tso: false },
    transmit: () => {},
  }, { addrs: ["198.18.0.2/24"] });
  return s;
}

/** A wire between Ethernet stacks: frames are queued and delivered by `run`. */
export class FakeEthernet {
  ctx: FakeContext;
  stacks: { stack: Stack; ifIndex: number; mac: Uint8Array }[] = [];
  queue: { from: number; frame: Uint8Array }[] = [];
  /** Every frame ever sent, with the index of its sender. */
  log: { from: number; frame: Uint8Array }[] = [];
  /** Return false to drop a frame. */
  filter?: (from: number, frame: Uint8Array) => boolean;

  constructor(seed = 1) {
    this.ctx = new FakeContext(seed);
  }

  add(addrs: string[], mtu = 1500, txChecksum = false): Stack {
    const n = this.stacks.length;
    const mac = new Uint8Array([2, 0, 0, 0, 0, n + 1]);
    const stack = new Stack(this.ctx);
    const link: LinkEndpoint = {
      kind: "ethernet",
      mtu,
      mac,
      // txChecksum: the link fills checksums (frames leave with the pseudo-header sum only).
      caps: { txChecksum, rxChecksum: false, tso: false },
      transmit: (f) => {
        const frame = f.slice();
        this.log.push({ from: n, frame });
        if (this.filter === undefined || this.filter(n, frame)) this.queue.push({ from: n, frame });
      },
    };
    const ifIndex = stack.addInterface(link, { addrs });
    this.stacks.push({ stack, ifIndex, mac });
    return stack;
  }

  /** Delivers queued frames (to every other stack: a hub) and runs timers up to `until`. */
  run(until: number = this.ctx.now(), maxSteps = 100000): void {
    for (let i = 0; i < maxSteps; i++) {
      if (this.queue.length > 0) {
        const { from, frame } = this.queue.shift()!;
        this.stacks.forEach((s, j) => {
          if (j !== from) s.stack.receive(s.ifIndex, frame);
        });
        continue;
      }
      let next: number | undefined;
      for (const s of this.stacks) {
        const d = s.stack.nextDeadline();
        if (d !== undefined && (next === undefined || d < next)) next = d;
      }
      if (next === undefined || next > until) break;
      if (next > this.ctx.now()) this.ctx.set(next);
      for (const s of this.stacks) s.stack.poll(this.ctx.now());
    }
    if (until > this.ctx.now()) this.ctx.set(until);
  }
}

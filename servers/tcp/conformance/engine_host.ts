/**
 * The real engine as a {@link Host}: a FakeContext clock, a Stack with one `kind: "ip"` link
 * (like packetdrill's tun device) carrying 198.18.0.2/24 and fd00:198:18::2/64, and the
 * engine's socket API over it.
 *
 * @module
 */

import { FakeContext } from "../engine/context.ts";
import { type LinkEndpoint, Stack } from "../engine/stack.ts";
import type { SocketApi } from "../engine/socket/api.ts";
import { Sockets } from "../engine/socket/sockets.ts";
import type { Captured, ConnInfo, Host } from "./host.ts";

/** Script time 0 on the engine's clock (µs): not zero, so "time 0" bugs show. */
export const CLOCK_BASE = 1_000_000;

/** How the runner builds the socket layer over a stack. */
export type SocketsFactory = (stack: Stack) => SocketApi;

/** The engine's socket layer (socket/sockets.ts), which registers TCP and UDP itself. */
export function loadSocketsFactory(): Promise<SocketsFactory | undefined> {
  return Promise.resolve((stack: Stack) => new Sockets(stack));
}

/** Why the engine could not be loaded, if it could not (kept for callers; now never). */
export function socketsFactoryError(): string | undefined {
  return undefined;
}

/** Options of one engine instance. */
export interface EngineHostOptions {
  mtu?: number;
  seed?: number;
}

/** The engine wrapped for the executor. */
export class EngineHost implements Host {
  readonly ctx: FakeContext;
  readonly stack: Stack;
  readonly sockets: SocketApi;
  readonly ifIndex: number;
  #out: Captured[] = [];
  connections?: () => ConnInfo[];
  dropConnections?: (state: number) => number;

  constructor(make: SocketsFactory, opts: EngineHostOptions = {}) {
    this.ctx = new FakeContext(opts.seed ?? 1, CLOCK_BASE);
    this.stack = new Stack(this.ctx);
    const link: LinkEndpoint = {
      kind: "ip",
      mtu: opts.mtu ?? 1500,
      caps: { txChecksum: false, rxChecksum: false, tso: false },
      transmit: (frame) => this.#out.push({ time: this.ctx.now(), bytes: frame.slice() }),
    };
    this.ifIndex = this.stack.addInterface(link, {
      addrs: ["198.18.0.2/24", "fd00:198:18::2/64"],
      mtu: opts.mtu ?? 1500,
    });
    this.sockets = make(this.stack);
    // Optional engine extras for sockstat and tcpdrop (see NEEDS_FROM_ENGINE.md).
    const x = this.sockets as unknown as {
      connections?: () => ConnInfo[];
      dropConnections?: (state: number) => number;
    };
    if (typeof x.connections === "function") this.connections = () => x.connections!();
    if (typeof x.dropConnections === "function") {
      this.dropConnections = (st) => x.dropConnections!(st);
    }
  }

  now(): number {
    return this.ctx.now();
  }

  advanceTo(t: number): void {
    for (;;) {
      const d = this.stack.nextDeadline();
      if (d === undefined || d > t) break;
      if (d > this.ctx.now()) this.ctx.set(d);
      const before = this.stack.nextDeadline();
      this.stack.poll(this.ctx.now());
      if (
        this.stack.nextDeadline() === before && before !== undefined && before <= this.ctx.now()
      ) {
        break; // a timer that does not go away; the executor reports no progress
      }
    }
    if (t > this.ctx.now()) this.ctx.set(t);
    this.stack.poll(this.ctx.now());
  }

  nextDeadline(): number | undefined {
    return this.stack.nextDeadline();
  }

  inject(packet: Uint8Array): void {
    this.stack.receive(this.ifIndex, packet);
  }

  takeOutput(): Captured[] {
    const o = this.#out;
    this.#out = [];
    return o;
  }

  sysctl(name: string, value: string): string | undefined {
    const v: number | string = /^-?\d+$/.test(value) ? parseInt(value) : value;
    try {
      this.stack.sysctl.set(name, v);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }
}

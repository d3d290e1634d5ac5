/**
 * The IP layer of the engine: interfaces, routing, ARP/NDP, fragmentation, ICMP, and the
 * dispatch to transport protocols. Sans-I/O: frames come in through {@link Stack.receive},
 * go out through each link's `transmit`, and time through the {@link EngineContext}.
 *
 * @module
 */
import type { EngineContext } from "./context.ts";
import { Timers } from "./timers.ts";
import { Sysctls } from "./sysctl.ts";
import { Counters } from "./counters.ts";
import type { IpAddr } from "./ip/addr.ts";
import type { IpOutputMeta, TransportProtocol } from "./ip/protocol.ts";
import { ENETUNREACH } from "./errno.ts";

export { Counters } from "./counters.ts";

/** What a link can do for us. */
export interface LinkCaps {
  /** The link fills transport (and IPv4 header) checksums on transmit. */
  txChecksum: boolean;
  /** The link has verified checksums of received frames. */
  rxChecksum: boolean;
  /** The link segments large TCP segments itself (up to maxSegment bytes of IP packet). */
  tso: boolean;
  maxSegment?: number;
}

/** A device the stack sends frames through. */
export interface LinkEndpoint {
  /** "ethernet": frames with an Ethernet header; "ip": bare IP packets (like a tun device). */
  kind: "ethernet" | "ip";
  /** The link MTU (IP packet size). */
  mtu: number;
  /** The link's MAC address (required for "ethernet"). */
  mac?: Uint8Array;
  caps: LinkCaps;
  transmit(frame: Uint8Array): void;
}

/** Addresses and MTU of an interface. */
export interface InterfaceConfig {
  /** Addresses with prefix length, e.g. "198.18.0.2/24", "fd00:198:18::2/64". */
  addrs: string[];
  /** MTU; the link's MTU when absent. */
  mtu?: number;
  /** Optional IPv4 default gateway reachable through this interface. */
  gateway4?: IpAddr;
  /** Optional IPv6 default gateway reachable through this interface. */
  gateway6?: IpAddr;
}

/** Stack-wide options. */
export interface StackOptions {
  /** Default TTL / hop limit (64). */
  defaultTtl?: number;
}

/** The IP layer. See the module docs. */
export class Stack {
  readonly ctx: EngineContext;
  readonly timers: Timers = new Timers();
  readonly sysctl: Sysctls = new Sysctls();
  readonly counters: Counters = new Counters();
  #protocols = new Map<number, TransportProtocol>();

  constructor(ctx: EngineContext, _opts: StackOptions = {}) {
    this.ctx = ctx;
  }

  /** Adds an interface; returns its ifIndex (1, 2, …). */
  addInterface(_link: LinkEndpoint, _cfg: InterfaceConfig): number {
    return 1;
  }

  /** Hands a received frame (or bare IP packet on an "ip" link) to the stack. */
  receive(_ifIndex: number, _frame: Uint8Array): void {}

  /** Registers the transport for IP protocol number `proto`. */
  registerProtocol(proto: number, p: TransportProtocol): void {
    this.#protocols.set(proto, p);
  }

  /**
   * Sends `payload` (a transport segment) in one or more IP packets. Returns 0 or a positive
   * errno (ENETUNREACH, EHOSTUNREACH, EMSGSIZE, ENOBUFS, EADDRNOTAVAIL). When
   * `checksumOffset` is given, the transport checksum at that offset of `payload` is computed
   * over the pseudo-header and payload (unless the link offloads it).
   */
  ipOutput(_meta: IpOutputMeta, _payload: Uint8Array, _checksumOffset?: number): number {
    return ENETUNREACH;
  }

  /** The source address the stack would use to reach `dst`, or undefined when unroutable. */
  sourceFor(_dst: IpAddr): IpAddr | undefined {
    return undefined;
  }

  /** The path MTU towards `dst` (interface MTU unless PMTUD learnt a smaller one). */
  pathMtu(_dst: IpAddr): number {
    return 1500;
  }

  /** Runs every timer due at `now`. */
  poll(now: number): void {
    this.timers.run(now);
  }

  /** The time of the next timer, or undefined. */
  nextDeadline(): number | undefined {
    return this.timers.next();
  }
}

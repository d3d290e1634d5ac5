/**
 * What the executor drives: a virtual clock, an IP-level link, a sysctl table and the engine's
 * socket API. The real engine is wrapped by engine_host.ts; tests use a small fake.
 *
 * @module
 */

import type { SocketApi } from "../engine/socket/api.ts";

/** A packet the engine transmitted, with the virtual time it left. */
export interface Captured {
  time: number;
  bytes: Uint8Array;
}

/** A TCP connection as sockstat would show it. */
export interface ConnInfo {
  /** FreeBSD TCPS_* number. */
  state: number;
  localPort: number;
  remotePort: number;
  version: 4 | 6;
}

/** The engine under test, as the executor sees it. */
export interface Host {
  /** Current virtual time in microseconds. */
  now(): number;
  /** Moves the clock to `t` (never back), running each timer at its own deadline. */
  advanceTo(t: number): void;
  /** Deadline of the next timer, if any. */
  nextDeadline(): number | undefined;
  /** Hands an IP packet to the engine as if it arrived on the link. */
  inject(packet: Uint8Array): void;
  /** Packets transmitted since the last call, oldest first. */
  takeOutput(): Captured[];
  /** Sets a sysctl; returns an error text when it cannot (unknown name, bad value). */
  sysctl(name: string, value: string): string | undefined;
  readonly sockets: SocketApi;
  /** Every TCP connection (incl. SYN-cache and TIME_WAIT entries), when the engine can say. */
  connections?(): ConnInfo[];
  /** Drops every connection in `state`; returns how many. */
  dropConnections?(state: number): number;
}

/**
 * Invariants checked after every simulator event, over every TCP connection of every node:
 *
 * - sequence space: SND.UNA ≤ SND.NXT ≤ SND.MAX, and SND.MAX − SND.UNA ≤ send buffer + SYN + FIN;
 * - monotonic: SND.UNA, RCV.NXT and the right edge of the advertised window (RCV.ADV) never
 *   move backwards (RFC 9293 §3.8.6: the window should not shrink; FreeBSD never shrinks it);
 * - congestion window: at least one segment once established (RFC 5681 §3.1: never below
 *   1 SMSS, the loss window);
 * - bounded: send/receive buffers within their high-water marks (plus one segment of slack
 *   for the receive side), the reassembly queue within its segment bound and the receive buffer,
 *   connection and timer counts, and the simulator's pending events.
 *
 * A violation throws {@link InvariantError} naming the seed, time, node and connection.
 *
 * @module
 */
import { seqDiff, seqGeq, seqLeq } from "../tcp/seq.ts";
import type { TcpConn } from "../tcp/conn.ts";
import { TCPS_CLOSED, TCPS_ESTABLISHED, TCPS_LISTEN, TCPS_SYN_SENT } from "../tcp/tcpcb.ts";
import type { Sim } from "./sim.ts";

export class InvariantError extends Error {}

/** Bounds for the "no unbounded growth" checks. */
export interface Bounds {
  maxConnsPerNode: number;
  maxTimersPerNode: number;
  maxPendingEvents: number;
  maxReassSegments: number;
  /**
   * Tolerate the advertised right edge moving left by less than one window-scale unit
   * (2^rcvScale bytes). Off: FINDINGS.md F1 is fixed (the core rounds the window up).
   */
  allowScaleRounding: boolean;
}

export const defaultBounds: Bounds = {
  maxConnsPerNode: 64,
  maxTimersPerNode: 512,
  maxPendingEvents: 20_000,
  maxReassSegments: 1024,
  allowScaleRounding: false,
};

interface Seen {
  sndUna: number;
  rcvNxt: number;
  rcvAdv: number;
  state: number;
}

/** Installs the checks on `sim` (after every event). Returns a counter of checks run. */
export function installInvariants(
  sim: Sim,
  bounds: Bounds = defaultBounds,
): { checks: number; scaleShrinks: number } {
  const seen = new WeakMap<TcpConn, Seen>();
  const stats = { checks: 0, scaleShrinks: 0 };
  sim.afterEvent.push(() => {
    stats.checks++;
    if (sim.pending > bounds.maxPendingEvents) {
      fail(sim, "sim", `pending events ${sim.pending} > ${bounds.maxPendingEvents}`);
    }
    for (const n of sim.nodes) {
      if (n.tcp.conns.size > bounds.maxConnsPerNode) {
        fail(sim, n.name, `${n.tcp.conns.size} connections`);
      }
      if (n.stack.timers.size > bounds.maxTimersPerNode) {
        fail(sim, n.name, `${n.stack.timers.size} timers`);
      }
      for (const c of n.tcp.conns.values()) check(sim, n.name, c, seen, bounds, stats);
    }
  });
  return stats;
}

function check(
  sim: Sim,
  node: string,
  c: TcpConn,
  seen: WeakMap<TcpConn, Seen>,
  b: Bounds,
  stats: { scaleShrinks: number },
) {
  const tp = c.tp;
  const who = `${node} ${c.laddr}:${c.lport}->${c.faddr}:${c.fport} state ${tp.state}`;
  if (tp.state === TCPS_CLOSED || tp.state === TCPS_LISTEN) return;
  if (!seqLeq(tp.sndUna, tp.sndNxt) || !seqLeq(tp.sndNxt, tp.sndMax)) {
    fail(sim, who, `sndUna ${tp.sndUna} ≤ sndNxt ${tp.sndNxt} ≤ sndMax ${tp.sndMax} violated`);
  }
  const flight = seqDiff(tp.sndMax, tp.sndUna);
  if (flight > c.snd.length + 2) {
    fail(sim, who, `sndMax − sndUna = ${flight} exceeds buffered ${c.snd.length} + SYN + FIN`);
  }
  if (c.snd.length > Math.max(c.sndHiwat, 0) + 65536) {
    fail(sim, who, `send buffer ${c.snd.length} > hiwat ${c.sndHiwat}`);
  }
  if (c.rcv.length > c.rcvHiwat + 65536) {
    fail(sim, who, `receive buffer ${c.rcv.length} > hiwat ${c.rcvHiwat}`);
  }
  if (c.reass.count > b.maxReassSegments) {
    fail(sim, who, `reassembly queue ${c.reass.count} segments`);
  }
  let reassBytes = 0;
  for (const s of c.reass.segs) reassBytes += s.data.length;
  if (reassBytes !== c.reass.bytes) {
    fail(sim, who, `reassembly queue holds ${reassBytes} bytes, counts ${c.reass.bytes}`);
  }
  if (reassBytes > c.rcvHiwat + 65536) {
    fail(sim, who, `reassembly queue ${reassBytes} bytes > rcv hiwat ${c.rcvHiwat}`);
  }
  if (tp.state >= TCPS_ESTABLISHED && tp.sndCwnd < Math.min(tp.tMaxseg, 536)) {
    fail(sim, who, `cwnd ${tp.sndCwnd} below one segment (${tp.tMaxseg})`);
  }
  const prev = seen.get(c);
  const synced = tp.state > TCPS_SYN_SENT;
  if (prev && prev.state > TCPS_SYN_SENT && synced) {
    if (!seqGeq(tp.sndUna, prev.sndUna)) {
      fail(sim, who, `sndUna went back from ${prev.sndUna} to ${tp.sndUna}`);
    }
    if (!seqGeq(tp.rcvNxt, prev.rcvNxt)) {
      fail(sim, who, `rcvNxt went back from ${prev.rcvNxt} to ${tp.rcvNxt}`);
    }
    if (!seqGeq(tp.rcvAdv, prev.rcvAdv)) {
      const by = seqDiff(prev.rcvAdv, tp.rcvAdv);
      if (b.allowScaleRounding && by < 1 << tp.rcvScale) {
        stats.scaleShrinks++;
      } else {
        fail(sim, who, `advertised window shrank: rcvAdv ${prev.rcvAdv} -> ${tp.rcvAdv}`);
      }
    }
  }
  if (prev) {
    prev.sndUna = tp.sndUna;
    prev.rcvNxt = tp.rcvNxt;
    prev.rcvAdv = tp.rcvAdv;
    prev.state = tp.state;
  } else {
    seen.set(c, { sndUna: tp.sndUna, rcvNxt: tp.rcvNxt, rcvAdv: tp.rcvAdv, state: tp.state });
  }
}

function fail(sim: Sim, who: string, what: string): never {
  throw new InvariantError(`seed ${sim.seed} t=${sim.now}us step ${sim.steps}: ${who}: ${what}`);
}

/**
 * RACK-TLP (RFC 8985, tcp/rack.ts) in the TCP core, behind
 * `net.inet.tcp.functions_default=rack` (FreeBSD's name for choosing its RACK stack; the
 * default "freebsd" keeps FreeBSD's default stack: DupThresh loss detection and the RTO, which
 * is what the conformance suite checks). The choice is made when a connection is created.
 *
 * RACK here is a loss detector on top of the RFC 6675 recovery the core already does (SACK
 * connections only): each ACK feeds {@link Rack.onAck}; segments RACK declares lost are
 * retransmitted at once, entering fast recovery when not already in it (even with fewer than
 * DupThresh duplicate ACKs); the reordering timeout and the tail-loss probe (TLP, §7) share the
 * TT_RACK timer. An RTO resets the RACK log.
 *
 * @module
 */
import { type TcpConn, timerActivate } from "./conn.ts";
import {
  TCPS_ESTABLISHED,
  TF_FASTRECOVERY,
  TF_RCVD_TSTMP,
  TF_SACK_PERMIT,
  TT_RACK,
} from "./tcpcb.ts";
import { tcpRetransmitRange, tcpSegmentRoom } from "./output.ts";
import { rttSrtt } from "./rtt.ts";
import { seqAdd, seqDiff, seqGeq, seqLeq, seqLt, seqSub } from "./seq.ts";
import { CC_NDUPACK, ccCongSignal } from "./cc/builtin.ts";
import type { SackBlock } from "./sack.ts";

const NO_BLOCKS: readonly SackBlock[] = [];

/** Whether RACK drives loss detection on `c` (chosen at creation; SACK negotiated). */
export function rackActive(c: TcpConn): boolean {
  return c.rack !== undefined && (c.tp.tFlags & TF_SACK_PERMIT) !== 0 &&
    c.tp.state >= TCPS_ESTABLISHED;
}

/**
 * An ACK arrived (after the SACK scoreboard took its blocks): RACK's delivery bookkeeping, then
 * loss detection (§6.2).
 */
export function rackOnAck(
  c: TcpConn,
  ack: number,
  sack: readonly SackBlock[] | undefined,
  tsEcr: number,
): void {
  const r = c.rack!;
  const tp = c.tp;
  const blocks = sack ?? NO_BLOCKS;
  // RFC 2883 §4: a first block below the cumulative ACK, or inside the second, is a D-SACK.
  const dsack = blocks.length > 0 &&
    (seqLeq(blocks[0][1], ack) ||
      (blocks.length > 1 && seqGeq(blocks[0][0], blocks[1][0]) &&
        seqLeq(blocks[0][1], blocks[1][1])));
  const tsOk = tsEcr !== 0 && (tp.tFlags & TF_RCVD_TSTMP) !== 0;
  r.onAck(ack, blocks, c.host.now(), dsack, tp.sndMax, tsOk);
  if (seqGeq(ack, tp.sndMax)) {
    timerActivate(c, TT_RACK, 0); // nothing outstanding: no probe, no reordering timer
    return;
  }
  rackDetect(c);
}

/**
 * RACK loss detection (§6.2 step 5): retransmits what is newly lost (entering recovery if
 * needed) and arms the reordering timer. Returns whether anything was declared lost.
 */
export function rackDetect(c: TcpConn): boolean {
  const r = c.rack!;
  const tp = c.tp;
  const host = c.host;
  const now = host.now();
  const inRecovery = (tp.tFlags & TF_FASTRECOVERY) !== 0;
  const res = r.detectLoss(now, rttSrtt(tp), inRecovery);
  if (res.timeout > 0) timerActivate(c, TT_RACK, res.timeout);
  if (res.lost.length === 0) return false;
  host.count("tcp.rack.lost");
  if (!inRecovery) {
    // Enter recovery as the DupThresh path does (RFC 6675 §5 step 4), on RACK's verdict.
    ccCongSignal(c.ccv, CC_NDUPACK, now);
    tp.tFlags |= TF_FASTRECOVERY;
    c.sb.enterRecovery(tp.sndUna, tp.sndMax);
    tp.sndRecover = tp.sndMax;
    tp.sndCwnd = tp.sndSsthresh;
    tp.tRtttime = 0;
    host.count("tcp.rack.recovery");
  }
  for (const [s, e] of res.lost) {
    let seq = seqLt(s, tp.sndUna) ? tp.sndUna : s;
    while (seqLt(seq, e)) {
      const n = tcpRetransmitRange(c, seq, seqDiff(e, seq));
      if (n <= 0) break;
      c.sb.sent({ kind: "lost", seq, len: n });
      r.onTransmit(seq, n, now, true);
      seq = seqAdd(seq, n);
    }
  }
  return true;
}

/**
 * TT_RACK fired: a reordering timeout (re-run detection) or the probe timeout: send a TLP, the
 * last segment again (§7.3; new data is sent by tcp_output as usual when the window allows).
 */
export function rackTimer(c: TcpConn): void {
  const tp = c.tp;
  if (!rackActive(c) || tp.sndMax === tp.sndUna) return;
  if (rackDetect(c)) return;
  const r = c.rack!;
  if (!r.canProbe()) return;
  // The probe is the last segment sent (§7.3): the last `room` bytes of data, with the FIN
  // when one was sent.
  const dataEnd = seqAdd(tp.sndUna, Math.min(c.snd.length, seqDiff(tp.sndMax, tp.sndUna)));
  const take = Math.min(tcpSegmentRoom(c), seqDiff(dataEnd, tp.sndUna));
  const seq = seqSub(dataEnd, take);
  const n = tcpRetransmitRange(c, seq, seqDiff(tp.sndMax, seq));
  if (n <= 0) return;
  r.onTransmit(seq, n, c.host.now(), true);
  r.onProbe(tp.sndMax, true);
  c.host.count("tcp.rack.tlp");
}

/**
 * Explicit Congestion Notification (RFC 3168) for the TCP core, as pure decisions over the
 * tcpcb's ECN flags (TF_ECN_PERMIT, TF_ECN_SND_ECE, TF_ECN_SND_CWR), FreeBSD's tcp_ecn.c.
 *
 * - Negotiation (§6.1.1): the client's SYN carries ECE|CWR ("ECN-setup SYN"); a server that
 *   accepts answers with ECE only ("ECN-setup SYN-ACK"). net.inet.tcp.ecn.enable: 0 = off,
 *   1 = request on outgoing and accept incoming, 2 = accept incoming only (FreeBSD's default).
 *   An active open stops asking after net.inet.tcp.ecn.maxretries SYN retransmissions.
 * - Marking (§6.1.5, §6.1.1): only new data segments of an ECN connection are sent ECT(0);
 *   never SYNs, pure ACKs, retransmissions or window probes.
 * - Receiver (§6.1.3): a CE mark makes every following ACK carry ECE until a segment with CWR
 *   arrives (a CE on that very segment re-arms it); a CE-marked segment is ACKed at once.
 * - Sender (§6.1.2): an ECE on an ACK of new data is a congestion signal (CC_ECN; the cc
 *   module answers it once per window, cc/mod.ts sets TF_ECN_SND_CWR); the next new data
 *   segment carries CWR.
 *
 * No allocation: the functions read and update `tp.tFlags` only.
 *
 * @module
 */
import { seqGt } from "./seq.ts";
import { TF_ECN_PERMIT, TF_ECN_SND_CWR, TF_ECN_SND_ECE } from "./tcpcb.ts";

/** IP ECN field codepoints (RFC 3168 §5). */
export const IPTOS_ECN_NOTECT = 0;
export const IPTOS_ECN_ECT1 = 1;
export const IPTOS_ECN_ECT0 = 2;
export const IPTOS_ECN_CE = 3;

/** TCP flag bits used here (same values as wire/tcp.ts). */
export const TH_ECE = 0x40;
export const TH_CWR = 0x80;
const TH_ACK = 0x10;

/** The part of the tcpcb ECN works on. */
export interface EcnTcb {
  tFlags: number;
}

/**
 * Flags for an active open's SYN (§6.1.1): ECE|CWR when `enable` is 1, on the first SYN and
 * for up to `maxRetries` retransmissions (`retries` counted so far).
 */
export function ecnSynFlags(enable: number, retries = 0, maxRetries = 1, rxtshift = 0): number {
  return enable === 1 && (rxtshift < 1 || retries <= maxRetries) ? TH_ECE | TH_CWR : 0;
}

/** A SYN with `flags` arrived: whether ECN is accepted (ECE|CWR asked, `enable` 1 or 2). */
export function ecnAcceptSyn(flags: number, enable: number): boolean {
  return (flags & (TH_ECE | TH_CWR)) === (TH_ECE | TH_CWR) && (enable === 1 || enable === 2);
}

/** An active opener got a SYN-ACK: ECN is on only if asked (`enable` 1) and it has ECE, not CWR. */
export function ecnSynAckPermits(flags: number, enable: number): boolean {
  return enable === 1 && (flags & (TH_ECE | TH_CWR)) === TH_ECE;
}

/** Flags of a SYN-ACK: ECE when ECN was accepted ("ECN-setup SYN-ACK"). */
export function ecnSynAckFlags(tp: EcnTcb): number {
  return tp.tFlags & TF_ECN_PERMIT ? TH_ECE : 0;
}

/** The IP ECN codepoint of an outgoing non-SYN segment: ECT(0) on new data only (§6.1.5). */
export function ecnCodepoint(tp: EcnTcb, newData: boolean): number {
  return newData && (tp.tFlags & TF_ECN_PERMIT) ? IPTOS_ECN_ECT0 : IPTOS_ECN_NOTECT;
}

/**
 * TCP flags for an outgoing non-SYN segment (§6.1.2, §6.1.3): ECE on every segment while
 * echoing a CE; CWR on the first new data segment after a reduction (then cleared).
 */
export function ecnOutputFlags(tp: EcnTcb, newData: boolean): number {
  if (!(tp.tFlags & TF_ECN_PERMIT)) return 0;
  let flags = tp.tFlags & TF_ECN_SND_ECE ? TH_ECE : 0;
  if (newData && (tp.tFlags & TF_ECN_SND_CWR)) {
    flags |= TH_CWR;
    tp.tFlags &= ~TF_ECN_SND_CWR;
  }
  return flags;
}

/**
 * Receiver side of an incoming segment (§6.1.3): CWR stops the ECE echo, then CE (re)starts
 * it. Returns true when the segment was CE-marked (ACK it at once).
 */
export function ecnInputSegment(tp: EcnTcb, ipEcn: number, tcpFlags: number): boolean {
  if (!(tp.tFlags & TF_ECN_PERMIT)) return false;
  if (tcpFlags & TH_CWR) tp.tFlags &= ~TF_ECN_SND_ECE;
  if (ipEcn !== IPTOS_ECN_CE) return false;
  tp.tFlags |= TF_ECN_SND_ECE;
  return true;
}

/**
 * Sender side of an incoming segment (§6.1.2): true when it is an ACK of new data carrying ECE,
 * a congestion signal for the cc module (which answers once per window).
 */
export function ecnInputAck(tp: EcnTcb, tcpFlags: number, ack: number, sndUna: number): boolean {
  return (tp.tFlags & TF_ECN_PERMIT) !== 0 &&
    (tcpFlags & (TH_ECE | TH_ACK)) === (TH_ECE | TH_ACK) &&
    seqGt(ack, sndUna);
}

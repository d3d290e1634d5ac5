/**
 * Explicit Congestion Notification helpers (RFC 3168), as pure decisions over a small state.
 *
 * - Negotiation (§6.1.1): the client's SYN carries ECE|CWR ("ECN-setup SYN"); a server that
 *   accepts answers with ECE only ("ECN-setup SYN-ACK"). FreeBSD's net.inet.tcp.ecn.enable:
 *   0 = off, 1 = request on outgoing and accept incoming, 2 = accept incoming only (default).
 * - Marking (§6.1.5, §6.1.1): only new data segments of an ECN connection are sent ECT(0);
 *   never SYN (RFC 3168; RFC 8311 allows it but FreeBSD does not by default), pure ACKs,
 *   retransmissions or window probes.
 * - Receiver (§6.1.3): a CE mark makes every following ACK carry ECE until a segment with CWR
 *   arrives (a CE on that very segment re-arms it).
 * - Sender (§6.1.2): ECE triggers one congestion response per window of data (the cc module's
 *   CC_ECN); the next new data segment carries CWR.
 *
 * @module
 */
import { seqGeq } from "./seq.ts";

/** IP ECN field codepoints (RFC 3168 §5). */
export const IPTOS_ECN_NOTECT = 0;
export const IPTOS_ECN_ECT1 = 1;
export const IPTOS_ECN_ECT0 = 2;
export const IPTOS_ECN_CE = 3;

/** TCP flag bits used here (same values as wire/tcp.ts). */
export const TH_ECE = 0x40;
export const TH_CWR = 0x80;
const TH_SYN = 0x02;
const TH_ACK = 0x10;

/** Per-connection ECN state. */
export interface EcnState {
  /** ECN was negotiated on this connection. */
  permit: boolean;
  /** Receiver: echo ECE on every ACK (CE seen, no CWR yet). */
  sndEce: boolean;
  /** Sender: set CWR on the next new data segment. */
  sndCwr: boolean;
  /** Sender: ECE is ignored until SND.UNA reaches this (one response per window). */
  recover: number | undefined;
  readonly counters: { ceReceived: number; eceReceived: number; cwrSent: number };
}

export function newEcnState(): EcnState {
  return {
    permit: false,
    sndEce: false,
    sndCwr: false,
    recover: undefined,
    counters: { ceReceived: 0, eceReceived: 0, cwrSent: 0 },
  };
}

/** Flags to add to an active open's SYN: ECE|CWR when `enable` is 1 (§6.1.1). */
export function ecnSynFlags(enable: number): number {
  return enable === 1 ? TH_ECE | TH_CWR : 0;
}

/**
 * A listener got a SYN with `flags`: whether ECN is accepted (the SYN asks with ECE|CWR and
 * `enable` is 1 or 2) and the SYN-ACK's extra flags (ECE).
 */
export function ecnAcceptSyn(flags: number, enable: number): { permit: boolean; flags: number } {
  const asks = (flags & (TH_ECE | TH_CWR)) === (TH_ECE | TH_CWR);
  return asks && (enable === 1 || enable === 2)
    ? { permit: true, flags: TH_ECE }
    : { permit: false, flags: 0 };
}

/** An active opener got a SYN-ACK: ECN is on only if it has ECE and not CWR (§6.1.1). */
export function ecnSynAckPermits(flags: number, requested: boolean): boolean {
  return requested && (flags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK) &&
    (flags & (TH_ECE | TH_CWR)) === TH_ECE;
}

/** What kind of segment is being sent, for the marking decision. */
export type EcnSegKind = "syn" | "synack" | "data" | "retransmit" | "ack" | "probe" | "rst";

/**
 * The IP ECN codepoint and TCP flags for an outgoing segment (§6.1.2, §6.1.5): ECT(0) on new
 * data only; ECE on every segment while echoing; CWR on the first new data segment after a
 * reduction (then cleared).
 */
export function ecnOutput(s: EcnState, kind: EcnSegKind): { ipEcn: number; flags: number } {
  if (!s.permit || kind === "syn" || kind === "synack" || kind === "rst") {
    return { ipEcn: IPTOS_ECN_NOTECT, flags: 0 };
  }
  let flags = s.sndEce ? TH_ECE : 0;
  let ipEcn = IPTOS_ECN_NOTECT;
  if (kind === "data") {
    ipEcn = IPTOS_ECN_ECT0;
    if (s.sndCwr) {
      flags |= TH_CWR;
      s.sndCwr = false;
      s.counters.cwrSent++;
    }
  }
  return { ipEcn, flags };
}

/**
 * Receiver side of an incoming segment (§6.1.3): CWR stops the ECE echo, then CE (re)starts
 * it. Returns true when an ACK should go out at once (a new CE mark).
 */
export function ecnInputMark(s: EcnState, ipEcn: number, tcpFlags: number): boolean {
  if (!s.permit) return false;
  if (tcpFlags & TH_CWR) s.sndEce = false;
  if (ipEcn === IPTOS_ECN_CE) {
    s.counters.ceReceived++;
    const fresh = !s.sndEce;
    s.sndEce = true;
    return fresh;
  }
  return false;
}

/**
 * Sender side of an incoming ACK (§6.1.2): returns true when this ECE should trigger the
 * congestion response (CC_ECN), at most once per window: afterwards ECE is ignored until
 * SND.UNA passes the SND.MAX of the time of the response.
 */
export function ecnInputAck(
  s: EcnState,
  tcpFlags: number,
  sndUna: number,
  sndMax: number,
): boolean {
  if (!s.permit || (tcpFlags & TH_SYN)) return false;
  if (s.recover !== undefined && seqGeq(sndUna, s.recover)) s.recover = undefined;
  if (!(tcpFlags & TH_ECE)) return false;
  s.counters.eceReceived++;
  if (s.recover !== undefined) return false;
  s.recover = sndMax >>> 0;
  s.sndCwr = true;
  return true;
}

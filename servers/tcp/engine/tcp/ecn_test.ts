import assert from "node:assert/strict";
import {
  ecnAcceptSyn,
  ecnInputAck,
  ecnInputMark,
  ecnOutput,
  ecnSynAckPermits,
  ecnSynFlags,
  IPTOS_ECN_CE,
  IPTOS_ECN_ECT0,
  IPTOS_ECN_NOTECT,
  newEcnState,
  TH_CWR,
  TH_ECE,
} from "./ecn.ts";

const SYN = 0x02, ACK = 0x10;

Deno.test("ecn: negotiation follows RFC 3168 §6.1.1 and net.inet.tcp.ecn.enable", () => {
  assert.equal(ecnSynFlags(1), TH_ECE | TH_CWR);
  assert.equal(ecnSynFlags(2), 0);
  assert.deepEqual(ecnAcceptSyn(SYN | TH_ECE | TH_CWR, 2), { permit: true, flags: TH_ECE });
  assert.deepEqual(ecnAcceptSyn(SYN | TH_ECE | TH_CWR, 0), { permit: false, flags: 0 });
  assert.deepEqual(ecnAcceptSyn(SYN | TH_ECE, 1), { permit: false, flags: 0 });
  assert.equal(ecnSynAckPermits(SYN | ACK | TH_ECE, true), true);
  assert.equal(ecnSynAckPermits(SYN | ACK | TH_ECE | TH_CWR, true), false);
  assert.equal(ecnSynAckPermits(SYN | ACK | TH_ECE, false), false);
});

Deno.test("ecn: only new data is ECT(0); CWR once on the next data segment", () => {
  const s = newEcnState();
  assert.deepEqual(ecnOutput(s, "data"), { ipEcn: IPTOS_ECN_NOTECT, flags: 0 });
  s.permit = true;
  for (const k of ["syn", "synack", "ack", "retransmit", "probe", "rst"] as const) {
    assert.equal(ecnOutput(s, k).ipEcn, IPTOS_ECN_NOTECT, k);
  }
  assert.equal(ecnOutput(s, "data").ipEcn, IPTOS_ECN_ECT0);
  assert.equal(ecnInputAck(s, ACK | TH_ECE, 100, 500), true);
  assert.equal(ecnOutput(s, "ack").flags & TH_CWR, 0);
  assert.equal(ecnOutput(s, "data").flags & TH_CWR, TH_CWR);
  assert.equal(ecnOutput(s, "data").flags & TH_CWR, 0);
});

Deno.test("ecn: one response per window of data (RFC 3168 §6.1.2)", () => {
  const s = newEcnState();
  s.permit = true;
  assert.equal(ecnInputAck(s, ACK | TH_ECE, 100, 500), true);
  assert.equal(ecnInputAck(s, ACK | TH_ECE, 300, 700), false);
  assert.equal(ecnInputAck(s, ACK | TH_ECE, 500, 900), true);
  assert.equal(s.counters.eceReceived, 3);
});

Deno.test("ecn: CE makes ACKs echo ECE until CWR arrives (RFC 3168 §6.1.3)", () => {
  const s = newEcnState();
  s.permit = true;
  assert.equal(ecnInputMark(s, IPTOS_ECN_CE, ACK), true);
  assert.equal(ecnInputMark(s, IPTOS_ECN_CE, ACK), false);
  assert.equal(ecnOutput(s, "ack").flags, TH_ECE);
  ecnInputMark(s, IPTOS_ECN_ECT0, ACK | TH_CWR);
  assert.equal(ecnOutput(s, "ack").flags, 0);
  assert.equal(ecnInputMark(s, IPTOS_ECN_CE, ACK | TH_CWR), true); // CE on the CWR segment
  assert.equal(ecnOutput(s, "ack").flags, TH_ECE);
});

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ecnAcceptSyn,
  ecnCodepoint,
  ecnInputAck,
  ecnInputSegment,
  ecnOutputFlags,
  ecnSynAckFlags,
  ecnSynAckPermits,
  ecnSynFlags,
  IPTOS_ECN_CE,
  IPTOS_ECN_ECT0,
  IPTOS_ECN_NOTECT,
  TH_CWR,
  TH_ECE,
} from "./ecn.ts";
import { TF_ECN_PERMIT, TF_ECN_SND_CWR, TF_ECN_SND_ECE } from "./tcpcb.ts";

const SYN = 0x02, ACK = 0x10;

Deno.test("ecn: negotiation follows RFC 3168 §6.1.1 and net.inet.tcp.ecn.enable", () => {
  assert.equal(ecnSynFlags(1), TH_ECE | TH_CWR);
  assert.equal(ecnSynFlags(2), 0);
  assert.equal(ecnSynFlags(1, 2, 1, 2), 0, "gave up after maxretries");
  assert.equal(ecnAcceptSyn(SYN | TH_ECE | TH_CWR, 2), true);
  assert.equal(ecnAcceptSyn(SYN | TH_ECE | TH_CWR, 0), false);
  assert.equal(ecnAcceptSyn(SYN | TH_ECE, 1), false);
  assert.equal(ecnSynAckPermits(SYN | ACK | TH_ECE, 1), true);
  assert.equal(ecnSynAckPermits(SYN | ACK | TH_ECE | TH_CWR, 1), false);
  assert.equal(ecnSynAckPermits(SYN | ACK | TH_ECE, 2), false);
  assert.equal(ecnSynAckFlags({ tFlags: TF_ECN_PERMIT }), TH_ECE);
  assert.equal(ecnSynAckFlags({ tFlags: 0 }), 0);
});

Deno.test("ecn: only new data is ECT(0); CWR once on the next data segment", () => {
  const tp = { tFlags: 0 };
  assert.equal(ecnCodepoint(tp, true), IPTOS_ECN_NOTECT);
  tp.tFlags = TF_ECN_PERMIT;
  assert.equal(ecnCodepoint(tp, false), IPTOS_ECN_NOTECT);
  assert.equal(ecnCodepoint(tp, true), IPTOS_ECN_ECT0);
  tp.tFlags |= TF_ECN_SND_CWR; // the cc module reduced the window
  assert.equal(ecnOutputFlags(tp, false) & TH_CWR, 0);
  assert.equal(ecnOutputFlags(tp, true) & TH_CWR, TH_CWR);
  assert.equal(ecnOutputFlags(tp, true) & TH_CWR, 0);
});

Deno.test("ecn: an ECE on an ACK of new data is a congestion signal (RFC 3168 §6.1.2)", () => {
  const tp = { tFlags: TF_ECN_PERMIT };
  assert.equal(ecnInputAck(tp, ACK | TH_ECE, 500, 100), true);
  assert.equal(ecnInputAck(tp, ACK | TH_ECE, 100, 100), false, "nothing new acknowledged");
  assert.equal(ecnInputAck(tp, ACK, 500, 100), false);
  assert.equal(ecnInputAck({ tFlags: 0 }, ACK | TH_ECE, 500, 100), false);
});

Deno.test("ecn: CE makes ACKs echo ECE until CWR arrives (RFC 3168 §6.1.3)", () => {
  const tp = { tFlags: TF_ECN_PERMIT };
  assert.equal(ecnInputSegment(tp, IPTOS_ECN_CE, ACK), true);
  assert.equal(ecnOutputFlags(tp, false), TH_ECE);
  assert.equal(ecnInputSegment(tp, IPTOS_ECN_ECT0, ACK | TH_CWR), false);
  assert.equal(ecnOutputFlags(tp, false), 0);
  assert.equal(ecnInputSegment(tp, IPTOS_ECN_CE, ACK | TH_CWR), true); // CE on the CWR segment
  assert.equal(ecnOutputFlags(tp, false), TH_ECE);
  assert.equal(ecnInputSegment({ tFlags: 0 }, IPTOS_ECN_CE, ACK), false, "not negotiated");
});

Deno.test("ecn: without TF_ECN_PERMIT nothing is ever marked or echoed (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }))),
      (segs) => {
        const tp = { tFlags: 0 };
        for (const [ipEcn, flags] of segs) {
          ecnInputSegment(tp, ipEcn, flags);
          if (ecnOutputFlags(tp, true) !== 0 || ecnCodepoint(tp, true) !== 0) return false;
        }
        return (tp.tFlags & (TF_ECN_SND_ECE | TF_ECN_SND_CWR)) === 0;
      },
    ),
    { seed: 3168, numRuns: 200 },
  );
});

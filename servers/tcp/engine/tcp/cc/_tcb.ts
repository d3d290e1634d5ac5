/** Test helper: a connection record with the fields congestion control uses. */
import type { CcTcb } from "./mod.ts";

const MSS = 1000;

/** A CcTcb with MSS 1000, window scale 7 and everything else idle, overridden by `over`. */
export function tcb(over: Partial<CcTcb> = {}): CcTcb {
  return {
    sndCwnd: 0,
    sndSsthresh: 0x3fffffff,
    tMaxseg: MSS,
    sndUna: 1000,
    sndNxt: 1000,
    sndMax: 1000,
    sndWnd: 1 << 20,
    sndRecover: 1000,
    sndScale: 7,
    tFlags: 0,
    tRxtshift: 0,
    tBytesAcked: 0,
    ...over,
  };
}

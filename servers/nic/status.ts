/**
 * Reading a NIC server's status from outside (CLI, supervisor): everything is in its region's
 * header, so no message round trip is needed and a hung server still shows its last state.
 */
import { openDpdk, type PortInfo } from "../../ffi/dpdk.ts";
import { C, type CounterName, H, NicRegion, OFF } from "./region.ts";

/** What {@link nicStatus} returns. */
export interface NicStatus {
  region: string;
  pid: number;
  generation: number;
  mtu: number;
  mac: string;
  /** Offloads the server provides to the TCP/IP server. */
  offloads: { txCsum: boolean; tso: boolean; rxCsum: boolean; gro: boolean };
  /** Milliseconds since the NIC loop's last turn (it turns at least every 0.5 s when idle). */
  heartbeatAgeMs: number;
  counters: Record<CounterName, number>;
  port?: PortInfo;
}

/** Reads the status of the NIC server owning the region at `path`. */
export function nicStatus(path: string): NicStatus {
  const dpdk = openDpdk();
  using r = NicRegion.attach(dpdk, path);
  const v = r.view;
  const off = r.offloads;
  const counters = r.counters();
  const now = Number(dpdk.sym.jr_now_ns() as bigint);
  let port: PortInfo | undefined;
  try {
    port = JSON.parse(r.cString(C.portInfo, 2048));
  } catch {
    port = undefined;
  }
  return {
    region: path,
    pid: v.getUint32(H.nicPid, true),
    generation: v.getUint32(H.generation, true),
    mtu: r.mtu,
    mac: r.mac,
    offloads: {
      txCsum: (off & OFF.txCsum) !== 0,
      tso: (off & OFF.tso) !== 0,
      rxCsum: (off & OFF.rxCsum) !== 0,
      gro: (off & OFF.gro) !== 0,
    },
    heartbeatAgeMs: counters.heartbeatNs ? (now - counters.heartbeatNs) / 1e6 : Infinity,
    counters,
    port,
  };
}

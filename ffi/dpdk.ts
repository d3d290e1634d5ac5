/**
 * Deno FFI bindings to the NIC glue over DPDK (native/dpdk/jr_nic.c, built as
 * build/libjr_nic.so by `make`). Data-path calls are batched: one call moves a burst.
 *
 * ```ts
 * import { openDpdk } from "./dpdk.ts";
 * const dpdk = openDpdk();
 * dpdk.ealInit(["jr-nic", "--no-huge", "-m", "256", "--in-memory", "--no-pci"]);
 * ```
 */

const here = new URL(".", import.meta.url).pathname;

/** Path of the shared library (overridable with $JOYRIDE_NIC_LIB). */
export const libPath: string = Deno.env.get("JOYRIDE_NIC_LIB") ?? `${here}../build/libjr_nic.so`;

const symbols = {
  jr_last_error: { parameters: [], result: "pointer" },
  jr_layout: { parameters: ["buffer", "i32"], result: "i32" },
  jr_futex_wait: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  jr_futex_wait_nb: {
    name: "jr_futex_wait",
    parameters: ["pointer", "u32", "u32"],
    result: "i32",
    nonblocking: true,
  },
  jr_futex_wake: { parameters: ["pointer"], result: "i32" },
  jr_region_size: { parameters: ["u32", "u32", "u32", "u32", "u32"], result: "u64" },
  jr_region_map: { parameters: ["buffer", "u64", "i32"], result: "pointer" },
  jr_region_unmap: { parameters: ["pointer", "u64"], result: "i32" },
  jr_region_init: {
    parameters: ["pointer", "u64", "u32", "u32", "u32", "u32", "u32"],
    result: "i32",
  },
  jr_eal_init: { parameters: ["buffer"], result: "i32" },
  jr_eal_cleanup: { parameters: [], result: "i32" },
  jr_port_open: {
    parameters: ["buffer", "buffer", "buffer", "u32", "u32", "u32"],
    result: "i32",
  },
  jr_port_info: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  jr_port_stats: { parameters: ["i32", "buffer"], result: "i32" },
  jr_port_link: { parameters: ["i32", "i32"], result: "i32" },
  jr_port_link_status: { parameters: ["i32"], result: "i32" },
  jr_port_close: { parameters: ["i32"], result: "i32" },
  jr_port_steer: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  jr_port_steer_stats: { parameters: ["i32", "buffer"], result: "i32" },
  jr_nic_attach: { parameters: ["i32", "pointer", "u64", "i32"], result: "pointer" },
  jr_nic_detach: { parameters: ["pointer"], result: "void" },
  jr_nic_kernel_gso: { parameters: ["pointer", "i32"], result: "i32" },
  jr_nic_kernel_gro: { parameters: ["pointer"], result: "i32" },
  jr_nic_gso_link: { parameters: ["pointer", "i32"], result: "i32" },
  jr_nic_link_bell: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  jr_nic_link_arm: { parameters: ["pointer", "i32"], result: "i32" },
  jr_nic_wait_link: { parameters: ["pointer", "u32"], result: "i32", nonblocking: true },
  jr_nic_capture: { parameters: ["pointer", "buffer", "u64"], result: "void" },
  jr_nic_rx: { parameters: ["pointer", "u32"], result: "i32" },
  jr_nic_tx: { parameters: ["pointer", "u32"], result: "i32" },
  jr_nic_wait_tx: { parameters: ["pointer", "u32"], result: "i32", nonblocking: true },
  jr_nic_wait_tx_sync: { name: "jr_nic_wait_tx", parameters: ["pointer", "u32"], result: "i32" },
  jr_nic_kick_tx: { parameters: ["pointer"], result: "void" },
  jr_nic_watch_open: { parameters: ["pointer"], result: "i32" },
  jr_nic_watch_arm: { parameters: ["pointer", "i32"], result: "i32" },
  jr_nic_watch_wait: { parameters: ["pointer", "i32"], result: "i32", nonblocking: true },
  jr_nic_watch_kick: { parameters: ["pointer"], result: "void" },
  jr_nic_watch_kind: { parameters: ["pointer"], result: "i32" },
  jr_now_ns: { parameters: [], result: "u64" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The raw symbols of libjr_nic.so. */
export type DpdkSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Statistics of a port (rte_eth_stats). */
export interface PortStats {
  ipackets: bigint;
  opackets: bigint;
  ibytes: bigint;
  obytes: bigint;
  imissed: bigint;
  ierrors: bigint;
  oerrors: bigint;
  rxNombuf: bigint;
}

/** Port kinds the glue can open. */
export type PortKind = "af_packet" | "af_xdp" | "memif" | "tap" | "pci";

/** What jr_port_info reports. */
export interface PortInfo {
  driver: string;
  name: string;
  port: number;
  mac: string;
  mtu: number;
  link: { up: boolean; speed: number };
  /** Hardware offload capabilities of the PMD. */
  hw: Record<string, boolean>;
  /** How each offload is provided by the glue ("software", "rte_gso", "rte_gro"). */
  provided: Record<string, string>;
  /** JR_OFF_* bits. */
  offloads: number;
  max_rx_pktlen: number;
}

const enc = new TextEncoder();
function cstr(s: string): Uint8Array<ArrayBuffer> {
  return enc.encode(s + "\0");
}

/** A loaded libjr_nic.so. One per process (DPDK's EAL is process-wide). */
export class Dpdk implements Disposable {
  readonly lib: Deno.DynamicLibrary<typeof symbols>;
  readonly sym: DpdkSymbols;

  constructor(path = libPath) {
    try {
      this.lib = Deno.dlopen(path, symbols);
    } catch (e) {
      throw new Error(
        `Cannot load the NIC glue ${path}: ${(e as Error).message} (run ./joyride to build it)`,
      );
    }
    this.sym = this.lib.symbols;
  }

  /** The last error message of the glue. */
  lastError(): string {
    const p = this.sym.jr_last_error();
    return p ? Deno.UnsafePointerView.getCString(p) : "";
  }

  /** Layout constants of native/dpdk/jr_nic.h, in jr_layout()'s order. */
  layout(): number[] {
    const out = new Uint32Array(64);
    const n = this.sym.jr_layout(out, 64);
    return Array.from(out.subarray(0, n));
  }

  /** Initialises DPDK's EAL. args[0] is the program name. Throws on failure. */
  ealInit(args: string[]): void {
    const r = this.sym.jr_eal_init(cstr(args.join(" ")));
    if (r !== 0) throw new Error(`Cannot initialise DPDK: ${this.lastError()}`);
  }

  /** Opens, configures and starts a port; returns its handle. */
  portOpen(
    kind: PortKind,
    devargs: string,
    ifname: string,
    mtu: number,
    nrxd = 1024,
    ntxd = 1024,
  ): number {
    const h = this.sym.jr_port_open(cstr(kind), cstr(devargs), cstr(ifname), mtu, nrxd, ntxd);
    if (h < 0) throw new Error(`Cannot open ${kind} port ${devargs}: ${this.lastError()}`);
    return h;
  }

  /** Driver, MAC, MTU, link and offload capabilities of a port. */
  portInfo(h: number): PortInfo {
    const buf = new Uint8Array(4096);
    const n = this.sym.jr_port_info(h, buf, buf.length);
    if (n < 0) throw new Error(`Cannot query port ${h}: error ${n}`);
    return JSON.parse(new TextDecoder().decode(buf.subarray(0, n)));
  }

  /** Port statistics. */
  portStats(h: number): PortStats {
    const out = new BigUint64Array(8);
    const r = this.sym.jr_port_stats(h, new Uint8Array(out.buffer));
    if (r !== 0) throw new Error(`Cannot read statistics of port ${h}: error ${r}`);
    return {
      ipackets: out[0],
      opackets: out[1],
      ibytes: out[2],
      obytes: out[3],
      imissed: out[4],
      ierrors: out[5],
      oerrors: out[6],
      rxNombuf: out[7],
    };
  }

  /** Sets the link up or down. */
  portLink(h: number, up: boolean): void {
    const r = this.sym.jr_port_link(h, up ? 1 : 0);
    if (r !== 0) throw new Error(`Cannot set link ${up ? "up" : "down"} on port ${h}: ${r}`);
  }

  /**
   * af_xdp kernel coexistence (port opened with the jr_xdp program): IPv4 and ARP for these
   * addresses go to the port, the rest stays with the kernel.
   */
  portSteer(h: number, ipv4: string[]): void {
    const a = new Uint8Array(4 * ipv4.length);
    ipv4.forEach((s, i) => {
      const parts = s.split(".").map(Number);
      if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) {
        throw new Error(`Cannot steer: "${s}" is not an IPv4 address`);
      }
      a.set(parts, 4 * i);
    });
    const r = this.sym.jr_port_steer(h, a, ipv4.length);
    if (r !== 0) throw new Error(`Cannot steer ${ipv4.join(",")}: ${this.lastError()} (${r})`);
  }

  /** Steering counters of the jr_xdp program, or undefined when it is not in use. */
  portSteerStats(h: number): { toJoyride: number; toKernel: number } | undefined {
    const out = new BigUint64Array(2);
    if (this.sym.jr_port_steer_stats(h, new Uint8Array(out.buffer)) !== 0) return undefined;
    return { toJoyride: Number(out[0]), toKernel: Number(out[1]) };
  }

  /** Stops and closes a port. */
  portClose(h: number): void {
    this.sym.jr_port_close(h);
  }

  [Symbol.dispose](): void {
    this.lib.close();
  }
}

let shared: Dpdk | undefined;

/** The process-wide glue, loaded on first use. */
export function openDpdk(): Dpdk {
  shared ??= new Dpdk();
  return shared;
}

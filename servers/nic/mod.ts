/**
 * The NIC driver server: public face.
 *
 * ## Starting it
 *
 * `deno run -A servers/nic/main.ts --kind af_packet --iface IFACE [--mtu 1500]
 * [--region PATH | --instance NAME] [--gro] …` (see main.ts), or in-process with
 * `new NicServer(parseArgs(argv, env)).run()` (what servers/supervisor/nic_entry.ts does).
 *
 * | kind        | port                                   | how the idle server wakes on rx          |
 * | ----------- | -------------------------------------- | ---------------------------------------- |
 * | `af_packet` | net_af_packet on a kernel interface     | packet-socket watch (immediate)          |
 * | `af_xdp`    | net_af_xdp on a kernel interface; with `--xdp-steer ADDR,…` the jr_xdp program sends only IPv4/ARP for ADDR to Joyride and leaves the rest to the kernel (coexistence) | polls, period backing off to 10 ms |
 * | `memif`     | net_memif, `--memif-role`/`--memif-socket`; `--memif-gso` on both ends (two Joyride instances): TSO frames cross whole, checksums partial | polls, period backing off to 10 ms; with `--memif-gso` polls ~3 ms, then sleeps on the link's doorbells (`<socket>.bell`, link_bell.ts) |
 * | `tap`       | net_tap creating IFACE                  | packet-socket watch                      |
 * | `pci`       | a PCI NIC bound to vfio-pci, `--pci ADDR --hugepages` (untested here) | Rx interrupt if the PMD has it, else polls |
 *
 * Offloads (every kind here; DPDK's software libraries and the glue do them — tap alone reports
 * hardware-style checksum/TSO capabilities, which the glue does not use yet):
 * - `F.txCsum`: IPv4 header + TCP/UDP/ICMP checksums, IPv6 TCP/UDP/ICMPv6 (no extension headers);
 * - `F.txTso` + mss: TCP/IPv4 segmentation through rte_gso (frames up to 64 KB);
 * - rx: TCP/UDP checksums over IPv4 and IPv6 verified and flagged (`F.rxCsumOk`/`F.rxCsumBad`);
 * - with `--gro` (64 KB rx buffers): TCP/IPv4 coalescing through rte_gro (`F.rxGro`; the merged
 *   segment carries valid checksums again).
 * Descriptors whose flags ask for what the frame does not allow are refused (counter txBadDesc).
 * The region header's `offloads` word (OFF.*) says which are on.
 *
 * ## The region (the contract with the TCP/IP server)
 *
 * One file per instance, `/dev/shm/joyride-<instance>-nic` unless `--region` says otherwise;
 * the NIC server creates it (or attaches to an existing one on restart, carrying on from its
 * ring indices); the TCP/IP server attaches with `NicRegion.attach`. Layout: region.ts (and its C
 * twin native/dpdk/jr_nic.h). Capture: capture.ts. Status from outside: status.ts.
 *
 * @module
 */
export * from "./region.ts";
export { capture, type CaptureOptions, type CaptureResult } from "./capture.ts";
export { type NicStatus, nicStatus } from "./status.ts";
export { type NicConfig, NicServer, POLL_MAX_US, removeStaleDpdkDirs } from "./server.ts";
export { parseArgs } from "./main.ts";

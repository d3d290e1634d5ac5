/**
 * NIC server process entry.
 *
 *   deno run -A servers/nic/main.ts --kind af_packet --iface veth-jr [--mtu 1500]
 *       [--region /dev/shm/joyride-default-nic] [--instance NAME] [--fresh] [--cleanup]
 *       [--memif-role server|client --memif-socket PATH --memif-id N --memif-mac MAC --memif-gso] [--pci ADDR]
 *       [--capture FILE.pcapng] [--xdp-steer ADDR[,ADDR…]] [--hugepages] [--gro|--no-gro] [--eal "EXTRA EAL ARGS"] [--index N] [--status-file PATH]
 *       [--kernel-gso off|on|pass] [--no-kernel-gro]
 *
 * Every option can also come from the environment: JOYRIDE_NIC_KIND, JOYRIDE_NIC_IFACE,
 * JOYRIDE_NIC_MTU, JOYRIDE_NIC_REGION, JOYRIDE_INSTANCE. Prints one JSON line
 * `{"ready":true,…status}` on stdout once the port is up and the region is ready, then runs
 * until SIGTERM or SIGINT. Receive coalescing (rte_gro) is on by default (--no-gro turns it off;
 * --gro is accepted and changes nothing; JOYRIDE_NIC_GRO=0 turns it off too): it needs 64 KB rx buffers, which a region created with
 * GRO has (GRO stays off on a region without). It halves CPU per Gbit and about doubles bulk
 * throughput on 2 vCPUs (issue 9).
 * --kernel-gso (af_packet only; JOYRIDE_NIC_KERNEL_GSO too): "on" sends TCP/UDP frames through a
 * packet socket with virtio-net headers, so a TSO frame leaves as one GSO packet and checksums
 * are left to the kernel (no rte_gso, no per-segment checksum or send here); "pass" (the default)
 * also turns on TSO and tx checksumming on the interface, so that a veth hands the GSO packet to
 * the peer whole; "off" keeps rte_gso and the PMD for every frame (issue 9).
 * Kernel GRO (af_packet with GRO; --no-kernel-gro or JOYRIDE_NIC_KERNEL_GRO=0 turn it off):
 * frames arrive through a packet socket with virtio-net headers straight into the region's rx
 * buffers, with GRO on on the interface, so the kernel coalesces a flow's segments and verifies
 * their checksums (instead of the PMD, a copy and rte_gro here).
 * --xdp-steer (af_xdp only) loads build/jr_xdp.o so that only IPv4 and ARP for those addresses
 * come to Joyride and the kernel keeps the rest of the interface's traffic. With --status-file, rewrites that file with the status JSON every
 * second.
 */
import type { PortKind } from "../../ffi/dpdk.ts";
import { type NicConfig, NicServer } from "./server.ts";

const KINDS: PortKind[] = ["af_packet", "af_xdp", "memif", "tap", "pci"];

/** `--kernel-gso off|on|pass` as NicConfig.kernelGso (0, 1, 2); throws on anything else. */
function kernelGso(v: string): number {
  const i = ["off", "on", "pass"].indexOf(v);
  if (i < 0) throw new Error(`NIC server: kernel-gso must be off, on or pass, not "${v}"`);
  return i;
}

/** Parses the command line (and environment) into a configuration; throws naming the field. */
export function parseArgs(argv: string[], env: (k: string) => string | undefined): NicConfig & {
  statusFile?: string;
} {
  const opt = new Map<string, string>();
  const flags = new Set<string>();
  const valued = new Set([
    "kind",
    "iface",
    "mtu",
    "region",
    "instance",
    "memif-role",
    "memif-socket",
    "memif-id",
    "memif-mac",
    "pci",
    "eal",
    "index",
    "status-file",
    "capture",
    "spin-polls",
    "xdp-steer",
    "kernel-gso",
  ]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`NIC server: unexpected argument "${a}"`);
    const [k, inline] = a.slice(2).split("=", 2);
    if (valued.has(k)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`NIC server: --${k} needs a value`);
      opt.set(k, v);
    } else if (
      ["fresh", "cleanup", "hugepages", "gro", "no-gro", "no-kernel-gro", "memif-gso"].includes(k)
    ) {
      flags.add(k);
    } else {
      throw new Error(`NIC server: unknown option --${k}`);
    }
  }
  const kind = (opt.get("kind") ?? env("JOYRIDE_NIC_KIND") ?? "af_packet") as PortKind;
  if (!KINDS.includes(kind)) {
    throw new Error(`NIC server: kind must be one of ${KINDS.join(", ")}, not "${kind}"`);
  }
  const mtu = Number(opt.get("mtu") ?? env("JOYRIDE_NIC_MTU") ?? 1500);
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9000) {
    throw new Error(`NIC server: mtu must be an integer in 576..9000, not "${opt.get("mtu")}"`);
  }
  const role = opt.get("memif-role") ?? "server";
  if (role !== "server" && role !== "client") {
    throw new Error(`NIC server: memif-role must be server or client, not "${role}"`);
  }
  const instance = opt.get("instance") ?? env("JOYRIDE_INSTANCE") ?? "default";
  const num = (k: string): number | undefined => {
    const v = opt.get(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`NIC server: ${k} must be an integer`);
    return n;
  };
  return {
    kind,
    iface: opt.get("iface") ?? env("JOYRIDE_NIC_IFACE"),
    mtu,
    region: opt.get("region") ?? env("JOYRIDE_NIC_REGION") ??
      `/dev/shm/joyride-${instance}-nic`,
    fresh: flags.has("fresh"),
    cleanup: flags.has("cleanup"),
    hugepages: flags.has("hugepages"),
    gro: !flags.has("no-gro") && env("JOYRIDE_NIC_GRO") !== "0",
    kernelGso: kernelGso(opt.get("kernel-gso") ?? env("JOYRIDE_NIC_KERNEL_GSO") ?? "pass"),
    kernelGro: !flags.has("no-kernel-gro") && env("JOYRIDE_NIC_KERNEL_GRO") !== "0",
    memifRole: role,
    memifSocket: opt.get("memif-socket"),
    memifId: num("memif-id"),
    memifMac: opt.get("memif-mac"),
    memifGso: flags.has("memif-gso"),
    pci: opt.get("pci"),
    eal: opt.get("eal")?.split(" ").filter((s) => s !== ""),
    index: num("index"),
    spinPolls: num("spin-polls"),
    statusFile: opt.get("status-file"),
    capture: opt.get("capture"),
    steer: opt.get("xdp-steer")?.split(",").filter((a) => a !== ""),
  };
}

if (import.meta.main) {
  let cfg;
  try {
    cfg = parseArgs(Deno.args, (k) => Deno.env.get(k));
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(2);
  }
  let server: NicServer;
  try {
    server = new NicServer(cfg);
  } catch (e) {
    console.error(`nic: ${(e as Error).message}`);
    Deno.exit(1);
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
    server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.log(JSON.stringify({ ready: true, ...server.status() }));
  if (cfg.statusFile) {
    const file = cfg.statusFile;
    const write = () => {
      try {
        Deno.writeTextFileSync(file + ".tmp", JSON.stringify(server.status()) + "\n");
        Deno.renameSync(file + ".tmp", file);
      } catch {
        // status is best effort
      }
    };
    write();
    setInterval(write, 1000);
  }
  await server.run();
}

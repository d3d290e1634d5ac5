import { parseArgs } from "./main.ts";
import { devargs, ealArgs } from "./server.ts";

function assert(c: unknown, m = "assertion failed"): asserts c {
  if (!c) throw new Error(m);
}
function throwsWith(f: () => unknown, re: RegExp): void {
  try {
    f();
  } catch (e) {
    assert(re.test((e as Error).message), `message "${(e as Error).message}" ~ ${re}`);
    return;
  }
  throw new Error(`did not throw (${re})`);
}
const noEnv = () => undefined;

Deno.test("nic main: defaults are af_packet, MTU 1500, the instance's region", () => {
  const c = parseArgs(["--iface", "veth0"], noEnv);
  assert(c.kind === "af_packet" && c.mtu === 1500 && c.iface === "veth0");
  assert(c.region === "/dev/shm/joyride-default-nic", c.region);
  assert(c.gro === true && !c.fresh && !c.cleanup, "GRO on by default");
  assert(parseArgs(["--gro"], noEnv).gro === true);
  assert(parseArgs(["--no-gro"], noEnv).gro === false);
  assert(parseArgs([], (k) => k === "JOYRIDE_NIC_GRO" ? "0" : undefined).gro === false);
  const d = devargs(c);
  assert(d.devargs.startsWith("net_af_packet0,iface=veth0") && d.ifname === "veth0");
  assert(ealArgs(c).includes("--no-pci") && ealArgs(c).includes("--no-huge"));
});

Deno.test("nic main: environment and options, memif devargs, bad values name the field", () => {
  const env = (k: string) =>
    ({ JOYRIDE_NIC_KIND: "memif", JOYRIDE_INSTANCE: "b" } as Record<
      string,
      string
    >)[k];
  const c = parseArgs(["--memif-socket=/tmp/m.sock", "--memif-role", "client", "--no-gro"], env);
  assert(c.kind === "memif" && c.memifRole === "client" && c.gro === false);
  assert(c.region === "/dev/shm/joyride-b-nic");
  assert(devargs(c).devargs.includes("role=client,socket=/tmp/m.sock"));
  assert(!devargs(c).devargs.includes("mac="));
  const m = parseArgs(["--memif-socket=/tmp/m.sock", "--memif-mac", "02:4a:52:00:00:01"], env);
  assert(devargs(m).devargs.endsWith(",mac=02:4a:52:00:00:01"));
  throwsWith(() => parseArgs(["--kind", "e1000"], noEnv), /kind must be one of/);
  throwsWith(() => parseArgs(["--mtu", "70000"], noEnv), /mtu must be/);
  throwsWith(() => parseArgs(["--bogus"], noEnv), /unknown option --bogus/);
  throwsWith(() => parseArgs(["--iface"], noEnv), /--iface needs a value/);
  throwsWith(() => devargs(parseArgs(["--kind", "af_xdp"], noEnv)), /needs --iface/);
  throwsWith(() => ealArgs(parseArgs(["--kind", "pci"], noEnv)), /needs --pci/);
  assert(
    ealArgs(parseArgs(["--kind", "pci", "--pci", "0000:00:08.0"], noEnv)).join(" ").includes(
      "-a 0000:00:08.0",
    ),
  );
});

Deno.test("nic: runtime directories of dead NIC servers are removed, live ones kept", async () => {
  const { removeStaleDpdkDirs } = await import("./server.ts");
  const dead = "/var/run/dpdk/jr-nic-4194399"; // above any pid_max: never a live process
  const live = `/var/run/dpdk/jr-nic-${Deno.pid}`;
  Deno.mkdirSync(dead, { recursive: true });
  Deno.mkdirSync(live, { recursive: true });
  try {
    removeStaleDpdkDirs();
    assert(Deno.statSync("/var/run/dpdk").isDirectory, "the root stays unless asked");
    let deadThere = true;
    try {
      Deno.statSync(dead);
    } catch {
      deadThere = false;
    }
    assert(!deadThere, "stale directory removed");
    assert(Deno.statSync(live).isDirectory, "a live process's directory is kept");
  } finally {
    Deno.removeSync(live, { recursive: true });
    try {
      Deno.removeSync("/var/run/dpdk");
    } catch {
      // others use it
    }
  }
});

Deno.test("nic main: --kernel-gso off|on|pass (default pass), from the environment too", () => {
  assert(parseArgs([], noEnv).kernelGso === 2, "pass by default");
  assert(parseArgs(["--kernel-gso", "off"], noEnv).kernelGso === 0);
  assert(parseArgs(["--kernel-gso=on"], noEnv).kernelGso === 1);
  const env = (k: string) => k === "JOYRIDE_NIC_KERNEL_GSO" ? "off" : undefined;
  assert(parseArgs([], env).kernelGso === 0);
  assert(parseArgs(["--kernel-gso", "pass"], env).kernelGso === 2, "the option wins");
  throwsWith(() => parseArgs(["--kernel-gso", "yes"], noEnv), /kernel-gso must be off, on or pass/);
});

Deno.test("nic main: kernel GRO on by default; --no-kernel-gro or JOYRIDE_NIC_KERNEL_GRO=0 off", () => {
  assert(parseArgs([], noEnv).kernelGro === true);
  assert(parseArgs(["--no-kernel-gro"], noEnv).kernelGro === false);
  assert(
    parseArgs([], (k) => k === "JOYRIDE_NIC_KERNEL_GRO" ? "0" : undefined).kernelGro === false,
  );
});

/**
 * How the supervisor runs the NIC server (servers/nic/, another folder's code): this entry
 * takes the standard server arguments (`--config FILE --generation N`), maps the instance's
 * configuration onto the NIC server's own configuration (port kind from `nic.port`, the
 * topology's interface and MTU, the instance's region file), connects the agent (ready,
 * heartbeats with the NIC's counters), registers the label "nic" with the naming server
 * (endpoint: kind ring, path of the NIC region file), and runs the NIC server's loop.
 *
 * With `nic.port` "memif", `nic.memif` (config.ts `memifLink`) gives the memif role, socket
 * and id, and the port's MAC is `topology.joyrideMac`.
 *
 * Extra NIC options can be given in the configuration as `nic.args` (an array of the NIC
 * server's command-line options, e.g. `["--no-gro"]`).
 */
import { Agent, serverContext } from "./agent.ts";
import { memifLink } from "./config.ts";
import { endpoint, Registration } from "../naming/client.ts";
import { parseArgs } from "../nic/main.ts";
import { NicServer } from "../nic/server.ts";

const ctx = serverContext("nic");
const c = ctx.config;
const extra = Array.isArray(c.nic.args) ? c.nic.args.map(String) : [];
// memif (two instances joined, config.ts memifPair): the link's socket and role; the port's
// MAC is the topology's joyrideMac (the other instance has it as its peerMac).
const memif = memifLink(c);
const memifArgs = memif
  ? [
    "--memif-role",
    memif.role,
    "--memif-socket",
    memif.socket,
    "--memif-id",
    String(memif.id),
    "--memif-mac",
    c.topology.joyrideMac,
    ...(memif.gso ? ["--memif-gso"] : []),
  ]
  : [];
const nicCfg = parseArgs([
  "--kind",
  c.nic.port,
  "--iface",
  ctx.topology.joyrideIf,
  "--mtu",
  String(c.topology.mtu),
  "--instance",
  c.instance,
  ...memifArgs,
  ...extra,
], () => undefined);

// A memif client needs the server's socket to open its port: wait for the other instance's
// NIC server to make it (so the two instances may be started in either order, within the
// start timeout), then say plainly what is missing.
if (memif?.role === "client") {
  const end = Date.now() + Math.max(1000, c.supervisor.startTimeoutMs - 3000);
  const there = () => {
    try {
      return Deno.statSync(memif.socket).isSocket === true;
    } catch {
      return false;
    }
  };
  if (!there()) console.error(`nic: waiting for the memif server's socket ${memif.socket}`);
  while (!there() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  if (!there()) {
    console.error(
      `nic: no memif server socket ${memif.socket}: start the instance whose nic.memif.role is ` +
        `"server" (and names this socket)`,
    );
    Deno.exit(1);
  }
}

let server: NicServer | undefined;
const agent = await Agent.connect(ctx, () => {
  if (!server) return {};
  const k = server.region.counters();
  return {
    kind: nicCfg.kind,
    iface: nicCfg.iface,
    rxFrames: k.rxFrames,
    rxBytes: k.rxBytes,
    txFrames: k.txFrames,
    txBytes: k.txBytes,
    rxNoBuf: k.rxNoBuf,
    rxRingFull: k.rxRingFull,
    txDropped: k.txDropped,
    txBadDesc: k.txBadDesc,
    rxCsumBad: k.rxCsumBad,
    captured: k.captured,
  };
});
try {
  server = new NicServer(nicCfg);
} catch (e) {
  console.error(`nic: ${(e as Error).message}`);
  Deno.exit(1);
}
const nic = server;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  agent.close();
  await nic.stop();
  nic.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
const reg = await Registration.start(
  ctx.paths.naming,
  "nic",
  endpoint("ring", nicCfg.region),
  ctx.generation,
);
console.error(
  `nic: ${nicCfg.kind} on ${nicCfg.iface}, region ${nicCfg.region}, generation ${reg.generation}`,
);
agent.ready();
await nic.run();

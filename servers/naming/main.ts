/**
 * The naming server process: `deno run -A servers/naming/main.ts --config FILE`.
 * Started by the supervisor inside the instance's namespace; listens on
 * `<runtime dir>/naming.sock` and saves its registry to `<runtime dir>/registry.json`.
 *
 * Survives its restart: the registry (generations, live registrations).
 */
import { Agent, onStopSignal, serverContext } from "../supervisor/agent.ts";
import { NamingServer } from "./server.ts";
import { AppsServer } from "./apps.ts";
import { flatRefusals } from "./policy_refusals.ts";

const ctx = serverContext("naming");
const agent = await Agent.connect(ctx, () => ({
  entries: server.entries().filter((e) => e.alive).length,
  refused: server.refused,
  apps: apps.apps().length,
  ...flatRefusals("refusals", apps.policy.refusals), // issue 6
}));
Deno.mkdirSync(ctx.paths.dir, { recursive: true });
const server = NamingServer.listen({
  socketPath: ctx.paths.naming,
  savePath: ctx.paths.registry,
  generation: ctx.generation,
});
// App registration (issue 5): apps.sock beside naming.sock.
const apps = AppsServer.listen(
  `${ctx.paths.dir}/apps.sock`,
  (ctx.config as { policy?: unknown }).policy, // issue 6: servers/naming/policy.ts
);
onStopSignal(async () => {
  agent.close();
  await apps.close();
  await server.close();
});
agent.ready();

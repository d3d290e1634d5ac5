/**
 * The naming server process: `deno run -A servers/naming/main.ts --config FILE`.
 * Started by the supervisor inside the instance's namespace; listens on
 * `<runtime dir>/naming.sock` and saves its registry to `<runtime dir>/registry.json`.
 *
 * Survives its restart: the registry (generations, live registrations).
 */
import { Agent, onStopSignal, serverContext } from "../supervisor/agent.ts";
import { NamingServer } from "./server.ts";

const ctx = serverContext("naming");
const agent = await Agent.connect(ctx, () => ({
  entries: server.entries().filter((e) => e.alive).length,
  refused: server.refused,
}));
Deno.mkdirSync(ctx.paths.dir, { recursive: true });
const server = NamingServer.listen({
  socketPath: ctx.paths.naming,
  savePath: ctx.paths.registry,
  generation: ctx.generation,
});
onStopSignal(async () => {
  agent.close();
  await server.close();
});
agent.ready();

/**
 * The detached supervisor process (`./joyride start --detach` starts it):
 * `deno run -A servers/supervisor/main.ts [--config FILE] [--instance NAME]`.
 *
 * Brings the instance up (see supervisor.ts), stops it on SIGTERM/SIGINT or on a `stop`
 * request, and exits once everything is removed.
 */
import { configPath, loadConfig } from "./config.ts";
import { Supervisor } from "./supervisor.ts";

const repoRoot = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const opt = (flag: string) => {
  const i = Deno.args.indexOf(flag);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};

let config;
try {
  config = loadConfig(configPath(opt("--config"), repoRoot), opt("--instance"));
} catch (e) {
  console.error(`supervisor: ${(e as Error).message}`);
  Deno.exit(2);
}
const sup = new Supervisor(config, { repoRoot });
// A stray rejection must not end the supervisor (the servers would be left unwatched).
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  console.error(`supervisor: unexpected: ${e.reason?.stack ?? e.reason}`);
});
const onSignal = () => sup.stop();
Deno.addSignalListener("SIGTERM", onSignal);
Deno.addSignalListener("SIGINT", onSignal);
try {
  await sup.start();
  console.error(`supervisor: instance ${config.instance} up`);
} catch (e) {
  console.error(`supervisor: ${(e as Error).message}`);
  Deno.exit(1);
}
await sup.stopped;
console.error(`supervisor: instance ${config.instance} stopped`);
// Let a pending `stop` reply reach its client before the process ends.
setTimeout(() => Deno.exit(0), 100);

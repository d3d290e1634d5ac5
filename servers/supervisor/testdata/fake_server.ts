/**
 * A stand-in server for the supervisor's tests: `--name NAME` (default "fake"), exits with
 * code 7 after `--crash-after MS`, stops heartbeating (its loop hangs) after `--hang-after MS`.
 */
import { Agent, onStopSignal, serverContext } from "../agent.ts";

const arg = (f: string) => {
  const i = Deno.args.indexOf(f);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const ctx = serverContext(arg("--name") ?? "fake");
let beats = 0;
const agent = await Agent.connect(ctx, () => ({ beats: ++beats, rxFrames: beats * 10 }));
onStopSignal(() => agent.close());
agent.ready();
const crash = arg("--crash-after");
if (crash && ctx.generation === 1) setTimeout(() => Deno.exit(7), Number(crash));
const hang = arg("--hang-after");
if (hang && ctx.generation === 1) {
  setTimeout(() => {
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      // a hung loop: no heartbeats
    }
  }, Number(hang));
}

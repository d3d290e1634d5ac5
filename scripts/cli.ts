/**
 * `./joyride start|stop|status|restart|run|peer|capture|shell`: the commands of DESIGN §8.
 *
 * Common options: `--instance NAME` (default from the configuration, "default"),
 * `--config FILE` (default $JOYRIDE_CONFIG or joyride.json at the repository root).
 */
import { type Config, configPath, loadConfig } from "../servers/supervisor/config.ts";
import {
  cleanupInstance,
  NO_MEMORY_REDUCER,
  Supervisor,
} from "../servers/supervisor/supervisor.ts";
import {
  allRunning,
  ControlTimeoutError,
  getStatus,
  NotRunningError,
  restartServer,
  stopInstance,
} from "../servers/supervisor/control.ts";
import { renderStatus } from "../servers/supervisor/status_view.ts";
import { runtimePaths } from "../servers/supervisor/runtime.ts";
import { affinityPrefix } from "../servers/supervisor/affinity.ts";
import { topologyNames, waitGone } from "../servers/supervisor/topology.ts";
import type { Status } from "../servers/supervisor/supervisor.ts";
import { repoRoot, userCwd, userPath } from "./paths.ts";
import { runForeground } from "./child.ts";

const usage = `usage:
  ./joyride start [--detach]          bring the system up (foreground with live status, Ctrl-C stops)
  ./joyride stop                      stop a detached system and remove everything it created
  ./joyride status [--json]           servers, sockets, counters
  ./joyride restart <server>          restart naming, nic or tcp live
  ./joyride peer -- CMD…              run CMD on the peer host (its own network namespace)
  ./joyride run -- CMD…               run CMD with the shim, attached to the running system
  ./joyride shell [-- CMD…]           a shell (or CMD) where every program uses the shim
  ./joyride capture [FILE] [--count N] [--seconds S]
                                      pcapng of what the NIC server sends and receives
options: --instance NAME, --config FILE`;

function fail(msg: string, code = 1): never {
  console.error(`joyride: ${msg}`);
  Deno.exit(code);
}

/** Splits `args` into options (before `--`) and a command (after it). */
function splitArgs(args: string[]): { opts: string[]; cmd: string[] } {
  const i = args.indexOf("--");
  return i < 0 ? { opts: args, cmd: [] } : { opts: args.slice(0, i), cmd: args.slice(i + 1) };
}

const [command, ...rest] = Deno.args;
const { opts, cmd } = splitArgs(rest);
function opt(flag: string): string | undefined {
  const i = opts.indexOf(flag);
  if (i < 0) return undefined;
  const v = opts[i + 1];
  if (v === undefined || v.startsWith("--")) fail(`${flag} needs a value`);
  opts.splice(i, 2);
  return v;
}
function flag(name: string): boolean {
  const i = opts.indexOf(name);
  if (i < 0) return false;
  opts.splice(i, 1);
  return true;
}
/** Refuses what is left of the options once a command took its own: an unknown option, or
 * more than `positional` plain arguments. */
function noMore(positional = 0): void {
  const unknown = opts.find((o) => o.startsWith("-"));
  if (unknown) fail(`${command}: unknown option ${unknown}\n${usage}`, 2);
  if (opts.length > positional) fail(`${command}: unexpected argument ${opts[positional]}`, 2);
}

const instanceOpt = opt("--instance");
const configOpt = opt("--config");
function load(): Config {
  try {
    return loadConfig(configPath(configOpt, repoRoot), instanceOpt);
  } catch (e) {
    fail((e as Error).message, 2);
  }
}
const config: Config = load();
const paths = runtimePaths(config);
const names = topologyNames(config.instance);

/** Arguments that pass the instance and configuration on to a child process. */
function passOn(): string[] {
  return ["--instance", config.instance, ...(configOpt ? ["--config", configOpt] : [])];
}

async function statusOrUndefined(): Promise<Status | undefined> {
  try {
    return await getStatus(paths.control);
  } catch (e) {
    if (e instanceof NotRunningError) return undefined;
    fail((e as Error).message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startForeground(): Promise<void> {
  const sup = new Supervisor(config, {
    repoRoot,
    log: (l) => logLines.push(`${new Date().toISOString().slice(11, 19)} ${l}`),
  });
  const logLines: string[] = [];
  let stopping = false;
  // The terminal may be gone (its window closed, or `deno task` ended on the same Ctrl-C):
  // writing must not end this process before everything is stopped and removed.
  const say = (line: string) => {
    try {
      console.log(line);
    } catch {
      // no terminal
    }
  };
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    say("\njoyride: stopping…");
    sup.stop();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGHUP", onSignal);
  // A stray rejection must not end the supervisor (the servers would be left unwatched).
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    logLines.push(`unexpected: ${e.reason?.stack ?? e.reason}`);
  });
  try {
    await sup.start();
  } catch (e) {
    if (stopping) {
      await sup.stopped; // interrupted while starting: finish removing what was made
      say("joyride: stopped, everything removed");
      Deno.exit(130);
    }
    for (const l of logLines) console.error(l);
    fail((e as Error).message);
  }
  const tty = Deno.stdout.isTerminal();
  let prev: Status | undefined;
  let prevAt = 0;
  const draw = () => {
    const cur = sup.status();
    const now = performance.now();
    const text = renderStatus(cur, prev, (now - prevAt) / 1000);
    prev = cur;
    prevAt = now;
    const tail = logLines.slice(-8);
    const out = `${text}\n\nLog:\n${tail.join("\n")}\n\nCtrl-C stops Joyride.`;
    if (tty) say(`\x1b[H\x1b[2J${out}`);
  };
  if (!tty) say(`joyride: instance ${config.instance} up; SIGINT or SIGTERM stops it`);
  const timer = setInterval(() => !stopping && draw(), 1000);
  draw();
  await sup.stopped;
  clearInterval(timer);
  say("joyride: stopped, everything removed");
  Deno.exit(0);
}

async function startDetached(): Promise<void> {
  const s = await statusOrUndefined();
  if (s) fail(`instance ${config.instance} is already running (./joyride stop first)`);
  Deno.mkdirSync(paths.dir, { recursive: true, mode: 0o750 });
  Deno.writeTextFileSync(paths.supervisorLog, "", { mode: 0o600 }); // root only (issue 6)
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'exec "$@" >>"$JOYRIDE_LOG" 2>&1',
      "sh",
      "setsid",
      Deno.execPath(),
      "run",
      "-A",
      NO_MEMORY_REDUCER,
      `${repoRoot}/servers/supervisor/main.ts`,
      ...passOn(),
    ],
    env: { JOYRIDE_LOG: paths.supervisorLog },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited: Deno.CommandStatus | undefined;
  child.status.then((st) => exited = st);
  child.unref();
  const deadline = Date.now() + config.supervisor.startTimeoutMs * 4;
  while (Date.now() < deadline) {
    await sleep(100);
    if (exited) {
      let log = "";
      try {
        log = Deno.readTextFileSync(paths.supervisorLog);
      } catch {
        // removed
      }
      fail(`start failed (supervisor exited with code ${exited.code}):\n${log.trimEnd()}`);
    }
    const st = await getStatus(paths.control).catch(() => undefined);
    if (st && allRunning(st)) {
      console.log(renderStatus(st));
      console.log(`\njoyride: instance ${config.instance} is up (supervisor pid ${child.pid})`);
      Deno.exit(0);
    }
  }
  fail(`instance ${config.instance} did not become healthy in time; see ${paths.supervisorLog}`);
}

/** The detached supervisor's pid, from its pid file. */
function supervisorPid(): number | undefined {
  try {
    const pid = parseInt(Deno.readTextFileSync(paths.pidFile), 10);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function stop(): Promise<void> {
  let removed: string[];
  const pid = supervisorPid();
  try {
    removed = await stopInstance(paths.control);
    // Return only once the supervisor process itself is gone.
    if (pid !== undefined && pid !== Deno.pid) await waitGone([pid], 5000);
  } catch (e) {
    if (e instanceof ControlTimeoutError) {
      // A hung supervisor: remove the instance by force (cleanupInstance ends it by its pid).
      console.error(`joyride: ${e.message}; removing the instance by force`);
    } else if (!(e instanceof NotRunningError)) fail((e as Error).message);
    // No (answering) supervisor: clean up whatever it left.
    removed = await cleanupInstance(config);
    if (removed.length === 0) {
      console.log(`joyride: instance ${config.instance} is not running; nothing to remove`);
      return;
    }
  }
  console.log(`joyride: stopped instance ${config.instance}`);
  for (const r of removed) console.log(`  removed ${r}`);
}

async function status(): Promise<void> {
  const json = flag("--json");
  noMore();
  const s = await statusOrUndefined();
  if (!s) {
    if (json) {
      console.log(JSON.stringify({ instance: config.instance, running: false, servers: [] }));
    } else console.log(`joyride: instance ${config.instance} is not running`);
    Deno.exit(3);
  }
  console.log(json ? JSON.stringify(s, null, 2) : renderStatus(s));
}

async function runIn(ns: string, argv: string[]): Promise<never> {
  if (argv.length === 0) fail(`usage: ./joyride ${command} -- CMD…`);
  Deno.exit(
    await runForeground(
      new Deno.Command("ip", {
        args: ["netns", "exec", ns, ...argv],
        cwd: userCwd(),
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      }),
    ),
  );
}

async function captureCmd(): Promise<void> {
  const count = opt("--count");
  const seconds = opt("--seconds");
  noMore(1);
  const file = userPath(opts[0] ?? `joyride-${config.instance}.pcapng`);
  // The NIC server's capture (servers/nic/capture.ts) talks to it through its region.
  const { capture } = await import("../servers/nic/capture.ts");
  const stopper = new AbortController();
  const onInt = () => stopper.abort();
  Deno.addSignalListener("SIGINT", onInt);
  if (!count && !seconds) console.error(`joyride: capturing into ${file}; Ctrl-C stops`);
  try {
    const r = await capture({
      file,
      region: `/dev/shm/joyride-${config.instance}-nic`,
      count: count ? Number(count) : undefined,
      seconds: seconds ? Number(seconds) : undefined,
      signal: stopper.signal,
    });
    console.log(
      `joyride: ${r.frames} frames written to ${r.file}` + (r.lost ? ` (${r.lost} lost)` : ""),
    );
  } catch (e) {
    fail((e as Error).message);
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
  }
}

switch (command) {
  case "start": {
    const detach = flag("--detach");
    noMore();
    if (detach) await startDetached();
    else await startForeground();
    break;
  }
  case "stop":
    noMore();
    await stop();
    break;
  case "status":
    await status();
    break;
  case "restart": {
    noMore(1);
    const server = opts[0];
    if (!server) fail("usage: ./joyride restart <naming|nic|tcp>");
    try {
      const r = await restartServer(paths.control, server);
      console.log(`joyride: ${server} restarted (pid ${r.pid}, generation ${r.generation})`);
    } catch (e) {
      fail((e as Error).message);
    }
    break;
  }
  case "peer":
    if (config.nic.port === "memif") {
      fail(
        `peer: instance ${config.instance} has no kernel peer host: its link is memif to another ` +
          `Joyride instance (run programs there with ./joyride run --instance OTHER)`,
      );
    }
    await runIn(names.peerNs, cmd.length > 0 ? cmd : opts);
    break;
  case "run":
  case "shell": {
    // Issue 5: shim/run.ts (LD_PRELOAD, or a mount namespace with /etc/ld.so.preload).
    const { runWithShim, shellWithShim } = await import("../shim/run.ts");
    const argv = cmd.length > 0 ? cmd : opts;
    // The CPUs the configuration gives apps (affinity.servers.apps), as the servers' are given.
    const pin = affinityPrefix(config.affinity, "apps", navigator.hardwareConcurrency);
    try {
      Deno.exit(
        command === "run"
          ? await runWithShim(repoRoot, paths.dir, config.instance, argv, pin)
          : await shellWithShim(repoRoot, paths.dir, config.instance, argv),
      );
    } catch (e) {
      fail((e as Error).message);
    }
    break;
  }
  case "capture":
    await captureCmd();
    break;
  default:
    console.log(usage);
    Deno.exit(command ? 2 : 0);
}

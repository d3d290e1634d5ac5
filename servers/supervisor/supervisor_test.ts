import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { configFrom } from "./config.ts";
import { backoff, type ServerSpec, Supervisor } from "./supervisor.ts";
import { getStatus, restartServer, stopInstance } from "./control.ts";
import { alive } from "./topology.ts";

const repoRoot = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const fake = "servers/supervisor/testdata/fake_server.ts";

function testConfig(instance: string, runtimeDir: string) {
  return configFrom({
    instance,
    runtimeDir,
    supervisor: {
      heartbeatMs: 100,
      heartbeatTimeoutMs: 1500,
      backoffMinMs: 50,
      backoffMaxMs: 200,
      startTimeoutMs: 20000,
      stopTimeoutMs: 2000,
    },
  });
}

/** A supervisor of fake servers: no topology, no log. */
function fakeSupervisor(config: ReturnType<typeof testConfig>, servers: ServerSpec[]): Supervisor {
  return new Supervisor(config, { repoRoot, topology: false, log: () => {}, servers });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("supervisor: starts in order, restarts a crashed and a hung server, stops all", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "jr-sup-" });
  const config = testConfig("supt", dir);
  const sup = fakeSupervisor(config, [
    { name: "naming", main: fake, args: ["--name", "naming"] },
    { name: "nic", main: fake, args: ["--name", "nic", "--crash-after", "300"] },
    { name: "tcp", main: fake, args: ["--name", "tcp", "--hang-after", "300"] },
  ]);
  try {
    await sup.start();
    const s0 = sup.status();
    assertEquals(s0.servers.map((s) => s.name), ["supervisor", "naming", "nic", "tcp"]);
    // nic crashes (exit 7) and tcp hangs (no heartbeat): both come back as generation 2.
    await until("nic and tcp restarted", () => {
      const s = sup.status().servers;
      return s.every((x) => x.state === "running") &&
        s.find((x) => x.name === "nic")!.generation === 2 &&
        s.find((x) => x.name === "tcp")!.generation === 2;
    });
    const s1 = await getStatus(sup.paths.control);
    const nic = s1.servers.find((x) => x.name === "nic")!;
    assertEquals(nic.restarts, 1);
    assertEquals(nic.lastExit, "exited with code 7");
    assertEquals(s1.servers.find((x) => x.name === "tcp")!.lastExit, "killed by SIGKILL");
    assertEquals(s1.servers.find((x) => x.name === "naming")!.restarts, 0);
    await until("heartbeat stats", async () => {
      const s = await getStatus(sup.paths.control);
      return typeof s.counters["naming.beats"] === "number";
    });
    // A manual restart gives a new pid and generation.
    const before = sup.status().servers.find((x) => x.name === "naming")!;
    const r = await restartServer(sup.paths.control, "naming");
    assertEquals(r.generation, before.generation + 1);
    assert(r.pid !== before.pid);
    assert(!alive(before.pid!), "old naming process must be gone");
    await assertRejects(() => restartServer(sup.paths.control, "nope"), Error, "no such server");
    // A second supervisor of the same instance refuses to start (and leaves this one alone).
    const second = fakeSupervisor(config, []);
    await assertRejects(() => second.start(), Error, "it is running");
    assertEquals((await getStatus(sup.paths.control)).servers.length, 4);
    const pids = sup.status().servers.map((s) => s.pid!).filter((p) => p !== Deno.pid);
    const removed = await stopInstance(sup.paths.control);
    await sup.stopped;
    assert(removed.includes(`${dir}/supt`), `runtime dir removed: ${removed}`);
    for (const p of pids) assert(!alive(p), `process ${p} must be gone`);
  } finally {
    await sup.stop();
    removeIfThere(dir);
  }
});

Deno.test("supervisor: beats every 30 s, yet status asks for fresh stats; a hung server is killed at its timeout", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "jr-sup-" });
  const base = testConfig("supb", dir);
  const config = {
    ...base,
    supervisor: { ...base.supervisor, heartbeatMs: 30_000, heartbeatTimeoutMs: 61_000 },
  };
  const sup = fakeSupervisor(config, [{ name: "naming", main: fake, args: ["--name", "naming"] }]);
  try {
    await sup.start();
    const beats = async () => (await getStatus(sup.paths.control)).counters["naming.beats"];
    // ready's own beat, then one per status request (none from the 30 s ticks meanwhile)
    await until("the first beat", async () => typeof (await beats()) === "number");
    const a = await beats();
    const b = await beats();
    const c = await beats();
    // (a beat asked for by an earlier status may land between two: more than one apart)
    assert(a >= 2 && b > a && c > b, `a fresh beat per status: ${a}, ${b}, ${c}`);
  } finally {
    await sup.stop();
    removeIfThere(dir);
  }
  // A hang with a 1.5 s timeout: killed after 1.5 s of silence, not before, not much later.
  const dir2 = Deno.makeTempDirSync({ prefix: "jr-sup-" });
  const sup2 = fakeSupervisor(testConfig("suph", dir2), [
    { name: "tcp", main: fake, args: ["--name", "tcp", "--hang-after", "200"] },
  ]);
  try {
    await sup2.start();
    const t0 = Date.now();
    await until("the hung server restarted", () => sup2.status().servers[1].generation === 2);
    const took = Date.now() - t0;
    assert(took >= 1500 && took < 4000, `killed and restarted after ${took} ms`);
  } finally {
    await sup2.stop();
    removeIfThere(dir2);
  }
});

Deno.test("supervisor: a server that fails its first start fails start() and leaves nothing", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "jr-sup-" });
  const config = testConfig("supf", dir);
  const sup = fakeSupervisor(config, [
    { name: "naming", main: fake, args: ["--name", "naming"] },
    { name: "nic", main: "servers/supervisor/testdata/does_not_exist.ts" },
  ]);
  try {
    await assertRejects(() => sup.start(), Error, "Cannot start nic: exited with code 1");
    assertEquals(exists(`${dir}/supf`), false);
    assertEquals(sup.status().servers.find((s) => s.name === "naming")!.pid, null);
  } finally {
    removeIfThere(dir);
  }
});

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function removeIfThere(p: string): void {
  if (exists(p)) Deno.removeSync(p, { recursive: true });
}

Deno.test("supervisor: restart backoff doubles within a minute, up to the maximum, then resets", () => {
  const c = { backoffMinMs: 250, backoffMaxMs: 8000 };
  let deaths: number[] = [];
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = backoff(deaths, 1000 + i * 1000, c);
    deaths = r.recent;
    delays.push(r.delay);
  }
  assertEquals(delays, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
  // A minute and more after the last death: back to the minimum.
  assertEquals(backoff(deaths, 8000 + 60_001, c).delay, 250);
  // The window keeps only the last minute's deaths.
  assertEquals(backoff(deaths, 8000 + 30_000, c).recent.length, 9);
});

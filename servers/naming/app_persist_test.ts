import { assert, assertEquals, assertThrows } from "../supervisor/_assert.ts";
import fc from "fast-check";
import { Region } from "../ipc/region.ts";
import {
  AppPersist,
  eventfdIdAt,
  fileIdAt,
  findFileFd,
  mapsFile,
  parseState,
  type PersistedApp,
  sameFile,
} from "./app_persist.ts";
import { closeFd, eventfd } from "./apps_ffi.ts";
import { createSealedRegion } from "./policy_seal.ts";

const token = (n: number) => new Uint8Array(16).fill(n);

/** A child process holding `/proc/<us>/fd/<fd>` open (the same file) until killed. */
async function holder(fd: number): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("sh", {
    args: ["-c", `exec 7<>/proc/${Deno.pid}/fd/${fd}; echo ok; exec sleep 30`],
    stdout: "piped",
  }).spawn();
  const r = child.stdout.getReader();
  const { value } = await r.read();
  r.releaseLock();
  assertEquals(new TextDecoder().decode(value).trim(), "ok");
  return child;
}

function entry(appId: number, pid: number, region: Region): PersistedApp {
  return { appId, pid, uid: 0, gid: 0, name: `app${appId}`, token: token(appId), region, conn: 7 };
}

Deno.test("app_persist: registrations, tokens, regions and the service eventfd come back from their holders; exit is seen", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/apps.json`;
  const live = createSealedRegion(8192, "joyride-app");
  const dead = createSealedRegion(8192, "joyride-app");
  live.u32[0] = 0xfeed;
  const kid = await holder(live.fd);
  const svc = eventfd();
  try {
    const old = new AppPersist(path, Region.adopt);
    old.save(9, svc, [entry(3, kid.pid, live), entry(4, 999_999_999, dead)], Deno.pid);
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    const saved = parseState(Deno.readTextFileSync(path));
    assertEquals(saved.apps.map((a) => a.appId), [3, 4]);
    // The old incarnation is gone: only the child holds the live region now.
    live.close();
    dead.close();
    const p = new AppPersist(path, Region.adopt);
    const r = p.restore();
    assertEquals(r.nextApp, 9);
    assertEquals(r.lost, 1); // nobody holds app 4's region
    assertEquals(r.apps.length, 1);
    const a = r.apps[0];
    assertEquals([a.appId, a.pid, a.conn, a.name], [3, kid.pid, -1, "app3"]);
    assertEquals(a.token, token(3));
    assertEquals(a.region.u32[0], 0xfeed); // the same memory
    assert(r.svcEfd >= 0 && sameFile(r.svcEfd, svc));
    assertEquals(eventfdIdAt("self", r.svcEfd), eventfdIdAt("self", svc));
    assertEquals(p.watching(), [3]);
    const gone: number[] = [];
    p.check(0, (id) => gone.push(id));
    assertEquals(gone, []); // the child still holds it
    kid.kill("SIGKILL");
    await kid.status;
    p.check(0, (id) => gone.push(id));
    assertEquals(gone, [3]);
    assertEquals(p.watching(), []);
    a.region.close();
    closeFd(r.svcEfd);
    p.close();
  } finally {
    try {
      kid.kill("SIGKILL");
      await kid.status;
    } catch {
      // already gone
    }
    closeFd(svc);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("app_persist: a process that only maps the region (its fd closed) still holds the app", async () => {
  const dir = Deno.makeTempDirSync();
  const region = createSealedRegion(8192, "joyride-app");
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      `import ctypes, os, time
f = os.open("/proc/${Deno.pid}/fd/${region.fd}", os.O_RDWR)
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
assert libc.mmap(None, 8192, 3, 1, f, 0) not in (None, ctypes.c_void_p(-1).value)
os.close(f)
print("ok", flush=True)
time.sleep(30)`,
    ],
    stdout: "piped",
  }).spawn();
  try {
    const r = child.stdout.getReader();
    assertEquals(new TextDecoder().decode((await r.read()).value).trim(), "ok");
    r.releaseLock();
    const id = fileIdAt("self", region.fd)!;
    assert(mapsFile(child.pid, id));
    assertEquals(findFileFd(child.pid, id), -1);
    assert(!mapsFile(child.pid, { dev: id.dev, ino: id.ino + 1 }));
    // The app registered as the child; naming (this process) restarts holding the region.
    const p = new AppPersist(`${dir}/apps.json`, Region.adopt);
    p.save(2, -1, [entry(1, child.pid, region)]);
    const gone: number[] = [];
    // Restore finds no fd in the child: a holder with the fd (us, in the test) is excluded,
    // so the region is lost here; watch what check() does with a mapping holder instead.
    const q = new AppPersist(`${dir}/apps.json`, Region.adopt);
    const back = q.restore();
    assertEquals(back.apps.length, 0);
    assertEquals(back.lost, 1);
    // A watched app whose holder only maps the region is kept until the mapping goes.
    const w = new AppPersist(`${dir}/apps.json`, Region.adopt);
    w.watchForTest(1, id, child.pid);
    w.check(0, (x) => gone.push(x));
    assertEquals(gone, []);
    child.kill("SIGKILL");
    await child.status;
    w.check(0, (x) => gone.push(x));
    assertEquals(gone, [1]);
  } finally {
    try {
      child.kill("SIGKILL");
      await child.status;
    } catch {
      // gone
    }
    region.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("app_persist: an unsealed file with another inode is not taken for a region; no file restores nothing", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = new AppPersist(`${dir}/apps.json`, Region.adopt);
    assertEquals(p.restore(), { apps: [], svcEfd: -1, nextApp: 1, lost: 0 });
    Deno.writeTextFileSync(`${dir}/apps.json`, "{not json");
    assertEquals(p.restore().apps, []);
    const rec = {
      version: 1,
      nextApp: 2,
      svcEventfdId: 0,
      tcpPid: 0,
      apps: [{
        appId: 1,
        pid: Deno.pid,
        uid: 0,
        gid: 0,
        name: "x",
        token: "00".repeat(16),
        region: { dev: 1, ino: 123456789, size: 4096 },
      }],
    };
    Deno.writeTextFileSync(`${dir}/apps.json`, JSON.stringify(rec));
    const r = p.restore();
    assertEquals([r.apps.length, r.lost, r.nextApp], [0, 1, 2]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("app_persist: parseState accepts what save writes and refuses malformed records", () => {
  const rec = fc.record({
    appId: fc.nat(1 << 30),
    pid: fc.nat(1 << 22),
    uid: fc.nat(65535),
    gid: fc.nat(65535),
    name: fc.string({ maxLength: 64 }),
    token: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) =>
      [...b].map((x) => x.toString(16).padStart(2, "0")).join("")
    ),
    region: fc.record({ dev: fc.nat(), ino: fc.nat(), size: fc.nat() }),
  });
  fc.assert(
    fc.property(
      fc.array(rec, { maxLength: 5 }),
      fc.nat(1000),
      fc.constantFrom("token", "appId", "region", "version"),
      (apps, nextApp, spoil) => {
        const s = { version: 1, nextApp, svcEventfdId: 0, tcpPid: 0, apps };
        assertEquals(parseState(JSON.stringify(s)), s);
        const bad = structuredClone(s) as Record<string, unknown>;
        if (spoil === "version") bad.version = 2;
        else {
          const a = { ...apps[0] } as Record<string, unknown>;
          a[spoil] = spoil === "token" ? "zz" : -1;
          bad.apps = [a];
        }
        assertThrows(() => parseState(JSON.stringify(bad)));
      },
    ),
    { seed: 8, numRuns: 100 },
  );
});

import { assert, assertEquals } from "../supervisor/_assert.ts";
import { cardFor, parsePolicy } from "../naming/policy.ts";
import { Region } from "../ipc/region.ts";
import {
  AppDirectory,
  badSocketReason,
  EACCES,
  EADDRINUSE,
  EMFILE,
  ENOBUFS,
  EPERM,
  isEventfd,
  type ProcessHandles,
  processMaps,
  uidsOf,
} from "./service_policy.ts";
import { closeFd, takeFdFrom } from "../naming/apps_ffi.ts";

const policy = parsePolicy({
  limits: { sockets: 4, bufferBytes: 3 * 10000, pending: 5 },
  privilegedPorts: [{ uid: 1000, ports: [80] }],
});
const tok = (b: number) => new Uint8Array(16).fill(b);

function dir(): AppDirectory {
  const d = new AppDirectory();
  d.learn(1, cardFor(policy, { pid: 10, uid: 0, gid: 0 }, "root-app", "00000001"), tok(1));
  d.learn(2, cardFor(policy, { pid: 20, uid: 1000, gid: 1000 }, "user-app", "00000002"), tok(2));
  d.learn(3, cardFor(policy, { pid: 30, uid: 1001, gid: 1001 }, "other", "00000003"), tok(3));
  return d;
}

Deno.test("service policy: headers must carry the app's own id and token", () => {
  const d = dir();
  assertEquals(d.checkHeader(2, 2, tok(2)), null);
  assertEquals(d.checkHeader(2, 1, tok(1)), { reason: "foreignApp", errno: EPERM });
  assertEquals(d.checkHeader(2, 2, tok(1)), { reason: "badToken", errno: EPERM });
  assertEquals(d.checkHeader(2, 2, undefined), { reason: "badToken", errno: EPERM });
  assertEquals(d.checkHeader(2, 2, tok(2).subarray(0, 8)), { reason: "badToken", errno: EPERM });
  // app 3 exits; app 2 replays its id and token, or just its token
  d.forget(3);
  assert(d.wasRevoked(3));
  assertEquals(d.checkHeader(2, 3, tok(3)), { reason: "revoked", errno: EPERM });
  assertEquals(d.checkHeader(2, 2, tok(3)), { reason: "revoked", errno: EPERM });
  assertEquals(d.checkHeader(2, 3, tok(9)), { reason: "foreignApp", errno: EPERM });
  // an app naming never described: the ring is the capability
  assertEquals(d.checkHeader(7, 0, undefined), null);
});

Deno.test("service policy: privileged ports need uid 0 or a grant", () => {
  const d = dir();
  assertEquals(d.checkBind(1, 80), null);
  assertEquals(d.checkBind(1, 22), null);
  assertEquals(d.checkBind(2, 80), null);
  assertEquals(d.checkBind(2, 22), { reason: "privilegedPort", errno: EACCES });
  assertEquals(d.checkBind(3, 80), { reason: "privilegedPort", errno: EACCES });
  assertEquals(d.checkBind(3, 1023), { reason: "privilegedPort", errno: EACCES });
  assertEquals(d.checkBind(3, 1024), null);
  assertEquals(d.checkBind(3, 0), null);
  assertEquals(d.checkBind(99, 80), { reason: "privilegedPort", errno: EACCES });
});

Deno.test("service policy: socket and buffer limits, pending", () => {
  const d = dir();
  assertEquals(d.checkNewSocket(2, 0, 10000), null);
  assertEquals(d.checkNewSocket(2, 2, 10000), null);
  assertEquals(d.checkNewSocket(2, 3, 10000), { reason: "limitBuffers", errno: ENOBUFS });
  assertEquals(d.checkNewSocket(2, 4, 10), { reason: "limitSockets", errno: EMFILE });
  assertEquals(d.checkNewSocket(2, 3, 10), null);
  assertEquals(d.pendingLimit(2), 5);
  assertEquals(d.pendingLimit(42), 64);
});

Deno.test("service policy: placeholders only from processes of the app's uid", () => {
  const d = dir();
  const st = (u: number[]) => `Name:\tx\nUid:\t${u.join("\t")}\nGid:\t0\t0\t0\t0\n`;
  const table: Record<number, string> = {
    20: st([1000, 1000, 1000, 1000]),
    21: st([1000, 0, 1000, 1000]),
    1: st([0, 0, 0, 0]),
  };
  const read = (pid: number) => table[pid];
  const f = fakeHandles(new Set([20, 21, 1]));
  const ok = (app: number, pid: number, maps?: (pid: number) => boolean) =>
    d.placeholderProcess(app, pid, read, maps, f.handles) >= 0;
  assert(ok(2, 20));
  assert(!ok(2, 21), "setuid process");
  assert(!ok(2, 1), "init");
  assert(!ok(2, 555), "no such process");
  assert(!ok(2, 0));
  assert(!ok(2, -3));
  assert(ok(1, 1));
  // A forked child that dropped privileges (nginx's workers) holds the app's region: allowed.
  assert(!ok(2, 1, (pid) => pid === 20), "region held elsewhere");
  assert(ok(2, 1, (pid) => pid === 1), "child holding the region");
  assert(!ok(2, 555, () => true), "no such process");
  assertEquals(uidsOf(st([1, 2, 3, 4])), [1, 2, 3, 4]);
  assertEquals(uidsOf("Name: x\n"), undefined);
  assertEquals(uidsOf(Deno.readTextFileSync("/proc/self/status"))?.[0], Deno.uid());
});

Deno.test("service policy: eventfd detection and socket-id reasons", () => {
  assert(isEventfd(3, () => "anon_inode:[eventfd]"));
  assert(!isEventfd(3, () => "/etc/shadow"));
  assert(
    !isEventfd(3, () => {
      throw new Error("gone");
    }),
  );
  assert(!isEventfd(0), "stdin is not an eventfd");
  assertEquals(badSocketReason(0, 1), "staleSocket");
  assertEquals(badSocketReason(1, 1), "unknownSocket");
  assertEquals(badSocketReason(7, 2), "unknownSocket");
});

Deno.test("service policy: status rows never carry the token", () => {
  const d = dir();
  d.addBytes(2, 5, 7);
  d.addBytes(77, 1, 1);
  const rows = d.list((id) => id * 10);
  assertEquals(rows.length, 3);
  const r = rows.find((x) => x.appId === 2)!;
  assertEquals(r, {
    appId: 2,
    pid: 20,
    uid: 1000,
    command: "user-app",
    tokenId: "00000002",
    sockets: 20,
    bytesIn: 5,
    bytesOut: 7,
  });
  assert(!JSON.stringify(rows).includes('token"'));
  d.forget(2);
  d.forget(2);
  assertEquals(d.list(() => 0).length, 2);
  assertEquals(d.refusals.counts.appsGone, 1);
});

Deno.test("service policy: a port is never shared across uids", () => {
  const d = dir();
  d.learn(4, cardFor(policy, { pid: 40, uid: 1000, gid: 1000 }, "user-app2", "00000004"), tok(4));
  assertEquals(d.checkPortShare(2, 1, 7000), null);
  d.portBound(100, 2, 1, 7000); // uid 1000's socket
  assertEquals(d.checkPortShare(4, 1, 7000), null, "same uid: the engine decides");
  assertEquals(d.checkPortShare(3, 1, 7000), { reason: "portShare", errno: EADDRINUSE });
  assertEquals(d.checkPortShare(1, 1, 7000), { reason: "portShare", errno: EADDRINUSE });
  assertEquals(d.checkPortShare(3, 2, 7000), null, "another socket type");
  assertEquals(d.checkPortShare(3, 1, 0), null, "ephemeral");
  d.portBound(101, 4, 1, 7000);
  d.portReleased(100);
  assertEquals(d.checkPortShare(3, 1, 7000), { reason: "portShare", errno: EADDRINUSE });
  d.portReleased(101);
  d.portReleased(101);
  assertEquals(d.checkPortShare(3, 1, 7000), null);
  d.portBound(102, 3, 1, 7001);
  d.portBound(102, 3, 1, 7002); // rebound: the old port is released
  assertEquals(d.checkPortShare(2, 1, 7001), null);
  assertEquals(d.checkPortShare(2, 1, 7002), { reason: "portShare", errno: EADDRINUSE });
});

Deno.test("service policy: a process maps a region when its maps show the memfd's inode", () => {
  const maps = [
    "7f0000000000-7f0000001000 r-xp 00000000 08:01 4242 /usr/lib/libc.so.6",
    "7f0000100000-7f0000200000 rw-s 00000000 00:01 77 /memfd:joyride-app (deleted)",
    "7f0000300000-7f0000400000 rw-p 00000000 00:01 88 /memfd:private (deleted)",
  ].join("\n");
  const read = (pid: number) => pid === 5 ? maps : undefined;
  assert(processMaps(5, 3, read, () => 77));
  assert(!processMaps(5, 3, read, () => 4242), "a file mapping, not a memfd");
  assert(!processMaps(5, 3, read, () => 88), "a private mapping");
  assert(!processMaps(6, 3, read, () => 77), "no such process");
  assert(!processMaps(5, 3, read, () => undefined), "our fd is closed");
  // The real thing: this process maps a region it created; process 1 does not.
  const r = Region.create(4096, "jr-maps-test");
  try {
    assert(processMaps(Deno.pid, r.fd));
    assert(!processMaps(1, r.fd));
  } finally {
    r.close();
  }
});

/** Fake process handles: pid → handle while "alive"; what was closed. */
function fakeHandles(alive: Set<number>) {
  let next = 100;
  const closed: number[] = [];
  const open: Map<number, number> = new Map();
  const handles: ProcessHandles = {
    open: (pid) => alive.has(pid) ? (open.set(next, pid), next++) : -1,
    close: (h) => {
      closed.push(h);
      open.delete(h);
    },
  };
  return { handles, closed, open };
}

Deno.test("service policy: a process found fit is remembered by a handle held open", () => {
  const d = dir();
  const st = (u: number[]) => `Name:\tx\nUid:\t${u.join("\t")}\n`;
  let reads = 0, mapsReads = 0;
  const read = (_pid: number) => (reads++, st([33, 33, 33, 33])); // a worker that dropped root
  let holdsRegion = true;
  const maps = (_pid: number) => (mapsReads++, holdsRegion);
  const f = fakeHandles(new Set([40, 50]));
  const h = d.placeholderProcess(2, 40, read, maps, f.handles);
  assert(h >= 0);
  assertEquals([reads, mapsReads], [1, 1]);
  for (let i = 0; i < 5; i++) assertEquals(d.placeholderProcess(2, 40, read, maps, f.handles), h);
  assertEquals([reads, mapsReads], [1, 1], "no /proc reads for a process already found fit");
  assertEquals(
    d.placeholderProcess(3, 40, read, () => false, f.handles),
    -1,
    "fit for app 2 only",
  );
  assertEquals(f.closed.length, 1, "the refused process's handle is closed");
  // A take through the handle failed: the process ended; its pid now names another process
  // that never got the region.
  d.forgetProcess(2, 40, f.handles);
  assert(f.closed.includes(h));
  holdsRegion = false;
  assertEquals(d.placeholderProcess(2, 40, read, maps, f.handles), -1, "checked again");
  assertEquals(mapsReads, 2);
  assertEquals(d.placeholderProcess(2, 41, read, () => true, f.handles), -1, "gone");
  assertEquals(d.placeholderProcess(2, 0, read, () => true, f.handles), -1);
  // Revoking the app closes what it held.
  holdsRegion = true;
  const h50 = d.placeholderProcess(2, 50, read, maps, f.handles);
  assert(h50 >= 0);
  d.forget(2, f.handles);
  assert(f.closed.includes(h50));
  assertEquals(f.open.size, 0, "no handle left open");
});

Deno.test("service policy: remembered handles are bounded", () => {
  const d = dir();
  const all = new Set(Array.from({ length: 200 }, (_, i) => i + 1));
  const f = fakeHandles(all);
  const read = () => "Uid:\t1000\t1000\t1000\t1000\n";
  for (const pid of all) assert(d.placeholderProcess(2, pid, read, undefined, f.handles) >= 0);
  assert(f.open.size <= 64, `${f.open.size} handles open`);
  assert(f.closed.length >= 136);
});

Deno.test("service policy: real pidfds take this process's own descriptors", () => {
  const d = dir();
  const h = d.placeholderProcess(42, Deno.pid);
  assert(h >= 0, "an app naming never described is not checked");
  assertEquals(d.placeholderProcess(42, Deno.pid), h);
  const efd = takeFdFrom(h, 0);
  assert(efd >= 0);
  closeFd(efd);
  d.forgetProcess(42, Deno.pid);
  assert(takeFdFrom(h, 0) < 0, "the handle was closed");
});

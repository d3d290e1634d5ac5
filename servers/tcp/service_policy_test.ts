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
  processMaps,
  startTimeOf,
  uidsOf,
} from "./service_policy.ts";

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
  const start = (pid: number) => table[pid] ? "100" : undefined;
  const ok = (app: number, pid: number, maps?: (pid: number) => boolean) =>
    d.placeholderProcessOk(app, pid, read, maps, start);
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

Deno.test("service policy: a process found fit is remembered by its start time", () => {
  const d = dir();
  const st = (u: number[]) => `Name:\tx\nUid:\t${u.join("\t")}\n`;
  let reads = 0, mapsReads = 0;
  let started = "5000";
  const read = (_pid: number) => (reads++, st([33, 33, 33, 33])); // a worker that dropped root
  let holdsRegion = true;
  const maps = (_pid: number) => (mapsReads++, holdsRegion);
  const start = (pid: number) => pid === 40 ? started : undefined;
  assert(d.placeholderProcessOk(2, 40, read, maps, start));
  assertEquals([reads, mapsReads], [1, 1]);
  for (let i = 0; i < 5; i++) assert(d.placeholderProcessOk(2, 40, read, maps, start));
  assertEquals([reads, mapsReads], [1, 1], "no /proc reads for a process already found fit");
  assert(!d.placeholderProcessOk(3, 40, read, () => false, start), "fit for app 2 only");
  // The pid now belongs to another process (another start time) that never got the region.
  started = "9000";
  holdsRegion = false;
  assert(!d.placeholderProcessOk(2, 40, read, maps, start), "a reused pid is checked again");
  assertEquals(mapsReads, 2);
  assert(!d.placeholderProcessOk(2, 41, read, () => true, start), "gone");
});

Deno.test("service policy: start time from /proc/PID/stat, whatever the command name", () => {
  const tail = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21";
  assertEquals(startTimeOf(`77 (nginx) ${tail}`), "424242");
  assertEquals(startTimeOf(`77 (a) (b) c) ${tail}`), "424242");
  assertEquals(startTimeOf("77 (x) S 1"), undefined);
  assertEquals(startTimeOf("garbage"), undefined);
  assertEquals(startTimeOf(undefined), undefined);
  const mine = startTimeOf(Deno.readTextFileSync("/proc/self/stat"));
  assert(mine !== undefined && Number(mine) > 0, `own start time ${mine}`);
});

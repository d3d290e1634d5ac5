import { assert, assertEquals } from "../supervisor/_assert.ts";
import { Message } from "capnp-es";
import { NamingRequest } from "../../schema/gen/naming.ts";
import { decodeCard } from "./policy.ts";
import { NamingPolicy } from "./policy_naming.ts";
import { wellFramed } from "./wire.ts";
import fc from "fast-check";

const cred = { pid: 4242, uid: 1000, gid: 1000 };
const tok = (b: number) => new Uint8Array(16).fill(b);

Deno.test("naming policy: kernel apps are refused with EOPNOTSUPP and counted", () => {
  const p = new NamingPolicy({ apps: [{ command: "curl", stack: "kernel" }] });
  assertEquals(p.admit(cred, "x", () => "curl"), { errno: 95 });
  assertEquals(p.refusals.counts.policyKernel, 1);
  const ok = p.admit(cred, "wget", () => "");
  assert("card" in ok);
  assertEquals(ok.card.command, "wget");
  assertEquals(ok.card.uid, 1000);
});

Deno.test("naming policy: the card message carries id, token and card", () => {
  const p = new NamingPolicy({ privilegedPorts: [{ uid: 1000, ports: [80] }] });
  const a = p.admit(cred, "srv", () => "srv");
  assert("card" in a);
  const m = new Message();
  p.fillCard(m.initRoot(NamingRequest), 7, tok(3), a.card);
  const r = new Message(new Uint8Array(m.toArrayBuffer()), false).getRoot(NamingRequest);
  assertEquals(r.which(), NamingRequest.REGISTER_APP);
  assertEquals(r.header.appId, 7);
  assertEquals(new Uint8Array(r.header.token.toUint8Array()), tok(3));
  assertEquals(r.registerApp.uid, 1000);
  assertEquals(decodeCard(r.registerApp.name), a.card);
  assertEquals(a.card.ports, [80]);
});

Deno.test("naming policy: unregister needs the connection's own id and token", () => {
  const p = new NamingPolicy();
  const own = { appId: 3, token: tok(3) };
  assertEquals(p.checkUnregister(own, 3, tok(3)), 0);
  assertEquals(p.checkUnregister(own, 3, tok(4)), 1);
  assertEquals(p.refusals.counts.badToken, 1);
  assertEquals(p.checkUnregister(own, 2, tok(2)), 1);
  assertEquals(p.refusals.counts.foreignApp, 1);
  p.gone(2, tok(2));
  assertEquals(p.refusals.counts.appsGone, 1);
  // replay of a revoked app's token, on a connection with no app or with another app
  assertEquals(p.checkUnregister(undefined, 2, tok(2)), 1);
  assertEquals(p.checkUnregister(own, 3, tok(2)), 1);
  assertEquals(p.refusals.counts.revoked, 2);
  assertEquals(p.checkUnregister(undefined, 9, tok(9)), 1);
  assertEquals(p.refusals.counts.badToken, 2);
});

Deno.test("naming policy: apps.sock 0666, its directory 0755, the runtime directory o+x", () => {
  const d = Deno.makeTempDirSync();
  try {
    Deno.chmodSync(d, 0o750);
    Deno.mkdirSync(`${d}/inst`, { mode: 0o700 });
    const s = `${d}/inst/apps.sock`;
    Deno.writeTextFileSync(s, "");
    Deno.chmodSync(s, 0o600);
    NamingPolicy.openSocket(s);
    assertEquals(Deno.statSync(s).mode! & 0o777, 0o666);
    assertEquals(Deno.statSync(`${d}/inst`).mode! & 0o777, 0o755);
    assertEquals(Deno.statSync(d).mode! & 0o777, 0o751);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("naming policy: only well-framed messages reach capnp-es", () => {
  const m = new Message();
  m.initRoot(NamingRequest)._initRegisterApp().name = "x";
  const good = new Uint8Array(m.toArrayBuffer());
  assert(wellFramed(good));
  assert(!wellFramed(good.subarray(0, good.length - 8)), "truncated");
  assert(!wellFramed(new Uint8Array([...good, 0, 0, 0, 0, 0, 0, 0, 0])), "trailing");
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(0, 0xfffffffe, true);
  assert(!wellFramed(huge), "2^32 segments");
  const big = good.slice();
  new DataView(big.buffer).setUint32(4, 0x7fffffff, true);
  assert(!wellFramed(big), "huge segment");
  assert(!wellFramed(new Uint8Array(4)));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const ok = wellFramed(b);
      return !ok || (b.length >= 8 && b.length % 8 === 0);
    }),
    { seed: 66, numRuns: 500 },
  );
});

Deno.test("naming policy: connections per uid are limited, root's are not", () => {
  const p = new NamingPolicy({ limits: { apps: 2 }, apps: [{ uid: 7, limits: { apps: 1 } }] });
  assert(p.openConn(10, 1000));
  assert(p.openConn(11, 1000));
  assert(!p.openConn(12, 1000));
  assertEquals(p.refusals.counts.limitApps, 1);
  p.closeConn(10);
  p.closeConn(10); // twice: no effect
  assert(p.openConn(13, 1000));
  assert(!p.openConn(14, 1000));
  assert(p.openConn(20, 7));
  assert(!p.openConn(21, 7));
  for (let fd = 30; fd < 40; fd++) assert(p.openConn(fd, 0));
  assertEquals(p.refusals.counts.limitApps, 3);
});

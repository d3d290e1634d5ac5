/**
 * App registration on apps.sock (apps.ts): SO_PEERCRED checked, refused while no TCP/IP server
 * is attached, a token and the region memfd + service eventfd handed over by SCM_RIGHTS, the
 * server granted the same region, and told when the app is gone.
 */
import { Message } from "capnp-es";
import { assert, assertEquals } from "../supervisor/_assert.ts";
import { NamingReply, NamingRequest } from "../../schema/gen/naming.ts";
import { Region } from "../ipc/region.ts";
import { AppsKind, AppsServer, decodePacket, encodePacket } from "./apps.ts";
import { CTL } from "./apps_region.ts";
import { closeFd, connectSeqpacket, type Packet, recvPacket, sendPacket } from "./apps_ffi.ts";

async function next(fd: number, ms = 5000): Promise<Packet> {
  const end = Date.now() + ms;
  for (;;) {
    const p = recvPacket(fd);
    if (p === "eof") throw new Error("connection closed");
    if (p !== "again") return p;
    if (Date.now() > end) throw new Error("no packet");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function request(fill: (r: NamingRequest) => void): Uint8Array<ArrayBuffer> {
  const m = new Message();
  const r = m.initRoot(NamingRequest);
  r._initHeader().requestId = 7n;
  fill(r);
  return encodePacket(AppsKind.request, m);
}

function register(pid = Deno.pid): Uint8Array<ArrayBuffer> {
  return request((r) => {
    const a = r._initRegisterApp();
    a.pid = pid;
    a.uid = Deno.uid()!;
    a.gid = Deno.gid()!;
    a.name = "apps_test";
  });
}

Deno.test({
  name: "apps.sock: peer credentials, no server → refused, token + region + grant + revoke",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "jr-apps-test-" });
  const server = AppsServer.listen(`${dir}/apps.sock`);
  const fds: number[] = [];
  try {
    // A lie about the pid is refused (EPERM).
    const liar = connectSeqpacket(server.path);
    fds.push(liar);
    sendPacket(liar, register(Deno.pid + 1));
    let p = await next(liar);
    assertEquals(decodePacket(p.data).message.getRoot(NamingReply).errno, 1);

    // No TCP/IP server attached yet: ECONNREFUSED, no fds.
    const early = connectSeqpacket(server.path);
    fds.push(early);
    sendPacket(early, register());
    p = await next(early);
    assertEquals(decodePacket(p.data).message.getRoot(NamingReply).errno, 111);
    assertEquals(p.fds.length, 0);

    // The TCP/IP server announces itself and gets the service eventfd.
    const tcp = connectSeqpacket(server.path);
    fds.push(tcp);
    sendPacket(
      tcp,
      request((r) => {
        r._initAnnounce().label = "tcp";
      }),
    );
    p = await next(tcp);
    assertEquals(decodePacket(p.data).message.getRoot(NamingReply).errno, 0);
    assertEquals(p.fds.length, 1, "the service eventfd");
    fds.push(...p.fds);

    // An app registers: appId, 16-byte token, region memfd + service eventfd.
    const app = connectSeqpacket(server.path);
    fds.push(app);
    sendPacket(app, register());
    p = await next(app);
    const reply = decodePacket(p.data).message.getRoot(NamingReply);
    assertEquals(reply.errno, 0);
    assertEquals(reply.which(), NamingReply.REGISTERED);
    const reg = reply.registered;
    assertEquals(reg.token.length, 16);
    assert(reg.appId > 0);
    assertEquals(p.fds.length, 2, "region memfd and service eventfd");
    using appRegion = Region.adopt(p.fds[0]);
    fds.push(p.fds[1]);
    assertEquals(appRegion.u32[CTL.OFF_MAGIC / 4], CTL.MAGIC);
    assertEquals(appRegion.u32[CTL.OFF_APP_ID / 4], reg.appId);

    // The server was granted the same region (same memory).
    let grant: Packet | undefined;
    for (let i = 0; i < 4 && !grant; i++) {
      const g = await next(tcp);
      const r = decodePacket(g.data).message.getRoot(NamingRequest);
      if (r.which() === NamingRequest.GRANT_REGION) {
        assertEquals(r.grantRegion.appId, reg.appId);
        grant = g;
      } else for (const f of g.fds) closeFd(f);
    }
    assert(grant && grant.fds.length === 1, "a grant with the region's fd");
    using srvRegion = Region.adopt(grant.fds[0]);
    appRegion.u32[1000] = 0xabcdef;
    assertEquals(srvRegion.u32[1000], 0xabcdef, "one region, two mappings");
    assertEquals(server.apps().length, 1);

    // The app goes away: the server is told.
    closeFd(app);
    fds.splice(fds.indexOf(app), 1);
    let revoked = false;
    for (let i = 0; i < 4 && !revoked; i++) {
      const g = await next(tcp);
      const r = decodePacket(g.data).message.getRoot(NamingRequest);
      revoked = r.which() === NamingRequest.REVOKE && r.revoke.appId === reg.appId;
    }
    assert(revoked, "revoke after the app's connection closed");
    assertEquals(server.apps().length, 0);
  } finally {
    for (const f of fds) closeFd(f);
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

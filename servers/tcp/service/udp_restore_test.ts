import { assert, assertEquals, assertThrows } from "../../supervisor/_assert.ts";
import fc from "fast-check";
import { ethernetStack } from "../engine/_testnet.ts";
import { Sockets } from "../engine/socket/sockets.ts";
import { Udp } from "../engine/udp/udp.ts";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_UDP,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../engine/socket/api.ts";
import { MAX_RECORDED_OPTIONS, parseUdpRecords, recreateUdp, UdpRecords } from "./udp_restore.ts";

/** A stack with one interface and UDP (a new one stands for the restarted server). */
function engine(): Sockets {
  const s = ethernetStack();
  const so = new Sockets(s);
  so.register(SOCK_DGRAM, IPPROTO_UDP, Udp.of(s).factory);
  return so;
}

Deno.test("udp_restore: a bound and connected socket comes back with the same name and peer, for the same app only once", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/tcp-udp.json`;
  try {
    const api = engine();
    const rec = new UdpRecords(path);
    const mk = (slot: number) => {
      const fd = api.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      assert(fd.errno === undefined);
      rec.opened({
        appId: 4,
        token48: 77,
        id: (3 << 12) | slot,
        slot,
        pid: 1,
        placeholder: 9,
        domain: AF_INET,
      });
      return fd.value;
    };
    const a = mk(0), b = mk(1), c = mk(2), d = mk(3);
    // d: sendto only: the engine binds it on the first send, recorded then.
    const to = { family: AF_INET, addr: "198.18.0.1", port: 7 } as const;
    rec.sent(4, 3, api, d); // not sent yet: nothing to record
    api.send(d, new Uint8Array(4), 0, to);
    rec.sent(4, 3, api, d);
    const nameD = api.getsockname(d);
    assert(nameD.errno === undefined && nameD.value.port !== 0);
    // a: connected only (the engine picks its port); b: bound only; c: closed.
    assertEquals(
      api.connect(a, { family: AF_INET, addr: "198.18.0.1", port: 53 }).errno,
      undefined,
    );
    rec.named(4, 0, api, a);
    assertEquals(api.bind(b, { family: AF_INET, addr: "0.0.0.0", port: 5353 }).errno, undefined);
    rec.named(4, 1, api, b);
    rec.closed(4, 2);
    api.close(c);
    const nameA = api.getsockname(a);
    assert(nameA.errno === undefined && nameA.value.port !== 0);
    rec.flush(); // the socket service's turn ends
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);

    // The server dies; the next incarnation reads the records.
    const api2 = engine();
    const rec2 = new UdpRecords(path);
    assertEquals(rec2.restoredOf(5), []);
    const back = rec2.restoredOf(4).sort((x, y) => x.slot - y.slot);
    assertEquals(back.map((r) => r.slot), [0, 1, 3]);
    const fd3 = recreateUdp(api2, back[2])!;
    const n3 = api2.getsockname(fd3);
    assert(n3.errno === undefined);
    assertEquals(n3.value.port, nameD.value.port);
    assertEquals(api2.getpeername(fd3).errno !== undefined, true);
    const fa = recreateUdp(api2, back[0])!, fb = recreateUdp(api2, back[1])!;
    assert(fa !== undefined && fb !== undefined);
    const n = api2.getsockname(fa), p = api2.getpeername(fa), nb = api2.getsockname(fb);
    assert(n.errno === undefined && p.errno === undefined && nb.errno === undefined);
    assertEquals(n.value, nameA.value);
    assertEquals([p.value.addr, p.value.port], ["198.18.0.1", 53]);
    assertEquals(nb.value.port, 5353);
    rec2.done(back[0], true);
    rec2.done(back[1], false);
    rec2.done(back[2], true);
    assertEquals(rec2.counters, { restored: 2, refused: 1 });
    assertEquals(rec2.restoredOf(4), []);
    rec2.flush();
    // A third incarnation still has the socket taken back (it is live), not the refused one.
    assertEquals(new UdpRecords(path).restoredOf(4).map((r) => r.slot), [0, 3]);
    // The name is taken in the engine: a record for it cannot be re-created twice.
    assertEquals(recreateUdp(api2, back[1]), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("udp_restore: unread records survive a second restart; malformed files are refused", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/tcp-udp.json`;
  try {
    const r1 = new UdpRecords(path);
    r1.opened({ appId: 1, token48: 1, id: 1, slot: 1, pid: 1, placeholder: 3, domain: AF_INET });
    r1.flush();
    const r2 = new UdpRecords(path);
    r2.opened({ appId: 2, token48: 2, id: 0, slot: 0, pid: 2, placeholder: 3, domain: AF_INET });
    r2.flush();
    const r3 = new UdpRecords(path);
    assertEquals(r3.restoredOf(1).length, 1);
    r3.forget(1);
    assertEquals(r3.restoredOf(1).length, 0);
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (junk) => {
        try {
          parseUdpRecords(junk);
        } catch {
          return; // refused
        }
        throw new Error(`accepted ${junk}`);
      }),
      { seed: 8, numRuns: 200 },
    );
    assertThrows(() => parseUdpRecords(JSON.stringify({ version: 1, sockets: [{ appId: "x" }] })));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("udp_restore: an SO_REUSEPORT group binds again whole; a dual-stack socket keeps its twin's peer and V6ONLY", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/tcp-udp.json`;
  try {
    const api = engine();
    const rec = new UdpRecords(path);
    const port = { family: AF_INET, addr: "0.0.0.0", port: 9304 } as const;
    for (const slot of [0, 1, 2]) {
      const fd = api.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0).value!;
      rec.opened({ appId: 3, token48: 5, id: slot, slot, pid: 1, placeholder: 4, domain: AF_INET });
      api.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
      assertEquals(api.bind(fd, port).errno, undefined);
      rec.named(3, slot, api, fd);
    }
    const fd6 = api.socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0).value!;
    rec.opened({ appId: 3, token48: 5, id: 3, slot: 3, pid: 1, placeholder: 4, domain: AF_INET6 });
    assertEquals(api.bind(fd6, { family: AF_INET6, addr: "::", port: 9303 }).errno, undefined);
    const twinPeer = { family: AF_INET, addr: "198.18.0.1", port: 9302 } as const;
    rec.named(3, 3, api, fd6, { twinPeer });
    const fd7 = api.socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0).value!;
    rec.opened({ appId: 3, token48: 5, id: 4, slot: 4, pid: 1, placeholder: 4, domain: AF_INET6 });
    assertEquals(api.bind(fd7, { family: AF_INET6, addr: "::", port: 9305 }).errno, undefined);
    rec.named(3, 4, api, fd7, { v6only: true });
    rec.flush();

    const api2 = engine();
    const back = new UdpRecords(path).restoredOf(3).sort((x, y) => x.slot - y.slot);
    assertEquals(back.map((r) => [r.reusePort ?? false, r.v6only ?? false]), [
      [true, false],
      [true, false],
      [true, false],
      [false, false],
      [false, true],
    ]);
    assertEquals(back[3].twinPeer, twinPeer);
    assertEquals(back[4].twinPeer, undefined);
    // Every member of the group binds the port again (without SO_REUSEPORT the second could not).
    for (const r of back.slice(0, 3)) {
      const fd = recreateUdp(api2, r);
      assert(fd !== undefined, `slot ${r.slot}`);
      assertEquals(api2.getsockname(fd).value?.port, 9304);
      assertEquals(api2.getsockopt(fd, SOL_SOCKET, SO_REUSEPORT).value, 1);
    }
    // Without the recorded option, another socket is refused the port, as before the restart.
    assertEquals(recreateUdp(api2, { ...back[0], reusePort: undefined }), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("udp_restore: IP-level options are kept in order, bounded, and checked when read", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/tcp-udp.json`;
  try {
    const r1 = new UdpRecords(path);
    r1.opened({ appId: 1, token48: 1, id: 1, slot: 1, pid: 1, placeholder: 3, domain: AF_INET });
    r1.option(1, 1, 0, 35, new Uint8Array([239, 1, 2, 3, 0, 0, 0, 0]));
    r1.option(1, 1, 0, 33, 5);
    for (let i = 0; i < MAX_RECORDED_OPTIONS; i++) r1.option(1, 1, 0, 34, 1);
    r1.flush();
    const back = new UdpRecords(path).restoredOf(1)[0];
    assertEquals(back.opts?.length, MAX_RECORDED_OPTIONS);
    assertEquals(back.opts?.slice(0, 2), [[0, 35, [239, 1, 2, 3, 0, 0, 0, 0]], [0, 33, 5]]);
    const bad = (opts: unknown) =>
      JSON.stringify({
        version: 1,
        sockets: [{
          appId: 1,
          token48: 1,
          id: 1,
          slot: 1,
          pid: 1,
          placeholder: 3,
          domain: 2,
          opts,
        }],
      });
    assertThrows(() => parseUdpRecords(bad([[0, 35, [256]]])));
    assertThrows(() => parseUdpRecords(bad([[0, 35]])));
    assertThrows(() => parseUdpRecords(bad("x")));
    assertEquals(parseUdpRecords(bad([[0, 33, 5]]))[0].opts, [[0, 33, 5]]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

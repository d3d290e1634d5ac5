/**
 * App registration (DESIGN §7), served by the naming server on `<runtime dir>/apps.sock`, a
 * SOCK_SEQPACKET Unix socket (one Cap'n Proto message per packet, file descriptors beside it
 * with SCM_RIGHTS; Deno's own Unix sockets cannot pass fds or read SO_PEERCRED).
 *
 * A packet is a u32 little-endian kind (1 `NamingRequest`, 2 `NamingReply`) and one message in
 * the standard stream serialization.
 *
 * | from | request | reply |
 * | --- | --- | --- |
 * | app (the shim) | `registerApp` {pid, uid, gid, name} | `registered` {appId, token, region} + fds [region memfd, service eventfd]; EPERM when pid/uid/gid differ from SO_PEERCRED, ECONNREFUSED while no TCP/IP server is attached |
 * | TCP/IP server | `announce` {label "tcp"} | `none` + fds [service eventfd]; then a `grantRegion` {appId, region} + fd [memfd] for every app, now and as they come, and `revoke` {appId} when an app is gone |
 *
 * The app's connection stays open for its life (forked children share it): when the last
 * holder exits, the app is gone and the TCP/IP server is told to close its sockets. The
 * service eventfd is the naming server's, so it outlives a TCP/IP server restart; an app
 * signals it when it publishes work while the server sleeps (CTL.OFF_SRV_SLEEPING).
 *
 * Issue 8: registrations, tokens, regions and the service eventfd survive a naming restart
 * (app_persist.ts: saved to apps.json, fds taken back from the processes holding them); a
 * restored app's connection is gone with the old naming, so its exit is watched by holder.
 *
 * Tokens are 16 bytes from crypto.getRandomValues; app ids are never reused by one naming
 * server. Issue 6 checks the token and grows policy on this.
 *
 * @module
 */
import { Message } from "capnp-es";
import { NamingReply, NamingRequest } from "../../schema/gen/naming.ts";
import { Region } from "../ipc/region.ts";
import { appLayout, initAppRegion, slotsFor } from "./apps_region.ts";
import type { AppCard } from "./policy.ts";
import { NamingPolicy } from "./policy_naming.ts";
import { wellFramed } from "./wire.ts";
import { createSealedRegion } from "./policy_seal.ts";
import { AppPersist } from "./app_persist.ts";
import {
  acceptConn,
  closeFd,
  eventfd,
  eventfdDrain,
  eventfdSignal,
  listenSeqpacket,
  type Packet,
  peerCred,
  pollAsync,
  POLLERR,
  pollfds,
  POLLHUP,
  recvPacket,
  revents,
  sendPacket,
} from "./apps_ffi.ts";

/** Packet kinds on apps.sock. */
export const AppsKind = { request: 1, reply: 2 } as const;

const EPERM = 1, EINVAL = 22, ECONNREFUSED = 111, ENOSYS = 38;

/** Encodes a packet: kind + message. */
export function encodePacket(kind: number, m: Message): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(m.toArrayBuffer());
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, kind, true);
  out.set(body, 4);
  return out;
}

/** Decodes a packet's kind and message (throws on a short packet). */
export function decodePacket(p: Uint8Array): { kind: number; message: Message } {
  if (p.length < 12) throw new Error(`Cannot decode an apps packet: ${p.length} bytes`);
  const kind = new DataView(p.buffer, p.byteOffset).getUint32(0, true);
  return { kind, message: new Message(p.slice(4), false) };
}

/** A registered app. */
export interface AppEntry {
  appId: number;
  pid: number;
  uid: number;
  gid: number;
  name: string;
  token: Uint8Array;
  region: Region;
  conn: number;
  /** What policy decided (issue 6), sent to the TCP/IP server with the region. */
  card?: AppCard;
}

/** Counters for status. */
export interface AppsCounters {
  registered: number;
  gone: number;
  refused: number;
}

/** The registration side of the naming server. */
export class AppsServer {
  readonly path: string;
  readonly counters: AppsCounters = { registered: 0, gone: 0, refused: 0 };
  /** Policy and refusal counters (issue 6, policy_naming.ts). */
  policy = new NamingPolicy();
  #listen: number;
  #svcEfd: number;
  #apps = new Map<number, AppEntry>();
  #pending = new Set<number>();
  #tcp = -1;
  #nextApp = 1;
  #closing = false;
  /** Readable when the loop must look again without an event on its fds (close, restore). */
  #wake = eventfd();
  #loop: Promise<void>;
  /** Issue 8: registrations outlive this process (app_persist.ts). */
  #persist: AppPersist | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#listen = fd;
    this.#svcEfd = eventfd();
    this.#loop = this.#run();
  }

  /** Listens on `path`. */
  static listen(path: string, policy?: unknown): AppsServer {
    const p = new NamingPolicy(policy); // throws on a bad policy, before listening
    const s = new AppsServer(path, listenSeqpacket(path));
    s.policy = p;
    NamingPolicy.openSocket(path); // issue 6: anyone may register; SO_PEERCRED + policy decide
    s.#restore(path.replace(/[^/]*$/, "apps.json"));
    return s;
  }

  /** Issue 8: takes back the previous incarnation's apps (app_persist.ts), then saves. */
  #restore(file: string): void {
    const p = this.#persist = new AppPersist(file, (fd) => Region.adopt(fd));
    const r = p.restore();
    if (r.svcEfd >= 0) {
      closeFd(this.#svcEfd);
      this.#svcEfd = r.svcEfd;
    }
    this.#nextApp = Math.max(this.#nextApp, r.nextApp);
    for (const a of r.apps) this.#apps.set(a.appId, a);
    eventfdSignal(this.#wake);
    this.#save();
    p.watch(() => this.#tcp >= 0, () => this.#tcpPid(), (id) => {
      const a = this.#apps.get(id);
      if (a) this.#gone(a);
    });
  }

  #tcpPid(): number {
    return this.#tcp >= 0 ? peerCred(this.#tcp)?.pid ?? 0 : 0;
  }

  #save(): void {
    this.#persist?.save(this.#nextApp, this.#svcEfd, this.#apps.values(), this.#tcpPid());
  }

  /** Live apps (for status and tests). */
  apps(): AppEntry[] {
    return [...this.#apps.values()];
  }

  /** Whether a TCP/IP server is attached. */
  get serverAttached(): boolean {
    return this.#tcp >= 0;
  }

  async #run(): Promise<void> {
    while (!this.#closing) {
      const conns = [...this.#pending, ...[...this.#apps.values()].map((a) => a.conn)];
      if (this.#tcp >= 0) conns.push(this.#tcp);
      const fds = [this.#wake, this.#listen, ...conns];
      const pfds = pollfds(fds);
      // Every change to the set is made here or pokes #wake: no timeout, so an idle naming
      // server does not wake (issue 9: a 200 ms poll cost ~0.1 % of a core, a thread hop each).
      const n = await pollAsync(pfds, -1);
      if (this.#closing) break;
      if (n <= 0) continue;
      fds.forEach((fd, i) => {
        const ev = revents(pfds, i);
        if (!ev) return;
        if (i === 0) eventfdDrain(fd);
        else if (i === 1) this.#accept();
        else {
          this.#readable(fd);
          // Hung up with nothing left to read (recvmsg said "again": errno is not reliable).
          if ((ev & (POLLHUP | POLLERR)) && this.#open(fd)) this.#hangup(fd);
        }
      });
    }
  }

  #open(fd: number): boolean {
    return this.#pending.has(fd) || fd === this.#tcp ||
      [...this.#apps.values()].some((a) => a.conn === fd);
  }

  #accept(): void {
    for (;;) {
      const c = acceptConn(this.#listen);
      if (c < 0) return;
      // Issue 6: connections per uid are bounded (a flood of them would exhaust our fds).
      const cred = peerCred(c);
      if (!cred || !this.policy.openConn(c, cred.uid)) {
        closeFd(c);
        continue;
      }
      this.#pending.add(c);
    }
  }

  #readable(fd: number): void {
    for (;;) {
      const p = recvPacket(fd);
      if (p === "again") return;
      if (p === "eof") return this.#hangup(fd);
      try {
        this.#packet(fd, p);
      } catch {
        this.counters.refused++;
        this.policy.refuse("malformed", 0);
        for (const f of p.fds) closeFd(f);
        return this.#hangup(fd);
      }
    }
  }

  #hangup(fd: number): void {
    this.#pending.delete(fd);
    this.policy.closeConn(fd);
    if (fd === this.#tcp) this.#tcp = -1;
    for (const a of this.#apps.values()) if (a.conn === fd) this.#gone(a);
    closeFd(fd);
  }

  /** App `a` is gone: its token is revoked, the TCP/IP server told, its region closed. */
  #gone(a: AppEntry): void {
    this.#apps.delete(a.appId);
    this.#persist?.forget(a.appId);
    this.counters.gone++;
    this.policy.gone(a.appId, a.token);
    this.#toServer((r) => {
      const v = r._initRevoke();
      v.appId = a.appId;
      v.token = v._initToken(a.token.length);
      v.token.copyBuffer(a.token);
      v.reason = "exited";
    });
    a.region.close();
    this.#save();
  }

  #reply(fd: number, requestId: bigint, fill: (r: NamingReply) => void, fds: number[] = []) {
    const m = new Message();
    const r = m.initRoot(NamingReply);
    const h = r._initHeader();
    h.requestId = requestId;
    h.generation = 1;
    fill(r);
    sendPacket(fd, encodePacket(AppsKind.reply, m), fds);
  }

  #toServer(fill: (r: NamingRequest) => void, fds: number[] = []): void {
    if (this.#tcp < 0) return;
    const m = new Message();
    const r = m.initRoot(NamingRequest);
    r._initHeader();
    fill(r);
    if (sendPacket(this.#tcp, encodePacket(AppsKind.request, m), fds) < 0) {
      console.error("naming: cannot send to the TCP/IP server on apps.sock");
    }
  }

  #grant(a: AppEntry): void {
    // Who the app is and what policy allows it, just before its region (issue 6).
    if (a.card) this.#toServer((r) => this.policy.fillCard(r, a.appId, a.token, a.card!));
    this.#toServer((r) => {
      const g = r._initGrantRegion();
      g.appId = a.appId;
      const ri = g._initRegion();
      ri.regionId = a.appId;
      ri.size = BigInt(a.region.size);
      ri.generation = 1;
      ri.fdIndex = 0;
      ri.writable = true;
    }, [a.region.fd]);
  }

  #packet(fd: number, p: Packet): void {
    // Issue 6: an app's bytes reach capnp-es only well framed (bounded segment table).
    if (!wellFramed(p.data.subarray(4))) throw new Error("malformed message framing");
    const { kind, message } = decodePacket(p.data);
    if (kind !== AppsKind.request) throw new Error(`unexpected packet kind ${kind}`);
    const req = message.getRoot(NamingRequest);
    const id = req.header.requestId;
    for (const f of p.fds) closeFd(f); // nothing we accept comes with fds
    const fail = (e: number) => {
      this.counters.refused++;
      this.#reply(fd, id, (r) => {
        r.errno = e;
        r.none = true;
      });
    };
    switch (req.which()) {
      case NamingRequest.REGISTER_APP: {
        if (!this.#pending.has(fd)) return fail(this.policy.refuse("notPermitted", EINVAL));
        const ra = req.registerApp;
        const cred = peerCred(fd);
        if (!cred || cred.pid !== ra.pid || cred.uid !== ra.uid || cred.gid !== ra.gid) {
          return fail(this.policy.refuse("credentials", EPERM));
        }
        if (this.#tcp < 0) return fail(ECONNREFUSED);
        const admitted = this.policy.admit(cred, ra.name);
        if ("errno" in admitted) return fail(admitted.errno);
        // R5: as many socket slots as the app's `sockets` limit (sparse region).
        const layout = appLayout(slotsFor(admitted.card.limits.sockets));
        // Issue 6: size-sealed, so the app cannot shrink it under the TCP/IP server (SIGBUS).
        const region = createSealedRegion(layout.total, "joyride-app");
        const appId = this.#nextApp++;
        initAppRegion(region, appId, layout);
        const token = crypto.getRandomValues(new Uint8Array(16));
        const a: AppEntry = {
          appId,
          pid: cred.pid,
          uid: cred.uid,
          gid: cred.gid,
          name: ra.name.slice(0, 64),
          token,
          region,
          conn: fd,
          card: admitted.card,
        };
        this.#pending.delete(fd);
        this.#apps.set(appId, a);
        this.counters.registered++;
        // The server learns of the region before the app can use it.
        this.#grant(a);
        this.#save();
        this.#reply(fd, id, (r) => {
          const g = r._initRegistered();
          g.appId = appId;
          g.token = g._initToken(16);
          g.token.copyBuffer(token);
          const ri = g._initRegion();
          ri.regionId = appId;
          ri.size = BigInt(region.size);
          ri.generation = 1;
          ri.fdIndex = 0;
          ri.writable = true;
        }, [region.fd, this.#svcEfd]);
        return;
      }
      case NamingRequest.ANNOUNCE: {
        const cred = peerCred(fd);
        if (!this.#pending.has(fd) || req.announce.label !== "tcp" || cred?.uid !== Deno.uid()) {
          return fail(this.policy.refuse("notPermitted", EPERM));
        }
        if (this.#tcp >= 0) closeFd(this.#tcp); // a new incarnation replaces the old one
        this.#pending.delete(fd);
        this.#tcp = fd;
        this.#reply(fd, id, (r) => r.none = true, [this.#svcEfd]);
        for (const a of this.#apps.values()) this.#grant(a);
        this.#save();
        return;
      }
      case NamingRequest.UNREGISTER: {
        // Issue 6: an app leaves with its own id and token; anything else is refused.
        const own = [...this.#apps.values()].find((a) => a.conn === fd);
        const h = req.header;
        const tok = h._hasToken() ? new Uint8Array(h.token.toUint8Array()) : undefined;
        const e = this.policy.checkUnregister(own, h.appId, tok);
        if (e !== 0) return fail(e);
        this.#reply(fd, id, (r) => r.none = true);
        return this.#hangup(fd);
      }
      default:
        return fail(this.policy.refuse("notPermitted", ENOSYS));
    }
  }

  /** Stops serving; apps keep their regions until they exit. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#persist?.close();
    eventfdSignal(this.#wake);
    await this.#loop;
    closeFd(this.#wake);
    closeFd(this.#listen);
    for (const fd of this.#pending) closeFd(fd);
    for (const a of this.#apps.values()) {
      closeFd(a.conn);
      a.region.close();
    }
    if (this.#tcp >= 0) closeFd(this.#tcp);
    closeFd(this.#svcEfd);
    try {
      Deno.removeSync(this.path);
    } catch {
      // gone
    }
  }
}

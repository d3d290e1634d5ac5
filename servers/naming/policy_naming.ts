/**
 * The naming server's side of isolation and policy (issue 6), called from apps.ts:
 *
 * - `admit`: at registration, the policy's stack choice (EOPNOTSUPP for "kernel") and the app's
 *   card (servers/naming/policy.ts) with a fresh public token id.
 * - `fillCard`: the card travels to the TCP/IP server as a `registerApp` request (pid, uid,
 *   gid, and the card as JSON in `name`; header.appId and header.token are the app's) sent just
 *   before the app's `grantRegion`, on the same connection.
 * - `checkUnregister`: an app leaves early by `unregister` with its own id and token in the
 *   header; a forged token, another app's id, or a revoked app's token is refused (EPERM).
 * - `gone`: the app's registration socket closed (exit, kill): its token is revoked.
 * - `openSocket`: apps.sock is 0666 in a 0755 directory: anyone may register, authorisation is
 *   by SO_PEERCRED and the policy (the other sockets and files stay root's).
 *
 * @module
 */
import type { NamingRequest } from "../../schema/gen/naming.ts";
import {
  type AppCard,
  cardFor,
  commandOf,
  encodeCard,
  EOPNOTSUPP,
  limitsFor,
  newTokenId,
  parsePolicy,
  type Policy,
  sameToken,
  stackFor,
} from "./policy.ts";
import { type RefusalReason, Refusals } from "./policy_refusals.ts";

const EPERM = 1;

const REMEMBER_REVOKED = 4096;

/** Policy and refusal counting of the naming server's app registration. */
export class NamingPolicy {
  readonly refusals = new Refusals();
  policy: Policy;
  #revoked = new Map<number, Uint8Array>();
  /** uid of each open connection, and connections per uid. */
  #connUid = new Map<number, number>();
  #perUid = new Map<number, number>();

  /** `policy`: the configuration's `policy` section (undefined: defaults). */
  constructor(policy?: unknown) {
    this.policy = parsePolicy(policy);
  }

  /** Counts a refusal and returns `errno`. */
  refuse(reason: RefusalReason, errno: number): number {
    return this.refusals.count(reason, errno);
  }

  /**
   * Decides a registration from SO_PEERCRED: an errno (counted) or the app's card. The command
   * is /proc/PID/comm, else the name the app gave.
   */
  admit(
    cred: { pid: number; uid: number; gid: number },
    name: string,
    readCommand: (pid: number) => string = commandOf,
  ): { errno: number } | { card: AppCard } {
    const command = readCommand(cred.pid) || name.slice(0, 15);
    if (stackFor(this.policy, { uid: cred.uid, command }) === "kernel") {
      return { errno: this.refuse("policyKernel", EOPNOTSUPP) };
    }
    return { card: cardFor(this.policy, cred, command, newTokenId()) };
  }

  /** Fills the `registerApp` request that carries an app's card to the TCP/IP server. */
  fillCard(r: NamingRequest, appId: number, token: Uint8Array, card: AppCard): void {
    const h = r._initHeader();
    h.appId = appId;
    h._initToken(token.length).copyBuffer(token);
    const ra = r._initRegisterApp();
    ra.pid = card.pid;
    ra.uid = card.uid;
    ra.gid = card.gid;
    ra.name = encodeCard(card);
  }

  /**
   * Checks an `unregister` on a connection: `own` is the app registered on it (if any). 0 when
   * the header names that app with its token; else a counted EPERM.
   */
  checkUnregister(
    own: { appId: number; token: Uint8Array } | undefined,
    appId: number,
    token: Uint8Array | undefined,
  ): number {
    if (own && own.appId === appId && sameToken(token, own.token)) return 0;
    const old = this.#revoked.get(appId);
    if (old && sameToken(token, old)) return this.refuse("revoked", EPERM);
    for (const t of this.#revoked.values()) {
      if (sameToken(token, t)) return this.refuse("revoked", EPERM);
    }
    return this.refuse(own && own.appId !== appId ? "foreignApp" : "badToken", EPERM);
  }

  /**
   * A connection `fd` from `uid` was accepted: false (counted) when the uid is at its `apps`
   * limit and the connection must be closed. uid 0 has no limit.
   */
  openConn(fd: number, uid: number): boolean {
    const n = this.#perUid.get(uid) ?? 0;
    if (uid !== 0 && n >= limitsFor(this.policy, { uid, command: "" }).apps) {
      this.refuse("limitApps", 0);
      return false;
    }
    this.#perUid.set(uid, n + 1);
    this.#connUid.set(fd, uid);
    return true;
  }

  /** Connection `fd` closed. */
  closeConn(fd: number): void {
    const uid = this.#connUid.get(fd);
    if (uid === undefined) return;
    this.#connUid.delete(fd);
    const n = (this.#perUid.get(uid) ?? 1) - 1;
    if (n > 0) this.#perUid.set(uid, n);
    else this.#perUid.delete(uid);
  }

  /** App `appId` is gone (its registration closed): its token is revoked. */
  gone(appId: number, token: Uint8Array): void {
    this.refusals.count("appsGone");
    this.#revoked.set(appId, token.slice());
    if (this.#revoked.size > REMEMBER_REVOKED) {
      this.#revoked.delete(this.#revoked.keys().next().value!);
    }
  }

  /**
   * Opens apps.sock to every user (0666), its directory (the instance's) to 0755 and the
   * parent (the runtime directory, e.g. /run/joyride) to traversal (o+x) only.
   */
  static openSocket(path: string): void {
    Deno.chmodSync(path, 0o666);
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    const st = Deno.statSync(dir);
    // Traversal and listing for others; never group/other write.
    Deno.chmodSync(dir, ((st.mode ?? 0o755) & 0o755) | 0o111 | 0o044);
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    if (parent && parent !== "/") {
      const ps = Deno.statSync(parent);
      Deno.chmodSync(parent, ((ps.mode ?? 0o755) & 0o7755) | 0o011);
    }
  }
}

/**
 * Refusal counters (issue 6): every request refused for isolation or policy reasons is counted
 * under one reason, by the server that refused it. Both the naming server (registration,
 * tokens) and the TCP/IP server's socket service (calls on an app's ring) keep one
 * {@link Refusals}; their heartbeats report `refusals` and `./joyride status` shows them.
 *
 * | reason | what was refused | errno to the app |
 * | --- | --- | --- |
 * | `malformed` | a message that does not decode (garbage, truncated, huge lengths) | EINVAL |
 * | `unknownCall` | a call kind the server does not serve | EINVAL |
 * | `unknownSocket` | a socket id whose slot holds no socket of this app (another app's id) | EBADF |
 * | `staleSocket` | a socket id of this app's that was closed (the slot was reused or freed) | EBADF |
 * | `foreignApp` | a call naming another app in its header | EPERM |
 * | `badToken` | a call or naming request with a token that is not the app's (forged, replayed) | EPERM |
 * | `revoked` | a request presenting the token of an app that is gone | EPERM |
 * | `badPlaceholder` | a placeholder (pid, fd) that is not an eventfd of a process of the app's uid | EPERM |
 * | `portShare` | bind of a port another uid's socket holds (SO_REUSEPORT/SO_REUSEADDR hijack) | EADDRINUSE |
 * | `privilegedPort` | bind of a port < 1024 by a non-root uid without a grant | EACCES |
 * | `limitSockets` | a socket past the app's `sockets` limit | EMFILE |
 * | `limitBuffers` | a socket past the app's `bufferBytes` limit | ENOBUFS |
 * | `limitPending` | calls queued past the app's `pending` limit in one turn | ENOBUFS |
 * | `limitApps` | a connection to apps.sock past the uid's `apps` limit | — (closed) |
 * | `replyOverflow` | a reply dropped because the app does not read its reply ring | — |
 * | `unsealedRegion` | a region whose size is not sealed (an app could shrink it under the server) | — (not attached) |
 * | `badRing` | a ring whose indices or records cannot be right (the app scribbled) | — (the app is dropped) |
 * | `credentials` | a registration whose pid/uid/gid differ from SO_PEERCRED | EPERM |
 * | `notPermitted` | a naming request an app may not make (announce, revoke, grant) | EPERM |
 * | `policyKernel` | a registration of an app that policy sends to the kernel | EOPNOTSUPP |
 * | `appsGone` | not a refusal: apps whose registration closed (exit, kill); tokens revoked | — |
 *
 * @module
 */

/** The reasons counted. */
export const REFUSAL_REASONS = [
  "malformed",
  "unknownCall",
  "unknownSocket",
  "staleSocket",
  "foreignApp",
  "badToken",
  "revoked",
  "badPlaceholder",
  "privilegedPort",
  "portShare",
  "limitSockets",
  "limitBuffers",
  "limitPending",
  "limitApps",
  "replyOverflow",
  "badRing",
  "unsealedRegion",
  "credentials",
  "notPermitted",
  "policyKernel",
  "appsGone",
] as const;

/** One reason. */
export type RefusalReason = typeof REFUSAL_REASONS[number];

/** Counters per reason, plus the last few refusals for logs. */
export class Refusals {
  readonly counts: Record<RefusalReason, number>;
  #total = 0;

  constructor() {
    this.counts = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<
      RefusalReason,
      number
    >;
  }

  /** Counts one refusal; returns `errno` so a caller can `return fail(r.count(…, EBADF))`. */
  count(reason: RefusalReason, errno = 0): number {
    this.counts[reason]++;
    if (reason !== "appsGone") this.#total++;
    return errno;
  }

  /** Refusals of every reason (not counting `appsGone`). */
  get total(): number {
    return this.#total;
  }

  /** A copy for status: `{reason: n}` for every reason, and `total`. */
  snapshot(): Record<string, number> {
    return { ...this.counts, total: this.#total };
  }
}

/** Flattens a snapshot under a prefix (`refused.badToken`), for the status counters. */
export function flatRefusals(prefix: string, r: Refusals): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.snapshot())) out[`${prefix}.${k}`] = v;
  return out;
}

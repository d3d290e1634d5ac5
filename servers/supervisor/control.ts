/**
 * Client of the supervisor's control socket, used by `./joyride status|restart|stop` and by
 * the whole-system tests.
 */
import { connectFramed, type Message } from "../naming/framing.ts";
import type { Status } from "./supervisor.ts";

/** Thrown when no supervisor answers on the control socket. */
export class NotRunningError extends Error {
  constructor(path: string) {
    super(`No Joyride supervisor answers on ${path}: the instance is not running`);
    this.name = "NotRunningError";
  }
}

/** Thrown when a supervisor accepted a request but did not answer in time (it hangs). */
export class ControlTimeoutError extends Error {
  constructor(op: unknown, ms: number) {
    super(`The Joyride supervisor did not answer "${String(op)}" within ${ms / 1000} s`);
    this.name = "ControlTimeoutError";
  }
}

/**
 * Sends one request to the control socket and returns the reply (ok or not). Throws
 * NotRunningError when nothing listens, ControlTimeoutError after `timeoutMs` without a reply.
 */
export async function controlRequest(
  path: string,
  msg: Message,
  timeoutMs = 10_000,
): Promise<Message> {
  let fc;
  try {
    fc = await connectFramed(path);
  } catch {
    throw new NotRunningError(path);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    fc.close();
  }, timeoutMs);
  try {
    return await fc.request(msg);
  } catch (e) {
    if (timedOut) throw new ControlTimeoutError(msg.op, timeoutMs);
    throw e;
  } finally {
    clearTimeout(timer);
    fc.close();
  }
}

function ok(reply: Message): Message {
  if (reply.ok !== true) throw new Error(String(reply.error ?? "request refused"));
  return reply;
}

/** The status document. */
export async function getStatus(path: string): Promise<Status> {
  return ok(await controlRequest(path, { op: "status" })).status as Status;
}

/** Restarts one server; resolves with its new pid and generation. */
export async function restartServer(
  path: string,
  server: string,
): Promise<{ pid: number; generation: number }> {
  // A restart waits for the new incarnation to be ready (up to the start timeout).
  const r = ok(await controlRequest(path, { op: "restart", server }, 120_000));
  return { pid: r.pid as number, generation: r.generation as number };
}

/** Stops the instance; resolves with what was removed. */
export async function stopInstance(path: string): Promise<string[]> {
  return ok(await controlRequest(path, { op: "stop" }, 60_000)).removed as string[];
}

/** Whether every server in the status is running. */
export function allRunning(s: Status): boolean {
  return s.servers.length > 0 && s.servers.every((x) => x.state === "running");
}

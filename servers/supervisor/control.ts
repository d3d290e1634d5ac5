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

/** Sends one request to the control socket and returns the reply (ok or not). */
export async function controlRequest(path: string, msg: Message): Promise<Message> {
  let fc;
  try {
    fc = await connectFramed(path);
  } catch {
    throw new NotRunningError(path);
  }
  try {
    return await fc.request(msg);
  } finally {
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
  const r = ok(await controlRequest(path, { op: "restart", server }));
  return { pid: r.pid as number, generation: r.generation as number };
}

/** Stops the instance; resolves with what was removed. */
export async function stopInstance(path: string): Promise<string[]> {
  return ok(await controlRequest(path, { op: "stop" })).removed as string[];
}

/** Whether every server in the status is running. */
export function allRunning(s: Status): boolean {
  return s.servers.length > 0 && s.servers.every((x) => x.state === "running");
}

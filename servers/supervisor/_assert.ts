/** Small assertions for this folder's tests (no jsr: std available). */

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg ? msg + ": " : ""}expected ${e}, got ${a}`);
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  cls: new (...args: any[]) => Error,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof cls)) throw new Error(`expected ${cls.name}, got ${e}`);
    if (includes && !e.message.includes(includes)) {
      throw new Error(`expected message to include "${includes}", got "${e.message}"`);
    }
    return e;
  }
  throw new Error("expected a rejection");
}

export function assertThrows(
  fn: () => unknown,
  includes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (includes && !(e as Error).message.includes(includes)) {
      throw new Error(`expected message to include "${includes}", got "${(e as Error).message}"`);
    }
    return e as Error;
  }
  throw new Error("expected an exception");
}

/**
 * The project's test assertions (no jsr: std here). One module for every test; the folders'
 * `_assert.ts` files re-export it.
 *
 * @example
 * ```ts
 * import { assert, assertEquals, assertRejects, assertThrows } from "../../scripts/testing/assert.ts";
 * assertEquals({ a: 1n, b: [2] }, { a: 1n, b: [2] });
 * ```
 *
 * @module
 */

/** Throws when `cond` is false. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

function show(v: unknown): string {
  return JSON.stringify(v, (_, x) => typeof x === "bigint" ? `${x}n` : x) ?? String(v);
}

/**
 * Throws when `actual` and `expected` differ: primitives by identity (NaN equals NaN), objects
 * and arrays by their JSON form (bigints included), which is deep equality for plain data.
 */
export function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  if (actual === expected || Object.is(actual, expected)) return;
  const objects = typeof actual === "object" && actual !== null &&
    typeof expected === "object" && expected !== null;
  if (objects && show(actual) === show(expected)) return;
  throw new Error(`${msg ? msg + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
}

/** Throws unless `fn` throws, with a message including `includes` when given; returns the error. */
export function assertThrows(fn: () => unknown, includes?: string): Error {
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

/** Throws unless `fn` rejects with a `cls`, with a message including `includes`; returns it. */
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

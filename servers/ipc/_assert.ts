/** Minimal assertions for the ipc tests (no jsr: std in this project). */

/** Throws when `cond` is false. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Throws when `a` and `b` differ (deep, via JSON for plain data). */
export function assertEquals<T>(a: T, b: T, msg = ""): void {
  if (a === b) return;
  if (typeof a === "object" && JSON.stringify(a) === JSON.stringify(b)) return;
  throw new Error(`${msg ? msg + ": " : ""}expected ${String(b)}, got ${String(a)}`);
}

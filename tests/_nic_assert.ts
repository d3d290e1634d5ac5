/** Minimal assertions for the NIC tests (no jsr: in this project). */

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

export function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual, (_, v) => typeof v === "bigint" ? v.toString() : v);
  const e = JSON.stringify(expected, (_, v) => typeof v === "bigint" ? v.toString() : v);
  if (a !== e) throw new Error(`${msg ? msg + ": " : ""}expected ${e}, got ${a}`);
}

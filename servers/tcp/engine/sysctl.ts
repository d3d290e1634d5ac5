/**
 * Tunables named after FreeBSD's sysctls ("net.inet.tcp.sack.enable", …), so a conformance
 * script's `sysctl -w name=value` lines map onto them. The stack owns one {@link Sysctls};
 * each protocol defines its own names at start-up.
 *
 * @module
 */

/** A sysctl's value: FreeBSD's are integers, a few are strings (e.g. a CC algorithm name). */
export type SysctlValue = number | string;

/** Bounds for an integer sysctl (inclusive), or a validator returning an error text or null. */
export type SysctlCheck =
  | { min?: number; max?: number }
  | ((value: SysctlValue) => string | null);

interface Def {
  name: string;
  value: SysctlValue;
  def: SysctlValue;
  check: SysctlCheck;
  description: string;
  listeners: ((value: SysctlValue) => void)[];
}

/** Description of one sysctl, as listed by {@link Sysctls.list}. */
export interface SysctlInfo {
  name: string;
  value: SysctlValue;
  default: SysctlValue;
  description: string;
}

/**
 * A table of named tunables.
 *
 * @example
 * ```ts
 * const s = new Sysctls();
 * s.define("net.inet.tcp.sack.enable", 1, { min: 0, max: 1 }, "Enable SACK (RFC 2018)");
 * s.set("net.inet.tcp.sack.enable", 0);
 * s.get("net.inet.tcp.sack.enable"); // 0
 * ```
 */
export class Sysctls {
  #defs = new Map<string, Def>();

  /**
   * Defines `name` with a default, a check and a one-line description. Defining a name twice
   * throws (two modules claiming one name is a bug).
   */
  define(
    name: string,
    defaultValue: SysctlValue,
    check: SysctlCheck,
    description: string,
  ): void {
    if (this.#defs.has(name)) throw new Error(`Cannot define sysctl ${name}: already defined`);
    const d: Def = {
      name,
      value: defaultValue,
      def: defaultValue,
      check,
      description,
      listeners: [],
    };
    const err = this.#validate(d, defaultValue);
    if (err !== null) throw new Error(`Cannot define sysctl ${name}: default ${err}`);
    this.#defs.set(name, d);
  }

  /** Whether `name` is defined. */
  has(name: string): boolean {
    return this.#defs.has(name);
  }

  /** The current value of `name`; throws for an unknown name. */
  get(name: string): SysctlValue {
    return this.#def(name, "read").value;
  }

  /** The current value of integer sysctl `name`; throws for an unknown or non-integer one. */
  getNumber(name: string): number {
    const v = this.#def(name, "read").value;
    if (typeof v !== "number") throw new Error(`Cannot read sysctl ${name} as a number: "${v}"`);
    return v;
  }

  /**
   * Sets `name` to `value`. A string is accepted for an integer sysctl when it is a decimal
   * integer (as in `sysctl -w net.inet.tcp.sack.enable=0`). Throws a clear Error for an unknown
   * name or a bad value, leaving the old value in place.
   */
  set(name: string, value: SysctlValue): void {
    const d = this.#def(name, "set");
    let v = value;
    if (typeof d.def === "number" && typeof v === "string") {
      const t = v.trim();
      if (!/^-?\d+$/.test(t)) {
        throw new Error(`Cannot set sysctl ${name}: "${v}" is not an integer`);
      }
      v = Number(t);
    } else if (typeof d.def === "string" && typeof v === "number") {
      v = String(v);
    }
    const err = this.#validate(d, v);
    if (err !== null) throw new Error(`Cannot set sysctl ${name}: ${err}`);
    d.value = v;
    for (const l of d.listeners) l(v);
  }

  /** Calls `fn` with the new value each time `name` is set. */
  onChange(name: string, fn: (value: SysctlValue) => void): void {
    this.#def(name, "watch").listeners.push(fn);
  }

  /** Puts every sysctl back to its default (listeners are called for those that change). */
  reset(): void {
    for (const d of this.#defs.values()) {
      if (d.value !== d.def) {
        d.value = d.def;
        for (const l of d.listeners) l(d.def);
      }
    }
  }

  /** All sysctls, sorted by name. */
  list(): SysctlInfo[] {
    return [...this.#defs.values()]
      .map((d) => ({ name: d.name, value: d.value, default: d.def, description: d.description }))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  #def(name: string, what: string): Def {
    const d = this.#defs.get(name);
    if (d === undefined) throw new Error(`Cannot ${what} sysctl ${name}: unknown name`);
    return d;
  }

  #validate(d: Def, v: SysctlValue): string | null {
    if (typeof v !== typeof d.def) return `value ${JSON.stringify(v)} has the wrong type`;
    if (typeof d.check === "function") return d.check(v);
    if (typeof v === "number") {
      if (!Number.isInteger(v)) return `value ${v} is not an integer`;
      if (d.check.min !== undefined && v < d.check.min) return `value ${v} is below ${d.check.min}`;
      if (d.check.max !== undefined && v > d.check.max) return `value ${v} is above ${d.check.max}`;
    }
    return null;
  }
}

/**
 * The error every configuration check throws (config.ts and the sections it delegates to, e.g.
 * affinity.ts): it names the field and says why.
 *
 * @module
 */

/** A configuration error: says which field and why. */
export class ConfigError extends Error {
  constructor(readonly field: string, reason: string) {
    super(`${field} ${reason}`);
    this.name = "ConfigError";
  }
}

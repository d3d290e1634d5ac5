/**
 * The congestion-control framework with the built-in algorithms registered: import this
 * (not mod.ts) from the engine so "newreno" and "cubic" are available by name.
 *
 * @module
 */
export * from "./mod.ts";
export { newreno, newrenoConfig } from "./newreno.ts";
export { cubic } from "./cubic.ts";

/** The ipc tests' assertions: the project's shared ones (scripts/testing/assert.ts). */
export * from "../../scripts/testing/assert.ts";

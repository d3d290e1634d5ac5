/**
 * A worker that runs scripts one at a time for main.ts: receives `{ path, name }`, answers with
 * the {@link ScriptResult}.
 *
 * @module
 */

import { runFile } from "./runner.ts";

declare const self: {
  onmessage: ((e: MessageEvent<{ path: string; name: string }>) => void) | null;
  postMessage(m: unknown): void;
};

self.onmessage = async (e) => {
  const r = await runFile(e.data.path, e.data.name);
  self.postMessage(r);
};

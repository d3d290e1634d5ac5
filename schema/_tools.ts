/**
 * Test helpers: builds and drives the two native codecs in batch (one process per batch).
 * - build/gen/capnp_driver: the generated C codec (native/gen/driver.c, ASan/UBSan build)
 * - build/ref/capnp_ref: Debian's libcapnp (schema/ref/ref.cpp), the reference
 * Both read records (u64 type id, u32 length, bytes) and answer (i32 status, u32 length, bytes).
 */
import { compileRequest } from "../scripts/gen.ts";
import { repoRoot } from "../scripts/paths.ts";

export const driverPath = `${repoRoot}/build/gen/capnp_driver`;
export const refPath = `${repoRoot}/build/ref/capnp_ref`;

/** Builds the driver and the reference tool (make does nothing when they are up to date). */
export async function buildTools(): Promise<void> {
  for (const dir of ["native/gen", "schema/ref"]) {
    const out = await new Deno.Command("make", {
      args: ["-s", "-C", `${repoRoot}/${dir}`, ...(dir === "native/gen" ? ["driver"] : [])],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`Cannot build ${dir}: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
}

export interface Record {
  typeId: string;
  bytes: Uint8Array;
}

export interface Result {
  status: number;
  bytes: Uint8Array;
}

function frame(records: Record[], preamble?: Uint8Array): Uint8Array {
  let size = preamble ? 4 + preamble.length : 0;
  for (const r of records) size += 12 + r.bytes.length;
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  let at = 0;
  if (preamble) {
    dv.setUint32(0, preamble.length, true);
    buf.set(preamble, 4);
    at = 4 + preamble.length;
  }
  for (const r of records) {
    dv.setBigUint64(at, BigInt(`0x${r.typeId}`), true);
    dv.setUint32(at + 8, r.bytes.length, true);
    buf.set(r.bytes, at + 12);
    at += 12 + r.bytes.length;
  }
  return buf;
}

/** Runs one batch through a tool; throws if the process fails (crash, sanitizer report). */
export async function runBatch(
  path: string,
  records: Record[],
  preamble?: Uint8Array,
  args: string[] = [],
): Promise<Result[]> {
  const p = new Deno.Command(path, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { ASAN_OPTIONS: "detect_leaks=0:abort_on_error=0" },
  }).spawn();
  const w = p.stdin.getWriter();
  const writing = w.write(frame(records, preamble)).then(() => w.close());
  const out = await p.output();
  await writing.catch(() => {});
  if (!out.success) {
    throw new Error(
      `${path} exited with ${out.code}:\n${new TextDecoder().decode(out.stderr).slice(0, 4000)}`,
    );
  }
  const dv = new DataView(out.stdout.buffer, out.stdout.byteOffset, out.stdout.byteLength);
  const results: Result[] = [];
  let at = 0;
  while (at < out.stdout.length) {
    const status = dv.getInt32(at, true), len = dv.getUint32(at + 4, true);
    results.push({ status, bytes: out.stdout.slice(at + 8, at + 8 + len) });
    at += 8 + len;
  }
  if (results.length !== records.length) {
    throw new Error(`${path} answered ${results.length} of ${records.length} records`);
  }
  return results;
}

/** Runs records through the reference tool (loads the schema from capnp first). */
export async function runRef(records: Record[]): Promise<Result[]> {
  return runBatch(refPath, records, await compileRequest());
}

/** Runs records through the C codec driver (decode, encode again). */
export function runDriver(records: Record[]): Promise<Result[]> {
  return runBatch(driverPath, records);
}

/** Runs records through the C codec driver, answering the decoded C structs as JSON. */
export function runDriverJson(records: Record[]): Promise<Result[]> {
  return runBatch(driverPath, records, undefined, ["json"]);
}

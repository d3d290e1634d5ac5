/**
 * Staleness: regenerating from schema/*.capnp into a temporary directory gives exactly the
 * committed files in schema/gen/ and native/gen/. Fix a failure with `make -f scripts/gen.mk`
 * (or any ./joyride command) and commit the result.
 */
import { deepStrictEqual } from "node:assert";
import { repoRoot } from "../scripts/paths.ts";

function list(dir: string, filter: (name: string) => boolean): string[] {
  return Array.from(Deno.readDirSync(dir)).filter((e) => e.isFile && filter(e.name))
    .map((e) => e.name).sort();
}

Deno.test("gen: committed generated files are up to date with schema/ and the generators", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "joyride-gen-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${repoRoot}/scripts/gen.ts`, "--out", tmp],
      cwd: repoRoot,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const generatedC = (n: string) => n.startsWith("joyride_capnp.");
    for (const [dir, filter] of [["schema/gen", () => true], ["native/gen", generatedC]] as const) {
      const fresh = list(`${tmp}/${dir}`, filter);
      deepStrictEqual(list(`${repoRoot}/${dir}`, filter), fresh, `${dir}: file set differs`);
      for (const name of fresh) {
        const want = Deno.readTextFileSync(`${tmp}/${dir}/${name}`);
        const have = Deno.readTextFileSync(`${repoRoot}/${dir}/${name}`);
        if (want !== have) {
          throw new Error(`${dir}/${name} is stale: run make -f scripts/gen.mk and commit it`);
        }
      }
    }
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

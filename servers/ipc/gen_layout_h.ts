/**
 * Renders `native/ipc/joyride_layout.h` from `layout.ts`. Run with `--write` to regenerate the
 * committed header; `layout_test.ts` fails when the committed file differs from this output.
 *
 * @module
 */
import { layoutGroups } from "./layout.ts";

/** Path of the generated header, relative to this file. */
export const headerUrl: URL = new URL("../../native/ipc/joyride_layout.h", import.meta.url);

/** The C header text for the current layout. */
export function renderLayoutHeader(): string {
  const out: string[] = [
    "/* Generated from servers/ipc/layout.ts by servers/ipc/gen_layout_h.ts: do not edit. */",
    "#ifndef JOYRIDE_LAYOUT_H",
    "#define JOYRIDE_LAYOUT_H",
    "",
  ];
  for (const g of layoutGroups) {
    out.push(`/* ${g.doc} */`);
    for (const [name, value] of Object.entries(g.values)) {
      const c = `${g.prefix}${name}`;
      const v = value > 0xffff ? `0x${value.toString(16)}u` : `${value}u`;
      const doc = g.docs[name] ? ` /* ${g.docs[name]} */` : "";
      out.push(`#define ${c.padEnd(28)} ${v}${doc}`);
    }
    out.push("");
  }
  out.push("#endif /* JOYRIDE_LAYOUT_H */", "");
  return out.join("\n");
}

if (import.meta.main) {
  if (Deno.args.includes("--write")) {
    Deno.writeTextFileSync(headerUrl, renderLayoutHeader());
  } else {
    console.log(renderLayoutHeader());
  }
}

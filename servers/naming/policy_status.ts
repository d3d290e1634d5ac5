/**
 * The apps and refusal counters of `./joyride status` (issue 6): what the TCP/IP server reports
 * per app (pid, uid, command, public token id, sockets, bytes; never the token) and the
 * `<server>.refusals.<reason>` counters of naming and tcp. Pure functions; the supervisor's
 * status view calls {@link appLines}.
 *
 * @module
 */

/**
 * `s` safe for an operator's terminal: control characters (C0, DEL, C1) shown as \xNN. An
 * app names its own command; a name holding an escape sequence cleared and recoloured the
 * screen of whoever ran `status` (a helper's hostile app).
 */
export function printable(s: string): string {
  let out = "";
  for (const c of s) {
    const n = c.charCodeAt(0);
    out += n < 0x20 || (n >= 0x7f && n <= 0x9f) ? `\\x${n.toString(16).padStart(2, "0")}` : c;
  }
  return out;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** Lines for the apps table and the non-zero refusal counters (empty when there is neither). */
export function appLines(apps: unknown[], counters: Record<string, number>): string[] {
  const out: string[] = [];
  if (apps.length > 0) {
    out.push("", `Apps (${apps.length}):`);
    out.push(
      "  " + [
        pad("PID", 8),
        pad("UID", 6),
        pad("COMMAND", 16),
        pad("TOKEN", 9),
        pad("SOCKETS", 8),
        pad("BYTES IN", 12),
        "BYTES OUT",
      ].join(" "),
    );
    for (const a of apps.slice(0, 50)) {
      const o = (typeof a === "object" && a !== null ? a : {}) as Record<string, unknown>;
      out.push(
        "  " + [
          pad(String(o.pid ?? "?"), 8),
          pad(String(o.uid ?? "?"), 6),
          pad(printable(String(o.command ?? "?")), 16),
          pad(String(o.tokenId ?? "?"), 9),
          pad(String(o.sockets ?? 0), 8),
          pad(String(o.bytesIn ?? 0), 12),
          String(o.bytesOut ?? 0),
        ].join(" "),
      );
    }
    if (apps.length > 50) out.push(`  … ${apps.length - 50} more`);
  }
  const refusals = Object.entries(counters)
    .filter(([k, v]) => /\.refusals\./.test(k) && !k.endsWith(".total") && v > 0)
    .map(([k, v]) => `${k.replace(".refusals.", " ")} ${v}`);
  if (refusals.length > 0) out.push("", `Refused: ${refusals.join(", ")}`);
  return out;
}

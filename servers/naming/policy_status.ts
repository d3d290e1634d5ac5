/**
 * The apps and refusal counters of `./joyride status` (issue 6): what the TCP/IP server reports
 * per app (pid, uid, command, public token id, sockets, bytes; never the token) and the
 * `<server>.refusals.<reason>` counters of naming and tcp. Pure functions; the supervisor's
 * status view calls {@link appLines}.
 *
 * @module
 */

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
          pad(String(o.command ?? "?"), 16),
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

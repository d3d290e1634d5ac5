/**
 * Text rendering of the status document: `./joyride status` and the live view of
 * `./joyride start`. Pure functions.
 */
import type { ServerStatus, Status } from "./supervisor.ts";
import { appLines } from "../naming/policy_status.ts";

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** Formats seconds as "1h02m", "3m05s", "12.3s". */
export function formatUptime(secs: number): string {
  if (secs < 60) return `${secs.toFixed(1)}s`;
  const m = Math.floor(secs / 60);
  if (m < 60) return `${m}m${String(Math.floor(secs % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** Formats a rate with a unit prefix: 1234567 → "1.23M". */
export function formatRate(x: number): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

/** Per-second rates of the numeric counters between two status documents. */
export function rates(prev: Status | undefined, cur: Status, dtSecs: number): Map<string, number> {
  const out = new Map<string, number>();
  if (!prev || dtSecs <= 0) return out;
  for (const [k, v] of Object.entries(cur.counters)) {
    const before = prev.counters[k];
    if (typeof before === "number" && v >= before) out.set(k, (v - before) / dtSecs);
  }
  return out;
}

function serverRow(s: ServerStatus): string {
  const beat = s.lastHeartbeat === null ? "-" : `${s.lastHeartbeat.toFixed(1)}s ago`;
  return [
    pad(s.name, 11),
    pad(String(s.pid ?? "-"), 8),
    pad(s.state, 11),
    pad(String(s.generation), 4),
    pad(String(s.restarts), 9),
    pad(formatUptime(s.uptime), 9),
    beat,
  ].join(" ");
}

/** The status as a table, with rates when a previous document is given. */
export function renderStatus(cur: Status, prev?: Status, dtSecs = 0): string {
  const lines: string[] = [];
  const t = cur.topology;
  lines.push(
    `Joyride instance "${cur.instance}": ${t.address} on ${t.interface} in netns ${t.namespace}; ` +
      (t.memif
        ? `peer ${t.peerAddress} over memif ${t.memif.socket}; MTU ${t.mtu}`
        : `peer ${t.peerAddress} in netns ${t.peerNamespace}; MTU ${t.mtu}`),
  );
  lines.push("");
  lines.push(
    [
      pad("SERVER", 11),
      pad("PID", 8),
      pad("STATE", 11),
      pad("GEN", 4),
      pad("RESTARTS", 9),
      pad("UPTIME", 9),
      "HEARTBEAT",
    ].join(" "),
  );
  for (const s of cur.servers) lines.push(serverRow(s));
  const r = rates(prev, cur, dtSecs);
  const c = cur.counters;
  const traffic: string[] = [];
  for (const [label, key] of [["rx", "tcp.rxFrames"], ["tx", "tcp.txFrames"]] as const) {
    if (typeof c[key] !== "number") continue;
    const bytes = key.replace("Frames", "Bytes");
    const pps = r.get(key);
    const bps = r.get(bytes);
    traffic.push(
      `${label} ${c[key]} frames` +
        (pps !== undefined ? ` (${formatRate(pps)} frames/s` : "") +
        (pps !== undefined && bps !== undefined ? `, ${formatRate(bps * 8)}bit/s)` : "") +
        (pps !== undefined && bps === undefined ? ")" : ""),
    );
  }
  if (traffic.length > 0) {
    lines.push("");
    lines.push(`Traffic: ${traffic.join("; ")}`);
  }
  lines.push("");
  lines.push(`Sockets (${cur.sockets.length}):`);
  for (const s of cur.sockets.slice(0, 20)) {
    if (typeof s === "object" && s !== null) {
      const o = s as Record<string, unknown>;
      lines.push(
        `  ${pad(String(o.proto ?? "?"), 4)} ${pad(String(o.local ?? "?"), 22)} ` +
          `${pad(String(o.remote ?? "*"), 22)} ${String(o.state ?? "")}`,
      );
    } else lines.push(`  ${String(s)}`);
  }
  if (cur.sockets.length > 20) lines.push(`  … ${cur.sockets.length - 20} more`);
  lines.push(...appLines(cur.apps, cur.counters)); // issue 6: apps and refusals
  return lines.join("\n");
}

/**
 * The host's socket buffer ceilings (net.core.rmem_max / wmem_max), which Linux caps
 * SO_RCVBUF/SO_SNDBUF at before doubling them for getsockopt: read once from /proc/sys (the
 * service, not the sans-I/O engine), Linux's default 212,992 when they cannot be read.
 */

/** Linux's default for both ceilings (and for rmem_default/wmem_default). */
export const LINUX_DEFAULT_BUF_MAX = 212992;

const cache = new Map<string, number>();

/** A positive integer from the first line of `text`, else undefined. */
export function parseSysctl(text: string): number | undefined {
  const v = Number(text.trim());
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** `net.core.rmem_max` (which "rmem") or `wmem_max` ("wmem") of this host. */
export function bufMax(which: "rmem" | "wmem"): number {
  let v = cache.get(which);
  if (v === undefined) {
    try {
      v = parseSysctl(Deno.readTextFileSync(`/proc/sys/net/core/${which}_max`));
    } catch {
      v = undefined;
    }
    v ??= LINUX_DEFAULT_BUF_MAX;
    cache.set(which, v);
  }
  return v;
}

/**
 * What getsockopt reads back after SO_SNDBUF/SO_RCVBUF was set to `v` (Linux: twice the value,
 * capped at the host's ceiling first, at least 4,608 / 2,304).
 */
export function bufReadBack(name: "snd" | "rcv", v: number): number {
  const min = name === "snd" ? 4608 : 2304;
  return Math.max(min, 2 * Math.min(v, bufMax(name === "snd" ? "wmem" : "rmem")));
}

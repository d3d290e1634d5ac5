/**
 * The ephemeral port range, shared by TCP and UDP, as FreeBSD's sysctls
 * `net.inet.ip.portrange.first` and `.last` name it. The default is 49152–65535 (16,384 ports,
 * IANA's dynamic range, FreeBSD's `hifirst`/`hilast`), so that a port an app's server binds
 * later (below 49152) is not already taken by an outgoing connection. A range given backwards
 * is used forwards, as FreeBSD does.
 *
 * @module
 */
import type { Sysctls } from "../sysctl.ts";

export const PORTRANGE_FIRST = "net.inet.ip.portrange.first";
export const PORTRANGE_LAST = "net.inet.ip.portrange.last";

/** Defines the two sysctls on `s` unless another protocol did. */
export function definePortRange(s: Sysctls): void {
  const check = { min: 1024, max: 65535 };
  if (!s.has(PORTRANGE_FIRST)) {
    s.define(PORTRANGE_FIRST, 49152, check, "First port of the ephemeral range");
  }
  if (!s.has(PORTRANGE_LAST)) {
    s.define(PORTRANGE_LAST, 65535, check, "Last port of the ephemeral range");
  }
}

/** The range now: its first port and how many ports it has. */
export function portRange(s: Sysctls): { first: number; span: number } {
  let first = s.getNumber(PORTRANGE_FIRST);
  let last = s.getNumber(PORTRANGE_LAST);
  if (first > last) [first, last] = [last, first];
  return { first, span: last - first + 1 };
}

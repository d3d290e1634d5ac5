/**
 * A small SVG line-chart writer for the benchmark plots (no plotting dependency): axes with
 * ticks, one polyline with point markers per series, a legend. Linear or log2 x axis.
 *
 * ```ts
 * const svg = lineChart({
 *   title: "Throughput vs buffer size",
 *   xLabel: "buffer (bytes)",
 *   yLabel: "Gbit/s",
 *   logX: true,
 *   series: [{ name: "Linux", points: [[64, 0.1], [65536, 4]] }],
 * });
 * ```
 * @module
 */

/** One line of a chart. */
export interface Series {
  name: string;
  points: [number, number][];
  /** Dashed line (e.g. the non-blocking variant). */
  dashed?: boolean;
}

/** What to draw. */
export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** x on a log2 scale (buffer sizes); all x must then be > 0. */
  logX?: boolean;
  width?: number;
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/** Escapes text for SVG. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** Up to ~`n` round tick values covering [0, max] (1, 2 or 5 × a power of ten apart). */
export function niceTicks(max: number, n = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

/** A short label for a number (1.5k, 64K for powers of two on a log axis). */
export function label(v: number, pow2 = false): string {
  if (pow2 && v >= 1024 && v % 1024 === 0) return `${v / 1024}K`;
  if (Math.abs(v) >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (Math.abs(v) >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

/** Renders `c` as a standalone SVG document. */
export function lineChart(c: Chart): string {
  const W = c.width ?? 640, H = c.height ?? 400;
  const L = 70, R = 20, T = 40, B = 60;
  const pts = c.series.flatMap((s) => s.points);
  const fx = (x: number) => (c.logX ? Math.log2(x) : x);
  const xs = pts.map((p) => fx(p[0]));
  let x0 = xs.length ? Math.min(...xs) : 0, x1 = xs.length ? Math.max(...xs) : 1;
  if (x1 === x0) x1 = x0 + 1;
  if (!c.logX) x0 = Math.min(0, x0);
  const yTicks = niceTicks(Math.max(0, ...pts.map((p) => p[1])));
  const y1 = yTicks[yTicks.length - 1];
  const px = (x: number) => L + ((fx(x) - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - (y / y1) * (H - T - B);
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
      `viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(c.title)}</text>`,
  );
  // Axes and ticks.
  o.push(
    `<path d="M${L} ${T}V${H - B}H${W - R}" fill="none" stroke="black"/>`,
  );
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    o.push(`<path d="M${L - 4} ${y}H${W - R}" stroke="#ddd"/>`);
    o.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dy="4">${label(t)}</text>`);
  }
  const xTicks = c.logX
    ? [...new Set(pts.map((p) => p[0]))].sort((a, b) => a - b)
    : niceTicks(x1).filter((t) => t >= x0);
  for (const t of xTicks) {
    const x = px(t).toFixed(1);
    o.push(`<path d="M${x} ${H - B}V${H - B + 4}" stroke="black"/>`);
    o.push(
      `<text x="${x}" y="${H - B + 18}" text-anchor="middle">${label(t, c.logX)}</text>`,
    );
  }
  o.push(
    `<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">${esc(c.xLabel)}</text>`,
  );
  o.push(
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${
      esc(c.yLabel)
    }</text>`,
  );
  // Series.
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = sorted.map((p, j) => `${j ? "L" : "M"}${px(p[0]).toFixed(1)} ${py(p[1]).toFixed(1)}`)
      .join("");
    if (d) {
      o.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${
          s.dashed ? ' stroke-dasharray="6 4"' : ""
        }/>`,
      );
    }
    for (const p of sorted) {
      o.push(
        `<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${color}"/>`,
      );
    }
    const ly = T + 8 + i * 16;
    o.push(
      `<path d="M${L + 10} ${ly}h24" stroke="${color}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="6 4"' : ""
      }/>`,
    );
    o.push(`<text x="${L + 40}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  o.push("</svg>");
  return o.join("\n") + "\n";
}

/** The `q` quantile (0..1) of `xs` (nearest rank); NaN for none. */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** A grouped bar chart: one group per category, one bar per series in each. */
export interface BarChart {
  title: string;
  yLabel: string;
  /** Series names (the legend), e.g. ["Joyride", "Linux"]. */
  series: string[];
  /** Categories; `values[i]` is series i's bar (NaN: no bar). */
  groups: { name: string; values: number[] }[];
  width?: number;
  height?: number;
}

/** Renders `c` as a standalone SVG document, each bar labelled with its value. */
export function barChart(c: BarChart): string {
  const W = c.width ?? 640, H = c.height ?? 400;
  const L = 70, R = 20, T = 40, B = 60;
  const vals = c.groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v));
  const yTicks = niceTicks(Math.max(0, ...vals));
  const y1 = yTicks[yTicks.length - 1];
  const py = (y: number) => H - B - (y / y1) * (H - T - B);
  const gw = (W - L - R) / Math.max(1, c.groups.length);
  const bw = (gw * 0.7) / Math.max(1, c.series.length);
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
      `viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(c.title)}</text>`);
  o.push(`<path d="M${L} ${T}V${H - B}H${W - R}" fill="none" stroke="black"/>`);
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    o.push(`<path d="M${L - 4} ${y}H${W - R}" stroke="#ddd"/>`);
    o.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dy="4">${label(t)}</text>`);
  }
  o.push(
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${
      esc(c.yLabel)
    }</text>`,
  );
  c.groups.forEach((g, gi) => {
    const gx = L + gi * gw + gw * 0.15;
    g.values.forEach((v, si) => {
      if (!Number.isFinite(v)) return;
      const x = gx + si * bw, y = py(Math.max(0, v));
      o.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" ` +
          `height="${(H - B - y).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"/>`,
      );
      o.push(
        `<text x="${(x + bw / 2).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" ` +
          `font-size="10">${label(v)}</text>`,
      );
    });
    o.push(
      `<text x="${(L + gi * gw + gw / 2).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${
        esc(g.name)
      }</text>`,
    );
  });
  c.series.forEach((s, i) => {
    const ly = T + 8 + i * 16;
    o.push(
      `<rect x="${W - R - 150}" y="${ly - 6}" width="12" height="12" fill="${
        COLORS[i % COLORS.length]
      }"/>`,
    );
    o.push(`<text x="${W - R - 132}" y="${ly + 4}">${esc(s)}</text>`);
  });
  o.push("</svg>");
  return o.join("\n") + "\n";
}

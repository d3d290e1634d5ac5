import assert from "node:assert/strict";
import fc from "fast-check";
import { barChart, esc, lineChart, niceTicks, quantile } from "./bench_svg.ts";

Deno.test("niceTicks: covers the maximum with round steps from 0", () => {
  assert.deepEqual(niceTicks(10), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0), [0, 1]);
  fc.assert(
    fc.property(fc.double({ min: 1e-3, max: 1e9, noNaN: true }), (max) => {
      const t = niceTicks(max);
      assert.deepEqual(t[0], 0);
      assert(t[t.length - 1] >= max * (1 - 1e-9), `${t} covers ${max}`);
      assert(t.length <= 12);
      for (let i = 1; i < t.length; i++) assert(t[i] > t[i - 1]);
    }),
    { seed: 9, numRuns: 200 },
  );
});

Deno.test("lineChart: one polyline and a legend entry per series, points inside the plot", () => {
  const svg = lineChart({
    title: "a < b & c",
    xLabel: "buffer",
    yLabel: "Gbit/s",
    logX: true,
    width: 600,
    height: 400,
    series: [
      { name: "Linux", points: [[64, 1], [1024, 4], [65536, 9]] },
      { name: "Joyride", points: [[64, 0.5], [65536, 2]], dashed: true },
    ],
  });
  assert(svg.startsWith("<svg "));
  assert(svg.trimEnd().endsWith("</svg>"));
  assert(svg.includes("a &lt; b &amp; c"));
  assert.deepEqual(svg.match(/<circle /g)?.length, 5);
  assert.deepEqual(svg.match(/stroke-dasharray/g)?.length, 2); // line + legend
  assert(svg.includes(">64K<"));
  for (const m of svg.matchAll(/cx="([\d.]+)" cy="([\d.]+)"/g)) {
    const [x, y] = [Number(m[1]), Number(m[2])];
    assert(x >= 0 && x <= 600 && y >= 0 && y <= 400, `${x},${y}`);
  }
});

Deno.test("esc and quantile", () => {
  assert.deepEqual(esc(`"<&>"`), "&quot;&lt;&amp;&gt;&quot;");
  assert.deepEqual(quantile([5, 1, 3, 2, 4], 0.5), 3);
  assert.deepEqual(quantile([1, 2, 3, 4], 0.99), 4);
  assert(Number.isNaN(quantile([], 0.5)));
});

Deno.test("barChart: one bar per finite value, inside the plot, tallest at the top tick", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 2 }),
        {
          minLength: 1,
          maxLength: 5,
        },
      ),
      (vals) => {
        const svg = barChart({
          title: "t",
          yLabel: "MB",
          series: ["Joyride", "Linux"],
          groups: vals.map((v, i) => ({ name: `g${i}`, values: [v[0], v[1]] })),
        });
        const bars = [
          ...svg.matchAll(
            /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="#/g,
          ),
        ];
        // Two legend swatches use the same form: the rest are the bars.
        assert.equal(bars.length, vals.length * 2 + 2);
        for (const b of bars) {
          const [x, y, , h] = b.slice(1).map(Number);
          assert(x >= 70 && x <= 640 - 20 + 1e-6, `x ${x}`);
          assert(y >= 40 - 1e-6 && y + h <= 400 - 60 + 0.2, `y ${y} h ${h}`);
        }
      },
    ),
    { seed: 11, numRuns: 100 },
  );
  const svg = barChart({
    title: "a",
    yLabel: "b",
    series: ["J"],
    groups: [{ name: "x", values: [NaN] }],
  });
  assert(!svg.includes('height="NaN"'));
});

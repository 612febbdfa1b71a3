// overview.js: totals, success rate, the reward histogram (SVG), per model
// and per run (when the api knows runs).
import { h, fix, s, api, gatewayIndex, num, pct, table, link } from "./util.js";

function card(label, value, sub) {
  return h("div", { class: "card" }, h("div", { class: "card-label", text: label }),
    h("div", { class: "card-value", text: value }), sub ? h("div", { class: "card-sub", text: sub }) : null);
}

// The 22 bins of stats' histogram: below 0, twenty of width 0.05, above 1.
function binLabel(i) {
  if (i === 0) return "< 0";
  if (i === 21) return "> 1";
  return `${((i - 1) * 0.05).toFixed(2)}–${(i * 0.05).toFixed(2)}`;
}

export function histogram(counts) {
  const W = 660, H = 220, pad = 30, bw = (W - 2 * pad) / counts.length;
  const max = Math.max(1, ...counts);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 40}`, class: "histogram", role: "img",
                         "aria-label": "reward histogram" });
  svg.appendChild(s("line", { x1: pad, y1: H, x2: W - pad, y2: H, class: "axis" }));
  counts.forEach((c, i) => {
    const bh = (H - 20) * (c / max);
    const bar = s("rect", { x: pad + i * bw + 1, y: H - bh, width: bw - 2, height: bh,
                            class: i === 0 || i === 21 ? "bar out" : "bar" },
                  s("title", { text: `${binLabel(i)}: ${c.toLocaleString("en-US")}` }));
    svg.appendChild(bar);
    if (c > 0) svg.appendChild(s("text", { x: pad + (i + 0.5) * bw, y: H - bh - 4, class: "count",
                                           text: c.toLocaleString("en-US") }));
  });
  for (const [i, t] of [[0, "<0"], [1, "0"], [11, "0.5"], [21, "1"], [21.5, ">1"]]) {
    const x = pad + (i === 21.5 ? 21.5 : i) * bw;
    svg.appendChild(s("text", { x, y: H + 16, class: "tick", text: t }));
  }
  svg.appendChild(s("text", { x: W / 2, y: H + 34, class: "label", text: "reward" }));
  return svg;
}

function totalsCols(firstLabel, firstCell) {
  return [
    { label: firstLabel, cell: firstCell },
    { label: "records", key: "records", num: true },
    { label: "success rate", num: true, cell: (r) => pct(r.success_rate) },
    { label: "reward mean", num: true, cell: (r) => fix(r.reward_mean) },
    { label: "reward std", num: true, cell: (r) => fix(r.reward_std) },
    { label: "steps mean", num: true, cell: (r) => num(r.steps_mean, 1) },
  ];
}

export async function render(view) {
  const [stats, index] = await Promise.all([api("stats"), gatewayIndex()]);
  const t = stats.totals;
  view.append(
    h("h1", { text: "Overview" }),
    h("div", { class: "cards", id: "totals" },
      card("records", num(t.records)),
      card("groups", num(stats.groups)),
      card("success rate", pct(t.success_rate), `${num(t.successes)} of ${num(t.success_known)} known`),
      card("reward mean", fix(t.reward_mean), t.reward_n ? `std ${fix(t.reward_std)}, ${fix(t.reward_min)} to ${fix(t.reward_max)}` : "no rewards"),
      card("steps mean", num(t.steps_mean, 1))),
    h("h2", { text: "Reward distribution" }),
    histogram(t.histogram || []));
  const models = Object.entries(stats.models || {}).map(([m, v]) => ({ model: m, ...v }))
    .sort((a, b) => b.records - a.records);
  view.append(h("h2", { text: "Per model" }),
    table(totalsCols("model", (r) => h("a", { href: link("records", { model: r.model }), text: r.model })), models,
          { class: "models" }));
  if (index.api && index.api.runs) {
    const rows = (await api("runs")).runs || [];
    const cols = [
      { label: "run", cell: (r) => h("a", { href: link("records", { run: r.run }), text: r.run }) },
      { label: "records", key: "records", num: true },
      { label: "groups", key: "groups", num: true },
      { label: "success rate", num: true, cell: (r) => pct(r.success_rate) },
      { label: "reward mean", num: true, cell: (r) => fix(r.reward_mean) },
      { label: "pass@1", num: true, cell: (r) => fix(r["pass@1"]) },
      { label: "pass@5", num: true, cell: (r) => fix(r["pass@5"]) },
      { label: "pass@10", num: true, cell: (r) => fix(r["pass@10"]) },
      { label: "groups table", cell: (r) => h("a", { href: link("groups", { run: r.run }), text: "groups" }) },
    ];
    view.append(h("h2", { text: "Per run" }), table(cols, rows, { class: "runs" }));
  }
}

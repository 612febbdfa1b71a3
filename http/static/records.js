// records.js: the records with filters (group, run, model, success, reward
// and created ranges), sort, and cursor paging ("load more" asks for the
// page after the last one shown, at the same cost however deep).
import { h, fix, api, gatewayIndex, go, link, num, time, table, appendRows, successBadge } from "./util.js";

const FILTERS = ["group", "run", "model", "success", "reward_lo", "reward_hi", "created_from", "created_to"];

// The api's parameters from the URL's.
export function query(p) {
  const range = (lo, hi) => (p.get(lo) || p.get(hi) ? `${p.get(lo) || ""}:${p.get(hi) || ""}` : null);
  const times = (lo, hi) => (p.get(lo) || p.get(hi) ? `${p.get(lo) || ""}..${p.get(hi) || ""}` : null);
  return {
    group: p.getAll("group").filter(Boolean), run: p.get("run"), model: p.get("model"),
    success: p.get("success"), reward: range("reward_lo", "reward_hi"),
    created: times("created_from", "created_to"),
  };
}

function field(label, input) {
  return h("label", { class: "field" }, h("span", { text: label }), input);
}

export async function render(view, r) {
  const p = r.params;
  const sort = p.get("sort") || "-created";
  const limit = parseInt(p.get("limit") || "50", 10) || 50;
  const q = query(p);
  const [index, stats, page, count] = await Promise.all([
    gatewayIndex(), api("stats"), api("records", { ...q, sort, limit }), api("count", q)]);
  const runs = index.api && index.api.runs;

  const inp = (name, attrs = {}) => h("input", { name, value: p.get(name) || "", ...attrs });
  const models = Object.keys(stats.models || {}).sort();
  const form = h("form", { class: "filters", id: "filters", on: { submit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const out = {};
    for (const k of [...FILTERS, "sort", "limit"]) {
      const v = (f.get(k) || "").toString().trim();
      if (v) out[k] = v;
    }
    go("records", out);
  } } },
    field("group", inp("group", { placeholder: "q-000042" })),
    runs ? field("run", inp("run")) : null,
    field("model", h("select", { name: "model" }, h("option", { value: "", text: "any" }),
      models.map((m) => h("option", { value: m, text: m, selected: m === p.get("model") })))),
    field("success", h("select", { name: "success" },
      [["", "any"], ["true", "success"], ["false", "failure"]].map(([v, t]) =>
        h("option", { value: v, text: t, selected: (p.get("success") || "") === v })))),
    field("reward ≥", inp("reward_lo", { type: "number", step: "any", size: 6 })),
    field("reward ≤", inp("reward_hi", { type: "number", step: "any", size: 6 })),
    field("created from", inp("created_from", { placeholder: "2026-01-01 or epoch ms" })),
    field("created to", inp("created_to", { placeholder: "2026-02-01T12:00:00Z" })),
    field("sort", h("select", { name: "sort" },
      [["-created", "newest"], ["created", "oldest"], ["-reward", "reward ↓"], ["reward", "reward ↑"], ["id", "id ↑"], ["-id", "id ↓"]]
        .map(([v, t]) => h("option", { value: v, text: t, selected: v === sort })))),
    field("page", inp("limit", { type: "number", min: 1, max: 10000, size: 5, value: String(limit) })),
    h("button", { type: "submit", text: "apply" }),
    h("a", { href: link("records"), class: "reset", text: "reset" }));

  const cols = [
    { label: "id", cell: (s) => h("a", { href: link("trajectory", {}, s.id), class: "id", text: s.id }) },
    { label: "group", cell: (s) => (s.group === null ? "–" : h("a", { href: link("records", { group: s.group }), text: s.group })) },
    { label: "model", cell: (s) => s.model ?? "–" },
    runs ? { label: "run", cell: (s) => s.run ?? "–" } : null,
    { label: "reward", num: true, cell: (s) => fix(s.reward) },
    { label: "success", cell: (s) => successBadge(s.success) },
    { label: "created", cell: (s) => time(s.created_ms) },
    { label: "steps", num: true, cell: (s) => num(s.steps) },
  ].filter(Boolean);
  const grid = table(cols, page.items, { class: "records" });
  const body = grid.querySelector("tbody");
  const shown = h("span", { id: "shown", text: String(page.items.length) });
  let next = page.next;
  const more = h("button", { type: "button", id: "more", text: "load more", disabled: !next, on: { click: async () => {
    more.disabled = true;
    const pg = await api("records", { ...q, sort, limit, cursor: next });
    appendRows(body, cols, pg.items);
    shown.textContent = String(body.children.length);
    next = pg.next;
    more.disabled = !next;
  } } });
  view.append(h("h1", { text: "Records" }), form,
    h("p", { class: "summary", id: "records-count" }, `${num(count.count)} records match; `, shown, " shown"),
    grid, h("div", { class: "toolbar" }, more));
}

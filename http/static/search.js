// search.js: full-text search over the records' steps (GET /v1/search,
// docs/SEARCH.md): a query box, newest first or by relevance, each hit with
// the step holding its first match and a snippet around it.
import { h, api, go, link, num, time, table, successBadge } from "./util.js";

export async function render(view, r) {
  const p = r.params;
  const q = (p.get("q") || "").trim();
  const order = p.get("order") === "relevance" ? "relevance" : "newest";
  const input = h("input", { name: "q", value: q, placeholder: "ModuleNotFoundError \"no module named\"",
                             "aria-label": "search terms", size: 40 });
  const form = h("form", { class: "filters", id: "search-form", on: { submit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const out = { q: (f.get("q") || "").toString().trim() };
    if (f.get("order") === "relevance") out.order = "relevance";
    go("search", out);
  } } },
    input,
    h("select", { name: "order", "aria-label": "order" }, [["newest", "newest"], ["relevance", "relevance"]]
      .map(([v, t]) => h("option", { value: v, text: t, selected: v === order }))),
    h("button", { type: "submit", text: "search" }));
  view.append(h("h1", { text: "Search" }), form);
  if (!q) {
    view.append(h("p", { class: "muted", text: "Every word must be in a step; quote a phrase; case and accents are ignored." }));
    return;
  }
  const got = await api("search", { q, order, limit: 50 });
  const cols = [
    { label: "id", cell: (x) => h("a", { class: "id", href: link("trajectory", {}, x.id), text: x.id }) },
    { label: "model", cell: (x) => x.model || "–" },
    { label: "success", cell: (x) => successBadge(x.success) },
    { label: "reward", num: true, cell: (x) => num(x.reward) },
    { label: "created", cell: (x) => time(x.created_ms) },
    { label: "step", num: true, cell: (x) => String(x.step) },
    { label: "snippet", cell: (x) => h("span", { class: "snippet", text: x.snippet || "" }) },
  ];
  view.append(
    h("p", { class: "muted", id: "search-count", text: `${got.count} record${got.count === 1 ? "" : "s"}${got.more ? " (more match: narrow the query)" : ""}` }),
    table(cols, got.items || [], { class: "search" }));
}

// groups.js: the groups table (sorted by the api on any column), the
// pass/fail/mixed filter, pass@k; a click on a group opens its attempts,
// from which two can be compared.
import { h, fix, api, go, link, num, pct, table, successBadge, time } from "./util.js";

const PAGE = 100;

function attempts(group, run, row, ncols) {
  const box = h("td", { colspan: ncols, class: "attempts" }, h("p", { class: "loading", text: "loading…" }));
  const tr = h("tr", { class: "attempts-row" }, box);
  row.after(tr);
  api("records", { group, run: run || null, sort: "-reward", limit: 1000 }).then((page) => {
    const picked = [];
    const cmp = h("button", { type: "button", class: "compare-btn", disabled: true, text: "compare the two checked",
      on: { click: () => go("compare", { a: picked[0], b: picked[1], group }) } });
    const cols = [
      { label: "", cell: (r) => h("input", { type: "checkbox", "aria-label": "pick " + r.id, on: { change: (ev) => {
        if (ev.target.checked) picked.push(r.id); else picked.splice(picked.indexOf(r.id), 1);
        while (picked.length > 2) {
          const old = picked.shift();
          for (const cb of box.querySelectorAll("input[type=checkbox]")) if (cb.getAttribute("aria-label") === "pick " + old) cb.checked = false;
        }
        cmp.disabled = picked.length !== 2;
      } } }) },
      { label: "attempt", cell: (r) => h("a", { href: link("trajectory", {}, r.id), text: r.id, class: "id" }) },
      { label: "model", cell: (r) => r.model ?? "–" },
      { label: "reward", num: true, cell: (r) => fix(r.reward) },
      { label: "success", cell: (r) => successBadge(r.success) },
      { label: "steps", num: true, cell: (r) => num(r.steps) },
      { label: "created", cell: (r) => time(r.created_ms) },
    ];
    box.replaceChildren(
      h("div", { class: "toolbar" }, `${page.items.length} attempts`, cmp,
        h("a", { href: link("records", { group }), text: "open in Records" })),
      table(cols, page.items, { class: "attempt-list" }));
  }).catch((e) => box.replaceChildren(h("div", { class: "error", text: e.message })));
}

export async function render(view, r) {
  const p = r.params;
  const only = p.get("only") || "";
  const run = p.get("run") || "";
  const sort = p.get("sort") || "-records";
  const offset = parseInt(p.get("offset") || "0", 10) || 0;
  const state = { only, sort, offset, run };
  const reply = await api("groups", { only, sort, limit: PAGE, offset, run });
  const nav = (o) => go("groups", { ...state, ...o });
  const filters = h("div", { class: "toolbar filters", role: "group", "aria-label": "filter" },
    [["", "all"], ["pass", "pass"], ["fail", "fail"], ["mixed", "mixed"]].map(([v, label]) =>
      h("button", { type: "button", class: "chip" + (only === v ? " active" : ""), dataset: { only: v }, text: label,
                    on: { click: () => nav({ only: v, offset: 0 }) } })));
  const cols = [
    { label: "group", sort: "group", cell: (g) => h("button", { type: "button", class: "link group-open", text: g.group,
        on: { click: (ev) => {
          const tr = ev.target.closest("tr");
          const next = tr.nextElementSibling;
          if (next && next.classList.contains("attempts-row")) next.remove();
          else attempts(g.group, run, tr, cols.length);
        } } }) },
    { label: "records", key: "records", sort: "records", num: true },
    { label: "successes", key: "successes", sort: "successes", num: true },
    { label: "success rate", sort: "success_rate", num: true, cell: (g) => pct(g.success_rate) },
    { label: "reward mean", sort: "reward_mean", num: true, cell: (g) => fix(g.reward_mean) },
    { label: "reward max", sort: "reward_max", num: true, cell: (g) => fix(g.reward_max) },
    { label: "pass@1", sort: "pass@1", num: true, cell: (g) => fix(g["pass@1"]) },
    { label: "pass@5", sort: "pass@5", num: true, cell: (g) => fix(g["pass@5"]) },
    { label: "pass@10", sort: "pass@10", num: true, cell: (g) => fix(g["pass@10"]) },
  ];
  const last = Math.min(offset + reply.groups.length, reply.total);
  view.append(
    h("h1", { text: "Groups" }),
    filters,
    h("p", { class: "summary", id: "groups-total" },
      `${num(reply.total)} groups${only ? " (" + only + ")" : ""}${run ? " of run " + run : ""}; ${reply.total ? offset + 1 : 0}–${last} shown`),
    table(cols, reply.groups, { sort, onSort: (s) => nav({ sort: s, offset: 0 }), class: "groups",
                                rowAttrs: (g) => ({ dataset: { group: g.group } }) }),
    h("div", { class: "toolbar pager" },
      h("button", { type: "button", text: "◀ previous", disabled: offset === 0,
                    on: { click: () => nav({ offset: Math.max(0, offset - PAGE) }) } }),
      h("button", { type: "button", text: "next ▶", disabled: reply.next === null || reply.next === undefined,
                    on: { click: () => nav({ offset: reply.next }) } })));
}

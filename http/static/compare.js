// compare.js: two attempts side by side, step against step (aligned by
// index), rows that differ marked, and within a differing text the part
// between the common start and the common end highlighted. Pick the two
// from a group's attempts or paste two ids.
import { h, fix, api, profiles, go, link, num, successBadge, time } from "./util.js";
import { findSteps, prepare, flat } from "./steps.js";

const FOLD = 2000;

// [same start, differing middle, same end] of a against b.
function split(a, b) {
  let i = 0;
  const n = Math.min(a.length, b.length);
  while (i < n && a[i] === b[i]) i++;
  let j = 0;
  while (j < n - i && a[a.length - 1 - j] === b[b.length - 1 - j]) j++;
  return [a.slice(0, i), a.slice(i, a.length - j), a.slice(a.length - j)];
}

function cell(s, other, i) {
  if (!s) return h("td", { class: "absent" }, h("span", { class: "muted", text: "(no step)" }));
  const text = flat(s);
  const pre = h("pre", { class: "content" });
  if (other && text !== flat(other)) {
    const [a, mid, z] = split(text, flat(other));
    const cut = (t, keep) => (t.length > keep ? "…" + t.slice(t.length - keep) : t);
    pre.append(cut(a, 300), h("mark", { text: mid.length > FOLD ? mid.slice(0, FOLD) + " …" : mid }), z.length > 300 ? z.slice(0, 300) + "…" : z);
  } else pre.textContent = text.length > FOLD ? text.slice(0, FOLD) + " …" : text;
  return h("td", { class: `role-${s.role.replace(/[^a-z0-9_-]/gi, "_")}` },
    h("div", { class: "step-head" }, h("span", { class: "step-no", text: `#${i + 1}` }), h("span", { class: "role", text: s.role })), pre);
}

function head(sum) {
  return h("th", { scope: "col", class: "side" },
    h("a", { href: link("trajectory", {}, sum.id), class: "id", text: sum.id }),
    h("div", { class: "facts-line" }, `reward ${fix(sum.reward)} · `, successBadge(sum.success),
      ` · ${sum.model ?? "–"} · ${num(sum.steps)} steps · ${time(sum.created_ms)}`));
}

async function picker(view, p) {
  const a = h("input", { name: "a", value: p.get("a") || "", placeholder: "first id", size: 40, "aria-label": "first id" });
  const b = h("input", { name: "b", value: p.get("b") || "", placeholder: "second id", size: 40, "aria-label": "second id" });
  const group = p.get("group");
  view.append(h("h1", { text: "Compare" }),
    h("form", { class: "filters", id: "compare-form", on: { submit: (ev) => {
      ev.preventDefault();
      go("compare", { a: a.value.trim(), b: b.value.trim(), group });
    } } }, a, b, h("button", { type: "submit", text: "compare" })));
  if (group) {
    const page = await api("records", { group, sort: "-reward", limit: 1000 });
    view.append(h("p", { class: "muted" }, `attempts of ${group}: click A or B`),
      h("ul", { class: "pick" }, page.items.map((s) => h("li", {},
        h("button", { type: "button", text: "A", on: { click: () => { a.value = s.id; } } }),
        h("button", { type: "button", text: "B", on: { click: () => { b.value = s.id; } } }),
        ` ${s.id} · reward ${fix(s.reward)} · `, successBadge(s.success)))));
  }
}

export async function render(view, r) {
  const p = r.params;
  if (!p.get("a") || !p.get("b")) return picker(view, p);
  const [A, B, profs] = await Promise.all([api("records/" + encodeURIComponent(p.get("a"))),
    api("records/" + encodeURIComponent(p.get("b"))), profiles()]);
  const sa = prepare(findSteps(A.record, A.summary, profs, p.get("steps")).steps);
  const sb = prepare(findSteps(B.record, B.summary, profs, p.get("steps")).steps);
  const n = Math.max(sa.length, sb.length);
  let differ = 0;
  const rows = [];
  for (let i = 0; i < n; i++) {
    const same = sa[i] && sb[i] && sa[i].role === sb[i].role && flat(sa[i]) === flat(sb[i]);
    if (!same) differ++;
    rows.push(h("tr", { class: same ? "same" : "differ", dataset: { index: i } }, cell(sa[i], sb[i], i), cell(sb[i], sa[i], i)));
  }
  await picker(view, p);
  view.append(h("p", { class: "summary", id: "compare-summary" },
      `${n} aligned steps, ${differ} differ`),
    h("table", { class: "compare" }, h("thead", {}, h("tr", {}, head(A.summary), head(B.summary))), h("tbody", {}, rows)));
}

// trajectory.js: one record: its summary, its steps by role with tool calls
// and their results side by side, long contents folded, the raw JSON, the
// previous and next attempt of its group. Steps are drawn in slices of
// SLICE, one slice a frame, so a 2 MB trajectory shows its first steps at
// once and the page never freezes.
import { h, fix, append, api, profiles, link, num, time, successBadge, folded, copyText, route } from "./util.js";
import { findSteps, prepare } from "./steps.js";

const SLICE = 60;
const RAW_FOLD = 200000;

function callRow(c, jump) {
  return h("div", { class: "call-row" },
    h("div", { class: "call" }, h("div", { class: "call-head" }, h("span", { class: "tag", text: "tool call" }), " ",
      h("code", { class: "call-name", text: c.name }), c.id !== null ? h("span", { class: "muted", text: ` ${c.id}` }) : null),
      folded(c.args, 1200)),
    h("div", { class: "result" + (c.result === undefined ? " missing" : "") },
      h("div", { class: "call-head" }, h("span", { class: "tag", text: "result" }),
        c.resultStep !== undefined ? h("button", { type: "button", class: "link", text: `step ${c.resultStep + 1}`,
                                                   on: { click: () => jump(c.resultStep) } }) : null),
      c.result === undefined ? h("p", { class: "muted", text: "no result in this trajectory" })
                             : h("div", { class: "tool-result" }, folded(c.result, 1200))));
}

export function stepNode(s, i, jump) {
  const el = h("section", { class: `step role-${s.role.replace(/[^a-z0-9_-]/gi, "_")}`, id: `step-${i}`,
                            dataset: { index: i } },
    h("div", { class: "step-head" }, h("span", { class: "step-no", text: `#${i + 1}` }),
      h("span", { class: "role", text: s.role }), s.name ? h("span", { class: "muted", text: s.name }) : null));
  if (s.shownAt !== undefined) {
    el.append(h("p", { class: "muted shown-at" }, "tool result, shown beside its call in ",
      h("button", { type: "button", class: "link", text: `step ${s.shownAt + 1}`, on: { click: () => jump(s.shownAt) } })));
    return el;
  }
  if (s.text) el.append(folded(s.text));
  for (const c of s.calls) el.append(callRow(c, jump));
  if (s.role !== "tool") for (const r of s.results) el.append(h("div", { class: "tool-result orphan" }, h("span", { class: "tag", text: "result" }), folded(r.text, 1200)));
  if (s.extra.length) el.append(h("dl", { class: "extra" }, s.extra.flatMap((e) => [h("dt", { text: e.key }), h("dd", {}, folded(e.text, 1200))])));
  return el;
}

export function summaryBar(sum, record) {
  const run = sum.run ?? null;
  const copy = h("button", { type: "button", class: "copy", text: "copy id", on: { click: (ev) => copyText(sum.id, ev.target) } });
  return h("div", { class: "summary-bar" },
    h("div", { class: "rid" }, h("code", { class: "id", text: sum.id }), copy),
    h("dl", { class: "facts" },
      h("dt", { text: "reward" }), h("dd", { class: "reward", text: fix(sum.reward) }),
      h("dt", { text: "success" }), h("dd", {}, successBadge(sum.success)),
      h("dt", { text: "model" }), h("dd", { text: sum.model ?? "–" }),
      run !== null ? [h("dt", { text: "run" }), h("dd", {}, h("a", { href: link("records", { run }), text: run }))] : null,
      h("dt", { text: "group" }), h("dd", {}, sum.group === null ? "–" : h("a", { href: link("records", { group: sum.group }), text: sum.group, class: "group-link" })),
      h("dt", { text: "steps" }), h("dd", { class: "nsteps", text: num(sum.steps) }),
      h("dt", { text: "created" }), h("dd", { text: time(sum.created_ms) })));
}

let pending = null;

// The record's labels (latest value, author) with a remove button each, and
// a form adding KEY=VALUE: POST /v1/labels/{id}, then drawn again from GET.
function labelsPanel(id) {
  const list = h("ul", { class: "labels", id: "labels" });
  const status = h("span", { class: "muted", id: "label-status" });
  const input = h("input", { name: "label", placeholder: "key=value", "aria-label": "label key=value" });
  const draw = async () => {
    const got = await api("labels/" + encodeURIComponent(id));
    const keys = Object.keys(got.labels || {}).sort();
    list.replaceChildren(...keys.map((k) => {
      const l = got.labels[k];
      return h("li", { class: "label", dataset: { key: k } },
        h("code", { text: `${k}=${l.value}` }), " ",
        h("span", { class: "muted", text: `${l.author}, ${time(l.time_ms)}` }), " ",
        h("button", { type: "button", class: "remove", title: `remove ${k}`, text: "×",
                      on: { click: () => write({ remove: [k] }) } }));
    }));
    if (!keys.length) list.appendChild(h("li", { class: "muted", text: "no labels" }));
  };
  const write = async (req) => {
    status.textContent = "saving…";
    try {
      const r = await api("labels/" + encodeURIComponent(id), {}, req);
      await draw();
      status.textContent = r.changed ? "saved" : "unchanged";
    } catch (e) {
      status.textContent = `${e.code || "ERROR"}: ${e.detail || e.message}`;
    }
  };
  const form = h("form", { class: "label-form", id: "label-form", on: { submit: (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    const eq = text.indexOf("=");
    if (eq <= 0) { status.textContent = "want key=value (the value may be empty)"; return; }
    input.value = "";
    write({ set: { [text.slice(0, eq)]: text.slice(eq + 1) } });
  } } }, input, h("button", { type: "submit", text: "add label" }), " ", status);
  const panel = h("section", { class: "labels-panel" }, h("h2", { text: "Labels" }), list, form);
  return { panel, draw };
}

export async function render(view, r) {
  const id = r.arg;
  if (!id) throw new Error("no record id in the URL (#/trajectory/ID)");
  const [got, profs] = await Promise.all([api("records/" + encodeURIComponent(id)), profiles()]);
  const { summary: sum, record } = got;
  const found = findSteps(record, sum, profs, r.params.get("steps"));
  const steps = prepare(found.steps);
  const tab = r.params.get("tab") === "raw" ? "raw" : "messages";

  const list = h("div", { class: "steps", id: "steps" });
  const jump = (i) => {
    const el = document.getElementById(`step-${i}`);
    if (el) { el.scrollIntoView({ block: "start" }); el.classList.add("flash"); setTimeout(() => el.classList.remove("flash"), 1200); }
  };
  for (let i = 0; i < Math.min(SLICE, steps.length); i++) list.appendChild(stepNode(steps[i], i, jump));
  pending = { steps, list, jump, from: Math.min(SLICE, steps.length) };

  const raw = h("div", { class: "raw", id: "raw" });
  const showRaw = () => { if (!raw.firstChild) raw.appendChild(folded(JSON.stringify(record, null, 2), RAW_FOLD)); };
  const panes = { messages: list, raw };
  const tabs = h("div", { class: "tabs", role: "tablist" }, ["messages", "raw"].map((t) =>
    h("button", { type: "button", role: "tab", class: "tab" + (t === tab ? " active" : ""), dataset: { tab: t },
                  text: t === "raw" ? "raw JSON" : `messages (${steps.length})`, on: { click: (ev) => {
      const cur = route();
      cur.params.set("tab", t);
      if (t === "messages") cur.params.delete("tab");
      history.replaceState(null, "", link("trajectory", Object.fromEntries(cur.params), id));
      for (const b of tabs.children) b.classList.toggle("active", b === ev.target);
      for (const [k, p] of Object.entries(panes)) p.hidden = k !== t;
      if (t === "raw") showRaw();
    } } })));
  list.hidden = tab !== "messages";
  raw.hidden = tab !== "raw";
  if (tab === "raw") showRaw();

  const nav = h("div", { class: "attempt-nav", id: "attempt-nav" });
  const labels = labelsPanel(id);
  await labels.draw();
  view.append(h("h1", { text: "Trajectory" }), summaryBar(sum, record), labels.panel, nav,
    h("p", { class: "muted where" }, found.pointer ? `steps at ${found.pointer}` : "no steps found in this record (give ?steps=/pointer)"),
    tabs, list, raw);
  pending.nav = nav;
  pending.sum = sum;
}

// The previous and next attempts of the record's group.
async function attemptNav(nav, sum) {
  const sib = await api("records", { group: sum.group, sort: "id", limit: 1000 });
  const ids = sib.items.map((x) => x.id);
  const at = ids.indexOf(sum.id);
  const go = (j, label, cls) => (j >= 0 && j < ids.length
    ? h("a", { href: link("trajectory", {}, ids[j]), class: cls, text: label })
    : h("span", { class: cls + " muted", text: label }));
  append(nav, [go(at - 1, "◀ previous attempt", "prev"), ` attempt ${at + 1} of ${ids.length} in group `,
    h("a", { href: link("records", { group: sum.group }), text: sum.group }), " ",
    go(at + 1, "next attempt ▶", "next"), " ",
    at > 0 ? h("a", { href: link("compare", { a: ids[at - 1], b: sum.id, group: sum.group }), text: "compare with previous" }) : null]);
}

// After the page is in the document: the remaining steps, a slice a frame.
export async function after(view, r, current) {
  const p = pending;
  pending = null;
  window.tsFirstRenderMs = performance.now();
  // the steps first, the group's attempts meanwhile
  const navDone = p && p.sum.group !== null ? attemptNav(p.nav, p.sum) : Promise.resolve();
  while (p && p.from < p.steps.length) {
    await new Promise((res) => requestAnimationFrame(() => res()));
    if (!current()) return;
    const frag = document.createDocumentFragment();
    const end = Math.min(p.from + SLICE, p.steps.length);
    for (let i = p.from; i < end; i++) frag.appendChild(stepNode(p.steps[i], i, p.jump));
    p.list.appendChild(frag);
    p.from = end;
  }
  await navDone;
  window.tsFullRenderMs = performance.now();
}

// util.js: what every page of the viewer shares: building elements (text
// only: no string of a record is ever parsed as HTML), the api client, the
// URL state, formatting.

// h("a", {href, class, text, on: {click}}, child...): an element. Children
// are nodes or strings (strings become text nodes).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

// --- the api -------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.detail = message;
  }
}

const TOKEN_KEY = "trajstore-token";
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY)),
};

// GET /v1/<path>?params; params' arrays repeat their key, null/"" are left out.
// With `post`, a POST of it as JSON (POST /v1/labels/{id}).
export async function api(path, params = {}, post = undefined) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
  }
  const url = `v1/${path}${q.toString() ? "?" + q : ""}`;
  const headers = {};
  if (token.get()) headers.Authorization = `Bearer ${token.get()}`;
  const init = { headers };
  if (post !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(post);
  }
  const resp = await fetch(url, init);
  let body;
  try {
    body = await resp.json();
  } catch (e) {
    throw new ApiError(resp.status, "BAD_GATEWAY", `${url}: the answer is not JSON`);
  }
  if (!resp.ok) {
    const err = body && body.error ? body.error : { code: "ERROR", message: resp.statusText };
    throw new ApiError(resp.status, err.code, err.message);
  }
  return body;
}

let indexPromise = null;
// GET /v1 once: the endpoints, and whether the api knows runs.
export function gatewayIndex() {
  if (!indexPromise) indexPromise = api("").catch((e) => { indexPromise = null; throw e; });
  return indexPromise;
}

let profilesPromise = null;
export function profiles() {
  if (!profilesPromise) profilesPromise = api("profiles").then((b) => b.profiles);
  return profilesPromise;
}

// --- the URL: #/page/arg?k=v ------------------------------------------------------

export function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const qi = hash.indexOf("?");
  const path = qi < 0 ? hash : hash.slice(0, qi);
  const params = new URLSearchParams(qi < 0 ? "" : hash.slice(qi + 1));
  const slash = path.indexOf("/");
  const page = (slash < 0 ? path : path.slice(0, slash)) || "overview";
  const arg = slash < 0 ? null : decodeURIComponent(path.slice(slash + 1));
  return { page, arg, params };
}

export function link(page, params = {}, arg = null) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
  }
  const a = arg === null ? "" : "/" + encodeURIComponent(arg);
  return `#/${page}${a}${q.toString() ? "?" + q : ""}`;
}

// Replaces the URL's parameters (a new history entry; the page renders again).
export function go(page, params = {}, arg = null) {
  location.hash = link(page, params, arg);
}

// --- formatting -----------------------------------------------------------------------

export function num(v, digits = 3) {
  if (v === null || v === undefined) return "–";
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return Number(v).toFixed(digits);
}

// A reward, mean or probability: always three decimals (1.0 reads "1.000").
export function fix(v, digits = 3) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}

export function pct(v) {
  return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";
}

export function time(ms) {
  if (ms === null || ms === undefined) return "–";
  const d = new Date(ms);
  return isNaN(d) ? String(ms) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function successBadge(v) {
  if (v === true) return h("span", { class: "badge pass", text: "success" });
  if (v === false) return h("span", { class: "badge fail", text: "failure" });
  return h("span", { class: "badge unknown", text: "unknown" });
}

export function errorBox(e) {
  const code = e instanceof ApiError ? e.code : "ERROR";
  const msg = e instanceof ApiError ? e.detail : String(e && e.message ? e.message : e);
  return h("div", { class: "error", role: "alert" }, h("strong", { text: code }), " ", msg);
}

// A table: cols = [{key, label, cell(row) -> node|string, sort}], rows.
export function table(cols, rows, opts = {}) {
  const head = h("tr", {}, cols.map((c) => {
    const th = h("th", { class: c.num ? "num" : null, scope: "col" });
    if (opts.onSort && c.sort) {
      const active = opts.sort === c.sort || opts.sort === "-" + c.sort;
      const desc = opts.sort === "-" + c.sort;
      th.appendChild(h("button", {
        class: "sort" + (active ? " active" : ""), type: "button",
        text: c.label + (active ? (desc ? " ▼" : " ▲") : ""),
        on: { click: () => opts.onSort(active && !desc ? "-" + c.sort : active ? c.sort : "-" + c.sort) },
      }));
    } else th.textContent = c.label;
    return th;
  }));
  const body = h("tbody");
  appendRows(body, cols, rows, opts);
  return h("table", { class: "grid" + (opts.class ? " " + opts.class : "") }, h("thead", {}, head), body);
}

export function appendRows(body, cols, rows, opts = {}) {
  for (const r of rows) {
    const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(r) : {},
      cols.map((c) => h("td", { class: c.num ? "num" : null }, c.cell ? c.cell(r) : num(r[c.key]))));
    body.appendChild(tr);
  }
}

// Text longer than `limit` shows its start and a "show all" button.
export function folded(text, limit = 1500) {
  const pre = h("pre", { class: "content" });
  if (text.length <= limit) {
    pre.textContent = text;
    return pre;
  }
  pre.textContent = text.slice(0, limit);
  const more = h("button", {
    type: "button", class: "more",
    text: `show all (${text.length.toLocaleString("en-US")} characters)`,
    on: { click: () => { pre.textContent = text; more.remove(); } },
  });
  return h("div", { class: "fold" }, pre, more);
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "copied";
  } catch (e) {
    // no clipboard (plain http on another host): select the text instead
    const input = h("input", { value: text, readonly: true, class: "copy-fallback" });
    button.replaceWith(input);
    input.select();
  }
}

// app.js: the viewer's router. The page and its state live in the URL's
// fragment (#/records?model=m&success=true), so a link can be shared; each
// page module renders into <main> from that state alone.
import { h, route, go, errorBox, ApiError, token } from "./util.js";
import * as overview from "./overview.js";
import * as groups from "./groups.js";
import * as records from "./records.js";
import * as trajectory from "./trajectory.js";
import * as compare from "./compare.js";
import * as search from "./search.js";

const pages = { overview, groups, records, trajectory, compare, search };
let generation = 0;

function tokenForm(main, e) {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", "aria-label": "token" });
  main.replaceChildren(
    errorBox(e),
    h("form", { class: "token", on: { submit: (ev) => { ev.preventDefault(); token.set(input.value.trim()); render(); } } },
      h("label", {}, "This gateway wants a bearer token: ", input), h("button", { type: "submit", text: "use it" })));
}

async function render() {
  const gen = ++generation;
  window.tsRenderStartMs = performance.now();
  const main = document.getElementById("app");
  const r = route();
  const page = pages[r.page];
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.dataset.page === r.page || (r.page === "trajectory" && a.dataset.page === "records"));
  document.body.dataset.rendered = "";
  if (!page) {
    main.replaceChildren(errorBox(new ApiError(404, "NOT_FOUND", `no page "${r.page}"`)));
    return;
  }
  const view = h("div", { class: "page page-" + r.page });
  try {
    await page.render(view, r, () => gen === generation);
    if (gen !== generation) return;
    main.replaceChildren(view);
    if (page.after) await page.after(view, r, () => gen === generation);
  } catch (e) {
    if (gen !== generation) return;
    if (e instanceof ApiError && e.status === 401) return tokenForm(main, e);
    main.replaceChildren(errorBox(e));
    console.warn(e);
  }
  if (gen === generation) document.body.dataset.rendered = r.page;
}

document.getElementById("goto").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const id = ev.target.elements.id.value.trim();
  if (id) go("trajectory", {}, id);
});
window.addEventListener("hashchange", render);
render();

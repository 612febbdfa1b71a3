// steps.js: a record's steps, found and normalised for the trajectory and
// compare pages.
//
// Where: the profile's steps pointer. A stored record does not say which
// profile imported it, so the candidates are the built-in profiles' steps
// pointers (GET /v1/profiles, the server's own table) in order; the first
// that holds an array of the summary's length wins (the summary's "steps"
// is that array's length, as the importer counted it). ?steps=/pointer in
// the URL overrides, for a profile of one's own.
//
// What: each step becomes {role, text, calls, callId, name, extra}:
//   - a string: a plain step (role "step");
//   - {role, content} (OpenAI chat): content a string, or a list of parts
//     (text, tool_use and tool_result parts of Anthropic's format too);
//     tool_calls [{id, function: {name, arguments}}] and the legacy
//     function_call become calls; tool_call_id ties a tool message to its call;
//   - any other object: its fields, each shown under its key (SWE-agent's
//     thought / action / observation, for one).

export function pointer(doc, ptr) {
  if (ptr === "") return doc;
  if (!ptr.startsWith("/")) return undefined;
  let v = doc;
  for (const raw of ptr.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (v === null || typeof v !== "object" || !(key in v)) return undefined;
    v = v[key];
  }
  return v;
}

const FALLBACK = ["/messages", "/trajectory", "/steps", "/history", "/traj", "/conversation"];

export function findSteps(record, summary, profiles, override) {
  const candidates = override ? [override] : [...new Set([...profiles.flatMap((p) => p.steps), ...FALLBACK])];
  let first = null;
  for (const c of candidates) {
    const v = pointer(record, c);
    if (!Array.isArray(v)) continue;
    if (summary.steps === null || summary.steps === undefined || v.length === summary.steps)
      return { pointer: c, steps: v };
    if (!first) first = { pointer: c, steps: v };
  }
  return first || { pointer: null, steps: [] };
}

function asText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 2);
}

function prettyArgs(a) {
  if (typeof a !== "string") return asText(a);
  try {
    return JSON.stringify(JSON.parse(a), null, 2);
  } catch (e) {
    return a;
  }
}

const KNOWN = new Set(["role", "content", "tool_calls", "tool_call_id", "function_call", "name"]);

export function normalize(step) {
  if (typeof step === "string") return { role: "step", text: step, calls: [], extra: [], results: [] };
  if (step === null || typeof step !== "object" || Array.isArray(step))
    return { role: "step", text: asText(step), calls: [], extra: [], results: [] };
  const out = { role: typeof step.role === "string" ? step.role : null, text: null, calls: [], extra: [],
                callId: step.tool_call_id ?? null, name: typeof step.name === "string" ? step.name : null,
                results: [] };
  const c = step.content;
  if (Array.isArray(c)) {
    const texts = [];
    for (const part of c) {
      if (typeof part === "string") texts.push(part);
      else if (part && part.type === "text") texts.push(asText(part.text));
      else if (part && part.type === "tool_use")
        out.calls.push({ id: part.id ?? null, name: part.name ?? "tool", args: asText(part.input) });
      else if (part && part.type === "tool_result")
        out.results.push({ id: part.tool_use_id ?? null, text: Array.isArray(part.content)
          ? part.content.map((x) => (x && x.type === "text" ? x.text : asText(x))).join("\n") : asText(part.content) });
      else texts.push(asText(part));
    }
    out.text = texts.join("\n");
  } else if (c !== undefined) out.text = asText(c);
  for (const tc of Array.isArray(step.tool_calls) ? step.tool_calls : []) {
    const fn = tc && tc.function ? tc.function : tc || {};
    out.calls.push({ id: tc && tc.id !== undefined ? tc.id : null, name: fn.name ?? "tool", args: prettyArgs(fn.arguments ?? fn.args ?? "") });
  }
  if (step.function_call && typeof step.function_call === "object")
    out.calls.push({ id: null, name: step.function_call.name ?? "function", args: prettyArgs(step.function_call.arguments) });
  const keys = Object.keys(step).filter((k) => !KNOWN.has(k));
  if (out.role === null && c === undefined) {
    // not a chat message: every field is part of the step
    out.role = typeof step.type === "string" ? step.type : typeof step.from === "string" ? step.from : "step";
  }
  if (out.role === null) out.role = "step";
  for (const k of keys) out.extra.push({ key: k, text: asText(step[k]) });
  if (out.role === "tool" && out.results.length === 0)
    out.results.push({ id: out.callId, text: out.text ?? "" });
  return out;
}

// Normalises every step and ties each tool result to its call: a call gets
// `result` (the text) and `resultStep` (the index of the step holding it);
// a step whose results all went to calls gets `shownAt` (the call's step).
export function prepare(steps) {
  const norm = steps.map(normalize);
  const calls = new Map();
  norm.forEach((s, i) => s.calls.forEach((c) => { c.step = i; if (c.id !== null) calls.set(String(c.id), c); }));
  norm.forEach((s, i) => {
    if (!s.results.length) return;
    let all = true;
    for (const r of s.results) {
      const call = r.id !== null ? calls.get(String(r.id)) : null;
      if (call && call.result === undefined && call.step < i) {
        call.result = r.text;
        call.resultStep = i;
      } else all = false;
    }
    if (all) s.shownAt = s.results.map((r) => calls.get(String(r.id)).step)[0];
  });
  return norm;
}

// The text of a normalised step as compare sees it: role, content, calls.
export function flat(s) {
  const parts = [];
  if (s.text) parts.push(s.text);
  for (const c of s.calls) parts.push(`→ ${c.name}(${c.args})`);
  for (const r of s.results) if (s.role !== "tool") parts.push(`← ${r.text}`);
  for (const e of s.extra) parts.push(`${e.key}: ${e.text}`);
  return parts.join("\n");
}

// The federation console's page: state from /api/state, then snapshots over Server-Sent Events.
// No library, no network beyond this server: plots are drawn on canvases, the graph and the
// schematic as SVG.
"use strict";

const S = { state: null, series: {}, names: {}, snapshot: null, cursor: null, zoom: {}, dirty: false,
            receivedAt: 0, lastWall: null, decidedHere: {} };
window.consoleLatency = [];   // seconds from the coordinator's snapshot to the page painted with it
window.valueLatency = [];     // seconds from the coordinator receiving a step's values to the page painted with them
window.consoleUpdates = 0;
window.stepDurations = {};    // federate -> every step duration (wall seconds, grant -> DONE) the feed sent, in order

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function fmtTime(s) {
  if (s === null || s === undefined) return "-";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return `${h} h ${String(m).padStart(2, "0")} min` + (h < 1 ? ` ${sec} s` : "");
}
function fmtNum(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(3) : String(Math.round(v * 1000) / 1000);
}
const json = (v) => JSON.stringify(v);

// The updates are subscribed to before the state is asked for, so that none falls between them:
// those the state already has (by the snapshot's sequence number) are dropped.
async function load() {
  const source = new EventSource("/api/events"), early = [];
  S.loaded = false;
  source.addEventListener("snapshot", (ev) => {
    const up = JSON.parse(ev.data);
    if (S.loaded) update(up, source); else early.push(up);
  });
  await new Promise((resolve) => { source.onopen = resolve; source.onerror = resolve; });   // open, or none (finished run)
  source.onerror = null;
  const response = await fetch("/api/state", { credentials: "same-origin" });
  if (response.status === 401) { source.close(); location.href = "/"; return; }
  if (response.status === 503) { source.close(); setTimeout(load, 200); return; }   // the run is starting
  const st = await response.json();
  S.state = st;
  window.stepDurations = {};
  for (const [name, d] of Object.entries(st.durations || {})) window.stepDurations[name] = d.slice();
  S.timed = Object.assign({}, st.timed || {});
  S.series = {};
  for (const sig of st.signals) { S.names[sig.id] = sig; S.series[sig.id] = { t: [], v: [] }; }
  for (const [id, [t, v]] of Object.entries(st.series)) S.series[id] = { t: t.slice(), v: v.slice() };
  S.snapshot = st.snapshot;
  S.forecasts = st.forecasts || {};
  setupTwin(st);
  $("title").textContent = `${st.name} -- ${st.mode === "live" ? "live" : "finished run"}`;
  $("user").textContent = `${st.user.name} (${st.user.role})`;
  document.body.dataset.role = st.user.role;
  buildPicker(); buildPlots(); drawGraph(); buildSchematic();
  if (st.mode === "timeline") setupScrubber();
  renderMessages(st.messages, true);
  renderKpis(st.kpis);
  S.dirty = true;
  if (!S.painting) { S.painting = true; requestAnimationFrame(paint); }
  S.loaded = true;
  if (st.mode !== "live") { source.close(); return; }
  const seq = st.snapshot.seq || 0;
  for (const up of early) if (up.resync || up.seq > seq) update(up, source);
}

function update(up, source) {
  if (up.resync) { source.close(); load(); return; }
  for (const [id, [ts, vs]] of Object.entries(up.samples || {})) confirm(S.series[id], ts, vs);
  delete up.samples;
  for (const [id, t, v] of up.values || []) {
    const s = S.series[id];
    if (s && (s.t.length === 0 || t >= s.t[s.t.length - 1])) {
      if (s.t.length && t === s.t[s.t.length - 1]) s.v[s.v.length - 1] = v; else { s.t.push(t); s.v.push(v); }
    }
  }
  delete up.values;
  S.recorded = Object.values(up.recorded || {});
  if (up.messages) { renderMessages(up.messages, false); delete up.messages; }
  if (up.kpis) { renderKpis(up.kpis); delete up.kpis; }
  if (up.twin) { addTwin(up.twin); delete up.twin; }
  if (up.forecasts) { S.forecasts = up.forecasts; delete up.forecasts; }
  for (const f of up.federates || []) addDurations(f);
  S.snapshot = up;
  S.dirty = true;
  window.consoleUpdates += 1;
  if (up.status !== "running") source.close();
}

// A federate's step durations not kept yet: the last of a row's is the step.count-th timed.
function addDurations(f) {
  if (!f.durations || !f.durations.length || !f.step) return;
  const fresh = Math.min(f.durations.length, f.step.count - (S.timed[f.name] || 0));
  if (fresh <= 0) return;
  (window.stepDurations[f.name] ||= []).push(...f.durations.slice(f.durations.length - fresh));
  S.timed[f.name] = f.step.count;
}

// Samples from the store (every recorded change, in time order) replace the feed's sampled
// values from their first time on: the feed gives the newest value at once, the store all of them.
function confirm(s, ts, vs) {
  if (!s || !ts.length) return;
  let keep = s.t.length;
  while (keep > 0 && s.t[keep - 1] >= ts[0]) keep--;
  const last = ts[ts.length - 1], newer = [];   // the feed's values after the store's last stay
  for (let k = keep; k < s.t.length; k++) if (s.t[k] > last) newer.push([s.t[k], s.v[k]]);
  s.t.length = keep; s.v.length = keep;
  for (let k = 0; k < ts.length; k++) { s.t.push(ts[k]); s.v.push(vs[k]); }
  for (const [t, v] of newer) { s.t.push(t); s.v.push(v); }
  if (s.t.length > 20000) {   // a long run: thin the older half two to one, the recent past stays exact
    const half = s.t.length >> 1;
    s.t = s.t.filter((_, k) => k >= half || k % 2 === 0); s.v = s.v.filter((_, k) => k >= half || k % 2 === 0);
  }
}

function paint() {
  if (S.dirty && S.snapshot) {
    S.dirty = false;
    renderHeader(); renderFederates(); renderDecisions(); renderPlots(); renderSchematic(); renderPacing(); renderSync();
    const wall = S.snapshot.wall;
    if (wall && wall !== S.lastWall) {
      S.lastWall = wall;
      const painted = Date.now() / 1000;
      window.consoleLatency.push(painted - wall);
      for (const at of S.recorded || []) window.valueLatency.push(painted - at);
      S.recorded = [];
      document.body.dataset.painted = String(S.snapshot.seq);
    }
  }
  renderTimeLeft();
  requestAnimationFrame(paint);
}

// ------------------------------------------------------------------ header, federates, KPIs
function renderHeader() {
  const sn = S.snapshot, st = S.state;
  const t = S.cursor !== null ? S.cursor : sn.clock;
  $("clock").textContent = `${fmtTime(t)} of ${fmtTime(st.stop)}`;
  $("clock").dataset.seconds = String(t);
  if (sn.wall && sn.wall0) {
    const wall = sn.wall - sn.wall0;
    $("wall").textContent = `${wall.toFixed(1)} s since start`;
    const speed = (sn.clock - st.start) / wall;
    $("speed").textContent = wall > 0 ? `${speed >= 10 ? Math.round(speed) : fmtNum(speed)}x real time` : "-";
  } else { $("wall").textContent = "-"; $("speed").textContent = "-"; }
  $("status").textContent = sn.status + (sn.reason ? `: ${sn.reason}` : "");
}

function stateClass(f) {
  if (f.held) return "state-held";
  if (/fail/.test(f.doing)) return "state-failed";
  if (/done|completed|finaliz/.test(f.doing)) return "state-done";
  return /stepping/.test(f.doing) ? "state-stepping" : "state-waiting";
}

function health(f) {   // how long the current step has taken; a federate that has gone quiet
  const parts = [];
  if (f.busy_for > 0.5) parts.push(`for ${f.busy_for.toFixed(1)} s`);
  if (f.silent_for !== null && f.silent_for > 2 && !/done|completed|finaliz/.test(f.doing)) parts.push(`silent for ${f.silent_for.toFixed(1)} s`);
  if (f.restarts) parts.push(`${f.restarts} restart(s)`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

function renderFederates() {
  const body = $("federates").tBodies[0];
  body.replaceChildren(...S.snapshot.federates.map((f) => el("tr", { "data-name": f.name },
    el("td", { text: f.name }), el("td", { class: stateClass(f), text: f.doing + health(f) }),
    el("td", { class: "num", text: f.time === null ? "-" : fmtTime(f.time) }),
    el("td", { class: "num", text: String(f.grants) }), el("td", { class: "num", text: fmtNum(f.rate) }),
    stepTime(f.step),
    el("td", { class: "muted", text: f.waits.replace(/^\S+ waits to reach [^ ]+ s on /, "") }))));
}

function fmtMs(s) {   // wall seconds as milliseconds
  if (s === null || s === undefined) return "-";
  const ms = s * 1000;
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function stepTime(step) {   // p50 / p99 / max of the latest steps' durations, in ms; the exact figures as data
  if (!step || !step.n) return el("td", { class: "num step-time", text: "-" });
  return el("td", { class: "num step-time", title: `over the latest ${step.n} steps, from the grant to its DONE`,
    "data-p50": String(step.p50), "data-p99": String(step.p99), "data-max": String(step.max), "data-n": String(step.n),
    text: `${fmtMs(step.p50)} / ${fmtMs(step.p99)} / ${fmtMs(step.max)}` });
}

function renderKpis(kpis) {
  if (!kpis) return;
  $("kpis").tBodies[0].replaceChildren(...kpis.map((k) => el("tr", {},
    el("td", { text: k.name, title: k.description }), el("td", { class: "num", text: fmtNum(k.value) }),
    el("td", { text: k.unit }), el("td", { class: "muted", text: k.note || "" }))));
}

// ------------------------------------------------------------------ messages
let messageRows = [];
function renderMessages(messages, replace) {
  messageRows = replace ? messages.slice() : messageRows.concat(messages);
  if (messageRows.length > 500) messageRows = messageRows.slice(-500);
  filterMessages();
}
function filterMessages() {
  const f = $("msg-filter").value.toLowerCase();
  const upto = S.cursor;
  const rows = messageRows.filter((m) => (upto === null || m.t <= upto) &&
    (!f || `${m.source} ${m.target} ${m.payload}`.toLowerCase().includes(f)));
  $("messages").tBodies[0].replaceChildren(...rows.slice(-200).reverse().map((m) => el("tr", {},
    el("td", { class: "num", text: fmtTime(m.t) }), el("td", { text: m.source }), el("td", { text: m.target }),
    el("td", { text: String(m.payload).slice(0, 240) }))));
}

// ------------------------------------------------------------------ decisions
function renderDecisions() {
  const sn = S.snapshot, box = $("pending");
  const pending = sn.pending || [];
  $("pending-count").textContent = pending.length ? String(pending.length) : "";
  const shown = new Set([...box.children].map((c) => Number(c.dataset.id)));
  const wanted = new Set(pending.map((p) => p.id));
  for (const c of [...box.children]) if (!wanted.has(Number(c.dataset.id))) c.remove();
  for (const p of pending) {
    if (!shown.has(p.id)) box.append(proposalCard(p));
    const card = box.querySelector(`[data-id="${p.id}"]`);
    card.dataset.deadline = p.time_left === null ? "" : String(Date.now() / 1000 + p.time_left);
    if (p.forecasts) card.querySelector(".forecasts").replaceChildren(...forecastTable(p.forecasts));
  }
  const decisions = (sn.decisions || []).filter((d) => S.cursor === null || d.time <= S.cursor);
  const rows = [];
  for (const d of decisions.slice().reverse()) {
    rows.push(el("tr", { "data-id": d.id },
      el("td", { text: String(d.id) }), el("td", { class: "num", text: fmtTime(d.time) }), el("td", { text: d.class }),
      el("td", { class: "verdict", text: d.verdict }),
      el("td", { class: "by", text: d.decided_by + (d.at ? ` at ${new Date(d.at * 1000).toLocaleTimeString()}` : "") }),
      el("td", { text: d.final === null ? "-" : json(d.final) }), el("td", { text: d.note || "" })));
    const shown = (S.forecasts || {})[String(d.id)];   // the forecasts the operator had (the store's)
    if (shown) rows.push(el("tr", { class: "forecast-row", "data-forecasts": d.id },
      el("td", { colspan: "7" }, el("div", { class: "forecasts" }, ...forecastTable(shown)))));
  }
  $("history").tBodies[0].replaceChildren(...rows);
}

// Each alternative's status, its KPIs and their difference to approving (the coordinator's once all are
// over; until then computed here as it does: value minus approving's, when both are done).
function forecastTable(entries) {
  const approve = entries.find((e) => e.alternative === "approve");
  const reference = approve && approve.status === "done" ? approve.kpis : null;
  const names = [];
  for (const e of entries) for (const k of Object.keys(e.kpis || {})) if (!names.includes(k)) names.push(k);
  const first = entries[0] || {};
  const caption = el("div", { class: "muted", text: first.until === undefined ? "forecasts" :
    `forecasts to ${fmtTime(first.until)} from the checkpoint at ${fmtTime(first.fork_time)}` });
  const head = el("tr", {}, el("th", { text: "" }), ...entries.map((e) => el("th", { text: e.alternative })));
  const status = el("tr", { class: "status" }, el("th", { text: "status" }), ...entries.map((e) => el("td", {
    class: `fc-${e.status.replace(/ /g, "-")}`, "data-alt": e.alternative, "data-status": e.status, title: e.note || "",
    text: e.status + (e.wall ? ` (${e.wall.toFixed(1)} s)` : "") })));
  const kpiRows = names.map((k) => el("tr", { "data-kpi": k }, el("th", { text: k }), ...entries.map((e) => {
    const entry = (e.kpis || {})[k];
    if (!entry || e.status !== "done" || typeof entry.value !== "number") {
      return el("td", { class: "num", "data-alt": e.alternative, text: "-", title: entry && entry.note ? entry.note : "" });
    }
    let delta = e.delta && k in e.delta ? e.delta[k] : undefined;
    if (delta === undefined && reference && k in reference) {
      const ref = reference[k].value;
      delta = typeof entry.value === "number" && typeof ref === "number" ? entry.value - ref : null;
    }
    const attrs = { class: "num", "data-alt": e.alternative, "data-value": String(entry.value) };
    if (delta !== undefined && delta !== null) attrs["data-delta"] = String(delta);
    const diff = delta && e.alternative !== "approve" ? ` (${delta > 0 ? "+" : ""}${fmtNum(delta)})` : "";
    return el("td", attrs, `${fmtNum(entry.value)}${entry.unit ? " " + entry.unit : ""}`,
      el("span", { class: "diff", text: diff }));
  })));
  return [caption, el("table", { class: "forecast" }, el("thead", {}, head), el("tbody", {}, status, ...kpiRows))];
}

function proposalCard(p) {
  const may = S.state.user.may_decide;
  const card = el("div", { class: "proposal", "data-id": p.id },
    el("span", { class: "left", text: "" }),
    el("h3", { text: `#${p.id} at ${fmtTime(p.time)}: ${p.class} -> ${p.targets.join(", ")}` }),
    el("div", { class: "muted", text: `held by ${p.held_by || "the policy"}; default when unanswered: ${p.default}` }));
  const table = el("table", { class: "payload" });
  for (const [k, v] of Object.entries(p.payload || {})) table.append(el("tr", {}, el("th", { text: k }), el("td", { text: json(v) })));
  card.append(table);
  if (p.forecasts) card.append(el("div", { class: "forecasts" }));
  if (may) {
    const approve = el("button", { class: "approve", type: "button", text: "Approve" });
    const edit = el("button", { class: "edit", type: "button", text: "Edit..." });
    const reject = el("button", { class: "reject", type: "button", text: "Reject" });
    approve.onclick = () => send(p.id, "approve");
    reject.onclick = () => send(p.id, "reject");
    edit.onclick = () => { if (!card.querySelector("form")) card.append(editForm(p)); };
    card.append(el("div", {}, approve, edit, reject));
  } else {
    card.append(el("p", { class: "muted", text: "viewers see proposals; operators decide them" }));
  }
  return card;
}

// A form built from the payload's fields, checked here before it is sent (the coordinator checks again).
function editForm(p) {
  const form = el("form", { class: "edit-form", novalidate: "" });   // our checks, our words
  const payload = p.payload && typeof p.payload === "object" && !Array.isArray(p.payload) ? p.payload : { value: p.payload };
  const declared = p.fields || {};
  for (const [k, v] of Object.entries(payload)) {
    let input;
    const choices = (declared[k] || []).map((d) => d.choices).find((c) => c);
    if (choices) {
      input = el("select", { name: k, "data-choice": "1" });
      choices.forEach((c, i) => { const o = el("option", { value: String(i), text: json(c) }); if (json(c) === json(v)) o.selected = true; input.append(o); });
      input.choices = choices;
    } else if (typeof v === "number") {
      input = el("input", { type: "number", step: "any", name: k, value: String(v) });
      for (const d of declared[k] || []) {
        if (d.low !== null) input.min = String(d.low);
        if (d.high !== null) input.max = String(d.high);
      }
    }
    else if (typeof v === "boolean") { input = el("input", { type: "checkbox", name: k }); input.checked = v; }
    else if (typeof v === "string") input = el("input", { type: "text", name: k, value: v });
    else input = el("textarea", { name: k, "data-json": "1" }), input.value = json(v);
    input.dataset.kind = typeof v;
    const docs = (declared[k] || []).map((d) => d.doc).filter((d) => d);
    const label = el("label", {}, `${k} `, input);
    if (docs.length) label.title = docs.join("; ");
    form.append(label);
  }
  const note = el("input", { type: "text", name: "__note", placeholder: "note (optional)" });
  form.append(el("label", {}, "note ", note));
  const ok = el("button", { type: "submit", class: "send-edit", text: "Send edit" });
  const cancel = el("button", { type: "button", text: "Cancel" });
  cancel.onclick = () => form.remove();
  form.append(ok, cancel, el("span", { class: "error form-error" }));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const changes = {}; let bad = null;
    for (const input of form.querySelectorAll("[name]")) {
      if (input.name === "__note") continue;
      input.classList.remove("invalid");
      const old = payload[input.name]; let value;
      if (input.dataset.choice) value = input.choices[Number(input.value)];
      else if (input.dataset.kind === "number") {
        value = input.value.trim() === "" ? NaN : Number(input.value);
        if (!Number.isFinite(value)) { bad = bad || `${input.name}: a finite number is needed`; input.classList.add("invalid"); continue; }
        if (Number.isInteger(old) && !Number.isInteger(value)) { bad = bad || `${input.name}: an integer is needed`; input.classList.add("invalid"); continue; }
        const range = outOfRange(value, declared[input.name] || []);
        if (range) { bad = bad || `${input.name}: ${range}`; input.classList.add("invalid"); continue; }
      } else if (input.dataset.kind === "boolean") value = input.checked;
      else if (input.dataset.json) {
        try { value = JSON.parse(input.value); } catch (e) { bad = bad || `${input.name}: not JSON`; input.classList.add("invalid"); continue; }
      } else value = input.value;
      if (json(value) !== json(old)) changes[input.name] = value;
    }
    const errorBox = form.querySelector(".form-error");
    if (bad) { errorBox.textContent = bad; return; }
    if (!Object.keys(changes).length) { errorBox.textContent = "nothing changed: use Approve"; return; }
    const body = payload === p.payload ? changes : changes.value;
    send(p.id, "edit", body, note.value, errorBox);
  };
  return form;
}

// The declared range, checked here as the coordinator will (the same words as its refusal).
function outOfRange(value, declarations) {
  for (const d of declarations) {
    const lowOk = d.low === null || value >= d.low, highOk = d.high === null || value <= d.high;
    if (lowOk && highOk) continue;
    const what = d.low !== null && d.high !== null ? `must be in [${d.low}, ${d.high}]` : d.low !== null ? `must be at least ${d.low}` : `must be at most ${d.high}`;
    return `${what}, got ${value} (as ${d.by} declares)`;
  }
  return null;
}

async function send(id, verdict, payload, note, errorBox) {
  const box = errorBox || $("decide-error");
  box.textContent = "";
  const response = await fetch("/api/decide", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": S.state.csrf },
    body: json({ id, verdict, payload, note: note || "" }),
  });
  const reply = await response.json();
  if (!reply.ok) {
    const done = (S.snapshot.decisions || []).find((d) => d.id === id);
    box.textContent = done ? `#${id} was already ${done.verdict} by ${done.decided_by}` : reply.error;
    box.dataset.error = reply.error;
  } else {
    S.decidedHere[id] = verdict;
    const card = $("pending").querySelector(`[data-id="${id}"]`);
    if (card) card.classList.add("sent");
  }
}

function renderTimeLeft() {
  const now = Date.now() / 1000;
  for (const card of $("pending").children) {
    const d = card.dataset.deadline;
    card.querySelector(".left").textContent = d ? `${Math.max(0, Number(d) - now).toFixed(0)} s left` : "no time limit";
  }
}

// ------------------------------------------------------------------ plots
function buildPicker() {
  const pick = $("signal-pick");
  pick.replaceChildren(pick.options[0] || el("option", { value: "", text: "add a signal..." }));
  for (const sig of S.state.signals) pick.append(el("option", { value: sig.id, text: `${sig.name} [${sig.unit || "-"}]` }));
  pick.onchange = () => {
    if (!pick.value) return;
    const panels = S.state.panels;
    if (!panels.length || panels[panels.length - 1].title !== "chosen") panels.push({ title: "chosen", signals: [] });
    panels[panels.length - 1].signals.push(Number(pick.value));
    pick.value = ""; buildPlots(); S.dirty = true;
  };
}

const allPanels = () => S.state.panels.concat(S.twinPanels || []);

function buildPlots() {
  for (const id of ["plots", "pacing-plots", "sync-plots"]) $(id).replaceChildren();
  allPanels().forEach((panel, i) => {
    const box = $(panel.box || "plots");
    const canvas = el("canvas", { class: "plot", "data-panel": i });
    const legend = el("div", { class: "legend" });
    panel.signals.forEach((id, j) => {
      const s = S.names[id];
      legend.append(el("span", {}, el("i"), `${s.name} [${s.unit || "-"}]`));
      legend.lastChild.firstChild.style.background = COLOURS[j % COLOURS.length];
    });
    box.append(el("div", { class: "plot-box" }, el("div", { class: "plot-title", text: panel.title }), legend, canvas));
    zoomable(canvas, i);
  });
}

function zoomable(canvas, i) {
  let from = null;
  canvas.onmousedown = (ev) => { from = ev.offsetX; };
  canvas.onmouseup = (ev) => {
    if (from === null || Math.abs(ev.offsetX - from) < 5) { from = null; return; }
    const [t0, t1] = S.zoom[i] || plotRange(), w = canvas.clientWidth - 60;
    const a = t0 + (Math.min(from, ev.offsetX) - 50) / w * (t1 - t0), b = t0 + (Math.max(from, ev.offsetX) - 50) / w * (t1 - t0);
    S.zoom[i] = [a, b]; from = null; S.dirty = true;
  };
  canvas.ondblclick = () => { delete S.zoom[i]; S.dirty = true; };
}

function newest() {   // the latest time any federate has computed (live), or the run's end
  if (S.state.mode !== "live") return S.state.stop;
  return Math.max(S.snapshot.clock, ...S.snapshot.federates.map((f) => f.time === null ? -Infinity : f.time));
}

function plotRange() {
  const st = S.state;
  return [st.start, Math.max(newest(), st.start + 1)];
}

function renderPlots() {
  document.querySelectorAll("canvas.plot").forEach((canvas) => {
    const i = Number(canvas.dataset.panel), panel = allPanels()[i];
    const ratio = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
    if (canvas.width !== W * ratio) { canvas.width = W * ratio; canvas.height = H * ratio; }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, W, H);
    const [t0, t1] = S.zoom[i] || plotRange();
    let lo = Infinity, hi = -Infinity, points = 0, lastT = null;
    for (const id of panel.signals) {
      const s = S.series[id];
      for (let k = 0; k < s.t.length; k++) if (s.t[k] >= t0 && s.t[k] <= t1) { lo = Math.min(lo, s.v[k]); hi = Math.max(hi, s.v[k]); }
    }
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    if (hi === lo) { hi += 0.5; lo -= 0.5; }
    const L = 50, R = 10, T = 8, B = 20, x = (t) => L + (t - t0) / (t1 - t0) * (W - L - R), y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
    g.strokeStyle = "#ccd3dc"; g.fillStyle = "#6b7785"; g.font = "10px system-ui"; g.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const v = lo + (hi - lo) * k / 4; g.beginPath(); g.moveTo(L, y(v)); g.lineTo(W - R, y(v)); g.stroke();
      g.fillText(fmtNum(v), 2, y(v) + 3);
      const t = t0 + (t1 - t0) * k / 4; g.fillText(`${(t / 3600).toFixed(1)} h`, x(t) - 12, H - 5);
    }
    const holdTo = Math.min(t1, newest());
    panel.signals.forEach((id, j) => {
      const s = S.series[id];
      g.strokeStyle = COLOURS[j % COLOURS.length]; g.lineWidth = 1.5; g.beginPath();
      let started = false, prev = null, lastV = null;
      for (let k = 0; k < s.t.length; k++) {
        if (s.t[k] > t1) break;
        if (s.t[k] < t0) { prev = s.v[k]; continue; }
        if (!started) { g.moveTo(x(Math.max(t0, s.t[k])), y(prev === null ? s.v[k] : prev)); started = true; }
        else g.lineTo(x(s.t[k]), y(s.v[k - 1]));   // sample and hold
        g.lineTo(x(s.t[k]), y(s.v[k]));
        points++; lastT = s.t[k]; lastV = s.v[k];
      }
      if (started && lastV !== null && holdTo > lastT) g.lineTo(x(holdTo), y(lastV));  // held since
      g.stroke();
    });
    if (S.cursor !== null) { g.strokeStyle = "#c0392b"; g.beginPath(); g.moveTo(x(S.cursor), T); g.lineTo(x(S.cursor), H - B); g.stroke(); }
    canvas.dataset.points = String(points);
    canvas.dataset.last = lastT === null ? "" : String(lastT);
  });
}

// ------------------------------------------------------------------ dependency graph
function drawGraph() {
  const gr = S.state.graph, svg = $("graph");
  svg.replaceChildren();
  if (!gr) return;
  const k = 72, pad = 10;
  svg.setAttribute("viewBox", `${-pad} ${-pad} ${gr.width * k + 2 * pad} ${gr.height * k + 2 * pad + 14}`);
  const Y = (y) => (gr.height - y) * k;
  const defs = svgEl("defs"), marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#404040" })); defs.append(marker); svg.append(defs);
  const dash = { direct: "", delayed: "6 3", iterate: "", message: "2 3" };
  for (const e of gr.edges) {
    const d = e.points.map((p, i) => `${i ? "L" : "M"}${p[0] * k},${Y(p[1])}`).join(" ");
    svg.append(svgEl("path", { d, fill: "none", stroke: "#404040", "stroke-width": e.kind === "iterate" ? 2.8 : 1.2,
      "stroke-dasharray": dash[e.kind] || "", "marker-end": "url(#arrow)", class: `edge ${e.kind}` }));
  }
  for (const n of gr.nodes) {
    const g = svgEl("g", { class: "node", "data-name": n.name });
    g.append(svgEl("rect", { x: (n.x - n.w / 2) * k, y: Y(n.y + n.h / 2), width: n.w * k, height: n.h * k, rx: 4, fill: "#e8f0fb", stroke: "#1f6fb2" }));
    n.text.split("\n").forEach((line, i) => {
      const t = svgEl("text", { x: n.x * k, y: Y(n.y) + (i - 0.3) * 12, "text-anchor": "middle" }); t.textContent = line; g.append(t);
    });
    svg.append(g);
  }
  const legend = svgEl("text", { x: 0, y: gr.height * k + 4 });
  legend.textContent = "solid: direct   dashed: delayed   bold: iterate   dotted: message";
  svg.append(legend);
}

// ------------------------------------------------------------------ schematic of the assets
function buildSchematic() {
  const sc = S.state.schematic, svg = $("schematic");
  if (!sc) { $("map-panel").hidden = true; return; }
  svg.replaceChildren();
  const placed = sc.assets.filter((a) => a.chainage !== null), max = Math.max(1, ...placed.map((a) => a.chainage));
  svg.append(svgEl("rect", { x: 10, y: 60, width: 90, height: 60, fill: "#9ec5e8", stroke: "#1f6fb2", id: "reservoir" }));
  const dam = svgEl("text", { x: 55, y: 50, "text-anchor": "middle" }); dam.textContent = "reservoir"; svg.append(dam);
  svg.append(svgEl("rect", { x: 100, y: 55, width: 10, height: 70, fill: "#555", id: "dam" }));
  svg.append(svgEl("path", { d: "M110,90 C300,70 500,110 990,90", stroke: "#1f6fb2", "stroke-width": 14, fill: "none", id: "river", opacity: 0.6 }));
  const info = svgEl("text", { x: 10, y: 232, id: "river-info" }); svg.append(info);
  let free = 0;
  sc.assets.forEach((a, i) => {
    const x = a.chainage !== null ? 150 + a.chainage / max * 700 : 150 + (free++) * 160;
    const yy = a.chainage !== null ? (i % 2 ? 40 : 130) : 190;
    const g = svgEl("g", { class: "asset", "data-name": a.name, transform: `translate(${x},${yy})` });
    g.append(svgEl("rect", { x: -12, y: -12, width: 24, height: 24, rx: a.kind === "hospital" ? 12 : 2, fill: "#2e7d32", stroke: "#1d2733" }));
    const label = svgEl("text", { x: 16, y: 4 }); label.textContent = a.name; g.append(label);
    const state = svgEl("text", { x: 16, y: 17, class: "asset-state" }); g.append(state);
    svg.append(g);
  });
  const legend = svgEl("text", { x: 990, y: 232, "text-anchor": "end" });
  legend.textContent = "green: normal  blue: flooded  grey: out of power  orange: on generator";
  svg.append(legend);
}

function valueAt(id, t) {
  if (id === null || id === undefined) return null;
  const s = S.series[id];
  if (!s || !s.t.length) return null;
  if (t === null) return s.v[s.v.length - 1];
  let lo = 0, hi = s.t.length - 1, found = null;
  while (lo <= hi) { const m = (lo + hi) >> 1; if (s.t[m] <= t) { found = m; lo = m + 1; } else hi = m - 1; }
  return found === null ? null : s.v[found];
}

function renderSchematic() {
  const sc = S.state.schematic;
  if (!sc) return;
  const t = S.cursor;
  for (const a of sc.assets) {
    const g = $("schematic").querySelector(`[data-name="${a.name}"]`);
    const depth = valueAt(a.depth, t), on = valueAt(a.energized, t), gen = valueAt(a.generator, t);
    const states = [];
    let fill = "#2e7d32";
    if (on === 0) { fill = "#8a939c"; states.push("out"); }
    if (gen === 1) { fill = "#e67e22"; states.push("on generator"); }
    if (depth !== null && depth > 0.05) { fill = on === 0 ? "#4a6fa5" : "#1f6fb2"; states.push(`flooded ${depth.toFixed(2)} m`); }
    g.querySelector("rect").setAttribute("fill", fill);
    g.querySelector(".asset-state").textContent = states.join(", ");
    g.dataset.state = states.join(",") || "normal";
  }
  const level = valueAt(sc.river.reservoir_level, t), gate = valueAt(sc.river.gate_position, t), stage = valueAt(sc.stage, t);
  $("river-info").textContent = `pool ${fmtNum(level)} m, gate ${fmtNum(gate)} open, river stage ${fmtNum(stage)} m`;
}

// ------------------------------------------------------------------ a finished run: the timeline
function setupScrubber() {
  const st = S.state, range = $("cursor");
  $("scrubber").hidden = false;
  range.min = String(st.start); range.max = String(st.stop); range.value = String(st.stop);
  S.cursor = st.stop;
  range.oninput = () => { S.cursor = Number(range.value); $("cursor-text").textContent = fmtTime(S.cursor); filterMessages(); S.dirty = true; };
  $("cursor-text").textContent = fmtTime(S.cursor);
}

$("msg-filter").addEventListener("input", filterMessages);
load();

// ------------------------------------------------------------------ pacing and synchronisation (the live twin)
// The store's `pacing` rows (each grant instant's lag) and `synchronisation` rows (each measurement:
// model before and after, residual, alarm, running statistics), read at load and then every second.
function setupTwin(st) {
  S.pace = st.pace;
  S.pacing = { t: [], v: [] };
  S.sync = { pairs: st.sync.pairs, rows: [] };
  S.twinPanels = [];
  const paced = st.pace || (st.snapshot && st.snapshot.pace);
  $("pacing-panel").hidden = !paced; $("pace-box").hidden = !paced;
  if (paced) {
    S.names["~lag"] = { id: "~lag", name: "grant lag behind the wall clock", unit: "s" };
    S.series["~lag"] = S.pacing;
    S.twinPanels.push({ title: "lag of each grant instant behind its wall-clock instant", signals: ["~lag"], box: "pacing-plots" });
  }
  $("sync-panel").hidden = !S.sync.pairs.length;
  for (const p of S.sync.pairs) {
    const unit = p.unit || "";
    const series = { m: `${p.measured} (measured)`, b: `${p.model} before correction`, a: `${p.model} after`,
                     r: "residual (model - measurement)", hi: "+ acceptable", lo: "- acceptable" };
    for (const [k, name] of Object.entries(series)) {
      S.names[`~${k}${p.id}`] = { id: `~${k}${p.id}`, name, unit };
      S.series[`~${k}${p.id}`] = { t: [], v: [] };
    }
    if (p.acceptable !== null) {
      S.series[`~hi${p.id}`] = { t: [st.start], v: [p.acceptable] };
      S.series[`~lo${p.id}`] = { t: [st.start], v: [-p.acceptable] };
    }
    S.twinPanels.push({ title: `${p.model}: model vs measurement (${p.method})`, signals: [`~m${p.id}`, `~b${p.id}`, `~a${p.id}`], box: "sync-plots", pair: p.id });
    S.twinPanels.push({ title: `${p.model}: residual` + (p.acceptable !== null ? `, acceptable within ±${p.acceptable} ${unit}` : ""),
                        signals: p.acceptable !== null ? [`~r${p.id}`, `~hi${p.id}`, `~lo${p.id}`] : [`~r${p.id}`], box: "sync-plots", pair: p.id });
  }
  addTwin({ pacing: st.pacing || [], sync: st.sync.rows || [] });
}

function addTwin(tw) {
  for (const [t, lag] of tw.pacing || []) { S.pacing.t.push(t); S.pacing.v.push(lag); }
  for (const r of tw.sync || []) {
    S.sync.rows.push(r);
    const [t, pair, status, measured, before, after, residual] = r;
    const push = (k, v) => { const s = S.series[`~${k}${pair}`]; if (s && v !== null && (!s.t.length || t >= s.t[s.t.length - 1])) { s.t.push(t); s.v.push(v); } };
    if (status === "corrected" || status === "observed") push("m", measured);
    push("b", before); push("a", after); if (residual !== null) push("r", residual);
  }
}

function fmtWall(s) {   // wall seconds
  if (s === null || s === undefined) return "-";
  return Math.abs(s) < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

// The pacing figures: live from the coordinator's snapshot; for a finished run, from the rows up to the cursor.
function paceFigures() {
  const sn = S.snapshot;
  if (S.state.mode === "live" && sn.pace) return sn.pace;
  if (!S.pace) return null;
  const upto = S.cursor === null ? Infinity : S.cursor, skip = S.pace.catch_up || 0, lags = [];
  let lag = null;
  for (let k = 0; k < S.pacing.t.length && S.pacing.t[k] <= upto; k++) { lag = S.pacing.v[k]; if (k >= skip) lags.push(lag); }
  lags.sort((a, b) => a - b);
  const n = lags.length, rank = (q) => n ? lags[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] : null;
  const mean = n ? lags.reduce((a, b) => a + b, 0) / n : 0;
  const jitter = n ? Math.sqrt(lags.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n) : null;
  return { factor: S.pace.factor, hold_back: S.pace.hold_back, max_lag: S.pace.max_lag, lag, due: null,
           grants: n, catch_up: skip, p50: rank(0.5), p99: rank(0.99), max: n ? lags[n - 1] : null, jitter };
}

function renderPacing() {
  const f = paceFigures();
  if (!f) return;
  $("pace").textContent = `${fmtNum(f.factor)}x`;
  $("lag").textContent = `${fmtWall(f.lag)} (p99 ${fmtWall(f.p99)})`;
  $("lag").dataset.seconds = f.lag === null ? "" : String(f.lag);
  $("lag").className = f.max_lag && f.lag > f.max_lag / 2 ? "late" : "";
  const clock = S.cursor !== null ? S.cursor : S.snapshot.clock;
  const rows = [["target pace", `${fmtNum(f.factor)}x real time (simulated seconds per wall second)` +
                 (f.hold_back ? `, ${fmtNum(f.hold_back)} s hold-back` : "") + (f.max_lag ? `, fails beyond ${fmtNum(f.max_lag)} s of lag` : "")]];
  if (f.due !== null && f.due !== undefined) {
    const behind = f.due - clock;   // simulated seconds the federation is behind the wall clock's instant
    rows.push(["federation clock against the wall clock",
               `at ${fmtTime(clock)}; the wall clock is at ${fmtTime(Math.max(0, f.due))}: ` +
               (behind > 0 ? `${fmtWall(behind / f.factor)} of wall time behind (waiting for the next instant or a step)` : "on schedule")]);
  }
  rows.push(["lag of the latest grant", fmtWall(f.lag)],
            ["lag p50 / p99 / max", `${fmtWall(f.p50)} / ${fmtWall(f.p99)} / ${fmtWall(f.max)}`],
            ["jitter (standard deviation of the lag)", fmtWall(f.jitter)],
            ["grant instants measured", `${f.grants}` + (f.catch_up ? ` (and ${f.catch_up} caught up at the start)` : "")]);
  if (S.state.mode !== "live") rows.push(["", `figures up to ${fmtTime(clock)} (the time slider)`]);
  $("pacing").tBodies[0].replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))));
  $("pacing").dataset.p99 = f.p99 === null ? "" : String(f.p99);
}

function renderSync() {
  const sy = S.sync;
  if (!sy || !sy.pairs.length) return;
  const upto = S.cursor === null ? Infinity : S.cursor, last = {}, state = {}, alarms = [];
  for (const r of sy.rows) {
    if (r[0] > upto) continue;
    if (r[6] !== null) last[r[1]] = r;
    if (r[7]) { alarms.push(r); state[r[1]] = r[7] === "residual" || r[7] === "blind" ? r[7] : "ok"; }
  }
  const byId = Object.fromEntries(sy.pairs.map((p) => [p.id, p]));
  $("sync-pairs").tBodies[0].replaceChildren(...sy.pairs.map((p) => {
    const r = last[p.id], s = state[p.id] || "ok";
    const deadband = p.clear_within !== null && p.clear_within !== undefined && p.clear_within !== p.acceptable;
    const stateText = s === "residual" ? "ALARM: went beyond acceptable" + (deadband ? `, clears within ±${fmtNum(p.clear_within)}` : "")
      : s === "blind" ? "ALARM: blind" : r ? "within" : "no measurement yet";
    const stat = (k) => r ? fmtNum(r[k]) : "-";
    return el("tr", { "data-pair": p.id, "data-state": s, class: s === "ok" ? "" : "alarm" },
      el("td", { text: `${p.measured} -> ${p.model}` }), el("td", { text: p.method }),
      el("td", { class: "num residual", text: r ? `${fmtNum(r[6])} ${p.unit}` : "-" }),
      el("td", { class: "num", text: p.acceptable === null ? "-" : `±${fmtNum(p.acceptable)}` }),
      el("td", { class: "num", text: stat(10) }), el("td", { class: "num", text: stat(9) }), el("td", { class: "num", text: stat(11) }),
      el("td", { class: "num", text: r ? String(r[8]) : "0" }), el("td", { class: "state", text: stateText }));
  }));
  const raised = alarms.filter((r) => r[7] === "residual" || r[7] === "blind").length;
  $("alarm-count").textContent = raised ? String(raised) : "";
  $("alarm-count").dataset.raised = String(raised);
  $("alarms").tBodies[0].replaceChildren(...alarms.slice(-200).reverse().map((r) => {
    const p = byId[r[1]] || { model: r[1], acceptable: null };
    return el("tr", { class: `alarm-${r[7]}`, "data-alarm": r[7] },
      el("td", { class: "num", text: fmtTime(r[0]) }), el("td", { text: r[7] }), el("td", { text: p.model }),
      el("td", { class: "num", text: fmtNum(r[6]) }), el("td", { class: "num", text: fmtNum(r[4]) }),
      el("td", { class: "num", text: fmtNum(r[3]) }), el("td", { class: "num", text: p.acceptable === null ? "-" : `±${fmtNum(p.acceptable)}` }));
  }));
}

// kubetask dashboard: vanilla JS, no build step. Live data arrives over server-sent
// events (/api/v1/events); the task table and details come from the JSON API.
// Every piece of task data is put into the page with textContent, never as HTML.
import { ThroughputChart } from "/static/chart.js";
import { fmtAgo, fmtDuration, fmtNumber, fmtTime } from "/static/format.js";

const TERMINAL = new Set(["succeeded", "dead", "cancelled"]);
const PRIORITY_NAMES = ["low", "normal", "high", "urgent"];

const state = {
  info: { writes: "disabled", namespace: "" },
  stats: null,
  pages: [null], // cursors: pages[i] is the `after` of page i
  next: null,
  rows: new Map(), // task id -> <tr>
  tasks: new Map(), // task id -> the task shown in that row
  detailId: null,
  refreshTimer: null,
  lastRefresh: 0,
  source: null, // the EventSource, while live updates come from it
  clock: { at: null, still: 0 }, // performance.now() at stats frames: does time pass?
};

let chart = null; // the ThroughputChart, made at start

// --- small DOM helpers ---------------------------------------------------------------
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("data-") || ["title", "type", "value", "tabindex", "role", "aria-label", "datetime"].includes(key)) {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmtJson(value) {
  if (value === null || value === undefined) return "null";
  return JSON.stringify(value, null, 2);
}

function badge(value, look = value) {
  return el("span", { class: `badge ${look}`, "data-state": value }, value);
}

// An attempt's outcome, coloured like the task state closest to it.
const OUTCOME_LOOK = { succeeded: "succeeded", failed: "dead", lost: "retrying", cancelled: "cancelled", "handed-back": "pending" };

// --- copying ids ----------------------------------------------------------------------
// The Clipboard API needs a secure context (https, or localhost); elsewhere the text is
// selected and copied the old way.
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch (_) { /* fall back */ }
  }
  const area = el("textarea", { class: "offscreen" });
  area.value = text;
  document.body.append(area);
  area.select();
  let done = false;
  try { done = document.execCommand("copy"); } catch (_) { done = false; }
  area.remove();
  return done;
}

async function copyId(id) {
  if (await copyText(id)) toast(`Copied ${id}`);
  else toast(`Copy failed; the id is ${id}`, true);
}

function copyButton(id) {
  const button = el("button", { type: "button", class: "copy-id", title: `Copy ${id}`, "aria-label": "Copy the task id", "data-copy": id }, "⧉");
  button.addEventListener("click", (e) => { e.stopPropagation(); copyId(id); });
  button.addEventListener("keydown", (e) => e.stopPropagation()); // Enter copies, not opens
  return button;
}

function toast(message, bad = false) {
  const node = el("div", { class: bad ? "toast bad" : "toast", role: "status" }, message);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), bad ? 6000 : 3500);
}

// --- API ---------------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const token = sessionStorage.getItem("kubetask-token");
  if (token && options.method && options.method !== "GET") headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

// --- mode (read-only / writes) --------------------------------------------------------
function applyInfo(info) {
  state.info = info;
  $("#namespace").textContent = info.namespace;
  const mode = $("#mode");
  mode.dataset.mode = info.writes;
  mode.textContent = { open: "writes enabled", token: "writes need a token", disabled: "read-only" }[info.writes] || info.writes;
  $("#token-open").hidden = info.writes !== "token";
  const canWrite = info.writes !== "disabled";
  for (const node of document.querySelectorAll("[data-write]")) {
    node.disabled = !canWrite;
    node.title = canWrite ? "" : "Read-only: start the dashboard with --allow-writes or --token";
  }
}

// --- stats: totals, queues, workers, chart --------------------------------------------
function totalsOf(queues) {
  const keys = ["pending", "running", "succeeded", "retrying", "dead", "cancelled", "failed_attempts", "workers", "throughput_per_minute", "total"];
  const totals = Object.fromEntries(keys.map((k) => [k, 0]));
  for (const q of queues) for (const k of keys) totals[k] += q[k] || 0;
  return totals;
}

function renderTotals(totals) {
  for (const card of document.querySelectorAll("#totals [data-total]")) {
    $(".value", card).textContent = fmtNumber(totals[card.dataset.total]);
  }
}

function cell(value, cls = "num") {
  return el("td", { class: value === 0 ? `${cls} zero` : cls }, fmtNumber(value));
}

function priorityBar(byPriority) {
  const bar = el("div", { class: "prio", title: PRIORITY_NAMES.slice().reverse().map((p) => `${p}: ${byPriority[p] || 0}`).join(", ") });
  const total = Object.values(byPriority).reduce((a, b) => a + b, 0);
  if (total > 0) {
    for (let p = 3; p >= 0; p--) {
      const n = byPriority[PRIORITY_NAMES[p]] || 0;
      if (!n) continue;
      const part = el("span", { class: `p${p}` });
      part.style.width = `${(100 * n) / total}%`;
      bar.append(part);
    }
  }
  return bar;
}

function retryDefaults(config) {
  if (!config || Object.keys(config).length === 0) return null;
  const parts = [];
  if (config.max_retries !== undefined) parts.push(`${config.max_retries} retries`);
  if (config.retry_base_seconds !== undefined || config.retry_cap_seconds !== undefined) {
    parts.push(`backoff ${config.retry_base_seconds ?? "·"}–${config.retry_cap_seconds ?? "·"} s`);
  }
  return el("span", { class: "sub queue-config", title: "This queue's retry defaults (kubetask queue set); "
    + "the rest come from the workers' flags" }, parts.join(" · "));
}

function renderQueues(queues) {
  const body = $("#queues tbody");
  body.replaceChildren(...queues.map((q) => el("tr", { "data-queue": q.queue },
    el("td", { class: "queue-name" }, el("b", {}, q.queue),
      el("span", { class: "sub", title: "The scheduler leading this queue" }, q.leader ? `led by ${q.leader}` : "no scheduler"),
      retryDefaults(q.config)),
    cell(q.pending), el("td", {}, priorityBar(q.pending_by_priority || {})),
    cell(q.running), cell(q.succeeded), cell(q.retrying), cell(q.dead), cell(q.cancelled),
    cell(q.failed_attempts, "num attempts"), cell(q.workers))));
  for (const row of body.rows) {
    const q = queues.find((x) => x.queue === row.dataset.queue);
    const names = ["pending", null, "running", "succeeded", "retrying", "dead", "cancelled", "failed_attempts", "workers"];
    names.forEach((name, i) => { if (name) row.cells[i + 1].dataset.stat = name; });
    row.title = `${q.total} tasks in total`;
    if (q.orphaned) row.cells[3].title = `${q.orphaned} of them held by workers that left (handed back shortly)`;
  }
  $("#queues-empty").hidden = queues.length > 0;
  $("#queues-sub").textContent = queues.length ? `${queues.length} queue${queues.length > 1 ? "s" : ""}` : "";
  syncQueueChoices(queues.map((q) => q.queue));
}

function syncQueueChoices(names) {
  const select = $("#filters [name=queue]");
  const have = new Set([...select.options].map((o) => o.value));
  for (const name of names) if (!have.has(name)) select.append(el("option", { value: name }, name));
  const list = $("#known-queues");
  const listed = new Set([...list.options].map((o) => o.value));
  for (const name of names) if (!listed.has(name)) list.append(el("option", { value: name }));
}

// A load bar. Busy slots are the point of a worker, not a fault: a full slot bar keeps a
// calm colour; only memory near its limit turns amber, then red.
function meter(label, fraction, text, alarm = false, title = "") {
  const fill = el("span");
  const f = Math.max(0, Math.min(1, fraction || 0));
  fill.style.width = `${(f * 100).toFixed(1)}%`;
  if (alarm && f >= 0.95) fill.className = "full";
  else if (alarm && f >= 0.8) fill.className = "hot";
  else if (f >= 0.999) fill.className = "busy";
  return el("div", { class: "meter", "data-meter": label.toLowerCase(), title },
    el("span", {}, label), el("div", { class: "bar" }, fill), el("span", { class: "v" }, text));
}

function figure(name, value, label, title, look = "") {
  return el("div", { class: `figure ${look}`.trim(), "data-figure": name, title },
    el("b", {}, fmtNumber(value)), el("span", {}, label));
}

function workerCard(w) {
  const since = new Date(w.counted_since * 1000).toISOString();
  return el("div", { class: "worker", "data-worker": w.id },
    el("div", { class: "worker-head" },
      el("span", { class: "name", title: `${w.id} on ${w.hostname || "?"} (pid ${w.pid || "?"})` }, w.id),
      el("span", { class: "chip" }, w.queue), badge(w.state)),
    el("div", { class: "meters" },
      meter("Slots", w.capacity ? w.busy_slots / w.capacity : 0,
        `${w.busy_slots} / ${w.capacity}` + (w.prefetched ? ` +${w.prefetched}` : ""), false,
        `${w.busy_slots} of ${w.capacity} slots busy; ${w.prefetched} more assigned, ` +
        `prefetched, waiting for a slot (it takes ${w.prefetch} now)`),
      meter("CPU", (w.cpu_percent || 0) / 100, `${(w.cpu_percent || 0).toFixed(0)} %`),
      meter("Memory", (w.memory_percent || 0) / 100, `${(w.memory_percent || 0).toFixed(0)} %`, true)),
    el("div", { class: "figures" },
      figure("succeeded", w.succeeded, "succeeded", "Tasks this worker ended succeeded, since it started", "ok"),
      figure("failed_attempts", w.failed_attempts, "failed attempts", "Attempts this worker ended failed, since it started", w.failed_attempts ? "bad" : ""),
      figure("per_minute", w.finished_last_minute, "ended / min", "Attempts it ended in the last minute")),
    el("div", { class: "worker-foot" },
      el("span", { class: "since", title: `Its succeeded and failed attempts count from its start, ${fmtTime(since)}` }, `started ${fmtAgo(since)}`),
      el("span", { class: "age", title: "Time since the last heartbeat" }, `seen ${fmtDuration(w.heartbeat_age_seconds)} ago`)));
}

function renderWorkers(queues) {
  const workers = queues.flatMap((q) => (q.worker_stats || []).map((w) => ({ ...w, queue: q.queue })));
  workers.sort((a, b) => (a.queue + a.id).localeCompare(b.queue + b.id));
  $("#workers").replaceChildren(...workers.map(workerCard));
  $("#workers-empty").hidden = workers.length > 0;
  // A draining worker takes no more tasks: only the slots its running tasks hold count.
  const draining = workers.filter((w) => w.state === "draining").length;
  const slots = workers.reduce((a, w) => a + (w.state === "draining" ? w.busy_slots : w.capacity), 0);
  const busy = workers.reduce((a, w) => a + w.busy_slots, 0);
  const count = `${workers.length} worker${workers.length > 1 ? "s" : ""}` +
    (draining ? ` (${draining} draining)` : "");
  $("#workers-sub").textContent = workers.length ? `${count} · ${busy} of ${slots} slots busy` : "";
}

function applyStats(stats) {
  state.stats = stats;
  const totals = totalsOf(stats.queues);
  renderTotals(totals);
  renderQueues(stats.queues);
  renderWorkers(stats.queues);
  chart.record(totals, stats.time);
  chart.draw();
  $("#banner").hidden = true;
}

// --- the task table ------------------------------------------------------------------
function filters() {
  const form = $("#filters");
  const params = new URLSearchParams();
  for (const name of ["queue", "state", "type", "priority", "limit"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function matchesFilters(task) {
  const f = filters();
  if (f.get("queue") && task.queue !== f.get("queue")) return false;
  if (f.get("state") && task.state !== f.get("state")) return false;
  if (f.get("type") && task.type !== f.get("type")) return false;
  if (f.get("priority") && task.priority_name !== f.get("priority")) return false;
  return true;
}

function taskRow(t) {
  const row = el("tr", { "data-id": t.id, tabindex: 0 });
  fillRow(row, t);
  row.addEventListener("click", () => openDetail(t.id));
  row.addEventListener("keydown", (e) => { if (e.key === "Enter") openDetail(t.id); });
  return row;
}

function fillRow(row, t) {
  state.tasks.set(t.id, t);
  row.dataset.state = t.state;
  row.replaceChildren(
    el("td", { class: "id", title: t.id, "data-id": t.id },
      el("span", { class: "short" }, t.id.slice(0, 8) + "…" + t.id.slice(-4)), copyButton(t.id)),
    el("td", { class: "clip", title: t.name }, t.name),
    el("td", {}, t.queue),
    el("td", {}, t.type),
    el("td", {}, el("span", { class: `prio-tag ${t.priority_name}` }, t.priority_name)),
    el("td", { "data-col": "state" }, badge(t.state)),
    el("td", { class: "num" }, `${t.attempts}`),
    el("td", { class: "clip" }, t.worker || "–"),
    el("td", { title: fmtTime(t.created_at), "data-col": "created" }, fmtAgo(t.created_at)),
    el("td", { title: fmtTime(t.finished_at), "data-col": "finished" },
      t.finished_at ? fmtAgo(t.finished_at) : "–"));
}

async function loadTasks() {
  const params = filters();
  const after = state.pages[state.pages.length - 1];
  if (after) params.set("after", after);
  state.lastRefresh = Date.now();
  let data;
  try {
    data = await api(`/api/v1/tasks?${params}`);
  } catch (err) {
    toast(`Cannot list tasks: ${err.message}`, true);
    return;
  }
  state.next = data.next;
  state.rows.clear();
  state.tasks.clear();
  const rows = data.tasks.map((t) => {
    const row = taskRow(t);
    state.rows.set(t.id, row);
    return row;
  });
  $("#tasks tbody").replaceChildren(...rows);
  $("#tasks-empty").hidden = rows.length > 0;
  const filtered = ["queue", "state", "type", "priority"].some((name) => params.get(name));
  $("#tasks-empty").textContent = filtered || state.pages.length > 1
    ? "No tasks match these filters."
    : "No tasks yet: submit one with Submit task or kubetask client.";
  $("#newer").disabled = state.pages.length <= 1;
  $("#older").disabled = !data.next;
  $("#page-info").textContent = rows.length ? `page ${state.pages.length} · ${rows.length} task${rows.length > 1 ? "s" : ""}` : "";
}

function scheduleRefresh() {
  if (state.refreshTimer) return;
  const wait = Math.max(250, 1000 - (Date.now() - state.lastRefresh));
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    loadTasks();
  }, wait);
}

function applyTaskChanges(tasks) {
  let refresh = false;
  for (const t of tasks) {
    const row = state.rows.get(t.id);
    if (row) {
      if (row.dataset.state !== t.state) {
        fillRow(row, t);
        row.classList.remove("flash");
        void row.offsetWidth; // restart the animation
        row.classList.add("flash");
      } else {
        fillRow(row, t);
      }
      if (!matchesFilters(t)) refresh = true;
    } else if (state.pages.length === 1 && matchesFilters(t)) {
      refresh = true; // a new (or newly matching) task belongs on the first page
    }
    if (t.id === state.detailId) loadDetail(t.id);
  }
  if (refresh) scheduleRefresh();
}

// --- task details -------------------------------------------------------------------
function fact(label, value, cls) {
  return el("div", {}, el("dt", {}, label), el("dd", { class: cls, title: String(value) }, value));
}

// Attempts against the budget that applies: the task's own, else its queue's (as
// `kubetask task get` says), else the workers' --max-retries (3 unless they were told).
function attemptsOf(t) {
  if (t.max_retries !== null) return `${t.attempts} of ${t.max_retries + 1}`;
  const queue = (state.stats?.queues || []).find((q) => q.queue === t.queue);
  const retries = queue?.config?.max_retries;
  if (retries !== undefined && retries !== null) {
    return `${t.attempts} of ${retries + 1} (queue ${t.queue}'s retries)`;
  }
  return `${t.attempts} (retries: the workers' --max-retries, default 3)`;
}

function renderDetail(t) {
  $("#detail-title").textContent = t.name;
  $("#detail-id").textContent = t.id;
  const stateBadge = $("#detail-state");
  stateBadge.className = `badge ${t.state}`;
  stateBadge.dataset.state = t.state;
  stateBadge.textContent = t.state;
  $("#detail-facts").replaceChildren(
    fact("Queue", t.queue), fact("Type", t.type), fact("Priority", `${t.priority_name} (${t.priority})`),
    fact("Attempts", attemptsOf(t)), fact("Worker", t.worker || "–"),
    fact("Timeout", t.timeout_seconds ? `${t.timeout_seconds} s` : "none"),
    fact("Created", fmtTime(t.created_at)), fact("Started", fmtTime(t.started_at)),
    fact("Finished", fmtTime(t.finished_at)),
    fact("Run at", fmtTime(t.run_at)), fact("Idempotency key", t.idempotency_key || "–"));
  const error = $("#detail-error");
  error.hidden = !t.error;
  error.textContent = t.error || "";
  $("#detail-payload").textContent = fmtJson(t.payload);
  $("#detail-result").textContent = fmtJson(t.result);
  const history = t.history || [];
  // `#` is the attempt's number: its place in the history (never repeats, across a retry too).
  $("#detail-attempts tbody").replaceChildren(...history.map((a, i) => {
    const took = a.started_at && a.finished_at ? (new Date(a.finished_at) - new Date(a.started_at)) / 1000 : null;
    return el("tr", {},
      el("td", { class: "num" }, `${a.number ?? i + 1}`),
      el("td", { class: "mono clip", title: a.worker || "" }, a.worker),
      el("td", { class: "when" }, fmtTime(a.started_at)),
      el("td", { class: "when" }, fmtTime(a.finished_at)),
      el("td", { class: "num" }, fmtDuration(took)),
      el("td", {}, a.outcome ? badge(a.outcome, OUTCOME_LOOK[a.outcome] || "pending") : badge("running")),
      el("td", { class: "error", title: a.error || "" }, a.error || ""));
  }));
  $("#detail-no-attempts").hidden = history.length > 0;
  $("#detail-cancel").hidden = TERMINAL.has(t.state);
  $("#detail-retry").hidden = t.state !== "dead";
}

async function loadDetail(id) {
  try {
    const t = await api(`/api/v1/tasks/${encodeURIComponent(id)}`);
    if (state.detailId === id) renderDetail(t);
  } catch (err) {
    toast(`Cannot load task: ${err.message}`, true);
  }
}

function openDetail(id) {
  state.detailId = id;
  $("#detail-title").textContent = "Loading…";
  $("#detail-id").textContent = id;
  const dialog = $("#detail");
  if (!dialog.open) dialog.showModal();
  loadDetail(id);
}

async function act(action) {
  const id = state.detailId;
  if (!id) return;
  try {
    const t = await api(`/api/v1/tasks/${encodeURIComponent(id)}/${action}`, { method: "POST" });
    toast(action === "cancel"
      ? (t.state === "cancelled" ? "Task cancelled" : "Cancel requested: the worker stops the task")
      : "Task queued again");
    if (state.detailId === id) renderDetail(t);
  } catch (err) {
    if (err.status === 401) $("#token").showModal();
    toast(`Cannot ${action}: ${err.message}`, true);
  }
}

// --- submit ------------------------------------------------------------------------------
function numberOrNull(value) {
  return value.trim() === "" ? null : Number(value);
}

async function submitTask(event) {
  event.preventDefault();
  const form = event.target;
  const errorLine = $("#submit-error");
  errorLine.hidden = true;
  let payload;
  try {
    payload = form.elements.payload.value.trim() ? JSON.parse(form.elements.payload.value) : null;
  } catch (err) {
    errorLine.textContent = `Payload is not valid JSON: ${err.message}`;
    errorLine.hidden = false;
    return;
  }
  const body = {
    type: form.elements.type.value.trim(),
    queue: form.elements.queue.value.trim() || "default",
    priority: Number(form.elements.priority.value),
    payload,
  };
  const optional = { name: form.elements.name.value.trim() || null, key: form.elements.key.value.trim() || null,
    timeout: numberOrNull(form.elements.timeout.value), delay: numberOrNull(form.elements.delay.value),
    max_retries: numberOrNull(form.elements.max_retries.value) };
  for (const [k, v] of Object.entries(optional)) if (v !== null) body[k] = v;
  $("#submit-send").disabled = true;
  try {
    const t = await api("/api/v1/tasks", { method: "POST", body });
    toast(`Submitted ${t.name} (${t.id.slice(0, 8)}…)`);
    $("#submit").close();
  } catch (err) {
    if (err.status === 401) $("#token").showModal();
    errorLine.textContent = err.message;
    errorLine.hidden = false;
  } finally {
    $("#submit-send").disabled = false;
  }
}

// --- live events -------------------------------------------------------------------------
function setLive(mode, text) {
  const live = $("#live");
  live.dataset.state = mode;
  $("#live-text").textContent = text;
}

// A browser whose clock stands still while a request is open (headless Chromium with
// --virtual-time-budget, as for `--screenshot`) would wait forever for the event stream
// to end. Such a browser shows itself by stats frames arriving while performance.now()
// does not move; the page then closes the stream and polls instead (each poll ends).
const STILL_FRAMES = 3;

function clockStandsStill() {
  const now = performance.now();
  const clock = state.clock;
  if (clock.at !== null && now - clock.at < 50) clock.still += 1;
  else clock.still = 0;
  clock.at = now;
  return clock.still >= STILL_FRAMES;
}

function poll() {
  setLive("polling", "polling");
  let round = 0;
  const tick = async () => {
    try {
      applyStats(await api("/api/v1/stats"));
      if (round++ % 5 === 0) await loadTasks();
    } catch (err) {
      setLive("down", "retrying…");
    }
    setTimeout(tick, Math.max(1, state.info.stats_interval || 1) * 1000);
  };
  setTimeout(tick, 1000);
}

function connect() {
  const source = new EventSource("/api/v1/events");
  state.source = source;
  source.addEventListener("open", () => setLive("live", "live"));
  source.addEventListener("error", () => setLive("down", "reconnecting…"));
  // hello comes once the server follows task changes: listing now misses nothing.
  source.addEventListener("hello", (e) => { applyInfo(JSON.parse(e.data)); loadTasks(); });
  source.addEventListener("stats", (e) => {
    setLive("live", "live");
    applyStats(JSON.parse(e.data));
    if (clockStandsStill()) {
      source.close();
      state.source = null;
      poll();
    }
  });
  source.addEventListener("tasks", (e) => applyTaskChanges(JSON.parse(e.data).tasks));
  source.addEventListener("resync", () => loadTasks());
  source.addEventListener("problem", (e) => {
    const banner = $("#banner");
    banner.textContent = JSON.parse(e.data).error;
    banner.hidden = false;
  });
}

// --- wiring -------------------------------------------------------------------------------
function wire() {
  const form = $("#filters");
  let typing = null;
  form.addEventListener("change", () => { state.pages = [null]; loadTasks(); });
  form.addEventListener("submit", (e) => e.preventDefault());
  form.elements.type.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.pages = [null]; loadTasks(); }, 400);
  });
  $("#older").addEventListener("click", () => { if (state.next) { state.pages.push(state.next); loadTasks(); } });
  $("#newer").addEventListener("click", () => { if (state.pages.length > 1) { state.pages.pop(); loadTasks(); } });
  $("#detail-close").addEventListener("click", () => $("#detail").close());
  $("#detail-copy").addEventListener("click", () => { if (state.detailId) copyId(state.detailId); });
  $("#detail").addEventListener("close", () => { state.detailId = null; });
  $("#detail-cancel").addEventListener("click", () => act("cancel"));
  $("#detail-retry").addEventListener("click", () => act("retry"));
  $("#submit-open").addEventListener("click", () => { $("#submit-error").hidden = true; $("#submit").showModal(); });
  $("#submit-form").addEventListener("submit", submitTask);
  $("#token-open").addEventListener("click", () => $("#token").showModal());
  $("#token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("kubetask-token", e.target.elements.token.value);
    $("#token").close();
    toast("Token saved for this tab");
  });
  for (const button of document.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  window.addEventListener("resize", () => chart.draw());
  setInterval(() => { // "3s ago" grows old: refresh the relative times in place
    for (const [id, row] of state.rows) fillRow(row, state.tasks.get(id));
  }, 15000);
}

async function start() {
  chart = new ThroughputChart($("#chart"));
  wire();
  chart.draw();
  try {
    applyInfo(await api("/api/v1/info"));
    // The last two minutes so far, then a point per stats snapshot.
    chart.seed(await api("/api/v1/throughput"));
    applyStats(await api("/api/v1/stats"));
  } catch (err) {
    const banner = $("#banner");
    banner.textContent = `Cannot load the figures: ${err.message}`;
    banner.hidden = false;
  }
  await loadTasks();
  connect();
}

document.addEventListener("DOMContentLoaded", start);

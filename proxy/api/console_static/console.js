// The ops console. Every datum comes from the admin JSON routes, asked by relative URLs
// (the page works under any path prefix) with the token from sessionStorage in
// X-Admin-Token. Everything upstream is put in the page as text (textContent, never
// innerHTML): a record's markup shows as markup and never runs.
"use strict";

const TOKEN_KEY = "change-proxy.admin-token";
const REFRESH_MS = 5000;
const FOLLOW_MS = 1000;
const RUNS_SHOWN = 10;
const BUTTONS = { full: "Full sync", incremental: "Incremental sync", verify: "Verify" };
const FINISHED = new Set(["succeeded", "failed", "coalesced"]);

class AuthError extends Error {}

const $ = (id) => document.getElementById(id);
let timer = null;
const sections = new Map(); // feed name -> its section's parts

// An element with attributes and children (strings become text nodes).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function say(text, isError = false) {
  const message = $("message");
  message.textContent = text;
  message.className = isError ? "error" : "";
}

async function api(path, method = "GET") {
  const token = sessionStorage.getItem(TOKEN_KEY) || "";
  const response = await fetch(path, {
    method,
    headers: { "X-Admin-Token": token, Accept: "application/json" },
    credentials: "omit",
    cache: "no-store",
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401) throw new AuthError("The admin token was not accepted. Enter it again.");
  if (response.status === 403) {
    throw new AuthError("The admin routes are disabled on this service (ADMIN_TOKEN is not set).");
  }
  if (!response.ok) {
    const reason = body && body.error ? body.error : response.statusText;
    const error = new Error(`${response.status}: ${reason}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

function runLine(run) {
  if (!run) return "none";
  const counts = `fetched ${run.fetched}, created ${run.created}, updated ${run.updated}, ` +
    `deleted ${run.deleted}, unchanged ${run.unchanged}, ${run.requests} requests`;
  return `#${run.id} ${run.status} at ${when(run.finished_at || run.started_at)} (${counts})`;
}

// The running run with its progress so far (its row in the last runs, saved as it goes).
function running(runId, runs) {
  if (!runId) return "no";
  const run = runs.find((r) => r.id === runId);
  return run
    ? `run #${runId} (${run.mode}) since ${when(run.started_at)}: fetched ${run.fetched}, ` +
      `created ${run.created}, updated ${run.updated}, deleted ${run.deleted} so far`
    : `run #${runId}`;
}

function field(term, value) {
  return el("div", {}, el("dt", {}, term), el("dd", {}, String(value)));
}

function buildSection(name, modes) {
  const state = el("span", { class: "state" });
  const outcome = el("p", { class: "outcome", role: "status", "aria-live": "polite" });
  const actions = el("div", { class: "actions" });
  for (const mode of modes) {
    if (!(mode in BUTTONS)) continue;
    actions.append(el("button", { type: "button", onclick: () => startRun(name, mode) }, BUTTONS[mode]));
  }
  const facts = el("dl");
  const held = el("div");
  const charts = el("div", { class: "charts" });
  const runs = el("ol", { class: "runs", "aria-label": `Last runs of ${name}` });
  const changes = el("ol", { class: "changes", "aria-label": `Last changes of ${name}` });
  const headingId = `feed-${name}`;
  const section = el(
    "section",
    { "aria-labelledby": headingId, "data-feed": name },
    el("div", { class: "title" }, el("h2", { id: headingId }, name), state),
    actions, outcome, facts, held, charts,
    el("h3", {}, "Last runs"), runs,
    el("details", {}, el("summary", {}, "Last 50 changes"), changes),
  );
  const parts = { section, state, outcome, facts, held, heldKey: null, charts, runs, changes };
  sections.set(name, parts);
  return parts;
}

function renderFeed(name, info, runs, activity, changes) {
  const parts = sections.get(name) || buildSection(name, info.modes);
  if (!parts.section.isConnected) $("feeds").append(parts.section);
  const health = info.health;
  const healthy = health && health.healthy;
  const problems = health && health.problems && health.problems.length ? `: ${health.problems.join("; ")}` : "";
  parts.state.textContent = `${info.ready ? "ready" : "not ready"} · ${healthy ? "healthy" : "unhealthy"}${problems}`;
  parts.state.className = `state ${info.ready && healthy ? "good" : "bad"}`;

  const facts = [
    field("live", info.live),
    field("deleted", info.deleted),
    field("last _updated", info.last_updated),
    field("watermark", info.watermark || "none"),
    field("running", running(info.running_run_id, runs)),
    field("queued", info.queued_run_ids.length ? info.queued_run_ids.map((id) => `#${id}`).join(", ") : "none"),
  ];
  for (const mode of ["full", "incremental", "verify", "deletions"]) {
    if (info.modes.includes(mode)) facts.push(field(`last successful ${mode} run`, runLine(info[`last_${mode}_run`])));
  }
  for (const [mode, at] of Object.entries(info.next_runs)) {
    if (at) facts.push(field(`next ${mode} run`, when(at)));
  }
  const budget = info.upstream;
  facts.push(field("upstream budget", budget
    ? `${budget.requests_in_window} of ${budget.allowed_per_window} requests in ${budget.window_seconds} s` +
      (budget.last_announced ? ` (source says ${budget.last_announced.remaining} left of ${budget.last_announced.max})` : "")
    : "not paced"));
  if (info.scan_in_progress) facts.push(field("scan in progress", `run #${info.scan_in_progress.run_id} since ${when(info.scan_in_progress.started_at)}`));
  parts.facts.replaceChildren(...facts);

  const heldDeletions = info.held_deletions;
  const heldKey = heldDeletions ? `${heldDeletions.run_id}:${heldDeletions.count}` : null;
  if (heldKey !== parts.heldKey) { // rebuilt only when it changes: its buttons keep focus
    parts.heldKey = heldKey;
    parts.held.replaceChildren();
    if (heldDeletions) {
      const runId = heldDeletions.run_id;
      parts.held.append(el("div", { class: "held" },
        el("h3", {}, "Held deletions"),
        el("p", {}, `Run #${runId} held ${heldDeletions.count} deletions: ${heldDeletions.why}`),
        el("p", {}, `Ids: ${heldDeletions.ids.join(", ")}${heldDeletions.count > heldDeletions.ids.length ? ", …" : ""}`),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "danger", onclick: () => decide(name, runId, "confirm") }, "Confirm deletions"),
          el("button", { type: "button", onclick: () => decide(name, runId, "discard") }, "Discard deletions"))));
    }
  }

  parts.charts.replaceChildren(changesChart(activity.hours), requestsChart(activity.runs));
  parts.changes.replaceChildren(...changes.map((change) =>
    el("li", {}, `${change.id} `, el("span", { class: change.kind }, change.kind),
      ` _updated ${change.updated} at ${when(change.changed_at)}${change.run_id ? ` by run #${change.run_id}` : ""}`)));

  parts.runs.replaceChildren(...runs.map((run) => {
    const outcomeWord = el("span", { class: run.status }, run.status);
    const error = run.error ? ` — ${run.error}` : "";
    return el("li", {}, `#${run.id} ${run.mode} `, outcomeWord,
      ` ${when(run.started_at)}; fetched ${run.fetched}, created ${run.created}, updated ${run.updated}, deleted ${run.deleted}, ${run.requests} requests${error}`);
  }));
}

// --- charts: SVG drawn here (no library), sized by viewBox so they shrink at 400 px ---

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = { created: "#16703a", updated: "#1f5f8b", deleted: "#a4262c", failed: "#a4262c", other: "#7a8794" };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

// Bars of stacked values: one group per item, ``kinds`` stacked bottom up.
function bars(items, kinds, colour, label) {
  const width = 480, height = 110, top = 6, bottom = 16;
  const total = (item) => kinds.reduce((sum, kind) => sum + item[kind], 0);
  const max = Math.max(1, ...items.map(total));
  const step = width / Math.max(items.length, 1);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" });
  items.forEach((item, i) => {
    let y = height - bottom;
    for (const kind of kinds) {
      const h = ((height - top - bottom) * item[kind]) / max;
      if (h > 0) {
        y -= h;
        chart.append(svg("rect", { x: i * step + 1, y, width: Math.max(step - 2, 1), height: h, fill: colour(kind, item) },
          svg("title", {}, `${label.split(":")[0]}: ${kind} ${item[kind]}`)));
      }
    }
  });
  chart.append(svg("line", { x1: 0, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#aab" }));
  chart.append(svg("text", { x: 0, y: height - 3, "font-size": 10, fill: "#555" }, `max ${max}`));
  return chart;
}

function changesChart(hours) {
  const sum = (kind) => hours.reduce((total, hour) => total + hour[kind], 0);
  const label = `Changes per hour, last 24 hours: created ${sum("created")}, updated ${sum("updated")}, deleted ${sum("deleted")}`;
  return el("figure", {}, bars(hours, ["created", "updated", "deleted"], (kind) => COLOURS[kind], label),
    el("figcaption", {}, label));
}

function requestsChart(runs) {
  const oldestFirst = [...runs].reverse();
  const total = runs.reduce((sum, run) => sum + run.requests, 0);
  const label = `Requests per run, last ${runs.length} runs: ${total} in all`;
  const colour = (kind, run) => (run.status === "failed" ? COLOURS.failed : COLOURS.updated);
  return el("figure", {}, bars(oldestFirst, ["requests"], colour, label), el("figcaption", {}, label));
}

async function refresh() {
  try {
    const status = await api("status");
    const names = Object.keys(status.objects);
    const perFeed = await Promise.all(names.map((name) => {
      const object = encodeURIComponent(name);
      return Promise.all([
        api(`runs?object=${object}&limit=${RUNS_SHOWN}`),
        api(`activity?object=${object}`),
        api(`changes?object=${object}&limit=50`),
      ]);
    }));
    names.forEach((name, i) => {
      const [runs, activity, changes] = perFeed[i];
      renderFeed(name, status.objects[name], runs.runs, activity, changes.changes);
    });
    const select = $("record-feed");
    if (select.options.length !== names.length) {
      select.replaceChildren(...names.map((name) => el("option", { value: name }, name)));
    }
    $("lookup").hidden = false;
    if ($("message").className === "error") say("");
  } catch (error) {
    failed(error);
  }
}

function failed(error) {
  if (error instanceof AuthError) {
    signOut(); // no retry in a loop: the operator enters the token again
    say(error.message, true);
  } else {
    say(`The service did not answer: ${error.message}`, true);
  }
}

async function startRun(name, mode) {
  const parts = sections.get(name);
  if (!window.confirm(`Start a ${BUTTONS[mode].toLowerCase()} of ${name}?`)) return;
  try {
    const queued = await api(`resync?object=${encodeURIComponent(name)}&mode=${mode}`, "POST");
    parts.outcome.textContent = `Run #${queued.run_id} (${mode}) queued…`;
    await follow(parts, queued.run_id);
  } catch (error) {
    if (error instanceof AuthError) return failed(error);
    parts.outcome.textContent = `Could not start: ${error.message}`;
  }
}

async function follow(parts, runId) {
  for (;;) {
    const run = await api(`runs/${runId}`);
    if (FINISHED.has(run.status)) {
      const error = run.error ? `: ${run.error}` : "";
      parts.outcome.textContent = `Run #${runId} (${run.mode}) ${run.status}${error}; ` +
        `fetched ${run.fetched}, created ${run.created}, updated ${run.updated}, deleted ${run.deleted}`;
      await refresh();
      return;
    }
    parts.outcome.textContent = `Run #${runId} (${run.mode}) ${run.status}: fetched ${run.fetched} so far`;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
  }
}

async function decide(name, runId, action) {
  const parts = sections.get(name);
  const question = action === "confirm"
    ? `Tombstone the deletions run #${runId} held in ${name}? Sesam passes them on downstream.`
    : `Discard the deletions run #${runId} held in ${name}? Nothing is deleted.`;
  if (!window.confirm(question)) return;
  try {
    const answer = await api(`deletions/${action}?object=${encodeURIComponent(name)}&run_id=${runId}`, "POST");
    parts.outcome.textContent = action === "confirm"
      ? `Deletions confirmed: ${answer.deleted} tombstoned, ${answer.skipped.count} kept (seen or changed since)`
      : `Deletions discarded: ${answer.discarded}`;
    await refresh();
  } catch (error) {
    if (error instanceof AuthError) return failed(error);
    parts.outcome.textContent = `Not done: ${error.message}`;
  }
}

async function lookUp(event) {
  event.preventDefault();
  const name = $("record-feed").value;
  const id = $("record-id").value.trim();
  const out = $("record");
  try {
    const found = await api(`record?object=${encodeURIComponent(name)}&id=${encodeURIComponent(id)}`);
    out.replaceChildren(
      el("p", {}, `_updated ${found.updated}; ${found.deleted ? "a tombstone (deleted)" : "live"}; ` +
        `last changed ${when(found.changed_at)}${found.changed_by_run_id ? ` by run #${found.changed_by_run_id}` : ""}`),
      el("pre", {}, JSON.stringify(found.entity, null, 2)));
  } catch (error) {
    if (error instanceof AuthError) return failed(error);
    out.replaceChildren(el("p", {}, error.status === 404 ? `No record ${id} in ${name}.` : `Not found: ${error.message}`));
  }
}

function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  $("token").value = "";
  start();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  timer = null;
  sections.clear();
  $("feeds").replaceChildren();
  $("lookup").hidden = true;
  $("login").hidden = false;
  $("signout").hidden = true;
  say("");
}

function start() {
  $("login").hidden = true;
  $("signout").hidden = false;
  say("Loading…");
  refresh().then(() => { if ($("message").textContent === "Loading…") say(""); });
  clearInterval(timer);
  // A tab in the background asks nothing (each refresh reads every feed's runs).
  timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("lookup-form").addEventListener("submit", lookUp);
  if (sessionStorage.getItem(TOKEN_KEY)) start();
});

// flowrun console: follows live runs and expands truncated values.
// Everything shown is set with textContent: no server data becomes HTML.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmtTime(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

// A truncated value's button fetches it whole.
function expandValues() {
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.expand");
    if (!b) return;
    b.disabled = true;
    const res = await fetch(b.dataset.src, { credentials: "same-origin" });
    if (!res.ok) { b.textContent = "could not load (" + res.status + ")"; return; }
    b.previousElementSibling.textContent = await res.text();
    b.remove();
  });
}

// The live list: the runs in flight, refreshed by the server.
function liveList(table) {
  const body = table.querySelector("tbody");
  const empty = document.getElementById("live-empty");
  const src = new EventSource(table.dataset.events);
  src.addEventListener("runs", (ev) => {
    const runs = JSON.parse(ev.data);
    body.replaceChildren(...runs.map((r) => {
      const tr = el("tr");
      tr.dataset.runId = r.run_id;
      tr.append(el("td", fmtTime(r.started)), el("td", r.app_name || r.app_id));
      const td = el("td", undefined, "mono");
      const a = el("a", r.run_id);
      a.href = r.url;
      td.append(a);
      tr.append(td);
      return tr;
    }));
    empty.hidden = runs.length > 0;
  });
}

// The live view of one run: its events as they happen; once the run is
// stored, the page reloads to show its timeline.
function liveRun(section) {
  const list = document.getElementById("live-events");
  const status = document.getElementById("live-status");
  const src = new EventSource(section.dataset.events);
  src.addEventListener("event", (ev) => {
    const e = JSON.parse(ev.data);
    const li = el("li");
    li.dataset.type = e.type;
    if (e.node_id) li.dataset.nodeId = e.node_id;
    let text = e.type;
    if (e.title || e.node_id) text += " · " + (e.title || e.node_id);
    if (e.round !== undefined && e.type.endsWith("_next")) text += " · round " + e.round;
    if (e.iteration_id) text += " · in " + e.iteration_id + " round " + (e.iteration_index || 0);
    if (e.loop_id) text += " · in " + e.loop_id + " round " + (e.loop_index || 0);
    if (e.status) text += " · " + e.status;
    if (e.error) text += " · " + e.error;
    if (e.text) text += " · " + e.text;
    li.textContent = text;
    list.append(li);
    if (e.type === "workflow_finished") {
      status.textContent = e.status;
      status.className = "status s-" + e.status;
    }
  });
  src.addEventListener("dropped", (ev) => {
    list.append(el("li", JSON.parse(ev.data) + " events not kept for the live view", "muted"));
  });
  const done = () => { src.close(); location.reload(); };
  src.addEventListener("stored", done);
  src.addEventListener("gone", () => {
    src.close();
    if (document.getElementById("timeline")) { section.hidden = true; return; }
    status.textContent = "not in flight here (ended, or on another replica): reload to see it";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  expandValues();
  const table = document.getElementById("live-runs");
  if (table) liveList(table);
  const live = document.getElementById("live");
  if (live) liveRun(live);
});

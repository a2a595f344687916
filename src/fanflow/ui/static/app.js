// fanflow dashboard. Plain DOM, no framework, no network beyond this server.
// Safety rule: every value from the server reaches the page through textContent or an
// attribute set with setAttribute (never innerHTML), so names, logs and previews stay text.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const STATUSES = ["completed", "cached", "running", "initializing", "failed", "stopped", "skipped"];
const app = document.getElementById("app");
let timers = [];
let generation = 0;

// --- small helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "onclick") el.addEventListener("click", value);
    else if (key === "onchange") el.addEventListener("change", value);
    else el.setAttribute(key, String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// A view that reloads on every change of its controls asks again before the previous answer
// has arrived; on a busy server the answers can come back in the other order. The function
// returned wraps each request: an answer to a request that is no longer the newest resolves
// to null and is not drawn.
function newestWins() {
  let newest = 0;
  return (promise) => {
    const mine = ++newest;
    return promise.then((value) => (mine === newest ? value : null));
  };
}

// Calls fn repeatedly while the page stays open, waiting `ms` between calls, or longer when a
// call itself was slow (a big run on a busy machine is asked less often, never piled up).
function every(ms, fn) {
  const mine = generation;
  const tick = async () => {
    if (mine !== generation) return;
    const started = performance.now();
    try { await fn(); } catch (err) { console.warn(err); }
    const pause = Math.max(ms, 4 * (performance.now() - started));
    if (mine === generation) timers.push(setTimeout(tick, pause));
  };
  timers.push(setTimeout(tick, ms));
}

function setLive(on) {
  document.getElementById("live").hidden = !on;
}

function parseTime(iso) {
  if (!iso) return null;
  return new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
}

function fmtTime(iso) {
  const d = parseTime(iso);
  return d ? d.toLocaleString() : "—";
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 0.001) return Math.round(seconds * 1e6) + " µs";
  if (seconds < 1) return (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0) + " ms";
  if (seconds < 60) return seconds.toFixed(seconds < 10 ? 2 : 1) + " s";
  const m = Math.floor(seconds / 60);
  if (m < 60) return m + " min " + Math.round(seconds % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

function fmtInt(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function badge(status) {
  return h("span", { class: "badge s-" + status, "data-status": status }, status);
}

function link(href, text, attrs) {
  return h("a", Object.assign({ href }, attrs || {}), text);
}

function kv(rows) {
  return h("table", { class: "kv" },
    rows.filter(Boolean).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
}

function jsonBlock(value) {
  return h("pre", { class: "code" }, JSON.stringify(value, null, 2));
}

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

function errorBox(message) {
  return h("div", { class: "error" }, message);
}

function queryOf(hash) {
  const at = hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
}

// --- routing -------------------------------------------------------------------------------------

async function route() {
  generation++;
  timers.forEach(clearTimeout);
  timers = [];
  setLive(false);
  const hash = location.hash.replace(/^#/, "") || "/";
  const path = hash.split("?")[0];
  const params = queryOf(hash);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  clear(app);
  try {
    if (parts.length === 0 || parts[0] === "runs") await runsPage(params);
    else if (parts[0] === "run") await runPage(parts[1], params);
    else if (parts[0] === "step") await stepPage(parts[1]);
    else if (parts[0] === "artifact") await artifactPage(parts[1]);
    else app.appendChild(errorBox("Unknown page: " + path));
  } catch (err) {
    clear(app);
    app.appendChild(errorBox(err.message));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// --- runs page -----------------------------------------------------------------------------------

async function runsPage(params) {
  const pipeline = params.get("pipeline") || "";
  const status = params.get("status") || "";
  const page = Number(params.get("page") || 1);
  const go = (changes) => {
    const next = new URLSearchParams({ pipeline, status, page: String(page), ...changes });
    for (const [k, v] of [...next.entries()]) if (!v) next.delete(k);
    location.hash = "#/runs?" + next.toString();
  };
  const pipelines = await api("/api/pipelines");
  const pipelineSelect = h("select", { id: "filter-pipeline", onchange: (e) => go({ pipeline: e.target.value, page: "1" }) },
    h("option", { value: "" }, "all pipelines"),
    pipelines.items.map((p) => h("option", { value: p.name, selected: p.name === pipeline }, p.name)));
  const statusSelect = h("select", { id: "filter-status", onchange: (e) => go({ status: e.target.value, page: "1" }) },
    h("option", { value: "" }, "any status"),
    STATUSES.map((st) => h("option", { value: st, selected: st === status }, st)));
  const body = h("tbody", {});
  const pager = h("div", { class: "pager" });
  app.appendChild(section("Runs",
    h("div", { class: "filters" }, h("label", {}, "Pipeline ", pipelineSelect), h("label", {}, "Status ", statusSelect)),
    h("table", { class: "grid", id: "runs" },
      h("thead", {}, h("tr", {}, ["Run", "Pipeline", "Status", "Started", "Duration"].map((c) => h("th", {}, c)))),
      body),
    pager));
  const newestRuns = newestWins();
  const load = async () => {
    const q = new URLSearchParams({ page: String(page), size: "20" });
    if (pipeline) q.set("pipeline", pipeline);
    if (status) q.set("status", status);
    const data = await newestRuns(api("/api/runs?" + q.toString()));
    if (data === null) return;
    const shown = [...body.querySelectorAll("tr[data-run]")].map((tr) => tr.getAttribute("data-run"));
    if (shown.length && shown.join() === data.items.map((r) => r.id).join()) {
      // Same runs as on screen: update their status and duration in place, so that links stay
      // put under the pointer.
      for (const run of data.items) {
        const tr = body.querySelector(`tr[data-run="${run.id}"]`);
        const cells = tr.children;
        if (cells[2].firstChild.getAttribute("data-status") !== run.status) {
          cells[2].replaceChildren(badge(run.status));
        }
        cells[4].textContent = fmtDuration(run.duration);
      }
    } else {
      clear(body);
      if (!data.items.length) body.appendChild(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No runs.")));
      for (const run of data.items) {
        body.appendChild(h("tr", { "data-run": run.id },
          h("td", {}, link("#/run/" + run.id, run.name)),
          h("td", {}, run.pipeline || "—"),
          h("td", {}, badge(run.status)),
          h("td", {}, fmtTime(run.start_time)),
          h("td", {}, fmtDuration(run.duration))));
      }
    }
    const pages = Math.max(1, Math.ceil(data.total / data.size));
    const summary = `page ${page} of ${pages} · ${fmtInt(data.total)} runs`;
    if (pager.textContent.includes(summary)) return setLive(data.items.some((r) => r.status === "running"));
    clear(pager);
    append(pager, [
      h("button", { disabled: page <= 1, onclick: () => go({ page: String(page - 1) }) }, "‹ Newer"),
      h("span", {}, summary),
      h("button", { disabled: page >= pages, onclick: () => go({ page: String(page + 1) }) }, "Older ›"),
    ]);
    setLive(data.items.some((r) => r.status === "running"));
  };
  await load();
  every(2000, load);
}

// --- run page ------------------------------------------------------------------------------------

async function runPage(runId, params) {
  // First paint from the quick form (counts, no duration percentiles), then the full nodes.
  const data = await api("/api/runs/" + encodeURIComponent(runId) + "?durations=0");
  const run = data.run;
  const nodes = new Map(data.nodes.map((n) => [n.key, n]));
  let cursor = data.cursor;
  let selected = params.get("group") || null;

  const header = h("div", { class: "run-head" });
  const dagBox = h("div", { class: "dag", id: "dag" });
  const branchBox = h("div", { id: "branches" });
  const timelineBox = h("div", { id: "timeline", class: "timeline" });

  const renderHeader = (r) => {
    clear(header);
    append(header, [
      h("h1", {}, r.name, " ", badge(r.status)),
      kv([
        ["Pipeline", r.pipeline || "—"],
        ["Started", fmtTime(r.start_time)],
        ["Duration", fmtDuration(r.duration)],
        r.original_run_id ? ["Resumed from", link("#/run/" + r.original_run_id, r.original_run_id)] : null,
      ]),
      r.exception ? h("pre", { class: "error" }, r.exception) : null,
    ]);
  };
  renderHeader(run);

  const branchView = { group: selected, page: 1, sort: "index", desc: false, failed: false };
  const openGroup = (group) => {
    branchView.group = group;
    branchView.page = 1;
    selected = group;
    drawDag(dagBox, nodes, selected, openGroup);
    loadBranches();
    branchBox.scrollIntoView({ behavior: "smooth", block: "nearest" });
  };

  const newestBranches = newestWins();
  const loadBranches = async () => {
    if (!branchView.group) { clear(branchBox); return; }
    const q = new URLSearchParams({ page: String(branchView.page), size: "50", sort: branchView.sort, desc: branchView.desc ? "1" : "0" });
    if (branchView.failed) q.set("status", "failed");
    const started = performance.now();
    const page = await newestBranches(api(`/api/runs/${encodeURIComponent(runId)}/groups/${encodeURIComponent(branchView.group)}/branches?` + q.toString()));
    if (page === null) return;
    renderBranches(branchBox, branchView, page, loadBranches, performance.now() - started);
  };

  app.appendChild(h("div", { class: "card" }, header));
  app.appendChild(section("Graph", h("p", { class: "hint" }, "Each map is one node; click it for its branches."), dagBox));
  app.appendChild(branchBox);
  app.appendChild(section("Timeline", timelineBox));
  app.appendChild(section("Parameters", Object.keys(data.parameters).length ? jsonBlock(data.parameters) : h("p", { class: "muted" }, "none")));
  app.appendChild(section("Configuration", jsonBlock(data.config)));
  drawDag(dagBox, nodes, selected, openGroup);
  if (branchView.group) loadBranches();

  let timelineCost = 0;
  const loadTimeline = async () => {
    const started = performance.now();
    const tl = await api(`/api/runs/${encodeURIComponent(runId)}/timeline`);
    drawTimeline(timelineBox, tl);
    timelineCost = performance.now() - started;
  };
  // The timeline and the full nodes (p50/max durations) load side by side, after the first
  // paint: neither holds the other up.
  loadTimeline().catch((err) => console.warn(err));
  const full = await api(`/api/runs/${encodeURIComponent(runId)}/changes`);
  cursor = full.cursor;
  nodes.clear();
  for (const node of full.nodes) nodes.set(node.key, node);
  renderHeader(full.run);
  drawDag(dagBox, nodes, selected, openGroup);

  let running = full.run.status === "running";
  setLive(running);
  let lastTimeline = Date.now();
  if (running) {
    every(1000, async () => {
      if (!running) return;
      const ch = await api(`/api/runs/${encodeURIComponent(runId)}/changes?since=${encodeURIComponent(cursor)}`);
      cursor = ch.cursor;
      renderHeader(ch.run);
      for (const key of ch.removed) nodes.delete(key);
      for (const node of ch.nodes) nodes.set(node.key, node);
      if (ch.nodes.length || ch.removed.length) {
        drawDag(dagBox, nodes, selected, openGroup);
        if (branchView.group && ch.nodes.some((n) => n.key === "map:" + branchView.group)) loadBranches();
      }
      running = ch.run.status === "running";
      if (!running || Date.now() - lastTimeline > Math.max(3000, 10 * timelineCost)) {
        lastTimeline = Date.now();
        loadTimeline();
      }
      setLive(running);
    });
  }
}

function layers(nodes) {
  const depth = new Map();
  const visit = (key, seen) => {
    if (depth.has(key)) return depth.get(key);
    if (seen.has(key)) return 0;
    seen.add(key);
    const node = nodes.get(key);
    let d = 0;
    for (const up of node.upstream) if (nodes.has(up)) d = Math.max(d, visit(up, seen) + 1);
    depth.set(key, d);
    return d;
  };
  for (const key of nodes.keys()) visit(key, new Set());
  return depth;
}

const NODE_W = 280, NODE_H = 88, GAP_X = 64, GAP_Y = 26;

// Draws the graph; when only the nodes' states changed (same nodes in the same places), the
// node elements stay and only their contents are replaced, so a click in progress still lands.
function drawDag(box, nodes, selected, openGroup) {
  const depth = layers(nodes);
  const columns = [];
  for (const [key, node] of nodes) {
    const d = depth.get(key) || 0;
    (columns[d] = columns[d] || []).push(node);
  }
  const W = NODE_W, H = NODE_H, GX = GAP_X, GY = GAP_Y;
  const pos = new Map();
  columns.forEach((col, x) => col.forEach((node, y) => pos.set(node.key, { x: 20 + x * (W + GX), y: 20 + y * (H + GY) })));
  const width = 40 + columns.length * (W + GX) - GX;
  const height = 40 + Math.max(1, ...columns.map((c) => c.length)) * (H + GY) - GY;
  const layout = JSON.stringify([...pos.entries(), [...nodes.values()].map((n) => n.upstream)]);
  box.current = { nodes, openGroup };
  if (box.layout !== layout || !box.elements) {
    const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "pipeline graph" });
    for (const [key, node] of nodes) {
      const to = pos.get(key);
      for (const up of node.upstream) {
        const from = pos.get(up);
        if (!from) continue;
        const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2;
        svg.appendChild(s("path", { class: "edge", d: `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}` }));
      }
    }
    box.elements = new Map();
    for (const key of nodes.keys()) {
      const { x, y } = pos.get(key);
      const g = s("g", { transform: `translate(${x},${y})`, "data-key": key, tabindex: 0 });
      g.appendChild(s("rect", { class: "hit", width: W, height: H, rx: 8 }));
      const activate = () => {
        const node = box.current.nodes.get(key);
        if (!node) return;
        if (node.kind === "map") box.current.openGroup(node.name);
        else location.hash = "#/step/" + node.step_run_id;
      };
      g.addEventListener("click", activate);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") activate(); });
      box.elements.set(key, g);
      svg.appendChild(g);
    }
    clear(box);
    box.appendChild(svg);
    box.appendChild(h("div", { class: "first-errors" }));
    box.layout = layout;
  }
  for (const [key, node] of nodes) {
    const g = box.elements.get(key);
    const isMap = node.kind === "map";
    g.setAttribute("class", "node s-" + node.status + (isMap ? " map" : "") + (selected === node.name && isMap ? " selected" : ""));
    const hit = g.lastChild;
    while (g.firstChild !== hit) g.removeChild(g.firstChild);
    for (const part of nodeParts(node)) g.insertBefore(part, hit);
  }
  const errors = box.querySelector(".first-errors");
  clear(errors);
  for (const n of nodes.values()) {
    if (n.first_error) errors.appendChild(h("div", { class: "error" }, h("b", {}, n.first_error_step || n.key), ": ", n.first_error));
  }
}

function nodeParts(node) {
  const W = NODE_W, H = NODE_H;
  const isMap = node.kind === "map";
  const title = isMap ? `map:${node.name}` : node.name;
  const parts = [
    s("rect", { class: "box", width: W, height: H, rx: 8 }),
    s("rect", { class: "stripe", width: 5, height: H, rx: 2 }),
    s("text", { x: 14, y: 22, class: "title" }, clip(title, 30)),
    s("title", {}, title),
  ];
  if (!isMap) {
    parts.push(s("text", { x: 14, y: 44, class: "sub" }, node.step_name !== node.name ? node.step_name : ""));
    parts.push(s("text", { x: 14, y: 66, class: "counts" }, node.status + (node.max_duration !== null ? " · " + fmtDuration(node.max_duration) : "")));
    if (node.first_error) parts.push(s("title", {}, node.first_error));
    return parts;
  }
  parts.push(s("text", { x: W - 10, y: 22, class: "total", "text-anchor": "end" }, "×" + fmtInt(node.total)));
  let off = 14;
  const barW = W - 28;
  for (const st of STATUSES) {
    const n = node.counts[st] || 0;
    if (!n) continue;
    const w = Math.max(1.5, (barW * n) / node.total);
    parts.push(s("rect", { class: "hist s-" + st, x: off, y: 32, width: w, height: 10 }, s("title", {}, `${fmtInt(n)} ${st}`)));
    off += w;
  }
  const counts = STATUSES.filter((st) => node.counts[st]).map((st) => `${fmtInt(node.counts[st])} ${st}`);
  parts.push(s("text", { x: 14, y: 60, class: "counts" }, counts.join(" · ")));
  const stats = [];
  if (node.p50_duration !== null) stats.push("p50 " + fmtDuration(node.p50_duration));
  if (node.max_duration !== null) stats.push("max " + fmtDuration(node.max_duration));
  if (node.cached) stats.push(fmtInt(node.cached) + " cached");
  parts.push(s("text", { x: 14, y: 78, class: "sub" }, stats.join(" · ")));
  return parts;
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

function renderBranches(box, view, page, reload, ms) {
  clear(box);
  const sortSelect = h("select", { id: "branch-sort", onchange: (e) => { view.sort = e.target.value; view.page = 1; reload(); } },
    ["index", "status", "duration"].map((k) => h("option", { value: k, selected: view.sort === k }, "by " + k)));
  const desc = h("input", { type: "checkbox", id: "branch-desc", checked: view.desc, onchange: (e) => { view.desc = e.target.checked; view.page = 1; reload(); } });
  const failed = h("input", { type: "checkbox", id: "branch-failed", checked: view.failed, onchange: (e) => { view.failed = e.target.checked; view.page = 1; reload(); } });
  const pages = Math.max(1, Math.ceil(page.total / page.size));
  const body = h("tbody", {}, page.rows.map((r) => h("tr", { "data-index": r.map_index },
    h("td", { class: "num" }, String(r.map_index)),
    h("td", {}, badge(r.status)),
    h("td", { class: "num" }, fmtDuration(r.duration)),
    h("td", {}, fmtTime(r.start_time)),
    h("td", { class: "err" }, r.error || ""),
    h("td", {}, link("#/step/" + r.id, "logs & details", { class: "branch-link" })))));
  if (!page.rows.length) body.appendChild(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No branches match.")));
  box.appendChild(section(`Branches of map:${view.group}`,
    h("div", { class: "filters" },
      h("label", {}, "Sort ", sortSelect),
      h("label", {}, desc, " descending"),
      h("label", {}, failed, " failed only"),
      h("span", { class: "muted", id: "branch-total" }, `${fmtInt(page.total)} branches · ${ms.toFixed(0)} ms`)),
    h("table", { class: "grid", id: "branch-table" },
      h("thead", {}, h("tr", {}, ["#", "Status", "Duration", "Started", "Error", ""].map((c) => h("th", {}, c)))), body),
    h("div", { class: "pager" },
      h("button", { id: "branch-prev", disabled: view.page <= 1, onclick: () => { view.page--; reload(); } }, "‹ Prev"),
      h("span", { id: "branch-page" }, `page ${fmtInt(view.page)} of ${fmtInt(pages)}`),
      h("button", { id: "branch-next", disabled: view.page >= pages, onclick: () => { view.page++; reload(); } }, "Next ›"))));
}

function drawTimeline(box, tl) {
  clear(box);
  if (!tl.lanes.length || tl.origin === null) { box.appendChild(h("p", { class: "muted" }, "Nothing has started yet.")); return; }
  const W = 1000, LABEL = 190, ROW = 8, GAP = 12;
  const span = Math.max(tl.span, 1e-3);
  const x = (t) => LABEL + ((t === null ? span : t) / span) * (W - LABEL - 10);
  const parts = [];
  let y = 24;
  for (const lane of tl.lanes) {
    const top = y;
    let laneHeight;
    const g = s("g", { class: "lane", "data-key": lane.key });
    if (lane.started.length) {
      const peak = Math.max(1, ...lane.running);
      laneHeight = 46;
      lane.running.forEach((n, i) => {
        if (!n) return;
        const h2 = (n / peak) * laneHeight;
        const x0 = x(lane.bucket_start + i * lane.bucket_width), x1 = x(lane.bucket_start + (i + 1) * lane.bucket_width);
        g.appendChild(s("rect", { class: "area s-" + lane.status, x: x0, y: top + laneHeight - h2, width: Math.max(1, x1 - x0), height: h2 },
          s("title", {}, `${n.toFixed(1)} running on average`)));
      });
      g.appendChild(s("text", { x: LABEL - 8, y: top + 28, class: "sub", "text-anchor": "end" }, "up to " + peak.toFixed(peak < 10 ? 1 : 0) + " at once"));
    } else {
      const rows = [];
      const placed = lane.bars.slice().sort((a, b) => (a[2] ?? 0) - (b[2] ?? 0)).map((bar) => {
        const start = bar[2] ?? 0, end = bar[3] ?? span;
        let r = rows.findIndex((last) => last <= start);
        if (r < 0) { r = rows.length; rows.push(end); } else rows[r] = end;
        return [bar, r];
      });
      const rowH = rows.length > 20 ? Math.max(2, 160 / rows.length) : ROW;
      laneHeight = Math.max(ROW, rows.length * (rowH + 1));
      for (const [bar, r] of placed) {
        const x0 = x(bar[2] ?? 0), x1 = x(bar[3]);
        g.appendChild(s("rect", { class: "bar s-" + bar[1], x: x0, y: top + r * (rowH + 1), width: Math.max(1.5, x1 - x0), height: rowH },
          s("title", {}, `${bar[0]} · ${bar[1]} · ${fmtDuration((bar[3] ?? span) - (bar[2] ?? 0))}`)));
      }
      if (rows.length > 1) g.appendChild(s("text", { x: LABEL - 8, y: top + 24, class: "sub", "text-anchor": "end" }, rows.length + " at once"));
    }
    g.insertBefore(s("text", { x: LABEL - 8, y: top + 10, class: "label", "text-anchor": "end" }, clip(lane.key, 28)), g.firstChild);
    parts.push(g);
    y += Math.max(laneHeight, 28) + GAP;
  }
  const svg = s("svg", { width: W, height: y + 4, viewBox: `0 0 ${W} ${y + 4}`, role: "img", "aria-label": "timeline" });
  for (let i = 0; i <= 4; i++) {
    const t = (span * i) / 4;
    svg.appendChild(s("line", { class: "tick", x1: x(t), x2: x(t), y1: 14, y2: y }));
    svg.appendChild(s("text", { class: "sub", x: x(t), y: 10, "text-anchor": "middle" }, fmtDuration(t)));
  }
  parts.forEach((p) => svg.appendChild(p));
  box.appendChild(svg);
}

// --- step page -----------------------------------------------------------------------------------

async function stepPage(stepId) {
  const st = await api("/api/steps/" + encodeURIComponent(stepId));
  const groupLink = st.map_group ? link(`#/run/${st.run.id}?group=${encodeURIComponent(st.map_group)}`, `map:${st.map_group}`) : null;
  app.appendChild(h("div", { class: "card" },
    h("div", { class: "crumbs" }, link("#/run/" + st.run.id, st.run.name), groupLink ? [" › ", groupLink] : null),
    h("h1", {}, st.name, " ", badge(st.status)),
    kv([
      ["Step", st.step_name],
      st.map_group ? ["Branch", `${st.map_index} of map:${st.map_group}`] : null,
      ["Started", fmtTime(st.start_time)],
      ["Ended", fmtTime(st.end_time)],
      ["Duration", fmtDuration(st.duration)],
      st.original_step_run_id ? ["Cached from", link("#/step/" + st.original_step_run_id, st.original_step_run_id)] : null,
      st.source ? ["Source", st.source] : null,
    ])));
  if (st.exception) {
    app.appendChild(section("Error", h("pre", { class: "error", id: "step-error" }, st.exception),
      st.traceback ? h("details", {}, h("summary", {}, "Traceback"), h("pre", { class: "code" }, st.traceback)) : null));
  }
  if (st.attempts.length) {
    app.appendChild(section("Attempts", h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["#", "Started", "Ended", "Error"].map((c) => h("th", {}, c)))),
      h("tbody", {}, st.attempts.map((a) => h("tr", {},
        h("td", {}, String(a.attempt ?? "")),
        h("td", {}, fmtTime(a.start_time)),
        h("td", {}, fmtTime(a.end_time)),
        h("td", {}, a.error || "", a.traceback ? h("details", {}, h("summary", {}, "traceback"), h("pre", { class: "code" }, a.traceback)) : null)))))));
  }
  app.appendChild(section("Parameters", Object.keys(st.parameters).length ? jsonBlock(st.parameters) : h("p", { class: "muted" }, "none")));
  app.appendChild(section("Inputs", linkedList(st.inputs, "producer")));
  app.appendChild(section("Outputs", linkedList(st.outputs, "consumers")));
  const logBox = h("pre", { class: "log", id: "log" });
  const logState = h("p", { class: "muted", id: "log-state" });
  app.appendChild(section("Logs", logState, logBox));
  // While the step runs, the server reads the live copy of its log; each poll asks from the
  // byte offset it got last, so only new output travels, and it is added as a text node. Once
  // the step has ended, the page is shown again with the stored log.
  let offset = 0;
  let started = false;
  const tail = async () => {
    const q = new URLSearchParams({ offset: String(offset) });
    if (!started) q.set("tail", String(256 * 1024));
    const part = await api(`/api/steps/${encodeURIComponent(stepId)}/logs?` + q.toString());
    if (!started && part.start > 0) logBox.appendChild(h("span", { class: "muted" }, `[${fmtBytes(part.start)} earlier not shown]\n`));
    started = true;
    if (part.text) {
      const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
      logBox.appendChild(document.createTextNode(part.text));
      if (atBottom) logBox.scrollTop = logBox.scrollHeight;
    }
    offset = part.offset;
    if (part.finished) logState.textContent = part.exists ? fmtBytes(part.size) : "This step wrote no output.";
    else logState.textContent = part.exists ? `live: ${fmtBytes(part.offset)} so far, following…` : "Waiting for output…";
    setLive(!part.finished);
    return part.finished;
  };
  const done = await tail();
  if (!done) every(1000, async () => { if (await tail()) route(); });
}

function linkedList(groups, relation) {
  if (!groups.length) return h("p", { class: "muted" }, "none");
  return h("div", {}, groups.map((g) => h("div", { class: "linked" },
    h("h3", {}, g.name, g.total > g.versions.length ? h("span", { class: "muted" }, ` (${fmtInt(g.total)}; first ${g.versions.length} shown)`) : ""),
    h("table", { class: "grid" }, h("tbody", {}, g.versions.map((v) => h("tr", {},
      h("td", {}, link("#/artifact/" + v.id, `${v.name} v${v.version}`)),
      h("td", { class: "muted" }, v.data_type),
      h("td", { class: "num" }, fmtBytes(v.size)),
      h("td", {}, relation === "producer"
        ? (v.producer ? ["from ", link("#/step/" + v.producer.id, v.producer.name)] : "")
        : (v.consumers && v.consumers.length ? ["used by ", v.consumers.map((c, i) => [i ? ", " : "", link("#/step/" + c.id, c.name)]),
          v.consumer_total > v.consumers.length ? ` and ${fmtInt(v.consumer_total - v.consumers.length)} more` : ""] : "not used yet")))))))));
}

// --- artifact page -------------------------------------------------------------------------------

async function artifactPage(avId) {
  const data = await api("/api/artifacts/" + encodeURIComponent(avId));
  const v = data.version;
  app.appendChild(h("div", { class: "card" },
    h("h1", {}, `${v.name} `, h("span", { class: "muted" }, "v" + v.version)),
    kv([
      ["Type", v.data_type],
      ["Materializer", v.materializer],
      ["Size", fmtBytes(v.size)],
      ["Created", fmtTime(v.created)],
      ["Content hash", v.content_hash || "—"],
      ["Produced by", data.producer ? link("#/step/" + data.producer.id, data.producer.name) : (v.save_type === "manual" ? "saved manually" : "—")],
      ["Run", v.producer_run_id ? link("#/run/" + v.producer_run_id, v.producer_run_id) : "—"],
      ["Used by", data.consumers.length ? [data.consumers.map((c, i) => [i ? ", " : "", link("#/step/" + c.id, c.name)]),
        data.consumer_total > data.consumers.length ? ` and ${fmtInt(data.consumer_total - data.consumers.length)} more` : ""] : "no step yet"],
    ]),
    h("p", {}, h("a", { class: "button", href: `/api/artifacts/${encodeURIComponent(v.id)}/download`, id: "download" }, "Download"))));
  app.appendChild(section("Preview", renderPreview(v, data.preview)));
  if (Object.keys(v.metadata || {}).length) app.appendChild(section("Metadata", jsonBlock(v.metadata)));
  app.appendChild(section(`Versions (${fmtInt(data.version_total)})`, h("table", { class: "grid" },
    h("tbody", {}, data.versions.map((o) => h("tr", { class: o.id === v.id ? "current" : "" },
      h("td", {}, link("#/artifact/" + o.id, "v" + o.version)),
      h("td", {}, fmtTime(o.created)),
      h("td", { class: "num" }, fmtBytes(o.size)),
      h("td", {}, o.producer_run_id ? link("#/run/" + o.producer_run_id, "run") : "")))))));
}

function renderPreview(v, p) {
  const img = () => h("img", { class: "thumb", alt: `${v.name} preview`, src: `/api/artifacts/${encodeURIComponent(v.id)}/image` });
  switch (p.kind) {
    case "json":
    case "text":
      return h("div", {}, h("pre", { class: "code", id: "preview-text" }, p.text), p.clipped ? h("p", { class: "muted" }, "(clipped)") : null);
    case "numpy":
      return h("div", {},
        kv([["Shape", "(" + p.shape.join(", ") + ")"], ["dtype", p.dtype], ["Elements", fmtInt(p.size)],
          p.stats ? ["min / max", `${p.stats.min} / ${p.stats.max}`] : null,
          p.stats ? ["mean ± std", `${p.stats.mean.toPrecision(6)} ± ${p.stats.std.toPrecision(6)}`] : null,
          p.nan_count ? ["NaN/inf", fmtInt(p.nan_count)] : null]),
        p.image ? img() : null,
        h("pre", { class: "code" }, p.head.join(", ") + (p.size > p.head.length ? ", …" : "")));
    case "table":
      return h("div", {},
        h("p", {}, `${fmtInt(p.rows)} rows × ${p.columns.length} columns`),
        h("table", { class: "grid small" }, h("thead", {}, h("tr", {}, p.columns.map((c) => h("th", {}, c.name, h("div", { class: "muted" }, c.type))))),
          h("tbody", {}, p.head.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell)))))));
    case "image":
      return h("div", {}, img(), h("p", { class: "muted" }, `${p.mime}, ${fmtBytes(p.size)}`));
    case "bytes":
      return h("pre", { class: "code" }, p.hex);
    case "item":
      return h("p", {}, `Item ${p.index} of `, p.parent_artifact_version_id ? link("#/artifact/" + p.parent_artifact_version_id, "the sequence it was split from") : "a sequence");
    case "files":
      return h("div", {}, h("table", { class: "grid small" }, h("tbody", {}, p.files.map((f) => h("tr", {}, h("td", {}, f.name), h("td", { class: "num" }, fmtBytes(f.size)))))),
        p.image ? img() : null, p.text !== undefined ? h("pre", { class: "code" }, p.text) : null);
    default:
      return h("p", { class: "muted" }, p.reason || "No preview.");
  }
}

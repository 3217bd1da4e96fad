"use strict";
const $ = (id) => document.getElementById(id);
const MAX_LINES = 10000, MAX_TABS = 4, MAX_EVENTS = 500;
let token = sessionStorage.getItem("peerd-token") || "";
let peers = [], selector = "", tabs = new Map(), activeTab = null, eventsSource = null, instance = null;

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token) : url;
}
function authHeaders() { return token ? { Authorization: "Bearer " + token } : {}; }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let asking = null;
function askToken() {
  if (asking) return asking;
  asking = new Promise((resolve) => {
    $("token-dialog").style.display = "flex";
    $("token-form").token.focus();
    $("token-form").onsubmit = (e) => {
      e.preventDefault();
      token = e.target.token.value.trim();
      sessionStorage.setItem("peerd-token", token);
      $("token-dialog").style.display = "none";
      asking = null;
      resolve();
      learnScope();
      watchEvents();
    };
  });
  return asking;
}

async function api(method, path, body) {
  for (;;) {
    const headers = { "Content-Type": "application/json", ...authHeaders() };
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      return { status: 0, json: null, text: "peerd is not answering" };
    }
    if (res.status === 401) { await askToken(); continue; }
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (_) {}
    return { status: res.status, json, text };
  }
}

// A problem as a person reads it: the code and detail, the console tail of
// a failed boot, an exception's class, reason and stack.
function show(el, r) {
  el.classList.toggle("error", r.status >= 400 || r.status === 0);
  const j = r.json;
  if (r.status >= 400 && j) {
    let t = j.error === "exception" ? `${j.class}: ${j.reason}\n${j.stacktrace}` : `${r.status} ${j.error}: ${j.detail}`;
    if (j.exit_status !== undefined && j.exit_status !== null) t += `\nexit status ${j.exit_status}`;
    if (j.console_tail) t += `\n--- the end of its console ---\n${j.console_tail}`;
    el.textContent = t;
  } else if (j && "result" in j) {
    el.textContent = j.result + (j.bindings && Object.keys(j.bindings).length
      ? "\n" + Object.entries(j.bindings).map(([k, v]) => `${k} = ${v}`).join("\n") : "");
  } else {
    el.textContent = r.text || String(r.status);
  }
}

// Arguments as a shell reads them: 'single', "double" (with \ escapes), \x.
function shellWords(s) {
  const out = [];
  let cur = "", inWord = false, q = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q === "'") { if (c === "'") q = null; else cur += c; continue; }
    if (q === '"') {
      if (c === '"') q = null;
      else if (c === "\\" && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
      continue;
    }
    if (c === "'" || c === '"') { q = c; inWord = true; continue; }
    if (c === "\\" && i + 1 < s.length) { cur += s[++i]; inWord = true; continue; }
    if (/\s/.test(c)) { if (inWord) { out.push(cur); cur = ""; inWord = false; } continue; }
    cur += c; inWord = true;
  }
  if (q) throw new Error(`unclosed ${q} quote`);
  if (inWord) out.push(cur);
  return out;
}
// A JSON array as it is, or shell words.
function argList(s) { s = s.trim(); return s.startsWith("[") ? JSON.parse(s) : shellWords(s); }

/* ---- the peers list: only the rows in view are in the page ---- */

const labelText = (l) => Object.entries(l || {}).map(([k, v]) => v === "" ? k : `${k}=${v}`).join(",");

/* ---- vitals: asked every 5 s for the rows in view and the open peers only ---- */

const vitals = new Map();       // id -> the peer's vitals, or null
let inView = [];
const bytes = (n) => n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
const vitalsShort = (v) => v ? `${bytes(v.memory.total)}, ${v.processes} procs` : "";
function vitalsLong(v) {
  if (!v) return "";
  const up = Math.round(v.uptime_ms / 1000);
  const os = v.os ? `; OS: ${bytes(v.os.resident_bytes)} resident, ${v.os.cpu_seconds.toFixed(2)} s CPU` : "";
  return `memory ${bytes(v.memory.total)} (processes ${bytes(v.memory.processes)}, binary ${bytes(v.memory.binary)}, ` +
         `code ${bytes(v.memory.code)}, ets ${bytes(v.memory.ets)}); ${v.processes} processes, run queue ${v.run_queue}; ` +
         `up ${Math.floor(up / 3600)}h ${Math.floor(up / 60) % 60}m ${up % 60}s${os}`;
}
async function refreshVitals() {
  const ids = new Set([...inView, ...tabs.keys()]);
  await Promise.all([...ids].map(async (id) => {
    const p = peers.find((x) => x.id === id);
    if (!p || p.state !== "running") { vitals.delete(id); return; }
    const r = await api("GET", `/peers/${encodeURIComponent(id)}?vitals=1`);
    if (r.json && "vitals" in r.json) vitals.set(id, r.json.vitals);
  }));
  renderPeers();
  for (const [id, t] of tabs) t.update(peers.find((p) => p.id === id));
}
setInterval(refreshVitals, 5000);

function renderPeers() {
  const list = $("peer-list"), spacer = $("peer-spacer");
  // A row's height is the stylesheet's: one line, or three in a narrow list.
  const ROW_H = parseFloat(getComputedStyle(spacer).getPropertyValue("--row-h")) || 30;
  spacer.style.height = `${peers.length * ROW_H}px`;
  list.setAttribute("aria-rowcount", String(peers.length + 1));
  const first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 5);
  const last = Math.min(peers.length, first + Math.ceil(list.clientHeight / ROW_H) + 10);
  const frag = document.createDocumentFragment();
  inView = peers.slice(first, last).map((p) => p.id);
  for (let i = first; i < last; i++) {
    const p = peers[i];
    const row = document.createElement("div");
    row.className = "prow" + (tabs.has(p.id) ? " selected" : "");
    row.setAttribute("role", "row");
    row.setAttribute("aria-rowindex", String(i + 2));
    row.dataset.id = p.id;
    row.style.top = `${i * ROW_H}px`;
    const pick = document.createElement("button");
    pick.className = "pick";
    pick.textContent = p.id;
    pick.title = `open ${p.id}`;     // the whole id, when the column cuts it
    pick.onclick = () => {
      openTab(p.id);
      // One column (a phone): the peer opens below the list; go there.
      if (getComputedStyle(document.querySelector("main")).gridTemplateColumns.split(" ").length === 1)
        tabs.get(p.id).el.scrollIntoView({ block: "start" });
    };
    const node = document.createElement("span");
    node.className = "node";
    node.textContent = p.node || "";
    node.title = p.node || "";
    const state = document.createElement("span");
    state.className = `state state-${p.state}`;
    state.textContent = p.state;
    if (p.state === "down" && p.down_reason) {
      const r = document.createElement("span");
      r.className = "reason";
      r.textContent = ` ${p.down_reason}`;
      state.title = p.down_reason;
      state.appendChild(r);
    }
    const labels = document.createElement("span");
    labels.className = "labels";
    labels.textContent = labels.title = labelText(p.labels);
    const cluster = document.createElement("span");
    cluster.className = "cluster";
    cluster.textContent = cluster.title = p.cluster || "";
    const uses = document.createElement("span");
    uses.className = "uses";
    uses.textContent = p.state === "running" ? vitalsShort(vitals.get(p.id)) : "";
    // A down peer is already stopped: what is left is to remove it.
    const act = document.createElement("button");
    act.className = (p.state === "down" ? "remove" : "stop") + " write";
    act.textContent = p.state === "down" ? "Remove" : "Stop";
    act.setAttribute("aria-label", `${act.textContent} ${p.id}`);
    act.onclick = async () => {
      act.disabled = true;
      const s = await api("DELETE", `/peers/${encodeURIComponent(p.id)}`);
      const out = activeTab ? tabs.get(activeTab).el.querySelector(".call-result") : $("group-result");
      if (s.status === 200 && s.json) { out.classList.remove("error"); out.textContent = `${p.id}: down (${s.json.down_reason})`; }
      else show(out, s);
      scheduleRefresh();
    };
    for (let c of [pick, node, state, labels, cluster, uses, act]) {
      if (c.tagName === "BUTTON") { const cell = document.createElement("span"); cell.appendChild(c); c = cell; }
      c.setAttribute("role", "cell");
      row.appendChild(c);
    }
    frag.appendChild(row);
  }
  spacer.replaceChildren(frag);
  $("peer-count").textContent = `(${peers.length})`;
}
$("peer-list").addEventListener("scroll", () => requestAnimationFrame(renderPeers), { passive: true });
new ResizeObserver(() => requestAnimationFrame(renderPeers)).observe($("peer-list"));

let refreshing = false, refreshAgain = false;
async function refresh() {
  if (refreshing) { refreshAgain = true; return; }
  refreshing = true;
  try {
    const r = await api("GET", selector ? `/peers?selector=${encodeURIComponent(selector)}` : "/peers");
    if (r.json && r.json.peers) { peers = r.json.peers; renderPeers(); }
    else show($("group-result"), r);
    for (const [id, t] of tabs) t.update(peers.find((p) => p.id === id));
    refreshClusters();
  } finally {
    refreshing = false;
    if (refreshAgain) { refreshAgain = false; scheduleRefresh(); }
  }
}
// Events come in bursts (a group started or stopped): one refresh per 200 ms at most.
let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 200);
}

/* ---- clusters ---- */

let clusterShown = null;
async function refreshClusters() {
  const r = await api("GET", "/clusters");
  if (!r.json || !r.json.clusters) return;
  const ul = $("clusters");
  ul.replaceChildren(...r.json.clusters.map((c) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = `${c.name}: ${c.running}/${c.members} running`;
    a.onclick = (e) => { e.preventDefault(); showCluster(c.name); };
    li.appendChild(a);
    return li;
  }));
  if (clusterShown && !r.json.clusters.some((c) => c.name === clusterShown)) { clusterShown = null; $("cluster-view").textContent = ""; }
}
// Who is connected to whom, from each member's nodes().
async function showCluster(name) {
  clusterShown = name;
  const r = await api("GET", `/clusters/${encodeURIComponent(name)}`);
  if (!r.json || r.status !== 200) { $("cluster-view").textContent = r.text; return; }
  const lines = [`${name}: ${r.json.full_mesh ? "full mesh" : "NOT a full mesh"}`];
  for (const m of r.json.members) lines.push(`${m.node || m.id} (${m.state}) -> ${m.connected ? m.connected.join(", ") || "(none)" : "?"}`);
  $("cluster-view").textContent = lines.join("\n");
}

/* ---- a console: bounded, appends cost what arrived, \r rewrites its line ----
 * The lines are kept in the page's memory (the last MAX_LINES or so), and
 * only those in view are in the document: one text node, placed where they
 * are in a spacer as tall as all of them. However fast a node prints, a
 * frame lays out a screenful of text; text that arrives waits as the chunks
 * it came in and is split into lines a few milliseconds a frame. */

const LINE_PX = 17, FRAME_MS = 4, SLICE = 16384;
class Console {
  constructor(el, dropped, tail, peerId) {
    this.el = el; this.droppedEl = dropped; this.tail = tail; this.peerId = peerId;
    this.pending = []; this.queued = 0; this.scheduled = false; this.dropped = 0;
    this.lines = []; this.first = 0;      // lines[first..] are kept; the rest wait to be cut off
    this.open = ""; this.cr = false;
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    this.view = document.createElement("div");
    this.view.className = "view";
    this.spacer.appendChild(this.view);
    el.appendChild(this.spacer);
    el.addEventListener("scroll", () => {
      const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
      if (!atEnd && this.tail.checked && !this.programmatic) this.tail.checked = false;
      this.programmatic = false;
      this.schedule();
    }, { passive: true });
    tail.addEventListener("change", () => { if (tail.checked) this.schedule(); });
  }
  get count() { return this.lines.length - this.first; }
  schedule() {
    if (!this.scheduled) { this.scheduled = true; requestAnimationFrame(() => this.flush()); }
  }
  feed(text) {
    if (!text) return;
    this.pending.push(text);
    this.queued += text.length;
    this.schedule();
  }
  // A line of peerd's own (down, gone...), marked apart from the node's output.
  note(text) {
    this.take(true);
    if (this.open) this.closeLine();
    this.lines.push("\u25b8 " + text);
    this.schedule();
  }
  closeLine() { this.lines.push(this.open); this.open = ""; this.cr = false; }
  // Splits what waits into lines, FRAME_MS of work at most (all: everything).
  take(all) {
    // More waiting than is kept (some 100 bytes a line): the oldest chunks
    // go unread, counted by their line ends.
    while (this.pending.length > 1 && this.queued - this.pending[0].length > MAX_LINES * 100) {
      const c = this.pending.shift();
      this.queued -= c.length;
      for (let x = c.indexOf("\n"); x >= 0; x = c.indexOf("\n", x + 1)) this.dropped++;
      this.open = ""; this.cr = false;
    }
    const t0 = performance.now();
    while (this.pending.length && (all || performance.now() - t0 < FRAME_MS)) {
      let text = this.pending[0];
      if (text.length > SLICE) { this.pending[0] = text.slice(SLICE); text = text.slice(0, SLICE); }
      else this.pending.shift();
      this.queued -= text.length;
      const parts = text.split("\n");
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) this.closeLine();
        // A CR returns to the start of the line: the text after it rewrites
        // the line (a progress counter); a CR LF just ends it.
        const segs = parts[i].split("\r");
        for (let k = 0; k < segs.length; k++) {
          if (k > 0) this.cr = true;
          if (segs[k] === "") continue;
          if (this.cr) { this.open = segs[k]; this.cr = false; } else this.open += segs[k];
        }
      }
    }
    // Past the scrollback: cut off now and then, not a line at a time.
    if (this.count > MAX_LINES) {
      const cut = this.count - MAX_LINES;
      this.first += cut;
      this.dropped += cut;
      if (this.first > MAX_LINES) { this.lines = this.lines.slice(this.first); this.first = 0; }
    }
  }
  flush() {
    this.scheduled = false;
    this.take(false);
    const el = this.el, total = this.count + 1;          // the open line too
    this.spacer.style.height = `${total * LINE_PX}px`;
    el.dataset.lines = String(this.count + (this.open ? 1 : 0));
    if (this.tail.checked) { this.programmatic = el.scrollTop + el.clientHeight < el.scrollHeight; el.scrollTop = el.scrollHeight; }
    // A hidden pane (another tab is shown) has no size: its end is drawn.
    const rows = Math.ceil((el.clientHeight || 340) / LINE_PX);
    const top = el.clientHeight ? Math.floor(el.scrollTop / LINE_PX) : Math.max(0, total - rows);
    const from = Math.max(0, top - 10);
    const to = Math.min(total, top + rows + 10);
    const shown = [];
    for (let i = from; i < to; i++) shown.push(i < this.count ? this.lines[this.first + i] : this.open);
    this.view.style.top = `${from * LINE_PX}px`;
    this.view.textContent = shown.join("\n");
    if (this.dropped) this.showDropped();
    if (this.pending.length) this.schedule();
  }
  showDropped() {
    const text = `${this.dropped} earlier lines are not kept here (the last ${MAX_LINES} are). `;
    if (this.droppedEl.firstChild && this.droppedEl.firstChild.textContent === text) return;
    this.droppedEl.hidden = false;
    this.droppedEl.replaceChildren(text);
    const a = document.createElement("a");
    a.href = withToken(`/peers/${encodeURIComponent(this.peerId)}/console`);
    a.target = "_blank"; a.rel = "noopener"; a.textContent = "The whole console peerd keeps";
    this.droppedEl.append(a);
  }
}

/* ---- tabs: several peers open at once ---- */

class Tab {
  constructor(id) {
    this.id = id;
    const el = $("panel-template").content.firstElementChild.cloneNode(true);
    el.dataset.id = id;
    el.id = `panel-${tabs.size}-${Date.now()}`;
    this.el = el;
    this.console = new Console(el.querySelector(".console"), el.querySelector(".dropped"), el.querySelector(".tail"), id);
    this.abort = new AbortController();
    this.inc = null; this.pos = null; this.msgSince = null; this.gone = false;
    // The tab is a tab and nothing else (a button inside it would be a
    // control nested in a control): its Close is in the panel, and Delete
    // on the focused tab closes it too.
    const btn = document.createElement("button");
    btn.setAttribute("role", "tab");
    btn.setAttribute("aria-controls", el.id);
    btn.setAttribute("aria-keyshortcuts", "Delete");
    btn.id = `${el.id}-tab`;
    btn.dataset.id = id;
    btn.textContent = id;
    btn.onclick = () => activate(id);
    el.setAttribute("aria-labelledby", btn.id);
    const close = el.querySelector(".close");
    close.setAttribute("aria-label", `close ${id}`);
    close.onclick = () => closeTab(id);
    this.btn = btn;
    $("tabs").appendChild(btn);
    $("panels").appendChild(el);
    this.wire();
    this.followConsole();
    this.pollMessages();
  }
  update(p) {
    const line = this.el.querySelector(".peer-text");
    if (!p) { line.textContent = `${this.id}: gone`; return; }
    line.textContent = `${p.node || p.id} — ${p.state}${p.down_reason ? ` (${p.down_reason})` : ""}${p.os_pid ? `, os pid ${p.os_pid}` : ""}`;
    this.el.querySelector(".vitals-line").textContent = p.state === "running" ? vitalsLong(vitals.get(this.id)) : "";
  }
  wire() {
    const el = this.el, out = el.querySelector(".call-result"), enc = encodeURIComponent(this.id);
    const f = el.querySelector(".call-form");
    const relay = async (op) => {
      const r = await api("POST", `/peers/${enc}/${op}`, { module: f.module.value, function: f.function.value, args: f.args.value });
      show(out, r);
      if (op === "cast" && r.status === 202) out.textContent = "cast sent";
    };
    f.onsubmit = (e) => { e.preventDefault(); relay("call"); };
    el.querySelector(".cast").onclick = () => relay("cast");
    el.querySelector(".send-form").onsubmit = async (e) => {
      e.preventDefault();
      const r = await api("POST", `/peers/${enc}/send`, { to: e.target.to.value, message_text: e.target.message.value });
      show(out, r);
      if (r.status === 202) out.textContent = "message sent";
    };
    el.querySelector(".eval-form").onsubmit = async (e) => {
      e.preventDefault();
      show(out, await api("POST", `/peers/${enc}/eval`, { expr: e.target.expr.value }));
    };
  }
  // The console as plain text over fetch: bytes exactly (a CR stays a CR),
  // resumed from the last offset after a break, and ended for good once
  // the peer is down or gone (no reconnecting forever).
  async followConsole() {
    while (!this.abort.signal.aborted) {
      const since = this.inc !== null ? `&since=${this.inc}-${this.pos}` : "";
      let res;
      try {
        res = await fetch(`/peers/${encodeURIComponent(this.id)}/console?follow=1${since}`, { headers: authHeaders(), signal: this.abort.signal });
      } catch (e) {
        if (this.abort.signal.aborted) return;
        await sleep(1000);
        continue;
      }
      if (res.status === 401) { await askToken(); continue; }
      if (res.status !== 200) {
        const j = await res.json().catch(() => null);
        this.console.note(`[${res.status} ${j ? j.error + ": " + j.detail : ""}]`);
        if (j && j.console_tail && !this.pos) this.console.feed(j.console_tail);
        this.ended();
        return;
      }
      const inc = res.headers.get("X-Peer-Incarnation");
      if (this.inc !== null && inc !== this.inc) this.console.note("[a new start of this peer: its console from the beginning]");
      this.inc = inc;
      this.pos = Number(res.headers.get("X-Console-Start") || 0);
      const reader = res.body.getReader(), dec = new TextDecoder();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.pos += value.length;
          const text = dec.decode(value, { stream: true });
          // Markers of bytes peerd no longer had: the offset moves past them.
          for (const m of text.matchAll(/\[peerd: (\d+) bytes of console output missed here\]\n/g))
            this.pos += Number(m[1]) - (m[0].length + 1);
          this.console.feed(text);
        }
      } catch (e) {
        if (this.abort.signal.aborted) return;
      }
      const p = await api("GET", `/peers/${encodeURIComponent(this.id)}`);
      if (p.status !== 200 || p.json.state === "down") {
        this.console.note(p.status === 200 ? `[down: ${p.json.down_reason}]` : "[the peer is gone]");
        this.ended();
        return;
      }
      await sleep(500);
    }
  }
  ended() { this.gone = true; this.btn.classList.add("state-down"); }
  // Messages the node sent to peerd: asked for every 1.5 s while the tab is
  // shown (a stream per tab would take a connection of the six a browser has).
  async pollMessages() {
    while (!this.abort.signal.aborted) {
      if (activeTab === this.id && !this.gone) {
        const since = this.msgSince ? `?since=${this.msgSince}` : "";
        const r = await fetch(`/peers/${encodeURIComponent(this.id)}/messages${since}`, { headers: authHeaders() }).catch(() => null);
        if (r && r.status === 200) {
          const ul = this.el.querySelector(".messages");
          for (const line of (await r.text()).split("\n")) {
            if (!line) continue;
            let m;
            try { m = JSON.parse(line); } catch (_) { continue; }
            if (m.reset) { ul.replaceChildren(); this.msgSince = null; continue; }
            if (!m.id) continue;
            this.msgSince = m.id;
            const li = document.createElement("li");
            const what = m.result != null ? m.result
              : m.dropped_bytes != null ? `(dropped: ${m.dropped_bytes} bytes, over 16 MiB)`
              : `(${Math.round((m.value && m.value.$etf || "").length * 3 / 4)} bytes of external term format: too large to print here)`;
            li.textContent = `#${m.seq} to ${m.to}: ${what}`;
            ul.appendChild(li);
            while (ul.childElementCount > MAX_EVENTS) ul.firstElementChild.remove();
            ul.scrollTop = ul.scrollHeight;
          }
        }
      }
      await sleep(1500);
    }
  }
  close() { this.abort.abort(); this.btn.remove(); this.el.remove(); }
}

// While no peer is open the list has the page's width; the first one
// opened takes the right-hand side.
const layout = () => document.querySelector("main").classList.toggle("no-tabs", tabs.size === 0);

function activate(id) {
  activeTab = id;
  layout();
  for (const [tid, t] of tabs) {
    const on = tid === id;
    t.btn.setAttribute("aria-selected", String(on));
    t.btn.tabIndex = on ? 0 : -1;
    t.el.classList.toggle("active", on);
    if (on) t.console.schedule();     /* shown again: drawn where it is now */
  }
  renderPeers();
}

function openTab(id) {
  if (!tabs.has(id)) {
    if (tabs.size >= MAX_TABS) closeTab(tabs.keys().next().value);
    const t = new Tab(id);
    tabs.set(id, t);
    t.update(peers.find((p) => p.id === id));
    refreshVitals();
  }
  activate(id);
}

function closeTab(id) {
  const t = tabs.get(id);
  if (!t) return;
  t.close();
  tabs.delete(id);
  if (activeTab === id) { activeTab = null; const next = tabs.keys().next().value; if (next) activate(next); else { layout(); renderPeers(); } }
}

// Arrow keys move between tabs, as a tablist should; Delete closes one.
$("tabs").addEventListener("keydown", (e) => {
  const ids = [...tabs.keys()], i = ids.indexOf(activeTab);
  if (i < 0) return;
  if (e.key === "Delete") {
    closeTab(activeTab);
    if (activeTab) tabs.get(activeTab).btn.focus();
    return;
  }
  if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
  const next = ids[(i + (e.key === "ArrowRight" ? 1 : ids.length - 1)) % ids.length];
  activate(next);
  tabs.get(next).btn.focus();
});

/* ---- events ---- */

function addEvent(ev) {
  const ul = $("events"), li = document.createElement("li");
  const t = (ev.time || "").slice(11, 23);
  li.textContent = `${t} ${ev.type} ${ev.peer}${ev.reason ? " " + ev.reason : ""}`;
  li.className = ev.type === "boot_failed" || ev.type === "crashed" ? "state-down" : "";
  ul.prepend(li);
  while (ul.childElementCount > MAX_EVENTS) ul.lastElementChild.remove();
}

function watchEvents() {
  if (eventsSource) eventsSource.close();
  $("events").replaceChildren();   // a new source replays the log from its start
  eventsSource = new EventSource(withToken("/events"));
  eventsSource.onopen = () => { setStatus("live"); refresh(); };
  eventsSource.addEventListener("peer", (e) => { try { addEvent(JSON.parse(e.data)); } catch (_) {} scheduleRefresh(); });
  // The browser resumed with an id of another peerd instance (peerd was
  // restarted): the peers shown are of the old world; show the new one.
  eventsSource.addEventListener("reset", (e) => {
    const was = instance;
    instance = JSON.parse(e.data).instance;
    setStatus(`live (peerd restarted: instance ${instance})`);
    if (was !== null || tabs.size) for (const id of [...tabs.keys()]) closeTab(id);
    $("events").replaceChildren();
    refresh();
  });
  eventsSource.onerror = () => {
    setStatus("peerd is not answering — reconnecting…", true);
    peers = []; renderPeers();
  };
}
function setStatus(text, down) { $("status").textContent = text; $("status").classList.toggle("down", !!down); }

/* ---- the service at a glance, from /metrics ---- */

const samples = [];   // {t, calls, peers: {booting, running, down}, bootMs}
let lastCalls = null, lastBoot = null, chartDraws = 0;
function parseMetrics(text) {
  const m = { calls: 0, peers: { booting: 0, running: 0, down: 0 }, bootSum: 0, bootCount: 0 };
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const sp = line.lastIndexOf(" "), name = line.slice(0, sp), v = Number(line.slice(sp + 1));
    if (name.startsWith("peerd_calls_total")) m.calls += v;
    else if (name.startsWith("peerd_peers{")) { const s = /state="(\w+)"/.exec(name); if (s) m.peers[s[1]] = v; }
    else if (name === "peerd_boot_seconds_sum") m.bootSum = v;
    else if (name === "peerd_boot_seconds_count") m.bootCount = v;
  }
  return m;
}
async function pollMetrics() {
  for (;;) {
    const r = await fetch("/metrics", { headers: authHeaders() }).catch(() => null);
    if (r && r.status === 200) {
      const m = parseMetrics(await r.text()), now = Date.now();
      let rate = 0, bootMs = null;
      if (lastCalls) rate = Math.max(0, (m.calls - lastCalls.calls) / ((now - lastCalls.t) / 1000));
      if (lastBoot && m.bootCount > lastBoot.count) bootMs = 1000 * (m.bootSum - lastBoot.sum) / (m.bootCount - lastBoot.count);
      else if (m.bootCount) bootMs = 1000 * m.bootSum / m.bootCount;
      lastCalls = { t: now, calls: m.calls };
      lastBoot = { sum: m.bootSum, count: m.bootCount };
      samples.push({ t: now, rate, peers: m.peers, bootMs });
      while (samples.length > 60) samples.shift();
      drawChart();
    }
    await sleep(2000);
  }
}
function drawChart() {
  const c = $("chart");
  // Drawn at the size it is shown (a phone stretches it to the screen).
  if (c.clientWidth > 0 && c.width !== c.clientWidth - 2) c.width = c.clientWidth - 2;
  const g = c.getContext("2d"), w = c.width, h = c.height, n = samples.length;
  g.clearRect(0, 0, w, h);
  const css = getComputedStyle(document.documentElement);
  g.fillStyle = css.getPropertyValue("--bg").trim() || "#fff"; g.fillRect(0, 0, w, h);
  const last = samples[n - 1];
  if (!last) return;
  // Peers by state: a bar on the right.
  const total = last.peers.booting + last.peers.running + last.peers.down;
  let y = h;
  for (const [s, col] of [["running", "#1d7a46"], ["booting", "#8a4d00"], ["down", "#b3261e"]]) {
    const bh = total ? (h - 4) * last.peers[s] / total : 0;
    g.fillStyle = col; g.fillRect(w - 14, y - bh, 12, bh); y -= bh;
  }
  // Calls per second: a line over the last two minutes.
  const max = Math.max(1, ...samples.map((s) => s.rate));
  g.strokeStyle = css.getPropertyValue("--accent").trim() || "#1f5fbf"; g.lineWidth = 1.5; g.beginPath();
  samples.forEach((s, i) => {
    const x = 2 + (w - 22) * (n === 1 ? 1 : i / (n - 1)), yy = h - 3 - (h - 14) * s.rate / max;
    if (i === 0) g.moveTo(x, yy); else g.lineTo(x, yy);
  });
  g.stroke();
  g.fillStyle = css.getPropertyValue("--muted").trim() || "#5b6475"; g.font = "10px system-ui"; g.fillText(`max ${max.toFixed(0)}/s`, 4, 10);
  chartDraws++;
  c.dataset.draws = String(chartDraws);
  const text = `calls/s ${last.rate.toFixed(1)} · peers ${last.peers.running} running, ${last.peers.booting} booting, ${last.peers.down} down` +
               (last.bootMs !== null ? ` · boot ${last.bootMs.toFixed(0)} ms` : "");
  $("glance-text").textContent = text;
  c.setAttribute("aria-label", `calls per second over the last two minutes; now: ${text}`);
}

/* ---- forms ---- */

$("start-form").onsubmit = async (e) => {
  e.preventDefault();
  const f = e.target, body = {}, out = $("start-result");
  try {
    if (f.name.value.trim()) body.name = f.name.value.trim();
    body.connection = f.connection.value === "0" ? 0 : f.connection.value;
    if (f.args.value.trim()) body.args = argList(f.args.value);
    if (f.exec.value.trim()) body.exec = argList(f.exec.value);
    if (f.env.value.trim()) {
      body.env = {};
      for (const line of f.env.value.split("\n")) {
        if (!line.trim()) continue;
        const i = line.indexOf("=");
        if (i < 1) throw new Error(`env: "${line}" is not K=V`);
        body.env[line.slice(0, i).trim()] = line.slice(i + 1);
      }
    }
    if (f.labels.value.trim()) {
      body.labels = {};
      for (const kv of f.labels.value.split(",")) {
        const [k, ...v] = kv.split("=");
        if (k.trim()) body.labels[k.trim()] = v.join("=").trim();
      }
    }
    if (f.cluster.value.trim()) body.cluster = f.cluster.value.trim();
    body.peer_down = f.peer_down.value;
    body.shutdown = /^\d+$/.test(f.shutdown.value) ? Number(f.shutdown.value) : f.shutdown.value;
    const wb = f.wait_boot.value.trim();
    if (wb) body.wait_boot = wb === "false" ? false : /^\d+$/.test(wb) ? Number(wb) : wb;
    if (f.lease_ms.value.trim()) body.lease_ms = Number(f.lease_ms.value.trim());
  } catch (err) {
    out.classList.add("error");
    out.textContent = err.message;
    return;
  }
  out.classList.remove("error");
  out.textContent = "starting…";
  const r = await api("POST", "/peers", body);
  if (r.json && r.json.id && r.status < 300) {
    out.textContent = `${r.json.id}: ${r.json.state}`;
    await refresh();
    openTab(r.json.id);
  } else {
    show(out, r);
  }
};

$("group-form").onsubmit = (e) => { e.preventDefault(); selector = $("selector").value.trim(); refresh(); };
// The group delete: every peer the selector picks. An empty one picks
// none (peerd refuses it): every peer is "*", asked for in so many words.
$("stop-group").onclick = async () => {
  const sel = $("selector").value.trim();
  if (!sel) {
    $("group-result").classList.add("error");
    $("group-result").textContent = "give a selector to stop a group (* stops every peer)";
    return;
  }
  if (!confirm(`Stop every peer selected by "${sel}"?`)) return;
  const r = await api("DELETE", `/peers?selector=${encodeURIComponent(sel)}`);
  if (r.json && r.json.peers) { $("group-result").classList.remove("error"); $("group-result").textContent = `stopped ${r.json.peers.length} peer(s)`; }
  else show($("group-result"), r);
  refresh();
};

// The longest the page kept its thread from its user since the attribute
// was last cleared (tests read it, and clear it to time a stretch).
if (window.PerformanceObserver && PerformanceObserver.supportedEntryTypes.includes("longtask")) {
  new PerformanceObserver((l) => {
    const b = document.body.dataset;
    for (const e of l.getEntries()) if (e.duration > Number(b.longestTask || 0)) b.longestTask = String(Math.round(e.duration));
  }).observe({ type: "longtask" });
}

// A read-only token (GET /scope says "read") can look, not act: what it
// cannot do is hidden, and the header says so.
async function learnScope() {
  const r = await api("GET", "/scope");
  const read = r.status === 200 && r.json && r.json.scope === "read";
  document.body.classList.toggle("read-only", read);
  $("scope").hidden = !read;
}

refresh().then(watchEvents);
learnScope();
pollMetrics();

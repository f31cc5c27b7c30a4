"""The labelling page: one self-contained HTML document (inline CSS and JS, no CDN, no fonts
fetched), so it works offline and behind any firewall.

Keys: 1-9 pick a label (multi-label: toggle, then Enter), Enter accepts the suggestion, S skips,
Z undoes, M asks more like this text next; in review K keeps, 1-9 relabel, D drops. Each tab has a
client id and a sequence number per answer; a failed request is retried with the same number,
so the server records it once."""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>textclf label</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root { --ink:#111827; --muted:#6b7280; --accent:#2563eb; --bar:#1f2937; --card:#ffffff; --bg:#f3f4f6; }
* { box-sizing:border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--ink); background:var(--bg); }
header { background:var(--bar); color:#f9fafb; padding:10px 20px; display:flex; gap:20px; align-items:center; height:48px; }
header b { font-size:17px; } header span { color:#d1d5db; }
main { display:grid; grid-template-columns: minmax(0,2fr) minmax(280px,1fr); gap:16px; padding:16px 20px; }
section { background:var(--card); border-radius:8px; padding:14px 16px; box-shadow:0 1px 2px rgba(0,0,0,.08); }
#card { min-height:220px; }
#text { font-size:18px; white-space:pre-wrap; margin:8px 0 14px; max-height:45vh; overflow:auto; }
#meta { color:var(--muted); font-size:13px; }
.labels { display:flex; flex-wrap:wrap; gap:8px; }
.labels button { border:1px solid #d1d5db; background:#f9fafb; border-radius:6px; padding:8px 12px; font-size:15px; cursor:pointer; }
.labels button.suggested { background:var(--accent); color:#fff; border-color:var(--accent); }
.labels button.on { outline:3px solid #f59e0b; }
.keys { color:var(--muted); font-size:12px; margin-top:10px; }
kbd { border:1px solid #d1d5db; border-radius:3px; padding:0 4px; background:#f9fafb; }
#reason { width:100%; margin-top:8px; padding:6px; display:none; }
table { width:100%; border-collapse:collapse; font-size:13px; }
td { border-top:1px solid #e5e7eb; padding:4px; vertical-align:top; }
.count { display:flex; align-items:center; gap:6px; font-size:13px; margin:3px 0; }
.count i { display:inline-block; height:10px; background:var(--accent); border-radius:2px; }
#f1 { font-size:28px; font-weight:600; } #interval, #gain { color:var(--muted); font-size:13px; }
#status { font-size:13px; } .error { color:#b91c1c; }
h3 { margin:0 0 6px; font-size:14px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
</style></head>
<body>
<header><b>textclf label</b><span id="mode"></span><span id="progress"></span><span id="status"></span></header>
<main>
 <div>
  <section id="card"><h3>Text</h3>
   <div id="meta"></div><div id="text">Loading…</div>
   <div class="labels" id="buttons"></div>
   <input id="reason" placeholder="reason (optional), then a key">
   <div class="keys" id="keys"></div>
  </section>
  <section style="margin-top:16px"><h3>History</h3><table id="history"></table></section>
 </div>
 <div>
  <section id="panel"><h3>Model on the labels so far</h3>
   <div id="f1">–</div><div id="interval">cross-validated macro-F1 appears after a few labels per class</div>
   <svg id="curve" width="100%" height="120" viewBox="0 0 300 120" role="img" aria-label="learning curve"></svg>
   <div id="gain"></div></section>
  <section style="margin-top:16px"><h3>Labels per class</h3><div id="counts"></div></section>
 </div>
</main>
<script>
const $ = (id) => document.getElementById(id);
const store = window.sessionStorage;
if (!store.getItem("client")) store.setItem("client", "tab-" + Math.random().toString(36).slice(2) + Date.now().toString(36));
const client = store.getItem("client");
let key = (location.hash.match(/key=([^&]+)/) || [])[1] || store.getItem("key") || "";
if (key) store.setItem("key", key);
let state = null, toggled = new Set(), busy = false;

function nextSeq() { const n = Number(store.getItem("seq") || "0") + 1; store.setItem("seq", String(n)); return n; }
async function call(path, body) {
  const headers = {"Content-Type": "application/json"};
  if (key) headers["Authorization"] = "Bearer " + key;
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(path, body === undefined ? {headers} : {method: "POST", headers, body: JSON.stringify(body)});
      if (r.status === 401) { key = prompt("API key for this labelling session") || ""; store.setItem("key", key); headers["Authorization"] = "Bearer " + key; continue; }
      if (!r.ok) throw new Error((await r.json()).detail || r.status);
      $("status").textContent = ""; $("status").className = "";
      return await r.json();
    } catch (err) {  // same body, same seq: the server records it once
      $("status").textContent = "retrying: " + err.message; $("status").className = "error";
      if (attempt > 50) throw err;
      await new Promise((ok) => setTimeout(ok, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}
async function refresh() { state = await call("/api/state?client=" + encodeURIComponent(client)); toggled = new Set(); render(); }
async function send(kind, labels, item) {
  if (busy || !state) return;
  const target = item || (state.item && state.item.id);
  if (!target) return;
  busy = true;
  try {
    const reason = $("reason").value || null;
    await call("/api/answer", {client, seq: nextSeq(), item: target, kind, labels: labels || null, reason});
    $("reason").value = "";
    await refresh();
  } finally { busy = false; }
}
async function undo() { if (busy) return; busy = true; try { await call("/api/undo", {client, seq: nextSeq()}); await refresh(); } finally { busy = false; } }
async function moreLike() { if (state && state.item) { await call("/api/more-like", {item: state.item.id}); } }

function render() {
  const review = state.mode === "review", item = state.item;
  $("mode").textContent = review ? "review" : (state.multi_label ? "multi-label" : "single-label");
  const p = state.progress;
  $("progress").textContent = p.answered + " answered · " + p.remaining + " left";
  $("text").textContent = item ? item.text : "Nothing left to ask. Your labels are saved.";
  $("text").dataset.item = item ? item.id : "";
  const meta = [];
  if (item) meta.push("id " + item.id);
  if (item && item.suggestion) meta.push("suggestion: " + item.suggestion.join(", ") + (item.confidence != null ? " (" + Math.round(item.confidence * 100) + "%)" : ""));
  if (item && review && item.given) meta.push("given: " + item.given.join(", "));
  if (item && item.reason) meta.push(item.reason);
  $("meta").textContent = meta.join(" · ");
  $("reason").style.display = review ? "block" : "none";
  const buttons = $("buttons"); buttons.innerHTML = "";
  state.labels.forEach((name, i) => {
    const b = document.createElement("button");
    b.textContent = (i < 9 ? (i + 1) + " " : "") + name; b.dataset.label = name;
    if (item && item.suggestion && item.suggestion.includes(name)) b.className = "suggested";
    if (toggled.has(name)) b.classList.add("on");
    b.onclick = () => pick(i);
    buttons.appendChild(b);
  });
  $("keys").innerHTML = review
    ? "<kbd>K</kbd> keep · <kbd>1</kbd>–<kbd>9</kbd> relabel · <kbd>Enter</kbd> relabel as suggested · <kbd>D</kbd> drop · <kbd>Z</kbd> undo"
    : "<kbd>1</kbd>–<kbd>9</kbd> " + (state.multi_label ? "toggle · <kbd>N</kbd> none of these" : "label") + " · <kbd>Enter</kbd> accept suggestion · <kbd>S</kbd> skip · <kbd>Z</kbd> undo · <kbd>M</kbd> more like this";
  renderHistory(); renderPanel();
}
function renderHistory() {
  const table = $("history"); table.innerHTML = "";
  state.history.forEach((h) => {
    const row = table.insertRow(); row.dataset.item = h.item;
    row.insertCell().textContent = h.text;
    const cell = row.insertCell();
    if (h.kind === "skip" || h.kind === "drop") { cell.textContent = h.kind; return; }
    const select = document.createElement("select"); select.multiple = state.multi_label;
    state.labels.forEach((name) => { const o = new Option(name, name, false, h.labels.includes(name)); select.add(o); });
    select.onchange = () => send(state.mode === "review" ? "relabel" : "label", Array.from(select.selectedOptions).map((o) => o.value), h.item);
    cell.appendChild(select);
  });
}
function renderPanel() {
  const p = state.progress;
  if (p.f1) { $("f1").textContent = p.f1.value.toFixed(3); $("interval").textContent = "95% interval " + p.f1.low.toFixed(2) + "–" + p.f1.high.toFixed(2) + " on " + p.f1.labels + " labels (cross-validated macro-F1)"; }
  $("gain").textContent = p.gain_next_100 != null ? "next 100 labels: about +" + p.gain_next_100.toFixed(3) + " macro-F1 (power law on the curve)" : "";
  const svg = $("curve"), pts = p.curve;
  let marks = '<line x1="30" y1="105" x2="295" y2="105" stroke="#9ca3af"/><line x1="30" y1="5" x2="30" y2="105" stroke="#9ca3af"/>';
  if (pts.length) {
    const maxN = Math.max(...pts.map((q) => q[0]));
    const xy = pts.map((q) => [30 + 265 * q[0] / maxN, 105 - 100 * q[1]]);
    marks += '<polyline fill="none" stroke="#2563eb" stroke-width="2" points="' + xy.map((q) => q.join(",")).join(" ") + '"/>';
    marks += xy.map((q) => '<circle r="2.5" fill="#2563eb" cx="' + q[0] + '" cy="' + q[1] + '"/>').join("");
    marks += '<text x="295" y="118" font-size="10" text-anchor="end" fill="#6b7280">' + maxN + ' labels</text>';
  }
  svg.innerHTML = marks + '<text x="2" y="12" font-size="10" fill="#6b7280">1.0</text><text x="2" y="108" font-size="10" fill="#6b7280">0</text>';
  const counts = $("counts"); counts.innerHTML = "";
  const most = Math.max(1, ...Object.values(state.counts));
  for (const [name, n] of Object.entries(state.counts)) {
    const div = document.createElement("div"); div.className = "count";
    div.innerHTML = '<span style="width:90px"></span><i style="width:' + Math.round(150 * n / most) + 'px"></i><span>' + n + "</span>";
    div.firstChild.textContent = name; counts.appendChild(div);
  }
}
function pick(i) {
  const name = state.labels[i];
  if (!name || !state.item) return;
  if (state.multi_label) { toggled.has(name) ? toggled.delete(name) : toggled.add(name); render(); return; }
  send(state.mode === "review" ? "relabel" : "label", [name]);
}
function accept() {
  if (!state.item) return;
  const review = state.mode === "review";
  const chosen = state.multi_label && toggled.size ? Array.from(toggled) : state.item.suggestion;
  if (chosen && chosen.length) send(review ? "relabel" : "label", chosen);
}
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "SELECT" || (e.target.tagName === "INPUT" && e.key !== "Enter")) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key.toLowerCase(), review = state && state.mode === "review";
  if (k >= "1" && k <= "9") pick(Number(k) - 1);
  else if (k === "enter") accept();
  else if (k === "n" && state && state.multi_label) send(review ? "relabel" : "label", []);
  else if (k === "s" && !review) send("skip");
  else if (k === "k" && review) send("keep");
  else if (k === "d" && review) send("drop");
  else if (k === "z") undo();
  else if (k === "m" && !review) moreLike();
  else return;
  e.preventDefault();
});
refresh();
setInterval(() => { if (!busy) call("/api/state?client=" + encodeURIComponent(client)).then((s) => { if (!busy && state && s.item && state.item && s.item.id === state.item.id) { state = s; renderHistory(); renderPanel(); } }); }, 3000);
</script></body></html>
"""

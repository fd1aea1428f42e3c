// The explorer page: controls, the play loop (one POST /api/step per frame), the URL hash and redraws.
import { api } from "./api.js";
import { drawCharts } from "./charts.js";
import { renderPanel } from "./inspector.js";
import { NetworkView } from "./network.js";
import { drawDigit, drawPlane, locate } from "./plane.js";
import { fmt } from "./format.js";

const $ = (id) => document.getElementById(id);
const stats = (window.__explore = { frames: 0, requests: 0 });   // read by the tests and the benchmark
let frame = null, points = null, picked = null, playing = false, looping = false, editKey = null;

const network = new NetworkView($("network"), (p) => { picked = p; render(); });

function apply(f) {
  if (!f) return false;
  if (f.x) points = { x: f.x, y: f.y, test_x: f.test_x, test_y: f.test_y };
  frame = f;
  if (picked && !exists(picked)) picked = null;
  render();
  return true;
}

function exists(p) {
  const s = frame.sizes;
  return p.l >= 1 && p.l <= s.length && p.j <= s[p.l - 1] && (p.kind !== "w" || (p.l >= 2 && p.k <= s[p.l - 2]));
}

function render() {
  const started = performance.now(), f = frame;
  network.update(f, picked);
  const twoD = f.sizes[0] === 2;
  $("plane-box").hidden = !twoD; $("plane-hint").hidden = !twoD; $("digit-box").hidden = twoD;
  document.querySelectorAll(".two-d").forEach((e) => (e.hidden = !twoD));
  $("net-hint").textContent = `line width = |w|, blue w > 0, orange w < 0 · each square: the neuron's activation ${twoD ? "over the input plane" : "for the selected example"}`;
  if (twoD) drawPlane($("plane"), f, points);
  else { drawDigit($("digit"), $("bars"), f); if (document.activeElement !== $("example")) $("example").value = f.selected; }
  $("cost").textContent = fmt(f.training_cost);
  $("test-cost").textContent = fmt(f.test_cost);
  $("train-acc").textContent = Number.isFinite(f.training_accuracy) ? `${(100 * f.training_accuracy).toFixed(1)}%` : "–";
  $("test-acc").textContent = Number.isFinite(f.test_accuracy) ? `${(100 * f.test_accuracy).toFixed(1)}%` : "–";
  $("step-count").textContent = f.step;
  $("epoch").textContent = f.epoch.toFixed(1);
  drawCharts(f.history);
  renderPanel($("panel"), f, picked);
  renderEdit();
  syncControls();
  stats.frames += 1;
  stats.render_ms = (stats.render_ms || 0) + performance.now() - started;
  stats.last = { step: f.step, cost: f.training_cost, server_ms: f.server_ms };
}

// #edit: the picked weight's or neuron's bias value; rebuilt only when the pick changes, so typing survives frames.
function renderEdit() {
  const box = $("edit-box"), p = picked;
  const editable = p && p.l >= 2;
  box.hidden = !editable;
  if (!editable) { editKey = null; return; }
  const key = `${p.kind},${p.l},${p.j},${p.k || 0}`;
  const value = p.kind === "w" ? frame.weights[p.l - 2][p.j - 1][p.k - 1] : frame.biases[p.l - 2][p.j - 1];
  $("edit-label").innerHTML = p.kind === "w" ? `set <i>w</i><sup>${p.l}</sup><sub>${p.j},${p.k}</sub>` : `set <i>b</i><sup>${p.l}</sup><sub>${p.j}</sub>`;
  if (key !== editKey || document.activeElement !== $("edit")) $("edit").value = String(+value.toPrecision(6));
  editKey = key;
}

$("edit").addEventListener("keydown", async (e) => {
  if (e.key !== "Enter" || !picked) return;
  const text = e.target.value.trim().replace("−", "-");
  const body = { kind: picked.kind === "w" ? "w" : "b", l: picked.l, j: picked.j, value: text !== "" && Number.isFinite(Number(text)) ? Number(text) : text };
  if (picked.kind === "w") body.k = picked.k;
  e.target.blur();
  apply(await api("POST", "/api/param", body));
});

// ---- settings, the URL hash and the controls
const HASH_KEYS = { data: "data", sizes: "sizes", cost: "cost", eta: "eta", batch: "batch_size", noise: "noise", seed: "seed" };

function settings() {
  const f = frame;
  return { data: f.data, sizes: f.sizes.join(","), cost: f.cost, eta: f.eta, batch: f.batch_size, noise: f.noise, seed: f.seed };
}

function writeHash() {
  const s = settings(), h = new URLSearchParams();
  for (const k of Object.keys(HASH_KEYS)) h.set(k, s[k]);
  if (document.body.classList.contains("bare")) h.set("controls", "0");
  history.replaceState(null, "", `${location.pathname}${location.search}#${h.toString()}`);
}

async function fromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.get("controls") === "0") document.body.classList.add("bare");
  const s = settings(), change = {};
  for (const [k, key] of Object.entries(HASH_KEYS)) {
    if (!h.has(k) || String(s[k]) === h.get(k)) continue;
    const v = h.get(k);
    change[key] = k === "sizes" ? v.split(",").map(Number) : ["data", "cost"].includes(k) ? v : Number(v);
  }
  if (Object.keys(change).length) apply(await api("POST", "/api/config", change));
}

async function configure(change) {
  if (apply(await api("POST", "/api/config", change))) writeHash();
  else syncControls(true);
}

function syncControls(force = false) {
  const f = frame, focus = document.activeElement;
  const set = (id, v) => { if (force || focus !== $(id)) $(id).value = v; };
  const data = $("data");
  if (!data.options.length || data.dataset.csv !== String(f.csv_name)) {
    data.replaceChildren();
    for (const name of ["circle", "xor", "gauss", "spiral", "digits", ...(f.csv_name ? ["csv"] : [])]) {
      const o = document.createElement("option");
      o.value = name; o.textContent = name === "csv" ? f.csv_name : name;  // textContent: a file name stays text
      data.appendChild(o);
    }
    data.dataset.csv = String(f.csv_name);
  }
  set("data", f.data); set("cost-fn", f.cost); set("eta", f.eta); set("batch", f.batch_size); set("seed", f.seed);
  set("noise", f.noise); $("noise-value").textContent = Number(f.noise).toFixed(2);
  layerButtons(f.sizes);
}

let layerKey = null;
function layerButtons(sizes) {
  const key = sizes.join(",");
  if (key === layerKey) return;
  layerKey = key;
  const box = $("layer-buttons");
  box.replaceChildren();
  const make = (text, title, onClick, cls = "") => {
    const b = document.createElement("button");
    b.textContent = text; b.title = title; b.className = cls; b.addEventListener("click", onClick); return b;
  };
  const head = document.createElement("div");
  head.className = "layer-count";
  head.append(make("−", "remove the last hidden layer", () => sizes.length > 2 && configure({ sizes: [...sizes.slice(0, -2), sizes[sizes.length - 1]] }), "small"),
    ` ${sizes.length - 2} hidden layer${sizes.length === 3 ? "" : "s"} `,
    make("+", "add a hidden layer", () => configure({ sizes: [...sizes.slice(0, -1), 4, sizes[sizes.length - 1]] }), "small"));
  box.appendChild(head);
  const row = document.createElement("div");
  row.className = "neuron-buttons";
  row.style.width = `${60 + 150 * (sizes.length - 1) + 60}px`;
  sizes.forEach((n, i) => {
    const cell = document.createElement("div");
    cell.className = "layer-cell";
    cell.style.left = `${60 + 150 * i - 40}px`;
    if (i > 0 && i < sizes.length - 1) {
      cell.append(make("−", `one neuron fewer in layer ${i + 1}`, () => configure({ sizes: sizes.map((s, t) => (t === i ? s - 1 : s)) }), "small"),
        make("+", `one neuron more in layer ${i + 1}`, () => configure({ sizes: sizes.map((s, t) => (t === i ? s + 1 : s)) }), "small"));
    }
    row.appendChild(cell);
  });
  box.appendChild(row);
}

$("data").addEventListener("change", (e) => configure({ data: e.target.value }));
$("cost-fn").addEventListener("change", (e) => configure({ cost: e.target.value }));
$("noise").addEventListener("change", (e) => configure({ noise: Number(e.target.value) }));
$("noise").addEventListener("input", (e) => ($("noise-value").textContent = Number(e.target.value).toFixed(2)));
for (const [id, key] of [["eta", "eta"], ["batch", "batch_size"], ["seed", "seed"]]) {
  $(id).addEventListener("change", (e) => {
    const text = e.target.value.trim();
    configure({ [key]: text === "" || !Number.isFinite(Number(text)) ? text : Number(text) });
  });
}
$("hide-controls").addEventListener("click", () => {
  document.body.classList.toggle("bare");
  $("hide-controls").textContent = document.body.classList.contains("bare") ? "show controls" : "hide controls";
  writeHash();
});

// ---- training
async function step() { apply(await api("POST", "/api/step", { steps: 1 })); }

// While a frame is drawn, the next one is already being computed: one request in flight, never more.
async function loop() {
  const ask = () => api("POST", "/api/step", { steps: Number($("speed").value) });
  if (looping) return;
  looping = true;
  let pending = ask();
  while (playing) {
    const waited = performance.now();
    const f = await pending;
    stats.wait_ms = (stats.wait_ms || 0) + performance.now() - waited;
    stats.requests += 1;
    if (!f) { setPlaying(false); break; }
    pending = playing ? ask() : null;
    apply(f);
    await new Promise((r) => requestAnimationFrame(r));
  }
  if (pending) apply(await pending);   // the frame that was in flight when play stopped
  looping = false;
  if (playing) loop();                 // play was pressed again meanwhile
}

function setPlaying(on) {
  playing = on;
  $("play").textContent = on ? "❚❚" : "▶";
  $("play").classList.toggle("on", on);
  $("play").setAttribute("aria-pressed", String(on));
  if (on) loop();
}

$("play").addEventListener("click", () => setPlaying(!playing));
$("step").addEventListener("click", () => { if (!playing) step(); });
$("reset").addEventListener("click", async () => { setPlaying(false); apply(await api("POST", "/api/reset", {})); });
document.addEventListener("keydown", (e) => {
  if (e.key === " " && !["INPUT", "SELECT", "BUTTON"].includes(document.activeElement.tagName)) { e.preventDefault(); setPlaying(!playing); }
});

// ---- choosing the example
$("plane").addEventListener("click", async (e) => {
  const hit = locate($("plane"), e, points);
  if (hit.index >= 0) apply(await api("POST", "/api/select", { index: hit.index }));
  else apply(await api("POST", "/api/point", { x1: hit.x1, x2: hit.x2, label: e.shiftKey ? 1 : 0 }));
});
const choose = async (i) => apply(await api("POST", "/api/select", { index: Math.max(0, Math.min(points.y.length - 1, i)) }));
$("prev").addEventListener("click", () => choose(frame.selected - 1));
$("next").addEventListener("click", () => choose(frame.selected + 1));
$("example").addEventListener("change", (e) => choose(Number(e.target.value)));

(async () => {
  if (apply(await api("GET", "/api/frame"))) {
    await fromHash();
    writeHash();
    document.body.classList.add("ready");
  }
})();

// The network in SVG: one <g data-neuron="l,j"> per neuron (a heatmap of its activation over the input
// plane inside), one <g data-weight="l,j,k"> per weight wˡⱼₖ (line width |w|, colour its sign).
import { BLUE, ORANGE, DIVERGING, bytes, css } from "./colors.js";

const NS = "http://www.w3.org/2000/svg";
const COLUMN = 150, TOP = 34, HEIGHT = 430;

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

export class NetworkView {
  constructor(svg, onPick) {
    this.svg = svg; this.onPick = onPick; this.key = null; this.canvases = {}; this.links = {}; this.boxes = {};
  }

  // Rebuild the drawing when the layer sizes change.
  build(sizes) {
    const key = sizes.join(",");
    if (key === this.key) return;
    this.key = key; this.sizes = sizes; this.canvases = {}; this.links = {}; this.boxes = {};
    const svg = this.svg;
    svg.replaceChildren();
    const width = 60 + COLUMN * (sizes.length - 1) + 60;
    const tall = Math.min(HEIGHT, 62 * Math.max(...sizes));   // a small network gets a short drawing
    svg.setAttribute("viewBox", `0 0 ${width} ${tall + TOP + 10}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", tall + TOP + 10);
    this.pos = sizes.map((n, i) => {
      const spacing = Math.min(62, tall / n), box = Math.max(4, Math.min(42, spacing * 0.78));
      const x = 60 + COLUMN * i, y0 = TOP + (tall - spacing * n) / 2 + spacing / 2;
      return Array.from({ length: n }, (_, j) => ({ x, y: y0 + spacing * j, box }));
    });
    const L = sizes.length;
    sizes.forEach((n, i) => {
      const label = i === 0 ? "input" : i === L - 1 ? "output" : "hidden";
      const t = el("text", { x: 60 + COLUMN * i, y: 14, class: "layer-title" }, svg);
      t.textContent = `layer ${i + 1} · ${label}`;
    });
    const links = el("g", { class: "links" }, svg);
    for (let l = 2; l <= L; l++) {
      this.pos[l - 1].forEach((to, j) => this.pos[l - 2].forEach((from, k) => {
        const x1 = from.x + from.box / 2, x2 = to.x - to.box / 2, mx = (x1 + x2) / 2;
        const d = `M${x1},${from.y} C${mx},${from.y} ${mx},${to.y} ${x2},${to.y}`;
        const g = el("g", { "data-weight": `${l},${j + 1},${k + 1}`, class: "weight" }, links);
        el("path", { d, class: "hit" }, g);
        this.links[`${l},${j + 1},${k + 1}`] = el("path", { d, class: "link" }, g);
        g.addEventListener("click", (e) => { e.stopPropagation(); this.onPick({ kind: "w", l, j: j + 1, k: k + 1 }); });
      }));
    }
    const nodes = el("g", { class: "neurons" }, svg);
    this.pos.forEach((layer, i) => layer.forEach((p, j) => {
      const l = i + 1;
      const g = el("g", { "data-neuron": `${l},${j + 1}`, class: "neuron", transform: `translate(${p.x - p.box / 2},${p.y - p.box / 2})` }, nodes);
      el("rect", { width: p.box, height: p.box, rx: Math.min(4, p.box / 6), class: "cell" }, g);
      if (p.box >= 18) {
        const fo = el("foreignObject", { width: p.box, height: p.box }, g);
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 32;
        canvas.style.width = canvas.style.height = `${p.box}px`;
        fo.appendChild(canvas);
        this.canvases[`${l},${j + 1}`] = canvas;
      }
      el("rect", { width: p.box, height: p.box, rx: Math.min(4, p.box / 6), class: "frame" }, g);
      this.boxes[`${l},${j + 1}`] = g;
      g.addEventListener("click", (e) => { e.stopPropagation(); this.onPick({ kind: "n", l, j: j + 1 }); });
    }));
  }

  // Widths and colours of the weights, the neurons' heatmaps (2-D data) or activations (digits).
  update(frame, picked) {
    this.build(frame.sizes);
    frame.weights.forEach((w, i) => {
      const dense = w.length * w[0].length > 150;   // the digits' 64 × 16: thin, faint lines, not a hairball
      w.forEach((row, j) => row.forEach((v, k) => {
        const path = this.links[`${i + 2},${j + 1},${k + 1}`];
        path.setAttribute("stroke-width", (dense ? Math.min(2, 0.15 + 0.35 * Math.abs(v)) : Math.min(9, 0.4 + 1.6 * Math.abs(v))).toFixed(2));
        path.setAttribute("stroke", css(v >= 0 ? BLUE : ORANGE, dense ? 0.35 : 0.85));
      }));
    });
    const maps = frame.heatmaps;
    const acts = frame.inspector.a;
    for (const [key, g] of Object.entries(this.boxes)) {
      const [l, j] = key.split(",").map(Number);
      const canvas = this.canvases[key];
      const cell = g.firstChild;
      if (maps && canvas) {
        paint(canvas, bytes(maps.neurons[l - 1][j - 1]), maps.size);
      } else {
        const a = acts[l - 1][j - 1], c = DIVERGING[Math.max(0, Math.min(255, Math.round(a * 255)))];
        if (canvas) paint(canvas, new Uint8Array(1).fill(Math.round(a * 255)), 1);
        cell.setAttribute("fill", css(c));
      }
      g.classList.toggle("picked", !!picked && picked.kind === "n" && picked.l === l && picked.j === j);
    }
    for (const [key, path] of Object.entries(this.links)) {
      const [l, j, k] = key.split(",").map(Number);
      path.parentNode.classList.toggle("picked", !!picked && picked.kind === "w" && picked.l === l && picked.j === j && picked.k === k);
    }
  }
}

export function paint(canvas, values, size) {
  if (canvas.width !== size) canvas.width = canvas.height = size;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(size, size), d = image.data;
  for (let i = 0; i < values.length; i++) {
    const c = DIVERGING[values[i]];
    d[4 * i] = c[0]; d[4 * i + 1] = c[1]; d[4 * i + 2] = c[2]; d[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

// The output: for 2-D data the decision heatmap over [−1, 1]² with the training points (filled) and test
// points (hollow); for the digits the selected image and the output activations as bars.
import { CLASS, WHITE, bytes, css } from "./colors.js";

const off = document.createElement("canvas");

export function drawPlane(canvas, frame, points) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  const maps = frame.heatmaps, L = frame.sizes.length, K = Math.max(2, frame.n_classes);
  const outs = maps.neurons[L - 1].slice(0, K).map(bytes), n = maps.size;
  off.width = off.height = n;
  const octx = off.getContext("2d"), image = octx.createImageData(n, n), d = image.data;
  for (let i = 0; i < n * n; i++) {
    let best = 0, total = 0;
    for (let c = 0; c < K; c++) { total += outs[c][i]; if (outs[c][i] > outs[best][i]) best = c; }
    const p = total > 0 ? outs[best][i] / total : 1 / K;
    const s = Math.max(0, Math.min(1, (p - 1 / K) / (1 - 1 / K))) * 0.85;   // confidence: white … the class colour
    const col = CLASS[best % CLASS.length];
    for (let c = 0; c < 3; c++) d[4 * i + c] = Math.round(WHITE[c] + (col[c] - WHITE[c]) * s);
    d[4 * i + 3] = 255;
  }
  octx.putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, W, H);
  ctx.strokeStyle = "rgba(0,0,0,0.12)"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(W / 2, 0); ctx.lineTo(W / 2, H); ctx.moveTo(0, H / 2); ctx.lineTo(W, H / 2); ctx.stroke();
  const px = (v) => ((v[0] + 1) / 2) * W, py = (v) => ((1 - v[1]) / 2) * H;
  points.test_x.forEach((v, i) => {
    ctx.beginPath(); ctx.arc(px(v), py(v), 3.2, 0, 2 * Math.PI);
    ctx.strokeStyle = css(CLASS[points.test_y[i] % CLASS.length]); ctx.lineWidth = 1.6; ctx.stroke();
  });
  points.x.forEach((v, i) => {
    ctx.beginPath(); ctx.arc(px(v), py(v), 3.4, 0, 2 * Math.PI);
    ctx.fillStyle = css(CLASS[points.y[i] % CLASS.length]); ctx.fill();
    ctx.strokeStyle = "white"; ctx.lineWidth = 0.8; ctx.stroke();
  });
  const s = points.x[frame.selected];
  if (s) {
    ctx.beginPath(); ctx.arc(px(s), py(s), 8, 0, 2 * Math.PI);
    ctx.strokeStyle = "#111"; ctx.lineWidth = 2.2; ctx.stroke();
  }
}

// The training point nearest to a click, if within `radius` pixels; else the click's data coordinates.
export function locate(canvas, event, points, radius = 7) {
  const r = canvas.getBoundingClientRect();
  const cx = (event.clientX - r.left) * (canvas.width / r.width), cy = (event.clientY - r.top) * (canvas.height / r.height);
  const x1 = (cx / canvas.width) * 2 - 1, x2 = 1 - (cy / canvas.height) * 2;
  let best = -1, bestD = radius * radius;
  points.x.forEach((v, i) => {
    const dx = ((v[0] + 1) / 2) * canvas.width - cx, dy = ((1 - v[1]) / 2) * canvas.height - cy;
    if (dx * dx + dy * dy <= bestD) { best = i; bestD = dx * dx + dy * dy; }
  });
  return { index: best, x1: Math.max(-1, Math.min(1, x1)), x2: Math.max(-1, Math.min(1, x2)) };
}

export function drawDigit(canvas, bars, frame) {
  const ins = frame.inspector, ctx = canvas.getContext("2d"), image = ctx.createImageData(8, 8);
  ins.x.forEach((v, i) => {
    const g = Math.round(255 * (1 - v));
    image.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(image, 0, 0);
  const a = ins.a[ins.a.length - 1], W = 260, H = 120, bw = W / a.length;
  const best = a.indexOf(Math.max(...a));
  let svg = "";
  a.forEach((v, j) => {
    const h = Math.max(1, v * (H - 30)), cls = j === ins.label ? "bar target" : j === best ? "bar guess" : "bar";
    svg += `<rect class="${cls}" x="${j * bw + 3}" y="${H - 16 - h}" width="${bw - 6}" height="${h}"></rect>`;
    svg += `<text x="${j * bw + bw / 2}" y="${H - 3}" class="bar-label">${j}</text>`;
  });
  bars.setAttribute("viewBox", `0 0 ${W} ${H}`);
  bars.innerHTML = svg;   // numbers only: no user text
}

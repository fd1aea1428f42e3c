// Small line charts of the history: cost, accuracy and the learning speed ‖∂C/∂bˡ‖ of each layer.
const LAYER_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
export { LAYER_COLOURS };

function frameOf(canvas) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  return ctx;
}

function line(ctx, xs, ys, lo, hi, colour, dashed, W, H) {
  ctx.beginPath();
  let started = false;
  xs.forEach((x, i) => {
    const y = ys[i];
    if (!Number.isFinite(y)) return;
    const px = 4 + x * (W - 8), py = H - 12 - ((y - lo) / (hi - lo || 1)) * (H - 20);
    if (started) ctx.lineTo(px, py); else { ctx.moveTo(px, py); started = true; }
  });
  ctx.setLineDash(dashed ? [4, 3] : []);
  ctx.strokeStyle = colour; ctx.lineWidth = 1.6; ctx.stroke();
  ctx.setLineDash([]);
}

function axes(ctx, W, H, top, bottom, lastStep) {
  ctx.fillStyle = "#777"; ctx.font = "10px system-ui, sans-serif";
  ctx.fillText(top, 6, 10); ctx.fillText(bottom, 6, H - 1);
  const t = `${lastStep} mini-batches`;
  ctx.fillText(t, W - ctx.measureText(t).width - 4, H - 1);
}

const SUP = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const sup10 = (e) => (e === 0 ? "1" : `10${[...String(e)].map((c) => SUP[c]).join("")}`);

export function drawCharts(history) {
  const steps = history.map((h) => h.step), last = Math.max(1, steps[steps.length - 1]);
  const xs = steps.map((s) => s / last);
  const cost = document.getElementById("chart-cost"), acc = document.getElementById("chart-acc"),
    speed = document.getElementById("chart-speed");
  let ctx = frameOf(cost);
  const all = history.flatMap((h) => [h.training_cost, h.test_cost]).filter(Number.isFinite);
  const hi = Math.max(...all, 1e-9);
  line(ctx, xs, history.map((h) => h.training_cost), 0, hi, "#333", false, cost.width, cost.height);
  line(ctx, xs, history.map((h) => h.test_cost), 0, hi, "#333", true, cost.width, cost.height);
  axes(ctx, cost.width, cost.height, hi.toPrecision(3), "0", steps[steps.length - 1]);
  ctx = frameOf(acc);
  line(ctx, xs, history.map((h) => h.training_accuracy), 0, 1, "#0877bd", false, acc.width, acc.height);
  line(ctx, xs, history.map((h) => h.test_accuracy), 0, 1, "#0877bd", true, acc.width, acc.height);
  axes(ctx, acc.width, acc.height, "100%", "0%", steps[steps.length - 1]);
  ctx = frameOf(speed);
  const logs = history.map((h) => h.speed.map((v) => (v > 0 ? Math.log10(v) : NaN)));
  const finite = logs.flat().filter(Number.isFinite);
  const lo = finite.length ? Math.floor(Math.min(...finite)) : -3, top = finite.length ? Math.ceil(Math.max(...finite)) : 0;
  const nLayers = history[0].speed.length;
  for (let l = 0; l < nLayers; l++) {
    line(ctx, xs, logs.map((s) => s[l]), lo, Math.max(top, lo + 1), LAYER_COLOURS[l % LAYER_COLOURS.length], false, speed.width, speed.height);
  }
  axes(ctx, speed.width, speed.height, sup10(Math.max(top, lo + 1)), sup10(lo), steps[steps.length - 1]);
  document.getElementById("speed-keys").innerHTML = Array.from({ length: nLayers }, (_, l) =>
    `<span class="key layer-c${l % LAYER_COLOURS.length}">b<sup>${l + 2}</sup></span>`).join(" ");
}

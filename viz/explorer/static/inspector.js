// #panel: the selected example's numbers in the book's equations. Every number comes from the server:
// z, a and δ = ∂C/∂z of the engine's Value.backward on this one example's cost (m = 1), and the
// closed form BP1–BP4 of tinygrad_nn.backprop beside it with the relative error between the two.
import { factor, fmt, num, sym } from "./format.js";

const relerr = (a, b) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);

function check(auto, closed, what) {
  return `<div class="check">engine autodiff (Value.backward) ${what} = ${num(auto, "autodiff")} · closed form = ${num(closed, "closed")}
    · relative error ${num(relerr(auto, closed), "relerr")}</div>`;
}

function row(tag, html, cls = "") {
  return `<div class="eq ${cls}">${tag ? `<span class="tag">${tag}</span>` : ""}<span class="math">${html}</span></div>`;
}

function neuron(f, l, j) {
  const ins = f.inspector, L = f.sizes.length, i = l - 1, J = j - 1;
  const role = l === 1 ? "input" : l === L ? "output" : "hidden";
  let html = `<h3>neuron ${j} of layer ${l} <span class="role">${role}</span></h3>`;
  if (l === 1) {
    html += row("", `${sym("a", 1, j)} = ${sym("x", "", j)} = ${num(ins.a[0][J], "a")}`);
    return html + `<p class="note">An input neuron passes the example's coordinate on; it has no z, no bias and no δ.</p>`;
  }
  const w = f.weights[i - 1][J], b = f.biases[i - 1][J], prev = ins.a[i - 1];
  const z = ins.z[i - 1][J], a = ins.a[i][J], sp = a * (1 - a), delta = ins.delta[i - 1][J];
  const terms = w.map((wk, k) => `${factor(wk)} × ${factor(prev[k])}`);
  const shown = terms.length > 6 ? [...terms.slice(0, 3), "…", ...terms.slice(-2)] : terms;
  html += `<div class="group">forward</div>`;
  html += row("", `${sym("z", l, j)} = Σ<sub>k</sub> ${sym("w", l, `${j}k`)} ${sym("a", l - 1, "k")} + ${sym("b", l, j)}
    = ${shown.join(" + ")} + ${factor(b)} = ${num(z, "z")}`);
  html += row("", `${sym("a", l, j)} = σ(${sym("z", l, j)}) = σ(${num(z)}) = ${num(a, "a")}`);
  html += row("", `σ′(${sym("z", l, j)}) = ${sym("a", l, j)}(1 − ${sym("a", l, j)}) = ${num(sp, "sigma-prime")}`);
  html += `<div class="group">backward</div>`;
  if (l === L) {
    const y = ins.y[J];
    if (f.cost === "cross-entropy") {
      html += row("BP1", `${sym("δ", "L", j)} = ${sym("a", "L", j)} − ${sym("y", "", j)} = ${factor(a)} − ${num(y, "y")} = ${num(delta, "delta")}`, "bp");
      html += `<p class="note">Cross-entropy cancels σ′(z): a saturated output neuron still learns fast (ch. 3).</p>`;
    } else {
      html += row("BP1", `${sym("δ", "L", j)} = (${sym("a", "L", j)} − ${sym("y", "", j)}) σ′(${sym("z", "L", j)}) = (${num(a)} − ${num(y, "y")}) × ${num(sp)} = ${num(delta, "delta")}`, "bp");
    }
  } else {
    const wn = f.weights[i].map((r) => r[J]), dn = ins.delta[i];
    const parts = wn.map((wk, k) => `${factor(wk)} × ${factor(dn[k])}`);
    const sum = wn.reduce((s, wk, k) => s + wk * dn[k], 0);
    const shownSum = parts.length > 6 ? [...parts.slice(0, 3), "…", ...parts.slice(-2)] : parts;
    html += row("BP2", `${sym("δ", l, j)} = (Σ<sub>k</sub> ${sym("w", l + 1, `k${j}`)} ${sym("δ", l + 1, "k")}) σ′(${sym("z", l, j)})
      = (${shownSum.join(" + ")}) × ${num(sp)} = ${factor(sum, "sum")} × ${num(sp)} = ${num(delta, "delta")}`, "bp");
  }
  html += check(delta, ins.closed_delta[i - 1][J], `∂C/∂${sym("z", l, j)}`);
  const g = ins.nabla_b[i - 1][J];
  html += row("BP3", `∂C/∂${sym("b", l, j)} = ${sym("δ", l, j)} = ${num(g, "db")}`, "bp");
  html += check(g, ins.closed_nabla_b[i - 1][J], `∂C/∂${sym("b", l, j)}`);
  html += next(f, sym("b", l, j), b, g, "21");
  return html;
}

function weight(f, l, j, k) {
  const ins = f.inspector, i = l - 1;
  const wv = f.weights[i - 1][j - 1][k - 1], ak = ins.a[i - 1][k - 1], delta = ins.delta[i - 1][j - 1];
  const g = ins.nabla_w[i - 1][j - 1][k - 1];
  const jk = j > 9 || k > 9 ? `${j},${k}` : `${j}${k}`, wjk = sym("w", l, jk);
  let html = `<h3>weight ${wjk} <span class="role">from neuron ${k} of layer ${l - 1} to neuron ${j} of layer ${l}</span></h3>`;
  html += row("", `${wjk} = ${num(wv, "w")}`);
  html += row("BP4", `∂C/∂${wjk} = ${sym("a", l - 1, k)} ${sym("δ", l, j)} = ${factor(ak, "a-in")} × ${factor(delta, "delta")} = ${num(g, "dw")}`, "bp");
  html += check(g, ins.closed_nabla_w[i - 1][j - 1][k - 1], `∂C/∂${wjk}`);
  html += next(f, wjk, wv, g, "20");
  return html;
}

function next(f, name, value, grad, eq) {
  const after = value - f.eta * grad;
  return row(`eq. ${eq}`, `${name} → ${name} − η ∂C/∂${name} = ${num(value, "", 7)} − ${fmt(f.eta)} × ${factor(grad)} = ${num(after, "next", 7)}`, "step") +
    `<p class="note">That is the step this example alone asks for; a training step (▸|) takes the mean of it over a mini-batch of m = ${f.batch_size} examples.</p>`;
}

export function renderPanel(panel, f, picked) {
  const ins = f.inspector;
  const xs = ins.x.length > 4 ? `${ins.x.length} pixels` : `(${ins.x.map((v) => fmt(v)).join(", ")})`;
  document.getElementById("example-line").innerHTML =
    `example <b>#${ins.index}</b>: x = ${xs}, label ${ins.label}, y = (${ins.y.map((v) => fmt(v)).join(", ")}) ·
     its cost C<sub>x</sub> = ${num(ins.C, "C")} <span class="hint">(${f.cost})</span>`;
  if (!picked) {
    panel.innerHTML = `<p class="placeholder">Click a neuron or a weight in the network to see the equations of
      backpropagation with this example's numbers, and a data point to change the example.</p>`;
    return;
  }
  panel.innerHTML = picked.kind === "w" ? weight(f, picked.l, picked.j, picked.k) : neuron(f, picked.l, picked.j);
}

// Numbers and symbols in the book's notation: 4 significant digits, a true minus sign, wˡⱼₖ as HTML.
export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  let s = a >= 1e-3 && a < 1e5 ? v.toPrecision(4) : v.toExponential(3).replace(/e([+-])(\d+)/, (_, sign, e) => `×10<sup>${sign === "-" ? "−" : ""}${e}</sup>`);
  if (!s.includes("×") && s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
  return s.replace("-", "−");
}

// A number the tests can read: the full value in data-value, 4 digits shown.
export function num(v, q) {
  const neg = v < 0 ? " neg" : "";
  return `<span class="num${neg}"${q ? ` data-q="${q}"` : ""} data-value="${v}">${fmt(v)}</span>`;
}

// In a product a negative factor is parenthesised: (−0.2) × 0.5.
export const factor = (v, q) => (v < 0 ? `(${num(v, q)})` : num(v, q));

export const sym = (base, l, idx) => `<i>${base}</i><sup>${l}</sup><sub>${idx}</sub>`;

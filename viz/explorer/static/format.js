// Numbers and symbols in the book's notation: 4 significant digits, a true minus sign, wˡⱼₖ as HTML.
export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  let s = a >= 1e-3 && a < 1e5 ? v.toPrecision(digits) : v.toExponential(digits - 1).replace(/e([+-])(\d+)/, (_, sign, e) => `×10<sup>${sign === "-" ? "−" : ""}${e}</sup>`);
  if (!s.includes("×") && s.includes(".") && Number(s) === v) s = s.replace(/0+$/, "").replace(/\.$/, "");  // 1, not 1.000; 0.99998 stays 1.000
  return s.replace("-", "−");
}

// A number the tests can read: the full value in data-value, 4 digits shown.
export function num(v, q, digits = 4) {
  const neg = v < 0 ? " neg" : "";
  return `<span class="num${neg}"${q ? ` data-q="${q}"` : ""} data-value="${v}">${fmt(v, digits)}</span>`;
}

// In a product a negative factor or one written with ×10ⁿ is parenthesised: (−0.2) × (3×10⁻⁴).
export const factor = (v, q, digits = 4) => (v < 0 || fmt(v, digits).includes("×") ? `(${num(v, q, digits)})` : num(v, q, digits));

export const sym = (base, l, idx) => `<i>${base}</i><sup>${l}</sup><sub>${idx}</sub>`;

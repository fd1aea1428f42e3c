// Playground's colours: orange for class 0 / negative / low, blue for class 1 / positive / high.
export const ORANGE = [245, 147, 34], BLUE = [8, 119, 189], WHITE = [255, 255, 255];
export const CLASS = [ORANGE, BLUE, [44, 160, 44], [148, 103, 189], [214, 39, 40], [140, 86, 75],
  [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];

export const css = (c, alpha = 1) => `rgba(${c[0]},${c[1]},${c[2]},${alpha})`;

// v in [0, 1] → orange (0) … white (0.5) … blue (1), as a 256-entry table of [r, g, b].
export const DIVERGING = Array.from({ length: 256 }, (_, i) => {
  const t = i / 255, s = Math.abs(2 * t - 1), end = t < 0.5 ? ORANGE : BLUE;
  return WHITE.map((w, c) => Math.round(w + (end[c] - w) * s));
});

export function bytes(b64) {
  const raw = atob(b64), out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

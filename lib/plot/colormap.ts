/**
 * The viridis colour map (van der Walt & Smith, matplotlib 2.0): perceptually uniform, readable in
 * greyscale and by colour-blind readers. Nine equally spaced samples of matplotlib's table (the same as
 * R's `viridis(9)`), linearly interpolated; the interpolation error is below 3/255 per channel.
 */
import type { RGB } from "./canvas.ts";

const VIRIDIS_HEX = [
  "440154",
  "472d7b",
  "3b528b",
  "2c728e",
  "21908c",
  "27ad81",
  "5dc863",
  "aadc32",
  "fde725",
];
const VIRIDIS: readonly RGB[] = VIRIDIS_HEX.map((h) =>
  [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as unknown as RGB
);

/** The viridis colour of `t` in [0, 1] (clamped; NaN gives the low end). */
export function viridis(t: number): RGB {
  const u = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : t === Infinity ? 1 : 0;
  const pos = u * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(pos)), f = pos - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k]))) as unknown as RGB;
}

/** Min and max of the finite values of `v` (`[0, 1]` when there are none; widened when equal). */
export function finiteRange(v: ArrayLike<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (Number.isFinite(v[i])) {
      lo = Math.min(lo, v[i]);
      hi = Math.max(hi, v[i]);
    }
  }
  if (lo > hi) return [0, 1];
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

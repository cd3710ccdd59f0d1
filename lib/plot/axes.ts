/**
 * Axes: the mapping from data coordinates to a plot box on a {@link Canvas}, with a frame, "nice" ticks
 * (1, 2, 5 times a power of ten, as matplotlib's MaxNLocator) and tick labels, title and axis labels.
 */
import { BLACK, type Canvas, GREY } from "./canvas.ts";
import { GLYPH_H, textWidth } from "./font.ts";

/** A data rectangle. */
export interface Range {
  readonly xMin: number;
  readonly xMax: number;
  readonly yMin: number;
  readonly yMax: number;
}

/** Room around the plot box for tick labels and titles, in pixels. */
export const MARGIN = { left: 46, right: 10, top: 20, bottom: 30 } as const;

/** Up to about `target` round tick values covering [lo, hi] (only those inside). */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi)) || hi <= lo) return Number.isFinite(lo) ? [lo] : [];
  // The smallest round step giving at most target + 1 intervals.
  const raw = (hi - lo) / (Math.max(1, target) + 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

/** A short label for a tick value: at most 4 significant digits, exponent form for large/small values. */
export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/** Widens an empty or degenerate range; pads a data range by `pad` of its size on each side. */
export function padRange(lo: number, hi: number, pad = 0.05): [number, number] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return [0, 1];
  if (hi <= lo) return [lo - 0.5, hi + 0.5];
  const d = (hi - lo) * pad;
  return [lo - d, hi + d];
}

export interface AxesOptions {
  readonly title?: string;
  readonly xLabel?: string;
  readonly yLabel?: string;
}

/** A plot box filling `canvas` minus {@link MARGIN}, showing `range`. */
export class Axes {
  readonly x0 = MARGIN.left;
  readonly y0 = MARGIN.top;
  readonly w: number;
  readonly h: number;

  constructor(readonly canvas: Canvas, readonly range: Range) {
    this.w = canvas.width - MARGIN.left - MARGIN.right;
    this.h = canvas.height - MARGIN.top - MARGIN.bottom;
    if (this.w < 10 || this.h < 10) {
      throw new Error(`Axes: canvas ${canvas.width}x${canvas.height} leaves no room for a plot`);
    }
  }

  /** Pixel column of data x. */
  px(x: number): number {
    const { xMin, xMax } = this.range;
    return this.x0 + ((x - xMin) / (xMax - xMin)) * (this.w - 1);
  }

  /** Pixel row of data y (y grows upwards). */
  py(y: number): number {
    const { yMin, yMax } = this.range;
    return this.y0 + (1 - (y - yMin) / (yMax - yMin)) * (this.h - 1);
  }

  /** Whether a pixel lies inside the plot box. */
  inside(px: number, py: number): boolean {
    return px >= this.x0 && px < this.x0 + this.w && py >= this.y0 && py < this.y0 + this.h;
  }

  /** Frame, ticks with labels, title and axis labels. Call after drawing the data. */
  decorate(opts: AxesOptions = {}): void {
    const c = this.canvas, { xMin, xMax, yMin, yMax } = this.range;
    c.strokeRect(this.x0 - 1, this.y0 - 1, this.w + 2, this.h + 2, BLACK);
    for (const t of niceTicks(xMin, xMax, Math.max(2, Math.floor(this.w / 60)))) {
      const x = Math.round(this.px(t));
      c.fillRect(x, this.y0 + this.h + 1, 1, 3, BLACK);
      c.textCentered(x, this.y0 + this.h + 5, formatTick(t));
    }
    for (const t of niceTicks(yMin, yMax, Math.max(2, Math.floor(this.h / 40)))) {
      const y = Math.round(this.py(t));
      c.fillRect(this.x0 - 4, y, 3, 1, BLACK);
      const label = formatTick(t);
      c.text(this.x0 - 6 - textWidth(label), y - 3, label);
    }
    if (opts.title) c.textCentered(this.x0 + this.w / 2, 3, opts.title);
    if (opts.xLabel) c.textCentered(this.x0 + this.w / 2, c.height - GLYPH_H - 2, opts.xLabel, GREY);
    // Above the y axis, below the title: the font cannot be rotated.
    if (opts.yLabel) c.text(2, this.y0 - GLYPH_H - 2, opts.yLabel, GREY);
  }
}

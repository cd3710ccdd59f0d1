/**
 * Charts with axes: scatter plots of 2-D points, density heatmaps on a grid, and line plots (training
 * curves). Each returns a new {@link Canvas}; write it with `writePng` or combine several with `panels`.
 */
import { Axes, MARGIN, padRange, type Range } from "./axes.ts";
import { Canvas, PALETTE, type RGB } from "./canvas.ts";
import { finiteRange, viridis } from "./colormap.ts";
import { textWidth } from "./font.ts";

export interface ChartOptions {
  /** Canvas size in pixels (defaults: 320x320 for scatter/density, 480x320 for lines). */
  readonly width?: number;
  readonly height?: number;
  readonly title?: string;
  readonly xLabel?: string;
  readonly yLabel?: string;
}

/** The range of 2-D points `[x0, y0, x1, y1, ...]`, padded by 5% (non-finite points ignored). */
export function pointsRange(points: ArrayLike<number>): Range {
  const xs: number[] = [], ys: number[] = [];
  for (let i = 0; i + 1 < points.length; i += 2) {
    if (Number.isFinite(points[i]) && Number.isFinite(points[i + 1])) {
      xs.push(points[i]);
      ys.push(points[i + 1]);
    }
  }
  const [xMin, xMax] = padRange(...finiteRange(xs));
  const [yMin, yMax] = padRange(...finiteRange(ys));
  return { xMin, xMax, yMin, yMax };
}

export interface ScatterOptions extends ChartOptions {
  /** Data range shown (default: the points' range, padded). Points outside are not drawn. */
  readonly range?: Range;
  readonly color?: RGB;
  /** Marker half-size in pixels (default 1: 3x3 squares). */
  readonly radius?: number;
}

/** A scatter plot of 2-D points given as `[x0, y0, x1, y1, ...]`. */
export function scatterPlot(points: ArrayLike<number>, opts: ScatterOptions = {}): Canvas {
  if (points.length % 2 !== 0) {
    throw new Error(`scatterPlot: expected x,y pairs, got ${points.length} values`);
  }
  const canvas = new Canvas(opts.width ?? 320, opts.height ?? 320);
  const ax = new Axes(canvas, opts.range ?? pointsRange(points));
  const r = opts.radius ?? 1, color = opts.color ?? PALETTE[0];
  for (let i = 0; i < points.length; i += 2) {
    const px = Math.round(ax.px(points[i])), py = Math.round(ax.py(points[i + 1]));
    if (!ax.inside(px, py)) continue;
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) if (ax.inside(px + dx, py + dy)) canvas.set(px + dx, py + dy, color);
    }
  }
  ax.decorate(opts);
  return canvas;
}

/**
 * The centres of an `nx` x `ny` grid over `range`, as `[x, y]` pairs, x varying fastest and y from
 * `yMin` up: the layout {@link densityPlot} expects for its values.
 */
export function gridPoints(range: Range, nx: number, ny: number): Float32Array {
  const out = new Float32Array(nx * ny * 2);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      out[2 * (j * nx + i)] = range.xMin + ((i + 0.5) / nx) * (range.xMax - range.xMin);
      out[2 * (j * nx + i) + 1] = range.yMin + ((j + 0.5) / ny) * (range.yMax - range.yMin);
    }
  }
  return out;
}

/**
 * A heatmap of `values` on the grid of {@link gridPoints}(range, nx, ny), coloured with viridis between
 * the values' finite min and max (non-finite cells take the low colour).
 */
export function densityPlot(
  values: ArrayLike<number>,
  nx: number,
  ny: number,
  range: Range,
  opts: ChartOptions = {},
): Canvas {
  if (values.length !== nx * ny) {
    throw new Error(`densityPlot: expected ${nx}x${ny} values, got ${values.length}`);
  }
  const canvas = new Canvas(opts.width ?? 320, opts.height ?? 320);
  const ax = new Axes(canvas, range);
  const [lo, hi] = finiteRange(values);
  // Colour each pixel of the plot box by the grid cell under it (nearest cell, no smoothing).
  for (let py = ax.y0; py < ax.y0 + ax.h; py++) {
    const j = Math.min(ny - 1, Math.floor((1 - (py - ax.y0 + 0.5) / ax.h) * ny));
    for (let px = ax.x0; px < ax.x0 + ax.w; px++) {
      const i = Math.min(nx - 1, Math.floor(((px - ax.x0 + 0.5) / ax.w) * nx));
      canvas.set(px, py, viridis((values[j * nx + i] - lo) / (hi - lo)));
    }
  }
  ax.decorate(opts);
  return canvas;
}

/** One curve of a line plot; points with a non-finite y break the line. */
export interface Series {
  readonly name: string;
  readonly x: readonly number[];
  readonly y: readonly number[];
  readonly color?: RGB;
}

/** Options of {@link linePlot}. */
export interface LinePlotOptions extends ChartOptions {
  /** Corner of the legend, on the right (default `top`). */
  readonly legend?: "top" | "bottom";
}

/** Line plot of several series with ticks and a legend (top or bottom right). */
export function linePlot(series: readonly Series[], opts: LinePlotOptions = {}): Canvas {
  for (const s of series) {
    if (s.x.length !== s.y.length) {
      throw new Error(`linePlot: series "${s.name}" has ${s.x.length} x, ${s.y.length} y`);
    }
  }
  const xs = series.flatMap((s) => s.x), ys = series.flatMap((s) => s.y);
  const [xMin, xMax] = padRange(...finiteRange(xs), 0);
  const [yMin, yMax] = padRange(...finiteRange(ys));
  const canvas = new Canvas(opts.width ?? 480, opts.height ?? 320);
  const ax = new Axes(canvas, { xMin, xMax, yMin, yMax });
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.y[i])) continue;
      const [x, y] = [ax.px(s.x[i]), ax.py(s.y[i])];
      if (i > 0 && Number.isFinite(s.y[i - 1])) {
        canvas.line(ax.px(s.x[i - 1]), ax.py(s.y[i - 1]), x, y, color, 2);
      } else canvas.fillRect(x - 1, y - 1, 3, 3, color);
    }
  });
  const legendW = Math.max(0, ...series.map((s) => textWidth(s.name))) + 22;
  const top = opts.legend === "bottom" ? MARGIN.top + ax.h - 6 - 11 * series.length : MARGIN.top + 6;
  series.forEach((s, k) => {
    const x = MARGIN.left + ax.w - legendW, y = top + 11 * k;
    canvas.fillRect(x, y + 2, 12, 3, s.color ?? PALETTE[k % PALETTE.length]);
    canvas.text(x + 16, y, s.name);
  });
  ax.decorate(opts);
  return canvas;
}

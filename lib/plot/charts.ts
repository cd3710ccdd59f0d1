/**
 * Charts with axes: scatter plots of 2-D points, density heatmaps on a grid, and line plots (training
 * curves). Each returns a new {@link Canvas}; write it with `writePng` or combine several with `panels`.
 */
import { Axes, MARGIN, padRange, type Range } from "./axes.ts";
import { Canvas, GREY, PALETTE, type RGB } from "./canvas.ts";
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

/** A vertical dashed line at `x` (the best epoch, early stopping), named in the legend. */
export interface Mark {
  readonly name: string;
  readonly x: number;
  readonly color?: RGB;
}

/** Options of {@link linePlot}. */
export interface LinePlotOptions extends ChartOptions {
  /**
   * Corner of the legend, on the right (default `top`); `auto`: the corner (top right, bottom right, top
   * left, bottom left, in this order of preference) that covers the fewest data points; `none`: no legend.
   */
  readonly legend?: "top" | "bottom" | "auto" | "none";
  /** Data range of the x axis (default: the series' range). */
  readonly xRange?: readonly [number, number];
  /** Data range of the y axis (default: the series' finite range, padded by 5%); points outside are clipped. */
  readonly yRange?: readonly [number, number];
  /** Vertical dashed lines, drawn under the series. */
  readonly marks?: readonly Mark[];
}

/** Colour of the k-th series when it has none. */
const colorOf = (s: { color?: RGB }, k: number): RGB => s.color ?? PALETTE[k % PALETTE.length];

/**
 * A legend box: one line per series (a short bar in its colour) and per mark (a dashed bar), right-aligned
 * at `right`, from `top` down; returns its height.
 */
export function drawLegend(
  canvas: Canvas,
  right: number,
  top: number,
  series: readonly Series[],
  marks: readonly Mark[] = [],
): number {
  const names = [...series.map((s) => s.name), ...marks.map((m) => m.name)];
  const w = Math.max(0, ...names.map((n) => textWidth(n))) + 22;
  series.forEach((s, k) => {
    const x = right - w, y = top + 11 * k;
    canvas.fillRect(x, y + 2, 12, 3, colorOf(s, k));
    canvas.text(x + 16, y, s.name);
  });
  marks.forEach((m, k) => {
    const x = right - w, y = top + 11 * (series.length + k);
    for (let i = 0; i < 12; i += 4) canvas.fillRect(x + i, y + 3, 2, 1, m.color ?? GREY);
    canvas.text(x + 16, y, m.name);
  });
  return 11 * names.length;
}

/** Line plot of several series with ticks, optional vertical marks and a legend (see `legend`). */
export function linePlot(series: readonly Series[], opts: LinePlotOptions = {}): Canvas {
  for (const s of series) {
    if (s.x.length !== s.y.length) {
      throw new Error(`linePlot: series "${s.name}" has ${s.x.length} x, ${s.y.length} y`);
    }
  }
  const xs = series.flatMap((s) => s.x), ys = series.flatMap((s) => s.y);
  const [xMin, xMax] = opts.xRange ?? padRange(...finiteRange(xs), 0);
  const [yMin, yMax] = opts.yRange ?? padRange(...finiteRange(ys));
  const canvas = new Canvas(opts.width ?? 480, opts.height ?? 320);
  const ax = new Axes(canvas, { xMin, xMax, yMin, yMax });
  const marks = opts.marks ?? [];
  for (const m of marks) {
    const x = Math.round(ax.px(m.x));
    for (let y = ax.y0; y < ax.y0 + ax.h; y += 6) {
      if (ax.inside(x, y)) canvas.fillRect(x, y, 1, 3, m.color ?? GREY);
    }
  }
  // Lines are clipped to the plot box: a y range narrower than the data must not draw over the ticks.
  const plot = (px: number, py: number, c: RGB, size: number) => {
    const r = (size - 1) / 2;
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        if (ax.inside(Math.round(px + dx), Math.round(py + dy))) canvas.set(px + dx, py + dy, c);
      }
    }
  };
  series.forEach((s, k) => {
    const color = colorOf(s, k);
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.y[i])) continue;
      const [x, y] = [ax.px(s.x[i]), ax.py(s.y[i])];
      if (i > 0 && Number.isFinite(s.y[i - 1])) {
        const [x0, y0] = [ax.px(s.x[i - 1]), ax.py(s.y[i - 1])];
        const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x - x0), Math.abs(y - y0))));
        for (let j = 0; j <= steps; j++) {
          plot(x0 + ((x - x0) * j) / steps, y0 + ((y - y0) * j) / steps, color, 2);
        }
      } else plot(x, y, color, 5); // a point alone (a first or only evaluation): large enough to see
    }
  });
  if (opts.legend !== "none") {
    const names = [...series.map((s) => s.name), ...marks.map((m) => m.name)];
    const boxW = Math.max(0, ...names.map((t) => textWidth(t))) + 22, boxH = 11 * names.length;
    const [left, right] = [MARGIN.left + 6 + boxW, MARGIN.left + ax.w];
    const [top, bottom] = [MARGIN.top + 6, MARGIN.top + ax.h - 6 - boxH];
    // How many data points a legend box with right edge `r` and top row `y` would cover.
    const covered = ([r, y]: readonly number[]) =>
      series.reduce((k, s) =>
        k + s.x.filter((x, i) => {
          const [px, py] = [ax.px(x), ax.py(s.y[i])];
          return px >= r - boxW - 2 && px <= r + 2 && py >= y - 2 && py <= y + boxH + 2;
        }).length, 0);
    // `auto`: the first corner, in this order, that covers the fewest points.
    const corners = opts.legend === "bottom"
      ? [[right, bottom]]
      : opts.legend === "auto"
      ? [[right, top], [right, bottom], [left, top], [left, bottom]]
      : [[right, top]];
    const counts = corners.map(covered);
    const [r, y] = corners[counts.indexOf(Math.min(...counts))];
    drawLegend(canvas, r, y, series, marks);
  }
  ax.decorate(opts);
  return canvas;
}

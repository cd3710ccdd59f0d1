/**
 * Grid pictures: a labelled matrix heatmap (confusion matrices, MFCC sequences), a grid of small images
 * (MNIST samples), and panels that put several canvases side by side with titles.
 */
import { BLACK, Canvas, type RGB, WHITE } from "./canvas.ts";
import { finiteRange, viridis } from "./colormap.ts";
import { formatTick } from "./axes.ts";
import { GLYPH_H, textWidth } from "./font.ts";

export interface HeatmapOptions {
  readonly title?: string;
  /** One label per row, drawn on the left. */
  readonly rowLabels?: readonly string[];
  /** One label per column, drawn below; thinned out when they would overlap. */
  readonly colLabels?: readonly string[];
  /** Cell size in pixels (default: about 480 px across in total, between 1 and 32 per cell). */
  readonly cellWidth?: number;
  readonly cellHeight?: number;
  /** Colour range (default: the finite min and max of the values). */
  readonly range?: readonly [number, number];
  /** Write each value in its cell when it fits (default true). */
  readonly annotate?: boolean;
}

/**
 * A `rows` x `cols` matrix (row-major `values`) as coloured cells (viridis), row 0 at the top, with a
 * colour bar labelled with the range on the right.
 */
export function matrixHeatmap(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  opts: HeatmapOptions = {},
): Canvas {
  if (values.length !== rows * cols) {
    throw new Error(`matrixHeatmap: expected ${rows}x${cols} = ${rows * cols} values, got ${values.length}`);
  }
  for (
    const [what, labels, n] of [["rowLabels", opts.rowLabels, rows], [
      "colLabels",
      opts.colLabels,
      cols,
    ]] as const
  ) {
    if (labels && labels.length !== n) {
      throw new Error(`matrixHeatmap: ${what} has ${labels.length} labels, expected ${n}`);
    }
  }
  const fit = (n: number) => Math.max(1, Math.min(32, Math.floor(480 / n)));
  const cw = opts.cellWidth ?? fit(cols), ch = opts.cellHeight ?? fit(rows);
  const [lo, hi] = opts.range ?? finiteRange(values);
  const left = 4 + Math.max(0, ...(opts.rowLabels ?? []).map((l) => textWidth(l) + 4));
  const top = opts.title ? 16 : 4, bottom = opts.colLabels ? GLYPH_H + 8 : 4;
  const barX = left + cols * cw + 8;
  const rangeLabels = [formatTick(hi), formatTick(lo)];
  const canvas = new Canvas(
    barX + 12 + 4 + Math.max(...rangeLabels.map((l) => textWidth(l))) + 4,
    top + rows * ch + bottom,
  );
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      const color = viridis((v - lo) / (hi - lo));
      canvas.fillRect(left + c * cw, top + r * ch, cw, ch, color);
      const label = formatTick(v);
      if (opts.annotate !== false && textWidth(label) + 2 <= cw && GLYPH_H + 2 <= ch) {
        // Dark text on the bright end of viridis, white on the dark end.
        const ink: RGB = color[1] > 150 ? BLACK : WHITE;
        canvas.textCentered(left + c * cw + cw / 2, top + r * ch + (ch - GLYPH_H) / 2, label, ink);
      }
    }
  }
  opts.rowLabels?.forEach((l, r) => {
    if (ch >= GLYPH_H || r % Math.ceil((GLYPH_H + 1) / ch) === 0) {
      canvas.text(left - 4 - textWidth(l), top + r * ch + (ch - GLYPH_H) / 2, l);
    }
  });
  if (opts.colLabels) {
    const widest = Math.max(...opts.colLabels.map((l) => textWidth(l))) + 4;
    // A round stride (1, 2, 5, 10, 20, ...) so the shown labels are easy to read off.
    const need = Math.ceil(widest / cw);
    let every = 1;
    for (let m = 1; every < need; m *= 10) every = [m, 2 * m, 5 * m, 10 * m].find((s) => s >= need)!;
    opts.colLabels.forEach((l, c) => {
      if (c % every === 0) canvas.textCentered(left + c * cw + cw / 2, top + rows * ch + 4, l);
    });
  }
  for (let y = 0; y < rows * ch; y++) {
    canvas.fillRect(barX, top + y, 12, 1, viridis(1 - y / Math.max(1, rows * ch - 1)));
  }
  canvas.text(barX + 16, top, rangeLabels[0]);
  canvas.text(barX + 16, top + rows * ch - GLYPH_H, rangeLabels[1]);
  if (opts.title) canvas.textCentered(canvas.width / 2, 4, opts.title);
  return canvas;
}

export interface ImageGridOptions {
  /** Channels per pixel: 1 (grey) or 3 (RGB); default 1. */
  readonly channels?: 1 | 3;
  /** Images per row (default 10). */
  readonly perRow?: number;
  /** Pixel magnification (default 2). */
  readonly scale?: number;
  /** Gap between images in pixels (default 2). */
  readonly pad?: number;
  /** Value range mapped to black..white (default [0, 1]); values outside are clamped. */
  readonly range?: readonly [number, number];
  readonly title?: string;
}

/** `count` images of `height` x `width` (row-major `[count, height, width, channels]`) in a grid. */
export function imageGrid(
  images: ArrayLike<number>,
  count: number,
  height: number,
  width: number,
  opts: ImageGridOptions = {},
): Canvas {
  const chans = opts.channels ?? 1, perRow = Math.min(count, opts.perRow ?? 10);
  const s = opts.scale ?? 2, pad = opts.pad ?? 2, [lo, hi] = opts.range ?? [0, 1];
  if (images.length !== count * height * width * chans) {
    throw new Error(
      `imageGrid: expected ${count}x${height}x${width}x${chans} = ${
        count * height * width * chans
      } values, got ${images.length}`,
    );
  }
  const top = opts.title ? 14 : 0, nRows = Math.ceil(count / perRow);
  const canvas = new Canvas(pad + perRow * (width * s + pad), top + pad + nRows * (height * s + pad));
  const byte = (v: number) => Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))) || 0);
  for (let n = 0; n < count; n++) {
    const ox = pad + (n % perRow) * (width * s + pad),
      oy = top + pad + Math.floor(n / perRow) * (height * s + pad);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = ((n * height + y) * width + x) * chans;
        const g = byte(images[i]);
        const color: RGB = chans === 3 ? [g, byte(images[i + 1]), byte(images[i + 2])] : [g, g, g];
        canvas.fillRect(ox + x * s, oy + y * s, s, s, color);
      }
    }
  }
  if (opts.title) canvas.textCentered(canvas.width / 2, 4, opts.title);
  return canvas;
}

/**
 * Canvases side by side (`perRow` per row, default all), each under its title, on a white page; each row is
 * as tall as its tallest canvas.
 */
export function panels(
  items: readonly { readonly canvas: Canvas; readonly title?: string }[],
  opts: { readonly perRow?: number; readonly pad?: number; readonly title?: string } = {},
): Canvas {
  if (items.length === 0) throw new Error("panels: needs at least one canvas, got 0");
  const perRow = Math.min(items.length, opts.perRow ?? items.length), pad = opts.pad ?? 8;
  const cellW = Math.max(...items.map((p) => p.canvas.width));
  const titleH = items.some((p) => p.title) ? GLYPH_H + 6 : 0;
  const nRows = Math.ceil(items.length / perRow);
  const rowH = Array.from(
    { length: nRows },
    (_, r) => Math.max(...items.slice(r * perRow, (r + 1) * perRow).map((p) => p.canvas.height)) + titleH,
  );
  const top = opts.title ? GLYPH_H + 8 : 0;
  const rowY = rowH.map((_, r) => top + pad + rowH.slice(0, r).reduce((a, h) => a + h + pad, 0));
  const canvas = new Canvas(pad + perRow * (cellW + pad), rowY[nRows - 1] + rowH[nRows - 1] + pad);
  items.forEach((p, k) => {
    const x = pad + (k % perRow) * (cellW + pad), y = rowY[Math.floor(k / perRow)];
    if (p.title) canvas.textCentered(x + cellW / 2, y, p.title);
    canvas.blit(p.canvas, x + Math.floor((cellW - p.canvas.width) / 2), y + titleH);
  });
  if (opts.title) canvas.textCentered(canvas.width / 2, 4, opts.title);
  return canvas;
}

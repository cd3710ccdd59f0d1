/**
 * Pictures of frame sequences (e.g. MFCC segments): each sequence a heatmap with time to the right and
 * feature dimension downwards, real sequences in the top row and generated ones below.
 */
import { Canvas, GLYPH_H, matrixHeatmap, panels, textWidth } from "../plot/mod.ts";

/** `[T * D]` frame-major to `[D * T]` (one row per dimension). */
function transpose(seq: Float32Array, frameDim: number): Float32Array {
  const T = seq.length / frameDim, out = new Float32Array(seq.length);
  for (let t = 0; t < T; t++) for (let d = 0; d < frameDim; d++) out[d * T + t] = seq[t * frameDim + d];
  return out;
}

/** One sequence as a heatmap: `frameDim` rows, one column per frame, colours over `range`. */
export function sequencePicture(
  seq: Float32Array,
  frameDim: number,
  range: readonly [number, number],
): Canvas {
  const T = seq.length / frameDim;
  if (!Number.isInteger(T) || T < 1) {
    throw new Error(`sequencePicture: ${seq.length} values are not whole frames of ${frameDim}`);
  }
  return matrixHeatmap(transpose(seq, frameDim), frameDim, T, {
    cellWidth: 6,
    cellHeight: 3,
    range,
    annotate: false,
  });
}

/** `canvas` under one line of text per entry of `lines`, widened when a line is wider than the canvas. */
export function withTitle(canvas: Canvas, lines: readonly string[]): Canvas {
  const lineH = GLYPH_H + 4, top = 4 + lines.length * lineH;
  const out = new Canvas(Math.max(canvas.width, ...lines.map((l) => textWidth(l) + 8)), canvas.height + top);
  lines.forEach((l, i) => out.text(4, 4 + i * lineH, l));
  out.blit(canvas, 0, top);
  return out;
}

/**
 * Real sequences in the top row, as many generated ones below (column i: real i, generated i), under the
 * title lines; values are drawn over `range` (for normalised features, [-3, 3] standard deviations),
 * clipped outside it.
 */
export function realVsGeneratedPicture(
  real: readonly Float32Array[],
  generated: readonly Float32Array[],
  frameDim: number,
  title: readonly string[],
  range: readonly [number, number] = [-3, 3],
): Canvas {
  if (real.length === 0 || real.length !== generated.length) {
    throw new Error(
      `realVsGeneratedPicture: need as many generated as real sequences (>= 1), got ${real.length} and ${generated.length}`,
    );
  }
  const items = [
    ...real.map((s, i) => ({ title: `real ${i + 1}`, canvas: sequencePicture(s, frameDim, range) })),
    ...generated.map((s, i) => ({
      title: `generated ${i + 1}`,
      canvas: sequencePicture(s, frameDim, range),
    })),
  ];
  return withTitle(panels(items, { perRow: real.length }), title);
}

/**
 * PNG pictures for echoflow runs: a small RGB {@link Canvas} with a 5x7 bitmap font, charts with axes
 * (scatter, density heatmap, line plot with marks), grids (matrix heatmap, image grid, panels), a run's
 * curves (NLL and learning rate against epoch, one panel per class), written atomically.
 *
 * ```ts
 * const png = panels([{ title: "data", canvas: scatterPlot(xy) }, { title: "loss", canvas: linePlot(curves) }]);
 * await writePng(`${dir}/summary.png`, png);
 * ```
 */
export { Axes, formatTick, niceTicks, padRange, type Range } from "./axes.ts";
export { BLACK, Canvas, encodePng, GREY, PALETTE, type RGB, WHITE, writePng } from "./canvas.ts";
export {
  type ChartOptions,
  densityPlot,
  drawLegend,
  gridPoints,
  linePlot,
  type LinePlotOptions,
  type Mark,
  pointsRange,
  type ScatterOptions,
  scatterPlot,
  type Series,
} from "./charts.ts";
export { finiteRange, viridis } from "./colormap.ts";
export { glyph, GLYPH_H, GLYPH_W, textWidth } from "./font.ts";
export { type HeatmapOptions, imageGrid, type ImageGridOptions, matrixHeatmap, panels } from "./grid.ts";
export { curveSeries, parseJsonl, TRAIN_GREY, trainingCurvePlot } from "./curves.ts";
export {
  type ClassCurves,
  classCurvesPlot,
  CURVE_COLORS,
  curveMarks,
  epochRange,
  nllRange,
  readRecords,
  type RunCurves,
  runCurves,
  type RunCurvesOptions,
  runCurvesPlot,
  writeClassCurves,
  writeRunCurves,
} from "./run_curves.ts";

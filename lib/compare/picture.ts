/**
 * The comparison picture: the validation NLL of every run against epoch, overlaid, one colour per run. Single
 * runs share one plot; per-class runs get one small panel per class (each overlaying the runs that have the
 * class) and a legend panel.
 */
import {
  Canvas,
  drawLegend,
  epochRange,
  linePlot,
  nllRange,
  PALETTE,
  panels,
  type Series,
} from "../plot/mod.ts";
import type { RunEntry } from "./read_run.ts";

/** The picture of `entries`, labelled `labels` (see the module doc). */
export function comparePicture(entries: readonly RunEntry[], labels: readonly string[]): Canvas {
  const keys = [...new Set(entries.flatMap((e) => [...e.curves.keys()]))];
  const seriesOf = (key: string): Series[] =>
    entries.flatMap((e, i) => {
      const c = e.curves.get(key);
      return c && c.x.length ? [{ name: labels[i], x: c.x, y: c.y, color: PALETTE[i % PALETTE.length] }] : [];
    });
  const lastEpoch = (s: readonly Series[]) => Math.max(1, ...s.flatMap((x) => x.x));
  if (keys.length === 1 && keys[0] === "") {
    const series = seriesOf("");
    if (series.length === 0) throw new Error("No run has a validation NLL yet: nothing to draw");
    return linePlot(series, {
      width: 640,
      height: 400,
      title: "validation NLL against epoch",
      legend: "auto",
      xLabel: "epoch",
      yLabel: "val NLL (nats per example)",
      xRange: epochRange(lastEpoch(series)),
      yRange: nllRange(series),
    });
  }
  const [w, h] = [240, 170];
  const items = keys.map((key) => {
    const series = seriesOf(key);
    if (series.length === 0) {
      const empty = new Canvas(w, h);
      empty.textCentered(w / 2, h / 2, "no curves yet");
      return { canvas: empty, title: key || "runs" };
    }
    const canvas = linePlot(series, {
      width: w,
      height: h,
      legend: "none",
      xLabel: "epoch",
      xRange: epochRange(lastEpoch(series)),
      yRange: nllRange(series),
    });
    return { canvas, title: key || "runs" };
  });
  const legendW = Math.max(w, 30 + 6 * Math.max(...labels.map((l) => l.length)));
  const legend = new Canvas(legendW, Math.max(h, 40 + 11 * labels.length));
  legend.text(8, 20, "val NLL (nats per example)");
  drawLegend(
    legend,
    legendW - 8,
    40,
    labels.map((name, i) => ({ name, x: [], y: [], color: PALETTE[i % PALETTE.length] })),
  );
  items.push({ canvas: legend, title: "legend" });
  return panels(items, {
    perRow: Math.min(items.length, 5),
    title: "validation NLL against epoch, per class",
  });
}

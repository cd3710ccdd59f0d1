/**
 * Training curves from a run's `metrics.jsonl` (one JSON record per line, as the runner's logger writes
 * them): the training loss of `kind: "train"` records (one batch each, so noisy), its epoch mean from
 * `kind: "epoch"` records (`train_loss`), and the NLL of `kind: "eval"` records per split, all against
 * the optimisation step.
 */
import type { Series } from "./charts.ts";
import { type Canvas, PALETTE, type RGB } from "./canvas.ts";
import { linePlot } from "./charts.ts";

/** Colour of the per-batch training loss. */
export const TRAIN_GREY: RGB = [190, 190, 190];

/**
 * Series "train loss", "train loss (epoch mean)" and "<split> NLL" from metric records (those that have
 * data); records without a numeric step are skipped.
 */
export function curveSeries(records: readonly Record<string, unknown>[]): Series[] {
  const train: [number, number][] = [], epochs: [number, number][] = [];
  const evals = new Map<string, [number, number][]>();
  for (const r of records) {
    if (typeof r.step !== "number") continue;
    if (r.kind === "train" && typeof r.loss === "number") train.push([r.step, r.loss]);
    if (r.kind === "epoch" && typeof r.train_loss === "number") epochs.push([r.step, r.train_loss]);
    if (r.kind === "eval" && typeof r.nll === "number" && typeof r.split === "string") {
      if (!evals.has(r.split)) evals.set(r.split, []);
      evals.get(r.split)!.push([r.step, r.nll]);
    }
  }
  const series = (name: string, pts: [number, number][], color: RGB): Series => {
    pts.sort((a, b) => a[0] - b[0]);
    return { name, x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), color };
  };
  // Per-batch losses first, in light grey, so the smoother curves are drawn over them.
  const out = train.length ? [series("train loss", train, TRAIN_GREY)] : [];
  if (epochs.length) out.push(series("train loss (epoch mean)", epochs, PALETTE[0]));
  for (const [k, split] of ["train", "val", "test"].entries()) {
    const pts = evals.get(split);
    if (pts?.length) out.push(series(`${split} NLL`, pts, PALETTE[k + 1]));
  }
  return out;
}

/** Parses JSON lines, naming the file and line of a malformed one. */
export function parseJsonl(text: string, path = "metrics.jsonl"): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l, i) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new Error(`Cannot parse "${path}" line ${i + 1}: ${l.slice(0, 60)}`);
    }
  });
}

/** The training-curve plot of the metrics file at `path`. */
export async function trainingCurvePlot(path: string, title = "training curves"): Promise<Canvas> {
  const records = parseJsonl(await Deno.readTextFile(path), path);
  const series = curveSeries(records);
  if (series.length === 0) throw new Error(`No "train" or "eval" records with a step in "${path}"`);
  return linePlot(series, { title, xLabel: "step", yLabel: "nats" });
}

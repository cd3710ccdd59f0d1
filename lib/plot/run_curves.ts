/**
 * The curves picture of a run (`curves.png`), from the records of its `metrics.jsonl`, against the epoch:
 *
 * - NLL: the epoch mean of the training loss (`kind: "epoch"`), and the exact NLL of every evaluated split
 *   (`kind: "eval"`: train with `eval_train`, validation at every evaluation, test where validation
 *   improved), with dashed marks at the best epoch (lowest finite validation NLL, the first of equals, as
 *   the runner chooses it) and at early stopping (`kind: "early_stop"`);
 * - the learning rate: at the end of every epoch and at every logged batch (`kind: "train"`, placed at
 *   its fraction of the epoch), so warmup shows as a ramp.
 *
 * {@link classCurvesPlot} draws one small NLL panel per class of a per-class experiment in one picture.
 */
import { Canvas, GREY, PALETTE, type RGB, writePng } from "./canvas.ts";
import { drawLegend, linePlot, type Mark, type Series } from "./charts.ts";
import { padRange } from "./axes.ts";
import { finiteRange } from "./colormap.ts";
import { panels } from "./grid.ts";

/** Colours of the curves (tab10, as elsewhere): train loss, train NLL, validation, test; marks. */
export const CURVE_COLORS = {
  trainLoss: PALETTE[7],
  train: PALETTE[0],
  val: PALETTE[1],
  test: PALETTE[2],
  best: PALETTE[2],
  stop: PALETTE[3],
  lr: PALETTE[4],
} as const satisfies Record<string, RGB>;

/** What a run's curves picture shows. */
export interface RunCurves {
  /** `train loss (epoch mean)`, `train NLL`, `val NLL`, `test NLL (at new best)`: those with points. */
  readonly nll: Series[];
  readonly lr: Series | null;
  /** The epoch of the lowest finite validation NLL (null: none yet). */
  readonly bestEpoch: number | null;
  /** The epoch after which early stopping ended the run (null: it did not). */
  readonly stoppedEpoch: number | null;
  /** The last epoch any record names (0: none). */
  readonly lastEpoch: number;
}

const num = (v: unknown): v is number => typeof v === "number";

/** Points by epoch, the last record of an epoch winning (a resumed run may repeat one), sorted. */
function byEpoch(name: string, pts: Map<number, number>, color: RGB): Series {
  const xs = [...pts.keys()].sort((a, b) => a - b);
  return { name, x: xs, y: xs.map((x) => pts.get(x)!), color };
}

/** The curves of a run from its metric records (see the module doc). */
export function runCurves(records: readonly Record<string, unknown>[]): RunCurves {
  const loss = new Map<number, number>(), lrAt = new Map<number, number>();
  const evals: Record<string, Map<number, number>> = { train: new Map(), val: new Map(), test: new Map() };
  const epochEnd = new Map<number, number>(); // epoch -> step at its end
  let stoppedEpoch: number | null = null, lastEpoch = 0;
  for (const r of records) {
    if (num(r.epoch)) lastEpoch = Math.max(lastEpoch, r.epoch);
    if (r.kind === "epoch" && num(r.epoch)) {
      if (num(r.train_loss)) loss.set(r.epoch, r.train_loss);
      if (num(r.lr)) lrAt.set(r.epoch, r.lr);
      if (num(r.step)) epochEnd.set(r.epoch, r.step);
    }
    if (r.kind === "eval" && num(r.epoch) && typeof r.split === "string" && r.split in evals) {
      evals[r.split].set(r.epoch, num(r.nll) ? r.nll : NaN);
    }
    if (r.kind === "early_stop" && num(r.epoch)) stoppedEpoch = r.epoch;
  }
  // Logged batches at their fraction of the epoch: steps (end of epoch e-1, end of e] map to (e-1, e].
  for (const r of records) {
    if (r.kind !== "train" || !num(r.epoch) || !num(r.step) || !num(r.lr)) continue;
    const end = epochEnd.get(r.epoch), start = epochEnd.get(r.epoch - 1) ?? 0;
    if (end !== undefined && end > start) lrAt.set(r.epoch - 1 + (r.step - start) / (end - start), r.lr);
  }
  let bestEpoch: number | null = null, best = Infinity;
  for (const [epoch, v] of [...evals.val].sort((a, b) => a[0] - b[0])) {
    if (Number.isFinite(v) && v < best) (best = v, bestEpoch = epoch);
  }
  const nll = [
    byEpoch("train loss (epoch mean)", loss, CURVE_COLORS.trainLoss),
    byEpoch("train NLL", evals.train, CURVE_COLORS.train),
    byEpoch("val NLL", evals.val, CURVE_COLORS.val),
    byEpoch("test NLL (at new best)", evals.test, CURVE_COLORS.test),
  ].filter((s) => s.x.length > 0);
  const lr = lrAt.size ? byEpoch("learning rate", lrAt, CURVE_COLORS.lr) : null;
  return { nll, lr, bestEpoch, stoppedEpoch, lastEpoch };
}

/** The best-epoch and early-stopping marks of `c`. */
export function curveMarks(c: RunCurves): Mark[] {
  const marks: Mark[] = [];
  if (c.bestEpoch !== null) {
    marks.push({ name: `best epoch ${c.bestEpoch}`, x: c.bestEpoch, color: CURVE_COLORS.best });
  }
  if (c.stoppedEpoch !== null) {
    marks.push({ name: `early stop ${c.stoppedEpoch}`, x: c.stoppedEpoch, color: CURVE_COLORS.stop });
  }
  return marks;
}

/**
 * A y range for NLL curves that keeps the later epochs readable: the first epoch's values (a flow often
 * starts tens of times further from its optimum than it ends) are left out of the range when they would
 * take more than half of it; they are then clipped at the top.
 */
export function nllRange(series: readonly Series[]): [number, number] {
  const all = series.flatMap((s) => s.y);
  const later = series.flatMap((s) => s.y.filter((_, i) => s.x[i] > 1));
  const laterEpochs = new Set(series.flatMap((s) => s.x.filter((x) => x > 1)));
  const [lo, hi] = finiteRange(all);
  const [lo2, hi2] = finiteRange(later);
  // Only with at least 3 epochs after the first: a short run is shown whole.
  const clip = laterEpochs.size >= 3 && Number.isFinite(hi2) && hi2 > lo2 && hi - lo > 2 * (hi2 - lo);
  return padRange(lo, clip ? hi2 : hi);
}

/** The x range for epochs 0..`last`, with room after the last so a mark there stays clear of the frame. */
export function epochRange(last: number): [number, number] {
  const end = Math.max(1, last);
  return [0, end + Math.max(0.3, end / 40)];
}

/** Options of {@link runCurvesPlot}. */
export interface RunCurvesOptions {
  readonly title?: string;
  /** Width of the picture's panels in pixels (default 560). */
  readonly width?: number;
}

/**
 * The curves picture of a run: NLL against epoch over the learning rate against epoch, both with the
 * best-epoch and early-stopping marks. Throws when the records hold no curve yet.
 */
export function runCurvesPlot(
  records: readonly Record<string, unknown>[],
  opts: RunCurvesOptions = {},
): Canvas {
  const c = runCurves(records);
  if (c.nll.length === 0) throw new Error('No "epoch" or "eval" records to draw curves from');
  const width = opts.width ?? 560, marks = curveMarks(c);
  const xRange = epochRange(c.lastEpoch);
  const top = linePlot(c.nll, {
    width,
    height: 300,
    xRange,
    yRange: nllRange(c.nll),
    marks,
    legend: "auto",
    xLabel: "epoch",
    yLabel: "NLL (nats per example)",
  });
  const items = [{ canvas: top, title: opts.title }];
  if (c.lr) {
    const most = Math.max(0, ...c.lr.y.filter(Number.isFinite));
    const bottom = linePlot([c.lr], {
      width,
      height: 150,
      xRange,
      yRange: [0, most > 0 ? most * 1.15 : 1],
      marks,
      legend: "none",
      xLabel: "epoch",
      yLabel: "learning rate",
    });
    items.push({ canvas: bottom, title: undefined });
  }
  return panels(items, { perRow: 1 });
}

/** One class of a per-class experiment: its name and metric records. */
export interface ClassCurves {
  readonly title: string;
  readonly records: readonly Record<string, unknown>[];
}

/**
 * One small NLL panel per class (train loss, validation, test, marks), `perRow` to a row (default 5), and a
 * legend panel after them. Classes without records get an empty panel saying so.
 */
export function classCurvesPlot(
  classes: readonly ClassCurves[],
  opts: { readonly title?: string; readonly perRow?: number } = {},
): Canvas {
  if (classes.length === 0) throw new Error("classCurvesPlot: no classes");
  const [w, h] = [240, 170];
  const items = classes.map(({ title, records }) => {
    const c = runCurves(records);
    if (c.nll.length === 0) {
      const empty = new Canvas(w, h);
      empty.textCentered(w / 2, h / 2, "no curves yet", GREY);
      return { canvas: empty, title };
    }
    const canvas = linePlot(c.nll, {
      width: w,
      height: h,
      xRange: epochRange(c.lastEpoch),
      yRange: nllRange(c.nll),
      marks: curveMarks(c),
      legend: "none",
      xLabel: "epoch",
    });
    return { canvas, title };
  });
  const legend = new Canvas(w, h);
  const series: Series[] = [
    { name: "train loss (epoch mean)", x: [], y: [], color: CURVE_COLORS.trainLoss },
    { name: "train NLL", x: [], y: [], color: CURVE_COLORS.train },
    { name: "val NLL", x: [], y: [], color: CURVE_COLORS.val },
    { name: "test NLL (at new best)", x: [], y: [], color: CURVE_COLORS.test },
  ];
  const marks: Mark[] = [
    { name: "best epoch", x: 0, color: CURVE_COLORS.best },
    { name: "early stop", x: 0, color: CURVE_COLORS.stop },
  ];
  legend.text(8, 20, "NLL (nats per example)");
  drawLegend(legend, w - 8, 40, series, marks);
  items.push({ canvas: legend, title: "legend" });
  return panels(items, { perRow: Math.min(items.length, opts.perRow ?? 5), title: opts.title });
}

/**
 * The records of a metrics file; lines that are not JSON objects are skipped (a disk full during an append
 * can leave a partial last line, as the runner's own reader allows).
 */
export async function readRecords(path: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const line of (await Deno.readTextFile(path)).split("\n")) {
    if (line.trim() === "") continue;
    try {
      const r = JSON.parse(line);
      if (typeof r === "object" && r !== null && !Array.isArray(r)) out.push(r);
    } catch { /* skipped: see the doc */ }
  }
  return out;
}

/** Writes the curves picture of the metrics file `metricsPath` to `pngPath` (atomically). */
export async function writeRunCurves(
  metricsPath: string,
  pngPath: string,
  opts: RunCurvesOptions = {},
): Promise<void> {
  await writePng(pngPath, runCurvesPlot(await readRecords(metricsPath), opts));
}

/**
 * Writes {@link classCurvesPlot} of the classes' metrics files to `pngPath`; a missing metrics file is a
 * class without curves yet.
 */
export async function writeClassCurves(
  pngPath: string,
  classes: readonly { readonly title: string; readonly metricsPath: string }[],
  title?: string,
): Promise<void> {
  const items = await Promise.all(classes.map(async ({ title, metricsPath }) => ({
    title,
    records: await readRecords(metricsPath).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }),
  })));
  await writePng(pngPath, classCurvesPlot(items, { title }));
}

/**
 * The curves picture of a run (`curves.png`): what it reads from the metric records, the best-epoch and
 * early-stopping marks, the learning rate, one panel per class, and that the runner redraws it at every
 * evaluation.
 */
import assert from "node:assert/strict";
import { decode } from "fast-png";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { gaussian2d } from "../experiments/gaussian_2d.ts";
import {
  Axes,
  Canvas,
  classCurvesPlot,
  CURVE_COLORS,
  linePlot,
  nllRange,
  type RGB,
  runCurves,
  runCurvesPlot,
} from "../lib/plot/mod.ts";
import { Experiment } from "../lib/runner/experiment.ts";
import { Logger } from "../lib/runner/logger.ts";

const count = (c: Canvas, color: RGB) => {
  let n = 0;
  for (let i = 0; i < c.data.length; i += 3) {
    if (c.data[i] === color[0] && c.data[i + 1] === color[1] && c.data[i + 2] === color[2]) n++;
  }
  return n;
};

/** Records of a 4-epoch run of 10 steps an epoch, warmup over the first 2 epochs, early stop after 4. */
function records(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const val = [5, 3, 3, 3.5];
  for (let e = 1; e <= 4; e++) {
    out.push({
      kind: "train",
      epoch: e,
      step: 10 * e - 5,
      batch: 5,
      loss: 9,
      lr: e <= 2 ? 0.1 * (10 * e - 5) / 20 : 0.1,
    });
    out.push({ kind: "epoch", epoch: e, step: 10 * e, train_loss: 10 - e, lr: e <= 2 ? 0.1 * e / 2 : 0.1 });
    out.push({ kind: "eval", split: "val", epoch: e, step: 10 * e, nll: val[e - 1] });
    if (e <= 2) out.push({ kind: "eval", split: "test", epoch: e, step: 10 * e, nll: val[e - 1] + 0.5 });
  }
  out.push({ kind: "early_stop", epoch: 4, rule: "no_improvement", reason: "..." });
  return out;
}

Deno.test("runCurves() reads NLL, learning rate, best epoch and early stop from metric records", () => {
  const c = runCurves(records());
  assert.deepEqual(c.nll.map((s) => s.name), [
    "train loss (epoch mean)",
    "val NLL",
    "test NLL (at new best)",
  ]);
  assert.deepEqual(c.nll[1].x, [1, 2, 3, 4]);
  assert.deepEqual(c.nll[1].y, [5, 3, 3, 3.5]);
  assert.equal(c.bestEpoch, 2, "the first of equal validation NLLs, as the runner keeps it");
  assert.equal(c.stoppedEpoch, 4);
  assert.equal(c.lastEpoch, 4);
  // Logged batches sit at their fraction of the epoch: step 5 of 0..10 at 0.5, step 15 of 10..20 at 1.5.
  assert.deepEqual(c.lr!.x, [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]);
  assert.deepEqual(c.lr!.y.slice(0, 4), [0.025, 0.05, 0.075, 0.1]);
  // A non-finite validation NLL is no candidate; a resumed run's repeated epoch keeps its last record.
  const more = [...records(), { kind: "eval", split: "val", epoch: 5, nll: NaN }, {
    kind: "eval",
    split: "val",
    epoch: 3,
    nll: 1,
  }];
  const d = runCurves(more);
  assert.equal(d.bestEpoch, 3);
  assert.deepEqual(d.nll[1].y, [5, 3, 1, 3.5, NaN]);
  assert.equal(runCurves([]).bestEpoch, null);
});

Deno.test("nllRange() leaves out a far first epoch, and only then", () => {
  const s = (y: number[]) => [{ name: "v", x: y.map((_, i) => i + 1), y }];
  const [lo, hi] = nllRange(s([100, 5, 4, 3.5, 3]));
  assert.ok(hi < 6 && lo < 3, `${lo} ${hi}`);
  const [, hi2] = nllRange(s([6, 5, 4, 3.5, 3]));
  assert.ok(hi2 >= 6);
  const [, hi3] = nllRange(s([100, 5, 4]));
  assert.ok(hi3 >= 100, "a short run (under 3 epochs after the first) is shown whole");
});

Deno.test("linePlot() draws marks as dashed vertical lines at their x, and series over them", () => {
  const c = linePlot([{ name: "a", x: [0, 4], y: [0, 0], color: [0, 0, 255] }], {
    xRange: [0, 4],
    yRange: [-1, 1],
    marks: [{ name: "best", x: 1, color: [0, 200, 0] }],
  });
  const ax = new Axes(new Canvas(480, 320), { xMin: 0, xMax: 4, yMin: -1, yMax: 1 });
  const col = Math.round(ax.px(1));
  let green = 0;
  for (let y = ax.y0; y < ax.y0 + ax.h; y++) if (c.get(col, y)[1] === 200 && c.get(col, y)[0] === 0) green++;
  assert.ok(green > ax.h / 3 && green < ax.h, `dashed: ${green} of ${ax.h} pixels`);
  assert.deepEqual(c.get(col, Math.round(ax.py(0))), [0, 0, 255], "the series is drawn over the mark");
});

Deno.test("linePlot({ legend: auto }) puts the legend in the right corner the data leave free", () => {
  // Rows with black (legend text) in the legend's columns, inside the plot box (no frame, no tick labels).
  const legendRows = (c: Canvas) => {
    const rows: number[] = [];
    for (let y = 21; y < c.height - 40; y++) {
      for (let x = c.width - 130; x < c.width - 14; x++) {
        if (c.get(x, y).join() === "0,0,0") {
          rows.push(y);
          break;
        }
      }
    }
    return rows;
  };
  const rising = [{ name: "a long legend entry", x: [0, 1, 2, 3], y: [0, 1, 2, 3] }];
  const falling = [{ name: "a long legend entry", x: [0, 1, 2, 3], y: [3, 2, 1, 0] }];
  const [up, down] = [linePlot(rising, { legend: "auto" }), linePlot(falling, { legend: "auto" })];
  // The legend's text (black) sits low when the curve ends high on the right, and high when it ends low.
  const mid = up.height / 2;
  assert.ok(legendRows(up).some((y) => y > mid && y < up.height - 40), "bottom for a rising curve");
  assert.ok(legendRows(down).some((y) => y < mid && y > 20), "top for a falling curve");
  assert.ok(!legendRows(down).some((y) => y > mid && y < down.height - 40));
});

Deno.test("runCurvesPlot() draws NLL and learning rate with the marks; without a stop, no stop mark", () => {
  const c = runCurvesPlot(records(), { title: "t" });
  for (const color of [CURVE_COLORS.val, CURVE_COLORS.trainLoss, CURVE_COLORS.lr, CURVE_COLORS.stop]) {
    assert.ok(count(c, color) > 20, `${color}`);
  }
  const plain = runCurvesPlot(records().filter((r) => r.kind !== "early_stop"));
  assert.ok(count(plain, CURVE_COLORS.stop) === 0);
  assert.ok(c.height > 400, "two panels");
  assert.throws(() => runCurvesPlot([{ kind: "train", epoch: 1 }]), /No "epoch" or "eval" records/);
});

Deno.test("classCurvesPlot() draws one panel per class and a legend", () => {
  const one = classCurvesPlot([{ title: "aa", records: records() }]);
  const three = classCurvesPlot([
    { title: "aa", records: records() },
    { title: "b", records: records() },
    { title: "c", records: [] },
  ]);
  assert.ok(three.width > 1.9 * one.width, `${one.width} ${three.width}`);
  // The legend's swatch (12 x 3 pixels) is in both; the second class adds a whole curve.
  const [a, b] = [count(one, CURVE_COLORS.val), count(three, CURVE_COLORS.val)];
  assert.ok(b - a > 0.8 * (a - 36) && a > 100, `${a} ${b}`);
});

Deno.test("a run redraws curves.png at every evaluation", async () => {
  await selectBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    const cfg = resolveConfig(gaussian2d.config, { epochs: 3, n_train: 200, n_val: 100, n_test: 100 });
    const seen: string[] = [];
    const log = new Logger({ quiet: true, err: () => {}, out: () => {}, tty: false });
    log.onRecord((r) => {
      // Epoch 2 has trained but is not evaluated yet: the picture is epoch 1's.
      if (r.kind === "epoch" && r.epoch === 2) seen.push(Deno.readFileSync(`${dir}/curves.png`).join(","));
    });
    await new Experiment(gaussian2d, cfg, { runDir: dir, resume: null, log }).run();
    const last = Deno.readFileSync(`${dir}/curves.png`);
    assert.equal(seen.length, 1, "curves.png existed after the first evaluation");
    assert.notEqual(seen[0], last.join(","), "and was redrawn after the later ones");
    const img = decode(last);
    assert.ok(img.width >= 560 && img.height > 400);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

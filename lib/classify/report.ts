/**
 * Reports of a per-class generative classifier: one {@link VariantReport} per model variant (accuracy,
 * chance levels, per-class accuracy and test NLL per frame, the confusion matrix), the confusion matrix as
 * CSV and as a labelled PNG heatmap, and a Markdown comparison table across variants.
 */
import { type Canvas, matrixHeatmap } from "../plot/mod.ts";
import { withTitle } from "./samples.ts";
import {
  chanceLevels,
  classifyMl,
  confusionMatrix,
  confusionScores,
  type LikelihoodTable,
  logPriors,
  perClassNllPerFrame,
} from "./ml.ts";

/** One class of a {@link VariantReport}. */
export interface ClassReport {
  readonly class: string;
  readonly train_segments: number;
  readonly test_segments: number;
  readonly test_frames: number;
  /** Fraction of the class's test segments classified correctly (null: no test segments). */
  readonly accuracy: number | null;
  /** `-sum log p(x | own class) / frames` over the class's test segments (null: none). */
  readonly test_nll_per_frame: number | null;
}

/** The classification result of one model variant. */
export interface VariantReport {
  readonly variant: string;
  readonly classes: readonly string[];
  readonly num_classes: number;
  readonly test_segments: number;
  readonly test_frames: number;
  /** `argmax_k log p(x | k)` or `argmax_k log p(x | k) + log prior_k`. */
  readonly decision_rule: string;
  readonly accuracy: number;
  /** Mean per-class accuracy over classes with test segments. */
  readonly balanced_accuracy: number;
  /** `1 / K`. */
  readonly chance_uniform: number;
  /** Accuracy of always answering the most frequent training class. */
  readonly majority_baseline: number;
  readonly majority_class: string;
  /** `-sum_i log p(x_i | true class) / sum_i frames_i` over all test segments. */
  readonly test_nll_per_frame: number;
  readonly per_class: readonly ClassReport[];
  /** `confusion[true][predicted]` counts, rows and columns in the order of `classes`. */
  readonly confusion: readonly (readonly number[])[];
}

/**
 * Classifies the table (with log priors from `trainCounts` when `usePrior`) and gathers every score.
 * `trainCounts[k]` is the number of training segments of `table.classes[k]`.
 */
export function variantReport(
  variant: string,
  table: LikelihoodTable,
  trainCounts: readonly number[],
  usePrior: boolean,
): VariantReport {
  const K = table.classes.length;
  const pred = classifyMl(table, usePrior ? logPriors(trainCounts) : undefined);
  const m = confusionMatrix(table.labels, pred, K);
  const scores = confusionScores(m, K);
  const nll = perClassNllPerFrame(table);
  const chance = chanceLevels(table.classes, table.labels, trainCounts);
  const framesOf = new Array<number>(K).fill(0);
  let totalNll = 0, totalFrames = 0;
  table.labels.forEach((c, i) => {
    framesOf[c] += table.frames[i];
    totalNll -= table.logLik[i * K + c];
    totalFrames += table.frames[i];
  });
  return {
    variant,
    classes: table.classes,
    num_classes: K,
    test_segments: table.labels.length,
    test_frames: totalFrames,
    decision_rule: usePrior ? "argmax_k log p(x | k) + log prior_k" : "argmax_k log p(x | k)",
    accuracy: scores.accuracy,
    balanced_accuracy: scores.balancedAccuracy,
    chance_uniform: chance.uniform,
    majority_baseline: chance.majority,
    majority_class: chance.majorityClass,
    test_nll_per_frame: totalFrames > 0 ? totalNll / totalFrames : NaN,
    per_class: table.classes.map((name, k) => ({
      class: name,
      train_segments: trainCounts[k],
      test_segments: scores.support[k],
      test_frames: framesOf[k],
      accuracy: scores.perClass[k],
      test_nll_per_frame: nll[k],
    })),
    confusion: Array.from({ length: K }, (_, r) => Array.from(m.subarray(r * K, (r + 1) * K))),
  };
}

/** The confusion matrix as CSV: header `true\predicted,<classes>`, then one row of counts per true class. */
export function confusionCsv(r: Pick<VariantReport, "classes" | "confusion">): string {
  const lines = [["true\\predicted", ...r.classes].join(",")];
  r.classes.forEach((c, k) => lines.push([c, ...r.confusion[k]].join(",")));
  return lines.join("\n") + "\n";
}

/**
 * The confusion matrix as a heatmap of row fractions (each true class sums to 1), labelled, titled with
 * the variant and its accuracy (widened to the title when the matrix is narrower).
 */
export function confusionPicture(
  r: Pick<VariantReport, "classes" | "confusion" | "variant" | "accuracy">,
): Canvas {
  const K = r.classes.length;
  const frac = new Float64Array(K * K);
  r.confusion.forEach((row, i) => {
    const n = row.reduce((a, b) => a + b, 0);
    row.forEach((v, j) => (frac[i * K + j] = n > 0 ? v / n : 0));
  });
  const cell = Math.max(12, Math.min(64, Math.floor(560 / K)));
  const heat = matrixHeatmap(frac, K, K, {
    rowLabels: r.classes,
    colLabels: r.classes,
    range: [0, 1],
    cellWidth: cell,
    cellHeight: cell,
  });
  const n = r.confusion.flat().reduce((a, b) => a + b, 0);
  return withTitle(heat, [
    `${r.variant}: accuracy ${(100 * r.accuracy).toFixed(1)}% on ${n} test segments`,
    "rows: true class, columns: predicted class (fraction of the row)",
  ]);
}

const pct = (v: number | null) => (v === null || !Number.isFinite(v) ? "-" : `${(100 * v).toFixed(1)}%`);
const num = (v: number | null) => (v === null || !Number.isFinite(v) ? "-" : v.toFixed(3));

/** A Markdown table with one row per variant: accuracy next to the chance levels and the test NLL. */
export function comparisonTable(reports: readonly VariantReport[]): string {
  const rows = [
    "| model | classes | test segments | accuracy | balanced accuracy | chance (1/K) | majority class | test NLL/frame |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of reports) {
    rows.push(
      `| ${r.variant} | ${r.num_classes} | ${r.test_segments} | ${pct(r.accuracy)} | ${
        pct(r.balanced_accuracy)
      } | ` +
        `${pct(r.chance_uniform)} | ${pct(r.majority_baseline)} (${r.majority_class}) | ${
          num(r.test_nll_per_frame)
        } |`,
    );
  }
  return rows.join("\n") + "\n";
}

/** A Markdown table of one variant's classes. */
export function perClassTable(r: VariantReport): string {
  const rows = [
    "| class | train segments | test segments | accuracy | test NLL/frame |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const c of r.per_class) {
    rows.push(
      `| ${c.class} | ${c.train_segments} | ${c.test_segments} | ${pct(c.accuracy)} | ${
        num(c.test_nll_per_frame)
      } |`,
    );
  }
  return rows.join("\n") + "\n";
}

/**
 * Maximum-likelihood classification with one generative model per class, and its scores.
 *
 * Given the log-likelihoods `L[i, k] = log p(x_i | class k)` of every test example under every class model
 * (a {@link LikelihoodTable}), the decision rule is the Bayes rule with class-conditional densities:
 *
 *   y_hat_i = argmax_k  L[i, k] + log pi_k
 *
 * with `pi` the class priors, or uniform priors (the rule of the original ESN-flow phone classifier, which
 * compares the per-class likelihoods alone) when no prior is given. Ties go to the lowest class index, and
 * a NaN likelihood never wins. The scores: accuracy, the confusion matrix `C[true, predicted]` (counts),
 * per-class accuracy (recall, `C[k, k] / sum_j C[k, j]`), balanced accuracy (their mean over classes with
 * examples), per-class NLL per frame, and the two chance levels a classifier must beat (uniform guessing,
 * `1 / K`, and always answering the most frequent training class).
 */

/** `log p(example i | class k)` for every example and class model, with the examples' true classes. */
export interface LikelihoodTable {
  /** Class names; column k belongs to `classes[k]`. */
  readonly classes: readonly string[];
  /** True class of each example, an index into `classes`. */
  readonly labels: Int32Array;
  /** Row-major `[examples, classes]` log-likelihoods in nats. */
  readonly logLik: Float64Array;
  /** Number of frames of each example (for per-frame NLL). */
  readonly frames: Int32Array;
}

/** Checks the shapes of a table; `what` is named in errors. */
export function checkTable(t: LikelihoodTable, what = "likelihood table"): void {
  const n = t.labels.length, k = t.classes.length;
  if (t.logLik.length !== n * k) {
    throw new Error(`Bad ${what}: ${t.logLik.length} log-likelihoods for ${n} examples x ${k} classes`);
  }
  if (t.frames.length !== n) {
    throw new Error(`Bad ${what}: ${t.frames.length} frame counts for ${n} examples`);
  }
  const bad = t.labels.findIndex((l) => !(l >= 0 && l < k));
  if (bad >= 0) throw new Error(`Bad ${what}: example ${bad} has label ${t.labels[bad]}, not in [0, ${k})`);
}

/**
 * The predicted class of each example: `argmax_k logLik[i, k] + logPrior[k]` (no prior: uniform).
 * Ties go to the lowest index; NaN never wins; an example whose every score is NaN gets class 0.
 */
export function classifyMl(t: LikelihoodTable, logPrior?: ArrayLike<number>): Int32Array {
  checkTable(t);
  const n = t.labels.length, k = t.classes.length;
  if (logPrior && logPrior.length !== k) {
    throw new Error(`classifyMl: ${logPrior.length} log priors for ${k} classes`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity, arg = -1;
    for (let c = 0; c < k; c++) {
      const s = t.logLik[i * k + c] + (logPrior ? logPrior[c] : 0);
      if (s > best || (arg < 0 && s === -Infinity)) {
        best = s;
        arg = c;
      }
    }
    out[i] = Math.max(arg, 0);
  }
  return out;
}

/** Log class priors from per-class counts (e.g. training segments): `log(n_k / sum n)`. */
export function logPriors(counts: ArrayLike<number>): Float64Array {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (!(total > 0)) throw new Error("logPriors: the class counts sum to 0");
  return Float64Array.from(counts, (c) => Math.log(c / total));
}

/** `C[true, predicted]` counts, row-major `[k, k]`. */
export function confusionMatrix(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  k: number,
): Int32Array {
  if (labels.length !== predicted.length) {
    throw new Error(`confusionMatrix: ${labels.length} labels but ${predicted.length} predictions`);
  }
  const m = new Int32Array(k * k);
  for (let i = 0; i < labels.length; i++) {
    if (!(labels[i] >= 0 && labels[i] < k && predicted[i] >= 0 && predicted[i] < k)) {
      throw new Error(
        `confusionMatrix: example ${i} has label ${labels[i]}, prediction ${predicted[i]}; k = ${k}`,
      );
    }
    m[labels[i] * k + predicted[i]]++;
  }
  return m;
}

/** Scores read off a confusion matrix. */
export interface ConfusionScores {
  /** `trace(C) / sum(C)` (NaN without examples). */
  readonly accuracy: number;
  /** Per class `C[k, k] / sum_j C[k, j]`, null for a class without examples. */
  readonly perClass: (number | null)[];
  /** Examples of each class (row sums). */
  readonly support: number[];
  /** Mean of the non-null per-class accuracies. */
  readonly balancedAccuracy: number;
}

/** Accuracy, per-class accuracy, support and balanced accuracy of a `[k, k]` confusion matrix. */
export function confusionScores(m: ArrayLike<number>, k: number): ConfusionScores {
  if (m.length !== k * k) throw new Error(`confusionScores: ${m.length} cells for ${k} classes`);
  let correct = 0, total = 0;
  const perClass: (number | null)[] = [], support: number[] = [];
  for (let r = 0; r < k; r++) {
    let row = 0;
    for (let c = 0; c < k; c++) row += m[r * k + c];
    correct += m[r * k + r];
    total += row;
    support.push(row);
    perClass.push(row > 0 ? m[r * k + r] / row : null);
  }
  const present = perClass.filter((a): a is number => a !== null);
  return {
    accuracy: total > 0 ? correct / total : NaN,
    perClass,
    support,
    balancedAccuracy: present.length ? present.reduce((a, b) => a + b, 0) / present.length : NaN,
  };
}

/**
 * Per class k: `-sum_{i: label i = k} logLik[i, k] / sum_{i: label i = k} frames_i`, the test NLL per frame
 * of each class model on its own class (null for a class without examples).
 */
export function perClassNllPerFrame(t: LikelihoodTable): (number | null)[] {
  checkTable(t);
  const k = t.classes.length;
  const sum = new Float64Array(k), frames = new Float64Array(k);
  for (let i = 0; i < t.labels.length; i++) {
    const c = t.labels[i];
    sum[c] -= t.logLik[i * k + c];
    frames[c] += t.frames[i];
  }
  return Array.from(sum, (s, c) => (frames[c] > 0 ? s / frames[c] : null));
}

/** The accuracies a classifier must beat. */
export interface ChanceLevels {
  /** Guessing uniformly among the K classes: `1 / K`. */
  readonly uniform: number;
  /** Always answering the most frequent training class: its share of the test examples. */
  readonly majority: number;
  /** That class. */
  readonly majorityClass: string;
}

/** Chance levels for test `labels` over `classes`, the majority class chosen by `trainCounts`. */
export function chanceLevels(
  classes: readonly string[],
  labels: ArrayLike<number>,
  trainCounts: ArrayLike<number>,
): ChanceLevels {
  if (trainCounts.length !== classes.length) {
    throw new Error(`chanceLevels: ${trainCounts.length} training counts for ${classes.length} classes`);
  }
  let top = 0;
  for (let c = 1; c < classes.length; c++) if (trainCounts[c] > trainCounts[top]) top = c;
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === top) hits++;
  return {
    uniform: 1 / classes.length,
    majority: labels.length ? hits / labels.length : NaN,
    majorityClass: classes[top],
  };
}

/**
 * Scoring examples under class models: the columns of a {@link LikelihoodTable}.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, Dataset, DensityModel } from "../runner/types.ts";
import type { LikelihoodTable } from "./ml.ts";

/**
 * `log p(x_i)` of every example of `split` under `model`, in the dataset's evaluation order, as float64
 * (the model computes in float32; summing the table in float64 keeps accuracy metrics exact).
 */
export async function exampleLogLik<B extends Batch>(
  model: DensityModel<B>,
  data: Dataset<B>,
  split: "train" | "val" | "test",
  batchSize: number,
): Promise<Float64Array> {
  const parts: Float32Array[] = [];
  for (const batch of data.eval(split, batchSize, null)) {
    try {
      await model.prepare?.(false);
      const lp = tf.tidy(() => model.logProb(batch));
      parts.push((await lp.data()) as Float32Array);
      lp.dispose();
    } finally {
      batch.dispose();
    }
  }
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Fills a likelihood table column by column: `column(k)` gives `log p(x_i | classes[k])` for every example
 * (typically: load class k's model, score, dispose it, so only one model is in memory at a time).
 */
export async function buildLikelihoodTable(
  classes: readonly string[],
  labels: Int32Array,
  frames: Int32Array,
  column: (k: number) => Promise<Float64Array>,
): Promise<LikelihoodTable> {
  const n = labels.length, K = classes.length;
  const logLik = new Float64Array(n * K);
  for (let k = 0; k < K; k++) {
    const col = await column(k);
    if (col.length !== n) {
      throw new Error(`Class "${classes[k]}" scored ${col.length} examples, expected ${n}`);
    }
    for (let i = 0; i < n; i++) logLik[i * K + k] = col[i];
  }
  return { classes, labels, frames, logLik };
}

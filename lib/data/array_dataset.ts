/**
 * An in-memory {@link Dataset} of fixed-length vectors: three `[N, D]` float32 splits held as
 * `Float32Array`s, handed out as {@link VectorBatch}es.
 *
 * Training batches follow a fresh permutation per epoch drawn from the run's {@link Rng}, and the last,
 * smaller batch is kept (PyTorch `DataLoader` with `drop_last=False`, as in the SNF runner), so every
 * example is seen once per epoch. Evaluation batches keep the stored order.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { Batch, Dataset } from "../runner/types.ts";

/** One split: `shape[0]` rows of `shape[1]` values, row-major in `data`. */
export interface ArraySplit {
  readonly data: Float32Array;
  readonly shape: readonly [number, number];
}

/** A batch of vectors `x: [size, D]`; `dims = size * D` (for bits per dimension). */
export interface VectorBatch extends Batch {
  readonly x: tf.Tensor2D;
  readonly size: number;
  readonly dims: number;
}

/** Wraps `data` as a split of rows of length `dim` (checks that the length divides). */
export function arraySplit(data: Float32Array, dim: number): ArraySplit {
  if (!(Number.isInteger(dim) && dim >= 1) || data.length % dim !== 0) {
    throw new Error(`arraySplit: ${data.length} values do not form rows of length ${dim}`);
  }
  return { data, shape: [data.length / dim, dim] };
}

function makeBatch(x: tf.Tensor2D): VectorBatch {
  const [size, d] = x.shape;
  return { x, size, dims: size * d, dispose: () => x.dispose() };
}

/** Train/val/test `[N, D]` splits in memory, batched as {@link VectorBatch}es (see the module doc). */
export class ArrayDataset implements Dataset<VectorBatch> {
  /** The three splits as given. */
  readonly splits: { readonly train: ArraySplit; readonly val: ArraySplit; readonly test: ArraySplit };
  /** Vector length D. */
  readonly dim: number;

  constructor(splits: { train: ArraySplit; val: ArraySplit; test: ArraySplit }) {
    const dim = splits.train.shape[1];
    for (const [name, s] of Object.entries(splits)) {
      const [n, d] = s.shape;
      if (s.data.length !== n * d) {
        throw new Error(`ArrayDataset: split "${name}" has ${s.data.length} values, shape [${n}, ${d}]`);
      }
      if (d !== dim) throw new Error(`ArrayDataset: split "${name}" has dimension ${d}, train has ${dim}`);
    }
    this.splits = splits;
    this.dim = dim;
  }

  get numTrain(): number {
    return this.splits.train.shape[0];
  }

  /** The split's rows `rows` as a new `[rows.length, D]` tensor. */
  #gather(split: ArraySplit, rows: ArrayLike<number>): tf.Tensor2D {
    const d = this.dim;
    const out = new Float32Array(rows.length * d);
    for (let i = 0; i < rows.length; i++) out.set(split.data.subarray(rows[i] * d, rows[i] * d + d), i * d);
    return tf.tensor2d(out, [rows.length, d]);
  }

  *train(batchSize: number, rng: Rng): Iterable<VectorBatch> {
    checkBatchSize(batchSize);
    const perm = rng.permutation(this.numTrain);
    for (let i = 0; i < perm.length; i += batchSize) {
      yield makeBatch(this.#gather(this.splits.train, perm.subarray(i, i + batchSize)));
    }
  }

  *eval(
    split: "train" | "val" | "test",
    batchSize: number,
    maxExamples: number | null,
  ): Iterable<VectorBatch> {
    checkBatchSize(batchSize);
    const s = this.splits[split];
    const n = maxExamples === null ? s.shape[0] : Math.min(maxExamples, s.shape[0]);
    const d = this.dim;
    for (let i = 0; i < n; i += batchSize) {
      const m = Math.min(batchSize, n - i);
      yield makeBatch(tf.tensor2d(s.data.slice(i * d, (i + m) * d), [m, d]));
    }
  }
}

function checkBatchSize(batchSize: number): void {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new Error(`ArrayDataset: batch size must be a positive integer, got ${batchSize}`);
  }
}

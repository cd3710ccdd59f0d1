/**
 * A Toeplitz-constrained linear layer: `y = x W^T + b` with `W[i, j] = p[i - j + inDim - 1]`
 * (`W: [outDim, inDim]`), i.e. constant along diagonals, `inDim + outDim - 1` free parameters instead of
 * `inDim * outDim`. Layout, index and initialisation (uniform in ±1/sqrt(inDim) for `p` and `b`) are those
 * of the reference `Toeplitz` module of `torch_esn_flow.py`, so its weights load unchanged.
 *
 * {@link rowsT} builds any row block of `W^T` (e.g. the part that multiplies the ESN state), and
 * {@link toeplitzRowsT} the same block of several layers side by side, differentiable in the free
 * parameters. On backends with synchronous reads (wasm, cpu) the block is filled on the host (each row of
 * `W^T` is a contiguous run of `p`) and its gradient sums `dy` along the diagonals on the host: with
 * `tf.gather`, whose gradient is an unsorted segment sum, a training step of the esn_flow_timit model on
 * wasm spent ~28% of its kernel time in GatherV2 (69 of 245 ms profiled) and ran 18-24% slower. WebGPU
 * (no synchronous reads under Deno) keeps `tf.gather`.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { hostKernelsApply, hostScratch, hostValues, tensorFrom } from "../wasm/tensor_io.ts";
import { uniformValues } from "./linear.ts";
import type { Module, NamedTensors } from "./module.ts";

/**
 * Indices into `p` of the rows `from..to-1` of `W^T` (`[to - from, outDim]`, row-major):
 * `W^T[j, i] = p[i - j + inDim - 1]`.
 */
export function toeplitzIndexT(inDim: number, outDim: number, from = 0, to = inDim): Int32Array {
  if (!(0 <= from && from <= to && to <= inDim)) {
    throw new Error(`toeplitzIndexT: rows ${from}..${to} are outside 0..${inDim}`);
  }
  const out = new Int32Array((to - from) * outDim);
  for (let j = from; j < to; j++) {
    for (let i = 0; i < outDim; i++) out[(j - from) * outDim + i] = i - j + inDim - 1;
  }
  return out;
}

/** `y = x W^T + b` with `W[i, j] = p[i - j + inDim - 1]` (see the module doc). */
export class ToeplitzLinear implements Module {
  /** The free parameters p, `[inDim + outDim - 1]`. */
  readonly params: tf.Variable;
  readonly bias: tf.Variable;
  #index = new Map<string, Int32Array>();

  constructor(readonly inDim: number, readonly outDim: number, rng: Rng) {
    if (!(Number.isInteger(inDim) && inDim >= 1 && Number.isInteger(outDim) && outDim >= 1)) {
      throw new Error(`ToeplitzLinear: dimensions must be integers >= 1, got ${inDim} -> ${outDim}`);
    }
    const bound = 1 / Math.sqrt(inDim);
    // tf.variable copies its initial value: tidy frees the temporary tensors (variables survive tidy).
    this.params = tf.tidy(() => tf.variable(tf.tensor1d(uniformValues(inDim + outDim - 1, bound, rng))));
    this.bias = tf.tidy(() => tf.variable(tf.tensor1d(uniformValues(outDim, bound, rng))));
  }

  /** Rows `from..to-1` of `W^T`, `[to - from, outDim]`, differentiable in `params`. */
  rowsT(from = 0, to = this.inDim): tf.Tensor2D {
    return toeplitzRowsT([this], from, to);
  }

  /** `toeplitzIndexT` for rows `from..to-1`, computed once per block. */
  indexT(from: number, to: number): Int32Array {
    const key = `${from}:${to}`;
    let idx = this.#index.get(key);
    if (!idx) {
      idx = toeplitzIndexT(this.inDim, this.outDim, from, to);
      this.#index.set(key, idx);
    }
    return idx;
  }

  /** `x: [batch, inDim]` to `[batch, outDim]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(x, this.rowsT()), this.bias));
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["params", this.params], ["bias", this.bias]];
  }
}

/**
 * Rows `from..to-1` of `W_k^T` of Toeplitz layers of equal sizes, side by side: `[to - from, K * outDim]`,
 *
 *   out[j - from, k * outDim + i] = p_k[i - j + inDim - 1],   dp_k[i - j + inDim - 1] += dy[j - from, k * outDim + i],
 *
 * in one op on wasm/cpu (host fill and host diagonal sums, see the module doc), `tf.gather` + `concat`
 * elsewhere. The same values and gradients as gathering each block.
 */
export function toeplitzRowsT(
  layers: readonly ToeplitzLinear[],
  from = 0,
  to = layers[0]?.inDim ?? 0,
): tf.Tensor2D {
  if (layers.length === 0) throw new Error("toeplitzRowsT: no layers given");
  const { inDim, outDim } = layers[0];
  for (const l of layers) {
    if (l.inDim !== inDim || l.outDim !== outDim) {
      throw new Error(`toeplitzRowsT: layer of ${l.inDim} -> ${l.outDim} differs from ${inDim} -> ${outDim}`);
    }
  }
  const rows = to - from;
  if (!hostKernelsApply()) {
    const idx = layers[0].indexT(from, to);
    // The index lives on the host (uploaded per call, a few kB) so the module owns no extra tensors.
    return tf.tidy(() => {
      const index = tf.tensor2d(idx, [rows, outDim], "int32");
      const blocks = layers.map((l) => tf.gather(l.params, index) as tf.Tensor2D);
      return blocks.length === 1 ? blocks[0] : tf.concat(blocks, 1);
    });
  }
  const k = layers.length, width = k * outDim;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const ps = args.slice(0, k) as tf.Tensor[];
    const out = hostScratch(rows * width);
    ps.forEach((p, c) => {
      const pv = hostValues(p);
      // Row j of W^T is p[inDim - 1 - j .. inDim - 1 - j + outDim): one contiguous copy per row.
      for (let j = from; j < to; j++) {
        const start = inDim - 1 - j;
        out.set(pv.subarray(start, start + outDim), (j - from) * width + c * outDim);
      }
    });
    return {
      value: tensorFrom<tf.Rank.R2>(out, [rows, width]),
      gradFunc: (dy: tf.Tensor) => {
        // Every sum first: `g` views the wasm heap, which a tensor allocation may grow (and detach).
        const g = hostValues(dy);
        const dps = ps.map((_, c) => {
          const dp = new Float32Array(inDim + outDim - 1);
          for (let j = from; j < to; j++) {
            const start = inDim - 1 - j, o = (j - from) * width + c * outDim;
            for (let i = 0; i < outDim; i++) dp[start + i] += g[o + i];
          }
          return dp;
        });
        return dps.map((dp) => tf.tensor1d(dp));
      },
    };
  });
  return f(...layers.map((l) => l.params)) as tf.Tensor2D;
}

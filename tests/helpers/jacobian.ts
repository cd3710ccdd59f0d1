/**
 * Exact Jacobians by autograd and their log-determinants in float64, for checking bijector log-dets.
 *
 * {@link batchJacobian} computes, for every example b of a batch, the full Jacobian
 * `J_b[k][i] = d y_b[k] / d x_b[i]` of a batch-wise map (inputs of any rank are flattened per example).
 * It takes one vector-Jacobian product per output dimension k, with the cotangent one-hot at k for every
 * example at once; this is exact (no finite differences) as long as examples do not interact.
 * {@link logAbsDet} is an LU factorisation with partial pivoting in float64, so the reference is limited
 * only by the float32 Jacobian entries, not by the determinant.
 */
import * as tf from "@tensorflow/tfjs";

/** Per-example Jacobians of `f` at `x`: `D*D` row-major Float64Arrays (row = output dim). */
export function batchJacobian(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): Float64Array[] {
  const batch = x.shape[0];
  const dim = x.size / batch;
  const rows: Float32Array[] = [];
  const outShape = tf.tidy(() => f(x).shape);
  const outDim = outShape.slice(1).reduce((a, b) => a * b, 1);
  if (outDim !== dim) {
    throw new Error(`batchJacobian: map is not square per example: input ${dim} dims, output ${outDim}`);
  }
  const gradFn = tf.grad(f);
  for (let k = 0; k < dim; k++) {
    rows.push(
      tf.tidy(() => {
        const dy = tf.oneHot(tf.fill([batch], k, "int32"), dim).reshape(outShape).toFloat();
        return gradFn(x, dy);
      }).dataSync() as Float32Array,
    );
  }
  const out: Float64Array[] = [];
  for (let b = 0; b < batch; b++) {
    const m = new Float64Array(dim * dim);
    for (let k = 0; k < dim; k++) {
      for (let i = 0; i < dim; i++) m[k * dim + i] = rows[k][b * dim + i];
    }
    out.push(m);
  }
  return out;
}

/**
 * log |det A| of a row-major `n*n` matrix by LU with partial pivoting (float64); `-Infinity` if singular.
 * Does not modify `a`.
 */
export function logAbsDet(a: ArrayLike<number>, n: number): number {
  if (a.length !== n * n) throw new Error(`logAbsDet: expected ${n * n} entries, got ${a.length}`);
  const m = Float64Array.from(a);
  let acc = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[p * n + c])) p = r;
    const pivot = m[p * n + c];
    if (pivot === 0) return -Infinity;
    if (p !== c) {
      for (let j = 0; j < n; j++) {
        const tmp = m[c * n + j];
        m[c * n + j] = m[p * n + j];
        m[p * n + j] = tmp;
      }
    }
    acc += Math.log(Math.abs(pivot));
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c] / pivot;
      if (f === 0) continue;
      for (let j = c; j < n; j++) m[r * n + j] -= f * m[c * n + j];
    }
  }
  return acc;
}

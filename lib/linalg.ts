/**
 * Dense linear algebra that TensorFlow.js lacks: LU decomposition with partial pivoting in float64 on
 * the CPU, and the tfjs ops built on it, {@link slogdet} and {@link inverse}, with their gradients.
 *
 * `P A = L U` (Doolittle: L unit lower triangular, U upper triangular, P a row permutation), so
 *
 *   log |det A| = sum_i log |U_ii|,      sign det A = sign(P) * prod_i sign(U_ii),
 *   A^{-1} = U^{-1} L^{-1} P,            A x = b  <=>  L U x = P b.
 *
 * Written here rather than taken from a library: the flows need log |det| of matrices up to ~800 x 800,
 * whose plain determinant (what ml-matrix and similar packages return) over- or underflows float64, and
 * they exchange row-major Float64Arrays with tfjs without per-row array copies. Cost: (2/3) n^3 for the
 * factorisation, 2 n^3 more for an inverse; all inner loops run over contiguous rows.
 */
import * as tf from "@tensorflow/tfjs";
import { hostData } from "./host_read.ts";

/** An LU factorisation `P A = L U` of a square row-major matrix (see {@link luFactor}). */
export class LU {
  /** @param lu L below the diagonal (unit diagonal implied) and U on and above it, row-major `n*n`.
   *  @param perm row `i` of `P A` is row `perm[i]` of A.  @param parity +1 or -1: sign of P. */
  constructor(
    readonly n: number,
    readonly lu: Float64Array,
    readonly perm: Int32Array,
    readonly parity: number,
  ) {}

  /** True when some pivot is exactly zero (A singular in float64). */
  get singular(): boolean {
    for (let i = 0; i < this.n; i++) if (this.lu[i * this.n + i] === 0) return true;
    return false;
  }

  /** `sign(det A)` (0 when singular) and `log |det A|` (-Infinity when singular). */
  slogdet(): { sign: number; logAbsDet: number } {
    const { n, lu } = this;
    let sign = this.parity;
    let logAbsDet = 0;
    for (let i = 0; i < n; i++) {
      const u = lu[i * n + i];
      if (u === 0) return { sign: 0, logAbsDet: -Infinity };
      if (u < 0) sign = -sign;
      logAbsDet += Math.log(Math.abs(u));
    }
    return { sign, logAbsDet };
  }

  /** Solves `A X = B` for `B`: `n * m` row-major (m right-hand sides; default 1). Throws if singular. */
  solve(b: ArrayLike<number>, m = 1): Float64Array {
    const { n, lu, perm } = this;
    if (b.length !== n * m) {
      throw new Error(`LU.solve: right-hand side has ${b.length} values, expected ${n} x ${m} = ${n * m}`);
    }
    if (this.singular) throw new Error(`LU.solve: the ${n} x ${n} matrix is singular (a zero pivot)`);
    const x = new Float64Array(n * m);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) x[i * m + j] = b[perm[i] * m + j];
    }
    // Forward substitution L y = P b, row by row so the inner loop runs along contiguous rows.
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < i; k++) {
        const l = lu[i * n + k];
        if (l === 0) continue;
        for (let j = 0; j < m; j++) x[i * m + j] -= l * x[k * m + j];
      }
    }
    // Back substitution U x = y.
    for (let i = n - 1; i >= 0; i--) {
      for (let k = i + 1; k < n; k++) {
        const u = lu[i * n + k];
        if (u === 0) continue;
        for (let j = 0; j < m; j++) x[i * m + j] -= u * x[k * m + j];
      }
      const d = lu[i * n + i];
      for (let j = 0; j < m; j++) x[i * m + j] /= d;
    }
    return x;
  }

  #inverse: Float64Array | null = null;

  /** `A^{-1}`, row-major, computed once (the returned array is shared: do not modify). Throws if singular. */
  inverse(): Float64Array {
    if (this.#inverse) return this.#inverse;
    const eye = new Float64Array(this.n * this.n);
    for (let i = 0; i < this.n; i++) eye[i * this.n + i] = 1;
    this.#inverse = this.solve(eye, this.n);
    return this.#inverse;
  }
}

/** Factorises a square row-major `n*n` matrix as `P A = L U` with partial pivoting (float64). */
export function luFactor(a: ArrayLike<number>, n: number): LU {
  if (!(Number.isInteger(n) && n >= 1) || a.length !== n * n) {
    throw new Error(
      `luFactor: expected a square n x n matrix with n >= 1, got ${a.length} values for n = ${n}`,
    );
  }
  const m = Float64Array.from(a);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  let parity = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    let best = Math.abs(m[c * n + c]);
    for (let r = c + 1; r < n; r++) {
      const v = Math.abs(m[r * n + c]);
      if (v > best) (best = v), (p = r);
    }
    if (p !== c) {
      const rowC = m.slice(c * n, c * n + n);
      m.copyWithin(c * n, p * n, p * n + n);
      m.set(rowC, p * n);
      const t = perm[c];
      perm[c] = perm[p];
      perm[p] = t;
      parity = -parity;
    }
    const pivot = m[c * n + c];
    if (pivot === 0) continue; // singular: leave the zero pivot, slogdet reports -Infinity
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c] / pivot;
      m[r * n + c] = f;
      if (f === 0) continue;
      for (let j = c + 1; j < n; j++) m[r * n + j] -= f * m[c * n + j];
    }
  }
  return new LU(n, m, perm, parity);
}

/**
 * Recently factorised matrices (n >= 64), keyed by content: evaluating a flow batch after batch with
 * unchanged weights factorises each weight matrix once instead of once per batch (an O(n^2) comparison
 * against an O(n^3) factorisation). Bounded to {@link LU_CACHE_BYTES}; least recently used entries go.
 */
const luCache: { data: Float32Array; lu: LU }[] = [];
const LU_CACHE_BYTES = 128 * 2 ** 20;

/** {@link luFactor} of a row-major `n*n` float32 matrix, through the cache above. */
export function cachedLu(data: Float32Array, n: number): LU {
  if (n < 64) return luFactor(data, n);
  const hit = luCache.findIndex((e) => e.lu.n === n && e.data.every((v, i) => v === data[i]));
  if (hit >= 0) {
    const [entry] = luCache.splice(hit, 1);
    luCache.push(entry);
    return entry.lu;
  }
  const lu = luFactor(data, n);
  luCache.push({ data: data.slice(), lu });
  // Data (4 bytes), factors (8) and a possible inverse (8) per entry.
  const bytes = () => luCache.reduce((acc, e) => acc + 20 * e.lu.n * e.lu.n, 0);
  while (luCache.length > 1 && bytes() > LU_CACHE_BYTES) luCache.shift();
  return lu;
}

/**
 * The LU factorisation of a square 2-D tensor (its values taken by `hostData`, factorised in float64;
 * cached by content). On WebGPU the tensor must have been read with `readToHost` first (`host_read.ts`).
 */
export function luOfTensor(w: tf.Tensor): LU {
  if (w.rank !== 2 || w.shape[0] !== w.shape[1]) {
    throw new Error(`luOfTensor: expected a square matrix, got shape [${w.shape.join(", ")}]`);
  }
  return cachedLu(hostData(w, "luOfTensor") as Float32Array, w.shape[0]);
}

/** Transpose of a row-major `n*n` matrix, as float32 for tfjs. */
export function transposed32(a: ArrayLike<number>, n: number): Float32Array {
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j];
  return out;
}

/**
 * `log |det W|` of a square matrix as a scalar tfjs op, with gradient `d/dW log|det W| = W^{-T}`
 * (Jacobi's formula). Runs an LU factorisation on the CPU ({@link luOfTensor}); -Infinity if singular.
 */
export const slogdet: (w: tf.Tensor2D) => tf.Scalar = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const lu = luOfTensor(args[0] as tf.Tensor);
    const value = tf.scalar(lu.slogdet().logAbsDet);
    const gradFunc = (dy: tf.Tensor) =>
      tf.tidy(() => tf.mul(dy, tf.tensor2d(transposed32(lu.inverse(), lu.n), [lu.n, lu.n])));
    return { value, gradFunc };
  },
) as (w: tf.Tensor2D) => tf.Scalar;

/**
 * `W^{-1}` of a square matrix as a tfjs op (LU in float64 on the CPU), with gradient
 * `dL/dW = -W^{-T} (dL/dW^{-1}) W^{-T}` (from d(W^{-1}) = -W^{-1} dW W^{-1}). Throws if singular.
 */
export const inverse: (w: tf.Tensor2D) => tf.Tensor2D = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const lu = luOfTensor(args[0] as tf.Tensor);
    const save = args[1] as tf.GradSaveFunc;
    const value = tf.tensor2d(Float32Array.from(lu.inverse()), [lu.n, lu.n]);
    save([value]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const invT = tf.transpose(saved[0]);
        return tf.neg(tf.matMul(tf.matMul(invT, dy), invT));
      });
    return { value, gradFunc };
  },
) as (w: tf.Tensor2D) => tf.Tensor2D;

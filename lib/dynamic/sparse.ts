/**
 * Sparse matrices for the echo state network reservoir, and the spectral norms that scale it.
 *
 * The reservoir has a fixed number of non-zeros per row (`conn_per_neuron`), so it is stored in a
 * row-compressed form with equal row lengths (`values`, `columns`: `[rows * perRow]`, row-major). Its
 * spectral radius (largest eigenvalue modulus of a non-symmetric matrix) is computed by restarted Arnoldi
 * iteration: the Hessenberg matrix of a Krylov space is small, and its eigenvalues (Ritz values) come from
 * ml-matrix's `EigenvalueDecomposition`; a full dense eigen-decomposition at N = 1000 takes ~30 s in
 * JavaScript (measured with ml-matrix 6.15.1), Arnoldi a few milliseconds.
 *
 * Saad, "Numerical Methods for Large Eigenvalue Problems", 2nd ed., SIAM 2011, ch. 6 (Arnoldi, explicit
 * restarts); Stewart, "A Krylov-Schur algorithm for large eigenproblems", SIMAX 23 (2002).
 */
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from "ml-matrix";
import type { Rng } from "../rng.ts";

/** A sparse matrix with exactly `perRow` stored entries per row (row-major, column indices per row). */
export interface FixedRowSparse {
  readonly rows: number;
  readonly cols: number;
  readonly perRow: number;
  readonly values: Float32Array;
  readonly columns: Int32Array;
}

/**
 * A random `n x n` matrix with `perRow` non-zeros per row at distinct uniformly chosen columns, values
 * standard normal (as the reference: `w[r, rng.choice(n, conn, replace=False)] = rng.normal(size=conn)`).
 */
export function randomSparse(n: number, perRow: number, rng: Rng): FixedRowSparse {
  if (!(Number.isInteger(perRow) && perRow >= 1 && perRow <= n)) {
    throw new Error(`randomSparse: conn_per_neuron must be an integer in [1, ${n}], got ${perRow}`);
  }
  const values = new Float32Array(n * perRow);
  const columns = new Int32Array(n * perRow);
  const picked = new Set<number>();
  for (let r = 0; r < n; r++) {
    picked.clear();
    // Rejection sampling of distinct columns: perRow << n in practice, so a few draws suffice.
    while (picked.size < perRow) picked.add(rng.int(n));
    const cols = [...picked].sort((a, b) => a - b);
    for (let k = 0; k < perRow; k++) {
      columns[r * perRow + k] = cols[k];
      values[r * perRow + k] = rng.normal();
    }
  }
  return { rows: n, cols: n, perRow, values, columns };
}

/** `y = A x` in float64 for a single vector. */
export function sparseMatVec(a: FixedRowSparse, x: Float64Array, y: Float64Array): void {
  const { rows, perRow, values, columns } = a;
  for (let r = 0, o = 0; r < rows; r++) {
    let s = 0;
    for (let k = 0; k < perRow; k++, o++) s += values[o] * x[columns[o]];
    y[r] = s;
  }
}

/** The dense row-major `rows x cols` matrix of `a` (tests and small problems). */
export function sparseToDense(a: FixedRowSparse): Float64Array {
  const out = new Float64Array(a.rows * a.cols);
  for (let r = 0; r < a.rows; r++) {
    for (let k = 0; k < a.perRow; k++) {
      out[r * a.cols + a.columns[r * a.perRow + k]] += a.values[r * a.perRow + k];
    }
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Tuning of {@link spectralRadius} (the defaults suit reservoirs up to a few thousand neurons). */
export interface ArnoldiOptions {
  /** Krylov space dimension m (default min(n, 40)). */
  readonly krylov?: number;
  /** Maximum number of restarts (default 500). */
  readonly maxRestarts?: number;
  /** Relative residual at which the dominant Ritz pair is accepted (default 1e-9). */
  readonly tol?: number;
}

/**
 * Spectral radius `max |lambda_i(A)|` of a square sparse matrix by thick-restarted Arnoldi
 * (Stewart's Krylov-Schur restart in Ritz-vector form; Saad 2011, sec. 6.2-6.4; Stewart, SIMAX 23, 2002).
 *
 * A cycle extends an orthonormal basis V to m vectors with `A V_m = V_m H_m + beta v_{m+1} e_m^T`, where
 * the m x m matrix H_m is Hessenberg apart from one "arrow" row after a restart. The Ritz value of largest
 * modulus (eigenvalues of H_m by ml-matrix) is accepted when its residual `beta |e_m^T y| / ||y||` is
 * below `tol * |lambda|`. Otherwise the basis shrinks to the real span Y of the k = m/2 largest Ritz
 * vectors (a complex pair contributes its real and imaginary parts): since H Y = Y G, the relation
 * `A (V Y) = (V Y) G + beta v_{m+1} (e_m^T Y)` holds exactly and Arnoldi continues from v_{m+1}. Keeping
 * many Ritz vectors, not one, is what stops the iteration from settling on a subdominant eigenvalue.
 * When m reaches n, or the Krylov space becomes invariant (beta = 0), the Ritz values are exact.
 * Not converged after `maxRestarts` restarts: an error naming the residual, never a last estimate.
 */
export function spectralRadius(a: FixedRowSparse, rng: Rng, opts: ArnoldiOptions = {}): number {
  const n = a.rows;
  if (a.cols !== n) throw new Error(`spectralRadius: matrix must be square, got ${a.rows} x ${a.cols}`);
  const m = Math.min(n, Math.max(opts.krylov ?? 40, 4));
  const tol = opts.tol ?? 1e-9;
  const h: number[][] = Array.from({ length: m + 1 }, () => new Array<number>(m).fill(0));
  const v0 = new Float64Array(n);
  for (let i = 0; i < n; i++) v0[i] = rng.normal();
  scale(v0, 1 / Math.sqrt(dot(v0, v0)));
  let basis: Float64Array[] = [v0];
  const maxRestarts = opts.maxRestarts ?? 500;
  let relResidual = Infinity;
  for (let restart = 0; restart <= maxRestarts; restart++) {
    const size = extend(a, basis, h, m);
    const beta = size < m ? 0 : h[m][m - 1];
    const ritz = ritzPairs(h, size);
    const best = ritz.modulus[0];
    if (beta === 0 || best === 0) return best;
    const top = ritz.vectors[0];
    const yNorm = Math.sqrt(top.reduce((s, c) => s + dot(c, c), 0));
    const residual = beta * Math.hypot(...top.map((c) => c[size - 1])) / yNorm;
    if (residual <= tol * best || size === n) return best;
    relResidual = residual / best;
    // Real basis of the k largest Ritz vectors, orthonormalised (k ~ m/2, complex pairs kept whole).
    const ys: Float64Array[] = [];
    for (const parts of ritz.vectors) {
      if (ys.length >= Math.floor(m / 2)) break;
      for (const p of parts) {
        const y = p.slice();
        for (let pass = 0; pass < 2; pass++) for (const q of ys) axpy(y, q, -dot(y, q));
        const norm = Math.sqrt(dot(y, y));
        if (norm > 1e-10) ys.push(scale(y, 1 / norm));
      }
    }
    const k = ys.length;
    const kept = ys.map((y) => {
      const w = new Float64Array(n);
      for (let j = 0; j < size; j++) axpy(w, basis[j], y[j]);
      return w;
    });
    // G = Y^T H Y (k x k), the arrow row beta * e_m^T Y, and v_{k+1} = v_{m+1}.
    const g = ys.map((yi) =>
      ys.map((yj) => {
        let s = 0;
        for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) s += yi[r] * h[r][c] * yj[c];
        return s;
      })
    );
    for (const row of h) row.fill(0);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i][j] = g[i][j];
    for (let j = 0; j < k; j++) h[k][j] = beta * ys[j][size - 1];
    basis = [...kept, basis[size]];
  }
  // An unconverged estimate would scale the reservoir to a wrong radius without anyone noticing.
  throw new Error(
    `spectralRadius: Arnoldi did not converge for the ${n} x ${n} matrix after ${maxRestarts} restarts ` +
      `(Krylov size ${m}): relative residual ${relResidual.toExponential(2)} > tol ${tol}. ` +
      `The reservoir cannot be scaled to its spectral radius; try another seed or conn_per_neuron`,
  );
}

function scale(v: Float64Array, c: number): Float64Array {
  for (let i = 0; i < v.length; i++) v[i] *= c;
  return v;
}

/** `y += c x`. */
function axpy(y: Float64Array, x: Float64Array, c: number): void {
  for (let i = 0; i < y.length; i++) y[i] += c * x[i];
}

/**
 * Arnoldi steps from `basis.length - 1` up to m vectors (classical Gram-Schmidt, applied twice), filling
 * `h`; `basis` ends with v_{m+1}. Returns the basis size reached (< m when the space became invariant).
 */
function extend(a: FixedRowSparse, basis: Float64Array[], h: number[][], m: number): number {
  const n = a.rows;
  for (let j = basis.length - 1; j < m; j++) {
    const w = new Float64Array(n);
    sparseMatVec(a, basis[j], w);
    const scaleW = Math.sqrt(dot(w, w));
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i <= j; i++) {
        const c = dot(w, basis[i]);
        h[i][j] += c;
        axpy(w, basis[i], -c);
      }
    }
    const beta = Math.sqrt(dot(w, w));
    if (beta <= 1e-12 * scaleW || beta === 0) return j + 1;
    h[j + 1][j] = beta;
    basis.push(scale(w, 1 / beta));
  }
  return m;
}

/**
 * Eigenpairs of the leading `size x size` block of `h`, by decreasing modulus; each vector is `[re]` or
 * `[re, im]` (JAMA layout of ml-matrix: a complex pair stores real and imaginary parts in two columns).
 */
function ritzPairs(h: number[][], size: number): { modulus: number[]; vectors: Float64Array[][] } {
  const hm = new Matrix(size, size);
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) hm.set(i, j, h[i][j]);
  const evd = new EigenvalueDecomposition(hm, { assumeSymmetric: false });
  const re = evd.realEigenvalues, im = evd.imaginaryEigenvalues, vecs = evd.eigenvectorMatrix;
  const col = (c: number) => Float64Array.from({ length: size }, (_, i) => vecs.get(i, c));
  const pairs: { modulus: number; parts: Float64Array[] }[] = [];
  for (let i = 0; i < size; i++) {
    if (im[i] === 0) pairs.push({ modulus: Math.hypot(re[i]), parts: [col(i)] });
    else if (im[i] > 0) pairs.push({ modulus: Math.hypot(re[i], im[i]), parts: [col(i), col(i + 1)] });
  }
  pairs.sort((p, q) => q.modulus - p.modulus);
  return { modulus: pairs.map((p) => p.modulus), vectors: pairs.map((p) => p.parts) };
}

/** Largest singular value of a dense row-major `rows x cols` matrix (ml-matrix SVD). */
export function largestSingularValue(values: ArrayLike<number>, rows: number, cols: number): number {
  const m = new Matrix(rows, cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m.set(r, c, values[r * cols + c]);
  const svd = new SingularValueDecomposition(rows >= cols ? m : m.transpose(), {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
  });
  return Math.max(...svd.diagonal);
}

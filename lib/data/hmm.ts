/**
 * Hidden Markov models with diagonal Gaussian-mixture emissions: a known generative process for
 * sequences whose exact log-likelihood is computable, to check what a sequence model learns.
 *
 *   s_1 ~ pi,   s_t | s_{t-1} ~ A[s_{t-1}, .],   x_t | s_t ~ sum_m w[s_t, m] N(mu[s_t, m], diag(sigma[s_t, m]^2))
 *
 * The log-likelihood log p(x_1..x_T) = log sum over state paths is computed by the forward algorithm in
 * log space: alpha_1(s) = log pi_s + log b_s(x_1), alpha_t(s) = log b_s(x_t) + logsumexp_r(alpha_{t-1}(r) +
 * log A[r, s]), log p = logsumexp_s alpha_T(s) (Rabiner, Proc. IEEE 77(2), 1989, sec. III-A).
 */
import type { Rng } from "../rng.ts";

/** The parameters of a Gaussian-mixture HMM with S states, M components per state, frames of D. */
export interface GmmHmm {
  readonly numStates: number;
  readonly numMix: number;
  readonly frameDim: number;
  /** Initial distribution pi, `[S]`. */
  readonly initial: Float64Array;
  /** Row-stochastic transitions A, `[S, S]` row-major. */
  readonly transition: Float64Array;
  /** Mixture weights per state, `[S, M]`. */
  readonly weights: Float64Array;
  /** Means and standard deviations, `[S, M, D]`. */
  readonly means: Float64Array;
  readonly stds: Float64Array;
}

/** Sizes and parameter ranges for {@link randomGmmHmm}. */
export interface RandomHmmOptions {
  readonly numStates: number;
  readonly numMix: number;
  readonly frameDim: number;
  /** Standard deviation of the component means around 0 (default 2). */
  readonly meanScale?: number;
  /** Range of the per-dimension standard deviations (default [0.3, 1]). */
  readonly stdRange?: readonly [number, number];
  /** Expected self-transition probability; the rest is spread at random (default 0.7). */
  readonly selfLoop?: number;
}

function normalise(v: Float64Array): Float64Array {
  let s = 0;
  for (const e of v) s += e;
  for (let i = 0; i < v.length; i++) v[i] /= s;
  return v;
}

/** An HMM with random parameters drawn from `rng` (one call per class gives different classes). */
export function randomGmmHmm(opts: RandomHmmOptions, rng: Rng): GmmHmm {
  const { numStates: s, numMix: m, frameDim: d } = opts;
  for (const [key, v] of [["num_states", s], ["num_mix", m], ["frame_dim", d]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new Error(`randomGmmHmm: ${key} must be an integer >= 1, got ${v}`);
    }
  }
  const scale = opts.meanScale ?? 2, [lo, hi] = opts.stdRange ?? [0.3, 1], stay = opts.selfLoop ?? 0.7;
  const initial = normalise(Float64Array.from({ length: s }, () => 0.5 + rng.uniform()));
  const transition = new Float64Array(s * s);
  for (let r = 0; r < s; r++) {
    const row = normalise(Float64Array.from({ length: s }, () => 0.1 + rng.uniform()));
    for (let c = 0; c < s; c++) {
      transition[r * s + c] = s === 1 ? 1 : (r === c ? stay : 0) + (1 - stay) * row[c];
    }
  }
  const weights = new Float64Array(s * m);
  for (let r = 0; r < s; r++) {
    weights.set(normalise(Float64Array.from({ length: m }, () => 0.5 + rng.uniform())), r * m);
  }
  const means = Float64Array.from({ length: s * m * d }, () => scale * rng.normal());
  const stds = Float64Array.from({ length: s * m * d }, () => lo + (hi - lo) * rng.uniform());
  return { numStates: s, numMix: m, frameDim: d, initial, transition, weights, means, stds };
}

/** A sequence of `length` frames (`length * D` values) and its hidden states. */
export function sampleGmmHmm(hmm: GmmHmm, length: number, rng: Rng): { x: Float32Array; states: Int32Array } {
  const { numStates: s, numMix: m, frameDim: d } = hmm;
  const x = new Float32Array(length * d), states = new Int32Array(length);
  let state = rng.categorical(hmm.initial);
  for (let t = 0; t < length; t++) {
    if (t > 0) state = rng.categorical(hmm.transition.subarray(state * s, (state + 1) * s));
    states[t] = state;
    const c = rng.categorical(hmm.weights.subarray(state * m, (state + 1) * m));
    const o = (state * m + c) * d;
    for (let j = 0; j < d; j++) x[t * d + j] = hmm.means[o + j] + hmm.stds[o + j] * rng.normal();
  }
  return { x, states };
}

function logSumExp(v: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) max = Math.max(max, v[i]);
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i] - max);
  return max + Math.log(s);
}

/** `log b_s(x)` for every state s of the frame `x` (D values at `offset`). */
export function emissionLogProbs(hmm: GmmHmm, x: ArrayLike<number>, offset = 0): Float64Array {
  const { numStates: s, numMix: m, frameDim: d } = hmm;
  const out = new Float64Array(s), comp = new Float64Array(m);
  for (let r = 0; r < s; r++) {
    for (let c = 0; c < m; c++) {
      const o = (r * m + c) * d;
      let lp = Math.log(hmm.weights[r * m + c]) - 0.5 * d * Math.log(2 * Math.PI);
      for (let j = 0; j < d; j++) {
        const u = (x[offset + j] - hmm.means[o + j]) / hmm.stds[o + j];
        lp -= 0.5 * u * u + Math.log(hmm.stds[o + j]);
      }
      comp[c] = lp;
    }
    out[r] = logSumExp(comp);
  }
  return out;
}

/** Exact `log p(x_1..x_T)` of a sequence (`T * D` values) by the forward algorithm. */
export function gmmHmmLogProb(hmm: GmmHmm, x: ArrayLike<number>): number {
  const { numStates: s, frameDim: d } = hmm;
  const steps = x.length / d;
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`gmmHmmLogProb: ${x.length} values are not T >= 1 frames of ${d}`);
  }
  const logA = hmm.transition.map(Math.log);
  let alpha = emissionLogProbs(hmm, x, 0).map((e, r) => e + Math.log(hmm.initial[r]));
  const terms = new Float64Array(s);
  for (let t = 1; t < steps; t++) {
    const b = emissionLogProbs(hmm, x, t * d);
    const next = new Float64Array(s);
    for (let c = 0; c < s; c++) {
      for (let r = 0; r < s; r++) terms[r] = alpha[r] + logA[r * s + c];
      next[c] = b[c] + logSumExp(terms);
    }
    alpha = next;
  }
  return logSumExp(alpha);
}

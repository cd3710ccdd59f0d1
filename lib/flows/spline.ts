/**
 * Monotonic rational-quadratic spline activation (Durkan, Bekasov, Murray & Papamakarios 2019, "Neural
 * Spline Flows", NeurIPS, Sec. 3.1 and App. A), with linear (identity) tails outside `[-B, B]`.
 *
 * K bins with widths w_k, heights h_k (softmax of the raw parameters, at least `minBinWidth` /
 * `minBinHeight`) and knot derivatives
 *
 *   d_k = minDerivative + softplus(raw_k + d*),   d* = log(e^(1 - minDerivative) - 1),   raw_0 = raw_K = 0,
 *
 * so d_0 = d_K = 1 at the boundary (the tails join smoothly) and, with raw parameters near 0, every
 * interior d_k is near 1 too: the spline starts as (nearly) the identity. This is the reference's
 * "initialize derivatives to 1" (`snf/layers/splines/rational_quadratic.py`, d* added to every padded raw
 * derivative); adding c to the boundary knots only would start the interior knot slopes at
 * softplus(0) = 0.69 instead. In bin k, with xi = (x - x_k) / w_k and s_k = h_k / w_k:
 *
 *   y = y_k + h_k (s_k xi^2 + d_k xi (1 - xi)) / (s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi))
 *   dy/dx = s_k^2 (d_{k+1} xi^2 + 2 s_k xi (1 - xi) + d_k (1 - xi)^2) / (denominator)^2
 *
 * and the inverse solves the quadratic `a xi^2 + b xi + c = 0` by its numerically stable root
 * `xi = 2c / (-b - sqrt(b^2 - 4ac))` (paper eqs. 6-8). Parameters are per value (`individual`, as the
 * reference's experiments) or shared by all values; raw parameters start at N(0, 0.01^2) as there.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Bijector, Transformed } from "./bijector.ts";
import { constantOf, sumPerExample } from "./per_example.ts";

/** Options of {@link SplineActivation}. */
export interface SplineOptions {
  /** Number of bins K (default 5). */
  readonly bins?: number;
  /** Half-width B of the spline's interval (default 10, the reference's). */
  readonly tailBound?: number;
  /** One spline per value (default true) or one shared by all values. */
  readonly individual?: boolean;
  /** Standard deviation of the raw parameters at initialisation (default 0.01). */
  readonly initStd?: number;
}

const MIN_BIN_WIDTH = 1e-3, MIN_BIN_HEIGHT = 1e-3, MIN_DERIVATIVE = 1e-3;
/** Added to every raw knot derivative: softplus(c) + MIN_DERIVATIVE = 1, the identity's slope. */
export const DERIVATIVE_SHIFT = Math.log(Math.exp(1 - MIN_DERIVATIVE) - 1);

/** Knot positions `[..., K + 1]` from raw bin sizes `[..., K]`, spanning exactly `[-B, B]`. */
function knots(raw: tf.Tensor, minSize: number, bound: number): tf.Tensor {
  const k = raw.shape[raw.rank - 1];
  const sizes = tf.add(tf.mul(tf.softmax(raw), 1 - minSize * k), minSize);
  const cum = tf.cumsum(sizes, raw.rank - 1);
  const inner = tf.slice(cum, new Array(raw.rank).fill(0), [...raw.shape.slice(0, -1), k - 1]);
  const lead = raw.shape.slice(0, -1);
  return tf.concat([
    tf.fill([...lead, 1], -bound),
    tf.sub(tf.mul(inner, 2 * bound), bound),
    tf.fill([...lead, 1], bound),
  ], -1);
}

/** One-hot `[..., K]` of the bin holding each value of `v` (`[...]`), given knots `[..., K + 1]`. */
function binOneHot(v: tf.Tensor, edges: tf.Tensor): tf.Tensor {
  const k = edges.shape[edges.rank - 1] - 1;
  const inner = tf.slice(edges, new Array(edges.rank).fill(0).map((_, i) => (i === edges.rank - 1 ? 1 : 0)), [
    ...edges.shape.slice(0, -1),
    k - 1,
  ]);
  const ge = tf.cast(tf.greaterEqual(tf.expandDims(v, -1), inner), "float32");
  const ones = tf.onesLike(tf.slice(ge, new Array(ge.rank).fill(0), [...ge.shape.slice(0, -1), 1]));
  const g = tf.concat([ones, ge, tf.zerosLike(ones)], -1); // g_j = [v >= knot_j], knot_0 = -inf, knot_K = +inf
  const lo = tf.slice(g, new Array(g.rank).fill(0), [...g.shape.slice(0, -1), k]);
  const hi = tf.slice(g, new Array(g.rank).fill(0).map((_, i) => (i === g.rank - 1 ? 1 : 0)), [
    ...g.shape.slice(0, -1),
    k,
  ]);
  return tf.sub(lo, hi);
}

/** Picks, per value, entry k of `t: [..., K]` (or `[..., K + 1]` with `shift` 0 / 1) for its bin. */
function pick(t: tf.Tensor, onehot: tf.Tensor, shift = 0): tf.Tensor {
  const k = onehot.shape[onehot.rank - 1];
  const part = tf.slice(t, new Array(t.rank).fill(0).map((_, i) => (i === t.rank - 1 ? shift : 0)), [
    ...t.shape.slice(0, -1),
    k,
  ]);
  return tf.sum(tf.mul(part, onehot), -1);
}

/** The spline activation (see the module comment). Parameters: `widths`, `heights`, `derivatives`. */
export class SplineActivation implements Bijector {
  readonly widths: tf.Variable;
  readonly heights: tf.Variable;
  readonly derivatives: tf.Variable;
  readonly bound: number;

  /** `dim` is the number of values per example (used when `individual`). */
  constructor(readonly dim: number, rng: Rng, opts: SplineOptions = {}) {
    const k = opts.bins ?? 5;
    if (!(Number.isInteger(k) && k >= 2)) throw new Error(`SplineActivation: bins must be >= 2, got ${k}`);
    this.bound = opts.tailBound ?? 10;
    const lead = opts.individual === false ? [] : [dim];
    const std = opts.initStd ?? 0.01;
    const param = (n: number) =>
      tf.variable(tf.tensor(rng.normals(lead.reduce((a, b) => a * b, 1) * n, std), [...lead, n]));
    this.widths = param(k);
    this.heights = param(k);
    this.derivatives = param(k - 1);
  }

  /** Knots `[P, K+1]` in x and y and derivatives `[P, K+1]` (P = dim, or 1 when shared). */
  #spline(): { xs: tf.Tensor; ys: tf.Tensor; ds: tf.Tensor } {
    const as2d = (v: tf.Variable) => (v.rank === 1 ? v.expandDims(0) : v);
    const raw = tf.pad(as2d(this.derivatives), [[0, 0], [1, 1]]);
    return {
      xs: knots(as2d(this.widths), MIN_BIN_WIDTH, this.bound),
      ys: knots(as2d(this.heights), MIN_BIN_HEIGHT, this.bound),
      ds: tf.add(tf.softplus(tf.add(raw, DERIVATIVE_SHIFT)), MIN_DERIVATIVE),
    };
  }

  #apply(v: tf.Tensor, inverse: boolean): Transformed {
    return tf.tidy(() => {
      const flat = v.reshape([v.shape[0], -1]);
      if (this.widths.rank === 2 && flat.shape[1] !== this.dim) {
        throw new Error(`SplineActivation: expected ${this.dim} values per example, got shape [${v.shape}]`);
      }
      const { xs, ys, ds } = this.#spline();
      const bound = this.bound;
      const inside = constantOf(
        (v) => tf.logicalAnd(tf.greaterEqual(v, -bound), tf.lessEqual(v, bound)),
        flat,
      );
      // Clipping keeps the unused branch finite, so tf.where passes no NaN into the gradient.
      const u = tf.clipByValue(flat, -this.bound, this.bound);
      const onehot = constantOf(binOneHot, u, inverse ? ys : xs);
      const x0 = pick(xs, onehot), w = tf.sub(pick(xs, onehot, 1), x0);
      const y0 = pick(ys, onehot), h = tf.sub(pick(ys, onehot, 1), y0);
      const d0 = pick(ds, onehot), d1 = pick(ds, onehot, 1);
      const s = tf.div(h, w);
      const curv = tf.sub(tf.add(d0, d1), tf.mul(s, 2));
      let xi: tf.Tensor;
      if (inverse) {
        const dy = tf.sub(u, y0);
        const a = tf.add(tf.mul(dy, curv), tf.mul(h, tf.sub(s, d0)));
        const b = tf.sub(tf.mul(h, d0), tf.mul(dy, curv));
        const c = tf.neg(tf.mul(s, dy));
        const disc = tf.relu(tf.sub(tf.square(b), tf.mul(tf.mul(a, c), 4)));
        xi = tf.div(tf.mul(c, 2), tf.sub(tf.neg(b), tf.sqrt(disc)));
      } else {
        xi = tf.div(tf.sub(u, x0), w);
      }
      const t1 = tf.mul(xi, tf.sub(1, xi));
      const denom = tf.add(s, tf.mul(curv, t1));
      const dnum = tf.mul(
        tf.square(s),
        tf.add(
          tf.add(tf.mul(d1, tf.square(xi)), tf.mul(tf.mul(s, 2), t1)),
          tf.mul(d0, tf.square(tf.sub(1, xi))),
        ),
      );
      const logDeriv = tf.sub(tf.log(dnum), tf.mul(tf.log(denom), 2)); // log dy/dx of the forward map
      const out = inverse
        ? tf.add(tf.mul(xi, w), x0)
        : tf.add(y0, tf.div(tf.mul(h, tf.add(tf.mul(s, tf.square(xi)), tf.mul(d0, t1))), denom));
      const y = tf.where(inside, out, flat);
      const ld = tf.where(inside, logDeriv, tf.zerosLike(logDeriv));
      return { y: y.reshape(v.shape), logDet: inverse ? tf.neg(sumPerExample(ld)) : sumPerExample(ld) };
    });
  }

  forward(x: tf.Tensor): Transformed {
    return this.#apply(x, false);
  }

  inverse(z: tf.Tensor): Transformed {
    return this.#apply(z, true);
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["widths", this.widths], ["heights", this.heights], ["derivatives", this.derivatives]];
  }
}

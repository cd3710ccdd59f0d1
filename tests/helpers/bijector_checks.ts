/**
 * One generic test over every bijector (the zuko / flowjax habit): call {@link checkBijector} from a test
 * with a table of factories, each giving a bijector, an input batch and an optional context.
 *
 * ```ts
 * Deno.test("coupling layers satisfy the bijector checks", async (t) => {
 *   for (const [name, make] of Object.entries(TABLE)) await checkBijector(t, name, make);
 * });
 * ```
 *
 * `make(seed)` must build a *new* instance whose parameters depend on `seed` (used by the save/restore
 * check), initialised non-trivially: a zero-initialised output layer makes the map independent of the
 * other weights, so their gradients would be zero and the checks vacuous. Inputs may be `[B, D]` vectors
 * or `[B, H, W, C]` images (flattened per example for the Jacobian); keep `D` small (<= 64) for speed.
 *
 * Tolerances, stated once, element-wise relative to `1 + |expected|`, set from the errors measured over
 * the 25 bijector cases checked in flows_test, snf_layers_test and esn_flow_layer_test (float32, wasm).
 * Round trip: 4e-6; measured at most 3.8e-7 (SplineActivation; couplings, convolutions and the ESN flow
 * 3e-8 to 2.6e-7): float32 rounding is ~6e-8 per op, and an affine coupling multiplies it by exp(|s|).
 * A wrong inverse misses by O(1). Log-det: 3e-6, both against the log-determinant in float64 of the
 * float32 autograd Jacobian (measured at most 1.9e-7) and inverse against forward (at most 2.7e-7). A
 * bijector with larger scales or deeper stacks passes its own `tolRoundTrip` / `tolLogDet`, measured.
 *
 * Each check is also exported on its own (throwing an AssertionError), so that a test can show that a
 * deliberately broken bijector is caught.
 */
import * as tf from "@tensorflow/tfjs";
import { AssertionError } from "node:assert/strict";
import type { Bijector, Transformed } from "../../lib/flows/bijector.ts";
import { disposeModule } from "../../lib/nn/module.ts";
import { Rng } from "../../lib/rng.ts";
import { batchJacobian, logAbsDet } from "./jacobian.ts";

/** What a factory in a bijector table returns. */
export interface BijectorCase {
  readonly bijector: Bijector;
  /** A batch in the data domain, `[B, ...]`. */
  readonly x: tf.Tensor;
  /** Optional context `[B, contextDim]`, passed to forward and inverse. */
  readonly context?: tf.Tensor;
  /** A batch in the latent domain for `forward(inverse(z))` (default: standard normals shaped as `x`). */
  readonly z?: tf.Tensor;
}

/** Builds a fresh case; parameters must depend on `seed`. */
export type MakeCase = (seed: number) => BijectorCase;

/** The default tolerances (see the module doc). */
const TOL_ROUND_TRIP = 4e-6, TOL_LOG_DET = 3e-6;

export interface CheckOptions {
  /** Round-trip tolerance relative to `1 + |x|` (default 4e-6). */
  readonly tolRoundTrip?: number;
  /** Log-det tolerance relative to `1 + |logDet|` (default 3e-6). */
  readonly tolLogDet?: number;
  /** Skip the autograd-Jacobian log-det check (e.g. very large inputs). */
  readonly skipJacobian?: boolean;
  /** Require a non-zero gradient for every parameter (default true); false: finite, and some non-zero. */
  readonly trainableAll?: boolean;
  /** The loss whose gradient is checked (default: a Gaussian NLL plus a random projection of `y`). */
  readonly loss?: (out: Transformed) => tf.Scalar;
}

/** Runs every check as a `t.step` sub-case under `name`; disposes the instances it made. */
export async function checkBijector(
  t: Deno.TestContext,
  name: string,
  make: MakeCase,
  opts: CheckOptions = {},
): Promise<void> {
  const c = make(0);
  try {
    await t.step(name, async (t) => {
      await t.step("forward and inverse are finite, shaped like the input", () => checkFinite(c));
      await t.step("inverse(forward(x)) == x and forward(inverse(z)) == z", () => checkRoundTrip(c, opts));
      if (!opts.skipJacobian) {
        await t.step("forward logDet == log|det J| of the autograd Jacobian", () => checkJacobian(c, opts));
      }
      await t.step("inverse logDet == -forward logDet", () => checkInverseLogDet(c, opts));
      if (c.context) await t.step("changing the context changes the output", () => checkContext(c));
      const none = c.bijector.parameters().length === 0;
      await t.step({
        name: `every parameter gets a finite, non-zero gradient${
          none ? " (ignored: it has no parameters)" : ""
        }`,
        ignore: none,
        fn: () => checkGradients(c, opts),
      });
      await t.step("save/restore into another seed's instance gives the same output", () => {
        const fresh = make(1);
        try {
          checkSaveRestore(c, fresh.bijector);
        } finally {
          disposeCase(fresh);
        }
      });
      await t.step("tensor count does not grow across forward+gradient steps", () => checkNoLeak(c, opts));
    });
  } finally {
    disposeCase(c);
  }
}

/** Disposes the bijector's variables and the case's tensors. */
export function disposeCase(c: BijectorCase): void {
  disposeModule(c.bijector);
  for (const v of [c.x, c.context, c.z]) v?.dispose();
}

function fail(message: string): never {
  throw new AssertionError({ message });
}

/** Asserts `|a - b| <= tol * (1 + |b|)` elementwise, naming the worst element. */
export function assertClose(actual: tf.Tensor, expected: tf.Tensor, tol: number, what: string): void {
  if (actual.shape.join() !== expected.shape.join()) {
    fail(`${what}: shape [${actual.shape}] != [${expected.shape}]`);
  }
  const a = actual.dataSync(), b = expected.dataSync();
  let worst = -1, worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    if (!(err <= worstErr)) [worst, worstErr] = [i, err];
  }
  if (worst >= 0 && !(worstErr <= tol)) {
    fail(`${what}: element ${worst} is ${a[worst]}, expected ${b[worst]} (rel. error ${worstErr} > ${tol})`);
  }
}

function latent(c: BijectorCase): tf.Tensor {
  return c.z ?? tf.tensor(new Rng(1234).normals(c.x.size), c.x.shape);
}

function assertTransformed(out: Transformed, like: tf.Tensor, what: string): void {
  if (out.y.shape.join() !== like.shape.join()) {
    fail(`${what}: y has shape [${out.y.shape}], input [${like.shape}]`);
  }
  if (out.logDet.shape.join() !== String(like.shape[0])) {
    fail(`${what}: logDet has shape [${out.logDet.shape}], expected [${like.shape[0]}]`);
  }
  for (const [k, v] of [["y", out.y], ["logDet", out.logDet]] as const) {
    const bad = (v.dataSync() as Float32Array).findIndex((e) => !Number.isFinite(e));
    if (bad >= 0) fail(`${what}: ${k}[${bad}] is not finite`);
  }
}

/** Outputs of both directions are finite, `y` is shaped like the input, `logDet` is `[B]`. */
export function checkFinite(c: BijectorCase): void {
  tf.tidy(() => {
    assertTransformed(c.bijector.forward(c.x, c.context), c.x, "forward(x)");
    const z = latent(c);
    assertTransformed(c.bijector.inverse(z, c.context), z, "inverse(z)");
  });
}

/** `inverse(forward(x)) == x` and `forward(inverse(z)) == z`. */
export function checkRoundTrip(c: BijectorCase, opts: CheckOptions = {}): void {
  const tol = opts.tolRoundTrip ?? TOL_ROUND_TRIP;
  tf.tidy(() => {
    const { bijector: f, x, context } = c;
    assertClose(f.inverse(f.forward(x, context).y, context).y, x, tol, "inverse(forward(x))");
    const z = latent(c);
    assertClose(f.forward(f.inverse(z, context).y, context).y, z, tol, "forward(inverse(z))");
  });
}

/** Forward `logDet` equals log |det J| with J from autograd, per example. */
export function checkJacobian(c: BijectorCase, opts: CheckOptions = {}): void {
  const tol = opts.tolLogDet ?? TOL_LOG_DET;
  const dim = c.x.size / c.x.shape[0];
  if (dim > 256) fail(`checkJacobian: ${dim} dims per example is too many; use smaller inputs`);
  const jac = batchJacobian((x) => c.bijector.forward(x, c.context).y, c.x);
  const ref = tf.tensor1d(jac.map((m) => logAbsDet(m, dim)));
  try {
    tf.tidy(() =>
      assertClose(c.bijector.forward(c.x, c.context).logDet, ref, tol, "forward logDet vs Jacobian")
    );
  } finally {
    ref.dispose();
  }
}

/** `inverse(y).logDet == -forward(x).logDet` at `y = forward(x)`, and likewise from the latent side. */
export function checkInverseLogDet(c: BijectorCase, opts: CheckOptions = {}): void {
  const tol = opts.tolLogDet ?? TOL_LOG_DET;
  tf.tidy(() => {
    const { bijector: f, x, context } = c;
    const fwd = f.forward(x, context);
    assertClose(f.inverse(fwd.y, context).logDet.neg(), fwd.logDet, tol, "-inverse(forward(x)).logDet");
    const inv = f.inverse(latent(c), context);
    assertClose(f.forward(inv.y, context).logDet.neg(), inv.logDet, tol, "-forward(inverse(z)).logDet");
  });
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

/** A perturbed context changes the outputs of both directions. */
export function checkContext(c: BijectorCase): void {
  if (!c.context) fail("checkContext: the case has no context");
  tf.tidy(() => {
    const { bijector: f, x, context } = c;
    const other = context!.add(tf.tensor(new Rng(99).normals(context!.size), context!.shape));
    const a = f.forward(x, context), b = f.forward(x, other);
    if (Math.max(maxAbsDiff(a.y, b.y), maxAbsDiff(a.logDet, b.logDet)) < 1e-5) {
      fail("forward(x, context) does not depend on the context");
    }
    const z = latent(c);
    if (maxAbsDiff(f.inverse(z, context).y, f.inverse(z, other).y) < 1e-5) {
      fail("inverse(z, context) does not depend on the context");
    }
  });
}

function defaultLoss(out: Transformed): tf.Scalar {
  // The projection makes every output coordinate matter, so no gradient vanishes by symmetry.
  const proj = tf.tensor(new Rng(7).normals(out.y.size), out.y.shape);
  return out.y.square().mul(0.5).add(out.y.mul(proj)).sum().sub(out.logDet.sum());
}

/** Every parameter's gradient of a loss of `(y, logDet)` is finite and (by default) non-zero. */
export function checkGradients(c: BijectorCase, opts: CheckOptions = {}): void {
  const params = c.bijector.parameters();
  if (params.length === 0) fail("the bijector has no parameters: no gradient to check");
  const loss = opts.loss ?? defaultLoss;
  tf.tidy(() => {
    const { grads } = tf.variableGrads(
      () => loss(c.bijector.forward(c.x, c.context)),
      params.map(([, v]) => v),
    );
    let someNonZero = false;
    for (const [name, v] of params) {
      const g = grads[v.name];
      const data = g ? (g.dataSync() as Float32Array) : new Float32Array(v.size);
      if (data.some((e) => !Number.isFinite(e))) fail(`gradient of parameter "${name}" is not finite`);
      const nonZero = data.some((e) => e !== 0);
      someNonZero ||= nonZero;
      if (!nonZero && opts.trainableAll !== false) fail(`parameter "${name}" gets no gradient`);
    }
    if (!someNonZero) fail("no parameter gets a gradient");
  });
}

/**
 * Copies parameters and buffers of `c.bijector` into `fresh` (same names and shapes required) and checks
 * that both then give the same forward output; beforehand they must differ, or the check is vacuous.
 */
export function checkSaveRestore(c: BijectorCase, fresh: Bijector): void {
  const named = (b: Bijector) => [...b.parameters(), ...(b.buffers?.() ?? [])];
  const src = new Map(named(c.bijector)), dst = named(fresh);
  const names = (m: Iterable<readonly [string, unknown]>) => [...m].map(([n]) => n).join(", ");
  if (dst.length !== src.size || dst.some(([n]) => !src.has(n))) {
    fail(`parameter names differ: saved [${names(src)}], fresh [${names(dst)}]`);
  }
  tf.tidy(() => {
    const { x, context } = c;
    const a = c.bijector.forward(x, context);
    if (src.size > 0) {
      const b = fresh.forward(x, context);
      if (Math.max(maxAbsDiff(a.y, b.y), maxAbsDiff(a.logDet, b.logDet)) === 0) {
        fail("make(0) and make(1) give identical outputs: parameters must depend on the seed");
      }
    }
    for (const [n, v] of dst) {
      const s = src.get(n)!;
      if (s.shape.join() !== v.shape.join()) fail(`parameter "${n}": shape [${s.shape}] vs [${v.shape}]`);
      v.assign(s);
    }
    const b = fresh.forward(x, context);
    assertClose(b.y, a.y, 1e-6, "restored forward y");
    assertClose(b.logDet, a.logDet, 1e-6, "restored forward logDet");
  });
}

/** `tf.memory().numTensors` is the same before and after tidy'd forward, inverse and gradient steps. */
export function checkNoLeak(c: BijectorCase, opts: CheckOptions = {}): void {
  const params = c.bijector.parameters().map(([, v]) => v);
  const loss = opts.loss ?? defaultLoss;
  const step = () =>
    tf.tidy(() => {
      c.bijector.inverse(c.bijector.forward(c.x, c.context).y, c.context);
      if (params.length > 0) tf.variableGrads(() => loss(c.bijector.forward(c.x, c.context)), params);
    });
  step(); // lazily created constants (masks, caches) may appear on the first call
  const before = tf.memory().numTensors;
  step();
  step();
  const after = tf.memory().numTensors;
  if (after !== before) fail(`tensor count grew from ${before} to ${after} over two steps`);
}

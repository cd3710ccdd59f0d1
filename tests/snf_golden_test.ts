/**
 * Every MNIST experiment against the original Self-Normalizing Flows code (akandykeller/
 * SelfNormalizingFlows): the golden numbers in tests/fixtures/snf/ were computed by the original's own
 * layers in float64 (bench/snf_peer/golden.py) for the very weights this test builds (experiment at its
 * quick size, seed 1: `init`, and `init` plus seeded noise on every parameter: `perturbed`), the same 10
 * dequantized digits. Checked: the evaluation log-likelihood of each digit, the training objective, the
 * gradient of every parameter that the optimizer receives (self-normalized and reconstruction terms
 * included), and ConvExp's power-iteration vectors after the step. See bench/snf_peer/README.md.
 *
 * Tolerances, from the errors measured on these fixtures (bench/snf_peer/compare.ts prints them; the
 * original's own float32 errors against its float64 numbers come with the golden files), all relative:
 *
 * - log p: 1e-5 of |log p|. Measured: echoflow 3.8e-7 - 1.1e-6, the original in float32 up to 7.4e-7 (sums
 *   of ~200 logit and spline terms of size ~10 per image in float32). A missing 1e-5 in ConvExp's
 *   rescaling factor shows as 1.1e-5; the spline's initial slopes as 4e-2.
 * - training objective: 3e-6. Measured: echoflow up to 2.0e-7, the original in float32 up to 2.9e-7.
 *   Counting 10 ConvExp series terms in training instead of the original's 6 shows as 1.1e-5.
 * - gradients: 1e-3 of the parameter's gradient norm, or of 1e-4 of the whole gradient's norm when that
 *   is larger (golden.py's `grad_floor`), on the norm, a +-1 projection of every entry and 32 stored
 *   entries. Measured: echoflow up to 1.8e-4, the original in float32 up to 1.1e-4; the largest are
 *   ActNorm's log-scales right after their data initialisation, whose gradient cancels to 1e-3 of its
 *   terms, and an ill-conditioned exact convolution. A gradient not flowing through ConvExp's spectral
 *   norm estimate shows as 1.1.
 * - power-iteration vectors after the step: 1e-5 of their norm (measured 3.5e-7).
 * - weights: sums and sums of squares within 1e-6 of those golden.py was given (measured: identical);
 *   otherwise the model here is not the one the golden numbers are for, and they must be regenerated.
 */
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { compareState, readBatch, readGolden } from "../bench/snf_peer/compare.ts";
import { EXPERIMENTS, STATES } from "../bench/snf_peer/states.ts";
import { REGISTRY } from "../experiments/registry.ts";

await selectBackend("wasm");

const FIXTURES = new URL("./fixtures/snf/", import.meta.url);
const TOL = { weights: 1e-6, logp: 1e-5, loss: 3e-6, grad: 1e-3, buffers: 1e-5 };

for (const name of EXPERIMENTS) {
  Deno.test(`${name} matches the original code's log p and gradients at init and perturbed`, async (t) => {
    const golden = readGolden(FIXTURES, name);
    const x = readBatch(FIXTURES);
    try {
      for (const state of STATES) {
        await t.step(state, () => {
          const a = compareState(name, state, golden, x);
          assert.ok(
            a.weights <= TOL.weights,
            `weights differ from those of the golden file (${a.weights}): rerun bench/snf_peer (README.md)`,
          );
          assert.ok(a.logp <= TOL.logp, `log p relative error ${a.logp} > ${TOL.logp}`);
          assert.ok(a.loss <= TOL.loss, `training objective relative error ${a.loss} > ${TOL.loss}`);
          assert.ok(a.grad <= TOL.grad, `gradient error ${a.grad} > ${TOL.grad} (parameter ${a.gradWorst})`);
          assert.ok(a.buffers <= TOL.buffers, `buffer error ${a.buffers} > ${TOL.buffers}`);
        });
      }
    } finally {
      x.dispose();
    }
  });
}

Deno.test("the golden files cover every MNIST experiment of the registry", () => {
  const mnist = Object.keys(REGISTRY).filter((n) => n.endsWith("_mnist")).sort();
  assert.deepEqual([...EXPERIMENTS].sort(), mnist);
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { EsnFlow } from "../lib/dynamic/esn_flow.ts";
import type { FusedFlowPath } from "../lib/dynamic/fused_flow.ts";
import { CHUNK_ROWS, chunkRows } from "../lib/dynamic/host_flow.ts";
import { Rng } from "../lib/rng.ts";
import { assertAllClose, type Tolerance } from "./helpers/close.ts";

const D = 5, N = 9, HIDDEN = 6, ROWS = 7;

/**
 * Element-wise tolerances (`|a - b| <= atol + rtol |b|`, tests/helpers/close.ts) of the fused op against
 * autodiff of the composed layers, from the errors measured over every case of this file (wasm and cpu,
 * host and tfjs paths, 1 to 3 layers of 1 to 3 hidden layers, Toeplitz or dense; float32 throughout):
 * - log p per row (|b| up to 39): at most 9.5e-6 off, 3.5e-7 relative (2.5 ulps);
 * - the weighted sum (|b| up to 738): 1.8e-4 off, 9.3e-7 relative;
 * - d/dx and d/dhc (|b| up to 24): 5.7e-6 off; with rtol 1e-5 an atol of 5.3e-7 covers every entry;
 * - parameter gradients, sums over rows with cancellations (|b| up to 202): 2.0e-4 off; with rtol 1e-4,
 *   an atol of 2e-8 covers every entry, 2.9e-5 relative where |b| > 0.01;
 * - the host path against the tfjs path for flows used together: 1.9e-6 off, 1.5e-5 relative.
 * Each tolerance below is 7x to 12x the worst entry's error measured against it (worst error / tolerance:
 * log p 0.11, sum 0.09, d/dx 0.13, d/dhc 0.14, parameters 0.12, flows together 0.12).
 */
const TOL = {
  logp: { atol: 1e-6, rtol: 3e-6 },
  value: { atol: 1e-6, rtol: 1e-5 },
  input: { atol: 5e-6, rtol: 1e-5 },
  params: { atol: 2e-5, rtol: 2e-4 },
  together: { atol: 2e-6, rtol: 2e-5 },
} as const;

function close(a: tf.Tensor, b: tf.Tensor, tol: Tolerance, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  assertAllClose(a.dataSync(), b.dataSync(), tol, what);
}

/** How `log p(x | h)` is computed: the fused op on one of its paths, or autodiff of the composed layers. */
type Mode = FusedFlowPath | "composed";

function logProbBy(flow: EsnFlow, x: tf.Tensor2D, hc: tf.Tensor2D, mode: Mode): tf.Tensor1D {
  return mode === "composed" ? flow.logProbComposed(x, hc) : flow.logProbProjected(x, hc, mode);
}

/**
 * Value and gradients (every parameter, the frames and the context projection) of a weighted sum of
 * `log p(x | h)` computed by `mode`.
 */
function valueAndGrads(flow: EsnFlow, x: tf.Tensor2D, h: tf.Tensor2D, weights: tf.Tensor1D, mode: Mode) {
  const vars = flow.parameters().map(([, v]) => v);
  return tf.tidy(() => {
    const hc = flow.projectContext(h);
    const f = (xv: tf.Tensor, hcv: tf.Tensor) =>
      tf.sum(tf.mul(logProbBy(flow, xv as tf.Tensor2D, hcv as tf.Tensor2D, mode), weights)) as tf.Scalar;
    const { value, grads } = tf.variableGrads(() => f(x, flow.projectContext(h)), vars);
    const [dx, dhc] = tf.grads(f)([x, hc]);
    const logp = logProbBy(flow, x, hc, mode);
    return { value, logp, dx, dhc, grads: vars.map((v) => grads[v.name]) };
  });
}

/** Asserts two {@link valueAndGrads} results agree entry by entry, to {@link TOL}. */
function assertSameResults(
  got: ReturnType<typeof valueAndGrads>,
  want: ReturnType<typeof valueAndGrads>,
  names: readonly string[],
) {
  close(got.logp, want.logp, TOL.logp, "log p");
  close(got.value, want.value, TOL.value, "value");
  close(got.dx, want.dx, TOL.input, "d/dx");
  close(got.dhc, want.dhc, TOL.input, "d/dhc");
  got.grads.forEach((g, i) => {
    assert.ok(g, `no gradient for ${names[i]}`);
    close(g, want.grads[i], TOL.params, `d/d${names[i]}`);
    assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0, `zero gradient for ${names[i]}`);
  });
}

function disposeResults(...rs: ReturnType<typeof valueAndGrads>[]) {
  tf.dispose(rs.flatMap((r) => [r.value, r.logp, r.dx, r.dhc, ...r.grads]));
}

function makeFlow(
  rng: Rng,
  opts: { frameDim?: number; toeplitz?: boolean; layers?: number; hidden?: number },
) {
  const frameDim = opts.frameDim ?? D;
  const flow = new EsnFlow({
    frameDim,
    contextDim: N,
    hiddenDim: HIDDEN,
    numHiddenLayers: opts.hidden ?? 2,
    numFlowLayers: opts.layers ?? 2,
    toeplitz: opts.toeplitz ?? true,
  }, rng);
  // A rescale away from its initial 1 (the gradient through it is then not the identity's).
  flow.rescale.assign(tf.tensor1d(Array.from({ length: frameDim }, (_, i) => 0.5 + 0.2 * i)));
  return flow;
}

Deno.test("the fused flow op has the values and gradients of autodiff through the composed layers", async (t) => {
  for (const backend of ["wasm", "cpu"] as const) {
    await selectBackend(backend);
    for (const path of ["host", "tfjs"] as const) {
      for (const toeplitz of [true, false]) {
        for (const [layers, hidden] of [[1, 1], [3, 2], [2, 3]]) {
          await t.step(
            `${backend}, ${path} path, toeplitz ${toeplitz}, ${layers} layers x ${hidden} hidden`,
            () => {
              const rng = new Rng(`fused:${toeplitz}:${layers}:${hidden}`);
              const flow = makeFlow(rng, { toeplitz, layers, hidden });
              const x = tf.tensor2d(rng.normals(ROWS * D), [ROWS, D]);
              const h = tf.tensor2d(rng.normals(ROWS * N, 0.7), [ROWS, N]);
              // Rows weighted unequally (the gradient g per row varies).
              const weights = tf.tensor1d(Array.from({ length: ROWS }, (_, i) => (i % 3) - 0.7));
              const before = tf.memory().numTensors;
              const fused = valueAndGrads(flow, x, h, weights, path);
              const ref = valueAndGrads(flow, x, h, weights, "composed");
              assertSameResults(fused, ref, flow.parameters().map(([n]) => n));
              const made = [fused, ref].flatMap((r) => [r.value, r.logp, r.dx, r.dhc, ...r.grads]);
              assert.equal(tf.memory().numTensors, before + made.length, "the op leaks tensors");
              tf.dispose([...made, x, h, weights]);
              flow.parameters().forEach(([, v]) => v.dispose());
            },
          );
        }
      }
    }
  }
});

Deno.test("chunkRows() keeps a chunk's memory bounded: full chunks for small flows, fewer rows for wide ones", () => {
  const dims = { dim: 40, split: 20, numLayers: 4, width: 30, numHidden: 1 };
  assert.equal(chunkRows(dims), CHUNK_ROWS);
  const wide = chunkRows({ ...dims, numLayers: 16, width: 1024, numHidden: 3 });
  assert.ok(wide < CHUNK_ROWS && wide >= 4 && wide % 4 === 0, `${wide} rows`);
});

Deno.test("the host path agrees with the tfjs path beyond one chunk of rows and with calls interleaved", async (t) => {
  await selectBackend("wasm");
  const rng = new Rng("fused:chunks");
  await t.step(`${CHUNK_ROWS + 5} rows (two chunks), frame dim 6`, () => {
    const rows = CHUNK_ROWS + 5, flow = makeFlow(rng, { frameDim: 6 });
    const x = tf.tensor2d(rng.normals(rows * 6), [rows, 6]);
    const h = tf.tensor2d(rng.normals(rows * N, 0.7), [rows, N]);
    const weights = tf.tensor1d(rng.normals(rows));
    const host = valueAndGrads(flow, x, h, weights, "host");
    const ops = valueAndGrads(flow, x, h, weights, "tfjs");
    assertSameResults(host, ops, flow.parameters().map(([n]) => n));
    disposeResults(host, ops);
    tf.dispose([x, h, weights]);
  });
  const cases: [string, number[]][] = [["different sizes", [2, 3]], ["the same sizes, as in a mixture", [
    2,
    2,
    2,
  ]]];
  for (const [what, layers] of cases) {
    await t.step(`flows of ${what} forward, then all backward (earlier activations are recomputed)`, () => {
      interleaved(layers.map((l) => makeFlow(rng, { layers: l })));
    });
  }
  function interleaved(flows: EsnFlow[]) {
    const x = tf.tensor2d(rng.normals(ROWS * D), [ROWS, D]);
    const h = tf.tensor2d(rng.normals(ROWS * N, 0.7), [ROWS, N]);
    const vars = flows.flatMap((f) => f.parameters().map(([, v]) => v));
    const total = (path: FusedFlowPath) =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          // Unequal weights per flow, so a mix-up of their gradients shows.
          const sums = flows.map((f, k) =>
            tf.mul(tf.sum(f.logProbProjected(x, f.projectContext(h), path)), 1 / (k + 1))
          );
          return tf.addN(sums) as tf.Scalar;
        }, vars);
        return [value, ...vars.map((v) => grads[v.name])];
      });
    const host = total("host"), ops = total("tfjs");
    host.forEach((g, i) => close(g, ops[i], TOL.together, i === 0 ? "value" : `gradient ${i - 1}`));
    tf.dispose([...host, ...ops, x, h]);
  }
});

/**
 * The WGSL kernels of the ESN-conditioned flow (`lib/webgpu/esn_flow_device.ts`) against autodiff of the
 * layer-by-layer composition (`EsnFlow.logProbComposed`) on the same WebGPU device, and the runner's device
 * step against its tfjs step: values, every gradient, Adam's update and state, dispatch counts. Runs on any
 * adapter (llvmpipe here); ignored, saying so, without one.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { defineConfig, resolveConfig } from "../lib/config.ts";
import { SequenceDataset } from "../lib/data/sequences.ts";
import { buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { EsnFlow } from "../lib/dynamic/esn_flow.ts";
import type { FlowMixture } from "../lib/dynamic/mixture.ts";
import { Rng } from "../lib/rng.ts";
import { adam } from "../lib/runner/adam.ts";
import { clipByGlobalNorm, trainStep } from "../lib/runner/train_step.ts";
import { countGpuWork } from "../lib/webgpu/gpu_counters.ts";
import { DeviceEsnFlow, setChunkRows, setWebGpuKernels } from "../lib/webgpu/esn_flow_device.ts";
import { GpuDevice } from "../lib/webgpu/device.ts";
import { assertAllClose } from "./helpers/close.ts";
import { ADAPTER, NO_ADAPTER } from "./helpers/webgpu.ts";

const webgpu = { ignore: !ADAPTER, sanitizeResources: false, sanitizeOps: false };

/** Runs `fn` on the webgpu backend with the kernels on, restoring wasm and the switch afterwards. */
async function onWebGpu(fn: () => Promise<void> | void): Promise<void> {
  await selectBackend("webgpu");
  try {
    await fn();
  } finally {
    setWebGpuKernels(true);
    await selectBackend("wasm");
  }
}

const values = async (t: tf.Tensor) => Float32Array.from(await t.data());
const maxAbs = (v: Float32Array) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

Deno.test({
  ...webgpu,
  name: `WGSL flow kernels: log p and every gradient equal autodiff of the composed layers${NO_ADAPTER}`,
  fn: () =>
    onWebGpu(async () => {
      for (const toeplitz of [true, false]) {
        for (const numHiddenLayers of [1, 2, 3]) {
          // D = 5: parts of 2 and 3; 37 frames, then 300 (the per-frame buffers grow past 256).
          const opts = {
            frameDim: 5,
            contextDim: 7,
            hiddenDim: 6,
            numHiddenLayers,
            toeplitz,
            numFlowLayers: 2,
          };
          const flow = new EsnFlow(opts, new Rng(`wgsl:${toeplitz}:${numHiddenLayers}`));
          flow.rescale.assign(tf.tensor1d([0.9, 1.1, 0.7, 1.3, 1.0]));
          const device = DeviceEsnFlow.of(flow)!;
          for (const rows of [37, 300]) {
            const what = `toeplitz ${toeplitz}, ${numHiddenLayers} hidden layers, ${rows} frames`;
            const r = new Rng(`frames:${rows}`);
            const x = tf.tensor2d(r.normals(rows * 5), [rows, 5]),
              h = tf.tensor2d(r.normals(rows * 7), [rows, 7]);
            const sequences = 5;
            const composed = () => flow.logProbComposed(x, flow.projectContext(h));
            const expected = await values(tf.tidy(composed));
            // Measured: at most 3.0e-7 relative to 1 + |log p| (log p of 10 to 80 nats).
            assertAllClose(
              await values(device.logProb(x, h)),
              expected,
              { atol: 2e-6, rtol: 2e-6 },
              `log p (${what})`,
            );
            const vars = flow.parameters();
            const auto = tf.variableGrads(
              () => tf.div(tf.neg(tf.sum(composed())), sequences) as tf.Scalar,
              vars.map(([, v]) => v),
            );
            const ours = device.gradients(x, h, sequences);
            assertAllClose(
              await values(ours.loss),
              await values(auto.value),
              { atol: 0, rtol: 1e-6 },
              `loss (${what})`,
            );
            for (const [i, [name, v]] of vars.entries()) {
              const want = await values(auto.grads[v.name]);
              // Measured: at most 4.4e-7 of the tensor's largest entry.
              assertAllClose(
                await values(ours.grads[i]),
                want,
                { atol: 3e-6 * maxAbs(want), rtol: 0 },
                `${name} (${what})`,
              );
            }
            tf.dispose([x, h, ours.loss, ...ours.grads, auto.value, ...Object.values(auto.grads)]);
          }
        }
      }
    }),
});

const smallModel = { esn_dim: 24, hidden_layer_dim: 8, n_flow_layers: 2, num_hidden_layers: 2 };

function model(seed: string, overrides: Record<string, unknown> = {}): DynamicModel {
  const cfg = resolveConfig(defineConfig(dynamicModelConfig), { ...smallModel, ...overrides });
  return buildDynamicModel(cfg, 4, { rng: new Rng(seed), esnSeed: 1 });
}

function data(): SequenceDataset {
  const r = new Rng("sequences");
  const seqs = [9, 4, 13, 7, 11, 5].map((t) => r.normals(4 * t));
  return new SequenceDataset({ train: seqs, val: [], test: [] }, 4);
}

Deno.test({
  ...webgpu,
  name: `WGSL flow kernels: the runner's device step (Adam, clipping, SGD) equals its tfjs step${NO_ADAPTER}`,
  fn: () =>
    onWebGpu(async () => {
      const ds = data();
      const batches = [[0, 1, 2], [3, 4, 5], [1, 3], [0, 2, 4, 5], [2]];
      // Clipping off, on, and at 0 (every gradient scaled to 0, as clipByGlobalNorm does). Step 2 of model a
      // is a tfjs step (kernels off): the optimizer's state carries across the two paths.
      for (const clip of [null, 0.5, 0]) {
        const [a, b] = [model("twin"), model("twin")];
        const [oa, ob] = [adam(3e-3), adam(3e-3)];
        for (const [k, ids] of batches.entries()) {
          const batch = ds.batch("train", ids);
          assert.ok(a.deviceStep(batch), "the device step applies to a single ESN flow on WebGPU");
          setWebGpuKernels(k !== 2);
          const la = trainStep(a, oa, batch, clip);
          setWebGpuKernels(false);
          assert.equal(b.deviceStep(batch), null, "switched off: the tfjs step");
          const lb = trainStep(b, ob, batch, clip);
          setWebGpuKernels(true);
          // Measured: the losses agree to 1.2e-7 relative.
          assertAllClose(await values(la), await values(lb), { atol: 0, rtol: 1e-6 }, `loss of step ${k}`);
          // Adam's running powers, read as a checkpoint reads them: the same float32 products.
          const [sa, sb] = [oa, ob].map((o, i) => o.deviceSlots([a, b][i].parameters().map(([, v]) => v)));
          for (const key of ["accBeta1", "accBeta2"] as const) {
            assert.deepEqual(await values(sa[key]), await values(sb[key]), `${key} after step ${k}`);
          }
          tf.dispose([la, lb]);
          batch.dispose();
        }
        const pa = a.parameters(), pb = b.parameters();
        for (const [i, [name, v]] of pa.entries()) {
          // 5 steps of lr 3e-3 move a weight by up to 1.5e-2; measured differences up to 3.0e-8.
          assertAllClose(
            await values(v),
            await values(pb[i][1]),
            { atol: 3e-7, rtol: 0 },
            `${name} (clip ${clip})`,
          );
        }
        const [wa, wb] = [await oa.getWeights(), await ob.getWeights()];
        assert.equal(wa.length, wb.length);
        for (const [i, w] of wa.entries()) {
          const [x, y] = [await values(w.tensor), await values(wb[i].tensor)];
          // The iteration count and moments: measured differences up to 4.8e-7 of the largest moment.
          assertAllClose(
            x,
            y,
            { atol: 3e-6 * Math.max(1e-12, maxAbs(y)), rtol: 0 },
            `optimizer ${w.name}`,
          );
        }
        tf.dispose([...wa.map((w) => w.tensor), ...wb.map((w) => w.tensor)]);
        [oa, ob].forEach((o) => o.dispose());
        [a, b].forEach((m) => m.dispose());
      }
      // Another optimizer: the device's gradients, applied by tfjs.
      const [a, b] = [model("sgd"), model("sgd")];
      const [oa, ob] = [tf.train.sgd(0.05), tf.train.sgd(0.05)];
      const batch = ds.batch("train", [0, 1, 2, 3]);
      tf.dispose(trainStep(a, oa, batch, 1.0));
      setWebGpuKernels(false);
      tf.dispose(trainStep(b, ob, batch, 1.0));
      setWebGpuKernels(true);
      for (const [i, [name, v]] of a.parameters().entries()) {
        assertAllClose(
          await values(v),
          await values(b.parameters()[i][1]),
          { atol: 3e-7, rtol: 0 },
          `sgd ${name}`,
        );
      }
      batch.dispose();
      [a, b].forEach((m) => m.dispose());
    }),
});

Deno.test({
  ...webgpu,
  name: `WGSL flow kernels: a training step is 8 dispatches and 1 submission with no read-back${NO_ADAPTER}`,
  fn: () =>
    onWebGpu(async () => {
      const ds = data(), m = model("count"), opt = adam(1e-3);
      const batch = ds.batch("train", [0, 1, 2, 3, 4, 5]);
      tf.dispose(trainStep(m, opt, batch, 1.0)); // pipelines, uploads and Adam's slots
      const tensors = tf.memory().numTensors;
      const { value: loss, counts } = await countGpuWork(() => trainStep(m, opt, batch, 1.0));
      assert.deepEqual(counts, { dispatches: 8, submits: 1, readbacks: 0 });
      assert.equal(tf.memory().numTensors, tensors + 1, "no tensor left behind but the loss");
      assert.ok(Number.isFinite((await loss.data())[0]));
      loss.dispose();
      // Evaluation: the projection, the flow, and tfjs's sum per sequence.
      tf.dispose(m.logProb(batch));
      const ev = (await countGpuWork(() => tf.dispose(m.logProb(batch)))).counts;
      assert.ok(ev.dispatches <= 4 && ev.readbacks === 0, `evaluation: ${JSON.stringify(ev)}`);
      // Inside a gradient tape the tfjs ops run (the kernels have no tfjs gradient): same numbers.
      const vars = m.parameters().map(([, v]) => v);
      const taped = tf.variableGrads(() => m.loss(batch), vars);
      const ours = m.deviceStep(batch)!.gradients();
      for (const [i, v] of vars.entries()) {
        const want = await values(taped.grads[v.name]);
        assertAllClose(await values(ours.grads[i]), want, { atol: 3e-6 * maxAbs(want), rtol: 0 }, v.name);
      }
      tf.dispose([taped.value, ...Object.values(taped.grads), ours.loss, ...ours.grads]);
      batch.dispose();
      opt.dispose();
      m.dispose();
    }),
});

Deno.test({
  ...webgpu,
  name:
    `WGSL flow kernels: a batch in chunks of frames (past the buffer limits) gives the same numbers${NO_ADAPTER}`,
  fn: () =>
    onWebGpu(async () => {
      const r = new Rng("long sequences");
      const seqs = [40, 35, 30, 25, 20].map((t) => r.normals(4 * t));
      const long = new SequenceDataset({ train: seqs, val: [], test: [] }, 4);
      const batch = long.batch("train", [0, 1, 2, 3, 4]); // 150 frames: 3 chunks of at most 64
      const [m, twin] = [model("chunks"), model("chunks")];
      const whole = m.deviceStep(batch)!.gradients(), wholeLogp = await values(m.logProb(batch));
      try {
        setChunkRows(64);
        assert.throws(() => setChunkRows(100), /a positive multiple of 64, got 100/);
        const chunked = m.deviceStep(batch)!.gradients();
        // Measured: the loss 7.8e-8 relative; log p equal in one run and 1.9e-7 relative apart in another (the
        // same per-frame work: llvmpipe's rounding may depend on an invocation's place in the workgroup);
        // gradients 3.9e-7 of the largest entry; after two Adam steps the parameters 1.5e-8 from the tfjs path.
        assertAllClose(await values(chunked.loss), await values(whole.loss), { atol: 0, rtol: 1e-6 }, "loss");
        assertAllClose(await values(m.logProb(batch)), wholeLogp, { atol: 0, rtol: 1e-6 }, "log p");
        for (const [i, g] of whole.grads.entries()) {
          const want = await values(g);
          assertAllClose(
            await values(chunked.grads[i]),
            want,
            { atol: 2e-6 * maxAbs(want), rtol: 0 },
            `grad ${i}`,
          );
        }
        const opt = adam(1e-3), tfjsOpt = adam(1e-3);
        tf.dispose(trainStep(m, opt, batch, null));
        const { value: loss, counts } = await countGpuWork(() => trainStep(m, opt, batch, null));
        assert.deepEqual(
          counts,
          { dispatches: 8 + 2 * 5, submits: 1, readbacks: 0 },
          "5 launches per extra chunk",
        );
        setWebGpuKernels(false);
        for (let k = 0; k < 2; k++) tf.dispose(trainStep(twin, tfjsOpt, batch, null));
        for (const [i, [name, v]] of m.parameters().entries()) {
          assertAllClose(
            await values(v),
            await values(twin.parameters()[i][1]),
            { atol: 3e-7, rtol: 0 },
            name,
          );
        }
        tf.dispose([loss, chunked.loss, ...chunked.grads]);
        [opt, tfjsOpt].forEach((o) => o.dispose());
      } finally {
        setChunkRows(null);
        setWebGpuKernels(true);
      }
      // No frames: an empty log-likelihood.
      const flow = (m.density as FlowMixture).singleFlow()!;
      const empty = DeviceEsnFlow.of(flow)!.logProb(tf.zeros([0, 4]), tf.zeros([0, 24]));
      assert.deepEqual(empty.shape, [0]);
      tf.dispose([empty, whole.loss, ...whole.grads]);
      batch.dispose();
      [m, twin].forEach((x) => x.dispose());
    }),
});

Deno.test({
  ...webgpu,
  name:
    `clipByGlobalNorm() on WebGPU equals wasm (tfjs-webgpu 4.22's addN of scalars gives wrong sums)${NO_ADAPTER}`,
  fn: async () => {
    const clipped: Float32Array[] = [];
    for (const backend of ["wasm", "webgpu"] as const) {
      await selectBackend(backend);
      const n = 9;
      const grads = Array.from({ length: n }, (_, i) => tf.fill([i + 1], i + 1));
      const out = tf.tidy(() => clipByGlobalNorm(grads, 2));
      clipped.push(
        Float32Array.from((await Promise.all(out.map((t) => t.data()))).flatMap((v) => Array.from(v))),
      );
      tf.dispose([...grads, ...out]);
    }
    assertAllClose(clipped[1], clipped[0], { atol: 0, rtol: 1e-6 }, "clipped gradients");
    await selectBackend("wasm");
  },
});

Deno.test({
  ...webgpu,
  name: `WGSL flow kernels: only where they apply (WebGPU, one flow on fixed states)${NO_ADAPTER}`,
  fn: async () => {
    await selectBackend("wasm");
    const flow = new EsnFlow(
      { frameDim: 4, contextDim: 5, hiddenDim: 4, numHiddenLayers: 1, toeplitz: true, numFlowLayers: 1 },
      new Rng(3),
    );
    assert.equal(GpuDevice.current(), null);
    assert.equal(DeviceEsnFlow.of(flow), null, "not on wasm");
    await onWebGpu(() => {
      const ds = data(), batch = ds.batch("train", [0, 1]);
      assert.equal(model("mix", { num_mixtures: 2 }).deviceStep(batch), null, "a mixture of 2 flows");
      assert.equal(model("gmm", { model: "gmm_esn" }).deviceStep(batch), null, "a Gaussian mixture");
      assert.equal(
        model("rnn", { model: "dyn_rnn_flow", rnn_dim: 6 }).deviceStep(batch),
        null,
        "trained states",
      );
      assert.notEqual(DeviceEsnFlow.of(flow), null);
      setWebGpuKernels(false);
      assert.equal(DeviceEsnFlow.of(flow), null, "switched off");
      batch.dispose();
    });
  },
});

Deno.test({
  ...webgpu,
  name: `bench/kernel_times.ts times each kernel of a training step by name${NO_ADAPTER}`,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-webgpu",
        "bench/kernel_times.ts",
        "--esn_dim",
        "16",
        "--batch",
        "4",
        "--reps",
        "1",
      ],
      cwd: new URL("../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const names = stdout.trim().split("\n").map((l) => /^(\w+) \d+\.\d ms$/.exec(l)?.[1]);
    assert.deepEqual(names, [
      "project",
      "forward",
      "loss",
      "backward",
      "products",
      "diagonals",
      "norm",
      "adam",
    ]);
  },
});

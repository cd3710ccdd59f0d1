/**
 * The layers that read values on the host (LU log-determinants of exact and self-normalizing layers,
 * Glow's 1 x 1 convolution, ActNorm's data-dependent initialisation) and the iterative inverses give on
 * WebGPU, where every host value is read asynchronously beforehand (`DensityModel.prepare`,
 * `lib/host_read.ts`), what they give on cpu: log-likelihoods, training gradients and samples. Also, on
 * cpu, what `hostData` does with and without a copy read beforehand.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { hostData, readToHost } from "../lib/host_read.ts";
import { SmoothLeakyRelu } from "../lib/flows/activations.ts";
import { ActNorm } from "../lib/flows/actnorm.ts";
import type { Bijector } from "../lib/flows/bijector.ts";
import { Emerging } from "../lib/flows/emerging.ts";
import { ExactConv, ExactFC } from "../lib/flows/exact.ts";
import { ConvExp } from "../lib/flows/exponential.ts";
import { Flow } from "../lib/flows/flow.ts";
import { StandardNormal } from "../lib/flows/normal.ts";
import { type SelfNormalizing, SelfNormFC, SelfNormFlowModel } from "../lib/flows/selfnorm.ts";
import { SelfNormConv } from "../lib/flows/selfnorm_conv.ts";
import { FlowSequential } from "../lib/flows/sequential.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";
import { runCli } from "./helpers/cli.ts";
import { ADAPTER, NO_ADAPTER } from "./helpers/webgpu.ts";

await selectBackend("cpu");

Deno.test("hostData() returns the copy readToHost() made, and a new one after the tensor changes", async () => {
  const v = tf.variable(tf.tensor1d([1, 2, 3]));
  try {
    await readToHost([v]);
    const copy = hostData(v, "test");
    assert.deepEqual([...copy], [1, 2, 3]);
    assert.equal(hostData(v, "test"), copy, "the same copy, not a new read");
    v.assign(tf.tensor1d([4, 5, 6]));
    assert.deepEqual([...hostData(v, "test")], [4, 5, 6], "a stale copy was used after assign()");
  } finally {
    v.dispose();
  }
});

Deno.test({
  name: `SLR's Newton inverse on WebGPU (a fixed number of steps) round-trips from -1e4 to 1e4${NO_ADAPTER}`,
  ignore: !ADAPTER,
  sanitizeResources: false,
  async fn() {
    await selectBackend("webgpu");
    try {
      const slr = new SmoothLeakyRelu();
      // x of every scale; y = f(x) spans about -3e3 to 1e4.
      const xs = [-1e4, -3e3, -200, -27, -3.4, -1, -0.5, 0, 0.5, 0.72, 1, 8, 60, 1e3, 1e4];
      const x = tf.tensor2d(xs, [1, xs.length]);
      const { y } = slr.forward(x);
      const back = slr.inverse(y);
      const got = Array.from(await back.y.data());
      // Measured on llvmpipe: at most one float32 ulp (1.9e-6 at x = -27, 7.1e-8 relative), 6e-8 near 0.
      got.forEach((v, i) =>
        assert.ok(Math.abs(v - xs[i]) <= 1e-6 + 3e-7 * Math.abs(xs[i]), `x ${xs[i]}: ${v}`)
      );
      tf.dispose([x, y, back.y, back.logDet]);
    } finally {
      await selectBackend("cpu");
    }
  },
});

/** A small model of each kind that reads values on the host; images are 4 x 4 x 2. */
const MODELS: Record<
  string,
  (rng: Rng) => { layers: Bijector[]; selfNorm: SelfNormalizing[]; shape: number[] }
> = {
  "exact FC + SLR (LU log-det, Newton inverse)": (rng) => ({
    layers: [new ExactFC(6, rng, { noise: 0.3 }), new SmoothLeakyRelu(), new ExactFC(6, rng, { noise: 0.3 })],
    selfNorm: [],
    shape: [6],
  }),
  "self-normalizing FC (training gradient, exact evaluation)": (rng) => {
    const a = new SelfNormFC(6, rng, { noise: 0.3, inverseNoise: 0.1 });
    const b = new SelfNormFC(6, rng, { noise: 0.3, inverseNoise: 0.1 });
    return { layers: [a, new SmoothLeakyRelu(), b], selfNorm: [a, b], shape: [6] };
  },
  "ActNorm + Glow 1x1 + exact 3x3 conv": (rng) => {
    const g = (kernel: number) => ({ height: 4, width: 4, channels: 2, kernel });
    return {
      layers: [new ActNorm(2), new ExactConv(g(1), rng), new ExactConv(g(3), rng, { noise: 0.2 })],
      selfNorm: [],
      shape: [4, 4, 2],
    };
  },
  "self-normalizing 3x3 conv": (rng) => {
    const c = new SelfNormConv({ height: 4, width: 4, channels: 2, kernel: 3 }, rng, {
      noise: 0.2,
      inverseNoise: 0.05,
    });
    return { layers: [c], selfNorm: [c], shape: [4, 4, 2] };
  },
  "emerging conv (autoregressive inverse on the device)": (rng) => ({
    layers: [new Emerging(4, 4, 2, rng)],
    selfNorm: [],
    shape: [4, 4, 2],
  }),
  "convolution exponential": (rng) => ({
    layers: [new ConvExp(4, 4, 2, rng)],
    selfNorm: [],
    shape: [4, 4, 2],
  }),
};

interface Outputs {
  logProb: Float32Array;
  grads: Float32Array[];
  samples: Float32Array;
  approxSamples: Float32Array;
}

/** log p of a seeded batch, the training gradients at it and seeded samples, on the current backend. */
async function outputs(make: (typeof MODELS)[string]): Promise<Outputs> {
  const { layers, selfNorm, shape } = make(new Rng(3));
  const model = new SelfNormFlowModel(
    new Flow(new FlowSequential(layers), new StandardNormal(shape)),
    selfNorm,
  );
  const x = tf.tensor(new Rng(4).normals(8 * shape.reduce((a, b) => a * b)), [8, ...shape]);
  const batch = { x, size: 8, dispose: () => x.dispose() };
  const read = async (t: tf.Tensor) => {
    try {
      return Float32Array.from(await t.data());
    } finally {
      t.dispose();
    }
  };
  try {
    await model.prepare(false);
    const logProb = await read(model.logProb(batch));
    await model.prepare(true);
    const vars = model.parameters().map(([, v]) => v);
    const { value, grads } = tf.variableGrads(() => model.loss(batch), vars);
    value.dispose();
    const g = await Promise.all(vars.map((v) => read(grads[v.name])));
    await model.prepare(false);
    const samples = await read(model.sample(5, new Rng(5), false));
    const approxSamples = await read(model.sample(5, new Rng(5), true));
    return { logProb, grads: g, samples, approxSamples };
  } finally {
    x.dispose();
    disposeModule(model);
  }
}

/** The largest `|a - b| / (1 + |b|)`. */
function relError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]) / (1 + Math.abs(b[i]))), 0);
}

Deno.test({
  name: `log p, training gradients and samples on webgpu equal those on cpu${NO_ADAPTER}`,
  ignore: !ADAPTER,
  fn: async (t) => {
    for (const [name, make] of Object.entries(MODELS)) {
      await t.step(name, async () => {
        await selectBackend("cpu");
        const cpu = await outputs(make);
        await selectBackend("webgpu");
        const gpu = await outputs(make);
        const errors = {
          logProb: relError(gpu.logProb, cpu.logProb),
          grads: Math.max(...gpu.grads.map((g, i) => relError(g, cpu.grads[i]))),
          samples: Math.max(
            relError(gpu.samples, cpu.samples),
            relError(gpu.approxSamples, cpu.approxSamples),
          ),
        };
        // float32 on other kernels (reduction order; the Newton inverse runs all its iterations on WebGPU).
        // Measured on llvmpipe over these six models (relative to 1 + |cpu value|): log p at most 2.1e-7,
        // gradients 3.6e-6 (ConvExp; the exact 3x3 conv 1.6e-6), samples 5.8e-7 (exact FC + Newton).
        // Tolerances about 5x those; a missing prepare() throws, a wrong host value or inverse is O(1).
        const msg = `${name}: ${JSON.stringify(errors)}`;
        assert.ok(errors.logProb <= 1e-6, `log p: ${msg}`);
        assert.ok(errors.grads <= 2e-5, `gradients: ${msg}`);
        assert.ok(errors.samples <= 3e-6, `samples: ${msg}`);
      });
    }
    await t.step("a layer whose host values were not read beforehand says so", async () => {
      await selectBackend("webgpu");
      const fc = new ExactFC(3, new Rng(1), { noise: 0.3 });
      const x = tf.ones([2, 3]);
      try {
        assert.throws(
          () => fc.forward(x),
          /luOfTensor: the \[3, 3\] tensor was not read to the host beforehand/,
        );
        await readToHost(fc.hostTensors());
        const logDet = fc.forward(x).logDet;
        assert.ok(Number.isFinite((await logDet.data())[0]));
        logDet.dispose();
      } finally {
        x.dispose();
        disposeModule(fc);
      }
    });
    await selectBackend("cpu");
    // As backend_test: release the WebGPU device now, not at process exit (so this test comes last of the
    // WebGPU ones: the backend cannot be selected again in this process).
    if (tf.findBackend("webgpu")) tf.removeBackend("webgpu");
  },
});

/** Tiny settings of every experiment that used to be refused on WebGPU (host LU, Newton inverses, ActNorm). */
const MNIST = [
  "--profile",
  "quick",
  "--max_train",
  "20",
  "--batch_size",
  "10",
  "--max_eval_ex",
  "20",
  "--n_samples",
  "4",
];
const CNN = [...MNIST, "--num_layers", "2", "--num_blocks", "2", "--activation", "SLR"];
const FORMERLY_REFUSED: Record<string, string[]> = {
  exact_fc_mnist: [...MNIST, "--sample_true_inv", "--plot_recon"],
  selfnorm_fc_mnist: [...MNIST, "--sample_true_inv", "--plot_recon"],
  exact_cnn_mnist: CNN,
  selfnorm_cnn_mnist: [...CNN, "--sample_true_inv", "--plot_recon"],
  emerging_cnn_mnist: CNN,
  exponential_cnn_mnist: CNN,
  conv1x1_glow_mnist: MNIST,
  selfnorm_glow_mnist: [...MNIST, "--sample_true_inv", "--plot_recon"],
  toydensity: [
    "--num_layers",
    "3",
    "--n_train",
    "100",
    "--n_val",
    "50",
    "--n_test",
    "50",
    "--grid_size",
    "10",
  ],
};

Deno.test({
  name: `every formerly refused experiment trains, evaluates and samples on --backend webgpu${NO_ADAPTER}`,
  ignore: !ADAPTER,
  fn: async (t) => {
    for (const [name, args] of Object.entries(FORMERLY_REFUSED)) {
      await t.step(name, async () => {
        const out = await Deno.makeTempDir({ prefix: `echoflow_webgpu_${name}_` });
        try {
          const res = await runCli([
            "--name",
            name,
            "--backend",
            "webgpu",
            "--epochs",
            "1",
            ...args,
            "--out",
            out,
            "--json",
          ]);
          assert.equal(res.code, 0, res.stderr);
          assert.match(res.stderr, /backend: webgpu \(adapter: /);
          const summary = JSON.parse(res.stdout.trim().split("\n").at(-1)!);
          assert.equal(summary.kind, "summary");
          assert.equal(summary.backend, "webgpu");
          assert.ok(Number.isFinite(summary.test_nll), JSON.stringify(summary));
          const pictures = [...Deno.readDirSync(`${out}/samples`)].map((e) => e.name);
          assert.ok(pictures.some((f) => f.endsWith(".png")), `no picture in ${pictures}`);
        } finally {
          await Deno.remove(out, { recursive: true });
        }
      });
    }
    await t.step("snf_timescaling", async () => {
      const out = await Deno.makeTempDir({ prefix: "echoflow_webgpu_timescaling_" });
      try {
        const res = await runCli([
          ...["--name", "snf_timescaling", "--backend", "webgpu", "--sizes", "4", "--steps", "2"],
          ...["--warmup_steps", "0", "--batch_size", "10", "--out", out, "--json"],
        ]);
        assert.equal(res.code, 0, res.stderr);
        const rows = res.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((r) =>
          r.kind === "timing"
        );
        assert.deepEqual(rows.map((r) => `${r.layer} ${r.gradient}`), [
          "fc SNF",
          "fc exact",
          "conv SNF",
          "conv exact",
        ]);
        assert.ok(rows.every((r) => r.mean_ms > 0), JSON.stringify(rows));
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    });
  },
});

/**
 * Backend selection, and the same model giving the same likelihood on every backend this machine has
 * (cpu, wasm, and WebGPU where navigator.gpu gives any adapter, even a software one: correctness only).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { runCli } from "./helpers/cli.ts";
import { isHardwareAdapter, requestAdapter, selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { SequenceBatch } from "../lib/data/sequences.ts";
import { buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";

const info = (description: string, isFallbackAdapter = false) => ({
  info: { description },
  isFallbackAdapter,
});

Deno.test("isHardwareAdapter() refuses software rasterisers and fallback adapters", () => {
  assert.equal(isHardwareAdapter(info("llvmpipe (LLVM 15.0.6, 256 bits)")), false);
  assert.equal(isHardwareAdapter(info("Lavapipe")), false);
  assert.equal(isHardwareAdapter(info("SwiftShader Device (Subzero)")), false);
  assert.equal(isHardwareAdapter(info("NVIDIA H100 80GB HBM3", true)), false);
  assert.equal(isHardwareAdapter({ info: { description: "AMD Radeon", isFallbackAdapter: true } }), false);
  assert.equal(isHardwareAdapter(info("NVIDIA H100 80GB HBM3")), true);
  assert.equal(isHardwareAdapter(info("Apple M2")), true);
});

async function adapter(): Promise<{ description: string; hardware: boolean } | null> {
  const a = await requestAdapter();
  return a && { description: a.info?.description ?? "", hardware: isHardwareAdapter(a) };
}

/** This machine's WebGPU adapter (any, software included), asked once; the WebGPU checks are ignored without. */
const ADAPTER = await adapter();
const NO_ADAPTER = ADAPTER ? "" : " (ignored: no WebGPU adapter here: navigator.gpu is absent or gives none)";

Deno.test("selectBackend() honours an explicit choice and picks wasm or a hardware GPU for auto", async () => {
  assert.equal((await selectBackend("cpu")).backend, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  assert.equal((await selectBackend("wasm")).backend, "wasm");
  const a = ADAPTER;
  const auto = await selectBackend("auto");
  assert.equal(auto.backend, a?.hardware ? "webgpu" : "wasm");
  if (a && !a.hardware) assert.match(auto.adapter, /software adapter: not used/);
  await assert.rejects(
    () => selectBackend("tpu" as never),
    /Unknown backend "tpu". Valid: auto, webgpu, wasm, cpu/,
  );
});

/** Per-sequence log-likelihoods of one seeded batch under a seeded ESN flow, on the current backend. */
async function logLik(model: string): Promise<Float32Array> {
  const cfg = resolveConfig(dynamicModelConfig, {
    model,
    esn_dim: 16,
    hidden_layer_dim: 6,
    n_flow_layers: 2,
  });
  const m = buildDynamicModel(cfg, 3, { rng: new Rng(7), esnSeed: 7 });
  const r = new Rng(8);
  const batch = SequenceBatch.fromSequences([4, 1, 6].map((l) => r.normals(l * 3)), 3);
  try {
    // data(), not dataSync(): WebGPU under Deno has no synchronous read-back (it needs a 2-D canvas).
    const lp = tf.tidy(() => m.logProb(batch));
    const values = (await lp.data()) as Float32Array;
    lp.dispose();
    return values;
  } finally {
    batch.dispose();
    disposeModule(m);
  }
}

Deno.test("the dynamic flow gives the same log-likelihood on cpu, wasm and webgpu", async (t) => {
  for (const model of ["dyn_esn_flow", "gmm_esn"]) {
    await selectBackend("cpu");
    const cpu = await logLik(model);
    for (const b of ["wasm", "webgpu"] as const) {
      await t.step({
        name: `${model}: ${b} against cpu${b === "webgpu" ? NO_ADAPTER : ""}`,
        ignore: b === "webgpu" && !ADAPTER,
        fn: async () => {
          await selectBackend(b);
          const got = await logLik(model);
          assert.equal(got.length, cpu.length);
          got.forEach((v, i) => {
            const ref = cpu[i];
            // float32 on different kernels. Measured here (seeds 7/8 above): wasm 0 and 7.3e-8 relative,
            // webgpu on llvmpipe 0 and 1.3e-7 (one float32 ulp of these sums of 4 to 30). 1e-5 relative
            // (~80 ulps) leaves room for a hardware GPU's fused multiply-adds and reduction order.
            assert.ok(
              Math.abs(v - ref) <= 1e-5 * Math.abs(ref),
              `${b} sequence ${i}: ${v} vs cpu ${ref}`,
            );
          });
        },
      });
    }
  }
  await selectBackend("wasm");
  // Release the WebGPU device now rather than at process exit, where its teardown has crashed the test
  // runner once in several runs (segmentation fault after all tests passed).
  if (tf.findBackend("webgpu")) tf.removeBackend("webgpu");
});

Deno.test({
  name:
    `a run trains, evaluates and samples on --backend webgpu (any adapter, correctness only)${NO_ADAPTER}`,
  ignore: !ADAPTER,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "echoflow_webgpu_" });
    try {
      const res = await runCli([
        "--name",
        "gaussian_2d",
        "--backend",
        "webgpu",
        "--epochs",
        "2",
        "--n_train",
        "200",
        "--out",
        out,
        "--json",
      ]);
      const stderr = res.stderr;
      assert.equal(res.code, 0, stderr);
      assert.match(stderr, /backend: webgpu \(adapter: /);
      const lines = res.stdout.trim().split("\n").map((l) => JSON.parse(l));
      const summary = lines.at(-1);
      assert.equal(summary.kind, "summary");
      assert.equal(summary.backend, "webgpu");
      assert.ok(Number.isFinite(summary.test_nll), JSON.stringify(summary));
      assert.ok((await Deno.stat(`${out}/samples/samples_epoch2.csv`)).isFile);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

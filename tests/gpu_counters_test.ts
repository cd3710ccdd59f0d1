/**
 * countGpuWork() counts WebGPU dispatches, submissions and read-backs (the bench's dispatch counts of issue
 * 18). Runs on any WebGPU adapter, the software one included; ignored, saying so, where there is none.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { SequenceDataset } from "../lib/data/sequences.ts";
import { buildDynamicModel } from "../lib/dynamic/build.ts";
import { defineConfig } from "../lib/config.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import { Rng } from "../lib/rng.ts";
import { adam } from "../lib/runner/adam.ts";
import { trainStep } from "../lib/runner/train_step.ts";
import { setWebGpuKernels } from "../lib/webgpu/esn_flow_device.ts";
import { countGpuWork } from "../lib/webgpu/gpu_counters.ts";
import { ADAPTER, NO_ADAPTER } from "./helpers/webgpu.ts";

Deno.test({
  name: `countGpuWork() counts dispatches, submissions and read-backs, and restores WebGPU${NO_ADAPTER}`,
  ignore: !ADAPTER,
  sanitizeResources: false,
  async fn() {
    await selectBackend("webgpu");
    const proto =
      (globalThis as unknown as { GPUComputePassEncoder: { prototype: { dispatchWorkgroups: unknown } } })
        .GPUComputePassEncoder.prototype;
    const original = proto.dispatchWorkgroups;
    // 1,000 values: tfjs-webgpu computes tensors below 128 values on the CPU (no dispatch).
    const a = tf.range(0, 1000), b = tf.fill([1000], 2);
    const { value, counts } = await countGpuWork(async () => {
      const c = tf.add(a, b);
      const v = await c.data();
      c.dispose();
      return Array.from(v);
    });
    assert.deepEqual(value.slice(0, 3), [2, 3, 4]);
    assert.equal(counts.dispatches, 1, "one kernel");
    assert.equal(counts.readbacks, 1, "one read");
    assert.ok(counts.submits >= 1);
    assert.equal(proto.dispatchWorkgroups, original, "the method is restored");
    await assert.rejects(() => countGpuWork(() => countGpuWork(() => 0)), /cannot be nested/);

    // A training step of a small dynamic flow: the same count every step, one read (the loss).
    const cfg = resolveConfig(defineConfig(dynamicModelConfig), {
      esn_dim: 16,
      hidden_layer_dim: 8,
      n_flow_layers: 2,
    });
    const model = buildDynamicModel(cfg, 4, { rng: new Rng("count"), esnSeed: 1 });
    const r = new Rng(2);
    const data = new SequenceDataset({ train: [r.normals(4 * 5), r.normals(4 * 3)], val: [], test: [] }, 4);
    const opt = adam(1e-3);
    const step = async () => {
      const batch = data.batch("train", [0, 1]);
      const loss = trainStep(model, opt, batch, null);
      await loss.data();
      loss.dispose();
      batch.dispose();
    };
    // As tfjs ops (the WGSL kernels switched off), then as the kernels (`tests/webgpu_flow_test.ts`).
    setWebGpuKernels(false);
    try {
      await step();
      const first = (await countGpuWork(step)).counts, second = (await countGpuWork(step)).counts;
      assert.deepEqual(second, first);
      assert.ok(
        first.dispatches > 50,
        `${first.dispatches} dispatches: a step of tfjs ops runs many kernels`,
      );
      assert.equal(first.readbacks, 1);
    } finally {
      setWebGpuKernels(true);
    }
    await step();
    const fused = (await countGpuWork(step)).counts;
    assert.deepEqual(
      fused,
      { dispatches: 8, submits: 2, readbacks: 1 },
      "the kernels' step and the loss read",
    );
    tf.dispose([a, b]);
    opt.dispose();
    model.dispose();
    await selectBackend("wasm");
  },
});

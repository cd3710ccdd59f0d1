/**
 * Times each WGSL kernel of one esn_flow_timit training step on this machine's WebGPU adapter (bench
 * sizes: frame_dim 40, esn_dim 1000, 4 layers, hidden 30, batch 128): the step's commands are captured, then
 * replayed one at a time, each waited for (`queue.onSubmittedWorkDone`). A development aid, not a figure:
 * the step's real time is the bench's.
 *
 *     deno run -A --unstable-webgpu bench/kernel_times.ts [--esn_dim N] [--batch B] [--reps R]
 */
import { parseArgs } from "node:util";
import { selectBackend } from "../lib/backend.ts";
import { adam } from "../lib/runner/adam.ts";
import { trainStep } from "../lib/runner/train_step.ts";
import { type Command, GpuDevice } from "../lib/webgpu/device.ts";
import { attachStateCache } from "../lib/dynamic/build.ts";
import { benchConfig, benchDataset, buildBenchModel } from "./measure.ts";

const { values } = parseArgs({
  options: {
    esn_dim: { type: "string", default: "1000" },
    batch: { type: "string", default: "128" },
    reps: { type: "string", default: "3" },
  },
});
const esnDim = Number(values.esn_dim), batch = Number(values.batch), reps = Number(values.reps);
await selectBackend("webgpu");
const model = buildBenchModel(esnDim, 0);
const data = benchDataset(
  { batch, warmup: 1, steps: 1, seed: 0, esnDim } as Parameters<typeof benchDataset>[0],
);
attachStateCache(model, data, benchConfig(esnDim));
const ids = Array.from({ length: batch }, (_, i) => i);
const b = data.batch("train", ids);
const opt = adam(1e-4);
await trainStep(model, opt, b, null).data();
const gpu = GpuDevice.current()!;
const encode = GpuDevice.prototype.encode;
const captured: Command[] = [];
GpuDevice.prototype.encode = function (this: GpuDevice, cmds: readonly Command[]) {
  captured.push(...cmds);
  encode.call(this, cmds);
};
await trainStep(model, opt, b, null).data();
GpuDevice.prototype.encode = encode;
console.error(`${b.frames} frames`);
const times = new Map<string, number[]>();
for (let r = 0; r < reps; r++) {
  for (const c of captured) {
    if (!("pipeline" in c)) continue;
    const t0 = performance.now();
    encode.call(gpu, [c]);
    await gpu.device.queue.onSubmittedWorkDone();
    times.set(c.pipeline.label, [...(times.get(c.pipeline.label) ?? []), performance.now() - t0]);
  }
}
for (const [name, ms] of times) console.log(`${name} ${Math.min(...ms).toFixed(1)} ms`);

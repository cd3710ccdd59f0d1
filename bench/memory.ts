/**
 * Memory figures: the peak of live tfjs tensors during a piece of work, and the process's resident set.
 *
 * The tensor peak comes from `tf.profile`, which snapshots the engine's tensor count and bytes after every
 * kernel; the numbers count every live tensor (model weights, optimizer slots, the batch, intermediates),
 * not only those the work allocated. Profiling slows kernels down, so it runs on an untimed step.
 */
import * as tf from "@tensorflow/tfjs";

export interface PeakMemory {
  /** Most tensors alive at once. */
  readonly tensors: number;
  /** Most tensor bytes alive at once. */
  readonly bytes: number;
}

/** Runs `work` under `tf.profile` and returns the peak number and size of live tensors. */
export async function peakMemoryOf(work: () => void | Promise<void>): Promise<PeakMemory> {
  const before = tf.memory();
  const info = await tf.profile(async () => {
    await work();
  });
  return {
    tensors: Math.max(before.numTensors, ...info.kernels.map((k) => k.totalTensorsSnapshot)),
    bytes: Math.max(before.numBytes, info.peakBytes),
  };
}

/** Resident set size of this process in bytes. */
export function rssBytes(): number {
  return Deno.memoryUsage().rss;
}

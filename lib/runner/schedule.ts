/**
 * Learning-rate warmup as in the Self-Normalizing Flows runner (Keller et al. 2021, `snf/train/experiment.py`):
 * the rate rises linearly from 0 to `lr` over `warmup_epochs` epochs and is updated every batch,
 *
 *   lr(k) = lr * min(1, k / (warmup_epochs * batchesPerEpoch)),   k = 1, 2, ... (global step, 1-based)
 *
 * so the first step already uses a small positive rate, and `warmup_epochs = 0` means no warmup.
 */
import type * as tf from "@tensorflow/tfjs";

/** The learning rate of global step `step` (1-based); see the module doc for the formula. */
export function warmupLr(lr: number, warmupEpochs: number, step: number, batchesPerEpoch: number): number {
  if (!(warmupEpochs > 0)) return lr;
  return lr * Math.min(1, step / (warmupEpochs * batchesPerEpoch));
}

interface LrOptimizer {
  learningRate?: number;
  setLearningRate?: (lr: number) => void;
}

/**
 * Sets an optimizer's learning rate. TensorFlow.js optimizers keep it in a protected `learningRate`
 * field; SGD and momentum also cache `-lr` as a tensor and must go through their `setLearningRate`.
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as LrOptimizer;
  if (typeof o.setLearningRate === "function") o.setLearningRate(lr);
  else if (typeof o.learningRate === "number") o.learningRate = lr;
  else throw new Error(`Cannot set the learning rate of optimizer ${optimizer.getClassName()}`);
}

/** An optimizer's current learning rate. */
export function getLearningRate(optimizer: tf.Optimizer): number {
  const lr = (optimizer as unknown as LrOptimizer).learningRate;
  if (typeof lr !== "number") {
    throw new Error(`Cannot read the learning rate of optimizer ${optimizer.getClassName()}`);
  }
  return lr;
}

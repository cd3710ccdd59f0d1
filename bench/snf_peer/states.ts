/**
 * The echoflow side of the side-by-side check against the original Self-Normalizing Flows code
 * (github akandykeller/SelfNormalizingFlows): every MNIST experiment built at its quick size from a
 * fixed seed, in two states, and the map from each of its tensors to the original's `state_dict` name
 * and layout. Shared by `export.ts` (writes the weights for `golden.py`) and `tests/snf_golden_test.ts`
 * (compares against the golden numbers `golden.py` wrote), so both see exactly the same model.
 *
 * States:
 * - `init`: the experiment's own initialisation (`--profile quick --seed 1`), ActNorm initialised on the
 *   golden batch (as on the first batch of a run).
 * - `perturbed`: `init` plus seeded noise on every parameter, so that every term of every layer matters:
 *   self-normalizing layers with R != W^-1, splines far from the identity, coupling output layers and
 *   ActNorm away from their initial values, a ConvExp kernel whose spectral norm exceeds `coeff` (the
 *   power-iteration vectors advanced 5 steps, so the normalisation is active), non-orthogonal 1 x 1
 *   convolutions and non-zero biases.
 *
 * Layouts: echoflow is NHWC with kernels `[k, k, in, out]` and FC weights stored transposed (`[in, out]`);
 * the original is NCHW with kernels `[out, in, k, k]`. The coupling's output layer is split into halves
 * here and interleaved there (channel 2j: log-scale j, 2j + 1: shift j), so its channels are permuted.
 */
import * as tf from "@tensorflow/tfjs";
import { ActNorm } from "../../lib/flows/actnorm.ts";
import type { Bijector } from "../../lib/flows/bijector.ts";
import { Emerging } from "../../lib/flows/emerging.ts";
import { ExactConv, ExactFC } from "../../lib/flows/exact.ts";
import { ConvExp } from "../../lib/flows/exponential.ts";
import { GlowCoupling, Squeeze } from "../../lib/flows/glow.ts";
import { Dequantize } from "../../lib/flows/preprocess.ts";
import { SelfNormFC, type SelfNormFlowModel, withTraining } from "../../lib/flows/selfnorm.ts";
import { SelfNormConv } from "../../lib/flows/selfnorm_conv.ts";
import { FlowSequential } from "../../lib/flows/sequential.ts";
import { SplineActivation } from "../../lib/flows/spline.ts";
import { resolveConfig } from "../../lib/config.ts";
import type { ArrayDataset, VectorBatch } from "../../lib/data/array_dataset.ts";
import { Rng } from "../../lib/rng.ts";
import { Logger } from "../../lib/runner/logger.ts";
import { getExperiment } from "../../experiments/registry.ts";

/** The MNIST experiments of the registry, each checked at its quick size. */
export const EXPERIMENTS = [
  "selfnorm_fc_mnist",
  "exact_fc_mnist",
  "selfnorm_cnn_mnist",
  "exact_cnn_mnist",
  "exponential_cnn_mnist",
  "emerging_cnn_mnist",
  "conv1x1_glow_mnist",
  "selfnorm_glow_mnist",
] as const;
export type ExperimentName = (typeof EXPERIMENTS)[number];
export const STATES = ["init", "perturbed"] as const;
export type StateName = (typeof STATES)[number];

/** Seed of the models' initialisation; the image side and the batch of the check. */
export const SEED = 1, SIDE = 14, BATCH = 10;

/** One echoflow tensor and where it lives in the original model. */
export interface TorchEntry {
  /** The original's `state_dict` name, e.g. `5.weight_fwd`. */
  readonly name: string;
  readonly shape: readonly number[];
  /** The echoflow variable (parameter or buffer). */
  readonly variable: tf.Variable;
  readonly buffer: boolean;
  /** Values in echoflow's layout to values in the original's. */
  readonly toTorch: (v: Float32Array) => Float32Array;
}

/** A tensor the original model needs that has no echoflow counterpart (unused by the computation). */
export interface TorchExtra {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: number[];
}

/** A built model in one state with its layout map. */
export interface ModelState {
  readonly model: SelfNormFlowModel<VectorBatch>;
  /** The layers after Dequantize (the check feeds dequantized values x + u itself). */
  readonly layers: readonly Bijector[];
  /** `[B, 196]` rows are viewed as this shape before the layers (images), or kept (FC). */
  readonly inputShape: readonly number[];
  readonly entries: readonly TorchEntry[];
  readonly extras: readonly TorchExtra[];
  readonly config: Record<string, unknown>;
  dispose(): void;
}

/** `values` of a tensor of `shape` transposed by `perm` (as `tf.transpose`). */
export function permute(
  values: Float32Array,
  shape: readonly number[],
  perm: readonly number[],
): Float32Array {
  const n = shape.length;
  const strides = new Array<number>(n).fill(1);
  for (let i = n - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const outShape = perm.map((p) => shape[p]);
  const out = new Float32Array(values.length);
  const idx = new Array<number>(n).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < n; i++) src += idx[i] * strides[perm[i]];
    out[o] = values[src];
    for (let i = n - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** Output channel o of the original's coupling output layer is echoflow's channel `order[o]`. */
function interleaveOrder(c: number): number[] {
  const half = c / 2;
  return Array.from({ length: c }, (_, o) => (o % 2 === 0 ? o / 2 : half + (o - 1) / 2));
}

/** Reorders the leading axis of `[c, rest]` values by `order`. */
function reorderLeading(values: Float32Array, order: readonly number[]): Float32Array {
  const rest = values.length / order.length;
  const out = new Float32Array(values.length);
  order.forEach((src, o) => out.set(values.subarray(src * rest, (src + 1) * rest), o * rest));
  return out;
}

type Hwc = [number, number, number];

/** Maps the tensors of `layers` (index i of the original's FlowSequential = i + 1 here). */
function torchLayout(layers: readonly Bijector[], shape0: readonly number[]) {
  const entries: TorchEntry[] = [], extras: TorchExtra[] = [];
  let shape = [...shape0];
  const add = (
    name: string,
    shape: readonly number[],
    variable: tf.Variable,
    toTorch: (v: Float32Array) => Float32Array,
    buffer = false,
  ) => entries.push({ name, shape, variable, toTorch, buffer });
  const kernel = (k: number, ci: number, co: number) => (v: Float32Array) =>
    permute(v, [k, k, ci, co], [3, 2, 0, 1]);
  const nchw = ([h, w, c]: Hwc) => (v: Float32Array) => permute(v, [h, w, c], [2, 0, 1]);
  layers.forEach((layer, j) => {
    const i = j + 1, p = `${i}.`;
    const named = Object.fromEntries([...layer.parameters(), ...(layer.buffers?.() ?? [])]);
    if (layer instanceof SelfNormFC || layer instanceof ExactFC) {
      const d = layer.dim, t = (v: Float32Array) => permute(v, [d, d], [1, 0]);
      add(p + "weight_fwd", [d, d, 1, 1], layer.weight, t);
      if (layer.bias) add(p + "bias_fwd", [d], layer.bias, (v) => v);
      if (layer instanceof SelfNormFC) add(p + "weight_inv", [d, d, 1, 1], layer.inverseWeight, t);
      else {extras.push({
          name: p + "weight_inv",
          shape: [d, d, 1, 1],
          values: Array.from(layer.weight.dataSync()),
        });}
    } else if ((layer instanceof SelfNormConv || layer instanceof ExactConv) && layer.geometry.kernel > 1) {
      const { kernel: k, channels: c } = layer.geometry;
      add(p + "weight_fwd", [c, c, k, k], layer.weight, kernel(k, c, c));
      if (layer.bias) add(p + "bias_fwd", [c], layer.bias, (v) => v);
      if (layer instanceof SelfNormConv) {
        add(p + "weight_inv", [c, c, k, k], layer.inverseWeight, kernel(k, c, c));
      } else {extras.push({
          name: p + "weight_inv",
          shape: [c, c, k, k],
          values: Array.from(kernel(k, c, c)(layer.weight.dataSync() as Float32Array)),
        });}
    } else if (layer instanceof SelfNormConv) { // 1 x 1, Glow with self-normalizing convolutions
      const c = layer.geometry.channels;
      add(p + "weight_fwd", [c, c, 1, 1], layer.weight, kernel(1, c, c));
      if (layer.bias) add(p + "bias_fwd", [c], layer.bias, (v) => v);
      add(p + "weight_inv", [c, c, 1, 1], layer.inverseWeight, kernel(1, c, c));
    } else if (layer instanceof ExactConv) { // 1 x 1, Glow's Conv1x1 (no bias)
      const c = layer.geometry.channels;
      if (layer.bias) throw new Error(`layer ${i}: the original's Conv1x1 has no bias`);
      add(p + "W", [c, c], layer.weight, kernel(1, c, c));
    } else if (layer instanceof SplineActivation) {
      const k = layer.widths.shape[1]!;
      const image = shape.length === 3 ? shape as Hwc : null;
      const tShape = image ? [1, image[2], image[0], image[1]] : [1, layer.dim];
      const t = (n: number) => (v: Float32Array) => image ? permute(v, [...image, n], [2, 0, 1, 3]) : v;
      add(p + "unnormalized_widths", [...tShape, k], layer.widths, t(k));
      add(p + "unnormalized_heights", [...tShape, k], layer.heights, t(k));
      add(p + "unnormalized_derivatives", [...tShape, k - 1], layer.derivatives, t(k - 1));
    } else if (layer instanceof ConvExp) {
      const hwc: Hwc = [layer.height, layer.width, layer.channels], c = layer.channels;
      add(p + "kernel_orig", [c, c, 3, 3], layer.kernel, kernel(3, c, c));
      add(p + "pre_transform_bias", [1, c, hwc[0], hwc[1]], layer.preBias, nchw(hwc));
      add(p + "post_transform_bias", [1, c, hwc[0], hwc[1]], layer.postBias, nchw(hwc));
      add(p + "conv1x1.W", [c, c], layer.conv1x1.weight, kernel(1, c, c));
      add(p + "kernel_u", [c * hwc[0] * hwc[1]], layer.powerU, nchw(hwc), true);
      add(p + "kernel_v", [c * hwc[0] * hwc[1]], layer.powerV, nchw(hwc), true);
    } else if (layer instanceof Emerging) {
      const c = shape[2];
      add(p + "transformations.0.W", [c, c], named["conv1x1/weight"], kernel(1, c, c));
      for (const [echo, t] of [["ar1", 1], ["ar2", 3]] as const) {
        add(`${p}transformations.${t}.weight`, [c, c, 2, 2], named[`${echo}/weight`], kernel(2, c, c));
        add(`${p}transformations.${t}.bias`, [c], named[`${echo}/bias`], (v) => v);
      }
    } else if (layer instanceof ActNorm) {
      add(p + "translation", [layer.channels], layer.translation, (v) => v);
      add(p + "log_scale", [layer.channels], layer.logScale, (v) => v);
      add(p + "initialized", [], layer.initialized, (v) => v, true);
    } else if (layer instanceof GlowCoupling) {
      const c = layer.channels, half = c / 2, order = interleaveOrder(c);
      const width = named["net/conv1/bias"].shape[0];
      add(p + "net.0.weight", [width, half, 3, 3], named["net/conv1/weight"], kernel(3, half, width));
      add(p + "net.0.bias", [width], named["net/conv1/bias"], (v) => v);
      add(p + "net.2.weight", [width, width, 1, 1], named["net/conv2/weight"], kernel(1, width, width));
      add(p + "net.2.bias", [width], named["net/conv2/bias"], (v) => v);
      add(
        p + "net.4.weight",
        [c, width, 3, 3],
        named["net/conv3/weight"],
        (v) => reorderLeading(kernel(3, width, c)(v), order),
      );
      add(p + "net.4.bias", [c], named["net/conv3/bias"], (v) => reorderLeading(v, order));
      add(p + "net.4.logs", [c], named["net/logs"], (v) => reorderLeading(v, order));
    } else if (layer instanceof Squeeze) {
      shape = [shape[0] / 2, shape[1] / 2, shape[2] * 4];
    } else if (layer.parameters().length > 0) {
      throw new Error(`layer ${i} (${layer.constructor.name}) has parameters but no map to the original`);
    }
  });
  return { entries, extras };
}

/** Seeded noise on every parameter (see the module comment), in place. */
function perturb(layers: readonly Bijector[], rng: Rng): void {
  const bump = (v: tf.Variable, std: number) =>
    tf.tidy(() => v.assign(tf.add(v, tf.tensor(rng.normals(v.size, std), v.shape))));
  for (const layer of layers) {
    const named = layer.parameters();
    if (layer instanceof SelfNormFC || layer instanceof ExactFC) {
      const s = 1 / Math.sqrt(layer.dim);
      bump(layer.weight, 0.3 * s);
      if (layer instanceof SelfNormFC) bump(layer.inverseWeight, 0.2 * s);
      if (layer.bias) bump(layer.bias, 0.1);
    } else if (layer instanceof SelfNormConv || layer instanceof ExactConv) {
      const s = layer.geometry.kernel > 1 ? 0.03 : 0.1; // 9 C taps per output: keep M(K) near I
      bump(layer.weight, s);
      if (layer instanceof SelfNormConv) bump(layer.inverseWeight, s);
      if (layer.bias) bump(layer.bias, 0.1);
    } else if (layer instanceof SplineActivation) {
      for (const [, v] of named) bump(v, 0.5);
    } else if (layer instanceof ConvExp) {
      bump(layer.kernel, 0.25);
      bump(layer.preBias, 0.2);
      bump(layer.postBias, 0.2);
      bump(layer.conv1x1.weight, 0.2);
      withTraining([layer], () => {
        for (let i = 0; i < 5; i++) layer.effectiveKernel().dispose();
      });
    } else if (layer instanceof Emerging) {
      for (const [name, v] of named) {
        bump(v, name.startsWith("conv1x1") || name.endsWith("bias") ? 0.1 : 0.03);
      }
    } else if (layer instanceof ActNorm) {
      bump(layer.translation, 0.1);
      bump(layer.logScale, 0.1);
    } else if (layer instanceof GlowCoupling) {
      // The zero-initialised output layer gets weights (0.02 x 576 inputs: outputs of order 0.5), a bias
      // and log-scales, so that log s and t both matter; the hidden layers a little noise.
      for (const [name, v] of named) bump(v, name === "net/conv3/bias" || name === "net/logs" ? 0.1 : 0.02);
    }
  }
}

/** The model's log p(x) per example from dequantized rows `[B, 196]` (Dequantize skipped). */
export function logProbOf(s: ModelState, dequantized: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const x = dequantized.reshape([dequantized.shape[0], ...s.inputShape]);
    const { y, logDet } = new FlowSequential(s.layers).forward(x);
    return tf.add(s.model.flow.base.logProb(y), logDet);
  });
}

/** The training loss (the runner's `model.loss`: training mode on) from dequantized rows. */
export function trainingLossOf(s: ModelState, dequantized: tf.Tensor2D): tf.Scalar {
  return withTraining(
    [...s.model.selfNormLayers, ...s.model.modeLayers],
    () => tf.tidy(() => tf.neg(tf.mean(logProbOf(s, dequantized)))),
  );
}

/** Builds experiment `name` at its quick size in `state`; ActNorm is initialised on `dequantized`. */
export function buildState(name: ExperimentName, state: StateName, dequantized: tf.Tensor2D): ModelState {
  const spec = getExperiment(name);
  if (!spec) throw new Error(`Cannot build "${name}": not in the registry`);
  const cfg = resolveConfig(spec.config, { profile: "quick", seed: SEED });
  const log = new Logger({ err: () => {}, out: () => {}, tty: false });
  const ctx = { runDir: "", sampleDir: "", rng: new Rng(SEED), log };
  const model = spec.model(cfg, { dim: SIDE * SIDE } as ArrayDataset, ctx) as SelfNormFlowModel<VectorBatch>;
  const transform = model.flow.transform as Bijector & { inner?: Bijector; shape?: readonly number[] };
  const seq = transform.inner ?? transform;
  if (!(seq instanceof FlowSequential) || !(seq.layers[0] instanceof Dequantize)) {
    throw new Error(`Cannot build "${name}": expected Dequantize first in a FlowSequential`);
  }
  const inputShape = transform.shape ?? [SIDE * SIDE];
  const s0 = {
    model,
    layers: seq.layers.slice(1),
    inputShape,
    entries: [],
    extras: [],
    config: cfg as Record<string, unknown>,
    dispose: () => {},
  };
  logProbOf(s0, dequantized).dispose(); // initialises ActNorm, as the first batch of a run
  if (state === "perturbed") perturb(s0.layers, new Rng(`snf_peer:perturb:${name}`));
  // Layer 0 of the original's FlowSequential is its Dequantization: the layers here start at index 1.
  const { entries, extras } = torchLayout(s0.layers, inputShape.length === 3 ? inputShape : [SIDE * SIDE]);
  return {
    ...s0,
    entries,
    extras,
    dispose: () => {
      for (const [, v] of [...model.parameters(), ...model.buffers()]) v.dispose();
    },
  };
}

/** Sum, sum of squares and size of an echoflow tensor (float64), to check two builds agree. */
export function fingerprint(values: Float32Array): { n: number; sum: number; sumsq: number } {
  let sum = 0, sumsq = 0;
  for (const v of values) {
    sum += v;
    sumsq += v * v;
  }
  return { n: values.length, sum, sumsq };
}

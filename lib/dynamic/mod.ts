/**
 * The dynamic (sequence) models of echoflow: an encoder of the past (fixed echo state network or trained
 * GRU/RNN) and a conditional density of the next frame (mixture of ESN-conditioned coupling flows, or a
 * time-varying Gaussian mixture), log p(x_1..x_T) = sum_t log p(x_t | h_{t-1}).
 *
 * Typical use (an experiment's `model` builder):
 *
 * ```ts
 * const model = buildDynamicModel(cfg, frameDim, { rng: ctx.rng, esnSeed: cfg.seed });
 * attachStateCache(model, data, cfg); // ESN variants: states computed once per data set
 * ```
 */
export { attachStateCache, buildDynamicModel } from "./build.ts";
export {
  type DynamicModelConfig,
  dynamicModelConfig,
  dynamicTrainingDefaults,
  MODEL_VARIANTS,
  type ModelVariant,
} from "./config.ts";
export { DynamicModel } from "./dynamic_flow.ts";
export type { SequenceEncoder } from "./encoder.ts";
export { EsnFlow, type EsnFlowOptions, standardNormalLogProb } from "./esn_flow.ts";
export { EsnFlowLayer, halfMask } from "./esn_flow_layer.ts";
export { ContextGmm, type ContextGmmOptions, type GmmParams } from "./gmm.ts";
export { FlowMixture, type FlowMixtureOptions, type FrameDensity, type MixtureWeights } from "./mixture.ts";
export { CELL_TYPES, type CellType, RecurrentEncoder, type RecurrentEncoderOptions } from "./rnn.ts";
export { sampleSequences } from "./sample.ts";
export { type CacheReport, EsnStateCache } from "./state_cache.ts";
export { EchoStateNetwork, type EsnOptions, esnStatesDense } from "../esn.ts";
export {
  type Sequence,
  SequenceBatch,
  SequenceDataset,
  type SequenceSplits,
  type SplitName,
  type StateProvider,
} from "../data/sequences.ts";

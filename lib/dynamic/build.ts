/**
 * Builds a {@link DynamicModel} from the config keys of `config.ts`, and attaches the ESN state cache.
 *
 * The reservoir is drawn from its own generator, seeded by `esnSeed` alone, so every model built with the
 * same seed and ESN sizes has the same reservoir (the per-class models of an experiment share one, and a
 * state cache computed for one serves all); the trainable weights are drawn from `rng`.
 */
import type { SequenceDataset } from "../data/sequences.ts";
import { ConfigError } from "../config.ts";
import { EchoStateNetwork } from "../esn.ts";
import { Rng } from "../rng.ts";
import type { DynamicModelConfig } from "./config.ts";
import { DynamicModel } from "./dynamic_flow.ts";
import type { SequenceEncoder } from "./encoder.ts";
import { ContextGmm } from "./gmm.ts";
import { FlowMixture, type FrameDensity } from "./mixture.ts";
import { RecurrentEncoder } from "./rnn.ts";
import { type CacheReport, EsnStateCache } from "./state_cache.ts";

/**
 * About how many bytes the model's largest arrays take: the ESN's sparse reservoir (values and column
 * indices), its input weights, and the conditioners' context weights (N x l per flow layer and mixture
 * component) with their gradient and two Adam moments. Named in the error when building runs out of memory.
 */
export function modelBytes(cfg: DynamicModelConfig, frameDim: number): number {
  const n = cfg.model.endsWith("_esn") || cfg.model === "dyn_esn_flow" ? cfg.esn_dim : cfg.rnn_dim;
  const blocks = cfg.model.startsWith("gmm") ? 1 : cfg.n_flow_layers * cfg.num_mixtures;
  return 8 * n * cfg.conn_per_neuron + 4 * n * frameDim + 4 * 4 * n * cfg.hidden_layer_dim * blocks;
}

/**
 * A model of the variant `cfg.model` for frames of `frameDim`. A model too large to allocate is refused
 * naming the size keys and the memory they ask for (a `ConfigError`: exit 2).
 */
export function buildDynamicModel(
  cfg: DynamicModelConfig,
  frameDim: number,
  opts: { rng: Rng; esnSeed: number | string },
): DynamicModel {
  try {
    return build(cfg, frameDim, opts);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const gib = modelBytes(cfg, frameDim) / 2 ** 30;
    const size = cfg.model.endsWith("rnn") || cfg.model === "dyn_rnn_flow"
      ? `--rnn_dim ${cfg.rnn_dim}`
      : `--esn_dim ${cfg.esn_dim}`;
    throw new ConfigError(
      `${size}: the model (with --hidden_layer_dim ${cfg.hidden_layer_dim}, --conn_per_neuron ` +
        `${cfg.conn_per_neuron}) needs about ${gib.toFixed(1)} GiB for its largest arrays, more than this ` +
        `process could allocate (${e.message}); choose smaller sizes`,
    );
  }
}

function build(cfg: DynamicModelConfig, frameDim: number, opts: { rng: Rng; esnSeed: number | string }) {
  const esn = cfg.model === "dyn_esn_flow" || cfg.model === "gmm_esn";
  const encoder: SequenceEncoder = esn
    ? new EchoStateNetwork({
      frameDim,
      esnDim: cfg.esn_dim,
      connPerNeuron: cfg.conn_per_neuron,
      spectralRadius: cfg.spectral_radius,
      leakingRate: cfg.leaking_rate,
    }, new Rng(`esn:${opts.esnSeed}`))
    : new RecurrentEncoder({ frameDim, stateDim: cfg.rnn_dim, cell: cfg.rnn_cell }, opts.rng);
  const common = {
    frameDim,
    contextDim: encoder.stateDim,
    hiddenDim: cfg.hidden_layer_dim,
    numHiddenLayers: cfg.num_hidden_layers,
  };
  const density: FrameDensity = cfg.model === "gmm_esn" || cfg.model === "gmm_rnn"
    ? new ContextGmm({ ...common, numComponents: cfg.n_components }, opts.rng)
    : new FlowMixture({
      ...common,
      numFlowLayers: cfg.n_flow_layers,
      toeplitz: cfg.use_toeplitz,
      numMixtures: cfg.num_mixtures,
      weights: cfg.mixture_weights,
    }, opts.rng);
  return new DynamicModel(encoder, density, cfg.model, { config: cfg, frameDim, esnSeed: opts.esnSeed });
}

/**
 * When the model's encoder is an ESN and `esn_cache_mb > 0`, computes the states of `data` once and
 * attaches them (see `state_cache.ts`); returns what was cached, or null when no cache applies or `data`
 * already holds the states of an identical reservoir (same fingerprint: nothing to recompute).
 */
export function attachStateCache(
  model: DynamicModel,
  data: SequenceDataset,
  cfg: Pick<DynamicModelConfig, "esn_cache_mb">,
): CacheReport[] | null {
  const esn = model.encoder;
  if (!(esn instanceof EchoStateNetwork) || cfg.esn_cache_mb <= 0) return null;
  if (data.stateKey === esn.fingerprint()) return null;
  return EsnStateCache.attach(data, esn, cfg.esn_cache_mb * 2 ** 20).report;
}

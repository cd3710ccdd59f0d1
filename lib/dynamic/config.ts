/**
 * The config keys of the dynamic sequence models, with the defaults of the original design (its
 * `config/configurations.json`, kept as the TIMIT defaults). Experiments spread {@link dynamicModelConfig}
 * into their own keys and pass {@link dynamicTrainingDefaults} to `experimentConfig`:
 *
 * ```ts
 * const config = experimentConfig({ ...dynamicModelConfig, ...own }, dynamicTrainingDefaults);
 * ```
 *
 * Smaller defaults for a quick experiment: `withDefaults(dynamicModelConfig, { esn_dim: 64 })`.
 */
import { bool, choice, type Config, defineConfig, float, int } from "../config.ts";
import { CELL_TYPES } from "./rnn.ts";

/** The four model variants: encoder (ESN or trained RNN) x frame density (flow mixture or GMM). */
export const MODEL_VARIANTS = ["dyn_esn_flow", "dyn_rnn_flow", "gmm_esn", "gmm_rnn"] as const;
/** One of {@link MODEL_VARIANTS} (config key `model`). */
export type ModelVariant = (typeof MODEL_VARIANTS)[number];

/** The dynamic-model config keys with the TIMIT defaults of the original design (spread into a schema). */
export const dynamicModelConfig = {
  model: choice(
    MODEL_VARIANTS,
    "dyn_esn_flow",
    "Sequence model: ESN- or RNN-conditioned flow mixture (dyn_*_flow), or time-varying GMM (gmm_*)",
  ),
  esn_dim: int(1000, "Echo state network reservoir size N", { min: 1 }),
  conn_per_neuron: int(10, "Non-zero reservoir weights per neuron (row of W_res)", { min: 1 }),
  spectral_radius: float(0.8, "Spectral radius of W_res (W_fb gets largest singular value sqrt of it)", {
    min: 0,
  }),
  leaking_rate: float(0.5, "ESN leaking rate a: h_t = a tanh(W_res h_{t-1} + W_fb x_t) + (1 - a) h_{t-1}", {
    min: 0,
    max: 1,
  }),
  esn_cache_mb: int(
    4096,
    "Memory budget (MiB) for ESN states computed once per data set; splits beyond it are encoded per batch; 0 disables",
    { min: 0 },
  ),
  rnn_cell: choice(CELL_TYPES, "gru", "Recurrent cell of the *_rnn variants (trained jointly)"),
  rnn_dim: int(128, "State size of the recurrent encoder of the *_rnn variants", { min: 1 }),
  hidden_layer_dim: int(30, "Width l of the conditioner (and GMM network) hidden layers", { min: 1 }),
  num_hidden_layers: int(
    2,
    "Hidden layers of the conditioner (first D+N -> l, then l -> l) and GMM network",
    { min: 1 },
  ),
  n_flow_layers: int(4, "Flow layers (each: two affine couplings sharing one conditioner)", { min: 1 }),
  use_toeplitz: bool(true, "Toeplitz-constrained first conditioner layer (D + N + l - 1 free parameters)"),
  num_mixtures: int(1, "Flows in the per-frame mixture p(x_t|h) = sum_k w_k p_k(x_t|h) (1: a single flow)", {
    min: 1,
  }),
  mixture_weights: choice(
    ["static", "context"],
    "static",
    "Mixture weights: softmax of learned logits (static) or of a linear map of h_{t-1} (context)",
  ),
  n_components: int(5, "Gaussian components of the gmm_* variants", { min: 1 }),
};

/**
 * The training sizes of the original design: lr 1e-4, batches of 128 sequences, 150 epochs (the original trains
 * with SGD; experiments choose the optimizer, e.g. `esn_flow_timit --optimizer`).
 */
export const dynamicTrainingDefaults = { lr: 1e-4, batch_size: 128, epochs: 150 } as const;

const schema = defineConfig(dynamicModelConfig);
/** The resolved values of the dynamic model keys (any config that has them). */
export type DynamicModelConfig = Config<typeof schema>;

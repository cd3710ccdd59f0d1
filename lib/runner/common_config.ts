/**
 * The config keys every experiment shares, with the semantics of the Self-Normalizing Flows runner.
 * Experiments spread {@link commonConfig} into their schema and override defaults with {@link withDefaults}.
 */
import { bool, choice, type Config, defineConfig, type Field, float, int, str } from "../config.ts";
import { EARLY_STOP_RULES } from "./early_stop.ts";

export const commonConfig = {
  name: str("", "Run name (default: the experiment name); used in the run directory name"),
  notes: str("", "Free-text notes stored with the run"),
  seed: int(0, "Seed of every random draw (data split, shuffling, initialisation, sampling)"),
  lr: float(1e-3, "Peak learning rate (reached after warmup_epochs)", { min: 0 }),
  epochs: int(100, "Number of training epochs", { min: 1 }),
  batch_size: int(100, "Training batch size (examples per step)", { min: 1 }),
  warmup_epochs: float(
    0,
    "Linear learning-rate warmup from 0 to lr over this many epochs, updated per batch",
    { min: 0 },
  ),
  grad_clip_norm: float(null, "Clip the global gradient norm to this value (none: no clipping)", {
    nullable: true,
    min: 0,
  }),
  train_threads: int(
    1,
    "Threads per training step: each batch is split across this many (data-parallel; dynamic flows on wasm/cpu)",
    { min: 1 },
  ),
  eval_epochs: int(1, "Evaluate the exact likelihood every this many epochs (and after the last)", {
    min: 1,
  }),
  eval_train: bool(false, "Also evaluate the training split at each evaluation"),
  eval_batch_size: int(null, "Evaluation batch size (none: batch_size)", { nullable: true, min: 1 }),
  max_eval_ex: int(null, "Evaluate at most this many examples per split (none: all)", {
    nullable: true,
    min: 1,
  }),
  sample_epochs: int(null, "Write samples every this many epochs (none: only at the end)", {
    nullable: true,
    min: 1,
  }),
  n_samples: int(100, "Number of samples drawn each time samples are written", { min: 0 }),
  sample_dir: str("samples", "Directory for samples and pictures, relative to the run directory"),
  checkpoint_path: str(null, "Best-model checkpoint file (none: <run dir>/best.ckpt)", { nullable: true }),
  early_stop: choice(
    EARLY_STOP_RULES,
    "none",
    "Stop on the validation NLL at evaluations: no_improvement (not better than best - tol*|best|) or " +
      "converged (relative change below tol, the original's ConvergenceMonitor) for early_stop_patience " +
      "consecutive evaluations",
  ),
  early_stop_patience: int(3, "Consecutive evaluations early_stop waits for", { min: 1 }),
  early_stop_tol: float(0, "Tolerance of early_stop (relative to the validation NLL)", { min: 0 }),
  log_interval: int(50, "Log the training loss every this many steps (0: never)", { min: 0 }),
  log_timing: bool(
    false,
    "Log mean and std of time per batch and per example (first and last batch left out)",
  ),
} satisfies Record<string, Field>;

/** The keys every experiment schema has, resolved. */
export type CommonConfig = Config<typeof commonConfig>;

/** Returns `schema` with the defaults of some keys replaced (docs and types kept). */
export function withDefaults<S extends Record<string, Field>>(
  schema: S,
  defaults: { [K in keyof S]?: S[K]["default"] },
): S {
  const out: Record<string, Field> = { ...schema };
  for (const [k, v] of Object.entries(defaults)) {
    if (!(k in schema)) throw new Error(`withDefaults: unknown key "${k}"`);
    out[k] = { ...schema[k], default: v as Field["default"] };
  }
  return out as S;
}

/** The schema of an experiment: the common keys plus its own, frozen. */
export function experimentConfig<S extends Record<string, Field>>(
  own: S,
  defaults: { [K in keyof typeof commonConfig]?: (typeof commonConfig)[K]["default"] } = {},
) {
  return defineConfig({ ...withDefaults(commonConfig, defaults), ...own });
}

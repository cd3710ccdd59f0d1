/**
 * Every named experiment, imported statically. `--list` prints them; `--name` looks them up here.
 * To add an experiment: one import and one entry below.
 */
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { gaussian2d } from "./gaussian_2d.ts";
import { realnvpMoons } from "./realnvp_moons.ts";
import { selfnormFcMnist } from "./selfnorm_fc_mnist.ts";
import { exactFcMnist } from "./exact_fc_mnist.ts";
import { esnFlowTimit } from "./esn_flow_timit.ts";
import { toydensity } from "./toydensity.ts";
import { selfnormCnnMnist } from "./selfnorm_cnn_mnist.ts";
import { exactCnnMnist } from "./exact_cnn_mnist.ts";
import { conv1x1GlowMnist } from "./conv1x1_glow_mnist.ts";
import { selfnormGlowMnist } from "./selfnorm_glow_mnist.ts";
import { snfTimescaling } from "./snf_timescaling.ts";
import { emergingCnnMnist } from "./emerging_cnn_mnist.ts";
import { exponentialCnnMnist } from "./exponential_cnn_mnist.ts";
import { esnFlowSynthetic } from "./esn_flow_synthetic.ts";

// deno-lint-ignore no-explicit-any
export const REGISTRY: Readonly<Record<string, ExperimentSpec<any, any>>> = Object.freeze({
  gaussian_2d: gaussian2d,
  realnvp_moons: realnvpMoons,
  selfnorm_fc_mnist: selfnormFcMnist,
  exact_fc_mnist: exactFcMnist,
  esn_flow_timit: esnFlowTimit,
  toydensity: toydensity,
  selfnorm_cnn_mnist: selfnormCnnMnist,
  exact_cnn_mnist: exactCnnMnist,
  conv1x1_glow_mnist: conv1x1GlowMnist,
  selfnorm_glow_mnist: selfnormGlowMnist,
  snf_timescaling: snfTimescaling,
  emerging_cnn_mnist: emergingCnnMnist,
  exponential_cnn_mnist: exponentialCnnMnist,
  esn_flow_synthetic: esnFlowSynthetic,
});

/** Looks up an experiment by name; `undefined` when unknown. */
// deno-lint-ignore no-explicit-any
export function getExperiment(name: string): ExperimentSpec<any, any> | undefined {
  return Object.hasOwn(REGISTRY, name) ? REGISTRY[name] : undefined;
}

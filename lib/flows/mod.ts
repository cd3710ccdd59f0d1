/** The flows library: bijector interface, layers, composition, base density and the flow itself. */
export { type Bijector, checkShape, type Transformed } from "./bijector.ts";
export {
  AffineCoupling,
  alternatingMask,
  type Conditioner,
  couplingNet,
  type CouplingNetOptions,
  PairConditioner,
} from "./coupling.ts";
export { type Embedding, Flow, type FlowBatch, FlowDensityModel } from "./flow.ts";
export { StandardNormal } from "./normal.ts";
export { FlowSequential } from "./sequential.ts";

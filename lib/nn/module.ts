/**
 * Named trainable parameters.
 *
 * Every model part that owns `tf.Variable`s implements {@link Module}: `parameters()` lists them under
 * stable, path-like names ("flow/0/conditioner/w1"). Checkpoints store weights by these names and refuse a
 * checkpoint whose names or shapes differ; optimizers receive them in this (deterministic) order.
 * Fixed, untrained tensors (e.g. the echo state network's reservoir) are `buffers()`: saved, never trained.
 */
import * as tf from "@tensorflow/tfjs";

export type NamedTensors<T extends tf.Tensor = tf.Tensor> = ReadonlyArray<readonly [string, T]>;

export interface Module {
  /** Trainable variables, in a fixed order, under unique path-like names. */
  parameters(): NamedTensors<tf.Variable>;
  /** Fixed tensors that belong to the model but are never trained (saved with checkpoints). */
  buffers?(): NamedTensors<tf.Variable>;
}

/** Concatenates the parameters of child modules, each under `prefix/`. */
export function childParameters(children: Record<string, Module | undefined>): NamedTensors<tf.Variable> {
  const out: [string, tf.Variable][] = [];
  for (const [prefix, m] of Object.entries(children)) {
    if (!m) continue;
    for (const [name, v] of m.parameters()) out.push([`${prefix}/${name}`, v]);
  }
  return out;
}

/** Concatenates the buffers of child modules, each under `prefix/`. */
export function childBuffers(children: Record<string, Module | undefined>): NamedTensors<tf.Variable> {
  const out: [string, tf.Variable][] = [];
  for (const [prefix, m] of Object.entries(children)) {
    if (!m?.buffers) continue;
    for (const [name, v] of m.buffers()) out.push([`${prefix}/${name}`, v]);
  }
  return out;
}

/** Disposes every parameter and buffer of a module. */
export function disposeModule(m: Module): void {
  for (const [, v] of m.parameters()) v.dispose();
  for (const [, v] of m.buffers?.() ?? []) v.dispose();
}

/**
 * Saving and restoring training state: model parameters and buffers, optimizer state, epoch, step, best
 * metrics, resolved config and RNG state, in one safetensors file with a checksum
 * ({@link encodeCheckpoint}), written atomically; files of echoflow's earlier format 1 are still read.
 * Loading refuses, with an error naming the file, a truncated or corrupt file, a checkpoint of another
 * experiment or optimizer, and parameters whose names or shapes differ from the model's.
 */
import * as tf from "@tensorflow/tfjs";
import type { NamedTensors } from "../nn/module.ts";
import {
  CheckpointError,
  type CheckpointHeader,
  type CheckpointMeta,
  decodeCheckpoint,
  type DType,
  encodeCheckpoint,
  type HostTensor,
  type TensorGroups,
} from "./checkpoint_format.ts";
import { join, writeFileAtomic } from "./run_dir.ts";
import type { DensityModel } from "./types.ts";

// Re-exported so callers need only this module.
export { CheckpointError, type CheckpointHeader, type CheckpointMeta };

/** The file `--resume` uses inside a run directory. */
export const LAST_CHECKPOINT = "last.ckpt";

/** A loaded, verified checkpoint. */
export interface Checkpoint {
  readonly path: string;
  readonly header: CheckpointHeader;
  readonly tensors: TensorGroups<HostTensor>;
}

async function toHost(name: string, t: tf.Tensor): Promise<HostTensor> {
  if (t.dtype !== "float32" && t.dtype !== "int32") {
    throw new Error(`Cannot save tensor "${name}": dtype ${t.dtype} is not float32 or int32`);
  }
  const data = (await t.data()) as Float32Array | Int32Array;
  return { name, shape: t.shape, dtype: t.dtype as DType, data };
}

/** Optimizer variables that `getWeights()` leaves out (Adam's `accBeta1`/`accBeta2`), sorted by field. */
function optimizerExtra(optimizer: tf.Optimizer): [string, tf.Variable][] {
  return Object.entries(optimizer)
    .filter((kv): kv is [string, tf.Variable] => kv[1] instanceof tf.Variable)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Saves `model` and `optimizer` with `meta` to `path` (atomically: temp file + rename). */
export async function saveCheckpoint(
  path: string,
  meta: Omit<CheckpointMeta, "optimizerClass" | "created">,
  model: DensityModel,
  optimizer: tf.Optimizer,
): Promise<void> {
  const host = (named: NamedTensors) => Promise.all(named.map(([n, t]) => toHost(n, t)));
  const weights = await optimizer.getWeights();
  let opt: HostTensor[];
  try {
    opt = await Promise.all(weights.map((w) => toHost(w.name, w.tensor)));
  } finally {
    // getWeights() returns the live slot variables plus a fresh iteration-count scalar.
    for (const w of weights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  }
  const bytes = encodeCheckpoint(
    { ...meta, optimizerClass: optimizer.getClassName(), created: new Date().toISOString() },
    {
      params: await host(model.parameters()),
      buffers: await host(model.buffers?.() ?? []),
      optimizer: opt,
      optimizerExtra: await host(optimizerExtra(optimizer)),
    },
  );
  await writeFileAtomic(path, bytes);
}

/** Reads and verifies a checkpoint file. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CheckpointError(path, e instanceof Deno.errors.NotFound ? "no such file" : String(e));
  }
  return { path, ...decodeCheckpoint(bytes, path) };
}

/** A run directory's `last.ckpt`, or `path` itself when it is a file. */
export function checkpointPathOf(runDirOrFile: string): string {
  let isDir: boolean;
  try {
    isDir = Deno.statSync(runDirOrFile).isDirectory;
  } catch {
    throw new CheckpointError(runDirOrFile, "no such file or directory");
  }
  if (!isDir) return runDirOrFile;
  const path = join(runDirOrFile, LAST_CHECKPOINT);
  try {
    Deno.statSync(path);
  } catch {
    throw new CheckpointError(
      runDirOrFile,
      `the run directory has no ${LAST_CHECKPOINT} yet (the run stopped before its first epoch ended); ` +
        `start it again with --out`,
    );
  }
  return path;
}

const shapeStr = (s: readonly number[]) => `[${s.join(",")}]`;

/** Checks that `saved` holds exactly the variables of `live`, with the same shapes and dtypes. */
function checkMatch(path: string, what: string, saved: readonly HostTensor[], live: NamedTensors): void {
  const byName = new Map(saved.map((t) => [t.name, t]));
  for (const [name, v] of live) {
    const s = byName.get(name);
    if (!s) throw new CheckpointError(path, `model ${what} "${name}" is missing from the checkpoint`);
    if (shapeStr(s.shape) !== shapeStr(v.shape)) {
      throw new CheckpointError(
        path,
        `${what} "${name}" has shape ${shapeStr(s.shape)}, model expects ${shapeStr(v.shape)}`,
      );
    }
    if (s.dtype !== v.dtype) {
      throw new CheckpointError(path, `${what} "${name}" has dtype ${s.dtype}, model expects ${v.dtype}`);
    }
  }
  const liveNames = new Set(live.map(([n]) => n));
  const extra = saved.find((t) => !liveNames.has(t.name));
  if (extra) {
    throw new CheckpointError(path, `checkpoint ${what} "${extra.name}" does not exist in the model`);
  }
}

/**
 * Adam's moments (`<variable>/m` for every trained parameter, then `<variable>/v`, in the order of the
 * first step, which is the model's parameter order) must have the parameters' sizes: checked here so that
 * a checkpoint of another model fails at load, naming the file, not at the first step.
 */
function checkAdamSlots(path: string, saved: readonly HostTensor[], params: NamedTensors): void {
  const slots = saved.filter((t) => t.name.endsWith("/m") || t.name.endsWith("/v"));
  if (slots.length === 0) return; // a fresh optimizer, or one without moments
  const n = slots.length / 2;
  const sizeOf = (t: { shape: readonly number[] }) => t.shape.reduce((a, b) => a * b, 1);
  if (n > params.length) {
    throw new CheckpointError(
      path,
      `optimizer state holds moments of ${n} variables, the model has ${params.length}`,
    );
  }
  if (n < params.length) return; // some parameters got no gradient: their positions cannot be matched here
  slots.forEach((t, i) => {
    const [name, p] = params[i % n];
    if (sizeOf(t) !== sizeOf(p)) {
      throw new CheckpointError(
        path,
        `optimizer state "${t.name}" has ${sizeOf(t)} values, model parameter "${name}" has ${sizeOf(p)}`,
      );
    }
  });
}

function assignAll(live: NamedTensors<tf.Variable>, saved: readonly HostTensor[]): void {
  const byName = new Map(saved.map((t) => [t.name, t]));
  for (const [name, v] of live) {
    const s = byName.get(name)!;
    tf.tidy(() => v.assign(tf.tensor(s.data, [...s.shape], s.dtype)));
  }
}

/**
 * Restores `ckpt` into `model` and a freshly built `optimizer` after checking that it belongs to
 * `experiment` and matches the model; nothing is changed when a check fails.
 */
export async function restoreCheckpoint(
  ckpt: Checkpoint,
  experiment: string,
  model: DensityModel,
  optimizer: tf.Optimizer,
): Promise<void> {
  const { path, header, tensors } = ckpt;
  if (header.experiment !== experiment) {
    throw new CheckpointError(path, `it belongs to experiment "${header.experiment}", not "${experiment}"`);
  }
  if (header.optimizerClass !== optimizer.getClassName()) {
    throw new CheckpointError(
      path,
      `optimizer is ${header.optimizerClass}, the experiment builds ${optimizer.getClassName()}`,
    );
  }
  const params = model.parameters(), buffers = model.buffers?.() ?? [];
  checkMatch(path, "parameter", tensors.params, params);
  checkMatch(path, "buffer", tensors.buffers, buffers);
  const extra = optimizerExtra(optimizer);
  checkMatch(path, "optimizer variable", tensors.optimizerExtra, extra);
  checkAdamSlots(path, tensors.optimizer, params);
  assignAll(params, tensors.params);
  assignAll(buffers, tensors.buffers);

  const old = await optimizer.getWeights();
  const incoming = tensors.optimizer.map((t) => ({
    name: t.name,
    tensor: tf.tensor(t.data, [...t.shape], t.dtype),
  }));
  await optimizer.setWeights(incoming);
  // setWeights wraps copies of our tensors in new slot variables; free our copies and the old slots.
  const now = new Set((await optimizer.getWeights()).map((w) => w.tensor));
  for (const w of [...old, ...incoming]) if (!now.has(w.tensor)) w.tensor.dispose();
  for (const w of now) if (!(w instanceof tf.Variable)) w.dispose();
  // After setWeights, so the exact running powers replace the ones Adam recomputes with pow().
  assignAll(extra, tensors.optimizerExtra);
}

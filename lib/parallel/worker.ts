/**
 * A training thread of {@link DataParallel} (`data_parallel.ts`): builds a replica of the model from its
 * recipe on its own tfjs backend, then for every `step` or `logp` message copies in the weights it is sent and
 * returns the loss and gradients (host arrays, transferred), or the log-likelihood sum, of the batch part
 * it is sent.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, selectBackend } from "../backend.ts";
import { SequenceBatch } from "../data/sequences.ts";
import { buildDynamicModel } from "../dynamic/build.ts";
import type { DynamicModel } from "../dynamic/dynamic_flow.ts";
import { Rng } from "../rng.ts";
import { type FromWorker, partGradients, partLogProb, stateKeyOf, type ToWorker } from "./data_parallel.ts";

interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

let model: DynamicModel | null = null;
let vars: tf.Variable[] = [];

function init(msg: Extract<ToWorker, { type: "init" }>): FromWorker {
  const { config, frameDim, esnSeed } = msg.recipe;
  // The weights are overwritten at every step; the reservoir comes from esnSeed, as in the main model.
  model = buildDynamicModel(config, frameDim, { rng: new Rng("replica"), esnSeed });
  vars = model.parameters().map(([, v]) => v);
  const mine = vars.map((v) => v.shape.join("x")).join(", ");
  const theirs = msg.shapes.map((s) => s.join("x")).join(", ");
  if (mine !== theirs) throw new Error(`the replica's parameter shapes [${mine}] differ from [${theirs}]`);
  // The main model's reservoir (it may come from a checkpoint rather than the seed).
  const buffers = model.buffers().map(([, v]) => v);
  if (buffers.length !== msg.buffers.length) {
    throw new Error(`the replica has ${buffers.length} buffers, the model ${msg.buffers.length}`);
  }
  tf.tidy(() => buffers.forEach((v, i) => v.assign(tf.tensor(msg.buffers[i].values, v.shape, v.dtype))));
  const key = stateKeyOf(model);
  if (key !== msg.stateKey) {
    throw new Error(`the replica's reservoir (${key}) differs from the model's (${msg.stateKey})`);
  }
  return { type: "ready" };
}

function step(msg: Extract<ToWorker, { type: "step" | "logp" }>): [FromWorker, Transferable[]] {
  const t0 = performance.now();
  const m = model;
  if (!m) throw new Error(`${msg.type} before init`);
  if (msg.params.length !== vars.length) {
    throw new Error(
      `${msg.type}: ${msg.params.length} parameter arrays for the replica's ${vars.length} parameters`,
    );
  }
  tf.tidy(() => msg.params.forEach((p, i) => vars[i].assign(tf.tensor(p, vars[i].shape))));
  const batch = SequenceBatch.fromHost(msg.shard);
  try {
    if (msg.type === "logp") {
      return [{ type: "logp", sum: partLogProb(m, batch), ms: performance.now() - t0 }, []];
    }
    const { loss, grads } = partGradients(m, vars, batch);
    const buffers = grads.filter((g): g is Float32Array => g !== null).map((g) => g.buffer as ArrayBuffer);
    return [{ type: "grads", loss, grads, ms: performance.now() - t0 }, buffers];
  } finally {
    batch.dispose();
  }
}

scope.onmessage = async (e) => {
  try {
    if (e.data.type === "init") {
      await selectBackend(e.data.backend as BackendName);
      scope.postMessage(init(e.data));
    } else {
      const [reply, transfer] = step(e.data);
      scope.postMessage(reply, transfer);
    }
  } catch (err) {
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};

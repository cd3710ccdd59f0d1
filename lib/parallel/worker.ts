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
import { type FromWorker, partGradients, partLogProb, type ToWorker } from "./data_parallel.ts";

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
  return { type: "ready" };
}

function step(msg: Extract<ToWorker, { type: "step" | "logp" }>): [FromWorker, Transferable[]] {
  const t0 = performance.now();
  const m = model;
  if (!m) throw new Error(`${msg.type} before init`);
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

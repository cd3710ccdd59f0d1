/**
 * Data-parallel training steps of a {@link DynamicModel} on several threads.
 *
 * Every batch is cut into parts of consecutive sequences with about equal frame counts
 * (`SequenceBatch.shards`); worker threads (`worker.ts`, each with its own tfjs backend and a replica of
 * the model built from the model's {@link ModelRecipe}) get the current weights and one part each, this
 * thread takes the first part, and all compute the loss and gradients of their part at the same time.
 * With `B_k` sequences in part k of a batch of B, the batch loss `-(sum_b log p(seq_b)) / B` is
 * `sum_k (B_k / B) loss_k`, and so are its gradients: the combined gradient is that weighted sum, clipped
 * and applied by the one optimizer here, so a step does what `trainStep` does on the whole batch (up to
 * float32 summation order). Evaluation (`sumLogProb`) is split the same way and sums the parts. Where a
 * batch is cut follows the threads' measured speeds, so a run with more than one thread is not bitwise
 * reproducible (nor is its resume bitwise equal to an uninterrupted run), only equal to float32 rounding.
 *
 * Why: tfjs-backend-wasm's own threads do not start under Deno (its emscripten workers need classic
 * workers), so a second core is only reachable from a second thread with its own backend.
 */
import * as tf from "@tensorflow/tfjs";
import { ConfigError } from "../config.ts";
import { type HostBatch, SequenceBatch } from "../data/sequences.ts";
import { DynamicModel, type ModelRecipe } from "../dynamic/dynamic_flow.ts";
import { applyClipped, lossOf } from "../runner/train_step.ts";
import type { DensityModel, ParallelTrainer } from "../runner/types.ts";

/** Messages to a worker. */
export type ToWorker =
  | {
    readonly type: "init";
    readonly backend: string;
    readonly recipe: ModelRecipe;
    /** The main model's parameter shapes, in order, which the replica's must equal. */
    readonly shapes: readonly (readonly number[])[];
    /** The main model's buffers (the reservoir), copied into the replica, and its ESN's fingerprint. */
    readonly buffers: readonly HostTensor[];
    readonly stateKey: string | null;
  }
  /** `step`: loss and gradients of the part; `logp`: the sum of its sequences' log-likelihoods. */
  | { readonly type: "step" | "logp"; readonly params: Float32Array[]; readonly shard: HostBatch };

/** A tensor's values on the host. */
export interface HostTensor {
  readonly values: Float32Array | Int32Array;
  readonly shape: readonly number[];
  readonly dtype: "float32" | "int32";
}

/** The ESN fingerprint of a model's encoder (null for a trained encoder). */
export function stateKeyOf(model: DynamicModel): string | null {
  const e = model.encoder as { fingerprint?: () => string };
  return e.fingerprint ? e.fingerprint() : null;
}

/** Messages from a worker. */
export type FromWorker =
  | { readonly type: "ready" }
  | {
    readonly type: "grads";
    readonly loss: number;
    readonly grads: (Float32Array | null)[];
    readonly ms: number;
  }
  | { readonly type: "logp"; readonly sum: number; readonly ms: number }
  | { readonly type: "error"; readonly message: string };

/** The loss and gradients (host copies, null where a parameter got none) of one part, and its time. */
export interface PartResult {
  readonly loss: number;
  readonly grads: (Float32Array | null)[];
  /** Milliseconds the thread spent on the part (weights in, batch upload, gradients out). */
  readonly ms: number;
}

/** One worker thread and its one pending request. */
class WorkerThread {
  readonly #worker: Worker;
  #pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | null = null;

  constructor(readonly index: number) {
    this.#worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => this.#settle((p) => p.resolve(e.data));
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#settle((p) => p.reject(new Error(`training thread ${index}: ${e.message}`)));
    };
    this.#worker.onmessageerror = () =>
      this.#settle((p) => p.reject(new Error(`training thread ${index}: a reply could not be read`)));
  }

  #settle(f: (p: { resolve: (m: FromWorker) => void; reject: (e: Error) => void }) => void): void {
    const p = this.#pending;
    this.#pending = null;
    if (p) f(p);
  }

  /** Sends `msg` and resolves with the reply; a worker's `error` reply rejects. */
  request(msg: ToWorker, transfer: Transferable[] = []): Promise<FromWorker> {
    if (this.#pending) throw new Error(`training thread ${this.index} is busy`);
    return new Promise<FromWorker>((resolve, reject) => {
      this.#pending = { resolve, reject };
      try {
        this.#worker.postMessage(msg, transfer);
      } catch (e) {
        this.#pending = null;
        reject(e);
      }
    }).then((reply) => {
      if (reply.type === "error") throw new Error(`training thread ${this.index}: ${reply.message}`);
      return reply;
    });
  }

  terminate(): void {
    this.#worker.terminate();
    this.#settle((p) => p.reject(new Error(`training thread ${this.index} was stopped`)));
  }
}

/** The loss and host gradients of `model` on `batch` (one part; on this thread or a worker). */
export function partGradients(
  model: DynamicModel,
  vars: readonly tf.Variable[],
  batch: SequenceBatch,
): Omit<PartResult, "ms"> {
  const out = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => lossOf(model, batch), [...vars]);
    return { value, grads: vars.map((v) => grads[v.name] ?? null) };
  });
  try {
    return {
      loss: out.value.dataSync()[0],
      grads: out.grads.map((g) => (g ? Float32Array.from(g.dataSync() as Float32Array) : null)),
    };
  } finally {
    tf.dispose([out.value, ...out.grads.filter((g): g is tf.Tensor => g !== null)]);
  }
}

/** `sum(logProb(batch))` of `model` (one part; on this thread or a worker). */
export function partLogProb(model: DynamicModel, batch: SequenceBatch): number {
  return tf.tidy(() => tf.sum(model.logProb(batch)).dataSync()[0]);
}

/** Data-parallel training steps of a model on this thread and `workers` more (module doc). */
export class DataParallel implements ParallelTrainer<SequenceBatch> {
  readonly #vars: tf.Variable[];
  /** Frames per millisecond of each thread, for training steps and for evaluation batches apart. */
  readonly #rates: Record<"step" | "logp", { perThread: number[]; seen: number }>;

  private constructor(readonly model: DynamicModel, readonly threads: readonly WorkerThread[]) {
    this.#vars = model.parameters().map(([, v]) => v);
    const equal = () => ({ perThread: [1, ...threads.map(() => 1)], seen: 0 });
    this.#rates = { step: equal(), logp: equal() };
  }

  /**
   * Starts `threads - 1` worker threads with replicas of `model` on the current backend (wasm or cpu);
   * throws a {@link ConfigError} when the model or the backend cannot train in parallel.
   */
  static async start(model: DynamicModel, threads: number): Promise<DataParallel> {
    const backend = tf.getBackend();
    if (backend !== "wasm" && backend !== "cpu") {
      throw new ConfigError(
        `train_threads ${threads}: data-parallel training runs on wasm or cpu, not ${backend}`,
      );
    }
    if (!model.recipe) {
      throw new ConfigError(`train_threads ${threads}: this model was not built by buildDynamicModel`);
    }
    const workers = Array.from({ length: threads - 1 }, (_, i) => new WorkerThread(i + 1));
    const dp = new DataParallel(model, workers);
    const shapes = dp.#vars.map((v) => v.shape);
    const buffers = (model.buffers?.() ?? []).map(([, v]): HostTensor => ({
      values: v.dtype === "int32"
        ? Int32Array.from(v.dataSync() as Int32Array)
        : Float32Array.from(v.dataSync()),
      shape: v.shape,
      dtype: v.dtype === "int32" ? "int32" : "float32",
    }));
    const init = {
      type: "init",
      backend,
      recipe: model.recipe,
      shapes,
      buffers,
      stateKey: stateKeyOf(model),
    } as const;
    try {
      await Promise.all(workers.map((w) => w.request(init)));
    } catch (e) {
      dp.close();
      throw e;
    }
    return dp;
  }

  /**
   * Cuts `batch` in proportion to the threads' speeds, sends parts 1.. with the current weights to the
   * workers as `type` requests, runs `local` on part 0 here meanwhile, and returns every part's result
   * (part 0 first) with the parts' sequence counts as fractions of the batch.
   */
  async #scatter<R extends { ms: number }>(
    batch: SequenceBatch,
    type: "step" | "logp",
    local: (part: SequenceBatch) => Omit<R, "ms">,
  ): Promise<{ parts: R[]; weights: number[] }> {
    const rates = this.#rates[type].perThread;
    const total = rates.reduce((x, y) => x + y, 0);
    const shards = batch.shards(rates.map((r) => r / total));
    // Read before the parts' arrays are transferred (and detached).
    const weights = shards.map((s) => s.lengths.length / batch.size);
    const frames = shards.map((s) => s.packed.length / s.frameDim);
    const params = this.#vars.map((v) => Float32Array.from(v.dataSync() as Float32Array));
    const remote = shards.slice(1).map((shard, k) => {
      const arrays = [shard.lengths, shard.packed, ...(shard.states ? [shard.states.values] : [])];
      const buffers = arrays.map((a) => a.buffer as ArrayBuffer);
      return this.threads[k].request({ type, params, shard }, buffers);
    });
    // Handled from now on: if this thread's part fails, its error is the one reported.
    const replies = Promise.all(remote);
    replies.catch(() => {});
    const t0 = performance.now();
    let mine: R;
    const part = SequenceBatch.fromHost(shards[0]);
    try {
      mine = { ...local(part), ms: performance.now() - t0 } as R;
    } finally {
      part.dispose();
    }
    const parts = [mine, ...(await replies) as unknown as R[]];
    this.#updateRates(type, parts.map((p, k) => frames[k] / Math.max(p.ms, 1e-3)));
    return { parts, weights };
  }

  /** `sum(logProb(batch))` over all the threads. */
  async sumLogProb(batch: SequenceBatch): Promise<number> {
    const { parts } = await this.#scatter<{ sum: number; ms: number }>(batch, "logp", (part) => ({
      sum: partLogProb(this.model, part),
    }));
    return parts.reduce((acc, p) => acc + p.sum, 0);
  }

  /** One step on `batch` (see the module doc); returns the batch loss. */
  async step(batch: SequenceBatch, optimizer: tf.Optimizer, gradClipNorm: number | null): Promise<number> {
    const { parts, weights } = await this.#scatter<PartResult>(
      batch,
      "step",
      (part) => partGradients(this.model, this.#vars, part),
    );
    const loss = parts.reduce((acc, p, k) => acc + weights[k] * p.loss, 0);
    tf.tidy(() => {
      const used: { name: string; tensor: tf.Tensor }[] = [];
      this.#vars.forEach((v, i) => {
        if (parts.every((p) => p.grads[i] === null)) return;
        const sum = new Float32Array(v.size);
        parts.forEach((p, k) => {
          const g = p.grads[i];
          if (g) { for (let j = 0; j < sum.length; j++) sum[j] += weights[k] * g[j]; }
        });
        used.push({ name: v.name, tensor: tf.tensor(sum, v.shape) });
      });
      applyClipped(optimizer, used, gradClipNorm);
    });
    return loss;
  }

  /**
   * Frames per millisecond of each thread, smoothed over steps: the next batch is shared in proportion,
   * so that the threads finish together (a worker also copies weights in and gradients out, and two
   * threads on a shared machine rarely run at the same speed).
   */
  #updateRates(type: "step" | "logp", measured: readonly number[]): void {
    const r = this.#rates[type];
    if (measured.length !== r.perThread.length) return; // a small batch gave fewer parts
    // The first measurement includes warm-up: it only starts the average, which later ones move.
    r.perThread = r.perThread.map((v, k) => (r.seen === 0 ? measured[k] : 0.8 * v + 0.2 * measured[k]));
    r.seen++;
  }

  /** Stops the worker threads. */
  close(): void {
    for (const w of this.threads) w.terminate();
  }
}

/**
 * `ExperimentSpec.parallelTrainer` (lib/runner/types.ts) of the experiments whose models are dynamic flows:
 * `parallelTrainer: dataParallelTrainer` in their spec.
 */
export function dataParallelTrainer(
  model: DensityModel<SequenceBatch>,
  threads: number,
): Promise<ParallelTrainer<SequenceBatch>> {
  if (!(model instanceof DynamicModel)) {
    throw new ConfigError(`train_threads ${threads}: data-parallel training needs a dynamic flow model`);
  }
  return DataParallel.start(model, threads);
}

/**
 * Identical maths: the same weights and data give the same log-likelihood in echoflow and in the PyTorch
 * peer (`torch_esn_flow.py`), to 1e-6 relative per sequence ({@link CHECK_TOLERANCE}).
 *
 * The bench's check (`--check_peer`, {@link checkAgainstPeer}) hands the peer the checkpoint file echoflow
 * writes (safetensors) and a batch file; `peer_logp.py` reads them with `read_checkpoint.py` (written from
 * the format's specification), maps echoflow's names to the peer's `state_dict` (the peer's `nn.Linear`
 * stores `[out, in]`, echoflow's `Linear` `[in, out]`, so those are transposed), loads them into the peer's
 * own `DynFlow` and `esn_states` in float64 and prints log p of every sequence. {@link exportForPeer} is
 * the older JSON hand-off with the names mapped here ({@link torchName}), which `peer_logp.py` still reads.
 *
 * The tolerance: echoflow computes in float32 (rounding 6e-8 relative per op), the peer in float64; a
 * sequence's log p (100 to 1,800 here) is a float32 sum over its frames. Measured, max over the sequences
 * of |ours - theirs| / |theirs|: 4.6e-8 to 1.4e-7 (1 to 2 ulps of the result) for the tests' model
 * (ESN 24, seeds 0..3, JSON and checkpoint hand-offs) and 5.4e-8 to 1.2e-7 for the bench's (ESN 1000, 16
 * sequences, seeds 0..2, wasm and cpu). 1e-6 is 7x the worst of them; a wrong formula misses by far more
 * (a transposed [30, 30] hidden weight: 2.9e-3 to 2.2e-2). A hardware GPU was not measured.
 */
import * as tf from "@tensorflow/tfjs";
import { SequenceBatch } from "../lib/data/sequences.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { EchoStateNetwork } from "../lib/esn.ts";
import type { Rng } from "../lib/rng.ts";
import { adam } from "../lib/runner/adam.ts";
import { saveCheckpoint } from "../lib/runner/checkpoint.ts";
import { join, writeFileAtomic } from "../lib/runner/run_dir.ts";
import { encodeSafetensors } from "../lib/runner/safetensors.ts";
import type { DensityModel } from "../lib/runner/types.ts";
import { benchConfig } from "./measure.ts";

export const CHECK_TOLERANCE = 1e-6;

/** The peer's `state_dict` name of an echoflow parameter, and whether its values must be transposed. */
export function torchName(name: string): { name: string; transpose: boolean } {
  if (name === "density/flow/0/rescale") return { name: "rescale", transpose: false };
  const m = /^density\/flow\/0\/layer\/(\d+)\/(.+)$/.exec(name);
  const p = m?.[2] ?? "";
  let sub: RegExpExecArray | null;
  if (m && (sub = /^first\/(params|bias)$/.exec(p))) {
    return { name: `nets.${m[1]}.body.0.${sub[1]}`, transpose: false };
  }
  if (m && (sub = /^hidden\/(\d+)\/(weight|bias)$/.exec(p))) {
    // body = [Toeplitz, ReLU, Linear, ReLU, ...]: hidden layer j sits at index 2 (j + 1).
    return {
      name: `nets.${m[1]}.body.${2 * (Number(sub[1]) + 1)}.${sub[2]}`,
      transpose: sub[2] === "weight",
    };
  }
  if (m && (sub = /^(slope|intercept)\/(weight|bias)$/.exec(p))) {
    return { name: `nets.${m[1]}.${sub[1]}.${sub[2]}`, transpose: sub[2] === "weight" };
  }
  throw new Error(
    `peer_check: no PyTorch peer name for echoflow parameter "${name}" (the peer is one flow of Toeplitz ` +
      `conditioners: dyn_esn_flow, num_mixtures 1, use_toeplitz true)`,
  );
}

/** A row-major `[rows, cols]` matrix transposed. */
function transposed(v: Float32Array, rows: number, cols: number): number[] {
  const out = new Array<number>(v.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c];
  return out;
}

/** The JSON that `peer_logp.py` reads: weights under the peer's names, reservoir, W_fb and the batch. */
export async function exportForPeer(
  model: DynamicModel,
  batch: SequenceBatch,
): Promise<Record<string, unknown>> {
  const esn = model.encoder;
  if (!(esn instanceof EchoStateNetwork)) throw new Error("peer_check: the model's encoder must be an ESN");
  const state: Record<string, { shape: number[]; values: number[] }> = {};
  for (const [name, v] of model.parameters()) {
    const t = torchName(name);
    const values = await v.data() as Float32Array;
    const [rows, cols] = v.shape as number[];
    state[t.name] = t.transpose
      ? { shape: [cols, rows], values: transposed(values, rows, cols) }
      : { shape: [...v.shape] as number[], values: Array.from(values) };
  }
  const { res, fbT } = esn.host();
  const cfg = benchConfig(esn.esnDim);
  return {
    dims: {
      frame_dim: esn.frameDim,
      esn_dim: esn.esnDim,
      hidden: cfg.hidden_layer_dim,
      layers: cfg.num_hidden_layers,
      flows: cfg.n_flow_layers,
    },
    leak: esn.leakingRate,
    state,
    wres: {
      n: res.rows,
      per_row: res.perRow,
      values: Array.from(res.values),
      columns: Array.from(res.columns),
    },
    wfb: { shape: [esn.esnDim, esn.frameDim], values: transposed(fbT, esn.frameDim, esn.esnDim) },
    x: { shape: [batch.maxLength, batch.size, batch.frameDim], values: Array.from(batch.paddedHost()) },
    lengths: Array.from(batch.lengths),
  };
}

/** Largest `|ours - theirs| / |theirs|` over pairs (lengths must agree). */
export function maxRelativeError(ours: readonly number[], theirs: readonly number[]): number {
  if (ours.length !== theirs.length) {
    throw new Error(`maxRelativeError: ${ours.length} values against ${theirs.length}`);
  }
  let worst = 0;
  for (let i = 0; i < ours.length; i++) {
    worst = Math.max(worst, Math.abs(ours[i] - theirs[i]) / Math.max(Math.abs(theirs[i]), 1e-30));
  }
  return worst;
}

export interface CheckResult {
  readonly ours: number[];
  readonly theirs: number[];
  readonly maxRelErr: number;
  readonly torch: string;
}

/**
 * Writes `model` as an echoflow checkpoint (the file a run saves, safetensors) and `batch` as a safetensors
 * file of `x` `[T, B, D]` (zero-padded, time-major) and `lengths` `[B]`: what `peer_logp.py` reads in its
 * checkpoint mode.
 */
export async function writePeerFiles(
  model: DynamicModel,
  batch: SequenceBatch,
  esnDim: number,
  rng: Rng,
  checkpoint: string,
  batchFile: string,
): Promise<void> {
  const optimizer = adam(1e-4);
  try {
    await saveCheckpoint(
      checkpoint,
      {
        experiment: "bench",
        config: benchConfig(esnDim),
        epoch: 0,
        step: 0,
        best: {},
        rng: rng.state(),
        backend: null,
      },
      model as unknown as DensityModel,
      optimizer,
    );
  } finally {
    optimizer.dispose();
  }
  const x = batch.paddedHost();
  await writeFileAtomic(
    batchFile,
    encodeSafetensors([
      { name: "x", dtype: "F32", shape: [batch.maxLength, batch.size, batch.frameDim], data: x },
      { name: "lengths", dtype: "I32", shape: [batch.size], data: Int32Array.from(batch.lengths) },
    ], {}),
  );
}

/** Runs `peer_logp.py` on `args` (after the peer script); its per-sequence log-likelihoods and torch version. */
export async function peerLogp(
  python: string,
  peerScript: string,
  args: readonly string[],
): Promise<{ logp: number[]; torch: string }> {
  const script = decodeURIComponent(new URL("./peer_logp.py", import.meta.url).pathname);
  const out = await new Deno.Command(python, {
    args: [script, peerScript, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(
      `peer_logp.py failed (exit code ${out.code}): ${dec.decode(out.stderr).trim().split("\n").pop()}`,
    );
  }
  return JSON.parse(dec.decode(out.stdout).trim().split("\n").pop()!);
}

/**
 * Randomises the shared slope rescale (initialised to 1, which would hide a misplaced rescale), then
 * compares per-sequence log-likelihoods of `seqs` with the peer's, which loads the model from the
 * checkpoint file echoflow writes ({@link writePeerFiles}). Throws when `peer_logp.py` fails.
 */
export async function checkAgainstPeer(
  model: DynamicModel,
  seqs: readonly Float32Array[],
  rng: Rng,
  python: string,
  peerScript: string,
): Promise<CheckResult> {
  const rescale = model.parameters().find(([n]) => n === "density/flow/0/rescale")?.[1];
  if (!rescale) throw new Error("peer_check: the model has no density/flow/0/rescale parameter");
  if (!(model.encoder instanceof EchoStateNetwork)) {
    throw new Error("peer_check: the model's encoder must be an ESN");
  }
  const d = rescale.shape[0];
  rescale.assign(tf.tensor1d(Array.from({ length: d }, () => 0.5 + rng.uniform())));
  const batch = SequenceBatch.fromSequences(seqs, model.frameDim);
  const dir = await Deno.makeTempDir({ prefix: "echoflow_peer_check_" });
  try {
    const lp = model.logProb(batch);
    const ours = Array.from(await lp.data());
    lp.dispose();
    const [ckpt, data] = [join(dir, "model.ckpt"), join(dir, "batch.safetensors")];
    await writePeerFiles(model, batch, model.encoder.esnDim, rng, ckpt, data);
    const res = await peerLogp(python, peerScript, [ckpt, data]);
    return { ours, theirs: res.logp, maxRelErr: maxRelativeError(ours, res.logp), torch: res.torch };
  } finally {
    batch.dispose();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

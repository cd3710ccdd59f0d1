/**
 * Writes, for every MNIST experiment and state of `states.ts`, echoflow's weights in the original
 * code's `state_dict` layout, the golden batch and the settings `golden.py` needs to build the same model
 * with the original's `create_model`. Usage (see README.md in this folder):
 *
 *   deno run -A bench/snf_peer/export.ts --out /tmp/snf_peer
 *
 * The batch: the first 10 test digits of the bundled MNIST at 14 x 14 (`--profile quick`, split seed 0)
 * and dequantization noise u ~ U[0, 1) from a fixed seed; both codes are fed the float32 values
 * x + u, so no noise is drawn by either.
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../lib/backend.ts";
import { loadMnist } from "../../lib/data/mnist.ts";
import { Rng } from "../../lib/rng.ts";
import {
  BATCH,
  buildState,
  type ExperimentName,
  EXPERIMENTS,
  fingerprint,
  type ModelState,
  SIDE,
  STATES,
} from "./states.ts";

/** The golden batch: pixel values and the dequantized float32 values x + u, `[BATCH, 196]` each. */
export async function goldenBatch(): Promise<{ pixels: Float32Array; dequantized: Float32Array }> {
  const data = await loadMnist({ dir: null, splitSeed: 0, side: SIDE, maxTrain: 2000 });
  const pixels = data.splits.test.data.slice(0, BATCH * SIDE * SIDE);
  const noise = new Rng("snf_peer:noise");
  const dequantized = pixels.map((x) => Math.fround(x + Math.fround(noise.uniform())));
  return { pixels, dequantized };
}

/** The original's `create_model` arguments and training switches for experiment `name`. */
function originalSettings(name: ExperimentName, cfg: Record<string, unknown>) {
  const snf = name.startsWith("selfnorm");
  const train = {
    modified_grad: snf ? cfg.modified_grad : false,
    add_recon_grad: snf ? cfg.add_recon_grad : false,
  };
  const recon = {
    sym_recon_grad: cfg.sym_recon_grad ?? false,
    recon_loss_weight: cfg.recon_loss_weight ?? 0,
  };
  if (name.endsWith("fc_mnist")) {
    return {
      create_model: {
        num_layers: cfg.num_layers,
        activation: cfg.activation,
        only_R_recon: cfg.only_R_recon ?? false,
        data_size: [1, SIDE, SIDE],
        ...recon,
      },
      train,
      coupling_width: null,
    };
  }
  if (name.endsWith("glow_mnist")) {
    // The quick profile: one block of 4 steps, coupling width 64 (experiments/glow_mnist.ts).
    return {
      create_model: {
        num_blocks: 1,
        block_size: 4,
        actnorm: cfg.actnorm,
        split_prior: cfg.split_prior,
        ...recon,
      },
      train,
      coupling_width: 64,
    };
  }
  // The CNNs: the quick profile caps the blocks at 2 (experiments/cnn_mnist.ts).
  return {
    create_model: {
      num_layers: cfg.num_layers,
      num_blocks: Math.min(cfg.num_blocks as number, 2),
      activation: cfg.activation,
      ...recon,
    },
    train,
    coupling_width: null,
  };
}

/** The exchange record of one state for `golden.py`. */
export function exchangeRecord(name: ExperimentName, state: string, s: ModelState) {
  const tensors: Record<string, { shape: readonly number[]; values: number[]; buffer: boolean }> = {};
  const fingerprints: Record<string, ReturnType<typeof fingerprint>> = {};
  for (const e of s.entries) {
    const v = e.variable.dataSync() as Float32Array;
    tensors[e.name] = { shape: e.shape, values: Array.from(e.toTorch(v)), buffer: e.buffer };
    fingerprints[e.name] = fingerprint(v);
  }
  for (const x of s.extras) tensors[x.name] = { shape: x.shape, values: x.values, buffer: false };
  return { experiment: name, state, side: SIDE, ...originalSettings(name, s.config), tensors, fingerprints };
}

if (import.meta.main) {
  const flag = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const args = { out: flag("out"), only: flag("only") };
  if (!args.out) {
    console.error("Usage: deno run -A bench/snf_peer/export.ts --out DIR [--only NAME,NAME]");
    Deno.exit(2);
  }
  await selectBackend("wasm");
  await Deno.mkdir(args.out, { recursive: true });
  const { pixels, dequantized } = await goldenBatch();
  const only = args.only ? args.only.split(",") : null;
  await Deno.writeTextFile(
    `${args.out}/batch.json`,
    JSON.stringify({
      side: SIDE,
      batch: BATCH,
      pixels: Array.from(pixels),
      dequantized: Array.from(dequantized),
    }),
  );
  const x = tf.tensor2d(dequantized, [BATCH, SIDE * SIDE]);
  for (const name of EXPERIMENTS) {
    if (only && !only.includes(name)) continue;
    for (const state of STATES) {
      const s = buildState(name, state, x);
      try {
        const file = `${args.out}/${name}.${state}.json`;
        await Deno.writeTextFile(file, JSON.stringify(exchangeRecord(name, state, s)));
        console.error(`wrote ${file} (${s.entries.length} tensors)`);
      } finally {
        s.dispose();
      }
    }
  }
  x.dispose();
}

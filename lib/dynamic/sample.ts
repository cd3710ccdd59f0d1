/**
 * Autoregressive sampling of a sequence model: with h_0 = 0, for t = 1..T
 *
 *   x_t ~ p(. | h_{t-1})   (a flow: choose a component, z ~ N(0, I), x_t = f^{-1}(z; h_{t-1})),
 *   h_t = encoder(h_{t-1}, x_t).
 *
 * All sequences advance together up to the longest length; each keeps its first `lengths[i]` frames
 * (frames past a sequence's end never influence its earlier frames). Every random draw comes from `rng`.
 * Frames stay on the device until the end, and reads are asynchronous, so this works on WebGPU too.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { SequenceEncoder } from "./encoder.ts";
import type { FrameDensity } from "./mixture.ts";

/** Draws one sequence per entry of `lengths` from the model `(encoder, density)` (see the module doc). */
export async function sampleSequences(
  encoder: SequenceEncoder,
  density: FrameDensity,
  lengths: readonly number[],
  rng: Rng,
): Promise<Float32Array[]> {
  if (lengths.length === 0) return [];
  for (const l of lengths) {
    if (!(Number.isInteger(l) && l >= 1)) {
      throw new Error(`sampleSequences: lengths must be integers >= 1, got ${l}`);
    }
  }
  const n = lengths.length, d = density.frameDim, steps = Math.max(...lengths);
  let h = encoder.initial(n);
  const frames: tf.Tensor2D[] = [];
  try {
    for (let t = 0; t < steps; t++) {
      const x = await density.sample(h, rng);
      frames.push(x);
      if (t + 1 < steps) {
        const next = tf.tidy(() => encoder.step(h, x));
        h.dispose();
        h = next;
      }
    }
    const all = tf.stack(frames); // [T, n, D]
    const values = await all.data() as Float32Array;
    all.dispose();
    return lengths.map((len, i) => {
      const out = new Float32Array(len * d);
      for (let t = 0; t < len; t++) out.set(values.subarray((t * n + i) * d, (t * n + i + 1) * d), t * d);
      return out;
    });
  } finally {
    h.dispose();
    for (const f of frames) f.dispose();
  }
}

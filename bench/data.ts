/**
 * The bench's data and statistics: TIMIT-like batches drawn as the PyTorch peer draws them, medians and
 * throughputs.
 *
 * Segment lengths follow the peer (`torch_esn_flow.py`): `clip(round(Gamma(shape 2, scale 4)), 2, 40)`
 * frames (mean about 8, like TIMIT phone segments at a 10 ms frame step), frames standard normal. The
 * generator is echoflow's seeded {@link Rng}, so the values differ from numpy's but not the distribution.
 */
import type { Rng } from "../lib/rng.ts";

/**
 * A Gamma(shape 2, `scale`) draw as the sum of two exponentials: for integer shape k, Gamma(k, theta) is
 * the sum of k independent Exp(mean theta) variables, `-theta * ln(U)` with U uniform in (0, 1].
 */
export function gamma2(rng: Rng, scale: number): number {
  return -scale * (Math.log(1 - rng.uniform()) + Math.log(1 - rng.uniform()));
}

/** A TIMIT-like segment length: `clip(round(Gamma(2, 4)), 2, 40)` (as the peer). */
export function timitLikeLength(rng: Rng): number {
  return Math.min(40, Math.max(2, Math.round(gamma2(rng, 4))));
}

/** `count` sequences of TIMIT-like lengths with standard normal frames of `frameDim` values. */
export function benchSequences(count: number, frameDim: number, rng: Rng): Float32Array[] {
  return Array.from({ length: count }, () => rng.normals(timitLikeLength(rng) * frameDim));
}

/** The sequence ids of batch `i` when batches of `size` take the sequences in order. */
export function batchIds(i: number, size: number): number[] {
  return Array.from({ length: size }, (_, k) => i * size + k);
}

/** The median (mean of the two middle values for an even count); throws on an empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median: no values");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Timings of repeated runs that each processed some number of frames. */
export interface Timings {
  /** Milliseconds of each timed run. */
  readonly ms: readonly number[];
  /** Real frames of each timed run. */
  readonly frames: readonly number[];
}

/** Median milliseconds per run. */
export function medianMs(t: Timings): number {
  return median(t.ms);
}

/** Median over runs of `frames / seconds` (robust to the odd slow run on a shared machine). */
export function medianFramesPerSecond(t: Timings): number {
  if (t.ms.length !== t.frames.length) {
    throw new Error(`medianFramesPerSecond: ${t.ms.length} timings for ${t.frames.length} frame counts`);
  }
  return median(t.ms.map((ms, i) => t.frames[i] / (ms / 1000)));
}

/** Total frames over total seconds: the PyTorch peer's definition of frames per second. */
export function totalFramesPerSecond(t: Timings): number {
  const ms = t.ms.reduce((a, b) => a + b, 0);
  if (!(ms > 0)) throw new Error(`totalFramesPerSecond: total time must be > 0, got ${ms} ms`);
  return t.frames.reduce((a, b) => a + b, 0) / (ms / 1000);
}

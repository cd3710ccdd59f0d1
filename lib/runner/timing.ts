/**
 * Per-batch timing statistics as logged by the SNF runner's `log_timing`: mean and standard deviation of
 * the seconds per batch and per example, leaving out the first batch of an epoch (warm-up, shuffling)
 * and the last (usually smaller).
 */

/** Mean and (population) standard deviation. */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, std: Math.sqrt(variance) };
}

/** Collects batch durations of one epoch. */
export class EpochTimer {
  #seconds: number[] = [];
  #sizes: number[] = [];

  /** Records one batch that took `seconds` for `size` examples. */
  add(seconds: number, size: number): void {
    this.#seconds.push(seconds);
    this.#sizes.push(size);
  }

  /** The statistics without the first and last batch; null when fewer than 3 batches were timed. */
  stats():
    | { batch_mean_s: number; batch_std_s: number; example_mean_s: number; example_std_s: number }
    | null {
    if (this.#seconds.length < 3) return null;
    const s = this.#seconds.slice(1, -1);
    const per = s.map((t, i) => t / this.#sizes[i + 1]);
    const b = meanStd(s), e = meanStd(per);
    return { batch_mean_s: b.mean, batch_std_s: b.std, example_mean_s: e.mean, example_std_s: e.std };
  }
}

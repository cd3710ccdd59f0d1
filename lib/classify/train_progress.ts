/**
 * One progress line across the classes of a per-class training run, with the estimated time to finish.
 *
 * The work of a class is its training frames times the epochs it has left; the rate is the work done per
 * second so far in this process (evaluation included, as it happens between epochs). Classes skipped or
 * finished count as done; a class stopped early by its rule drops its remaining epochs, so the estimate is
 * an upper bound while early stopping can still end classes sooner. The line is printed when a trained
 * class ends and, during a class, at most every `everySeconds`.
 */
import type { Logger } from "../runner/logger.ts";

export class TrainingProgress {
  #left: Map<string, number>;
  #frames: Map<string, number>;
  #total: number;
  #done = 0;
  #finished = 0;
  #t0 = performance.now();
  #last = 0;

  /** `frames(cls)`: training frames of a class; every class starts with `epochs` epochs to go. */
  constructor(
    private readonly log: Logger,
    classes: readonly string[],
    frames: (cls: string) => number,
    private readonly epochs: number,
    private readonly everySeconds = 60,
  ) {
    this.#frames = new Map(classes.map((c) => [c, frames(c)]));
    this.#left = new Map(classes.map((c) => [c, this.#frames.get(c)! * epochs]));
    this.#total = [...this.#left.values()].reduce((a, b) => a + b, 0);
  }

  /** The class trained epoch `epoch` (1-based; a resumed class starts past 1). */
  epoch(cls: string, epoch: number): void {
    const before = this.#left.get(cls) ?? 0;
    const after = this.#leftAfter(cls, epoch);
    this.#done += Math.max(0, before - after);
    this.#left.set(cls, after);
    if ((performance.now() - this.#last) / 1000 >= this.everySeconds) this.#print();
  }

  /**
   * The class had trained `epoch` epochs before this process started watching (a resumed class): its
   * remaining work shrinks without counting as work done here, so the rate stays that of this process.
   */
  resumedAt(cls: string, epoch: number): void {
    const before = this.#left.get(cls) ?? 0;
    const after = this.#leftAfter(cls, epoch);
    this.#total -= Math.max(0, before - after);
    this.#left.set(cls, Math.min(before, after));
  }

  /** The class is finished (trained, stopped early or skipped): none of its work is left. */
  finish(cls: string, skipped = false): void {
    if (skipped) this.#total -= this.#left.get(cls) ?? 0;
    this.#left.set(cls, 0);
    this.#finished++;
    // A skipped class says so in its own line; the progress line is for work done.
    if (!skipped) this.#print();
  }

  /** Seconds to go at the rate so far (null before any work). */
  get secondsLeft(): number | null {
    const s = (performance.now() - this.#t0) / 1000;
    const left = [...this.#left.values()].reduce((a, b) => a + b, 0);
    return this.#done > 0 ? (left * s) / this.#done : null;
  }

  /** The work a class has left after `epoch` epochs: its frames times the epochs to go. */
  #leftAfter(cls: string, epoch: number): number {
    return this.#frames.get(cls)! * Math.max(0, this.epochs - epoch);
  }

  #print(): void {
    this.#last = performance.now();
    const elapsed = (this.#last - this.#t0) / 1000, left = this.secondsLeft;
    const share = this.#total > 0 ? 1 - [...this.#left.values()].reduce((a, b) => a + b, 0) / this.#total : 1;
    this.log.info(
      `[training] ${this.#finished}/${this.#left.size} classes finished, ${
        (100 * share).toFixed(0)
      }% of the ` +
        `work, ${duration(elapsed)} elapsed` +
        (left === null || left === 0
          ? ""
          : `, about ${duration(left)} to go at most (early stopping may end classes sooner)`),
    );
  }
}

/** `42 s`, `12 min`, `2 h 05 min`. */
export function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

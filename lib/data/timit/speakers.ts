/**
 * The speaker sets of the standard TIMIT protocol, and the train/val/test split of a corpus's speakers.
 *
 * The speaker lists are data, in `speakers.json`: the 24-speaker core test set (2 men and 1 woman from each
 * of the 8 dialect regions) and the 50-speaker development set (drawn from the TIMIT test speakers,
 * disjoint from the core test set), as in A. K. Halberstadt, "Heterogeneous acoustic measurements and
 * multiple classifiers for speech recognition", PhD thesis, MIT, 1998, and Kaldi's `egs/timit/s5`.
 * TIMIT speaker IDs (sex letter, initials, digit, e.g. `mdab0`) are unique across the corpus, so speakers
 * are matched by ID alone, in lower case.
 */
import { Rng } from "../../rng.ts";
import lists from "./speakers.json" with { type: "json" };

/** The 24 core-test speakers, lower case, by dialect region (`dr1`..`dr8`). */
export const CORE_TEST_BY_REGION: Readonly<Record<string, readonly string[]>> = Object.freeze(
  lists.core_test,
);

/** The 24 core-test speakers, lower case. */
export const CORE_TEST_SPEAKERS: ReadonlySet<string> = new Set(Object.values(lists.core_test).flat());

/** The 50 development-set speakers, lower case. */
export const DEV_SPEAKERS: ReadonlySet<string> = new Set(lists.dev);

/** The three evaluation splits. */
export type Split = "train" | "val" | "test";
export const SPLITS: readonly Split[] = ["train", "val", "test"];

/**
 * Where the validation speakers come from: `dev50` is the standard 50-speaker development set (TIMIT test
 * speakers); `seeded` holds out a seeded random fraction of the TRAIN speakers (speaker-disjoint).
 */
export type ValSet = "dev50" | "seeded";
export const VAL_SETS: readonly ValSet[] = ["dev50", "seeded"];

/** How speakers are assigned to splits. */
export interface SplitOptions {
  readonly valSet: ValSet;
  /** Fraction of TRAIN speakers held out for validation when `valSet` is `seeded`. */
  readonly valFraction: number;
  /** Seed of the `seeded` validation split. */
  readonly seed: number;
  /**
   * Test on every TEST speaker (the 168-speaker complete test set) instead of the 24-speaker core test set.
   * With `valSet: "dev50"`, the development speakers are left out of the test set so no speaker is in both.
   */
  readonly fullTest: boolean;
}

export const DEFAULT_SPLIT_OPTIONS: SplitOptions = Object.freeze({
  valSet: "dev50",
  valFraction: 0.1,
  seed: 0,
  fullTest: false,
});

/** A speaker of a corpus: which half of the corpus (`train`/`test` directory) it lies in, and its ID. */
export interface SpeakerRef {
  readonly part: "train" | "test";
  readonly speaker: string;
}

/**
 * Assigns each speaker of a corpus to a split (or to none, e.g. non-core test speakers).
 *
 * - train: the TRAIN speakers (minus the seeded validation speakers when `valSet` is `seeded`);
 * - val: the development speakers found under TEST (`dev50`), or `round(valFraction * n)` TRAIN
 *   speakers (at least 1) chosen by a permutation of the sorted speaker IDs drawn from `Rng(seed)`;
 * - test: the core-test speakers found under TEST, or all TEST speakers with `fullTest`.
 */
export function assignSpeakers(speakers: readonly SpeakerRef[], opts: SplitOptions): Map<string, Split> {
  if (!(opts.valFraction > 0 && opts.valFraction < 1)) {
    throw new Error(`valFraction must be in (0, 1), got ${opts.valFraction}`);
  }
  const out = new Map<string, Split>();
  const train = [...new Set(speakers.filter((s) => s.part === "train").map((s) => s.speaker))].sort();
  let held = new Set<string>();
  if (opts.valSet === "seeded" && train.length > 1) {
    const n = Math.min(train.length - 1, Math.max(1, Math.round(opts.valFraction * train.length)));
    const perm = new Rng(`timit-val-${opts.seed}`).permutation(train.length);
    held = new Set(Array.from(perm.subarray(0, n), (i) => train[i]));
  }
  for (const s of train) out.set(s, held.has(s) ? "val" : "train");
  for (const { part, speaker } of speakers) {
    if (part !== "test") continue;
    if (opts.valSet === "dev50" && DEV_SPEAKERS.has(speaker)) out.set(speaker, "val");
    else if (opts.fullTest || CORE_TEST_SPEAKERS.has(speaker)) out.set(speaker, "test");
  }
  return out;
}

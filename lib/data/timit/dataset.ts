/**
 * The one entry point for experiments: normalised MFCC phone segments of a TIMIT split.
 *
 * `openTimit` finds the corpus (`timitDir`, else the `TIMIT_DIR` environment variable, else the bundled
 * stand-in `mini_timit`, generated on first use with a loud notice), walks it once, and hands out splits;
 * `load(split)` returns the split's segments normalised with statistics estimated from the TRAIN split's
 * segment frames (computed once per `openTimit`, or given, e.g. read back from saved models).
 */
import type { Logger } from "../../runner/logger.ts";
import { type Corpus, scanCorpus, selectSplit } from "./corpus.ts";
import { type Extracted, extractSegments } from "./features.ts";
import { DEFAULT_MFCC, type MfccConfig } from "./mfcc.ts";
import { DEFAULT_MINI_TIMIT_DIR, ensureMiniTimit } from "./mini_timit.ts";
import { computeNormStats, normalise, type NormStats, type SegmentSet } from "./segment_set.ts";
import { DEFAULT_SPLIT_OPTIONS, type Split, type SplitOptions } from "./speakers.ts";

/** Default feature cache directory: `data/cache` in the repository. */
export const DEFAULT_CACHE_DIR = new URL("../../../data/cache", import.meta.url).pathname;

export interface TimitOptions {
  /** Corpus root; `null`/absent: `TIMIT_DIR`, else the stand-in. */
  readonly timitDir?: string | null;
  /** Where the stand-in goes when it is used (default `data/mini_timit`). */
  readonly standInDir?: string;
  readonly mfcc?: Partial<MfccConfig>;
  readonly split?: Partial<SplitOptions>;
  /** Keep SA sentences (default false). */
  readonly includeSA?: boolean;
  /** Skip bad utterances with counted warnings instead of failing (default false). */
  readonly skipBad?: boolean;
  /** Feature cache directory; `null` disables it (default `data/cache`). */
  readonly cacheDir?: string | null;
  readonly log?: Logger;
}

/** A split's segments, normalised, with the statistics used and what was skipped. */
export interface TimitSplit {
  readonly split: Split;
  /** Normalised segments (frames are `(x - mean) / std`). */
  readonly segments: SegmentSet;
  readonly stats: NormStats;
  readonly numUtterances: number;
  readonly speakers: readonly string[];
  /** Bad files skipped (only with `skipBad`), while scanning and while extracting this split. */
  readonly skipped: number;
  readonly cacheHit: boolean;
}

/** An opened corpus. */
export interface Timit {
  readonly root: string;
  /** True when this is the synthetic stand-in, not real TIMIT. */
  readonly standIn: boolean;
  readonly corpus: Corpus;
  readonly mfcc: MfccConfig;
  /** Normalisation statistics from the TRAIN split (computed on first use). */
  stats(): Promise<NormStats>;
  /** Normalised segments of a split; `stats` overrides the TRAIN statistics. */
  load(split: Split, stats?: NormStats): Promise<TimitSplit>;
}

/** Finds, (for the stand-in) generates, and scans the corpus; see the module doc. */
export async function openTimit(opts: TimitOptions = {}): Promise<Timit> {
  const mfcc: MfccConfig = { ...DEFAULT_MFCC, ...opts.mfcc };
  const splitOpts: SplitOptions = { ...DEFAULT_SPLIT_OPTIONS, ...opts.split };
  const explicit = opts.timitDir ?? (Deno.env.get("TIMIT_DIR") || null);
  let root = explicit;
  if (root === null) {
    root = opts.standInDir ?? DEFAULT_MINI_TIMIT_DIR;
    await ensureMiniTimit(root, { log: opts.log });
    opts.log?.warn(
      `USING THE SYNTHETIC STAND-IN CORPUS mini_timit (${root}), NOT TIMIT: results are not comparable ` +
        `with published TIMIT numbers. For real TIMIT: --timit_dir /path/to/TIMIT (or TIMIT_DIR=...), ` +
        `the LDC93S1 layout {TRAIN,TEST}/DR*/<SPEAKER>/<UTT>.WAV with .PHN files.`,
    );
  }
  const corpus = await scanCorpus(root, { includeSA: opts.includeSA, skipBad: opts.skipBad });
  for (const s of corpus.skipped) opts.log?.warn(`skipped ${s.reason}`);
  if (corpus.skipped.length > 0) {
    opts.log?.warn(`${corpus.skipped.length} bad files skipped while scanning ${root}`);
  }
  const cacheDir = opts.cacheDir === undefined ? DEFAULT_CACHE_DIR : opts.cacheDir;
  const extracted = new Map<Split, Promise<Extracted>>();
  const extract = (split: Split) => {
    if (!extracted.has(split)) {
      extracted.set(
        split,
        extractSegments(corpus, selectSplit(corpus, split, splitOpts), mfcc, {
          cacheDir,
          label: split,
          skipBad: opts.skipBad,
          log: opts.log,
        }),
      );
    }
    return extracted.get(split)!;
  };
  let trainStats: Promise<NormStats> | null = null;
  const stats = () => (trainStats ??= extract("train").then((e) => computeNormStats(e.segments)));
  return {
    root: corpus.root,
    standIn: explicit === null,
    corpus,
    mfcc,
    stats,
    async load(split: Split, given?: NormStats): Promise<TimitSplit> {
      const utts = selectSplit(corpus, split, splitOpts);
      const e = await extract(split);
      if (e.skipped.length > 0) {
        opts.log?.warn(`${e.skipped.length} bad utterances skipped in split ${split}`);
      }
      const st = given ?? await stats();
      return {
        split,
        segments: normalise(e.segments, st),
        stats: st,
        numUtterances: utts.length,
        speakers: [...new Set(utts.map((u) => u.speaker))].sort(),
        skipped: corpus.skipped.length + e.skipped.length,
        cacheHit: e.cacheHit,
      };
    },
  };
}

/** Convenience: {@link openTimit} then `load(split)`. */
export async function loadTimitSplit(split: Split, opts: TimitOptions = {}): Promise<TimitSplit> {
  return (await openTimit(opts)).load(split);
}

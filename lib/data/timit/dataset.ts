/**
 * The one entry point for experiments: normalised feature segments of a TIMIT split under a protocol
 * (`protocol.ts`: `echoflow` by default, or `genhmm`).
 *
 * `openTimit` finds the corpus (`timitDir`, else the `TIMIT_DIR` environment variable, else the bundled
 * stand-in `mini_timit`, generated on first use with a loud notice), walks it once, and hands out splits;
 * `load(split)` returns the split's segments normalised with statistics estimated from the training frames
 * (computed once per `openTimit`, or given, e.g. read back from saved models). Under the echoflow protocol
 * each split is a set of speakers; under the genhmm protocol, TRAIN's segments are divided per class into
 * train and val, and test is all of TEST. `loadTest(transform)` gives the test split of changed audio
 * (test noise), normalised with the same (clean training) statistics.
 */
import type { Logger } from "../../runner/logger.ts";
import { exists } from "../../runner/run_dir.ts";
import { type Corpus, scanCorpus, selectSplit, type Utterance } from "./corpus.ts";
import { CorpusError } from "./errors.ts";
import { type AudioTransform, type Extracted, extractSegments } from "./features.ts";
import type { MfccConfig } from "./mfcc.ts";
import { DEFAULT_MINI_TIMIT_DIR, ensureMiniTimit } from "./mini_timit.ts";
import { GENHMM_VAL_FRACTION, makeProtocol, perClassSplit, type Protocol } from "./protocol.ts";
import {
  computeNormStats,
  normalise,
  type NormStats,
  type SegmentSet,
  subsetSegments,
} from "./segment_set.ts";
import { DEFAULT_SPLIT_OPTIONS, type Split, type SplitOptions } from "./speakers.ts";

/** Default feature cache directory: `data/cache` in the repository. */
export const DEFAULT_CACHE_DIR = new URL("../../../data/cache", import.meta.url).pathname;

export interface TimitOptions {
  /** Corpus root; `null`/absent: `TIMIT_DIR`, else the stand-in. */
  readonly timitDir?: string | null;
  /** Where the stand-in goes when it is used (default `data/mini_timit`). */
  readonly standInDir?: string;
  /** The protocol (default: echoflow's, with `mfcc`). */
  readonly protocol?: Protocol;
  /** Settings of the default (echoflow) protocol's MFCC, when `protocol` is not given. */
  readonly mfcc?: Partial<MfccConfig>;
  /**
   * Speaker splits of the echoflow protocol; `seed` also seeds the genhmm protocol's per-class
   * validation split, and `valFraction` (default 0.2 there) sets its size.
   */
  readonly split?: Partial<SplitOptions>;
  /** Keep SA sentences (default: the protocol's choice). */
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
  /** Normalised segments (frames are `(x - offset) / scale`). */
  readonly segments: SegmentSet;
  readonly stats: NormStats;
  readonly numUtterances: number;
  readonly speakers: readonly string[];
  /** Bad files skipped (only with `skipBad`), while scanning and while extracting this split. */
  readonly skipped: number;
  readonly cacheHit: boolean;
}

/** Where a corpus is, and whether echoflow made it (see {@link locateCorpus}). */
export interface CorpusLocation {
  readonly root: string;
  /** No directory was given (nor `TIMIT_DIR`): the bundled stand-in. */
  readonly bundled: boolean;
  /** A stand-in made by echoflow (bundled, or any corpus with its `MINI_TIMIT.json`), not TIMIT. */
  readonly standIn: boolean;
}

/** The corpus of `timitDir`, else of `$TIMIT_DIR`, else the bundled stand-in (`standInDir`). */
export function locateCorpus(timitDir?: string | null, standInDir?: string): CorpusLocation {
  const explicit = timitDir ?? (Deno.env.get("TIMIT_DIR") || null);
  const root = explicit ?? standInDir ?? DEFAULT_MINI_TIMIT_DIR;
  return {
    root,
    bundled: explicit === null,
    standIn: explicit === null || exists(`${root}/MINI_TIMIT.json`),
  };
}

/** An opened corpus. */
export interface Timit extends CorpusLocation {
  readonly corpus: Corpus;
  readonly protocol: Protocol;
  /** The utterances of the test split (e.g. the longest one, which a noise file must cover). */
  testUtterances(): Utterance[];
  /** Normalisation statistics from the training frames (computed on first use). */
  stats(): Promise<NormStats>;
  /** Normalised segments of a split; `stats` overrides the training statistics. */
  load(split: Split, stats?: NormStats): Promise<TimitSplit>;
  /** The test split with every utterance's audio changed by `transform` (cached like the clean one). */
  loadTest(transform: AudioTransform, stats?: NormStats): Promise<TimitSplit>;
}

/** Finds, (for the stand-in) generates, and scans the corpus; see the module doc. */
export async function openTimit(opts: TimitOptions = {}): Promise<Timit> {
  const protocol = opts.protocol ?? makeProtocol("echoflow", { mfcc: opts.mfcc });
  const splitOpts: SplitOptions = { ...DEFAULT_SPLIT_OPTIONS, ...opts.split };
  const where = locateCorpus(opts.timitDir, opts.standInDir);
  const root = where.root;
  if (where.bundled) {
    await ensureMiniTimit(root, { log: opts.log });
    opts.log?.warn(
      `USING THE SYNTHETIC STAND-IN CORPUS mini_timit (${root}), NOT TIMIT: results are not comparable ` +
        `with published TIMIT numbers. For real TIMIT: --timit_dir /path/to/TIMIT (or TIMIT_DIR=...), ` +
        `the LDC93S1 layout {TRAIN,TEST}/DR*/<SPEAKER>/<UTT>.WAV with .PHN files.`,
    );
  }
  const corpus = await scanCorpus(root, {
    includeSA: opts.includeSA ?? protocol.includeSA,
    skipBad: opts.skipBad,
  });
  for (const s of corpus.skipped) opts.log?.warn(`skipped ${s.reason}`);
  if (corpus.skipped.length > 0) {
    opts.log?.warn(`${corpus.skipped.length} bad files skipped while scanning ${root}`);
  }
  const cacheDir = opts.cacheDir === undefined ? DEFAULT_CACHE_DIR : opts.cacheDir;
  const bySegments = protocol.validation === "segments";
  // The utterances each extraction reads: per split (speaker splits), or TRAIN and TEST (segment splits).
  const source = (split: Split): Split => (bySegments && split === "val" ? "train" : split);
  const utterancesOf = (split: Split): Utterance[] =>
    bySegments
      ? partUtterances(corpus, split === "test" ? "test" : "train")
      : selectSplit(corpus, split, splitOpts);
  const extracted = new Map<Split, Promise<Extracted>>();
  const extract = (split: Split) => {
    if (!extracted.has(split)) {
      extracted.set(
        split,
        extractSegments(corpus, utterancesOf(split), protocol, {
          cacheDir,
          label: split,
          skipBad: opts.skipBad,
          log: opts.log,
        }),
      );
    }
    return extracted.get(split)!;
  };
  let division: { train: number[]; val: number[] } | null = null;
  /** The raw segments of a split: a speaker split's extraction, or a per-class share of TRAIN's. */
  const raw = async (split: Split): Promise<Extracted> => {
    const e = await extract(source(split));
    if (!bySegments || split === "test") return e;
    division ??= perClassSplit(
      e.segments.labels,
      opts.split?.valFraction ?? GENHMM_VAL_FRACTION,
      splitOpts.seed,
    );
    return { ...e, segments: subsetSegments(e.segments, division[split as "train" | "val"]) };
  };
  let trainStats: Promise<NormStats> | null = null;
  // Statistics of the training frames: TRAIN's segments as a whole under the genhmm protocol (the recipe
  // normalises before it divides TRAIN), the training speakers' under the echoflow protocol.
  const stats =
    () => (trainStats ??= extract("train").then((e) => computeNormStats(e.segments, protocol.norm)));
  const splitOf = async (split: Split, e: Extracted, given?: NormStats): Promise<TimitSplit> => {
    if (e.skipped.length > 0) {
      opts.log?.warn(`${e.skipped.length} bad utterances skipped in split ${split}`);
    }
    const utts = utterancesOf(split);
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
  };
  return {
    ...where,
    root: corpus.root,
    corpus,
    protocol,
    testUtterances: () => utterancesOf("test"),
    stats,
    async load(split: Split, given?: NormStats): Promise<TimitSplit> {
      return splitOf(split, await raw(split), given);
    },
    async loadTest(transform: AudioTransform, given?: NormStats): Promise<TimitSplit> {
      const e = await extractSegments(corpus, utterancesOf("test"), protocol, {
        cacheDir,
        label: `test_${transform.label}`,
        skipBad: opts.skipBad,
        transform,
        log: opts.log,
      });
      return splitOf("test", e, given);
    },
  };
}

/** Every utterance under TRAIN/ or TEST/; an empty part is an error saying so. */
function partUtterances(corpus: Corpus, part: "train" | "test"): Utterance[] {
  const out = corpus.utterances.filter((u) => u.part === part);
  if (out.length === 0) {
    throw new CorpusError(corpus.root, `no ${part.toUpperCase()} utterances, so split "${part}" is empty`);
  }
  return out;
}

/** Convenience: {@link openTimit} then `load(split)`. */
export async function loadTimitSplit(split: Split, opts: TimitOptions = {}): Promise<TimitSplit> {
  return (await openTimit(opts)).load(split);
}

/**
 * The TIMIT protocols: how utterances become labelled, normalised feature segments, and which segments
 * train, validate and test.
 *
 * - `echoflow` (echoflow's own): HTK-style MFCC (`mfcc.ts`: 26 filters, c1..c12 + c0, deltas and
 *   delta-deltas; `frame_dim 40` appends the log energy); a segment is the run of frames whose centres
 *   fall inside a phone (`phoneSegments`); z-score normalisation; SA sentences left out; validation on the
 *   50 development-set speakers (or seeded TRAIN speakers), testing on the 24-speaker core test set.
 * - `genhmm` (the published one: github FirstHandScientist/genhmm `src/timit-preprocessor/`, which the
 *   time-varying flow of github AleixEF/DynamicFlows and the GenHMM and NF-HMM papers use): Kaldi
 *   `compute-mfcc-feats --use-energy=false`, `add-deltas`, per-utterance `apply-cmvn` (`kaldi_mfcc.ts`,
 *   39 values; `frame_dim 40` puts a constant-zero column first, where the recipe keeps its zeroed label
 *   column); frame labels by majority over each frame's window (`majoritySegments`); min-max
 *   normalisation to [0, 1] with the minimum and maximum of all TRAIN frames; every TRAIN utterance (SA
 *   included) for training, a seeded per-class fraction (20%) of the training segments for validation
 *   (DynamicFlows' `tr_to_val_split` 0.8), every TEST utterance (SA included) for testing.
 *
 * Kaldi's default dither (Gaussian noise of standard deviation 1 added to every sample of every frame)
 * is random; here it is drawn from a generator seeded by the utterance's path in the corpus, so the
 * features are the same on every run and machine, and statistically what Kaldi computes.
 */
import { Rng } from "../../rng.ts";
import { KALDI_MFCC_DEFAULTS, kaldiFeatures, type KaldiMfccConfig, kaldiWindow } from "./kaldi_mfcc.ts";
import { DEFAULT_MFCC, frameGeometry, mfcc, type MfccConfig } from "./mfcc.ts";
import type { Interval } from "./phn.ts";
import type { NormMethod } from "./segment_set.ts";
import { majoritySegments, type PhoneSegment, phoneSegments } from "./segments.ts";

/** The protocol names (config key `protocol`). */
export const PROTOCOLS = ["echoflow", "genhmm"] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

/** The features of one utterance: `[numFrames, frameDim]` row-major, and its labelled segments. */
export interface UtteranceFeatures {
  readonly frames: Float32Array;
  readonly numFrames: number;
  readonly segments: readonly PhoneSegment[];
}

/** A protocol (see the module doc). */
export interface Protocol {
  readonly name: ProtocolName;
  readonly frameDim: number;
  /** Everything that changes the features of an utterance; part of the feature cache key. */
  readonly featureKey: Readonly<Record<string, unknown>>;
  readonly norm: NormMethod;
  /** Whether the SA sentences (read by every speaker) are used. */
  readonly includeSA: boolean;
  /**
   * Where validation segments come from: held-out `speakers` (the echoflow protocol; see `speakers.ts`),
   * or a seeded fraction of each class's training `segments` (the genhmm protocol).
   */
  readonly validation: "speakers" | "segments";
  /** Features and segments of one utterance; `uttKey` (`part/dialect/speaker/id`) seeds the dither. */
  features(samples: ArrayLike<number>, phones: readonly Interval[], uttKey: string): UtteranceFeatures;
}

/**
 * The frame size `esn_flow_timit` uses by default under each protocol: echoflow's 39 features plus the log
 * energy; under genhmm the 39 features that GenHMM's models see (they drop the recipe's zeroed label column,
 * which DynamicFlows keeps as a 40th, constant input: `frame_dim 40` reproduces that; see the README for
 * what the constant column does to likelihoods).
 */
export const DEFAULT_FRAME_DIM: Readonly<Record<ProtocolName, number>> = Object.freeze({
  echoflow: 40,
  genhmm: 39,
});

/** Options of {@link makeProtocol}. */
export interface ProtocolOptions {
  /** 39, or 40 (echoflow: + log energy; genhmm: a constant-zero column first). */
  readonly frameDim?: number;
  /** Overrides of the echoflow protocol's HTK-style MFCC. */
  readonly mfcc?: Partial<MfccConfig>;
  /** Overrides of the genhmm protocol's Kaldi MFCC (e.g. `dither: 0`). */
  readonly kaldi?: Partial<KaldiMfccConfig>;
}

/** The protocol `name` with its feature settings (see the module doc). */
export function makeProtocol(name: ProtocolName, opts: ProtocolOptions = {}): Protocol {
  const frameDim = opts.frameDim ?? opts.mfcc?.frameDim ?? 39;
  if (frameDim !== 39 && frameDim !== 40) {
    throw new Error(`frame_dim must be 39 or 40 for the ${name} protocol, got ${frameDim}`);
  }
  if (name === "echoflow") {
    const cfg: MfccConfig = { ...DEFAULT_MFCC, ...opts.mfcc, frameDim };
    const { win, hop } = frameGeometry(cfg);
    return {
      name,
      frameDim,
      featureKey: { protocol: name, mfcc: cfg },
      norm: "zscore",
      includeSA: false,
      validation: "speakers",
      features(samples, phones) {
        const { frames, numFrames } = mfcc(samples, cfg);
        return { frames, numFrames, segments: phoneSegments(phones, numFrames, win, hop) };
      },
    };
  }
  const kcfg: KaldiMfccConfig = { ...KALDI_MFCC_DEFAULTS, ...opts.kaldi };
  const { win, shift: hop } = kaldiWindow(kcfg);
  return {
    name,
    frameDim,
    featureKey: { protocol: name, kaldi: kcfg, frameDim, labels: "window-majority" },
    norm: "minmax",
    includeSA: true,
    validation: "segments",
    features(samples, phones, uttKey) {
      const f = kaldiFeatures(samples, kcfg, `kaldi-dither:${uttKey}`);
      const T = f.numFrames;
      let frames = f.frames;
      if (frameDim === 40) {
        frames = new Float32Array(T * 40);
        for (let t = 0; t < T; t++) frames.set(f.frames.subarray(t * 39, (t + 1) * 39), t * 40 + 1);
      }
      return { frames, numFrames: T, segments: majoritySegments(phones, T, win, hop) };
    },
  };
}

/** The genhmm protocol's validation share of each class's training segments (DynamicFlows: 1 - 0.8). */
export const GENHMM_VAL_FRACTION = 0.2;

/**
 * Splits segments into training and validation per class, as DynamicFlows' `write_class_wise_files`: the
 * n segments of each class are permuted by a generator seeded by (`seed`, class id); the first
 * `floor((1 - valFraction) n)` train, the rest validate. Both lists come back in increasing order.
 */
export function perClassSplit(
  labels: Int32Array,
  valFraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new Error(`The validation fraction must be in (0, 1), got ${valFraction}`);
  }
  const byClass = new Map<number, number[]>();
  labels.forEach((c, i) => {
    const list = byClass.get(c) ?? [];
    list.push(i);
    byClass.set(c, list);
  });
  const train: number[] = [], val: number[] = [];
  for (const [c, ids] of byClass) {
    const perm = new Rng(`segment-val:${seed}:${c}`).permutation(ids.length);
    const nTrain = Math.floor((1 - valFraction) * ids.length);
    perm.forEach((p, k) => (k < nTrain ? train : val).push(ids[p]));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}

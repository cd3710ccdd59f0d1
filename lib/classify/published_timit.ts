/**
 * Published TIMIT phone-classification accuracies of the work the time-varying flow is compared with, as
 * data, for the report of `esn_flow_timit`: each number with its model, setting, protocol and source.
 *
 * Both papers classify the phone segments of TIMIT folded to 39 classes, with the features of the GenHMM
 * recipe (github FirstHandScientist/genhmm `src/timit-preprocessor/`: Kaldi MFCC, deltas, per-utterance
 * CMN; all of TRAIN and TEST), which echoflow's `genhmm` protocol reproduces; models are trained on clean
 * speech, and noisy results add noise to the test audio only.
 */

/**
 * One published accuracy. GenHMM's numbers are those of its tables (checked in the authors' LaTeX source,
 * github FirstHandScientist/genhmm `manuscript/main.tex`); of NF-HMM's, the paper's abstract states the
 * 86.6% of the vote, and the three single models' accuracies are those of the authors' result log
 * (github anubhabghosh/genhmm, `metrics_class_all_test_modifiedWN.log`: 45465, 48284 and 47813 of 62,715
 * test segments).
 */
export interface PublishedResult {
  readonly source: string;
  readonly model: string;
  /** What differs between the numbers of one source: mixture components, noise and SNR. */
  readonly setting: string;
  /** Percent of test phone segments classified correctly. */
  readonly accuracy: number;
}

const GENHMM = "GenHMM, Liu et al. 2019 (arXiv 1910.05744)";
const NFHMM = "NF-HMM, Ghosh et al. 2021 (arXiv 2107.00730)";

/** Clean test set, K mixture components per HMM state (GenHMM Table: 39 phones, 39-dim features). */
const genhmmClean = (model: string, acc: readonly number[]): PublishedResult[] =>
  [1, 3, 5].map((k, i) => ({ source: GENHMM, model, setting: `clean, K=${k}`, accuracy: acc[i] }));

/** White noise at 15/20/25/30 dB, 3 components. */
const genhmmWhite = (model: string, acc: readonly number[]): PublishedResult[] =>
  [15, 20, 25, 30].map((snr, i) => ({
    source: GENHMM,
    model,
    setting: `white noise ${snr} dB, K=3`,
    accuracy: acc[i],
  }));

/** Pink, babble and Volvo (car) noise of NOISEX-92 at 20 dB, 3 components (white: {@link genhmmWhite}). */
const genhmmTypes = (model: string, acc: readonly number[]): PublishedResult[] =>
  ["pink", "babble", "Volvo (car)"].map((noise, i) => ({
    source: GENHMM,
    model,
    setting: `${noise} noise 20 dB, K=3`,
    accuracy: acc[i],
  }));

/** Every published number echoflow's report shows. */
export const PUBLISHED_TIMIT: readonly PublishedResult[] = Object.freeze([
  ...genhmmClean("GMM-HMM", [62.3, 68.0, 68.7]),
  ...genhmmClean("GenHMM", [76.7, 77.7, 77.7]),
  ...genhmmWhite("GMM-HMM", [36.6, 44.2, 50.8, 57.1]),
  ...genhmmWhite("GenHMM", [52.4, 62.0, 69.7, 74.3]),
  ...genhmmTypes("GMM-HMM", [48.8, 57.7, 66.6]),
  ...genhmmTypes("GenHMM", [65.1, 70.0, 75.7]),
  { source: NFHMM, model: "GMM-HMM", setting: "clean", accuracy: 72.5 },
  { source: NFHMM, model: "NVP-HMM", setting: "clean", accuracy: 77.0 },
  { source: NFHMM, model: "Glow-HMM", setting: "clean", accuracy: 76.2 },
  { source: NFHMM, model: "majority vote of the three", setting: "clean", accuracy: 86.6 },
]);

/** The published numbers for report.json and a Markdown section for report.md (with its caveat). */
export function publishedTimitResults(
  o: { readonly standIn: boolean; readonly protocol: string },
): { results: readonly PublishedResult[]; markdown: string[] } {
  const caveat = o.standIn
    ? "**These runs used the synthetic stand-in corpus, not TIMIT: their accuracies say nothing about " +
      "TIMIT and cannot be compared with the published numbers below.**"
    : o.protocol === "genhmm"
    ? "These runs used the genhmm protocol, the one the published numbers below were measured with."
    : "These runs used echoflow's own protocol (core test set, HTK-style features, SA sentences left out), " +
      "not the one of the published numbers below (run with `--protocol genhmm` to compare).";
  const rows = PUBLISHED_TIMIT.map((r) =>
    `| ${r.source} | ${r.model} | ${r.setting} | ${r.accuracy.toFixed(1)}% |`
  );
  return {
    results: PUBLISHED_TIMIT,
    markdown: [
      "## Published TIMIT results",
      "",
      caveat,
      "",
      "Phone classification accuracy on TIMIT's test set, 39 folded classes, protocol of the GenHMM recipe " +
      "(Kaldi MFCC with deltas and per-utterance CMN; trained on clean speech, noise added to the test audio).",
      "",
      "| source | model | setting | accuracy |",
      "| --- | --- | --- | ---: |",
      ...rows,
      "",
    ],
  };
}

/**
 * TIMIT data for echoflow: reading a real corpus (NIST SPHERE or RIFF audio, `.PHN`/`.WRD`/`.TXT`), the
 * standard splits and 61 -> 39 phone folding, the two protocols (echoflow's HTK-style MFCC with z-scores;
 * the published GenHMM recipe's Kaldi MFCC with min-max), features of phone segments with an on-disk cache
 * and train-set normalisation, and the bundled synthetic stand-in `mini_timit`.
 *
 * Experiments need one call: `const timit = await openTimit({ timitDir, log }); await timit.load("train")`.
 */
export * from "./errors.ts";
export * from "./sphere.ts";
export * from "./wav.ts";
export * from "./phn.ts";
export * from "./phones.ts";
export * from "./speakers.ts";
export * from "./corpus.ts";
export * from "./mfcc.ts";
export * from "./kaldi_mfcc.ts";
export * from "./protocol.ts";
export * from "./segments.ts";
export * from "./segment_set.ts";
export * from "./features.ts";
export * from "./dataset.ts";
export * from "./synth.ts";
export * from "./synth_phones.ts";
export * from "./mini_timit.ts";

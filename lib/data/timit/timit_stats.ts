/**
 * TIMIT as data for the TIMIT-sized stand-in: speakers per dialect region and sex, sentence material, and
 * the count and mean duration of every phone label.
 *
 * Sources:
 * - speakers: TIMIT's `readme.doc` (NIST CD1-1.1, 1990), Table 1 (all 630 speakers by region and sex) and
 *   Table 4 (the 168-speaker complete test set); TRAIN is their difference;
 * - sentences: the same file, Table 2 (2 SA read by everyone, 450 SX read by 7 speakers each, 1890 SI read
 *   once; 5 SX and 3 SI per speaker);
 * - phone counts: every TRAIN and TEST `.PHN` file counted by a script, SA included (github
 *   zhu-yifang/Yifang-thesis, README.md at ad0f2e7); they equal the counts of github
 *   jaekookang/speaker_verification_TIMIT `data/phone_code_freq_dur.csv` (860660), which gives the mean
 *   durations, over TRAIN and TEST together;
 * - the spread of phone durations: over all 177,080 TRAIN phones, mean 1279.6 samples (80.0 ms) and
 *   standard deviation 1016.2 samples (63.5 ms) (zhu-yifang/Yifang-thesis `jupyter/neural_network.ipynb`).
 *   No source gives a spread per phone.
 */

/** Speakers of a dialect region: [TRAIN male, TRAIN female, TEST male, TEST female]. */
export const TIMIT_SPEAKERS_BY_REGION: Readonly<Record<string, readonly [number, number, number, number]>> =
  Object.freeze({
    dr1: [24, 14, 7, 4],
    dr2: [53, 23, 18, 8],
    dr3: [56, 20, 23, 3],
    dr4: [53, 15, 16, 16],
    dr5: [45, 25, 17, 11],
    dr6: [22, 13, 8, 3],
    dr7: [59, 18, 15, 8],
    dr8: [14, 8, 8, 3],
  });

/** Sentences per speaker: 2 SA, 5 SX, 3 SI; every SX text is read by this many speakers. */
export const TIMIT_SENTENCES = Object.freeze({ sa: 2, sx: 5, si: 3, sxReaders: 7 });

/** Pooled phone duration over TIMIT TRAIN, in ms (see the module doc). */
export const TIMIT_PHONE_DURATION_MS = Object.freeze({ mean: 79.97, std: 63.51 });

/** Per label: [TRAIN count, TEST count (both with SA sentences), mean duration in ms over both]. */
export const TIMIT_PHONES: Readonly<Record<string, readonly [number, number, number]>> = Object.freeze({
  aa: [3064, 1133, 123.03],
  ae: [3997, 1407, 148.58],
  ah: [2306, 879, 89.25],
  ao: [2940, 1156, 123.64],
  aw: [729, 216, 163.62],
  ax: [3610, 1346, 48.52],
  "ax-h": [375, 118, 33.64],
  axr: [3407, 1383, 81.89],
  ay: [2390, 852, 145.05],
  b: [2181, 886, 17.50],
  bcl: [1909, 776, 63.70],
  ch: [822, 259, 86.34],
  d: [3548, 1245, 23.04],
  dcl: [4942, 1643, 50.96],
  dh: [2826, 1053, 37.89],
  dx: [2709, 940, 28.73],
  eh: [3853, 1440, 90.57],
  el: [951, 343, 91.03],
  em: [124, 47, 79.24],
  en: [723, 251, 79.04],
  eng: [38, 5, 80.89],
  epi: [1464, 536, 43.36],
  er: [2046, 800, 118.32],
  ey: [2282, 806, 128.28],
  f: [2216, 912, 103.03],
  g: [2017, 755, 30.35],
  gcl: [2223, 808, 50.09],
  "h#": [9240, 3360, 191.67],
  hh: [957, 356, 65.56],
  hv: [1154, 369, 68.53],
  ih: [5051, 1709, 78.69],
  ix: [8642, 2945, 51.71],
  iy: [6953, 2710, 89.85],
  jh: [1209, 372, 58.69],
  k: [4874, 1614, 51.35],
  kcl: [5859, 1964, 59.88],
  l: [5801, 2356, 60.55],
  m: [3903, 1526, 61.20],
  n: [7068, 2501, 54.32],
  ng: [1330, 414, 62.64],
  nx: [971, 360, 28.80],
  ow: [2136, 777, 126.66],
  oy: [684, 263, 162.91],
  p: [2588, 957, 44.23],
  pau: [952, 391, 186.68],
  pcl: [2644, 965, 69.62],
  q: [3590, 1244, 65.30],
  r: [6539, 2525, 61.02],
  s: [7475, 2639, 113.22],
  sh: [2238, 796, 116.09],
  t: [4364, 1535, 48.09],
  tcl: [6644, 2334, 54.36],
  th: [751, 267, 90.29],
  uh: [535, 221, 76.48],
  uw: [555, 170, 107.77],
  ux: [1908, 580, 107.03],
  v: [1994, 710, 60.09],
  w: [3140, 1239, 67.40],
  y: [1715, 634, 66.73],
  z: [3773, 1273, 84.10],
  zh: [151, 74, 83.05],
});

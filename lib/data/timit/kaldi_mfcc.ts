/**
 * Kaldi-compatible MFCC features: `compute-mfcc-feats --use-energy=false`, then `add-deltas`, then
 * per-utterance `compute-cmvn-stats` + `apply-cmvn` (means only), the TIMIT recipe of GenHMM and
 * DynamicFlows (FirstHandScientist/genhmm, `src/timit-preprocessor/extract_mfcc.sh`).
 *
 * Per frame t (Kaldi `src/feat/feature-window.cc`: `ExtractWindow`, `ProcessWindow`), on a copy `w` of
 * the N samples `x[t*shift .. t*shift + N)` (16 kHz: N = 400, shift = 160; snip-edges framing,
 * T = 1 + floor((len - N) / shift), or 0 when len < N), samples in 16-bit integer units:
 * 1. dither `w[n] += dither * g` with g standard normal, drawn frame by frame, sample by sample;
 * 2. remove the DC offset, `w[n] -= mean(w)`;
 * 3. pre-emphasis in place from the end, `w[n] -= 0.97 w[n-1]` for n = N-1..1, then `w[0] -= 0.97 w[0]`;
 * 4. povey window `(0.5 - 0.5 cos(2 pi n / (N - 1)))^0.85`, zero-padded to 512 (next power of two);
 * 5. power spectrum `|X_k|^2` for k = 0..255 only (Kaldi's `num_fft_bins` = 512 / 2: no Nyquist bin,
 *    which the top mel bin would weigh 0 anyway when it ends at the Nyquist frequency);
 * 6. 23 triangular mel bins (`mel-computations.cc`: `MelBanks`), mel(f) = 1127 ln(1 + f / 700), edges
 *    equally spaced in mel from 20 Hz to the Nyquist frequency; bin j weighs FFT bin k, with
 *    m = mel(k sr / 512) strictly between left and right, by (m - left) / (centre - left) up to the
 *    centre and (right - m) / (right - centre) past it;
 * 7. `ln max(e_j, FLT_EPSILON)`, FLT_EPSILON = 2^-23;
 * 8. orthonormal DCT-II, `c_i = s_i sum_j logmel_j cos(pi i (j + 1/2) / 23)`, s_0 = sqrt(1/23),
 *    s_i = sqrt(2/23), kept for i = 0..12 (C0 first: htk_compat false; `feature-mfcc.cc`);
 * 9. cepstral lifter `c_i *= 1 + (22 / 2) sin(pi i / 22)` (`ComputeLifterCoeffs`).
 * Then deltas (`feature-functions.cc`: `DeltaFeatures`) and CMN, see {@link kaldiDeltas} and
 * {@link applyCmn}. torchaudio's `compliance.kaldi.mfcc` follows the same definition; the tests compare
 * against it (`tests/fixtures/kaldi/`).
 *
 * Dither is Kaldi's, made deterministic: one {@link Rng} per utterance, seeded by a string the caller
 * passes (e.g. `${seed}:dither:${utteranceId}`). `Rng.normal()` (polar method on seedrandom's xor4096)
 * measured 60-80 ns a draw (20 million draws, Deno 2.9.6, 2 CPU cores): 40 000 draws per second of
 * audio cost about 3 ms, next to 2 ms for the rest of {@link kaldiFeatures}, i.e. about 30 s for the
 * 440 million draws of TIMIT's training set, once per feature cache. A polar method on an inline sfc32
 * generator was no faster in plain JavaScript (100-145 ns), so the project's generator stays.
 */
import FFT from "fft.js";
import { Rng } from "../../rng.ts";
import { hzToMel } from "./mfcc.ts";

/**
 * Settings of the pipeline, each named after the Kaldi option in the comment; every field enters the
 * feature cache key. Units: Hz and ms; `dither` is the noise's standard deviation in sample units (0: none);
 * `highFreq` <= 0 is an offset from the Nyquist frequency, and the window is
 * `trunc(sampleRate * 0.001 * frameLengthMs)` samples, both as Kaldi. The fields typed with one value are
 * the recipe's settings and the only ones implemented.
 */
export interface KaldiMfccConfig {
  readonly sampleRate: number; // --sample-frequency
  readonly frameLengthMs: number; // --frame-length
  readonly frameShiftMs: number; // --frame-shift
  readonly snipEdges: true; // --snip-edges (whole windows only)
  readonly dither: number; // --dither
  readonly removeDcOffset: boolean; // --remove-dc-offset
  readonly preemphasisCoefficient: number; // --preemphasis-coefficient
  readonly windowType: "povey"; // --window-type
  readonly roundToPowerOfTwo: boolean; // --round-to-power-of-two (zero-pad the window for the FFT)
  readonly numMelBins: number; // --num-mel-bins
  readonly lowFreq: number; // --low-freq
  readonly highFreq: number; // --high-freq
  readonly numCeps: number; // --num-ceps
  readonly cepstralLifter: number; // --cepstral-lifter (0: none)
  readonly useEnergy: false; // --use-energy (C0 stays the first coefficient)
  readonly htkCompat: false; // --htk-compat
  readonly deltaOrder: number; // add-deltas --delta-order
  readonly deltaWindow: number; // add-deltas --delta-window
  readonly normMeans: boolean; // apply-cmvn --norm-means, with per-utterance statistics
  readonly normVars: false; // apply-cmvn --norm-vars
}

/** Kaldi's defaults, with `--use-energy=false` as in the recipe. */
export const KALDI_MFCC_DEFAULTS: KaldiMfccConfig = Object.freeze({
  sampleRate: 16000,
  frameLengthMs: 25,
  frameShiftMs: 10,
  snipEdges: true,
  dither: 1,
  removeDcOffset: true,
  preemphasisCoefficient: 0.97,
  windowType: "povey",
  roundToPowerOfTwo: true,
  numMelBins: 23,
  lowFreq: 20,
  highFreq: 0,
  numCeps: 13,
  cepstralLifter: 22,
  useEnergy: false,
  htkCompat: false,
  deltaOrder: 2,
  deltaWindow: 2,
  normMeans: true,
  normVars: false,
});

/** `std::numeric_limits<float>::epsilon()`, Kaldi's floor before the log. */
const FLT_EPSILON = 2 ** -23;

/** Window and shift in samples, truncated as Kaldi's `WindowSize()` and `WindowShift()`. */
export function kaldiWindow(cfg: KaldiMfccConfig): { win: number; shift: number } {
  return {
    win: Math.trunc(cfg.sampleRate * 0.001 * cfg.frameLengthMs),
    shift: Math.trunc(cfg.sampleRate * 0.001 * cfg.frameShiftMs),
  };
}

/** Validates `cfg` and precomputes the frame geometry, window, mel bank and (liftered) DCT. */
function plan(cfg: KaldiMfccConfig) {
  const check = (ok: boolean, field: keyof KaldiMfccConfig, need: string) => {
    if (!ok) throw new Error(`Kaldi MFCC config ${field} = ${JSON.stringify(cfg[field])}: need ${need}`);
  };
  const isInt = Number.isInteger;
  const { win, shift } = kaldiWindow(cfg);
  const fftSize = cfg.roundToPowerOfTwo ? 2 ** Math.ceil(Math.log2(win)) : win;
  const nyquist = cfg.sampleRate / 2, high = cfg.highFreq > 0 ? cfg.highFreq : nyquist + cfg.highFreq;
  const M = cfg.numMelBins, C = cfg.numCeps;
  check(cfg.sampleRate > 0, "sampleRate", "> 0");
  check(win >= 2, "frameLengthMs", "a window of at least 2 samples");
  check(shift >= 1, "frameShiftMs", "a shift of at least 1 sample");
  check(cfg.dither >= 0, "dither", ">= 0");
  check(cfg.preemphasisCoefficient >= 0 && cfg.preemphasisCoefficient <= 1, "preemphasisCoefficient", "0..1");
  check((fftSize & (fftSize - 1)) === 0, "roundToPowerOfTwo", `true: the window has ${win} samples`);
  check(cfg.lowFreq >= 0 && cfg.lowFreq < nyquist, "lowFreq", `0..${nyquist}`);
  check(high > cfg.lowFreq && high <= nyquist, "highFreq", `lowFreq (${cfg.lowFreq}) < high <= ${nyquist}`);
  check(isInt(M) && M > 3, "numMelBins", "an integer > 3");
  check(isInt(C) && C >= 1 && C <= M, "numCeps", `an integer 1..numMelBins (${M})`);
  check(cfg.cepstralLifter >= 0, "cepstralLifter", ">= 0");
  check(isInt(cfg.deltaOrder) && cfg.deltaOrder >= 0, "deltaOrder", "an integer >= 0");
  check(isInt(cfg.deltaWindow) && cfg.deltaWindow >= 1, "deltaWindow", "an integer >= 1");
  const fixed = { snipEdges: true, windowType: "povey", useEnergy: false, htkCompat: false, normVars: false };
  for (const [k, v] of Object.entries(fixed) as [keyof typeof fixed, unknown][]) {
    check(cfg[k] === v, k, `${JSON.stringify(v)} (the only value implemented)`);
  }

  const window = new Float64Array(win);
  for (let n = 0; n < win; n++) window[n] = (0.5 - 0.5 * Math.cos((2 * Math.PI * n) / (win - 1))) ** 0.85;
  const lo = hzToMel(cfg.lowFreq), delta = (hzToMel(high) - lo) / (M + 1);
  const bank = [];
  for (let j = 0; j < M; j++) {
    const left = lo + j * delta, centre = lo + (j + 1) * delta, right = lo + (j + 2) * delta;
    const w = new Float64Array(fftSize / 2);
    let a = -1, b = 0;
    for (let k = 0; k < fftSize / 2; k++) {
      const m = hzToMel((k * cfg.sampleRate) / fftSize);
      if (m > left && m < right) {
        w[k] = m <= centre ? (m - left) / (centre - left) : (right - m) / (right - centre);
        if (a < 0) a = k;
        b = k + 1;
      }
    }
    check(a >= 0, "numMelBins", `fewer bins: bin ${j} is empty with a ${fftSize}-point FFT`);
    bank.push({ a, w: w.slice(a, b) });
  }
  const dctLift = new Float64Array(C * M); // [numCeps, numMelBins]
  const L = cfg.cepstralLifter;
  for (let i = 0; i < C; i++) {
    const lift = L ? 1 + 0.5 * L * Math.sin((Math.PI * i) / L) : 1;
    const s = Math.sqrt((i === 0 ? 1 : 2) / M);
    for (let j = 0; j < M; j++) dctLift[i * M + j] = lift * s * Math.cos((Math.PI * i * (j + 0.5)) / M);
  }
  return { win, shift, fftSize, window, bank, dctLift };
}

/**
 * Kaldi MFCCs (steps 1-9 of the module doc) of `samples` (16-bit integer units), computed in float64.
 * `ditherSeed` seeds the dither generator and is required when `cfg.dither` is not 0.
 */
export function kaldiMfcc(
  samples: ArrayLike<number>,
  cfg: KaldiMfccConfig = KALDI_MFCC_DEFAULTS,
  ditherSeed?: string,
): { ceps: Float32Array; numFrames: number } {
  const { win, shift, fftSize, window, bank, dctLift } = plan(cfg);
  if (cfg.dither !== 0 && ditherSeed === undefined) {
    throw new Error(`kaldiMfcc: dither = ${cfg.dither} needs a ditherSeed (or set dither to 0)`);
  }
  const rng = cfg.dither !== 0 ? new Rng(ditherSeed!) : null;
  // Kaldi's snip-edges count (mfcc.ts's frameCount takes an HTK config, with rounded window sizes).
  const T = samples.length < win ? 0 : 1 + Math.floor((samples.length - win) / shift);
  const M = cfg.numMelBins, C = cfg.numCeps, pre = cfg.preemphasisCoefficient;
  const fft = new FFT(fftSize);
  const w = new Float64Array(win), padded = new Float64Array(fftSize), spec = new Float64Array(2 * fftSize);
  const power = new Float64Array(fftSize / 2), logMel = new Float64Array(M);
  const ceps = new Float32Array(T * C);
  for (let t = 0; t < T; t++) {
    const s0 = t * shift;
    for (let n = 0; n < win; n++) w[n] = samples[s0 + n] + (rng ? cfg.dither * rng.normal() : 0);
    if (cfg.removeDcOffset) {
      let mean = 0;
      for (let n = 0; n < win; n++) mean += w[n];
      for (let n = 0; n < win; n++) w[n] -= mean / win;
    }
    for (let n = win - 1; n > 0; n--) w[n] -= pre * w[n - 1];
    w[0] -= pre * w[0];
    for (let n = 0; n < win; n++) padded[n] = w[n] * window[n];
    fft.realTransform(spec, padded);
    for (let k = 0; k < fftSize / 2; k++) power[k] = spec[2 * k] ** 2 + spec[2 * k + 1] ** 2;
    for (let j = 0; j < M; j++) {
      const { a, w: bw } = bank[j];
      let e = 0;
      for (let k = 0; k < bw.length; k++) e += bw[k] * power[a + k];
      logMel[j] = Math.log(Math.max(e, FLT_EPSILON));
    }
    for (let i = 0; i < C; i++) {
      let c = 0;
      for (let j = 0; j < M; j++) c += dctLift[i * M + j] * logMel[j];
      ceps[t * C + i] = c;
    }
  }
  return { ceps, numFrames: T };
}

/**
 * Kaldi `add-deltas` (`DeltaFeatures`) of `x` (`[T, D]`): filters `s_0 = [1]`,
 * `s_i = (s_{i-1} * [-W..W]) / sum_{j=-W..W} j^2` (convolution; width 1 + 2 i W), and output block i at
 * frame t is `sum_j s_i[j] x[clamp(t + j, 0, T - 1)]`: every order clamps the RAW frames, so at the
 * edges the second order differs from a delta of the delta. Returns `[T, D * (order + 1)]`.
 */
export function kaldiDeltas(
  x: Float32Array,
  T: number,
  D: number,
  window: number,
  order: number,
): Float32Array {
  if (x.length !== T * D) throw new Error(`kaldiDeltas: x has ${x.length} values, expected T*D = ${T * D}`);
  if (!(Number.isInteger(window) && window >= 1 && Number.isInteger(order) && order >= 0)) {
    throw new Error(`kaldiDeltas: window = ${window}, order = ${order}: need integers >= 1 and >= 0`);
  }
  const scales: Float64Array[] = [Float64Array.of(1)];
  let norm = 0;
  for (let j = -window; j <= window; j++) norm += j * j;
  for (let i = 1; i <= order; i++) {
    const prev = scales[i - 1], cur = new Float64Array(prev.length + 2 * window);
    for (let j = -window; j <= window; j++) {
      for (let k = 0; k < prev.length; k++) cur[j + window + k] += (j * prev[k]) / norm;
    }
    scales.push(cur);
  }
  const E = D * (order + 1), out = new Float32Array(T * E), acc = new Float64Array(D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i <= order; i++) {
      const s = scales[i], half = (s.length - 1) / 2;
      acc.fill(0);
      for (let j = -half; j <= half; j++) {
        if (s[j + half] === 0) continue;
        const r = Math.min(T - 1, Math.max(0, t + j)) * D;
        for (let d = 0; d < D; d++) acc[d] += s[j + half] * x[r + d];
      }
      out.set(acc, t * E + i * D);
    }
  }
  return out;
}

/** Per-utterance cepstral mean normalisation (`apply-cmvn`, means only): `x[t,d] - mean_t x[t,d]`. */
export function applyCmn(x: Float32Array, T: number, D: number): Float32Array {
  if (x.length !== T * D) throw new Error(`applyCmn: x has ${x.length} values, expected T*D = ${T * D}`);
  const mean = new Float64Array(D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) mean[d] += x[t * D + d];
  for (let d = 0; d < D; d++) mean[d] /= T;
  const out = new Float32Array(T * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) out[t * D + d] = x[t * D + d] - mean[d];
  return out;
}

/**
 * The recipe's features: {@link kaldiMfcc}, then {@link kaldiDeltas}, then {@link applyCmn} (when
 * `normMeans`); `[numFrames, frameDim]` with frameDim = numCeps (deltaOrder + 1), 39 with the defaults.
 */
export function kaldiFeatures(
  samples: ArrayLike<number>,
  cfg: KaldiMfccConfig = KALDI_MFCC_DEFAULTS,
  ditherSeed?: string,
): { frames: Float32Array; numFrames: number; frameDim: number } {
  const { ceps, numFrames: T } = kaldiMfcc(samples, cfg, ditherSeed);
  const frameDim = cfg.numCeps * (cfg.deltaOrder + 1);
  const withDeltas = kaldiDeltas(ceps, T, cfg.numCeps, cfg.deltaWindow, cfg.deltaOrder);
  return { frames: cfg.normMeans ? applyCmn(withDeltas, T, frameDim) : withDeltas, numFrames: T, frameDim };
}

/**
 * Mel-frequency cepstral coefficients, HTK-style (S. Young et al., "The HTK Book", v3.4, ch. 5.4-5.6;
 * S. Davis and P. Mermelstein, IEEE Trans. ASSP 28(4), 1980).
 *
 * For frame t, samples `x[t*hop .. t*hop + win)` (16 kHz: win 400 = 25 ms, hop 160 = 10 ms; a frame
 * exists only where the window fits, T = floor((N - win) / hop) + 1; its centre is `t*hop + win/2`):
 * 1. log energy `logE = ln max(sum x[n]^2, 1)` of the raw frame (before pre-emphasis and window, as HTK);
 * 2. pre-emphasis within the frame, `y[n] = x[n] - 0.97 x[n-1]`, `y[0] = (1 - 0.97) x[0]` (HTK);
 * 3. Hamming window `0.54 - 0.46 cos(2 pi n / (win - 1))`, zero-padded to `fftSize` (512);
 * 4. power spectrum `|X_k|^2`, k = 0..fftSize/2 (FFT by fft.js);
 * 5. M (26) triangular filters equally spaced on the HTK mel scale `mel(f) = 1127 ln(1 + f/700)` between
 *    `lowHz` and `highHz`: with edges `m_0 < ... < m_{M+1}`, filter j weighs bin k by the triangle
 *    rising from m_{j-1} to 1 at m_j and falling to 0 at m_{j+1}, evaluated at mel(k * sr / fftSize)
 *    (triangles in the mel domain, as HTK and Kaldi); it sums POWER, not magnitude (HTK `USEPOWER=T`,
 *    Kaldi's default), and `e_j` is floored at 1 before the natural log (HTK's mel floor);
 * 6. DCT-II with HTK's scaling, `c_i = sqrt(2/M) sum_{j=1..M} ln(e_j) cos(pi i (j - 1/2) / M)`, i = 0..12.
 *    No cepstral liftering: it scales each coefficient by a constant, which the per-dimension
 *    mean/variance normalisation of the features undoes.
 * 7. Frame layout (HTK order): statics `[c1..c12, E]` with E = c0 (`energy: "c0"`) or logE
 *    (`"log_energy"`), their deltas, their delta-deltas (39); with `frameDim: 40`, E is c0 and logE is
 *    appended as the 40th value. Deltas use HTK's regression formula, see {@link deltas}.
 * Samples are taken in 16-bit integer units (as read from the file); there is no dither and no DC removal.
 */
import FFT from "fft.js";

/** MFCC settings; every field enters the feature cache key. */
export interface MfccConfig {
  readonly sampleRate: number;
  readonly windowMs: number;
  readonly hopMs: number;
  readonly preemphasis: number;
  readonly fftSize: number;
  readonly numFilters: number;
  readonly lowHz: number;
  readonly highHz: number;
  /** Cepstra c0..c{numCeps-1}; c1..c{numCeps-1} plus the energy term make the statics. */
  readonly numCeps: number;
  readonly energy: "c0" | "log_energy";
  readonly deltaWindow: number;
  /** `3 * numCeps` (39), or one more (40) to append the log energy. */
  readonly frameDim: number;
}

export const DEFAULT_MFCC: MfccConfig = Object.freeze({
  sampleRate: 16000,
  windowMs: 25,
  hopMs: 10,
  preemphasis: 0.97,
  fftSize: 512,
  numFilters: 26,
  lowHz: 0,
  highHz: 8000,
  numCeps: 13,
  energy: "c0",
  deltaWindow: 2,
  frameDim: 39,
});

/** Window and hop in samples. */
export function frameGeometry(cfg: MfccConfig): { win: number; hop: number } {
  return {
    win: Math.round((cfg.windowMs * cfg.sampleRate) / 1000),
    hop: Math.round((cfg.hopMs * cfg.sampleRate) / 1000),
  };
}

/** Number of frames of an `n`-sample signal: `floor((n - win) / hop) + 1`, or 0 if shorter than a window. */
export function frameCount(n: number, cfg: MfccConfig): number {
  const { win, hop } = frameGeometry(cfg);
  return n < win ? 0 : Math.floor((n - win) / hop) + 1;
}

/** HTK mel scale: `1127 ln(1 + f / 700)`. */
export function hzToMel(f: number): number {
  return 1127 * Math.log(1 + f / 700);
}

/** Inverse of {@link hzToMel}. */
export function melToHz(m: number): number {
  return 700 * (Math.exp(m / 1127) - 1);
}

/** The filterbank as one weight row per filter over bins 0..fftSize/2 (see step 5 above). */
export function melFilterbank(cfg: MfccConfig): Float64Array[] {
  checkConfig(cfg);
  const nBins = cfg.fftSize / 2 + 1;
  const lo = hzToMel(cfg.lowHz), hi = hzToMel(cfg.highHz);
  const edge = (j: number) => lo + (j * (hi - lo)) / (cfg.numFilters + 1);
  const rows: Float64Array[] = [];
  for (let j = 1; j <= cfg.numFilters; j++) {
    const [l, c, r] = [edge(j - 1), edge(j), edge(j + 1)];
    const row = new Float64Array(nBins);
    for (let k = 0; k < nBins; k++) {
      const m = hzToMel((k * cfg.sampleRate) / cfg.fftSize);
      if (m > l && m < r) row[k] = m <= c ? (m - l) / (c - l) : (r - m) / (r - c);
    }
    rows.push(row);
  }
  return rows;
}

function checkConfig(cfg: MfccConfig): void {
  const { win, hop } = frameGeometry(cfg);
  const bad = (field: string, v: unknown, need: string) => new Error(`MFCC config ${field} = ${v}: ${need}`);
  if (!(cfg.fftSize >= win && (cfg.fftSize & (cfg.fftSize - 1)) === 0)) {
    throw bad("fftSize", cfg.fftSize, `need a power of 2 >= the window (${win} samples)`);
  }
  if (hop < 1) throw bad("hopMs", cfg.hopMs, "need at least one sample");
  if (!(cfg.lowHz >= 0 && cfg.highHz > cfg.lowHz && cfg.highHz <= cfg.sampleRate / 2)) {
    throw bad("highHz", cfg.highHz, `need lowHz (${cfg.lowHz}) < highHz <= sampleRate / 2`);
  }
  if (cfg.numCeps < 2 || cfg.numCeps > cfg.numFilters) {
    throw bad("numCeps", cfg.numCeps, `need 2..numFilters (${cfg.numFilters})`);
  }
  if (cfg.frameDim !== 3 * cfg.numCeps && cfg.frameDim !== 3 * cfg.numCeps + 1) {
    throw bad(
      "frameDim",
      cfg.frameDim,
      `need 3 * numCeps (${3 * cfg.numCeps}) or one more (with log energy)`,
    );
  }
  if (cfg.frameDim === 3 * cfg.numCeps + 1 && cfg.energy !== "c0") {
    throw bad(
      "energy",
      cfg.energy,
      `with frameDim ${cfg.frameDim} the statics use c0 and log energy is appended`,
    );
  }
  if (!Number.isInteger(cfg.deltaWindow) || cfg.deltaWindow < 1) {
    throw bad("deltaWindow", cfg.deltaWindow, "need an integer >= 1");
  }
}

/** Per-frame analysis before the dynamic features: log mel energies, cepstra c0.., log energy. */
export interface FrameAnalysis {
  readonly numFrames: number;
  /** `[numFrames, numFilters]` natural-log filterbank energies. */
  readonly logMel: Float32Array;
  /** `[numFrames, numCeps]` cepstra c0..c{numCeps-1}. */
  readonly ceps: Float32Array;
  /** `[numFrames]` log energy of the raw frame. */
  readonly logEnergy: Float32Array;
}

/** Steps 1-6 of the module doc for every frame of `samples`. */
export function analyseFrames(samples: ArrayLike<number>, cfg: MfccConfig = DEFAULT_MFCC): FrameAnalysis {
  checkConfig(cfg);
  const { win, hop } = frameGeometry(cfg);
  const T = frameCount(samples.length, cfg);
  const M = cfg.numFilters, C = cfg.numCeps, nBins = cfg.fftSize / 2 + 1;
  const bank = melFilterbank(cfg).map((row) => {
    let a = 0;
    while (a < nBins && row[a] === 0) a++;
    let b = nBins;
    while (b > a && row[b - 1] === 0) b--;
    return { a, w: row.slice(a, b) };
  });
  const hamming = Float64Array.from(
    { length: win },
    (_, n) => 0.54 - 0.46 * Math.cos((2 * Math.PI * n) / (win - 1)),
  );
  const dct = Float64Array.from({ length: C * M }, (_, q) => {
    const i = Math.floor(q / M), j = (q % M) + 1;
    return Math.sqrt(2 / M) * Math.cos((Math.PI * i * (j - 0.5)) / M);
  });
  const fft = new FFT(cfg.fftSize);
  const frame = new Float64Array(cfg.fftSize);
  const spec = new Float64Array(2 * cfg.fftSize);
  const power = new Float64Array(nBins);
  const logMel = new Float32Array(T * M), ceps = new Float32Array(T * C), logEnergy = new Float32Array(T);
  const lm = new Float64Array(M);
  for (let t = 0; t < T; t++) {
    const s0 = t * hop;
    let e = 0;
    for (let n = 0; n < win; n++) e += samples[s0 + n] * samples[s0 + n];
    logEnergy[t] = Math.log(Math.max(e, 1));
    frame[0] = (1 - cfg.preemphasis) * samples[s0] * hamming[0];
    for (let n = 1; n < win; n++) {
      frame[n] = (samples[s0 + n] - cfg.preemphasis * samples[s0 + n - 1]) * hamming[n];
    }
    fft.realTransform(spec, frame);
    for (let k = 0; k < nBins; k++) power[k] = spec[2 * k] ** 2 + spec[2 * k + 1] ** 2;
    for (let j = 0; j < M; j++) {
      const { a, w } = bank[j];
      let s = 0;
      for (let k = 0; k < w.length; k++) s += w[k] * power[a + k];
      lm[j] = Math.log(Math.max(s, 1));
      logMel[t * M + j] = lm[j];
    }
    for (let i = 0; i < C; i++) {
      let s = 0;
      for (let j = 0; j < M; j++) s += dct[i * M + j] * lm[j];
      ceps[t * C + i] = s;
    }
  }
  return { numFrames: T, logMel, ceps, logEnergy };
}

/**
 * HTK regression deltas of `x` (`[T, D]`, row-major) with window Θ:
 * `d_t = sum_{θ=1..Θ} θ (x_{t+θ} - x_{t-θ}) / (2 sum_{θ=1..Θ} θ^2)`, with the first and last frames
 * repeated past the ends (HTK). A linear ramp `x_t = a t + b` gives `d_t = a` away from the ends.
 */
export function deltas(x: Float32Array, T: number, D: number, window: number): Float32Array {
  if (x.length !== T * D) throw new Error(`deltas: x has ${x.length} values, expected T*D = ${T * D}`);
  const out = new Float32Array(T * D);
  let norm = 0;
  for (let th = 1; th <= window; th++) norm += th * th;
  norm *= 2;
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < D; d++) {
      let s = 0;
      for (let th = 1; th <= window; th++) {
        s += th * (x[Math.min(T - 1, t + th) * D + d] - x[Math.max(0, t - th) * D + d]);
      }
      out[t * D + d] = s / norm;
    }
  }
  return out;
}

/** MFCC frames of `samples`: `[numFrames, frameDim]` row-major, layout as in step 7 of the module doc. */
export function mfcc(
  samples: ArrayLike<number>,
  cfg: MfccConfig = DEFAULT_MFCC,
): { frames: Float32Array; numFrames: number; frameDim: number } {
  const a = analyseFrames(samples, cfg);
  const T = a.numFrames, C = cfg.numCeps, D = cfg.frameDim;
  const stat = new Float32Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let i = 1; i < C; i++) stat[t * C + i - 1] = a.ceps[t * C + i];
    stat[t * C + C - 1] = cfg.energy === "c0" ? a.ceps[t * C] : a.logEnergy[t];
  }
  const d1 = deltas(stat, T, C, cfg.deltaWindow);
  const d2 = deltas(d1, T, C, cfg.deltaWindow);
  const frames = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    frames.set(stat.subarray(t * C, (t + 1) * C), t * D);
    frames.set(d1.subarray(t * C, (t + 1) * C), t * D + C);
    frames.set(d2.subarray(t * C, (t + 1) * C), t * D + 2 * C);
    if (D === 3 * C + 1) frames[t * D + 3 * C] = a.logEnergy[t];
  }
  return { frames, numFrames: T, frameDim: D };
}

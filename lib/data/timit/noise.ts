/**
 * Additive test noise at a target signal-to-noise ratio: the noise-robustness evaluation of GenHMM (D. Liu
 * et al., "Powering hidden Markov model by neural network based generative models", ECAI 2020) and NF-HMM
 * (A. Ghosh et al., "Normalizing flow based hidden Markov models for classification of speech phones with
 * explainability", 2021): train on clean TIMIT, test on noisy test audio.
 *
 * Per test utterance s (T samples), as in GenHMM's `src/timit-preprocessor/add_noise.py`: draw a noise
 * excerpt n of length T and return s + g (n - mean n), with
 *
 *     SNR = 10 log10(var(s) / var(g n)),  var(x) = (1/T) sum_t (x_t - mean x)^2,
 *     g = 10^(-SNR/20) std(s) / std(n),
 *
 * measured over the whole utterance (silences included). Differences from that script, each on purpose:
 * the result stays float32 (its `astype(int16)` wraps around on overflow instead of clipping); the noise's
 * own mean is removed (a DC offset is no acoustic noise, and the MFCCs have no DC removal); a file excerpt
 * starts anywhere in 0..len-T (`randint(len - T)` never takes the last start); a noise file shorter than an
 * utterance is an error, not a printed warning; and every draw comes from an rng seeded per (seed, noise,
 * utterance) by {@link noiseSeed}, so runs repeat and every SNR of one utterance uses the same excerpt.
 * (One revision of that script scaled std(n) by 10^(-SNR/10), which doubled every SNR in dB.)
 */
import FFT from "fft.js";
import { ConfigError } from "../../config.ts";
import type { Rng } from "../../rng.ts";
import { readAudio } from "./corpus.ts";
import { CorpusError } from "./errors.ts";

export type NoiseKind = "white" | "pink" | "babble" | "file";

/** One `--test_noise` item; `name` is what reports show. */
export interface NoiseSpec {
  readonly name: string;
  readonly kind: NoiseKind;
  /** The noise recording, for `file`. */
  readonly path?: string;
}

/** The utterance being corrupted. */
export interface UttRef {
  readonly id: string;
  readonly speaker: string;
}

/** A test utterance babble may speak; `load()` gives its samples (called at most once while cached). */
export interface TalkerUtterance extends UttRef {
  load(): Promise<ArrayLike<number>>;
}

/** Draws noise excerpts; the level of what `noise()` returns is arbitrary ({@link addNoise} sets it). */
export interface NoiseSource {
  readonly name: string;
  noise(n: number, rng: Rng, utt: UttRef): Promise<Float64Array>;
}

export interface BabbleOptions {
  /** Utterances to draw talkers from, usually the whole test set (any order: draws do not depend on it). */
  readonly pool: readonly TalkerUtterance[];
  /** Talkers summed (default 6), each a different speaker, never the speaker of the target utterance. */
  readonly talkers?: number;
  /** Loaded talker utterances kept, least recently used dropped first (default 32). */
  readonly cacheSize?: number;
}

export interface NoiseOptions {
  /** The corpus's rate (TIMIT: 16000); a noise file at another rate is refused. */
  readonly sampleRate: number;
  /** The longest utterance in samples, if known: a shorter noise file is refused before any work. */
  readonly maxLength?: number;
  /** Required for `babble`. */
  readonly babble?: BabbleOptions;
}

const BUILTIN: readonly NoiseKind[] = ["white", "pink", "babble"];
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const AUDIO_FILE = /\.(wav|wv1|sph)$/i;

function splitList(text: string, key: string, hint: string): string[] {
  if (text.trim() === "") throw new ConfigError(`--${key}: empty list (${hint})`);
  return text.split(",").map((s) => s.trim());
}

/** Parses `--snr_db`, e.g. `"10,15,20"`: finite decimal numbers, duplicates dropped, order kept. */
export function parseSnrList(text: string, key = "snr_db"): number[] {
  const hint = "expected a comma-separated list of dB values, e.g. 10,15,20";
  const out: number[] = [];
  for (const item of splitList(text, key, hint)) {
    const v = Number(item);
    if (!NUMBER.test(item) || !Number.isFinite(v)) {
      throw new ConfigError(`--${key}: ${JSON.stringify(item)} is not a number (${hint})`);
    }
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/**
 * Parses `--test_noise`, e.g. `"white,pink,babble,noisex/factory1.wav"`: the built-in kinds, or a path
 * (anything with a `/` or ending in .wav, .wv1 or .sph), reported by its basename without extension.
 */
export function parseNoiseList(text: string, key = "test_noise"): NoiseSpec[] {
  const hint = `expected a comma-separated list of ${BUILTIN.join(", ")} or noise file paths ` +
    `(containing "/" or ending in .wav, .wv1, .sph)`;
  const out: NoiseSpec[] = [];
  for (const item of splitList(text, key, hint)) {
    let spec: NoiseSpec;
    if (BUILTIN.includes(item as NoiseKind)) {
      spec = { name: item, kind: item as NoiseKind };
    } else if (item.includes("/") || AUDIO_FILE.test(item)) {
      const name = item.slice(item.lastIndexOf("/") + 1).replace(/\.[^.]*$/, "");
      if (name === "") throw new ConfigError(`--${key}: ${JSON.stringify(item)} names no file (${hint})`);
      spec = { name, kind: "file", path: item };
    } else {
      throw new ConfigError(`--${key}: unknown noise ${JSON.stringify(item)} (${hint})`);
    }
    const twin = out.find((s) => s.name === spec.name);
    if (twin) {
      throw new ConfigError(
        `--${key}: ${JSON.stringify(twin.path ?? twin.name)} and ${JSON.stringify(item)} would both be ` +
          `reported as "${spec.name}"; list each noise once (rename a file that clashes)`,
      );
    }
    out.push(spec);
  }
  return out;
}

/**
 * The seed string of the rng that draws the noise of one utterance. It leaves out the SNR on purpose, so
 * every SNR of an utterance gets the same excerpt and curves over SNR differ only by level. `uttId` must be
 * unique in the corpus (TIMIT's sentence ids repeat across speakers: use e.g. `speaker/id`).
 */
export function noiseSeed(seed: number, spec: NoiseSpec, uttId: string): string {
  return JSON.stringify(["noise", seed, spec.kind, spec.name, uttId]);
}

/** i.i.d. standard normal samples. */
export function whiteNoise(n: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

const ffts = new Map<number, FFT>();

/**
 * Pink (1/f) Gaussian noise by spectral synthesis: with N the next power of two >= n (at least 4),
 * X_0 = 0, X_k = (a_k + i b_k) / sqrt(2k) for 0 < k < N/2, X_{N/2} = a / sqrt(N), X_{N-k} = conj(X_k), with
 * a, b standard normal; x = IDFT(X) cut to n, scaled to unit expected variance. E|X_k|^2 = 1/k, so the power
 * spectral density is exactly proportional to 1/f at every DFT frequency k fs / N (-10 dB per decade,
 * -3.01 dB per octave) down to fs/N; x is stationary (circulant), so any n-sample cut keeps that spectrum.
 */
export function pinkNoise(n: number, rng: Rng): Float64Array {
  let N = 4;
  while (N < n) N *= 2;
  let fft = ffts.get(N);
  if (!fft) ffts.set(N, fft = new FFT(N));
  const spec = new Float64Array(2 * N), time = new Float64Array(2 * N);
  let power = 0;
  for (let k = 1; k < N / 2; k++) {
    const w = Math.sqrt(1 / (2 * k)), re = w * rng.normal(), im = w * rng.normal();
    spec[2 * k] = spec[2 * (N - k)] = re;
    spec[2 * k + 1] = im;
    spec[2 * (N - k) + 1] = -im;
    power += 2 / k;
  }
  spec[N] = rng.normal() / Math.sqrt(N);
  power += 2 / N;
  fft.inverseTransform(time, spec);
  // fft.js divides the inverse by N; var x_t = sum_k E|X_k|^2 / N^2 = power / N^2.
  const scale = N / Math.sqrt(power);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = time[2 * i] * scale;
  return out;
}

function moments(x: ArrayLike<number>): { mean: number; variance: number } {
  let mean = 0, variance = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  for (let i = 0; i < x.length; i++) variance += (x[i] - mean) ** 2;
  return { mean, variance: variance / x.length };
}

function babbleSource(name: string, opts: BabbleOptions): NoiseSource {
  const talkers = opts.talkers ?? 6, cacheSize = opts.cacheSize ?? 32;
  if (!(Number.isInteger(talkers) && talkers >= 1)) {
    throw new Error(`babble talkers: need >= 1, got ${talkers}`);
  }
  if (!(Number.isInteger(cacheSize) && cacheSize >= 1)) throw new Error(`babble cacheSize: got ${cacheSize}`);
  const key = (u: UttRef) => `${u.speaker.toLowerCase()}/${u.id}`;
  const bySpeaker = new Map<string, TalkerUtterance[]>();
  for (const u of [...opts.pool].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)) {
    const s = u.speaker.toLowerCase();
    bySpeaker.set(s, [...bySpeaker.get(s) ?? [], u]);
  }
  const speakers = [...bySpeaker.keys()];
  if (speakers.length < talkers) {
    throw new ConfigError(`babble noise needs ${talkers} talkers, the pool has ${speakers.length} speakers`);
  }
  const cache = new Map<string, Promise<Float64Array>>();
  const unitVariance = async (u: TalkerUtterance, k: string): Promise<Float64Array> => {
    const x = await u.load();
    const { mean, variance } = moments(x);
    if (!(variance > 0)) throw new CorpusError(k, "babble talker utterance is silent (zero variance)");
    const sd = Math.sqrt(variance);
    return Float64Array.from(x, (v) => (v - mean) / sd);
  };
  const load = (u: TalkerUtterance): Promise<Float64Array> => {
    const k = key(u);
    let p = cache.get(k);
    if (!p) {
      const fresh = p = unitVariance(u, k);
      // A failed load is not cached: the next call retries it.
      fresh.catch(() => cache.get(k) === fresh && cache.delete(k));
    }
    cache.delete(k);
    cache.set(k, p);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
    return p;
  };
  return {
    name,
    async noise(n, rng, utt) {
      const others = speakers.filter((s) => s !== utt.speaker.toLowerCase());
      if (others.length < talkers) {
        throw new ConfigError(
          `babble noise for ${key(utt)}: the pool has ${others.length} speakers other than ` +
            `${utt.speaker}, ${talkers} talkers needed`,
        );
      }
      // Every draw comes before the first await: calls sharing one rng draw in call order, whatever the loads.
      const picks: { u: TalkerUtterance; start: number }[] = [];
      for (let i = 0; i < talkers; i++) {
        const j = i + rng.int(others.length - i);
        [others[i], others[j]] = [others[j], others[i]];
        const utts = bySpeaker.get(others[i])!;
        picks.push({ u: utts[rng.int(utts.length)], start: rng.uniform() });
      }
      const out = new Float64Array(n);
      for (const { u, start } of picks) {
        const x = await load(u);
        for (let i = 0, j = Math.floor(start * x.length); i < n; i++, j = j + 1 === x.length ? 0 : j + 1) {
          out[i] += x[j];
        }
      }
      return out;
    },
  };
}

/** An excerpt whose variance is below this share of its file's (-40 dB) is refused as silent. */
const SILENT_EXCERPT = 1e-4;

async function fileSource(spec: NoiseSpec, opts: NoiseOptions): Promise<NoiseSource> {
  const path = spec.path;
  if (path === undefined) throw new Error(`noise "${spec.name}" is of kind file but has no path`);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CorpusError(path, `cannot read noise file (${(e as Error).message})`);
  }
  const { sampleRate, samples } = readAudio(bytes, path);
  if (sampleRate !== opts.sampleRate) {
    throw new CorpusError(
      path,
      `noise sample rate is ${sampleRate} Hz, the corpus's is ${opts.sampleRate} Hz; resample it first ` +
        `(e.g. sox in.wav -r ${opts.sampleRate} out.wav)`,
    );
  }
  const fileVariance = moments(samples).variance;
  if (!(fileVariance > 0)) {
    throw new CorpusError(path, `noise file is silent (${samples.length} samples, zero variance)`);
  }
  const sec = (m: number) => `${m} samples (${(m / sampleRate).toFixed(2)} s)`;
  const check = (n: number, what: string) => {
    if (n > samples.length) {
      throw new CorpusError(path, `noise file has ${sec(samples.length)}, shorter than ${what} of ${sec(n)}`);
    }
  };
  if (opts.maxLength !== undefined) check(opts.maxLength, "the longest utterance");
  return {
    name: spec.name,
    // deno-lint-ignore require-await
    async noise(n, rng, utt) {
      check(n, `utterance ${utt.speaker}/${utt.id}`);
      const start = rng.int(samples.length - n + 1);
      const out = new Float64Array(samples.subarray(start, start + n));
      // An excerpt 40 dB below the file's level is a silent stretch: scaled up to the SNR it would be
      // (amplified) quantisation noise, not the recording's noise.
      const v = moments(out).variance;
      if (!(v >= SILENT_EXCERPT * fileVariance)) {
        throw new CorpusError(
          path,
          `the excerpt of samples ${start}..${start + n} (for utterance ${utt.id}) is silent: its variance ` +
            `${v.toPrecision(3)} is over 40 dB below the file's ${
              fileVariance.toPrecision(3)
            }; trim the silences`,
        );
      }
      return out;
    },
  };
}

/**
 * Opens a noise source. `white`: {@link whiteNoise}; `pink`: {@link pinkNoise}; `babble`: the sum of
 * `talkers` utterances of different speakers other than the target's, drawn from `opts.babble.pool`, each
 * mean-removed and scaled to unit variance, read from a uniform random offset and looped to length n
 * (so its variance is about `talkers`); `file`: a uniform random contiguous excerpt of a SPHERE or RIFF
 * recording, which is read and checked here, once (rate, silence, `maxLength`).
 */
export async function openNoise(spec: NoiseSpec, opts: NoiseOptions): Promise<NoiseSource> {
  switch (spec.kind) {
    case "white":
      return { name: spec.name, noise: (n, rng) => Promise.resolve(whiteNoise(n, rng)) };
    case "pink":
      return { name: spec.name, noise: (n, rng) => Promise.resolve(pinkNoise(n, rng)) };
    case "babble":
      if (!opts.babble) throw new Error(`noise "${spec.name}" is babble: openNoise() needs opts.babble`);
      return babbleSource(spec.name, opts.babble);
    case "file":
      return await fileSource(spec, opts);
  }
}

/**
 * `clean + g (noise - mean noise)` as float32, with g set so that {@link snrDb} of the result is `snr`
 * (formula in the module doc). Not quantised to int16: the GenHMM script's `astype(int16)` wraps loud
 * samples around. A silent utterance (zero variance) has no SNR: throws a CorpusError naming `id`.
 */
export function addNoise(
  clean: ArrayLike<number>,
  noise: Float64Array,
  snr: number,
  id = "utterance",
): Float32Array {
  if (noise.length !== clean.length) {
    throw new Error(`addNoise(${id}): noise has ${noise.length} samples, the utterance ${clean.length}`);
  }
  if (!Number.isFinite(snr)) throw new Error(`addNoise(${id}): SNR must be finite, got ${snr} dB`);
  const s = moments(clean), v = moments(noise);
  if (!(s.variance > 0)) {
    throw new CorpusError(id, `silent utterance (${clean.length} samples, zero variance) has no SNR`);
  }
  if (!(v.variance > 0)) throw new Error(`addNoise(${id}): the noise excerpt has zero variance`);
  const g = Math.sqrt((s.variance / v.variance) * 10 ** (-snr / 10));
  const out = new Float32Array(clean.length);
  for (let i = 0; i < out.length; i++) out[i] = clean[i] + g * (noise[i] - v.mean);
  return out;
}

/** The SNR of `noisy` against `clean` in dB: 10 log10(var(clean) / var(noisy - clean)). */
export function snrDb(clean: ArrayLike<number>, noisy: ArrayLike<number>): number {
  if (noisy.length !== clean.length) throw new Error(`snrDb: ${clean.length} vs ${noisy.length} samples`);
  const d = Float64Array.from(clean, (c, i) => noisy[i] - c);
  return 10 * Math.log10(moments(clean).variance / moments(d).variance);
}

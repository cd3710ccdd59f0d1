/**
 * Phone-segment features of a list of utterances (as a {@link Protocol} computes them), computed once and
 * cached on disk.
 *
 * The cache key is a SHA-256 of the corpus's absolute path, every audio/`.PHN` file of the list with its
 * size and modification time, the protocol's feature settings, any transform of the audio (test noise) and
 * the skip-bad flag, so editing, adding or removing a file, or changing a feature setting, computes the
 * features again. A cache file is written to a temporary
 * name and renamed, so an interrupted run never leaves a half-written cache that a later run would read.
 */
import { Progress } from "../../runner/logger.ts";
import type { Logger } from "../../runner/logger.ts";
import { removeStaleTemporaries } from "../../runner/run_lock.ts";
import { type Corpus, loadUtterance, type Skipped, type Utterance } from "./corpus.ts";
import { CorpusError } from "./errors.ts";
import type { Protocol } from "./protocol.ts";
import { readSegmentCache, type SegmentSet, writeSegmentCache } from "./segment_set.ts";

export interface ExtractOptions {
  /** Directory of cache files (created if missing); `null` disables the cache. */
  readonly cacheDir: string | null;
  /** A name for the file list, used in the cache file name and progress bar (e.g. `train`). */
  readonly label: string;
  /** Skip utterances with bad content, with a counted warning (default: false: the first one throws). */
  readonly skipBad?: boolean;
  /** Changes each utterance's audio before its features are computed (e.g. adds test noise). */
  readonly transform?: AudioTransform | null;
  readonly log?: Logger;
}

/** A change of the audio before feature extraction, e.g. additive noise at an SNR. */
export interface AudioTransform {
  /** A short name for cache file names and progress bars, e.g. `white_20dB`. */
  readonly label: string;
  /** What it does, in JSON (part of the cache key). */
  readonly key: Readonly<Record<string, unknown>>;
  apply(samples: Int16Array, utt: Utterance): Promise<ArrayLike<number>>;
}

/** Segments of the utterances, whether they came from the cache, and the utterances skipped. */
export interface Extracted {
  readonly segments: SegmentSet;
  readonly skipped: readonly Skipped[];
  readonly cacheHit: boolean;
  /** The cache file used or written (`null` without a cache). */
  readonly cacheFile: string | null;
}

const CACHE_VERSION = 2;

/** `part/dialect/speaker/id`, e.g. `test/dr1/mdab0/si1033`: names an utterance in caches and reports. */
export const utteranceKey = (u: Utterance): string => `${u.part}/${u.dialect}/${u.speaker}/${u.id}`;

async function absolute(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return path;
  }
}

/** The hex SHA-256 cache key of (corpus path, files with sizes and mtimes, feature settings, skipBad). */
export async function cacheKey(
  corpus: Corpus,
  utts: readonly Utterance[],
  features: Readonly<Record<string, unknown>>,
  skipBad: boolean,
): Promise<string> {
  const root = await absolute(corpus.root);
  const files: [string, number, number][] = [];
  for (const u of utts) {
    for (const f of [u.audioPath, u.phnPath]) {
      const st = await Deno.stat(f).catch(() => null);
      files.push([
        f.startsWith(corpus.root) ? f.slice(corpus.root.length) : f,
        st?.size ?? -1,
        st?.mtime?.getTime() ?? -1,
      ]);
    }
  }
  const text = JSON.stringify({
    version: CACHE_VERSION,
    root,
    files,
    features: sortedKeys(features),
    skipBad,
  });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `v` with the keys of every object sorted, so equal settings give equal JSON. */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(
    Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, sortedKeys(x)]),
  );
}

/**
 * Feature frames of every phone segment of `utts` as `protocol` computes them, from the cache when its
 * key matches, otherwise computed with a progress bar and cached.
 */
export async function extractSegments(
  corpus: Corpus,
  utts: readonly Utterance[],
  protocol: Protocol,
  opts: ExtractOptions,
): Promise<Extracted> {
  const skipBad = opts.skipBad ?? false;
  let cacheFile: string | null = null;
  if (opts.cacheDir !== null) {
    for (const f of removeStaleTemporaries(opts.cacheDir)) {
      opts.log?.warn(`removed ${opts.cacheDir}/${f}, left by a cache writer that died`);
    }
    const features = opts.transform
      ? { ...protocol.featureKey, audio: opts.transform.key }
      : protocol.featureKey;
    const key = await cacheKey(corpus, utts, features, skipBad);
    cacheFile = `${opts.cacheDir}/timit_${opts.label.replace(/[^\w-]/g, "_")}_${key.slice(0, 24)}.seg`;
    const hit = await readSegmentCache(cacheFile, opts.log);
    if (hit) return { segments: hit.segments, skipped: hit.skipped, cacheHit: true, cacheFile };
  }
  const { segments, skipped } = await computeSegments(utts, protocol, skipBad, opts);
  if (cacheFile !== null) {
    await Deno.mkdir(opts.cacheDir!, { recursive: true });
    await writeSegmentCache(cacheFile, segments, skipped);
  }
  return { segments, skipped, cacheHit: false, cacheFile };
}

/** The sample rate every protocol's features expect. */
export const SAMPLE_RATE = 16000;

async function computeSegments(
  utts: readonly Utterance[],
  protocol: Protocol,
  skipBad: boolean,
  opts: ExtractOptions,
): Promise<{ segments: SegmentSet; skipped: Skipped[] }> {
  const D = protocol.frameDim;
  const chunks: Float32Array[] = [];
  const lengths: number[] = [], labels: number[] = [], utterance: number[] = [];
  const utteranceIds: string[] = [];
  const skipped: Skipped[] = [];
  const bar = opts.log ? new Progress(opts.log, `mfcc ${opts.label}`, utts.length) : null;
  for (const u of utts) {
    try {
      const { audio, phones } = await loadUtterance(u);
      if (audio.sampleRate !== SAMPLE_RATE) {
        throw new CorpusError(
          u.audioPath,
          `sample_rate is ${audio.sampleRate}, features expect ${SAMPLE_RATE}`,
        );
      }
      const uttKey = utteranceKey(u);
      const samples = opts.transform ? await opts.transform.apply(audio.samples, u) : audio.samples;
      const { frames, segments: segs } = protocol.features(samples, phones, uttKey);
      const ui = utteranceIds.length;
      utteranceIds.push(uttKey);
      for (const s of segs) {
        chunks.push(frames.subarray(s.start * D, (s.start + s.length) * D));
        lengths.push(s.length);
        labels.push(s.classId);
        utterance.push(ui);
      }
    } catch (e) {
      if (!(e instanceof CorpusError) || !skipBad) throw e;
      skipped.push({ file: e.file, reason: e.message });
      opts.log?.warn(`skipping ${u.part}/${u.dialect}/${u.speaker}/${u.id}: ${e.message}`);
    }
    bar?.tick();
  }
  bar?.done();
  const total = lengths.reduce((a, b) => a + b, 0);
  const frames = new Float32Array(total * D);
  const offsets = new Int32Array(lengths.length);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    offsets[i] = at;
    frames.set(chunks[i], at * D);
    at += lengths[i];
  }
  return {
    segments: {
      frameDim: D,
      frames,
      offsets,
      lengths: Int32Array.from(lengths),
      labels: Int32Array.from(labels),
      utterance: Int32Array.from(utterance),
      utteranceIds,
    },
    skipped,
  };
}

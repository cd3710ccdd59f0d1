/**
 * Phone-segment MFCC features of a list of utterances, computed once and cached on disk.
 *
 * The cache key is a SHA-256 of the corpus's absolute path, every audio/`.PHN` file of the list with its
 * size and modification time, the MFCC config and the skip-bad flag, so editing, adding or removing a file,
 * or changing a feature setting, computes the features again. A cache file is written to a temporary
 * name and renamed, so an interrupted run never leaves a half-written cache that a later run would read.
 */
import { Progress } from "../../runner/logger.ts";
import type { Logger } from "../../runner/logger.ts";
import { type Corpus, loadUtterance, type Skipped, type Utterance } from "./corpus.ts";
import { CorpusError } from "./errors.ts";
import { frameGeometry, mfcc, type MfccConfig } from "./mfcc.ts";
import { phoneSegments } from "./segments.ts";
import { readSegmentCache, type SegmentSet, writeSegmentCache } from "./segment_set.ts";

export interface ExtractOptions {
  /** Directory of cache files (created if missing); `null` disables the cache. */
  readonly cacheDir: string | null;
  /** A name for the file list, used in the cache file name and progress bar (e.g. `train`). */
  readonly label: string;
  /** Skip utterances with bad content, with a counted warning (default: false: the first one throws). */
  readonly skipBad?: boolean;
  readonly log?: Logger;
}

/** Segments of the utterances, whether they came from the cache, and the utterances skipped. */
export interface Extracted {
  readonly segments: SegmentSet;
  readonly skipped: readonly Skipped[];
  readonly cacheHit: boolean;
  /** The cache file used or written (`null` without a cache). */
  readonly cacheFile: string | null;
}

const CACHE_VERSION = 1;

async function absolute(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return path;
  }
}

/** The hex SHA-256 cache key of (corpus path, files with sizes and mtimes, feature config, skipBad). */
export async function cacheKey(
  corpus: Corpus,
  utts: readonly Utterance[],
  cfg: MfccConfig,
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
  const config = Object.fromEntries(Object.entries(cfg).sort(([a], [b]) => a.localeCompare(b)));
  const text = JSON.stringify({ version: CACHE_VERSION, root, files, config, skipBad });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * MFCC frames of every phone segment of `utts` (see {@link phoneSegments}), from the cache when its key
 * matches, otherwise computed with a progress bar and cached.
 */
export async function extractSegments(
  corpus: Corpus,
  utts: readonly Utterance[],
  cfg: MfccConfig,
  opts: ExtractOptions,
): Promise<Extracted> {
  const skipBad = opts.skipBad ?? false;
  let cacheFile: string | null = null;
  if (opts.cacheDir !== null) {
    const key = await cacheKey(corpus, utts, cfg, skipBad);
    cacheFile = `${opts.cacheDir}/timit_${opts.label.replace(/[^\w-]/g, "_")}_${key.slice(0, 24)}.seg`;
    const hit = await readSegmentCache(cacheFile, opts.log);
    if (hit) return { segments: hit.segments, skipped: hit.skipped, cacheHit: true, cacheFile };
  }
  const { segments, skipped } = await computeSegments(utts, cfg, skipBad, opts);
  if (cacheFile !== null) {
    await Deno.mkdir(opts.cacheDir!, { recursive: true });
    await writeSegmentCache(cacheFile, segments, skipped);
  }
  return { segments, skipped, cacheHit: false, cacheFile };
}

async function computeSegments(
  utts: readonly Utterance[],
  cfg: MfccConfig,
  skipBad: boolean,
  opts: ExtractOptions,
): Promise<{ segments: SegmentSet; skipped: Skipped[] }> {
  const { win, hop } = frameGeometry(cfg);
  const D = cfg.frameDim;
  const chunks: Float32Array[] = [];
  const lengths: number[] = [], labels: number[] = [], utterance: number[] = [];
  const utteranceIds: string[] = [];
  const skipped: Skipped[] = [];
  const bar = opts.log ? new Progress(opts.log, `mfcc ${opts.label}`, utts.length) : null;
  for (const u of utts) {
    try {
      const { audio, phones } = await loadUtterance(u);
      if (audio.sampleRate !== cfg.sampleRate) {
        throw new CorpusError(
          u.audioPath,
          `sample_rate is ${audio.sampleRate}, features expect ${cfg.sampleRate}`,
        );
      }
      const { frames, numFrames } = mfcc(audio.samples, cfg);
      const segs = phoneSegments(phones, numFrames, win, hop);
      const ui = utteranceIds.length;
      utteranceIds.push(`${u.part}/${u.dialect}/${u.speaker}/${u.id}`);
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

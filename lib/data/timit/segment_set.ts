/**
 * A set of labelled variable-length frame sequences (phone segments), its on-disk cache format, and the
 * per-dimension normalisation (z-scores or min-max) estimated from training frames.
 */
import { crc32 } from "node:zlib";
import type { Logger } from "../../runner/logger.ts";
import type { Skipped } from "./corpus.ts";
import { PHONES_39 } from "./phones.ts";

/** Phone segments stored back to back: segment i is frames `[offsets[i], offsets[i] + lengths[i])`. */
export interface SegmentSet {
  readonly frameDim: number;
  /** `[totalFrames, frameDim]` row-major. */
  readonly frames: Float32Array;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  /** Class ids: indices into PHONES_39. */
  readonly labels: Int32Array;
  /** Index into `utteranceIds` of each segment's utterance. */
  readonly utterance: Int32Array;
  /** `part/dialect/speaker/id`, e.g. `test/dr1/mdab0/si1033`. */
  readonly utteranceIds: readonly string[];
}

/** The frames of segment `i`, `[lengths[i], frameDim]` row-major (a view, not a copy). */
export function segmentFrames(set: SegmentSet, i: number): Float32Array {
  const D = set.frameDim;
  return set.frames.subarray(set.offsets[i] * D, (set.offsets[i] + set.lengths[i]) * D);
}

/**
 * Every segment as its own sequence (`[length, frameDim]` views, no copies), optionally only those of
 * class `classId`: the form `SequenceDataset` (lib/data/sequences.ts) takes.
 */
export function sequences(set: SegmentSet, classId?: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < set.lengths.length; i++) {
    if (classId === undefined || set.labels[i] === classId) out.push(segmentFrames(set, i));
  }
  return out;
}

/** The 39-class name of each segment's label. */
export function labelNames(set: SegmentSet): string[] {
  return Array.from(set.labels, (c) => PHONES_39[c]);
}

/**
 * How frames are normalised per dimension, `x' = (x - offset) / scale`, with statistics of the training
 * frames: `zscore` (offset the mean, scale the population standard deviation; echoflow's protocol) or
 * `minmax` (offset the minimum, scale max - min, so training frames fall in [0, 1]; the GenHMM recipe's
 * `normalize`). A constant dimension gets scale 1.
 */
export type NormMethod = "zscore" | "minmax";
export const NORM_METHODS: readonly NormMethod[] = ["zscore", "minmax"];

/** Per-dimension normalisation statistics; plain JSON, stored with the models. */
export interface NormStats {
  readonly method: NormMethod;
  readonly frameDim: number;
  /** Number of frames they were estimated from. */
  readonly count: number;
  readonly offset: number[];
  /** Positive; 1 for a dimension that is constant. */
  readonly scale: number[];
}

/**
 * `sum_d log scale_d`, in nats: the normalisation's log-Jacobian per frame. A density of the normalised
 * frames `(x - offset) / scale` gives that of the features themselves as
 * `log p_features(x) = log p_normalised((x - offset) / scale) - sum_d log scale_d`, so a normalised NLL per
 * frame plus this value is the NLL per frame of the features (a constant dimension, scale 1, adds 0).
 */
export function logScalePerFrame(stats: NormStats): number {
  return stats.scale.reduce((s, v) => s + Math.log(v), 0);
}

/** The statistics of `method` over all frames of `set` (float64; z-scores in two passes). */
export function computeNormStats(set: SegmentSet, method: NormMethod = "zscore"): NormStats {
  const D = set.frameDim, N = set.frames.length / D, x = set.frames;
  if (N === 0) throw new Error("Cannot compute normalisation statistics from an empty segment set");
  const a = new Float64Array(D), b = new Float64Array(D);
  if (method === "minmax") {
    a.fill(Infinity);
    b.fill(-Infinity);
    for (let n = 0; n < N; n++) {
      for (let d = 0; d < D; d++) {
        const v = x[n * D + d];
        if (v < a[d]) a[d] = v;
        if (v > b[d]) b[d] = v;
      }
    }
    const scale = Array.from(a, (lo, d) => (b[d] > lo ? b[d] - lo : 1));
    return { method, frameDim: D, count: N, offset: Array.from(a), scale };
  }
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) a[d] += x[n * D + d];
  for (let d = 0; d < D; d++) a[d] /= N;
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) b[d] += (x[n * D + d] - a[d]) ** 2;
  }
  const scale = Array.from(b, (s) => (s > 0 ? Math.sqrt(s / N) : 1));
  return { method, frameDim: D, count: N, offset: Array.from(a), scale };
}

/**
 * Checks a value read back from JSON and returns it as {@link NormStats}; `what` is named in errors.
 * Statistics written before min-max existed (`{frameDim, count, mean, std}`) read as z-scores.
 */
export function checkNormStats(v: unknown, what = "normalisation statistics"): NormStats {
  const raw = v as Record<string, unknown> | null;
  const s = raw && !("method" in raw) && "mean" in raw
    ? { method: "zscore", frameDim: raw.frameDim, count: raw.count, offset: raw.mean, scale: raw.std }
    : raw as Partial<NormStats> | null;
  const okArr = (a: unknown, n: number) =>
    Array.isArray(a) && a.length === n && a.every((x) => typeof x === "number" && Number.isFinite(x));
  if (
    !s || !NORM_METHODS.includes(s.method as NormMethod) || typeof s.frameDim !== "number" ||
    typeof s.count !== "number" || !okArr(s.offset, s.frameDim) || !okArr(s.scale, s.frameDim) ||
    (s.scale as number[]).some((x) => x <= 0)
  ) {
    throw new Error(
      `Bad ${what}: expected {method: ${
        NORM_METHODS.join("|")
      }, frameDim, count, offset[frameDim], scale[frameDim] > 0}`,
    );
  }
  return s as NormStats;
}

/** `(x - offset) / scale` per dimension: a new set sharing everything but the frames. */
export function normalise(set: SegmentSet, stats: NormStats): SegmentSet {
  if (stats.frameDim !== set.frameDim) {
    throw new Error(
      `Normalisation statistics have frameDim ${stats.frameDim}, segments have ${set.frameDim}`,
    );
  }
  const D = set.frameDim, out = new Float32Array(set.frames.length);
  for (let i = 0; i < out.length; i++) out[i] = (set.frames[i] - stats.offset[i % D]) / stats.scale[i % D];
  return { ...set, frames: out };
}

/** `x * scale + offset` per dimension (back to feature units, e.g. for pictures of samples); a new array. */
export function denormalise(frames: Float32Array, stats: NormStats): Float32Array {
  const D = stats.frameDim, out = new Float32Array(frames.length);
  for (let i = 0; i < out.length; i++) out[i] = frames[i] * stats.scale[i % D] + stats.offset[i % D];
  return out;
}

/** The segments `ids` of `set` (in that order) as a set of their own, frames copied back to back. */
export function subsetSegments(set: SegmentSet, ids: ArrayLike<number>): SegmentSet {
  const D = set.frameDim, n = ids.length;
  const lengths = new Int32Array(n), offsets = new Int32Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    lengths[k] = set.lengths[ids[k]];
    offsets[k] = total;
    total += lengths[k];
  }
  const frames = new Float32Array(total * D);
  for (let k = 0; k < n; k++) frames.set(segmentFrames(set, ids[k]), offsets[k] * D);
  return {
    frameDim: D,
    frames,
    offsets,
    lengths,
    labels: Int32Array.from({ length: n }, (_, k) => set.labels[ids[k]]),
    utterance: Int32Array.from({ length: n }, (_, k) => set.utterance[ids[k]]),
    utteranceIds: set.utteranceIds,
  };
}

const MAGIC = "EFSEG002";

/**
 * Writes a segment cache atomically (temporary file, then rename). Layout: 8-byte magic, u32le header
 * length, JSON header {frameDim, numSegments, totalFrames, utteranceIds, skipped, crc32}, padding to 4
 * bytes, then lengths, labels, utterance (int32) and frames (float32), little-endian; `crc32` is the
 * CRC-32 of everything after the padding, checked on every read.
 */
export async function writeSegmentCache(
  path: string,
  set: SegmentSet,
  skipped: readonly Skipped[],
): Promise<void> {
  const S = set.lengths.length;
  const payload = new Uint8Array(12 * S + 4 * set.frames.length);
  const ints = new Int32Array(payload.buffer, 0, 3 * S);
  ints.set(set.lengths, 0);
  ints.set(set.labels, S);
  ints.set(set.utterance, 2 * S);
  new Float32Array(payload.buffer, 12 * S).set(set.frames);
  const header = new TextEncoder().encode(JSON.stringify({
    frameDim: set.frameDim,
    numSegments: S,
    totalFrames: set.frames.length / set.frameDim,
    utteranceIds: set.utteranceIds,
    skipped,
    crc32: crc32(payload),
  }));
  const start = Math.ceil((12 + header.length) / 4) * 4;
  const buf = new Uint8Array(start + payload.length);
  buf.set(new TextEncoder().encode(MAGIC));
  new DataView(buf.buffer).setUint32(8, header.length, true);
  buf.set(header, 12);
  buf.set(payload, start);
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeFile(tmp, buf);
  await Deno.rename(tmp, path);
}

/** Reads a cache file; `null` when it is absent, or (with a warning) unreadable. */
export async function readSegmentCache(
  path: string,
  log?: Logger,
): Promise<{ segments: SegmentSet; skipped: Skipped[] } | null> {
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(path);
  } catch {
    return null;
  }
  try {
    if (new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) throw new Error("bad magic");
    const hlen = new DataView(buf.buffer, buf.byteOffset).getUint32(8, true);
    const h = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + hlen)));
    const start = Math.ceil((12 + hlen) / 4) * 4;
    const S: number = h.numSegments, F: number = h.totalFrames * h.frameDim;
    if (buf.length !== start + 12 * S + 4 * F) throw new Error(`size ${buf.length} does not match header`);
    const sum = crc32(buf.subarray(start));
    if (sum !== h.crc32) throw new Error(`checksum ${sum} does not match the header's ${h.crc32}`);
    const aligned = buf.byteOffset % 4 === 0 ? buf : buf.slice();
    const ints = new Int32Array(aligned.buffer, aligned.byteOffset + start, 3 * S);
    const lengths = ints.slice(0, S);
    const offsets = new Int32Array(S);
    for (let i = 1; i < S; i++) offsets[i] = offsets[i - 1] + lengths[i - 1];
    return {
      segments: {
        frameDim: h.frameDim,
        frames: new Float32Array(aligned.buffer, aligned.byteOffset + start + 12 * S, F),
        offsets,
        lengths,
        labels: ints.slice(S, 2 * S),
        utterance: ints.slice(2 * S, 3 * S),
        utteranceIds: h.utteranceIds,
      },
      skipped: h.skipped,
    };
  } catch (e) {
    log?.warn(`ignoring unreadable feature cache ${path} (${(e as Error).message}); computing again`);
    return null;
  }
}

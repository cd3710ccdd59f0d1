/**
 * Batches of variable-length sequences of frames, and an in-memory sequence data set.
 *
 * A sequence is a `Float32Array` of `length * frameDim` values (frame-major). A {@link SequenceBatch} of B
 * sequences exists in two layouts:
 *
 * - padded, time-major `x: [T_max, B, D]` with `lengths: [B]` (what recurrent encoders step through; the
 *   values of padded frames are arbitrary and must never matter);
 * - packed: the R = sum(lengths) real frames, sequence after sequence, `[R, D]`, with `segments: [R]`
 *   (the sequence of each frame) and `rowIndex: [R]` (its row `t * B + b` in the padded layout flattened
 *   to `[T_max * B, .]`). Given the states that condition them, frames are independent, so the flow only
 *   ever sees packed frames and padding costs nothing.
 *
 * Optionally the batch carries the cached echo-state-network states `h_{t-1}` of its packed frames
 * (`states: [R, N]`, see `lib/dynamic/state_cache.ts`) and the fingerprint of the encoder that computed them.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { Batch, Dataset } from "../runner/types.ts";

/** One sequence: `length * frameDim` values, frame after frame. */
export type Sequence = Float32Array;

/** A batch as plain host arrays: what {@link SequenceBatch.shards} gives and a worker thread receives. */
export interface HostBatch {
  readonly frameDim: number;
  readonly lengths: Int32Array;
  /** Packed frames, `[R * D]`. */
  readonly packed: Float32Array;
  /** Attached states `[R * dim]` and the fingerprint of their encoder, or null. */
  readonly states: { readonly values: Float32Array; readonly dim: number; readonly key: string } | null;
}

/** B sequences in packed and padded layouts (see the module doc); `size` = B, `frames` = R, `dims` = R D. */
export class SequenceBatch implements Batch {
  /** Number of sequences B. */
  readonly size: number;
  /** Number of real frames R. */
  readonly frames: number;
  /** Number of scalar values R * D. */
  readonly dims: number;
  readonly frameDim: number;
  /** T_max. */
  readonly maxLength: number;
  readonly lengths: Int32Array;
  /** `offsets[b]` is the packed row of the first frame of sequence b; `offsets[B] = R`. */
  readonly offsets: Int32Array;
  /** Packed frames on the host, `[R * D]`. */
  readonly packedHost: Float32Array;
  /** Row `t * B + b` of the flattened padded layout for each packed frame. */
  readonly rowIndex: Int32Array;
  /** Packed frames `[R, D]`. */
  readonly x: tf.Tensor2D;
  /** Sequence index of each packed frame, int32 `[R]`. */
  readonly segments: tf.Tensor1D;
  #statesHost: { values: Float32Array; dim: number; key: string } | null = null;
  #states: tf.Tensor2D | null = null;
  #paddedHost: Float32Array | null;
  #padded: tf.Tensor3D | null = null;
  #rowIndexTensor: tf.Tensor1D | null = null;

  private constructor(
    frameDim: number,
    lengths: Int32Array,
    packed: Float32Array,
    paddedHost: Float32Array | null,
    states: { values: Float32Array; dim: number; key: string } | null,
  ) {
    const size = lengths.length;
    if (size === 0) throw new Error("SequenceBatch: a batch needs at least one sequence");
    const offsets = new Int32Array(size + 1);
    let maxLength = 0;
    for (let b = 0; b < size; b++) {
      if (!(lengths[b] >= 1)) {
        throw new Error(`SequenceBatch: sequence ${b} has length ${lengths[b]}; need >= 1`);
      }
      offsets[b + 1] = offsets[b] + lengths[b];
      maxLength = Math.max(maxLength, lengths[b]);
    }
    const frames = offsets[size];
    if (packed.length !== frames * frameDim) {
      throw new Error(`SequenceBatch: ${packed.length} packed values for ${frames} frames of ${frameDim}`);
    }
    const rowIndex = new Int32Array(frames);
    const seg = new Int32Array(frames);
    for (let b = 0; b < size; b++) {
      for (let t = 0; t < lengths[b]; t++) {
        rowIndex[offsets[b] + t] = t * size + b;
        seg[offsets[b] + t] = b;
      }
    }
    this.size = size;
    this.frames = frames;
    this.dims = frames * frameDim;
    this.frameDim = frameDim;
    this.maxLength = maxLength;
    this.lengths = lengths;
    this.offsets = offsets;
    this.packedHost = packed;
    this.rowIndex = rowIndex;
    this.#paddedHost = paddedHost;
    this.x = tf.tensor2d(packed, [frames, frameDim]);
    this.segments = tf.tensor1d(seg, "int32");
    if (states) this.attachStates(states.values, states.dim, states.key);
  }

  /**
   * Attaches the conditioning states `h_{t-1}` of the packed frames (`[R * dim]` on the host) computed by
   * the encoder with fingerprint `key`, replacing any attached before (an encoder caches its work here).
   */
  attachStates(values: Float32Array, dim: number, key: string): void {
    if (values.length !== this.frames * dim) {
      throw new Error(`SequenceBatch: ${values.length} state values for ${this.frames} frames of ${dim}`);
    }
    this.#states?.dispose();
    this.#states = null;
    this.#statesHost = { values, dim, key };
  }

  /** Fingerprint of the encoder of the attached states (a model uses them only when it matches its own). */
  get stateKey(): string | null {
    return this.#statesHost?.key ?? null;
  }

  /** The attached states `[R, N]` (made on first use and kept), or null. */
  get states(): tf.Tensor2D | null {
    const s = this.#statesHost;
    if (s && !this.#states) this.#states = tf.keep(tf.tensor2d(s.values, [this.frames, s.dim]));
    return this.#states;
  }

  /**
   * A batch of whole sequences (each `length * frameDim` values); `states`, when given, holds for each
   * sequence its conditioning states `h_0 .. h_{length-1}` (`length * dim` values) from the encoder `key`.
   */
  static fromSequences(
    seqs: readonly Sequence[],
    frameDim: number,
    states?: { perSequence: readonly Float32Array[]; dim: number; key: string },
  ): SequenceBatch {
    const lengths = new Int32Array(seqs.length);
    seqs.forEach((s, b) => {
      if (s.length % frameDim !== 0) {
        throw new Error(
          `SequenceBatch: sequence ${b} has ${s.length} values, not a multiple of frame_dim ${frameDim}`,
        );
      }
      lengths[b] = s.length / frameDim;
    });
    const st = states ? { values: concat(states.perSequence), dim: states.dim, key: states.key } : null;
    return new SequenceBatch(frameDim, lengths, concat(seqs), null, st);
  }

  /** A batch from a padded time-major `[T_max, B, D]` array (or tensor); padded values are ignored. */
  static fromPadded(
    x: Float32Array | tf.Tensor3D,
    lengths: ArrayLike<number>,
    frameDim?: number,
  ): SequenceBatch {
    const size = lengths.length;
    const d = x instanceof Float32Array ? frameDim : x.shape[2];
    if (d === undefined) throw new Error("SequenceBatch.fromPadded: frameDim is required for a Float32Array");
    const host = x instanceof Float32Array ? x : (x.dataSync() as Float32Array).slice();
    const steps = host.length / (size * d);
    const lens = Int32Array.from(lengths);
    if (!Number.isInteger(steps) || lens.some((l) => l > steps)) {
      throw new Error(
        `SequenceBatch.fromPadded: ${host.length} values do not hold [T, ${size}, ${d}] with lengths <= T`,
      );
    }
    let frames = 0;
    for (const l of lens) frames += l;
    const packed = new Float32Array(frames * d);
    for (let b = 0, r = 0; b < size; b++) {
      for (let t = 0; t < lens[b]; t++, r++) {
        packed.set(host.subarray((t * size + b) * d, (t * size + b + 1) * d), r * d);
      }
    }
    return new SequenceBatch(d, lens, packed, host, null);
  }

  /**
   * The batch cut into parts of consecutive sequences holding about the given fractions of its frames, as
   * host arrays (fresh copies, transferable to a worker thread); the attached states go with their frames.
   * Every part has at least one sequence, so a batch of fewer sequences than fractions gives fewer parts.
   */
  shards(fractions: readonly number[]): HostBatch[] {
    if (fractions.length === 0 || fractions.some((f) => !(f >= 0))) {
      throw new Error(`SequenceBatch.shards: fractions [${fractions}] must be >= 0, at least one`);
    }
    const { size, frames, frameDim: d } = this;
    const s = this.#statesHost;
    const count = fractions.length, sum = fractions.reduce((a, b) => a + b, 0);
    const out: HostBatch[] = [];
    let target = 0;
    for (let k = 0, first = 0; k < count && first < size; k++) {
      target += fractions[k] / sum;
      // Part k ends at the first sequence whose end reaches the target; later parts keep a sequence each.
      let last = first;
      const maxLast = Math.max(first, size - (count - k));
      while (last < maxLast && this.offsets[last + 1] < target * frames) last++;
      if (k === count - 1) last = size - 1;
      const [r0, r1] = [this.offsets[first], this.offsets[last + 1]];
      out.push({
        frameDim: d,
        lengths: this.lengths.slice(first, last + 1),
        packed: this.packedHost.slice(r0 * d, r1 * d),
        states: s ? { values: s.values.slice(r0 * s.dim, r1 * s.dim), dim: s.dim, key: s.key } : null,
      });
      first = last + 1;
    }
    return out;
  }

  /** A batch made from {@link shards} output (or any host arrays of that shape). */
  static fromHost(h: HostBatch): SequenceBatch {
    return new SequenceBatch(h.frameDim, h.lengths, h.packed, null, h.states);
  }

  /** Each sequence's frames, `length * D` values (views of the packed array). */
  sequences(): Float32Array[] {
    return Array.from(
      this.lengths,
      (_, b) =>
        this.packedHost.subarray(this.offsets[b] * this.frameDim, this.offsets[b + 1] * this.frameDim),
    );
  }

  /** The padded time-major layout on the host `[T_max * B * D]` (zeros where not given). */
  paddedHost(): Float32Array {
    if (!this.#paddedHost) {
      const { size, frameDim: d } = this;
      const out = new Float32Array(this.maxLength * size * d);
      for (let r = 0; r < this.frames; r++) {
        out.set(this.packedHost.subarray(r * d, (r + 1) * d), this.rowIndex[r] * d);
      }
      this.#paddedHost = out;
    }
    return this.#paddedHost;
  }

  /** The padded batch `[T_max, B, D]`, made on first use and kept (safe inside `tf.tidy`). */
  padded(): tf.Tensor3D {
    this.#padded ??= tf.keep(tf.tensor3d(this.paddedHost(), [this.maxLength, this.size, this.frameDim]));
    return this.#padded;
  }

  /** {@link rowIndex} as an int32 tensor (for `tf.gather` from a `[T_max * B, .]` tensor). */
  rowIndexTensor(): tf.Tensor1D {
    this.#rowIndexTensor ??= tf.keep(tf.tensor1d(this.rowIndex, "int32"));
    return this.#rowIndexTensor;
  }

  dispose(): void {
    for (
      const t of [this.x, this.segments, this.#states, this.#padded, this.#rowIndexTensor]
    ) t?.dispose();
  }
}

/** The transpose of a row-major `rows x cols` matrix. */
export function transposeHost(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  // Blocked so both sides stay in cache (a plain double loop is ~3x slower at 1000 x 1000).
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(r0 + B, rows), c1 = Math.min(c0 + B, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c];
    }
  }
  return out;
}

/** Concatenates typed arrays. */
export function concat(parts: readonly Float32Array[]): Float32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The three splits of a sequence data set. */
export interface SequenceSplits {
  readonly train: readonly Sequence[];
  readonly val: readonly Sequence[];
  readonly test: readonly Sequence[];
}

/** `train`, `val` or `test`. */
export type SplitName = keyof SequenceSplits;

/** What a {@link SequenceDataset} needs from a state cache (see `lib/dynamic/state_cache.ts`). */
export interface StateProvider {
  /** Fingerprint of the encoder the states come from (checked by the model). */
  readonly key: string;
  /** State dimension N. */
  readonly dim: number;
  /** Per-sequence states `h_0 .. h_{length-1}` of a split, or null when that split is not cached. */
  states(split: SplitName): readonly Float32Array[] | null;
}

/**
 * An in-memory {@link Dataset} of sequences. Training batches follow a fresh permutation per epoch from
 * the run's {@link Rng}, the last smaller batch kept; evaluation batches keep the stored order. With a
 * {@link StateProvider} attached ({@link useStates}), batches carry the cached states of their frames.
 */
export class SequenceDataset implements Dataset<SequenceBatch> {
  #states: StateProvider | null = null;

  constructor(readonly splits: SequenceSplits, readonly frameDim: number) {
    if (!(Number.isInteger(frameDim) && frameDim >= 1)) {
      throw new Error(`SequenceDataset: frame_dim must be an integer >= 1, got ${frameDim}`);
    }
    for (const [name, seqs] of Object.entries(splits) as [SplitName, readonly Sequence[]][]) {
      seqs.forEach((s, i) => {
        if (s.length === 0 || s.length % frameDim !== 0) {
          throw new Error(
            `SequenceDataset: ${name} sequence ${i} has ${s.length} values; need k * ${frameDim}, k >= 1`,
          );
        }
      });
    }
  }

  get numTrain(): number {
    return this.splits.train.length;
  }

  /** Total number of frames of a split. */
  frameCount(split: SplitName): number {
    let n = 0;
    for (const s of this.splits[split]) n += s.length / this.frameDim;
    return n;
  }

  /** The fingerprint of the attached states' encoder, or null. */
  get stateKey(): string | null {
    return this.#states?.key ?? null;
  }

  /** Attaches (or with null, detaches) cached states; later batches carry them. */
  useStates(provider: StateProvider | null): void {
    this.#states = provider;
  }

  /** The batch of sequences `ids` of `split`. */
  batch(split: SplitName, ids: ArrayLike<number>): SequenceBatch {
    const seqs = this.splits[split];
    const cached = this.#states?.states(split) ?? null;
    const pick = Array.from(ids, (i) => seqs[i]);
    if (!cached) return SequenceBatch.fromSequences(pick, this.frameDim);
    return SequenceBatch.fromSequences(pick, this.frameDim, {
      perSequence: Array.from(ids, (i) => cached[i]),
      dim: this.#states!.dim,
      key: this.#states!.key,
    });
  }

  *train(batchSize: number, rng: Rng): Iterable<SequenceBatch> {
    checkBatchSize(batchSize);
    const perm = rng.permutation(this.numTrain);
    for (let i = 0; i < perm.length; i += batchSize) {
      yield this.batch("train", perm.subarray(i, i + batchSize));
    }
  }

  *eval(split: SplitName, batchSize: number, maxExamples: number | null): Iterable<SequenceBatch> {
    checkBatchSize(batchSize);
    const n = Math.min(this.splits[split].length, maxExamples ?? Infinity);
    for (let i = 0; i < n; i += batchSize) {
      const ids = Array.from({ length: Math.min(batchSize, n - i) }, (_, k) => i + k);
      yield this.batch(split, ids);
    }
  }
}

function checkBatchSize(batchSize: number): void {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new Error(`SequenceDataset: batch size must be an integer >= 1, got ${batchSize}`);
  }
}

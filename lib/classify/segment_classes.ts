/**
 * Per-class views of labelled segment sets (train/val/test): class counts, the data set of one class (for
 * training its model) and the data set of all test segments of a class subset (for classifying them), each
 * with the segment indices into its split that an {@link EsnStatePool} needs. The segment sets come from a
 * corpus (TIMIT phone segments) or from sequences already grouped by class ({@link SegmentClasses.fromSequences},
 * e.g. synthetic data).
 */
import { type Sequence, SequenceDataset, type SequenceSplits, type SplitName } from "../data/sequences.ts";
import { type SegmentSet, sequences } from "../data/timit/segment_set.ts";
import type { ClassCount } from "./classes.ts";
import type { SplitIds } from "./shared_states.ts";

const SPLITS: readonly SplitName[] = ["train", "val", "test"];

/** The test segments of a class subset, ready to be scored by every class model. */
export interface EvalSet {
  /** Its `test` split holds the segments; train and val are empty. */
  readonly data: SequenceDataset;
  /** Indices of those segments in the test split. */
  readonly ids: SplitIds;
  /** Each segment's class, an index into the subset. */
  readonly labels: Int32Array;
  readonly frames: Int32Array;
}

/**
 * Sequences of `frameDim`-frames and their class ids as one {@link SegmentSet}: frames back to back, each
 * sequence its own utterance `<split>/<i>` (there are no speakers to keep apart).
 */
function segmentSetOf(
  split: SplitName,
  seqs: readonly Sequence[],
  labels: readonly number[],
  frameDim: number,
): SegmentSet {
  const lengths = Int32Array.from(seqs, (s, i) => {
    const len = s.length / frameDim;
    if (!(Number.isInteger(len) && len >= 1)) {
      throw new Error(
        `SegmentClasses.fromSequences: ${split} sequence ${i} has ${s.length} values; need k * ${frameDim}, k >= 1`,
      );
    }
    return len;
  });
  const offsets = new Int32Array(seqs.length),
    frames = new Float32Array(lengths.reduce((a, b) => a + b, 0) * frameDim);
  for (let i = 0, o = 0; i < seqs.length; o += lengths[i], i++) {
    offsets[i] = o;
    frames.set(seqs[i], o * frameDim);
  }
  return {
    frameDim,
    frames,
    offsets,
    lengths,
    labels: Int32Array.from(labels),
    utterance: Int32Array.from(seqs, (_, i) => i),
    utteranceIds: seqs.map((_, i) => `${split}/${i}`),
  };
}

export class SegmentClasses {
  /** Every segment of each split (views, no copies). */
  readonly seqs: Readonly<Record<SplitName, readonly Float32Array[]>>;

  /** `names[id]` is the name of class id (labels of the segment sets are ids). */
  constructor(
    readonly sets: Readonly<Record<SplitName, SegmentSet>>,
    readonly names: readonly string[],
  ) {
    const d = sets.train.frameDim;
    for (const s of SPLITS) {
      if (sets[s].frameDim !== d) {
        throw new Error(`SegmentClasses: ${s} has frame_dim ${sets[s].frameDim}, train ${d}`);
      }
    }
    this.seqs = { train: sequences(sets.train), val: sequences(sets.val), test: sequences(sets.test) };
  }

  /**
   * The classes `names` from their sequences: `byClass[k]` holds the train/val/test sequences of class
   * `names[k]`; each split lists class 0's sequences first, then class 1's, and so on, in the given order.
   */
  static fromSequences(
    byClass: readonly SequenceSplits[],
    names: readonly string[],
    frameDim: number,
  ): SegmentClasses {
    if (byClass.length !== names.length) {
      throw new Error(
        `SegmentClasses.fromSequences: ${byClass.length} classes of sequences, ${names.length} names`,
      );
    }
    const set = (split: SplitName) =>
      segmentSetOf(
        split,
        byClass.flatMap((c) => c[split]),
        byClass.flatMap((c, k) => c[split].map(() => k)),
        frameDim,
      );
    return new SegmentClasses({ train: set("train"), val: set("val"), test: set("test") }, names);
  }

  get frameDim(): number {
    return this.sets.train.frameDim;
  }

  /** Class id of a name; throws listing the valid names. */
  id(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`Unknown class "${name}". Valid: ${this.names.join(", ")}`);
    return i;
  }

  /** Segment and frame counts of every class in `split`, in the order of `names` (zeros included). */
  counts(split: SplitName = "train"): ClassCount[] {
    const set = this.sets[split];
    const segs = new Array<number>(this.names.length).fill(0), frames = [...segs];
    set.labels.forEach((c, i) => {
      segs[c]++;
      frames[c] += set.lengths[i];
    });
    return this.names.map((name, c) => ({ name, segments: segs[c], frames: frames[c] }));
  }

  /** Indices of the segments of class `name` in `split`. */
  ids(split: SplitName, name: string): number[] {
    const c = this.id(name), out: number[] = [];
    this.sets[split].labels.forEach((l, i) => l === c && out.push(i));
    return out;
  }

  /** The segments of one class in each split, and their indices. */
  classData(name: string): { data: SequenceDataset; ids: Record<SplitName, number[]> } {
    const ids = { train: this.ids("train", name), val: this.ids("val", name), test: this.ids("test", name) };
    const pick = (s: SplitName) => ids[s].map((i) => this.seqs[s][i]);
    return {
      data: new SequenceDataset(
        { train: pick("train"), val: pick("val"), test: pick("test") },
        this.frameDim,
      ),
      ids,
    };
  }

  /** Every test segment whose class is in `classes`, labelled by its position in `classes`. */
  evalSet(classes: readonly string[]): EvalSet {
    const pos = new Map(classes.map((n, k) => [this.id(n), k]));
    const set = this.sets.test, ids: number[] = [], labels: number[] = [], frames: number[] = [];
    set.labels.forEach((c, i) => {
      const k = pos.get(c);
      if (k === undefined) return;
      ids.push(i);
      labels.push(k);
      frames.push(set.lengths[i]);
    });
    const data = new SequenceDataset(
      { train: [], val: [], test: ids.map((i) => this.seqs.test[i]) },
      this.frameDim,
    );
    return { data, ids: { test: ids }, labels: Int32Array.from(labels), frames: Int32Array.from(frames) };
  }
}

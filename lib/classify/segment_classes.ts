/**
 * Per-class views of labelled segment sets (train/val/test): class counts, the data set of one class (for
 * training its model) and the data set of all test segments of a class subset (for classifying them), each
 * with the segment indices into its split that an {@link EsnStatePool} needs.
 */
import { SequenceDataset, type SplitName } from "../data/sequences.ts";
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

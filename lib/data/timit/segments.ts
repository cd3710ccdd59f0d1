/**
 * Phone segments: which MFCC frames belong to which phone.
 *
 * Frame t covers samples `[t*hop, t*hop + win)` and its centre is `t*hop + win/2`. A phone `[begin, end)`
 * (samples, end exclusive, as in `.PHN`) owns exactly the frames whose centres fall inside it:
 * `begin <= t*hop + win/2 < end`. These frames form a contiguous run, one variable-length sequence
 * labelled with the phone's 39-class fold. Phones folded to nothing (`q`) and phones too short to own a
 * frame centre give no segment.
 */
import type { Interval } from "./phn.ts";
import { classId, foldPhone } from "./phones.ts";

/** One phone's run of frames `[start, start + length)`. */
export interface PhoneSegment {
  /** The original TIMIT label. */
  readonly label: string;
  /** The 39-class fold. */
  readonly folded: string;
  /** Index of `folded` in PHONES_39. */
  readonly classId: number;
  readonly start: number;
  readonly length: number;
}

/** First frame whose centre is at or after sample `s`: the least t with `t*hop + win/2 >= s`. */
export function firstFrameAtOrAfter(s: number, win: number, hop: number): number {
  return Math.max(0, Math.ceil((s - win / 2) / hop));
}

/** The segments of an utterance with `numFrames` frames (see the module doc). */
export function phoneSegments(
  phones: readonly Interval[],
  numFrames: number,
  win: number,
  hop: number,
): PhoneSegment[] {
  const out: PhoneSegment[] = [];
  for (const p of phones) {
    const folded = foldPhone(p.label);
    if (folded === null) continue;
    const start = Math.min(numFrames, firstFrameAtOrAfter(p.begin, win, hop));
    const end = Math.min(numFrames, firstFrameAtOrAfter(p.end, win, hop));
    if (end > start) {
      out.push({ label: p.label, folded, classId: classId(folded), start, length: end - start });
    }
  }
  return out;
}

/**
 * The frame labelling of the GenHMM TIMIT recipe (github FirstHandScientist/genhmm,
 * `src/timit-preprocessor/make_dataset.py`), used by the `genhmm` protocol:
 *
 * 1. the transcription is stretched to the frames' extent `E = (T - 1) hop + win` samples: the first phone
 *    starts at 0, and the last one ends at E if it ended before;
 * 2. every sample of `[0, E)` takes the index of the phone covering it (a later line wins on overlap;
 *    samples past E are ignored);
 * 3. frame t takes the phone with the most samples in its window `[t hop, t hop + win)`, ties going to
 *    the earlier phone (numpy's `argmax(bincount)`);
 * 4. a segment is a maximal run of frames whose phones have the same TIMIT label (so two adjacent phones
 *    with one label make one segment, as in the recipe, which compares label codes), folded to 39 classes;
 *    `q` segments are dropped.
 *
 * Where the recipe differs from {@link phoneSegments}: every frame belongs to a segment (a short phone
 * wins no frame only when its neighbours outvote it), and segment boundaries follow window majorities,
 * not frame centres. Samples that no phone covers (a gap in the transcription) vote for nothing; the
 * recipe would label them with a bogus index instead.
 */
export function majoritySegments(
  phones: readonly Interval[],
  numFrames: number,
  win: number,
  hop: number,
): PhoneSegment[] {
  if (numFrames === 0 || phones.length === 0) return [];
  const extent = (numFrames - 1) * hop + win;
  const owner = new Int32Array(extent).fill(-1);
  phones.forEach((p, i) => {
    const begin = i === 0 ? 0 : Math.floor(p.begin);
    const end = i === phones.length - 1 ? Math.max(Math.floor(p.end), extent) : Math.floor(p.end);
    owner.fill(i, Math.min(begin, extent), Math.min(end, extent));
  });
  const counts = new Int32Array(phones.length);
  const frameLabel: (string | null)[] = new Array(numFrames);
  for (let t = 0; t < numFrames; t++) {
    counts.fill(0);
    for (let s = t * hop; s < t * hop + win; s++) if (owner[s] >= 0) counts[owner[s]]++;
    let best = -1;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] > 0 && (best < 0 || counts[i] > counts[best])) best = i;
    }
    frameLabel[t] = best < 0 ? null : phones[best].label;
  }
  const out: PhoneSegment[] = [];
  for (let start = 0; start < numFrames;) {
    let end = start + 1;
    while (end < numFrames && frameLabel[end] === frameLabel[start]) end++;
    const label = frameLabel[start];
    const folded = label === null ? null : foldPhone(label);
    if (label !== null && folded !== null) {
      out.push({ label, folded, classId: classId(folded), start, length: end - start });
    }
    start = end;
  }
  return out;
}

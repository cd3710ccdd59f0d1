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

/**
 * TIMIT time-aligned transcriptions: `.PHN` (phones), `.WRD` (words) and `.TXT` (the sentence).
 *
 * Every line is `<begin> <end> <label>` with begin/end in samples at 16 kHz (end exclusive); in `.TXT`
 * the label is the whole sentence (spaces included). Errors name the file and the 1-based line.
 */
import { CorpusError } from "./errors.ts";
import { isTimitPhone } from "./phones.ts";

/** One labelled interval `[begin, end)` in samples, with the line it came from. */
export interface Interval {
  readonly begin: number;
  readonly end: number;
  readonly label: string;
  /** 1-based line number in the source file (for errors found later, e.g. against the audio length). */
  readonly line: number;
}

/** Which transcription a text is: phones are checked against the 61 TIMIT labels. */
export type TranscriptionKind = "phn" | "wrd" | "txt";

/**
 * Parses a `.PHN`, `.WRD` or `.TXT` text. Refuses a malformed line, a non-integer or negative boundary,
 * `end < begin`, and (for `.PHN`) a label outside the 61 TIMIT phones; blank lines are skipped.
 */
export function parseTranscription(text: string, file: string, kind: TranscriptionKind): Interval[] {
  const out: Interval[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === "") continue;
    const line = i + 1;
    const m = kind === "txt" ? /^(\S+)\s+(\S+)\s+(.*)$/.exec(raw) : /^(\S+)\s+(\S+)\s+(\S+)$/.exec(raw);
    if (!m) {
      throw new CorpusError(
        file,
        `expected "<begin> <end> <${kind === "txt" ? "text" : "label"}>", got ${JSON.stringify(raw)}`,
        line,
      );
    }
    const [, b, e, label] = m;
    const begin = Number(b), end = Number(e);
    if (!/^\d+$/.test(b) || !/^\d+$/.test(e)) {
      throw new CorpusError(file, `boundaries must be non-negative integers, got "${b} ${e}"`, line);
    }
    if (end < begin) throw new CorpusError(file, `end ${end} is before begin ${begin}`, line);
    if (kind === "phn" && !isTimitPhone(label)) {
      throw new CorpusError(file, `unknown phone label "${label}" (not one of the 61 TIMIT phones)`, line);
    }
    out.push({ begin, end, label, line });
  }
  return out;
}

/** Formats intervals back to TIMIT's `<begin> <end> <label>` lines (used by the stand-in generator). */
export function formatTranscription(items: readonly Pick<Interval, "begin" | "end" | "label">[]): string {
  return items.map((x) => `${x.begin} ${x.end} ${x.label}\n`).join("");
}

/** Checks that no interval ends past `numSamples`; the error names the file and line. */
export function checkWithinAudio(items: readonly Interval[], numSamples: number, file: string): void {
  for (const x of items) {
    if (x.end > numSamples) {
      throw new CorpusError(
        file,
        `boundary ${x.end} is past the end of the audio (${numSamples} samples)`,
        x.line,
      );
    }
  }
}

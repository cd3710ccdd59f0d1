/**
 * Errors about corpus input: every one names the file and, where it applies, the line.
 *
 * The corpus walker catches {@link CorpusError}s per utterance when the user asked to skip bad files
 * (`skipBad`), and turns them into counted warnings; any other error still stops the run.
 */

/** Bad corpus input (a missing file, a malformed header, a bad transcription line). */
export class CorpusError extends Error {
  override name = "CorpusError";
  /** The offending file. */
  readonly file: string;
  /** 1-based line number in `file`, when the problem is on one line. */
  readonly line: number | null;

  constructor(file: string, message: string, line: number | null = null) {
    super(`${file}${line !== null ? `:${line}` : ""}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

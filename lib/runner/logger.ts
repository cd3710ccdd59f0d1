/**
 * Output discipline: human text goes to stderr, machine-readable records to stdout (with `--json`).
 *
 * With `json` on, every metric record is one JSON object per line on stdout, so `... --json | jq` works;
 * without it, metrics are printed as readable lines on stderr. Progress bars redraw in place only when
 * stderr is a terminal, otherwise they print a plain line every `plainEvery` steps.
 */

const enc = new TextEncoder();

export interface LoggerOptions {
  /** Emit JSON lines on stdout. */
  json?: boolean;
  /** Suppress human text (errors still print). */
  quiet?: boolean;
  /** Where human text goes (default: stderr). */
  err?: (s: string) => void;
  /** Where JSON lines go (default: stdout). */
  out?: (s: string) => void;
  /** Whether progress bars may redraw in place (default: stderr is a terminal). */
  tty?: boolean;
}

export type Record_ = Record<string, unknown>;

export class Logger {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly tty: boolean;
  #err: (s: string) => void;
  #out: (s: string) => void;
  #listeners: ((r: Record_) => void)[] = [];
  #fields: Record_ = {};

  constructor(opts: LoggerOptions = {}) {
    this.json = opts.json ?? false;
    this.quiet = opts.quiet ?? false;
    this.#err = opts.err ?? ((s) => Deno.stderr.writeSync(enc.encode(s)));
    this.#out = opts.out ?? ((s) => Deno.stdout.writeSync(enc.encode(s)));
    this.tty = opts.tty ?? Deno.stderr.isTerminal();
  }

  /** A human line on stderr. */
  info(msg: string): void {
    if (!this.quiet) this.#err(msg + "\n");
  }

  /** A warning on stderr (printed even when quiet). */
  warn(msg: string): void {
    this.#err(`warning: ${msg}\n`);
  }

  /**
   * Calls `fn` with every record passed to {@link metric} (the runner appends them to metrics.jsonl).
   * Returns a function that removes the listener again.
   */
  onRecord(fn: (r: Record_) => void): () => void {
    this.#listeners.push(fn);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== fn);
    };
  }

  /**
   * A machine-readable record: a JSON line on stdout with `--json`, else a compact line on stderr.
   * `kind` says what it is ("train", "eval", "summary", ...).
   */
  metric(kind: string, fields: Record_): void {
    const rec = { kind, ...this.#fields, ...fields };
    for (const l of this.#listeners) l(rec);
    if (this.json) this.#out(JSON.stringify(rec) + "\n");
    else if (!this.quiet) this.#err(formatRecord(rec) + "\n");
  }

  /**
   * A logger with the same outputs whose records all carry `fields` (e.g. the class of a per-class run),
   * so interleaved records of sub-runs can be told apart. Listeners are not shared.
   */
  withFields(fields: Record_): Logger {
    const child = new Logger({
      json: this.json,
      quiet: this.quiet,
      err: this.#err,
      out: this.#out,
      tty: this.tty,
    });
    child.#fields = { ...this.#fields, ...fields };
    return child;
  }

  /** Raw write to stderr (progress bars). */
  raw(s: string): void {
    if (!this.quiet) this.#err(s);
  }
}

/** `kind key=value ...` with numbers rounded for reading. */
export function formatRecord(rec: Record_): string {
  const parts: string[] = [String(rec.kind)];
  for (const [k, v] of Object.entries(rec)) {
    if (k === "kind" || v === undefined) continue;
    if (typeof v === "number") parts.push(`${k}=${Number.isInteger(v) ? v : v.toPrecision(5)}`);
    else if (v !== null && typeof v === "object") continue;
    else parts.push(`${k}=${v}`);
  }
  return parts.join(" ");
}

/**
 * A progress bar on stderr: redrawn in place on a TTY; otherwise a plain line at most every
 * `plainSeconds` seconds (and at the end), so logs of short epochs are not flooded.
 */
export class Progress {
  #n = 0;
  #t0 = performance.now();
  #lastDraw = 0;
  constructor(
    private readonly log: Logger,
    private readonly label: string,
    private readonly total: number,
    private readonly plainSeconds = 10,
  ) {}

  tick(suffix = ""): void {
    this.#n++;
    const now = performance.now();
    if (this.log.tty) {
      if (now - this.#lastDraw < 100 && this.#n < this.total) return;
      this.#lastDraw = now;
      const width = 30;
      const frac = this.total > 0 ? Math.min(1, this.#n / this.total) : 1;
      const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
      this.log.raw(`\r${this.label} [${bar}] ${this.#n}/${this.total} ${this.#rate(now)} ${suffix}\x1b[K`);
    } else if (
      this.#n === this.total || now - Math.max(this.#lastDraw, this.#t0) >= this.plainSeconds * 1000
    ) {
      this.#lastDraw = now;
      this.log.raw(`${this.label} ${this.#n}/${this.total} ${this.#rate(now)} ${suffix}\n`);
    }
  }

  /** Ends the bar (newline on a TTY). */
  done(): void {
    if (this.log.tty) this.log.raw("\n");
  }

  #rate(now: number): string {
    const s = (now - this.#t0) / 1000;
    return s > 0 ? `${(this.#n / s).toFixed(1)}/s` : "";
  }
}

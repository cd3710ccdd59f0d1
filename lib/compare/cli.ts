/**
 * `deno task compare RUN_DIR... [--json] [--out FILE]`: the config keys that differ between runs and their
 * final metrics (a text table, or JSON lines with `--json`), and one picture with their validation curves
 * overlaid (`compare.png`, or `--out FILE`). Per-class runs give one entry per model variant.
 *
 * Exit codes as `deno task run`: 0 success, 1 a run directory that is missing or cannot be read (the error
 * names it), 2 a usage error.
 */
import { writePng } from "../plot/mod.ts";
import { comparePicture } from "./picture.ts";
import { readRun, type RunEntry } from "./read_run.ts";
import { compareJsonLines, compareTable, entryLabels } from "./table.ts";

export const USAGE = `Usage: deno task compare RUN_DIR... [--json] [--out FILE]

Compares runs: the config keys whose values differ and the final metrics (per-class runs: accuracy,
balanced accuracy, test NLL per frame overall and per class), and draws their validation NLL against
epoch, overlaid, into one picture.

  --json       one JSON object per line on stdout (one per run, then a summary); other text to stderr
  --out FILE   the picture (default compare.png)
  --help       this text`;

class UsageError extends Error {}

/** Parsed arguments. */
export interface CompareArgs {
  readonly dirs: string[];
  readonly json: boolean;
  readonly out: string;
  readonly help: boolean;
}

/** Parses the command line; throws a usage error naming a bad flag. */
export function parseCompareArgs(argv: readonly string[]): CompareArgs {
  const dirs: string[] = [];
  let json = false, out = "compare.png", help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--help" || a === "-h") help = true;
    else if (a === "--out" || a.startsWith("--out=")) {
      const v = a === "--out" ? argv[++i] : a.slice(6);
      if (!v) throw new UsageError("--out needs a file name");
      out = v;
    } else if (a.startsWith("-")) {
      throw new UsageError(`Unknown flag ${a} (valid: --json, --out FILE, --help)`);
    } else dirs.push(a);
  }
  if (!help && dirs.length === 0) throw new UsageError("No run directories given");
  return { dirs, json, out, help };
}

/** Reads the runs, prints the comparison and writes the picture; returns the entries. */
export async function compareRuns(
  args: CompareArgs,
  print: (line: string) => void,
  info: (line: string) => void,
): Promise<RunEntry[]> {
  const entries: RunEntry[] = [];
  for (const dir of args.dirs) entries.push(...await readRun(dir));
  const labels = entryLabels(entries);
  let picture: string | null = args.out;
  try {
    await writePng(args.out, comparePicture(entries, labels));
  } catch (e) {
    if (!(e instanceof Error && /nothing to draw/.test(e.message))) throw e;
    info(`no picture: ${e.message}`);
    picture = null;
  }
  if (args.json) {
    for (const line of compareJsonLines(entries, picture)) print(line);
    if (picture) info(`picture: ${picture}`);
  } else {
    print(compareTable(entries));
    if (picture) print(`\nvalidation curves: ${picture}`);
  }
  return entries;
}

/** Runs the command with `argv`; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const enc = new TextEncoder();
  const out = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));
  const err = (s: string) => Deno.stderr.writeSync(enc.encode(s + "\n"));
  try {
    const args = parseCompareArgs(argv);
    if (args.help) {
      out(USAGE);
      return 0;
    }
    await compareRuns(args, out, err);
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError;
    err(`error: ${e instanceof Error ? e.message : e}${usage ? `\n\n${USAGE}` : ""}`);
    if (Deno.env.get("ECHOFLOW_DEBUG") === "1" && e instanceof Error && e.stack) err(e.stack);
    return usage ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Reading run directories for `deno task compare`: what a run was (experiment and resolved config), how it
 * ended (final metrics) and its validation curve(s).
 *
 * - A single run (`Experiment`): `config.json`, `metrics.jsonl`, and `summary.json` once finished; the
 *   metrics are the summary's (`best_epoch`, `epochs`, `stopped_epoch`, `val_*`, `test_*`, `wall_s`); an
 *   unfinished run's come from its records (best validation NLL so far, the test NLL at it).
 * - A per-class run (`esn_flow_timit`, `esn_flow_synthetic`): `models/<variant>/<class>/` holds one
 *   single run per class; each variant becomes one entry, with its class runs' config, the accuracy,
 *   balanced accuracy and test NLL per frame of `report.json` (overall and per class), and one validation
 *   curve per class.
 *
 * Anything missing or unreadable is a {@link RunReadError} naming the directory and the file.
 */
import { exists, join } from "../runner/run_dir.ts";

/** One thing to compare: a single run, or one model variant of a per-class run. */
export interface RunEntry {
  readonly dir: string;
  /** The variant of a per-class run (null: a single run). */
  readonly variant: string | null;
  readonly experiment: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** `finished`; `unfinished` (no summary.json); `not evaluated` (a per-class run without report.json). */
  readonly status: string;
  /** Final metrics in display order (null: not available). */
  readonly metrics: Readonly<Record<string, number | null>>;
  /** Validation NLL against epoch: key `""` for a single run, the class for a per-class run. */
  readonly curves: ReadonlyMap<string, { readonly x: number[]; readonly y: number[] }>;
}

/** A run directory that cannot be compared; the message names it. */
export class RunReadError extends Error {
  override name = "RunReadError";
  constructor(dir: string, problem: string) {
    super(`Cannot compare run "${dir}": ${problem}`);
  }
}

type Json = Record<string, unknown>;

/** A JSON object file of the run, or null when it is absent and `optional`. */
async function readJson(dir: string, file: string, optional = false): Promise<Json | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, file));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      if (optional) return null;
      throw new RunReadError(dir, `${file} is missing`);
    }
    throw new RunReadError(dir, `cannot read ${file} (${e instanceof Error ? e.message : e})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RunReadError(dir, `${file} is not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new RunReadError(dir, `${file} is not a JSON object`);
  }
  return v as Json;
}

/**
 * The records of `<dir>/metrics.jsonl`. A last line that is not JSON is skipped (an append cut short by a
 * full disk); any other is corruption, named by its line.
 */
export async function readMetrics(dir: string): Promise<Json[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  } catch (e) {
    throw new RunReadError(
      dir,
      e instanceof Deno.errors.NotFound ? "metrics.jsonl is missing" : `cannot read metrics.jsonl (${e})`,
    );
  }
  const lines = text.split("\n");
  while (lines.length && lines.at(-1)!.trim() === "") lines.pop();
  const out: Json[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line));
    } catch {
      if (i < lines.length - 1) {
        throw new RunReadError(dir, `metrics.jsonl line ${i + 1} is not JSON: ${line.slice(0, 60)}`);
      }
    }
  });
  return out;
}

/** The validation NLL of the records against epoch (the last record of an epoch wins). */
function valCurve(records: readonly Json[]): { x: number[]; y: number[] } {
  const at = new Map<number, number>();
  for (const r of records) {
    if (r.kind === "eval" && r.split === "val" && typeof r.epoch === "number" && typeof r.nll === "number") {
      at.set(r.epoch, r.nll);
    }
  }
  const x = [...at.keys()].sort((a, b) => a - b);
  return { x, y: x.map((e) => at.get(e)!) };
}

const SUMMARY_KEY = /^(best_epoch|epochs|stopped_epoch|(val|test|train)_\w+|wall_s)$/;
const metric = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** A single run's final metrics: its summary's, or from the records of an unfinished run. */
function runMetrics(summary: Json | null, records: readonly Json[]): Record<string, number | null> {
  if (summary) {
    return Object.fromEntries(
      Object.keys(summary).filter((k) => SUMMARY_KEY.test(k)).map((k) => [k, metric(summary[k])]),
    );
  }
  const out: Record<string, number | null> = { best_epoch: null };
  const tests = new Map<unknown, number>();
  let best = Infinity, lastEpoch = 0;
  for (const r of records) {
    if (typeof r.epoch === "number") lastEpoch = Math.max(lastEpoch, r.epoch);
    if (r.kind !== "eval" || typeof r.nll !== "number") continue;
    if (r.split === "val" && r.nll < best) {
      best = r.nll;
      out.best_epoch = r.epoch as number;
      out.val_nll = r.nll;
    }
    if (r.split === "test") tests.set(r.epoch, r.nll);
  }
  // The test NLL is of the best epoch only (the runner evaluates test when validation improves).
  if (tests.has(out.best_epoch)) out.test_nll = tests.get(out.best_epoch)!;
  return { ...out, epochs: lastEpoch };
}

/** The directories below `dir`, sorted (none when it does not exist). */
function subdirs(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** The entries of a per-class run: one per variant under `models/`. */
async function perClassEntries(dir: string, top: Json | null): Promise<RunEntry[]> {
  const report = await readJson(dir, "report.json", true);
  const variants = subdirs(join(dir, "models"));
  if (variants.length === 0) throw new RunReadError(dir, "models/ holds no model variant");
  const out: RunEntry[] = [];
  for (const variant of variants) {
    const vdir = join(dir, "models", variant);
    const classes = subdirs(vdir);
    let config: Json | null = null;
    const curves = new Map<string, { x: number[]; y: number[] }>();
    const summaries = new Map<string, Json | null>();
    for (const cls of classes) {
      const cdir = join(vdir, cls);
      // Errors name the class directory, inside the run directory.
      const c = await readJson(cdir, "config.json", true);
      config ??= (c?.config as Json | undefined) ?? null;
      if (exists(join(cdir, "metrics.jsonl"))) {
        curves.set(cls, valCurve(await readMetrics(cdir)));
      }
      summaries.set(cls, await readJson(cdir, "summary.json", true));
    }
    if (!config) throw new RunReadError(dir, `no class of models/${variant} has a config.json`);
    const rep = (report?.variants as Json[] | undefined)?.find((v) => v.variant === variant);
    const metrics: Record<string, number | null> = {};
    if (rep) {
      for (const k of ["accuracy", "balanced_accuracy", "test_nll_per_frame"]) metrics[k] = metric(rep[k]);
      for (const c of (rep.per_class as Json[] | undefined) ?? []) {
        metrics[`test_nll_per_frame ${c.class}`] = metric(c.test_nll_per_frame);
      }
    } else {
      // Not evaluated yet: each class's own test NLL per frame at its best epoch.
      for (const [cls, s] of summaries) metrics[`test_nll_per_frame ${cls}`] = metric(s?.test_nll_per_frame);
    }
    const experiment = typeof top?.experiment === "string" ? top.experiment : "?";
    const status = rep ? "finished" : "not evaluated";
    out.push({ dir, variant, experiment, config, status, metrics, curves });
  }
  return out;
}

/** The entries of the run directory `dir` (see the module doc). */
export async function readRun(dir: string): Promise<RunEntry[]> {
  let isDir: boolean;
  try {
    isDir = (await Deno.stat(dir)).isDirectory;
  } catch (e) {
    throw new RunReadError(dir, e instanceof Deno.errors.NotFound ? "no such directory" : String(e));
  }
  if (!isDir) throw new RunReadError(dir, "not a directory");
  const perClass = exists(join(dir, "models"));
  if (!perClass && !exists(join(dir, "config.json"))) {
    throw new RunReadError(dir, "not a run directory (it has no config.json and no models/)");
  }
  const top = await readJson(dir, "config.json", perClass);
  if (perClass) return await perClassEntries(dir, top);
  const config = top!.config;
  if (typeof config !== "object" || config === null) throw new RunReadError(dir, "config.json has no config");
  const records = await readMetrics(dir);
  const summary = await readJson(dir, "summary.json", true);
  return [{
    dir,
    variant: null,
    experiment: typeof top!.experiment === "string" ? top!.experiment : "?",
    config: config as Json,
    status: summary ? "finished" : "unfinished",
    metrics: runMetrics(summary, records),
    curves: new Map([["", valCurve(records)]]),
  }];
}

/**
 * The echoflow command line: parse flags, look the experiment up in the registry, resolve its config
 * (defaults, then the checkpoint's config on `--resume`, then command-line overrides), select the
 * backend and hand everything to the {@link Experiment} runner (or to the spec's own `run`).
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage error (unknown experiment, key or flag, wrong type).
 * Errors print one clear line on stderr; `ECHOFLOW_DEBUG=1` adds the stack trace.
 */
import { getExperiment, REGISTRY } from "../../experiments/registry.ts";
import { selectBackend } from "../backend.ts";
import { configChanges, ConfigError, type ConfigValue, resolveConfig } from "../config.ts";
import { type Checkpoint, checkpointPathOf, LAST_CHECKPOINT, loadCheckpoint } from "../runner/checkpoint.ts";
import { Experiment } from "../runner/experiment.ts";
import { Logger } from "../runner/logger.ts";
import { mib, peakRssBytes } from "../runner/memory.ts";
import { createRunDir, dirname, exists, join, writeJsonAtomic } from "../runner/run_dir.ts";
import { CHILD_JOB_ENV, configOverrides, parseCli, UsageError } from "./args.ts";
import { configHelpText, listText, usageText } from "./help.ts";

const enc = new TextEncoder();
const stdout = (s: string) => Deno.stdout.writeSync(enc.encode(s));
const stderr = (s: string) => Deno.stderr.writeSync(enc.encode(s));

/** Runs the CLI with `argv` (without the program name); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await run(argv);
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError || e instanceof ConfigError;
    stderr(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (usage) stderr("Run with --help for usage, or --name NAME --help for an experiment's keys.\n");
    if (Deno.env.get("ECHOFLOW_DEBUG") === "1" && e instanceof Error && e.stack) stderr(e.stack + "\n");
    return usage ? 2 : 1;
  }
}

function unknownExperiment(name: string): UsageError {
  const valid = Object.keys(REGISTRY).sort().join(", ") || "(none registered)";
  return new UsageError(`Unknown experiment "${name}". Valid names: ${valid}`);
}

async function run(argv: readonly string[]): Promise<void> {
  const { flags, options } = parseCli(argv);
  if (flags.list) {
    if (!flags.json) return void stdout(listText(REGISTRY));
    const lines = Object.keys(REGISTRY).sort().map((name) =>
      JSON.stringify({ kind: "experiment", name, description: REGISTRY[name].description })
    );
    return void stdout(lines.join("\n") + "\n");
  }
  if (flags.help && flags.name === null) return void stdout(usageText(REGISTRY));
  if (flags.name === null && flags.resume === null) {
    throw new UsageError(`Missing --name. Valid names: ${Object.keys(REGISTRY).sort().join(", ")}`);
  }
  // Checked before the checkpoint is read, so `--name typo --help` is a usage error, not a file error.
  if (flags.name !== null && !getExperiment(flags.name)) throw unknownExperiment(flags.name);
  if (flags.help) return void stdout(configHelpText(getExperiment(flags.name!)!));

  const log = new Logger({ json: flags.json, quiet: flags.quiet });
  let ckpt: Checkpoint | null = null;
  let saved: SavedRun | null = null;
  if (flags.resume !== null) {
    // Experiments with their own run() (one model per class) keep checkpoints in sub-directories; their
    // run directory is resumed from its config.json and the experiment picks up what is unfinished.
    saved = readSavedRun(flags.resume);
    if (!saved) {
      ckpt = await loadCheckpoint(checkpointPathOf(flags.resume));
      // The run's own config.json, where there is one, says what the run is; the checkpoint must belong to
      // it (another experiment is refused here, another model size when it is restored, before anything
      // in the run directory changes).
      const own = runConfigOf(flags.resume);
      if (own && own.experiment !== ckpt.header.experiment) {
        throw new Error(
          `Cannot resume "${flags.resume}": ${ckpt.path} is a checkpoint of "${ckpt.header.experiment}", but ` +
            `the run's config.json is of "${own.experiment}"`,
        );
      }
      saved = own ?? { experiment: ckpt.header.experiment, config: ckpt.header.config };
    }
  }
  const name = flags.name ?? saved!.experiment;
  const spec = getExperiment(name);
  if (!spec) throw unknownExperiment(name);
  if (saved && saved.experiment !== name) {
    throw new Error(`Cannot resume "${flags.resume}": it is a run of "${saved.experiment}", not "${name}"`);
  }

  const overrides = configOverrides(spec.config, options);
  const base: Record<string, ConfigValue> = {};
  for (const [k, v] of Object.entries(saved?.config ?? {})) {
    if (Object.hasOwn(spec.config, k)) base[k] = v;
  }
  const cfg = resolveConfig(spec.config, { ...base, ...overrides });

  const explicitKeys = new Set([...(saved?.explicit_keys ?? []), ...Object.keys(overrides)]);
  spec.check?.(cfg, explicitKeys);
  const backend = await selectBackend(flags.backend);
  log.info(`backend: ${backend.backend} (adapter: ${backend.adapter})`);
  const runName = typeof cfg.name === "string" && cfg.name !== "" ? cfg.name : name;
  if (flags.overwrite && (spec.run || flags.out === null || flags.resume !== null)) {
    throw new UsageError(
      spec.run
        ? `--overwrite: ${name} continues in its --out directory, skipping finished classes; --retrain trains them again`
        : "--overwrite goes with --out DIR (a directory that holds a run), not with --resume",
    );
  }
  if (!spec.run && flags.out !== null && flags.resume === null && !flags.overwrite) {
    const found = RUN_FILES.filter((f) => exists(join(flags.out!, f)));
    if (found.length) {
      throw new UsageError(
        `Run directory "${flags.out}" already holds a run (${found.join(", ")}): continue it with ` +
          `--resume ${flags.out}, or start over with --out ${flags.out} --overwrite (which deletes its ` +
          `checkpoints, metrics and samples first)`,
      );
    }
  }
  const runIn = async (runDir: string): Promise<void> => {
    if (spec.run) {
      Deno.mkdirSync(runDir, { recursive: true });
      for (const m of saved ? configChanges(saved.config, cfg, "the resumed run") : []) log.warn(m);
      const child = Deno.env.get(CHILD_JOB_ENV) === "1";
      if (!child) {
        await writeJsonAtomic(join(runDir, "config.json"), {
          experiment: name,
          config: cfg,
          explicit_keys: [...explicitKeys].sort(),
          backend: backend.backend,
          adapter: backend.adapter,
        });
      }
      const result = await spec.run(cfg, { runDir, resume: flags.resume, log, explicitKeys, backend });
      const peak = peakRssBytes();
      const summary = {
        experiment: name,
        ...result,
        peak_rss_mb: peak === null ? null : Math.round(peak / 2 ** 20),
        backend: backend.backend,
        adapter: backend.adapter,
      };
      log.metric("summary", summary);
      if (!child) await writeJsonAtomic(join(runDir, "summary.json"), summary);
      // Child jobs' stdout is not kept: their peak goes to stderr, which the parent forwards.
      log.info(`peak resident memory of this process: ${mib(peak)}`);
      return;
    }
    await new Experiment(spec, cfg, {
      runDir,
      resume: flags.resume,
      log,
      backend,
      checkpoint: ckpt,
      fresh: flags.overwrite,
    }).run();
    log.info(`peak resident memory of this process: ${mib(peakRssBytes())}`);
  };
  const created = flags.out === null ? flags.resume === null : !exists(flags.out);
  const runDir = flags.out ??
    (flags.resume !== null
      ? (Deno.statSync(flags.resume).isDirectory ? flags.resume : dirname(flags.resume))
      : createRunDir(runName));
  log.info(`run directory: ${runDir}`);
  try {
    await runIn(runDir);
  } catch (e) {
    // A directory this process made, that holds no checkpoint yet, is nothing but a half-made run.
    if (created && exists(runDir) && !holdsCheckpoint(runDir)) Deno.removeSync(runDir, { recursive: true });
    throw e;
  }
}

interface SavedRun {
  readonly experiment: string;
  readonly config: Record<string, ConfigValue>;
  /** Keys given on the command line of a run() experiment (see RunOptions.explicitKeys). */
  readonly explicit_keys?: readonly string[];
}

/** The files that make a directory a run's (an `--out` holding any of them is refused). */
const RUN_FILES = ["config.json", "metrics.jsonl", "summary.json", LAST_CHECKPOINT, "best.ckpt"];

/**
 * The experiment and config of a run directory that has a config.json but no last.ckpt (a run() experiment);
 * null when `path` is a checkpoint file or a directory with a last.ckpt.
 */
function readSavedRun(path: string): SavedRun | null {
  let isDir = false;
  try {
    isDir = Deno.statSync(path).isDirectory;
  } catch {
    return null; // loadCheckpoint reports the missing path
  }
  if (!isDir || exists(join(path, LAST_CHECKPOINT))) return null;
  return runConfigOf(path);
}

/** The run directory `path`'s config.json (null when `path` is not a directory or has none). */
function runConfigOf(path: string): SavedRun | null {
  const file = join(path, "config.json");
  try {
    if (!Deno.statSync(path).isDirectory || !exists(file)) return null;
  } catch {
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Deno.readTextFileSync(file));
  } catch (e) {
    throw new Error(`Cannot resume "${path}": ${file} is not valid JSON (${(e as Error).message})`);
  }
  const rec = parsed as Partial<SavedRun>;
  if (typeof rec?.experiment !== "string" || typeof rec.config !== "object" || rec.config === null) {
    throw new Error(`Cannot resume "${path}": ${file} has no "experiment" name and "config" object`);
  }
  const keys = rec.explicit_keys;
  if (keys !== undefined && !(Array.isArray(keys) && keys.every((k) => typeof k === "string"))) {
    throw new Error(`Cannot resume "${path}": ${file} field "explicit_keys" is not a list of key names`);
  }
  return rec as SavedRun;
}

/** Whether there is a checkpoint (`*.ckpt`) anywhere under `dir`. */
function holdsCheckpoint(dir: string): boolean {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && e.name.endsWith(".ckpt")) return true;
    if (e.isDirectory && holdsCheckpoint(join(dir, e.name))) return true;
  }
  return false;
}

/**
 * `esn_flow_timit`: TIMIT phone classification with one ESN flow per phone class (the generative
 * classifier of the original ESN-flow design), and the time-varying GMM (`--model gmm_esn`) as baseline.
 *
 * Train: one dynamic model per folded 39-class phone on its normalised MFCC segments, each an ordinary
 * runner run in `<run dir>/models/<model>/<class>/` (warmup, best checkpoint at the best validation
 * likelihood, resume, metrics); normalisation statistics in `models/norm_stats.json`. Classes train one
 * after another, in `num_jobs` child processes (`--shard i/n --stage train` each), or on several machines
 * with `--shard i/n` into a shared run directory. Finished classes are skipped unless `--retrain`; an
 * interrupted class resumes from its `last.ckpt` when the command is run again with `--out RUN_DIR` (or `--resume RUN_DIR`).
 * The stages (prepare, train, eval) are described once (`lib/launch/plan.ts`) and run by a launcher:
 * `--launcher local` (this process, `num_jobs` children for training) or `--launcher slurm` (a preparation
 * job, an array of class trainings, an evaluation job after them; `lib/launch/slurm.ts`).
 * Evaluate: every finished class model of every variant in the run directory scores every test segment
 * of the chosen classes; a segment gets `argmax_k log p(segment | k)` (no class prior, as the original;
 * `--use_prior` adds the log training frequency). Writes report.json, report.md, confusion_<model>.csv/png
 * and samples/<model>_<class>.png (real test segments above generated ones) into the run directory.
 *
 * All class models share one reservoir (esnSeed = seed), so ESN states are computed once per segment and
 * shared between class models and with the evaluation (`lib/classify/shared_states.ts`).
 *
 * Protocols (`lib/data/timit/protocol.ts`): `genhmm`, the published TIMIT recipe of the GenHMM and
 * NF-HMM papers and of the original time-varying flow (Kaldi MFCC, window-majority labels, min-max
 * normalisation, all of TRAIN and TEST, a per-class 80/20 validation split), and `echoflow` (HTK-style
 * MFCC, z-scores, dev50 validation, core test set). `auto` picks `genhmm` on a real corpus and
 * {@link STANDIN_PROTOCOL} on the stand-in.
 *
 * Test noise: `--test_noise white,pink,babble,FILE --snr_db 10,15,20,25` scores every model on the test set
 * with each noise at each SNR (`lib/data/timit/noise.ts`, as the GenHMM recipe's `add_noise.py`); the
 * report gets a table and a picture of accuracy against SNR. `--stage eval` runs it on a trained run.
 *
 * Profiles: `original` is the original's training (its sizes are the defaults: esn_dim 1000,
 * 4 flow layers, hidden 30, 2 hidden layers, Toeplitz, lr 1e-4, batch 128, 150 epochs; and
 * {@link ORIGINAL_PROFILE}: SGD and its convergence monitor); `standin` ({@link STANDIN_PROFILE}) is sized
 * for the bundled stand-in on a 2-core CPU; `auto` picks `standin` on the stand-in (a corpus with
 * echoflow's `MINI_TIMIT.json`), `original` otherwise. A profile changes only keys the user did not give
 * (`lib/classify/profile.ts` states the rule).
 */
import * as tf from "@tensorflow/tfjs";
import { logScalePerFrame } from "../lib/data/timit/segment_set.ts";
import { adam } from "../lib/runner/adam.ts";
import { hostName, lockHolder } from "../lib/runner/run_lock.ts";
import {
  classRunDir,
  classRunStatus,
  deleteClassRun,
  type FoundClassModel,
  modelsDir,
} from "../lib/classify/per_class.ts";
import { parseClasses, parseShard, shardClasses } from "../lib/classify/classes.ts";
import { configArgs } from "../lib/classify/jobs.ts";
import { submitPerClassRun } from "../lib/classify/launch_slurm.ts";
import { CHILD_JOB_ENV } from "../lib/cli/args.ts";
import { watchClaimedClasses } from "../lib/launch/claim_progress.ts";
import { runStagesLocally } from "../lib/launch/local.ts";
import { planStages, STAGE_CHOICES, type StageName, taskName } from "../lib/launch/plan.ts";
import { LAUNCH_ID_ENV, recordTaskStart, TASK_NAME_ENV, writeClassList } from "../lib/launch/records.ts";
import { shellSplit } from "../lib/launch/shell.ts";
import { checkSlurmArgs, requireSbatch } from "../lib/launch/slurm.ts";
import { applyProfile, describeChanges } from "../lib/classify/profile.ts";
import {
  classExperiment,
  evaluateClassStage,
  loadDynamicClassModel,
  trainClassStage,
} from "../lib/classify/stages.ts";
import type { SegmentClasses } from "../lib/classify/segment_classes.ts";
import { loadTimitClasses } from "../lib/classify/timit_data.ts";
import { bool, choice, ConfigError, type ConfigValue, float, int, str } from "../lib/config.ts";
import { DEFAULT_SPLIT_OPTIONS, VAL_SETS } from "../lib/data/timit/speakers.ts";
import {
  DEFAULT_FRAME_DIM,
  GENHMM_VAL_FRACTION,
  makeProtocol,
  type ProtocolName,
  PROTOCOLS,
} from "../lib/data/timit/protocol.ts";
import { publishedTimitResults } from "../lib/classify/published_timit.ts";
import { noiseConditions, type OpenedNoise, openNoises } from "../lib/classify/test_noise.ts";
import { locateCorpus } from "../lib/data/timit/dataset.ts";
import { type NoiseSpec, parseNoiseList, parseSnrList } from "../lib/data/timit/noise.ts";
import type { SequenceBatch, SequenceDataset } from "../lib/data/sequences.ts";
import { buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig, dynamicTrainingDefaults } from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { Rng } from "../lib/rng.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import { exists, join } from "../lib/runner/run_dir.ts";
import type { ExperimentSpec, RunOptions } from "../lib/runner/types.ts";

const NAME = "esn_flow_timit";

const config = experimentConfig({
  ...dynamicModelConfig,
  timit_dir: str(null, "TIMIT root (none: $TIMIT_DIR, else the bundled stand-in data/mini_timit)", {
    nullable: true,
  }),
  protocol: choice(
    ["auto", ...PROTOCOLS] as const,
    "auto",
    "genhmm (the published recipe: Kaldi MFCC, min-max, all TRAIN/TEST, per-class 80/20 validation), " +
      "echoflow (HTK MFCC, z-scores, dev50, core test), auto (genhmm on real TIMIT, echoflow on the stand-in)",
  ),
  frame_dim: int(
    null,
    "Frame size: 39 (13 cepstra with c0, deltas, delta-deltas) or 40 (echoflow: + log-energy; genhmm: + the " +
      "original's constant-zero first column); none: the protocol's (echoflow 40, genhmm 39)",
    { nullable: true },
  ),
  optimizer: choice(["adam", "sgd"] as const, "adam", "Optimizer of every class model (the original: SGD)"),
  feature_cache_dir: str(null, "Feature cache directory (none: data/cache)", { nullable: true }),
  classes: str("", 'Classes: "" all present in training, a list "aa,iy,...", or N (the N most frequent)'),
  num_jobs: int(1, "Classes trained in parallel, each job a child process (--shard i/n --stage train)"),
  shard: str("", 'Train only shard i of n ("i/n", 1 <= i <= n) into the shared run directory; "" all'),
  stage: choice(
    STAGE_CHOICES,
    "all",
    "all (prepare, train, eval), prepare (corpus check, features, normalisation statistics), train " +
      "(prepare, then train), or eval (classify the test set)",
  ),
  launcher: choice(
    ["local", "slurm"] as const,
    "local",
    "How the stages run: local (this machine; --num_jobs child processes train) or slurm (submitted as " +
      "Slurm jobs: preparation, an array of class trainings, evaluation; the command returns)",
  ),
  slurm_args: str(
    "",
    'sbatch options for every job of --launcher slurm, written with "=": --slurm_args="--partition=p --time=2:00:00"',
  ),
  slurm_array_tasks: int(0, "Tasks of the Slurm training array: 0 one per class, N shards of classes", {
    min: 0,
  }),
  slurm_array_limit: int(0, "At most this many Slurm training tasks at once (--array ...%N); 0 no limit", {
    min: 0,
  }),
  slurm_check_shared: bool(
    true,
    "Refuse --launcher slurm when a path the jobs use is on a file system local to this machine and the " +
      "cluster has other nodes",
  ),
  claim: bool(
    false,
    "Train the classes no other process holds, largest first, one at a time, until none is left " +
      "(what --num_jobs children do; also by hand on several machines sharing the run directory)",
  ),
  retrain: bool(false, "Train classes again even when their run has finished (default: skip them)"),
  full_test: bool(
    false,
    "Test on the complete test set (minus the dev50 speakers when val_set is dev50) instead of the 24-speaker core test set",
  ),
  val_set: choice(
    VAL_SETS,
    "dev50",
    "Validation speakers: dev50 (the standard 50-speaker development set) or seeded (a seeded speaker-disjoint split of TRAIN)",
  ),
  val_fraction: float(
    null,
    "Validation share: of TRAIN speakers (echoflow, val_set seeded; default 0.1) or of each class's " +
      "training segments (genhmm; default 0.2)",
    { nullable: true },
  ),
  skip_bad: bool(false, "Skip bad corpus files with a counted warning instead of failing"),
  profile: choice(
    ["auto", "original", "standin"] as const,
    "auto",
    "Size profile: original (the defaults), standin (minutes on the stand-in), auto (standin on the stand-in)",
  ),
  use_prior: bool(false, "Add log class priors (training frequencies) to the likelihoods when classifying"),
  sample_classes: int(4, "Classes (most frequent in test) drawn as real vs generated MFCC pictures"),
  test_noise: str(
    "",
    'Noisy test sets after the clean one: "white", "pink", "babble" and/or noise files (WAV/SPHERE, 16 kHz), comma-separated',
  ),
  snr_db: str("10,15,20,25", "SNRs (dB) of the noisy test sets, comma-separated"),
  babble_talkers: int(6, "Talkers (other test speakers' utterances) summed into babble noise", { min: 1 }),
}, { ...dynamicTrainingDefaults, n_samples: 3, log_interval: 0 });

type TimitConfig = { readonly [K in keyof typeof config]: (typeof config)[K]["default"] };

/**
 * The `standin` profile: on the stand-in (14 classes, 2388 training segments) the default command took
 * 104 s wall (61 s CPU; 2 cores shared, wasm) and classified 86.8% of the 583 core-test segments
 * correctly (gmm_esn: 87.0%; chance 7.1%, majority class 23.7%). Measured alternatives (accuracy, wall):
 * esn_dim 200 (84.6%), esn_dim 999 (83.4%, 78 s), esn_dim 200 with 40 epochs at lr 2e-3 (84.0%, 4 min:
 * the test NLL keeps falling, the accuracy barely moves).
 */
export const STANDIN_PROFILE: Readonly<Record<string, ConfigValue>> = Object.freeze({
  esn_dim: 500,
  epochs: 15,
  lr: 4e-3,
  batch_size: 32,
});

/**
 * The `original` profile: the original's optimizer and stopping rule (github AleixEF/DynamicFlows:
 * `torch.optim.SGD` at lr 1e-4 in `lib/bin/dyn_esn_flow.py`; its `ConvergenceMonitor` on the validation
 * NLL with tol 1.5e-2 over 3 epochs, `config/configurations.json`). Its sizes are the schema defaults.
 */
export const ORIGINAL_PROFILE: Readonly<Record<string, ConfigValue>> = Object.freeze({
  optimizer: "sgd",
  early_stop: "converged",
  early_stop_tol: 1.5e-2,
  early_stop_patience: 3,
});

/** The protocol `--protocol auto` takes on the stand-in. */
export const STANDIN_PROTOCOL: ProtocolName = "echoflow";

/** What a config asks for beyond its keys' types, resolved and checked before anything is written. */
interface Resolved {
  readonly protocol: ProtocolName;
  readonly noises: NoiseSpec[];
  readonly snrs: number[];
  readonly shard: ReturnType<typeof parseShard>;
}

/** Checks the keys that only make sense together, the lists, and which protocol `auto` means. */
function resolve(cfg: TimitConfig, explicitKeys: ReadonlySet<string>): Resolved {
  if (cfg.frame_dim !== null && cfg.frame_dim !== 39 && cfg.frame_dim !== 40) {
    throw new ConfigError(
      `--frame_dim must be 39 or 40 (MFCC with deltas, optionally + log-energy), got ${cfg.frame_dim}`,
    );
  }
  if (cfg.val_fraction !== null && !(cfg.val_fraction > 0 && cfg.val_fraction < 1)) {
    throw new ConfigError(`--val_fraction must be between 0 and 1 (exclusive), got ${cfg.val_fraction}`);
  }
  const protocol: ProtocolName = cfg.protocol === "auto"
    ? (locateCorpus(cfg.timit_dir).standIn ? STANDIN_PROTOCOL : "genhmm")
    : cfg.protocol;
  const echoflowOnly = ["val_set", "full_test"].filter((k) => explicitKeys.has(k));
  if (protocol === "genhmm" && echoflowOnly.length) {
    throw new ConfigError(
      `--${echoflowOnly.join(", --")} belong to --protocol echoflow: the genhmm protocol validates on a ` +
        `per-class share of the training segments (--val_fraction) and tests on all of TEST`,
    );
  }
  const shard = parseShard(cfg.shard);
  if (!(cfg.num_jobs >= 1)) throw new ConfigError(`--num_jobs must be at least 1, got ${cfg.num_jobs}`);
  if (cfg.num_jobs > 1 && shard) throw new ConfigError("--num_jobs > 1 cannot be combined with --shard");
  if (cfg.claim && shard) {
    throw new ConfigError("--claim takes classes as they come; --shard fixes them: not both");
  }
  if (cfg.claim && cfg.retrain) {
    throw new ConfigError(
      "--claim with --retrain could delete a class another process is training; run --retrain without --claim",
    );
  }
  if (cfg.launcher === "slurm") {
    if (cfg.claim) throw new ConfigError("--claim is for the local launcher's jobs and runs by hand");
    if (shard) {
      throw new ConfigError(
        "--shard is for shards run by hand; --launcher slurm makes its own (--slurm_array_tasks)",
      );
    }
    if (cfg.num_jobs > 1) {
      throw new ConfigError(
        "--num_jobs is the local launcher's; with --launcher slurm, --slurm_array_tasks sets the training " +
          "tasks and --slurm_array_limit how many run at once",
      );
    }
    checkSlurmArgs(shellSplit(cfg.slurm_args, "--slurm_args"));
    requireSbatch();
  }
  return {
    protocol,
    noises: cfg.test_noise.trim() === "" ? [] : parseNoiseList(cfg.test_noise),
    snrs: parseSnrList(cfg.snr_db),
    shard,
  };
}

/** The model of class `cls`: trainable weights seeded by (seed, model, class), the reservoir by seed alone. */
function buildClassModel(cfg: TimitConfig, frameDim: number, cls: string): DynamicModel {
  return buildDynamicModel(cfg, frameDim, {
    rng: new Rng(`${cfg.seed}:${cfg.model}:${cls}`),
    esnSeed: cfg.seed,
  });
}

/** The optimizer of a class model: Adam (tfjs's update, flat moments) or plain SGD, as the original. */
const optimizerOf = (cfg: TimitConfig): tf.Optimizer =>
  cfg.optimizer === "sgd" ? tf.train.sgd(cfg.lr) : adam(cfg.lr);

/** The experiment of one class: its segments, its model (to which `attach` gives shared states), Adam. */
function classSpec(
  cls: string,
  data: SequenceDataset,
  attach: (model: DynamicModel) => void,
): ExperimentSpec<typeof config, SequenceBatch> {
  return classExperiment(
    { name: NAME, description: `${NAME}: the model of class ${cls}`, config, optimizer: optimizerOf },
    data,
    attach,
    (cfg) => buildClassModel(cfg, data.frameDim, cls),
  );
}

/** The best checkpoint of a class, in a model built with the config it was trained with. */
function loadModel(m: FoundClassModel, frameDim: number): Promise<DynamicModel> {
  return loadDynamicClassModel<typeof config>(
    m,
    { name: NAME, optimizer: optimizerOf },
    frameDim,
    (c) => buildClassModel(c, frameDim, m.cls),
  );
}

const secs = (t0: number) => (performance.now() - t0) / 1000;

/** Training frames times the epochs each finished class trained (its summary's `epochs`). */
async function trainedFrameEpochs(
  runDir: string,
  variant: string,
  classes: readonly string[],
  seg: SegmentClasses,
): Promise<number> {
  const counts = seg.counts("train");
  let n = 0;
  for (const cls of classes) {
    const path = join(classRunDir(runDir, variant, cls), "summary.json");
    const epochs = await Deno.readTextFile(path).then((t) => JSON.parse(t).epochs).catch(() => 0);
    n += counts[seg.id(cls)].frames * (typeof epochs === "number" ? epochs : 0);
  }
  return n;
}

/** The command line of a task of this run (either launcher): the run's config with the task's settings. */
function taskArgs(
  cfg0: TimitConfig,
  runDir: string,
  explicit: ReadonlySet<string>,
  quiet: boolean,
): (settings: Readonly<Record<string, ConfigValue>>) => string[] {
  return (settings) => [
    "--name",
    NAME,
    "--out",
    runDir,
    ...(quiet ? ["--quiet"] : []),
    ...configArgs(config, cfg0, settings, explicit),
  ];
}

async function run(cfg0: TimitConfig, opts: RunOptions): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const { runDir, log } = opts;
  const explicitKeys = opts.explicitKeys ?? new Set<string>();
  // --resume RUN_DIR re-enters the run directory: finished classes are skipped, interrupted ones resume
  // from their own last.ckpt (the same as running the command again with --out RUN_DIR).
  const { protocol: protocolName, noises, snrs, shard } = resolve(cfg0, explicitKeys);
  const protocol = makeProtocol(protocolName, {
    frameDim: cfg0.frame_dim ?? DEFAULT_FRAME_DIM[protocolName],
  });
  if (cfg0.launcher === "slurm") {
    return await submitPerClassRun(cfg0, {
      runDir: opts.runDir,
      log,
      includeSA: protocol.includeSA,
      argsOf: (dir) => taskArgs(cfg0, dir, explicitKeys, false),
    });
  }
  // A task a launcher started (a child process, a Slurm job) runs exactly its stage, and reads what the
  // preparation wrote: it never computes the run's statistics itself.
  const launched = Deno.env.get(CHILD_JOB_ENV) === "1";
  const statsPath = join(modelsDir(runDir), "norm_stats.json");
  if (launched && cfg0.stage !== "prepare" && !exists(statsPath)) {
    throw new Error(
      `Cannot run stage ${cfg0.stage} of ${runDir}: ${statsPath} is missing. The preparation stage writes it ` +
        `before any other stage starts; a node that does not see it is not on the run directory's storage`,
    );
  }

  /** Corpus, features, statistics, profile and classes: loaded once per process, for every stage. */
  const loadRun = async () => {
    let opened: OpenedNoise[] = [];
    const data = await loadTimitClasses({
      timitDir: cfg0.timit_dir,
      protocol,
      fullTest: cfg0.full_test,
      valSet: cfg0.val_set,
      ...(cfg0.val_fraction !== null && { valFraction: cfg0.val_fraction }),
      splitSeed: cfg0.seed,
      skipBad: cfg0.skip_bad,
      cacheDir: cfg0.feature_cache_dir,
      statsPath,
      log,
      // Noise files are checked as soon as the corpus is scanned: before features, statistics or training.
      afterOpen: async (timit) => {
        if (cfg0.stage === "train") return;
        opened = await openNoises(noises, {
          talkers: cfg0.babble_talkers,
          testUtterances: timit.testUtterances(),
          // Babble talks with the voices of every TEST speaker (the echoflow protocol tests on 24 of them).
          talkerUtterances: timit.corpus.utterances.filter((u) => u.part === "test"),
        });
      },
    });
    const conditions = noiseConditions(opened, snrs, { seed: cfg0.seed, changedTest: data.changedTest, log });
    // Wall seconds of each stage: the corpus and its features, training (all classes), evaluation.
    const stages: Record<string, number> = { seconds_data: secs(t0) };
    const profile = cfg0.profile === "auto" ? (data.standIn ? "standin" : "original") : cfg0.profile;
    const applied = applyProfile(
      config,
      cfg0,
      profile === "standin" ? STANDIN_PROFILE : ORIGINAL_PROFILE,
      opts.explicitKeys,
    );
    const cfg = applied.cfg;
    log.info(
      `protocol: ${protocolName}${
        cfg0.protocol === "auto" ? ` (auto: ${data.standIn ? "stand-in" : "real"} corpus)` : ""
      }; profile: ${profile}${
        cfg0.profile === "auto" ? ` (auto: ${data.standIn ? "stand-in" : "real"} corpus)` : ""
      }; ` +
        `changed: ${describeChanges(applied.changed)}` +
        (applied.kept.length
          ? `; kept as given: ${applied.kept.map((c) => `${c.key} ${c.from}`).join(", ")}`
          : ""),
    );
    const classes = parseClasses(cfg.classes, data.counts);
    log.info(`${classes.length} classes: ${classes.join(",")}`);
    const base = {
      stage: cfg.stage,
      protocol: protocolName,
      profile,
      stand_in: data.standIn,
      model: cfg.model,
      classes: classes.length,
    };
    return { data, conditions, stages, profile, applied, cfg, classes, base };
  };
  let loaded: ReturnType<typeof loadRun> | null = null;
  /** What {@link load} gave, once it has (for synchronous hooks). */
  let loadedNow: Awaited<ReturnType<typeof loadRun>> | null = null;
  const load = () => (loaded ??= loadRun().then((v) => (loadedNow = v)));

  /** Stage prepare: the data (features and statistics written once), the chosen classes recorded. */
  const prepare = async (): Promise<Record<string, unknown>> => {
    const { data, classes, conditions } = await load();
    const chosen = new Set(classes);
    await writeClassList(runDir, {
      variant: cfg0.model,
      classes,
      counts: data.counts.filter((c) => chosen.has(c.name)),
    });
    // Alone, the preparation also computes the noisy test sets, so the evaluation only reads features.
    if (cfg0.stage === "prepare") { for (const c of conditions) await c.seg(); }
    return {};
  };

  /** Stage train, in this process: the classes of this shard (every class without one). */
  const train = async (): Promise<Record<string, unknown>> => {
    const { data, cfg, classes } = await load();
    // Orchestration keys are fixed in the class runs' config, so re-runs with other ones resume cleanly.
    const classCfg = {
      ...cfg,
      // Resolved, so a finished class's config says what it was trained with (and old runs, made when
      // these keys had these values as defaults, compare equal).
      frame_dim: protocol.frameDim,
      val_fraction: cfg.val_fraction ??
        (protocolName === "genhmm" ? GENHMM_VAL_FRACTION : DEFAULT_SPLIT_OPTIONS.valFraction),
      classes: "",
      shard: "",
      claim: false,
      stage: "train",
      num_jobs: 1,
      retrain: false,
      checkpoint_path: null,
      launcher: "local",
      slurm_args: "",
      slurm_array_tasks: 0,
      slurm_array_limit: 0,
      slurm_check_shared: true,
    } as const;
    if (cfg.checkpoint_path !== null) {
      log.warn(`checkpoint_path is ignored: each class keeps best.ckpt in its own directory`);
    }
    // A claiming process offers itself every class, largest first (the longest jobs start first); it
    // trains those it takes and records each in its task record, for the status command.
    const frames = new Map(data.counts.map((c) => [c.name, c.frames]));
    const mine = cfg.claim
      ? [...classes].sort((a, b) => (frames.get(b) ?? 0) - (frames.get(a) ?? 0) || (a < b ? -1 : 1))
      : shardClasses(classes, data.counts, shard);
    // Claimers started by hand (several machines) each need a record of their own.
    const name = Deno.env.get(TASK_NAME_ENV) ??
      (shard
        ? `${cfg.model}-train-${shard.index}of${shard.count}`
        : cfg.claim
        ? `${cfg.model}-train-${hostName()}-${Deno.pid}`
        : `${cfg.model}-train`);
    const classDir = (c: string) => classRunDir(runDir, cfg.model, c);
    const claimed: string[] = [];
    // A claiming process records itself at its first claim: one that finds nothing to do (a re-run) leaves
    // the record of the launch that trained the classes as it was.
    if (!cfg.claim) await recordTaskStart(runDir, name, mine, classDir, (m) => log.warn(m));
    if (shard && mine.length === 0) {
      log.info(
        `shard ${shard.index}/${shard.count} has no class to train (there are ${classes.length} classes)`,
      );
    }
    return await trainClassStage({
      seg: data.seg,
      runDir,
      backend: opts.backend,
      log,
      cacheBytes: cfg.esn_cache_mb * 2 ** 20,
      cfg: classCfg,
      variant: cfg.model,
      classes: mine,
      retrain: cfg.retrain,
      specFor: classSpec,
      schema: config,
      ...(cfg.claim && {
        claim: {
          launch: Deno.env.get(LAUNCH_ID_ENV) ?? null,
          onClaim: async (c: string) => {
            claimed.push(c);
            await recordTaskStart(runDir, name, claimed, classDir, (m) => log.warn(m));
          },
        },
      }),
    });
  };

  /** Stage eval: every finished class model scores the test set(s); the report. */
  const evaluate = async (): Promise<Record<string, unknown>> => {
    const { data, cfg, classes, conditions, profile, applied } = await load();
    const pending = classes.filter((c) => classRunStatus(classRunDir(runDir, cfg.model, c)) !== "done");
    if ((shard || cfg.claim) && pending.length) {
      log.info(
        `evaluation skipped: ${pending.length} classes (${
          pending.join(",")
        }) are not trained yet (other shards or jobs); ` +
          `when every shard is done: --stage eval --out ${runDir}`,
      );
      return { evaluated: false };
    }
    const testSet = protocolName === "genhmm" ? "all of TEST" : cfg.full_test ? "full" : "core";
    const published = publishedTimitResults({ standIn: data.standIn, protocol: protocolName });
    const tEval = performance.now();
    const ev = await evaluateClassStage({
      seg: data.seg,
      runDir,
      log,
      cacheBytes: cfg.esn_cache_mb * 2 ** 20,
      classes,
      load: (m) => loadModel(m, data.seg.frameDim),
      batchSize: cfg.eval_batch_size ?? cfg.batch_size,
      usePrior: cfg.use_prior,
      samples: { classes: cfg.sample_classes, perClass: cfg.n_samples, seed: cfg.seed },
      title: `${NAME}: phone classification by maximum likelihood`,
      meta: {
        experiment: NAME,
        created: new Date().toISOString(),
        corpus: data.timit.root,
        stand_in: data.standIn,
        protocol: protocolName,
        test_set: testSet,
        profile,
        profile_changed: applied.changed,
        published: published.results,
        nll_space: `normalised features (${data.stats.method})`,
        feature_log_jacobian_per_frame: logScalePerFrame(data.stats),
      },
      conditions,
      appendix: published.markdown,
      notes: [
        `Corpus: ${data.timit.root}${data.standIn ? " (the synthetic stand-in, NOT TIMIT)" : ""}; ` +
        `protocol ${protocolName}; ${testSet} test set; profile ${profile}.`,
        `NLLs are of the normalised features (${data.stats.method}), in nats. For NLLs of the features ` +
        `themselves add ${logScalePerFrame(data.stats).toFixed(4)} nats per frame (sum_d log scale_d, the ` +
        `normalisation's log-Jacobian; models/norm_stats.json).`,
        `Decision rule: ${
          cfg.use_prior
            ? "argmax_k log p(x | k) + log prior_k"
            : "argmax_k log p(x | k) (no prior, as the original)"
        }.`,
        `${classes.length} classes: ${
          cfg.classes === ""
            ? "every class present in training (on real TIMIT: the 39-class protocol)"
            : `chosen with --classes ${cfg.classes}`
        }. Chance: 1/K for uniform guessing; majority: always the most frequent training class.`,
      ],
    });
    const acc = Object.fromEntries([
      ...ev.reports.map((r) => [`accuracy_${r.variant}`, r.accuracy]),
      ...ev.noise.map((r) => [`accuracy_${r.variant}_${r.noise}_${r.snr_db}dB`, r.accuracy]),
    ]);
    return {
      ...acc,
      chance_uniform: ev.reports[0].chance_uniform,
      majority_baseline: ev.reports[0].majority_baseline,
      report: ev.reportJson,
      seconds_eval: secs(tEval),
      // Frames scored in the evaluation: every test frame of the chosen classes under every class model.
      eval_frame_scores: ev.reports.reduce((n, r) => n + r.test_frames * r.num_classes, 0) +
        ev.noise.reduce((n, r) => n + r.test_frames * r.num_classes, 0),
    };
  };

  const inline: Record<StageName, () => Promise<Record<string, unknown>>> = {
    prepare,
    train,
    eval: evaluate,
  };
  // Training in child processes needs the class count first (no more jobs than classes).
  let trainTasks = 1;
  if (!launched && cfg0.num_jobs > 1 && cfg0.stage !== "eval" && cfg0.stage !== "prepare") {
    const { classes } = await load();
    trainTasks = Math.min(cfg0.num_jobs, classes.length);
    log.info(
      `training ${classes.length} classes in ${trainTasks} parallel jobs (child processes), each taking ` +
        `the next class no other job holds, largest first`,
    );
    // The jobs claim classes, so none of them may delete one: --retrain is done here, before they start.
    if (cfg0.retrain && trainTasks > 1) {
      for (const c of classes) {
        const dir = classRunDir(runDir, cfg0.model, c);
        if (exists(dir)) await deleteClassRun(dir, log);
      }
    }
  }
  const plan = planStages(cfg0.stage, { trainTasks, only: launched, claimTrain: true });
  let tTrain = 0;
  const results = await runStagesLocally(plan, {
    runDir,
    variant: cfg0.model,
    log,
    argsOf: taskArgs(cfg0, runDir, explicitKeys, log.quiet),
    inline: (stage) => inline[stage](),
    inlineTask: (stage) =>
      stage.name === "train" && shard
        ? `${cfg0.model}-train-${shard.index}of${shard.count}`
        : taskName(cfg0.model, stage, 1),
    before: (stage) => {
      if (stage.name === "train") tTrain = performance.now();
    },
    during: (stage) => {
      if (!stage.claim || !loadedNow) return undefined;
      const { data, cfg, classes } = loadedNow;
      const counts = data.seg.counts("train");
      return watchClaimedClasses({
        log,
        classes,
        frames: (c) => counts[data.seg.id(c)].frames,
        epochs: cfg.epochs,
        classDir: (c) => classRunDir(runDir, cfg.model, c),
      });
    },
    after: async (stage) => {
      if (stage.name !== "train") return {};
      const { data, cfg, classes, stages } = await load();
      if (stage.claim) {
        // Every job ended well, yet a class no job could take (its lock held by a process elsewhere) is not
        // trained: stop here rather than report on fewer classes.
        const pending = classes.filter((c) => classRunStatus(classRunDir(runDir, cfg.model, c)) !== "done");
        if (pending.length) {
          throw new Error(
            `${pending.length} classes were not trained: ${
              pending.map((c) => `${c} (${lockHolderText(classRunDir(runDir, cfg.model, c))})`).join(", ")
            }. Their locks are held by other processes; when those have ended (or their locks are removed), ` +
              `run the same command again`,
          );
        }
      }
      stages.seconds_train = secs(tTrain);
      stages.train_frame_epochs = await trainedFrameEpochs(runDir, cfg.model, classes, data.seg);
      return {};
    },
  });
  const { base, stages } = await load();
  const { seconds_eval, eval_frame_scores, ...rest } = results;
  return {
    ...base,
    ...rest,
    ...stages,
    ...(seconds_eval !== undefined && { seconds_eval, eval_frame_scores }),
    wall_s: secs(t0),
  };
}

const perClassOnly = (): never => {
  throw new Error(`${NAME} trains one model per class through its run hook; run it with the CLI`);
};

/** The `esn_flow_timit` experiment (see the module doc). */
export const esnFlowTimit: ExperimentSpec<typeof config, SequenceBatch> = {
  name: NAME,
  description: "TIMIT phone classification with one ESN flow per phone class (stand-in corpus without TIMIT)",
  config,
  data: perClassOnly,
  model: perClassOnly,
  optimizer: perClassOnly,
  run,
  check: (cfg, explicitKeys) => void resolve(cfg, explicitKeys),
};

/** Who holds the lock of a class folder, for messages: `process P on HOST since T`, or `no lock`. */
function lockHolderText(dir: string): string {
  const h = lockHolder(dir);
  return h ? `locked by process ${h.pid} on ${h.host} since ${h.started}` : "no lock: not claimed";
}

/**
 * The two stages of a per-class sequence classifier on labelled segments ({@link SegmentClasses}):
 *
 * - {@link trainClassStage}: one runner run per class (see `per_class.ts`), with the ESN states of the
 *   class's segments computed once and shared through an {@link EsnStatePool} (freed after each class);
 * - {@link evaluateClassStage}: every variant found in the run directory classifies the test segments of
 *   the chosen classes (see `evaluate_classes.ts`), then those of every noisy test set (`conditions`);
 *   writes the reports (see `write_report.ts`), with any reports computed elsewhere (`extra`) after them,
 *   and prints the comparison tables.
 *
 * With the two pieces an experiment gives them: {@link classExperiment} (the experiment of one class) and
 * {@link loadDynamicClassModel} (a finished class model, for the evaluation).
 */
import { dataParallelTrainer } from "../parallel/data_parallel.ts";
import type { BackendInfo } from "../backend.ts";
import { type Config, ConfigError, type ConfigSchema } from "../config.ts";
import { type SequenceBatch, SequenceDataset } from "../data/sequences.ts";
import type { DynamicModel } from "../dynamic/dynamic_flow.ts";
import { EchoStateNetwork } from "../esn.ts";
import type { Logger } from "../runner/logger.ts";
import { exists, join } from "../runner/run_dir.ts";
import type { ExperimentSpec, RunContext } from "../runner/types.ts";
import { evaluateVariant } from "./evaluate_classes.ts";
import {
  findClassModels,
  type FoundClassModel,
  loadClassModel,
  modelsDir,
  type PerClassOptions,
  trainPerClass,
} from "./per_class.ts";
import { type NoiseResult, noiseResult, noiseTable } from "./noise_report.ts";
import { comparisonTable, type VariantReport } from "./report.ts";
import type { SegmentClasses } from "./segment_classes.ts";
import { EsnStatePool } from "./shared_states.ts";
import { type VariantFiles, writeClassifierReport } from "./write_report.ts";

export interface StageBase {
  readonly seg: SegmentClasses;
  readonly runDir: string;
  readonly log: Logger;
  /** Memory budget of the shared ESN states in bytes (0: no sharing, no cache). */
  readonly cacheBytes: number;
  /** The backend in use, recorded in every class run's config and summary. */
  readonly backend?: BackendInfo | null;
}

export interface TrainStageOptions<S extends ConfigSchema> extends StageBase {
  /** The config of every class run. */
  readonly cfg: Config<S>;
  readonly variant: string;
  readonly classes: readonly string[];
  readonly retrain: boolean;
  /** See {@link PerClassOptions.retrainHint}. */
  readonly retrainHint?: string;
  /** See {@link PerClassOptions.schema}. */
  readonly schema?: S;
  /** See {@link PerClassOptions.claim}; claiming processes print no progress line (their launcher does). */
  readonly claim?: PerClassOptions<S, SequenceBatch>["claim"];
  /** The experiment of one class: `data` its segments; `attach` to be called with the model it builds. */
  readonly specFor: (
    cls: string,
    data: SequenceDataset,
    attach: (model: DynamicModel) => void,
  ) => ExperimentSpec<S, SequenceBatch>;
}

/**
 * The experiment of one class for {@link TrainStageOptions.specFor}: `base` (name, config, optimizer and any
 * hooks) on the class's `data`, with the model `build` makes, handed to `attach` for the shared ESN states.
 */
export function classExperiment<S extends ConfigSchema>(
  base: Omit<ExperimentSpec<S, SequenceBatch>, "data" | "model">,
  data: SequenceDataset,
  attach: (model: DynamicModel) => void,
  build: (cfg: Config<S>, ctx: RunContext) => DynamicModel,
): ExperimentSpec<S, SequenceBatch> {
  return {
    parallelTrainer: dataParallelTrainer,
    ...base,
    data: () => Promise.resolve(data),
    model(cfg, _data, ctx) {
      const model = build(cfg, ctx);
      attach(model);
      return model;
    },
  };
}

/** Trains the classes; returns how many were trained, resumed and skipped. */
export async function trainClassStage<S extends ConfigSchema>(
  o: TrainStageOptions<S>,
): Promise<Record<string, number>> {
  const pool = o.cacheBytes > 0 ? new EsnStatePool(o.seg.seqs, o.cacheBytes, o.log) : null;
  const trainCounts = o.seg.counts("train");
  const results = await trainPerClass({
    runDir: o.runDir,
    variant: o.variant,
    classes: o.classes,
    cfg: o.cfg,
    retrain: o.retrain,
    retrainHint: o.retrainHint,
    schema: o.schema,
    log: o.log,
    backend: o.backend,
    ...(o.claim ? { claim: o.claim } : { frames: (cls: string) => trainCounts[o.seg.id(cls)].frames }),
    specFor: (cls) => {
      const { data, ids } = o.seg.classData(cls);
      if (ids.val.length === 0) {
        throw new Error(
          `Class "${cls}" has no validation segments, so its best checkpoint cannot be chosen; leave it out with --classes`,
        );
      }
      let d = data;
      if (ids.test.length === 0) {
        o.log.warn(`class "${cls}" has no test segments; its run reports validation segments as "test"`);
        d = new SequenceDataset({ ...data.splits, test: data.splits.val }, data.frameDim);
      }
      return o.specFor(cls, d, (model) => {
        if (pool && model.encoder instanceof EchoStateNetwork) {
          d.useStates(
            pool.provider(model.encoder, {
              train: ids.train,
              val: ids.val,
              test: ids.test.length ? ids.test : undefined,
            }),
          );
        }
      });
    },
    // A class's segments belong to no other class: its states are of no use once it is trained.
    afterClass: () => {
      for (const split of ["train", "val", "test"] as const) pool?.release(split);
    },
  });
  if (pool) {
    o.log.info(
      `ESN states: ${pool.encodedFrames} frames encoded once, ${pool.servedFrames} frame states served to the class models`,
    );
  }
  const count = (a: string) => results.filter((r) => r.action === a).length;
  return { trained: count("trained"), resumed: count("resumed"), skipped: count("skipped") };
}

export interface EvalStageOptions extends StageBase {
  /** The chosen classes; each variant classifies among those it has finished models for. */
  readonly classes: readonly string[];
  readonly load: (m: FoundClassModel) => Promise<DynamicModel>;
  readonly batchSize: number;
  readonly usePrior: boolean;
  readonly samples: { readonly classes: number; readonly perClass: number; readonly seed: number };
  readonly title: string;
  /** Goes to the top of report.json. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Lines at the top of report.md. */
  readonly notes: readonly string[];
  /**
   * Reports computed elsewhere on the same test segments (e.g. a reference classifier with the true
   * class densities), written and compared after the variants found in the run directory.
   */
  readonly extra?: readonly VariantFiles[];
  /**
   * Test sets of changed audio (test noise), each scored by every variant after the clean one; their
   * accuracies go into the report's noise table and picture.
   */
  readonly conditions?: readonly TestCondition[];
  /** Markdown sections appended to report.md (e.g. published results). */
  readonly appendix?: readonly string[];
}

/** A noisy test set: its noise and SNR, and how to get the segments (computed when it is its turn). */
export interface TestCondition {
  readonly noise: string;
  readonly snrDb: number;
  /** Everything that makes its audio (noise source, seed, SNR), for the report's input fingerprint. */
  readonly key: Readonly<Record<string, unknown>>;
  readonly seg: () => Promise<SegmentClasses>;
}

/**
 * A finished class model for {@link EvalStageOptions.load}: its best checkpoint restored (see
 * {@link loadClassModel}) into the model `build` makes from the checkpoint's own config, refused when its
 * frames are not `frameDim` wide; then the ESN's host copies of its weights are re-read (a backend without
 * synchronous reads, WebGPU, cannot do that later).
 */
export async function loadDynamicClassModel<S extends ConfigSchema>(
  m: FoundClassModel,
  spec: Pick<ExperimentSpec<S, SequenceBatch>, "name" | "optimizer">,
  frameDim: number,
  build: (cfg: Config<S>) => DynamicModel,
): Promise<DynamicModel> {
  const model = (await loadClassModel(m.checkpoint, spec, build)).model as DynamicModel;
  if (model.frameDim !== frameDim) {
    model.dispose();
    throw new ConfigError(
      `${m.checkpoint} was trained with frame_dim ${model.frameDim}; the data has ${frameDim}`,
    );
  }
  if (model.encoder instanceof EchoStateNetwork) await model.encoder.syncHost();
  return model;
}

/** Evaluates every variant in the run directory and writes the reports; returns them (then `extra`) and the paths. */
export async function evaluateClassStage(
  o: EvalStageOptions,
): Promise<{ reports: VariantReport[]; noise: NoiseResult[]; reportJson: string; reportMd: string }> {
  const found = findClassModels(o.runDir);
  if (found.size === 0) {
    throw new Error(
      `No finished class models under ${modelsDir(o.runDir)}: train them first (--stage train or all)`,
    );
  }
  const inputs = await evaluationInputs(o, found);
  const reportJson = join(o.runDir, "report.json"), reportMd = join(o.runDir, "report.md");
  const previous = await Deno.readTextFile(reportJson).then(JSON.parse).catch(() => null);
  if (previous?.inputs === inputs && exists(reportMd)) {
    o.log.info(`report up to date (the same models, test set and settings): ${reportMd}`);
    return { reports: previous.variants, noise: previous.noise ?? [], reportJson, reportMd };
  }
  const pool = o.cacheBytes > 0 ? new EsnStatePool({ test: o.seg.seqs.test }, o.cacheBytes, o.log) : null;
  const done: VariantFiles[] = [];
  for (const [variant, models] of found) {
    const have = new Set(models.map((m) => m.cls));
    const classes = o.classes.filter((c) => have.has(c));
    const missing = o.classes.filter((c) => !have.has(c));
    if (classes.length < 2) {
      o.log.warn(
        `${variant}: finished models for ${classes.length} of the chosen classes; need 2 to classify; skipped`,
      );
      continue;
    }
    if (missing.length) {
      o.log.warn(
        `${variant}: no finished model for ${
          missing.join(",")
        }; it classifies among its ${classes.length} classes`,
      );
    }
    done.push(
      await evaluateVariant({
        variant,
        seg: o.seg,
        classes,
        models,
        load: o.load,
        pool,
        batchSize: o.batchSize,
        usePrior: o.usePrior,
        samples: { ...o.samples, dir: join(o.runDir, "samples") },
        log: o.log,
      }),
    );
  }
  if (pool) {
    o.log.info(
      `ESN states of the test split: ${pool.encodedFrames} frames encoded once, ${pool.servedFrames} frame states ` +
        `served to the class models (${pool.reservoirs} reservoir${pool.reservoirs === 1 ? "" : "s"})`,
    );
  }
  if (done.length === 0) {
    throw new Error(`No model variant under ${modelsDir(o.runDir)} has models for 2 chosen classes`);
  }
  pool?.release("test"); // the noisy test sets bring their own states
  const noise: NoiseResult[] = [];
  for (const c of o.conditions ?? []) {
    const seg = await c.seg();
    const noisyPool = o.cacheBytes > 0
      ? new EsnStatePool({ test: seg.seqs.test }, o.cacheBytes, o.log)
      : null;
    for (const { report } of done) {
      const { report: r } = await evaluateVariant({
        variant: report.variant,
        seg,
        classes: report.classes,
        models: found.get(report.variant)!,
        load: o.load,
        pool: noisyPool,
        batchSize: o.batchSize,
        usePrior: o.usePrior,
        samples: { ...o.samples, perClass: 0, dir: join(o.runDir, "samples") },
        log: o.log.withFields({ noise: c.noise, snr_db: c.snrDb }),
      });
      noise.push(noiseResult(r, c.noise, c.snrDb));
      o.log.info(
        `${report.variant}, ${c.noise} noise at ${c.snrDb} dB: accuracy ${(100 * r.accuracy).toFixed(1)}% ` +
          `(clean ${(100 * report.accuracy).toFixed(1)}%)`,
      );
    }
  }
  const all = [...done, ...(o.extra ?? [])];
  const written = await writeClassifierReport(o.runDir, o.title, { ...o.meta, inputs }, o.notes, all, {
    noise,
    appendix: o.appendix,
  });
  o.log.info(`\n${comparisonTable(all.map((d) => d.report))}`);
  if (noise.length) o.log.info(`\n${noiseTable(noise, done.map((d) => d.report))}`);
  o.log.info(`report: ${written.markdown}, ${written.json}`);
  return { reports: all.map((d) => d.report), noise, reportJson: written.json, reportMd: written.markdown };
}

/**
 * A fingerprint of everything a report depends on: every finished model (its best checkpoint's size and
 * time), the test segments (a SHA-256 of their frames, lengths and labels), the chosen classes, decision
 * rule, pictures, title and notes, the noisy test sets, and any reports given from elsewhere.
 */
async function evaluationInputs(o: EvalStageOptions, found: Map<string, FoundClassModel[]>): Promise<string> {
  const test = o.seg.sets.test;
  const models = [];
  for (const [variant, list] of found) {
    for (const m of list) {
      const st = await Deno.stat(m.checkpoint);
      models.push([variant, m.cls, st.size, st.mtime?.getTime() ?? null]);
    }
  }
  const parts = [test.frames, test.lengths, test.labels].map((a) =>
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  );
  const segments = await sha256(parts);
  const text = JSON.stringify({
    models,
    segments,
    classes: o.classes,
    usePrior: o.usePrior,
    samples: o.samples,
    title: o.title,
    notes: o.notes,
    conditions: (o.conditions ?? []).map((c) => c.key),
    extra: (o.extra ?? []).map((e) => [e.report.variant, e.report.accuracy, e.report.test_nll_per_frame]),
  });
  return await sha256([new TextEncoder().encode(text)]);
}

async function sha256(parts: readonly Uint8Array[]): Promise<string> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const d = await crypto.subtle.digest("SHA-256", all);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

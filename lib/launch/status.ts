/**
 * The state of every class of a per-class run directory, from what the run's files and Slurm say:
 *
 * - `finished`: the class's summary.json and best.ckpt exist;
 * - `running`: its folder's lock is held by a live process (this host: `kill -0`; another host: its Slurm
 *   task is RUNNING);
 * - `pending`: its Slurm task is queued, or running and training other classes first;
 * - `failed`: its task failed while training it (a failure record, `records.ts`, or a Slurm state such
 *   as FAILED, TIMEOUT, OUT_OF_MEMORY);
 * - `interrupted`: it has a last.ckpt and none of the above (a run killed, a task cancelled): running the
 *   command again resumes it;
 * - `not started`.
 *
 * Each class comes with its epochs, best validation NLL (nats per segment and per frame, from its summary or,
 * while it trains, its metrics.jsonl), its task, Slurm job and log. `formatStatus` prints a table for
 * people, `statusJsonLines` one JSON object per line (`status_format.ts`).
 */
import { assignShards } from "../classify/classes.ts";
import { classRunDir, classRunStatus, modelsDir } from "../classify/per_class.ts";
import { exists, join } from "../runner/run_dir.ts";
import { hostName, lockHolder, processAlive } from "../runner/run_lock.ts";
import { launchDir } from "./plan.ts";
import {
  classesPath,
  type ClassList,
  readJson,
  readTaskExit,
  readTaskStarts,
  type TaskExit,
  type TaskStart,
} from "./records.ts";
import { ACTIVE_STATES, type JobState, jobStates, latestSubmission, type Submission } from "./slurm.ts";

export const CLASS_STATES = [
  "finished",
  "running",
  "pending",
  "failed",
  "interrupted",
  "not started",
] as const;
export type ClassState = (typeof CLASS_STATES)[number];

export interface ClassStatus {
  readonly variant: string;
  readonly class: string;
  readonly state: ClassState;
  /** Epochs done (the last finished epoch), and of how many. */
  readonly epoch: number | null;
  readonly epochs: number | null;
  readonly best_val_nll: number | null;
  readonly best_val_nll_per_frame: number | null;
  /** The task that trains it (e.g. `dyn_esn_flow-train-3of14`), its Slurm job (`42_3`), its log. */
  readonly task: string | null;
  readonly job: string | null;
  readonly log: string | null;
  readonly exit_code: number | null;
  /** A word on the state: the Slurm reason, the failure, the lock holder. */
  readonly detail: string | null;
}

export interface JobStatus {
  readonly stage: string;
  readonly job: string;
  /** Tasks by state, e.g. `{ COMPLETED: 13, FAILED: 1 }`; empty when squeue no longer knows the job. */
  readonly states: Readonly<Record<string, number>>;
  readonly reason: string | null;
  readonly log: string;
}

export interface RunStatus {
  readonly run_dir: string;
  readonly experiment: string | null;
  readonly classes: readonly ClassStatus[];
  readonly counts: Readonly<Record<ClassState, number>>;
  readonly submission: string | null;
  readonly jobs: readonly JobStatus[];
  /** Stages whose task failed, with the exit code and log. */
  readonly failed_stages: readonly {
    stage: string;
    exit_code: number | null;
    log: string | null;
    job: string | null;
  }[];
  readonly report: { readonly path: string; readonly accuracy: Readonly<Record<string, number>> } | null;
  /** What the NLLs are densities of: `normalised features (<method>)` when the run normalises, else null. */
  readonly nll_space: string | null;
}

/** Slurm states of a task that ended without success. */
const FAILED_STATES = new Set([
  "FAILED",
  "TIMEOUT",
  "OUT_OF_MEMORY",
  "NODE_FAIL",
  "BOOT_FAIL",
  "DEADLINE",
  "PREEMPTED",
  "CANCELLED",
]);

const listDirs = (dir: string): string[] => {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  } catch {
    return [];
  }
};

/** Epochs done and the best validation NLL so far, from a class folder's metrics.jsonl. */
export function progressOf(
  dir: string,
): { epoch: number | null; nll: number | null; perFrame: number | null } {
  let epoch: number | null = null, nll: number | null = null, perFrame: number | null = null;
  let text = "";
  try {
    text = Deno.readTextFileSync(join(dir, "metrics.jsonl"));
  } catch {
    return { epoch, nll, perFrame };
  }
  for (const line of text.split("\n")) {
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    if (r.kind === "epoch" && typeof r.epoch === "number") epoch = Math.max(epoch ?? 0, r.epoch);
    if (
      r.kind === "eval" && r.split === "val" && typeof r.nll === "number" && (nll === null || r.nll < nll)
    ) {
      nll = r.nll;
      perFrame = typeof r.nll_per_frame === "number" ? r.nll_per_frame : null;
    }
  }
  return { epoch, nll, perFrame };
}

/** The status of the run in `runDir` (see the module doc). */
export async function runStatus(runDir: string): Promise<RunStatus> {
  if (!exists(runDir)) throw new Error(`No run directory ${runDir}`);
  const saved = readJson<{ experiment?: string; config?: Record<string, unknown> }>(
    join(runDir, "config.json"),
  );
  const variants = new Set<string>(listDirs(modelsDir(runDir)));
  const lists = new Map<string, ClassList>();
  if (exists(launchDir(runDir))) {
    for (const e of Deno.readDirSync(launchDir(runDir))) {
      const m = /^classes_(.+)\.json$/.exec(e.name);
      const list = m ? readJson<ClassList>(classesPath(runDir, m[1])) : null;
      if (m && list) {
        lists.set(m[1], list);
        variants.add(m[1]);
      }
    }
  }
  if (variants.size === 0 && typeof saved?.config?.model === "string") variants.add(saved.config.model);
  if (variants.size === 0 && !saved) {
    throw new Error(`${runDir} is not a run directory (no config.json, no models/, no launch/)`);
  }
  const starts = readTaskStarts(runDir);
  const sub = latestSubmission(runDir);
  const states = new Map<string, JobState[] | null>();
  for (const s of sub?.stages ?? []) states.set(s.job, await jobStates(s.job));
  const me = hostName();

  const classes: ClassStatus[] = [];
  for (const variant of [...variants].sort()) {
    const list = lists.get(variant);
    const names = [...(list?.classes ?? [])];
    for (const d of listDirs(join(modelsDir(runDir), variant))) if (!names.includes(d)) names.push(d);
    const planned = plannedTasks(sub, variant, list);
    // The latest start record naming each class.
    const startOf = new Map<string, TaskStart>();
    for (const rec of starts.values()) {
      if (!rec.task.startsWith(`${variant}-train`)) continue;
      for (const c of rec.classes) {
        const prev = startOf.get(c);
        if (!prev || prev.started < rec.started) startOf.set(c, rec);
      }
    }
    for (const cls of names) {
      classes.push(classStatus(runDir, variant, cls, startOf.get(cls) ?? null, planned.get(cls) ?? null, {
        states,
        me,
        isFirstUnfinished: (rec) =>
          rec.classes.find((c) => classRunStatus(classRunDir(runDir, variant, c)) !== "done") === cls,
        sub,
      }));
    }
  }
  const counts = Object.fromEntries(
    CLASS_STATES.map((s) => [s, classes.filter((c) => c.state === s).length]),
  ) as Record<
    ClassState,
    number
  >;
  const jobs: JobStatus[] = (sub?.stages ?? []).map((s) => {
    const st = states.get(s.job) ?? null;
    const byState: Record<string, number> = {};
    for (const j of st ?? []) byState[j.state] = (byState[j.state] ?? 0) + 1;
    const reason = st?.find((j) => j.reason && j.reason !== "None")?.reason ?? null;
    return { stage: s.name, job: s.job, states: byState, reason, log: s.log };
  });
  const failedStages = [];
  for (const v of variants) {
    for (const stage of ["prepare", "eval"]) {
      const name = `${v}-${stage}`;
      const exit = readTaskExit(runDir, name);
      const subStage = sub?.variant === v ? sub.stages.find((s) => s.name === stage) : undefined;
      const slurmFailed = subStage && (states.get(subStage.job) ?? []).some((j) => j.state === "FAILED");
      if (exit || slurmFailed) {
        failedStages.push({
          stage,
          exit_code: exit?.exit_code ?? null,
          log: subStage?.log ?? null,
          job: subStage?.job ?? exit?.job ?? null,
        });
      }
    }
  }
  const rep = readJson<{ variants?: { variant: string; accuracy: number }[] }>(join(runDir, "report.json"));
  const report = rep?.variants
    ? {
      path: join(runDir, "report.md"),
      accuracy: Object.fromEntries(rep.variants.map((v) => [v.variant, v.accuracy])),
    }
    : null;
  return {
    run_dir: runDir,
    experiment: saved?.experiment ?? null,
    classes,
    counts,
    submission: sub?.id ?? null,
    jobs,
    failed_stages: failedStages,
    report,
    nll_space: normStatsMethod(runDir),
  };
}

/** A planned Slurm train task of a class: its record name, array task id, log (before it starts). */
interface Planned {
  readonly task: string;
  readonly job: string;
  readonly arrayJob: string;
  readonly log: string;
}

/** Which task of the latest submission trains each class (the shards `classes.ts` assigns). */
function plannedTasks(
  sub: Submission | null,
  variant: string,
  list: ClassList | undefined,
): Map<string, Planned> {
  const out = new Map<string, Planned>();
  const train = sub?.variant === variant ? sub.stages.find((s) => s.name === "train") : undefined;
  if (!train || !list) return out;
  assignShards(list.classes, list.counts, train.tasks).forEach((shard, i) => {
    for (const c of shard) {
      out.set(c, {
        task: `${variant}-train-${i + 1}of${train.tasks}`,
        job: `${train.job}_${i + 1}`,
        arrayJob: train.job,
        log: train.log.replace("%a", String(i + 1)),
      });
    }
  });
  return out;
}

function classStatus(
  runDir: string,
  variant: string,
  cls: string,
  start: TaskStart | null,
  planned: Planned | null,
  o: {
    states: Map<string, JobState[] | null>;
    me: string;
    isFirstUnfinished: (rec: TaskStart) => boolean;
    sub: Submission | null;
  },
): ClassStatus {
  const dir = classRunDir(runDir, variant, cls);
  const run = classRunStatus(dir);
  const cfg = readJson<{ config?: { epochs?: number } }>(join(dir, "config.json"));
  const progress = progressOf(dir);
  const summary = run === "done" ? readJson<Record<string, unknown>>(join(dir, "summary.json")) : null;
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  // The task of the latest submission when it is the one that trains the class (or has not started yet).
  const task = planned && (!start || start.task === planned.task) ? planned.task : start?.task ?? null;
  const slurmId = planned && task === planned.task
    ? planned.job
    : start?.slurm?.array_task ?? start?.slurm?.job_id ?? null;
  const arrayStates = planned && task === planned.task ? o.states.get(planned.arrayJob) ?? null : null;
  const slurm = arrayStates?.find((j) => j.id === slurmId) ?? null;
  const log = (planned && task === planned.task ? planned.log : null) ?? start?.log ?? null;
  const exit: TaskExit | null = task ? readTaskExit(runDir, task) : null;
  const base = {
    variant,
    class: cls,
    epoch: num(summary?.epochs) ?? progress.epoch,
    epochs: num(cfg?.config?.epochs),
    best_val_nll: num(summary?.val_nll) ?? progress.nll,
    best_val_nll_per_frame: num(summary?.val_nll_per_frame) ?? progress.perFrame,
    task,
    job: slurmId,
    log,
    exit_code: null,
    detail: null,
  };
  if (run === "done") return { ...base, state: "finished" };
  const lock = lockHolder(dir);
  if (lock) {
    const alive = lock.host === o.me
      ? processAlive(lock.pid) !== false
      : slurm
      ? slurm.state === "RUNNING"
      : true;
    if (alive) return { ...base, state: "running", detail: `process ${lock.pid} on ${lock.host}` };
  }
  if (slurm && ACTIVE_STATES.has(slurm.state)) {
    const detail = slurm.state === "RUNNING"
      ? `its task ${slurm.id} trains other classes first`
      : `Slurm task ${slurm.id} ${slurm.state}${
        slurm.reason && slurm.reason !== "None" ? ` (${slurm.reason})` : ""
      }`;
    return { ...base, state: "pending", detail };
  }
  const taskFailed = exit !== null || (slurm !== null && FAILED_STATES.has(slurm.state));
  const started = start !== null && start.task === task;
  if (
    taskFailed && (!started || o.isFirstUnfinished(start!)) && !(slurm?.reason === "DependencyNeverSatisfied")
  ) {
    const error = exit?.error ?? lastError(log);
    const how = (exit
      ? `exited with code ${exit.exit_code} on ${exit.host} at ${exit.time}`
      : `Slurm state ${slurm!.state}`) +
      (error ? ` (${error})` : "");
    return { ...base, state: "failed", exit_code: exit?.exit_code ?? null, detail: `task ${task} ${how}` };
  }
  if (run === "partial") {
    return {
      ...base,
      state: "interrupted",
      detail: lock ? `stale lock of ${lock.pid} on ${lock.host}` : null,
    };
  }
  return { ...base, state: "not started" };
}

/** The last `error: ...` line of a log (the failure's message), or null. */
function lastError(log: string | null): string | null {
  if (!log) return null;
  try {
    const lines = Deno.readTextFileSync(log).split("\n");
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = /^(?:\[[^\]]*\] )?error: (.*)$/.exec(lines[i].trim());
      if (m) return m[1];
    }
  } catch {
    // no log
  }
  return null;
}

/** `normalised features (<method>)` from the run's `models/norm_stats.json`, or null without one. */
function normStatsMethod(runDir: string): string | null {
  const stats = readJson<{ method?: string }>(join(modelsDir(runDir), "norm_stats.json"));
  return typeof stats?.method === "string" ? `normalised features (${stats.method})` : null;
}

/**
 * What the tasks of a launched run record in `<run dir>/launch/` (read back by `status.ts`):
 *
 * - `classes_<variant>.json`: the chosen classes and their training sizes (the preparation writes it);
 * - `tasks/<task>.json`: a task started (its classes, host, process, Slurm job, log), written by the task;
 * - `tasks/<task>.exit.json`: a task failed (exit code, host, time), written by whoever saw it end: the
 *   Slurm job script around the task, or the local launcher; a task that starts removes its old one.
 *
 * Every file is written atomically (temporary file, then rename). Each task writes only its own records,
 * so tasks on several nodes never write the same file.
 */
import type { ClassCount } from "../classify/classes.ts";
import { exists, join, writeJsonAtomic } from "../runner/run_dir.ts";
import { hostName, LOCK_FILE, lockHolder } from "../runner/run_lock.ts";
import { launchDir } from "./plan.ts";

/** Environment variable the launchers set: the file a task's output goes to. */
export const TASK_LOG_ENV = "ECHOFLOW_TASK_LOG";
/** Identifies one start of a stage's child processes by the local launcher (the same in all of them). */
export const LAUNCH_ID_ENV = "ECHOFLOW_LAUNCH_ID";
/** The environment variable that gives a task started by the local launcher its name (`plan.ts` taskName). */
export const TASK_NAME_ENV = "ECHOFLOW_TASK_NAME";

/** The Slurm job a process runs in (from Slurm's environment), or null outside Slurm. */
export interface SlurmJobEnv {
  /** `SLURM_JOB_ID`: the same across requeues of one job. */
  readonly job_id: string;
  /** `<array job>_<task>` for an array task. */
  readonly array_task: string | null;
  readonly restart_count: number;
}

export function slurmJobEnv(
  env: (k: string) => string | undefined = (k) => Deno.env.get(k),
): SlurmJobEnv | null {
  const id = env("SLURM_JOB_ID");
  if (!id) return null;
  const aj = env("SLURM_ARRAY_JOB_ID"), at = env("SLURM_ARRAY_TASK_ID");
  return {
    job_id: id,
    array_task: aj && at ? `${aj}_${at}` : null,
    restart_count: Number(env("SLURM_RESTART_COUNT") ?? 0) || 0,
  };
}

/** A task's start record. */
export interface TaskStart {
  readonly task: string;
  readonly classes: readonly string[];
  readonly host: string;
  readonly pid: number;
  readonly started: string;
  readonly slurm: SlurmJobEnv | null;
  /** Its log file, or null when its output went to the terminal of the command that ran it. */
  readonly log: string | null;
}

/** A task's failure record. */
export interface TaskExit {
  readonly exit_code: number;
  readonly host: string;
  readonly time: string;
  readonly job?: string | null;
  readonly error?: string | null;
}

const tasksDir = (runDir: string) => join(launchDir(runDir), "tasks");
export const startPath = (runDir: string, task: string): string => join(tasksDir(runDir), `${task}.json`);
export const exitPath = (runDir: string, task: string): string => join(tasksDir(runDir), `${task}.exit.json`);
export const classesPath = (runDir: string, variant: string): string =>
  join(launchDir(runDir), `classes_${variant}.json`);

/** The classes file the preparation writes. */
export interface ClassList {
  readonly variant: string;
  readonly classes: readonly string[];
  readonly counts: readonly ClassCount[];
}

export async function writeClassList(runDir: string, list: ClassList): Promise<void> {
  await Deno.mkdir(launchDir(runDir), { recursive: true });
  await writeJsonAtomic(classesPath(runDir, list.variant), list);
}

/** Reads a JSON file; null when it is missing or not JSON (a record being replaced is never half-read). */
export function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as T;
  } catch {
    return null;
  }
}

/**
 * Records that task `task` starts training `classes` (removing its failure record of an earlier attempt).
 * Before that, when the previous start record is of an earlier run of this same Slurm job (a requeue:
 * Slurm keeps the job id and ended that run before it started this one), the class locks that run held are
 * removed: on another node its process cannot be seen, so the lock would never be judged stale.
 */
export async function recordTaskStart(
  runDir: string,
  task: string,
  classes: readonly string[],
  classDir: (cls: string) => string,
  warn: (msg: string) => void,
): Promise<TaskStart> {
  await Deno.mkdir(tasksDir(runDir), { recursive: true });
  const slurm = slurmJobEnv();
  const rec: TaskStart = {
    task,
    classes,
    host: hostName(),
    pid: Deno.pid,
    started: new Date().toISOString(),
    slurm,
    log: Deno.env.get(TASK_LOG_ENV) ?? null,
  };
  const before = readJson<TaskStart>(startPath(runDir, task));
  if (before && slurm && before.slurm?.job_id === slurm.job_id) {
    for (const m of releaseEarlierRun(before, classes.map(classDir))) warn(m);
  }
  await Deno.remove(exitPath(runDir, task)).catch(() => {});
  await writeJsonAtomic(startPath(runDir, task), rec);
  return rec;
}

/**
 * Removes the locks in `dirs` held by the process of `earlier` (an earlier run of the current Slurm job);
 * returns a message for each.
 */
export function releaseEarlierRun(earlier: TaskStart, dirs: readonly string[]): string[] {
  const out: string[] = [];
  if (earlier.host === hostName() && earlier.pid === Deno.pid) return out;
  for (const dir of dirs) {
    const path = join(dir, LOCK_FILE);
    const holder = lockHolder(dir);
    if (!holder || holder.pid !== earlier.pid || holder.host !== earlier.host) continue;
    try {
      Deno.removeSync(path);
      out.push(
        `removed the lock ${path} of process ${holder.pid} on ${holder.host}: an earlier run of this Slurm ` +
          `job (${earlier.slurm?.job_id}, requeued), which Slurm ended before starting this one`,
      );
    } catch {
      // Gone already.
    }
  }
  return out;
}

/** Records that `task` failed with `code` (the local launcher and failing in-process stages). */
export async function recordTaskExit(
  runDir: string,
  task: string,
  code: number,
  error?: string,
): Promise<void> {
  await Deno.mkdir(tasksDir(runDir), { recursive: true });
  const rec: TaskExit = {
    exit_code: code,
    host: hostName(),
    time: new Date().toISOString(),
    job: slurmJobEnv()?.job_id ?? null,
    error: error ?? null,
  };
  await writeJsonAtomic(exitPath(runDir, task), rec);
}

/** Every start record in the run, by task name. */
export function readTaskStarts(runDir: string): Map<string, TaskStart> {
  const out = new Map<string, TaskStart>();
  const dir = tasksDir(runDir);
  if (!exists(dir)) return out;
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile || !e.name.endsWith(".json") || e.name.endsWith(".exit.json")) continue;
    const rec = readJson<TaskStart>(join(dir, e.name));
    if (rec?.task) out.set(rec.task, rec);
  }
  return out;
}

/** The failure record of `task`, if any. */
export const readTaskExit = (runDir: string, task: string): TaskExit | null =>
  readJson<TaskExit>(exitPath(runDir, task));

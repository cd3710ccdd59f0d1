/**
 * Child processes of the echoflow CLI on this machine (the local launcher's tasks, `lib/launch/local.ts`):
 * each is `Deno.execPath()` running `main.ts` with the permissions of `deno task run` and its own
 * arguments (the parent's config plus the task's `--stage` and `--shard`), writing into the same run
 * directory. Children's stderr lines are forwarded prefixed with their label and, when the job names a
 * log file, appended to it; the parent waits for all and fails, naming the jobs, if any child fails.
 */
import type { Config, ConfigSchema, ConfigValue } from "../config.ts";
import { CHILD_JOB_ENV, RUN_NAME_FLAG, RUN_PERMISSIONS } from "../cli/args.ts";

/** The echoflow entry point and its config file (for the import map). */
export const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;
export const DENO_JSON = new URL("../../deno.json", import.meta.url).pathname;

/**
 * The command line of an echoflow process with `args` (after `main.ts`): this Deno, `run`, the permissions
 * of `deno task run`, the repository's deno.json. The Slurm job scripts run the same command.
 */
export function cliCommand(args: readonly string[]): string[] {
  return [Deno.execPath(), "run", ...RUN_PERMISSIONS, "--config", DENO_JSON, MAIN_TS, ...args];
}

/**
 * Environment a launched task gets beside its own: the child-job marker (the parent owns
 * `<run dir>/config.json`, see lib/cli/main.ts) and glibc's allocation thresholds of `deno task run`.
 */
export function taskEnv(): Record<string, string> {
  const env: Record<string, string> = { [CHILD_JOB_ENV]: "1" };
  for (const k of ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/**
 * `--key value` for every key of `cfg` that differs from its schema default or is in `explicit` (so a child
 * resolves the same config and applies a profile to the same keys), with `set` replacing or adding values.
 * Null is written `none`.
 */
export function configArgs<S extends ConfigSchema>(
  schema: S,
  cfg: Config<S>,
  set: Readonly<Record<string, ConfigValue>> = {},
  explicit: ReadonlySet<string> = new Set(),
): string[] {
  const all: Record<string, ConfigValue> = { ...cfg, ...set };
  const args: string[] = [];
  for (const [key, value] of Object.entries(all)) {
    if (!Object.hasOwn(schema, key)) throw new Error(`configArgs: unknown key "${key}"`);
    if (!Object.hasOwn(set, key) && !explicit.has(key) && value === schema[key].default) continue;
    args.push(`--${key === "name" ? RUN_NAME_FLAG : key}`, value === null ? "none" : String(value));
  }
  return args;
}

/** What one child needs: its label (e.g. `shard 2/4`), its CLI arguments (after `main.ts`), its log. */
export interface ChildJob {
  readonly label: string;
  readonly args: readonly string[];
  /** A file the child's output is appended to (also set as its `env`'s ECHOFLOW_TASK_LOG by the caller). */
  readonly log?: string;
  /** Environment beside {@link taskEnv}'s. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A child that exited non-zero. */
export interface FailedJob {
  readonly job: ChildJob;
  readonly code: number;
}

/** Thrown by {@link runChildJobs} when children failed; `failed` says which. */
export class ChildJobsError extends Error {
  override name = "ChildJobsError";
  constructor(readonly failed: readonly FailedJob[]) {
    super(
      `Parallel training failed: ${
        failed.map((f) => `${f.job.label} exited with code ${f.code}`).join("; ")
      } ` +
        `(see the lines prefixed with their label above${
          failed.some((f) => f.job.log) ? `, and their logs: ${failed.map((f) => f.job.log).join(", ")}` : ""
        })`,
    );
  }
}

/** Forwards a child's output line by line, each prefixed with `[label] `; `also` gets each raw line. */
async function forward(
  stream: ReadableStream<Uint8Array>,
  label: string,
  write: (s: string) => void,
  also: ((line: string) => void) | null,
) {
  let rest = "";
  const emit = (l: string) => {
    also?.(l + "\n");
    if (l.trim() !== "") write(`[${label}] ${l}\n`);
  };
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split(/\r|\n/);
    rest = lines.pop()!;
    for (const l of lines) emit(l);
  }
  if (rest !== "") emit(rest);
}

/**
 * Runs the jobs as children (see {@link cliCommand}), at most `maxRunning` at once (0: all at once), and
 * waits for all. Throws {@link ChildJobsError} when any exits non-zero, naming each and its exit code.
 */
export async function runChildJobs(
  jobs: readonly ChildJob[],
  write: (s: string) => void = (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
  maxRunning = 0,
): Promise<void> {
  const runOne = async (job: ChildJob): Promise<FailedJob | null> => {
    const logFile = job.log ? await Deno.open(job.log, { append: true, create: true }) : null;
    const enc = new TextEncoder();
    try {
      const [cmd, ...args] = cliCommand(job.args);
      const child = new Deno.Command(cmd, {
        args,
        stdin: "null",
        stdout: "null",
        env: { ...taskEnv(), ...job.env },
        stderr: "piped",
      }).spawn();
      const also = logFile ? (l: string) => void logFile.writeSync(enc.encode(l)) : null;
      const [status] = await Promise.all([child.status, forward(child.stderr, job.label, write, also)]);
      return status.code === 0 ? null : { job, code: status.code };
    } finally {
      logFile?.close();
    }
  };
  const limit = maxRunning > 0 ? Math.min(maxRunning, jobs.length) : jobs.length;
  const results: (FailedJob | null)[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await runOne(jobs[i]);
    }
  }));
  const failed = results.filter((r): r is FailedJob => r !== null);
  if (failed.length) throw new ChildJobsError(failed);
}

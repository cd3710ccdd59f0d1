/**
 * The batch script of one stage of a plan (`plan.ts`) for `sbatch`: a bash script that
 *
 * 1. appends a header line to its log (task, Slurm job, restart count, node, time): a requeued or
 *    resubmitted task appends to the same log;
 * 2. checks that its node sees what it needs (the submission's record in the run directory, the echoflow
 *    checkout, the Deno executable, and for the train and eval stages the feature cache), and stops with an
 *    error naming what is missing;
 * 3. runs the task (the echoflow CLI, as the local launcher's children do) and, when it fails, records its
 *    exit code in `<run dir>/launch/tasks/<task>.exit.json` for the status command, and exits with it.
 *
 * Array tasks get `--shard <array index>/<n>`. `#SBATCH` lines fix the job name, log, requeueing
 * (`--requeue`: a task preempted or requeued by `scontrol requeue` runs again and resumes its class from
 * its last.ckpt) and the array; dependencies and the user's options are given on the sbatch command line.
 */
import { type Stage, STAGE_DOES, taskLog, taskName, taskSettings } from "./plan.ts";
import { exitPath, TASK_LOG_ENV } from "./records.ts";
import { shellQuote } from "./shell.ts";
import type { ConfigValue } from "../config.ts";

/** Stands for the array index in task arguments and paths until the script renders them. */
export const TASK_INDEX = "@TASK@";

/** `s` as a bash word in which {@link TASK_INDEX} expands to `$task`. */
export function renderWord(s: string): string {
  if (!s.includes(TASK_INDEX)) return shellQuote(s);
  return s.split(TASK_INDEX).map((part) => (part === "" ? "" : shellQuote(part))).join('"${task}"');
}

export interface ScriptOptions {
  readonly stage: Stage;
  readonly runDir: string;
  readonly variant: string;
  /** Submission id, for the header. */
  readonly submission: string;
  /** The job's name in Slurm. */
  readonly jobName: string;
  /** The working directory of the job (the submitting command's). */
  readonly cwd: string;
  /** The full command line of a task with these settings (see {@link taskSettings}). */
  readonly commandOf: (settings: Readonly<Record<string, ConfigValue>>) => string[];
  /** Files the node must see, with what they are. */
  readonly mustSee: readonly { what: string; path: string }[];
  /** Environment the task gets. */
  readonly env: Readonly<Record<string, string>>;
}

/** Command words grouped for reading: the program and `run`, then each option with its value. */
function commandLines(words: readonly string[]): string[] {
  const lines = [words.slice(0, 2).join(" ")];
  for (let i = 2; i < words.length; i++) {
    const pair = words[i].startsWith("--") && i + 1 < words.length && !words[i + 1].startsWith("--");
    lines.push(pair ? `${words[i]} ${words[++i]}` : words[i]);
  }
  return lines;
}

/** The batch script (see the module doc). */
export function renderScript(o: ScriptOptions): string {
  const s = o.stage;
  const index = s.sharded ? TASK_INDEX : 1;
  const name = taskName(o.variant, s, index);
  const log = taskLog(o.runDir, name);
  // Slurm expands %-patterns in --output (%% is a literal %); %a is the array index.
  const slurmLog = log.replaceAll("%", "%%").replace(TASK_INDEX, "%a");
  const exitFile = exitPath(o.runDir, name);
  const directives = [
    `--job-name=${o.jobName}`,
    `--output=${slurmLog}`,
    `--open-mode=append`,
    `--requeue`,
    `--chdir=${o.cwd}`,
    ...(s.sharded ? [`--array=1-${s.tasks}${s.maxRunning > 0 ? `%${s.maxRunning}` : ""}`] : []),
  ];
  const env = { ...o.env, [TASK_LOG_ENV]: log };
  const checks = o.mustSee.map((m) => `check ${shellQuote(m.path)} ${shellQuote(m.what)}`);
  const what = s.sharded ? `${s.name} task \${task}/${s.tasks}` : s.name;
  return [
    "#!/bin/bash",
    // Quoted unless plain: sbatch reads #SBATCH lines as shell words (a bare # would start a comment).
    ...directives.map((d) => `#SBATCH ${shellQuote(d)}`),
    `# echoflow, stage ${s.name} (${STAGE_DOES[s.name]}) of the run ${o.runDir}, submission ${o.submission}.`,
    "# Written by echoflow's Slurm launcher (lib/launch/slurm_script.ts); dependencies and the user's options",
    "# are on the sbatch command line (see the submission's submission.json).",
    "set -u",
    `task=${s.sharded ? '"${SLURM_ARRAY_TASK_ID:?not an array task}"' : "1"}`,
    `echo "=== echoflow ${what}: Slurm job \${SLURM_JOB_ID:-?}${
      s.sharded ? " (array task ${SLURM_ARRAY_JOB_ID:-?}_${task})" : ""
    }, restart \${SLURM_RESTART_COUNT:-0}, node $(hostname), $(date -u +%FT%TZ)"`,
    "missing=''",
    'check() { [ -e "$1" ] || missing="$missing $1 ($2);"; }',
    ...checks,
    'if [ -n "$missing" ]; then',
    `  echo "error: this node ($(hostname)) does not see:$missing the run directory, the corpus, the feature" \\`,
    '    "cache and the echoflow checkout must be on storage every node mounts at the same path, and Deno" \\',
    '    "installed at the same path" >&2',
    "  exit 1",
    "fi",
    ...Object.entries(env).map(([k, v]) => `export ${k}=${renderWord(v)}`),
    commandLines(o.commandOf(taskSettings(s, index)).map(renderWord)).join(" \\\n  "),
    "rc=$?",
    'if [ "$rc" -ne 0 ]; then',
    `  exit_file=${renderWord(exitFile)}`,
    `  printf '{"exit_code": %d, "host": "%s", "time": "%s", "job": "%s"}\\n' "$rc" "$(hostname)" \\`,
    '    "$(date -u +%FT%TZ)" "${SLURM_JOB_ID:-}" > "$exit_file.tmp-$$" && mv -f "$exit_file.tmp-$$" "$exit_file"',
    `  echo "=== echoflow ${what} failed with exit code $rc"`,
    "fi",
    'exit "$rc"',
    "",
  ].join("\n");
}

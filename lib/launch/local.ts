/**
 * The local launcher: runs the stages of a plan (`plan.ts`) on this machine, one after another, each only
 * when the one before it succeeded. A stage of one unsharded task runs in this process (its `inline`
 * handler: no process start, the data already loaded stays in memory); a sharded stage runs its tasks as
 * child processes of the echoflow CLI (`lib/classify/jobs.ts`), at most `maxRunning` at once, each with
 * its log in `<run dir>/logs/`. A task that fails is recorded (`records.ts`) for the status command.
 */
import { ChildJobsError, runChildJobs } from "../classify/jobs.ts";
import type { ConfigValue } from "../config.ts";
import type { Logger } from "../runner/logger.ts";
import { logsDir, type Stage, type StageName, taskLabel, taskLog, taskName, taskSettings } from "./plan.ts";
import { LAUNCH_ID_ENV, recordTaskExit, TASK_LOG_ENV, TASK_NAME_ENV } from "./records.ts";

export interface LocalOptions {
  readonly runDir: string;
  readonly variant: string;
  readonly log: Logger;
  /** The CLI arguments of a task with these settings (see {@link taskSettings}). */
  readonly argsOf: (settings: Readonly<Record<string, ConfigValue>>) => string[];
  /** Runs a stage of one task in this process; returns what goes into the run's summary. */
  readonly inline: (stage: StageName) => Promise<Record<string, unknown>>;
  /** The record name of an inline stage's task (default: {@link taskName} of its one task). */
  readonly inlineTask?: (stage: Stage) => string;
  /** Called before each stage starts. */
  readonly before?: (stage: Stage) => void;
  /** Called when a stage's child processes start; the function it returns is called when they have ended. */
  readonly during?: (stage: Stage) => (() => void) | undefined;
  /** Called after each stage succeeded; what it returns goes into the run's summary. */
  readonly after?: (stage: Stage) => Promise<Record<string, unknown>>;
  /** Where children's prefixed lines go (default: stderr). */
  readonly write?: (s: string) => void;
}

/** Runs `stages` in order (see the module doc); returns the inline stages' summaries merged. */
export async function runStagesLocally(
  stages: readonly Stage[],
  o: LocalOptions,
): Promise<Record<string, unknown>> {
  let out: Record<string, unknown> = {};
  for (const stage of stages) {
    o.before?.(stage);
    if (!stage.sharded && stage.tasks === 1) {
      try {
        out = { ...out, ...await o.inline(stage.name) };
      } catch (e) {
        const name = o.inlineTask?.(stage) ?? taskName(o.variant, stage, 1);
        await recordTaskExit(o.runDir, name, 1, e instanceof Error ? e.message : String(e)).catch(() => {});
        throw e;
      }
      out = { ...out, ...await o.after?.(stage) };
      continue;
    }
    o.log.info(
      `${stage.name}: ${stage.tasks} tasks in parallel child processes` +
        (stage.maxRunning > 0 && stage.maxRunning < stage.tasks
          ? ` (at most ${stage.maxRunning} at once)`
          : "") +
        `; logs in ${logsDir(o.runDir)}/`,
    );
    await Deno.mkdir(logsDir(o.runDir), { recursive: true });
    const launch = `${Deno.pid}-${Date.now()}`;
    const jobs = Array.from({ length: stage.tasks }, (_, i) => {
      const log = taskLog(o.runDir, taskName(o.variant, stage, i + 1));
      return {
        label: taskLabel(stage, i + 1),
        args: o.argsOf(taskSettings(stage, i + 1)),
        log,
        env: {
          [TASK_LOG_ENV]: log,
          [TASK_NAME_ENV]: taskName(o.variant, stage, i + 1),
          [LAUNCH_ID_ENV]: launch,
        },
        name: taskName(o.variant, stage, i + 1),
      };
    });
    const stopWatching = o.during?.(stage);
    try {
      await runChildJobs(jobs, o.write, stage.maxRunning);
    } catch (e) {
      if (e instanceof ChildJobsError) {
        for (const f of e.failed) {
          const name = jobs.find((j) => j === f.job)!.name;
          // A child that died before it recorded its start leaves no record but this one.
          await recordTaskExit(o.runDir, name, f.code);
        }
      }
      throw e;
    } finally {
      stopWatching?.();
    }
    out = { ...out, ...await o.after?.(stage) };
  }
  return out;
}

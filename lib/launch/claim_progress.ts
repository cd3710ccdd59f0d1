/**
 * The progress line of a training stage whose tasks claim classes (`plan.ts`, `Stage.claim`): no task
 * knows in advance which classes it will train, so the launcher watches the class folders instead. Every
 * `everySeconds` it reads each unfinished class's state (finished, or the epochs in its metrics.jsonl) and
 * feeds a {@link TrainingProgress} over all the classes, which prints the line and the time to go.
 */
import { classRunStatus } from "../classify/per_class.ts";
import { TrainingProgress } from "../classify/train_progress.ts";
import type { Logger } from "../runner/logger.ts";
import { progressOf } from "./status.ts";

export interface ClaimWatch {
  readonly log: Logger;
  readonly classes: readonly string[];
  /** Training frames of a class (its share of the work per epoch). */
  readonly frames: (cls: string) => number;
  /** Epochs each class trains at most. */
  readonly epochs: number;
  /** A class's run folder. */
  readonly classDir: (cls: string) => string;
  /** Seconds between looks (default 15); the line itself is printed as {@link TrainingProgress} decides. */
  readonly everySeconds?: number;
}

/** Starts watching; the function returned stops it, after a last look. */
export function watchClaimedClasses(o: ClaimWatch): () => void {
  const progress = new TrainingProgress(o.log, o.classes, o.frames, o.epochs);
  const open = new Set<string>();
  for (const c of o.classes) {
    const dir = o.classDir(c);
    if (classRunStatus(dir) === "done") progress.finish(c, true);
    else {
      open.add(c);
      const { epoch } = progressOf(dir);
      if (epoch) progress.resumedAt(c, epoch);
    }
  }
  const look = () => {
    for (const c of [...open]) {
      const dir = o.classDir(c);
      if (classRunStatus(dir) === "done") {
        progress.finish(c);
        open.delete(c);
        continue;
      }
      const { epoch } = progressOf(dir);
      if (epoch) progress.epoch(c, epoch);
    }
  };
  const timer = setInterval(look, (o.everySeconds ?? 15) * 1000);
  return () => {
    clearInterval(timer);
    look();
  };
}

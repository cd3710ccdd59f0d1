/**
 * Replays the class trainings of a finished per-class run under the two ways `--num_jobs N` has shared out
 * classes, from each class's measured time (`wall_s` of its summary.json), to say when each job would end:
 *
 * - fixed shards (before): each job owns the classes `assignShards` gives it (frames balanced in advance),
 *   or, with `--log` (the run's output), the classes each `[shard i/n]` actually trained;
 * - claiming (now): each job takes the next class, largest first, when it is free.
 *
 *   deno run -A bench/replay_claims.ts RUN_DIR [--jobs 2] [--variant dyn_esn_flow] [--log RUN_LOG]
 *
 * A class's training frames are read back from its first validation record (frames = n x nll / nll_per_frame,
 * times 4: the genhmm protocol validates on 20% of a class's segments; the order of classes is all that
 * uses them). A replay, not a run: classes are assumed to take as long as they did, whoever trains them.
 */
import { parseArgs } from "node:util";
import { assignShards, type ClassCount } from "../lib/classify/classes.ts";

export interface ClassTime {
  readonly name: string;
  readonly frames: number;
  readonly seconds: number;
}

/**
 * Seconds at which each of `jobs` jobs ends, for fixed shards (`assigned`, or `assignShards`'s) and for
 * claiming.
 */
export function replay(
  classes: readonly ClassTime[],
  jobs: number,
  assigned?: readonly (readonly string[])[],
): { shards: number[]; claiming: number[] } {
  const counts: ClassCount[] = classes.map((c) => ({ name: c.name, segments: 0, frames: c.frames }));
  const secs = new Map(classes.map((c) => [c.name, c.seconds]));
  const names = classes.map((c) => c.name);
  const shards = (assigned ?? assignShards(names, counts, jobs)).map((s) =>
    s.reduce((t, c) => t + secs.get(c)!, 0)
  );
  const order = [...classes].sort((a, b) => b.frames - a.frames || (a.name < b.name ? -1 : 1));
  const free = new Array<number>(jobs).fill(0);
  for (const c of order) {
    let j = 0;
    for (let k = 1; k < jobs; k++) if (free[k] < free[j]) j = k;
    free[j] += c.seconds;
  }
  return { shards, claiming: free };
}

function readClasses(runDir: string, variant: string): ClassTime[] {
  const dir = `${runDir}/models/${variant}`;
  const out: ClassTime[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isDirectory) continue;
    const summary = JSON.parse(Deno.readTextFileSync(`${dir}/${e.name}/summary.json`));
    const val = Deno.readTextFileSync(`${dir}/${e.name}/metrics.jsonl`).split("\n").filter((l) => l.trim())
      .map((l) => JSON.parse(l)).find((r) => r.kind === "eval" && r.split === "val");
    if (!val) throw new Error(`${dir}/${e.name}/metrics.jsonl: no validation record`);
    out.push({ name: e.name, frames: (4 * val.n * val.nll) / val.nll_per_frame, seconds: summary.wall_s });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      jobs: { type: "string", default: "2" },
      variant: { type: "string", default: "dyn_esn_flow" },
      log: { type: "string" },
    },
  });
  if (positionals.length !== 1) {
    console.error("usage: deno run -A bench/replay_claims.ts RUN_DIR [--jobs 2] [--variant dyn_esn_flow]");
    Deno.exit(2);
  }
  const classes = readClasses(positionals[0], values.variant!);
  const jobs = Number(values.jobs);
  let assigned: string[][] | undefined;
  if (values.log) {
    assigned = Array.from({ length: jobs }, () => []);
    const re = /^\[shard (\d+)\/\d+\] \[\S+ \d+\/\d+: (\S+)\] (training|resuming)/;
    for (const line of Deno.readTextFileSync(values.log).split("\n")) {
      const m = re.exec(line);
      if (m && !assigned.some((s) => s.includes(m[2]))) assigned[Number(m[1]) - 1].push(m[2]);
    }
  }
  const r = replay(classes, jobs, assigned);
  const min = (s: number[]) => s.map((x) => (x / 60).toFixed(1)).join(" / ");
  console.log(
    `${classes.length} classes, ${
      (classes.reduce((t, c) => t + c.seconds, 0) / 60).toFixed(1)
    } min of training`,
  );
  console.log(`fixed shards${values.log ? " (as the log says)" : ""}: jobs end after ${min(r.shards)} min`);
  console.log(`claiming:     jobs end after ${min(r.claiming)} min`);
}

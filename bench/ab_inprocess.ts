/**
 * In-process A/B of two checkouts: `deno run -A --unstable-webgpu bench/ab_inprocess.ts OLD_DIR [flags]`
 * loads the bench's model and steps (`bench/measure.ts`) from `OLD_DIR` (another checkout, e.g.
 * `git worktree add /tmp/ab/old <commit>`) and from this one into one process, on the wasm backend, and
 * times their esn_flow_timit training steps (Adam, cached ESN states) and then their evaluation batches,
 * alternating (the order swapped every step), so that both meet the same machine load. The two sides
 * share tfjs but each has its own modules, hence its own host kernels.
 *
 * Prints one JSON line: per phase, the medians (ms) of each side, the ratio of the medians (new / old) and
 * the median of the per-batch ratios (both sides run the same batch i). On a shared machine, compare with
 * an A/A run (`OLD_DIR` a second checkout of this same commit) to see the noise.
 *
 * Flags: `--steps N` timed steps and batches (default 40), `--warmup N` untimed steps first (15),
 * `--esn_dim N` (1000), `--batch N` (128). `OLD_DIR` must have `bench/measure.ts`, `lib/runner/adam.ts`
 * and `lib/backend.ts` with this checkout's API (true of every commit since the host kernels).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { selectBackend } from "../lib/backend.ts";
import { dynamicTrainingDefaults } from "../lib/dynamic/config.ts";
import { adam } from "../lib/runner/adam.ts";
import * as here from "./measure.ts";

const USAGE = "usage: bench/ab_inprocess.ts OLD_DIR [--steps N] [--warmup N] [--esn_dim N] [--batch N]";

interface AbOptions {
  readonly old: string;
  readonly steps: number;
  readonly warmup: number;
  readonly esnDim: number;
  readonly batch: number;
}

/** The options from `args`; throws with the usage on anything else. */
export function parseAbArgs(args: readonly string[]): AbOptions {
  const opts = { old: "", steps: 40, warmup: 15, esnDim: 1000, batch: 128 };
  const keys: Record<string, "steps" | "warmup" | "esnDim" | "batch"> = {
    "--steps": "steps",
    "--warmup": "warmup",
    "--esn_dim": "esnDim",
    "--batch": "batch",
  };
  for (let i = 0; i < args.length; i++) {
    const key = keys[args[i]];
    if (key) {
      const v = Number(args[++i]);
      if (!(Number.isInteger(v) && v >= (key === "warmup" ? 0 : 1))) {
        throw new Error(`${args[i - 1]}: bad value. ${USAGE}`);
      }
      opts[key] = v;
    } else if (!args[i].startsWith("-") && !opts.old) opts.old = args[i];
    else throw new Error(`unknown argument ${args[i]}. ${USAGE}`);
  }
  if (!opts.old) throw new Error(USAGE);
  return opts;
}

const median = (a: readonly number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

/** Medians of both sides and the two ratios (new / old) of one phase. */
function summary(old: number[], now: number[]) {
  const round = (x: number, d: number) => Number(x.toFixed(d));
  return {
    old_ms: round(median(old), 2),
    new_ms: round(median(now), 2),
    ratio_of_medians: round(median(now) / median(old), 3),
    median_paired_ratio: round(median(now.map((v, i) => v / old[i])), 3),
    count: old.length,
  };
}

export async function abInProcess(o: AbOptions) {
  const oldUrl = (path: string) => pathToFileURL(resolve(o.old, path)).href;
  // Each side's own selectBackend: since the host kernels' toolchain is loaded there (once per module
  // instance), the other checkout's kernels need its own call.
  const oldBackend: { selectBackend(name: "wasm"): Promise<unknown> } = await import(
    oldUrl("lib/backend.ts")
  );
  await oldBackend.selectBackend("wasm");
  await selectBackend("wasm");
  const oldMeasure: typeof here = await import(oldUrl("bench/measure.ts"));
  const oldAdam: typeof adam = (await import(oldUrl("lib/runner/adam.ts"))).adam;
  const spec = { esnDim: o.esnDim, batch: o.batch, steps: o.steps, warmup: o.warmup, seed: 1 };
  const sides = [{ m: oldMeasure, adam: oldAdam }, { m: here, adam }].map(({ m, adam }) => {
    const model = m.buildBenchModel(spec.esnDim, spec.seed), data = m.benchDataset(spec);
    m.timeEncoding(model, data, spec.esnDim);
    return {
      m,
      run: { model, data },
      opt: adam(dynamicTrainingDefaults.lr),
      train: [] as number[],
      evals: [] as number[],
    };
  });
  const alternate = async (
    phase: "train" | "evals",
    f: (s: (typeof sides)[0], i: number) => Promise<unknown>,
  ) => {
    for (let i = 0; i < o.warmup + o.steps; i++) {
      for (const s of i % 2 ? [sides[1], sides[0]] : sides) {
        const t0 = performance.now();
        await f(s, i);
        if (i >= o.warmup) s[phase].push(performance.now() - t0);
      }
    }
  };
  try {
    await alternate("train", (s, i) => s.m.step(s.run, s.opt, i, o.batch));
    await alternate("evals", (s, i) => s.m.evalBatch(s.run, i, o.batch));
  } finally {
    for (const s of sides) s.opt.dispose();
  }
  const [old, now] = sides;
  return {
    old: o.old,
    esn_dim: o.esnDim,
    batch: o.batch,
    train: summary(old.train, now.train),
    eval: summary(old.evals, now.evals),
  };
}

if (import.meta.main) {
  let opts: AbOptions;
  try {
    opts = parseAbArgs(Deno.args);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(2);
  }
  console.log(JSON.stringify(await abInProcess(opts)));
}

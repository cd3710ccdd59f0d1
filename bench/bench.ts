/**
 * `deno task bench`: throughput of the esn_flow_timit model (issue 6) on every available tfjs backend,
 * beside the PyTorch peer `torch_esn_flow.py` in the same run.
 *
 * Figures per backend and variant (see `run_backend.ts`): training ms per step and frames per second
 * (real frames; median over timed steps after warm-up, and total frames / total time as the peer counts
 * them), evaluation frames per second, ESN encoding and sampling frames per second, peak live tensors
 * and bytes during a step, resident set size. Then the peer's figures (training from the peer itself,
 * evaluation from `peer_driver.py`, which times the peer's own model) and the ratios
 * `echoflow frames/s / best peer frames/s` for training and for evaluation. `--check_peer` instead checks that the same weights give
 * the same log-likelihood in both (`peer_check.ts`). Tables on stdout, or one JSON line per figure with
 * `--json`; progress and notes on stderr. Usage: `deno task bench --help`.
 */
import * as tf from "@tensorflow/tfjs";
import { describeAdapter, isHardwareAdapter, requestAdapter, selectBackend } from "../lib/backend.ts";
import { Rng } from "../lib/rng.ts";
import { setWebGpuKernels } from "../lib/webgpu/esn_flow_device.ts";
import { writePng } from "../lib/plot/mod.ts";
import { BENCH_USAGE, BenchArgError, type BenchBackend, type BenchOptions, parseBenchArgs } from "./args.ts";
import type { PeerDevice } from "./peer.ts";
import { benchSequences, totalFramesPerSecond } from "./data.ts";
import { allocatorSettings, formatLoad, loadAverage } from "./machine.ts";
import { buildBenchModel, FRAME_DIM } from "./measure.ts";
import { CHECK_TOLERANCE, checkAgainstPeer } from "./peer_check.ts";
import { pairedRun, PeerServer, type PeerStepSpec } from "./paired.ts";
import { findPython, peerFigures, type PythonInfo, runPeer } from "./peer.ts";
import { type Figure, jsonLine, mainTable, medianOverRounds, ratioFigures, scalingTable } from "./report.ts";
import { type BackendSpec, benchBackend, benchScalingPoint } from "./run_backend.ts";
import { scalingPlot } from "./scaling_plot.ts";

const log = (msg: string) => console.error(msg);

/** wasm and cpu always; webgpu when `navigator.gpu` gives a hardware adapter (software ones are slower). */
async function availableBackends(notes: string[]): Promise<BenchBackend[]> {
  const adapter = await requestAdapter();
  if (adapter && isHardwareAdapter(adapter)) return ["wasm", "cpu", "webgpu"];
  notes.push(
    adapter
      ? `webgpu skipped: ${
        describeAdapter(adapter)
      } is a software/fallback adapter (--backends webgpu forces it)`
      : "webgpu skipped: no WebGPU adapter (navigator.gpu missing or empty)",
  );
  return ["wasm", "cpu"];
}

/** Python with torch and the peer script, or null with the reason added to `notes`. */
async function locatePeer(opts: BenchOptions, notes: string[]): Promise<PythonInfo | null> {
  try {
    await Deno.stat(opts.peer);
  } catch {
    notes.push(`PyTorch peer skipped: "${opts.peer}" not found (--peer PATH)`);
    return null;
  }
  const { found, tried } = await findPython(opts.python ? [opts.python] : undefined);
  if (!found) notes.push(`PyTorch peer skipped: no Python with torch (${tried.join("; ")})`);
  return found;
}

async function runChecks(
  opts: BenchOptions,
  backends: readonly BenchBackend[],
  py: PythonInfo,
  out: Figure[],
) {
  let ok = true;
  for (const backend of backends) {
    await selectBackend(backend);
    log(`[${backend}] identical-maths check against the peer (esn_dim ${opts.esnDim}, 16 sequences)`);
    const model = buildBenchModel(opts.esnDim, opts.seed);
    try {
      const rng = new Rng(`bench:check:${opts.seed}`);
      const r = await checkAgainstPeer(model, benchSequences(16, FRAME_DIM, rng), rng, py.python, opts.peer);
      const pass = r.maxRelErr <= CHECK_TOLERANCE;
      ok &&= pass;
      out.push({
        bench: "check",
        backend,
        figure: "logp_max_rel_err",
        value: r.maxRelErr,
        unit: "relative",
        variant: "",
        esn_dim: opts.esnDim,
        batch: r.ours.length,
        note: `${pass ? "PASS" : "FAIL"} (tolerance ${CHECK_TOLERANCE}; torch ${r.torch} float64; ` +
          `first sequence: echoflow ${r.ours[0].toFixed(4)}, pytorch ${r.theirs[0].toFixed(4)})`,
      });
    } finally {
      model.dispose();
    }
  }
  return ok;
}

function header(opts: BenchOptions): string {
  return `echoflow bench: esn_flow_timit model (frame_dim ${FRAME_DIM}, esn_dim ${opts.esnDim}, conn 10, 4 flow ` +
    `layers, hidden 30 x 2, Toeplitz, Adam 1e-4), batch ${opts.batch} TIMIT-like sequences, ${opts.warmup} ` +
    `warm-up + ${opts.steps} timed steps, seed ${opts.seed}` +
    `${opts.rounds > 1 ? `, median of ${opts.rounds} rounds` : ""}\n` +
    `Deno ${Deno.version.deno}, tfjs ${tf.version.tfjs}, ${navigator.hardwareConcurrency} CPUs, load average ${
      formatLoad(loadAverage())
    }, ${allocatorSettings()} (the peer inherits them)`;
}

function printTables(opts: BenchOptions, figures: readonly Figure[], notes: readonly string[]): void {
  const parts = [header(opts)];
  const main = mainTable(figures);
  if (main) parts.push(main);
  const rounds = opts.rounds > 1 ? `; median of ${opts.rounds} rounds` : "";
  for (const phase of ["train", "eval"] as const) {
    const what = phase === "train" ? "Training" : "Evaluation";
    const sections = [
      [
        `paired_${phase}_ratio`,
        `${what} throughput ratio, echoflow / fastest PyTorch configuration, steps alternating`,
      ],
      [
        `${phase}_ratio_vs_best_peer`,
        `${what} throughput ratio, echoflow / best PyTorch variant, separate phases`,
      ],
    ];
    for (const [figure, title] of sections) {
      const ratios = figures.filter((f) => f.bench === "ratio" && f.figure === figure);
      if (ratios.length === 0) continue;
      parts.push(
        `${title} (total frames / total time, same run${rounds}):\n` +
          ratios.map((r) => `  ${r.backend} ${r.variant}: ${r.value.toFixed(2)}  (${r.note})`).join("\n"),
      );
    }
  }
  for (const scan of ["esn_dim", "batch"] as const) {
    const t = scalingTable(figures, scan);
    if (t) parts.push(t);
  }
  const checks = figures.filter((f) => f.bench === "check");
  if (checks.length) {
    parts.push(
      checks.map((c) =>
        `Identical maths (${c.backend}): max relative error ${c.value.toExponential(2)} ${c.note}`
      ).join("\n"),
    );
  }
  if (notes.length) parts.push(notes.map((n) => `note: ${n}`).join("\n"));
  console.log(parts.join("\n\n"));
}

/** The peer's fastest configuration for a phase among `figures` (this round's separate peer runs). */
function bestPeer(figures: readonly Figure[], phase: "train" | "eval"): PeerStepSpec | null {
  const name = phase === "train" ? "train_frames_per_s" : "eval_frames_per_s_total";
  const peers = figures.filter((f) => f.bench === "pytorch" && !f.scan && f.figure === name);
  if (peers.length === 0) return null;
  const best = peers.reduce((a, b) => (b.value > a.value ? b : a));
  const [, device, n] = /torch-(cpu|cuda)-(\d+)t/.exec(best.backend) ?? [];
  const threads = Number(n);
  return Number.isInteger(threads)
    ? { phase, variant: best.variant, threads, device: device as PeerDevice }
    : null;
}

/**
 * The paired ratios on `backend` (echoflow's cached variant and the peer's fastest configuration taking
 * turns step by step, `paired.ts`), for training and evaluation.
 */
async function pairedFigures(
  opts: BenchOptions,
  backend: BenchBackend,
  py: PythonInfo,
  figures: readonly Figure[],
  notes: string[],
): Promise<Figure[]> {
  await selectBackend(backend);
  const out: Figure[] = [];
  // Training and evaluation of each variant with cached states, on 1 or 2 threads.
  const variants = (["cached", "parallel"] as const).filter((v) => opts.variants.includes(v));
  const jobs = (["train", "eval"] as const).flatMap((phase) => variants.map((v) => [phase, v] as const));
  for (const [phase, variant] of jobs) {
    const spec = bestPeer(figures, phase);
    if (!spec || (variant === "parallel" && backend === "webgpu")) continue;
    log(
      `[paired ${backend}] ${phase}: echoflow ${variant} and pytorch ${spec.variant} (${spec.threads} threads) alternating`,
    );
    try {
      const server = await PeerServer.start(py.python, opts.peer, spec, opts);
      try {
        const r = await pairedRun(server, phase, opts, variant === "parallel" ? 2 : 1);
        const [ours, theirs] = [r.ours, r.peer].map((t) => Math.round(totalFramesPerSecond(t)));
        out.push({
          bench: "ratio",
          backend,
          figure: `paired_${phase}_ratio`,
          value: r.ratio,
          unit: "x",
          variant,
          esn_dim: opts.esnDim,
          batch: opts.batch,
          note:
            `alternating steps: echoflow ${ours} fr/s, pytorch ${spec.variant} ${spec.threads}t ${theirs} fr/s`,
        });
      } finally {
        await server.close();
      }
    } catch (e) {
      notes.push(
        `paired ${phase} comparison (${variant}) on ${backend} failed: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
  return out;
}

/** The throughput figures: every backend, the scaling runs, the peer, and the ratios. */
async function measure(
  opts: BenchOptions,
  backends: readonly BenchBackend[],
  notes: string[],
  round: string,
): Promise<Figure[]> {
  const figures: Figure[] = [];
  const loads: string[] = [];
  /** Runs `f`, noting the 1-minute load average before and after it (the machine is shared). */
  const phase = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const before = loadAverage();
    const out = await f();
    loads.push(`${name} ${formatLoad(before)}-${formatLoad(loadAverage())}`);
    return out;
  };
  for (const backend of backends) {
    const info = await selectBackend(backend);
    log(`[${backend}] ${backend === "webgpu" ? info.adapter : "tfjs " + tf.getBackend()}`);
    // Data-parallel steps run on wasm and cpu only (a GPU is one device).
    const variants = backend === "webgpu" ? opts.variants.filter((v) => v !== "parallel") : opts.variants;
    if (variants.length === 0) continue;
    const spec: BackendSpec = backend === "cpu"
      ? {
        ...opts,
        variants,
        backend,
        steps: Math.min(opts.steps, opts.cpuSteps),
        warmup: Math.min(opts.warmup, 1),
        sampleReps: Math.min(opts.sampleReps, 1),
      }
      : { ...opts, variants, backend };
    if (spec.steps !== opts.steps || spec.warmup !== opts.warmup) {
      notes.push(`${backend}: ${spec.warmup} warm-up + ${spec.steps} timed steps (--cpu_steps)`);
    }
    if (!opts.scalingOnly) figures.push(...await phase(`echoflow ${backend}`, () => benchBackend(spec, log)));
    const scaling = async () => {
      const out: Figure[] = [];
      for (const esnDim of opts.esnDims) {
        out.push(...await benchScalingPoint({ ...spec, esnDim }, "esn_dim", log));
      }
      for (const batch of opts.batches) {
        out.push(...await benchScalingPoint({ ...spec, batch }, "batch", log));
      }
      return out;
    };
    if (opts.esnDims.length + opts.batches.length) {
      figures.push(...await phase(`echoflow ${backend} scaling`, scaling));
    }
  }
  const py = opts.usePeer ? await locatePeer(opts, notes) : null;
  if (!opts.usePeer) notes.push("PyTorch peer not run (--no_peer)");
  if (py) {
    const sizes: { esnDim: number; batch: number; scan?: "esn_dim" | "batch" }[] = opts.scalingOnly
      ? []
      : [opts];
    if (opts.scalePeer) {
      sizes.push(...opts.esnDims.map((esnDim) => ({ esnDim, batch: opts.batch, scan: "esn_dim" as const })));
      sizes.push(...opts.batches.map((batch) => ({ esnDim: opts.esnDim, batch, scan: "batch" as const })));
    }
    for (const s of sizes) {
      for (const threads of opts.threads) {
        log(
          `[pytorch] ${py.python} (torch ${py.torch}, ${threads} threads): esn_dim ${s.esnDim}, batch ${s.batch}`,
        );
        const args = { ...s, steps: opts.steps, threads, device: opts.peerDevice };
        const run = async () => [
          ...await runPeer(py.python, opts.peer, args),
          ...s.scan ? [] : await runPeer(py.python, opts.peer, args, "eval"),
        ];
        try {
          figures.push(...peerFigures(await phase(`pytorch ${threads} threads`, run), s.scan));
        } catch (e) {
          notes.push(
            `PyTorch peer run failed (${threads} threads, esn_dim ${s.esnDim}, batch ${s.batch}): ${e}`,
          );
        }
      }
    }
  }
  figures.push(...ratioFigures(figures));
  if (py && !opts.scalingOnly) {
    for (const backend of backends.filter((b) => b !== "cpu")) {
      figures.push(
        ...await phase(`paired ${backend}`, () => pairedFigures(opts, backend, py, figures, notes)),
      );
    }
  }
  if (loads.length) {
    const cpus = navigator.hardwareConcurrency;
    notes.push(`${round}1-minute load average before-after each phase (${cpus} CPUs): ${loads.join(", ")}`);
  }
  return figures;
}

/** Runs the bench; returns the exit code (1 when the maths check fails or cannot run). */
export async function main(argv: readonly string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(argv);
  } catch (e) {
    if (!(e instanceof BenchArgError)) throw e;
    console.error(`error: ${e.message}\n\n${BENCH_USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(BENCH_USAGE);
    return 0;
  }
  const notes: string[] = [];
  setWebGpuKernels(opts.webgpuKernels);
  if (!opts.webgpuKernels) notes.push("webgpu: the flow as tfjs ops (--webgpu_kernels off)");
  const backends = opts.backends ?? await availableBackends(notes);
  const figures: Figure[] = [];
  let ok = true;
  if (opts.checkPeer) {
    const py = await locatePeer(opts, notes);
    if (py) ok = await runChecks(opts, backends, py, figures);
    else {
      ok = false;
      notes.push("identical-maths check could not run: it needs the peer script and a Python with torch");
    }
  } else {
    // Rounds alternate echoflow and the peer, so that both meet the shared machine's load changes.
    const rounds: Figure[][] = [];
    for (let r = 1; r <= opts.rounds; r++) {
      if (opts.rounds > 1) log(`round ${r}/${opts.rounds}`);
      rounds.push(await measure(opts, backends, notes, opts.rounds > 1 ? `round ${r}: ` : ""));
    }
    figures.push(...medianOverRounds(rounds));
  }
  const uniqueNotes = [...new Set(notes)];
  if (opts.json) {
    for (const f of figures) console.log(jsonLine(f));
    for (const n of uniqueNotes) log(`note: ${n}`);
  } else printTables(opts, figures, uniqueNotes);
  if (opts.plot) {
    const png = scalingPlot(figures);
    if (png) {
      await writePng(opts.plot, png);
      log(`scaling plot written to ${opts.plot}`);
    } else log(`--plot ${opts.plot}: no scaling runs (give --esn_dims or --batches): nothing written`);
  }
  return ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Command-line flags of `deno task bench` (see {@link BENCH_USAGE}). Multi-word flags may be written with
 * `_` or `-` (`--esn_dims` = `--esn-dims`), values after a space or `=`. `--quick` shrinks the sizes to a
 * smoke test; flags given explicitly win over it.
 */
import { PEER_DEVICES, type PeerDevice } from "./peer.ts";

/** The backends the bench can time (`webgpu` only when a GPU adapter exists). */
export const BENCH_BACKENDS = ["wasm", "cpu", "webgpu"] as const;
export type BenchBackend = (typeof BENCH_BACKENDS)[number];

/**
 * How the ESN states reach a training step: `cached` (computed once per data set, the runner's default
 * when they fit in `esn_cache_mb`) or `recompute` (the ESN is run on every batch, as without a cache).
 */
export const VARIANTS = ["cached", "recompute", "parallel"] as const;
export type Variant = (typeof VARIANTS)[number];

export interface BenchOptions {
  /** Backends to time; null: every available one (wasm, cpu, and webgpu on a hardware adapter). */
  readonly backends: readonly BenchBackend[] | null;
  readonly variants: readonly Variant[];
  /** Timed training steps (after {@link warmup} untimed ones). */
  readonly steps: number;
  readonly warmup: number;
  /** At most this many timed steps (after one warm-up step) on the cpu backend, ~70x slower than wasm. */
  readonly cpuSteps: number;
  /** Times the whole measurement (every backend, then the peer) is repeated; figures are medians. */
  readonly rounds: number;
  /** Sequences per batch B. */
  readonly batch: number;
  /** Reservoir size N. */
  readonly esnDim: number;
  /** Timed sampling runs (each: one batch of sequences). */
  readonly sampleReps: number;
  /** Extra training-step timings at these N (batch {@link batch}) and these B (N {@link esnDim}). */
  readonly esnDims: readonly number[];
  readonly batches: readonly number[];
  /** Skip the main figures; only the scaling runs (and the peer at those sizes with `scalePeer`). */
  readonly scalingOnly: boolean;
  /** Run the PyTorch peer at the scaling sizes too. */
  readonly scalePeer: boolean;
  /** One JSON line per figure on stdout instead of tables. */
  readonly json: boolean;
  /** PNG file for the scaling plot, or null. */
  readonly plot: string | null;
  /** Path of `torch_esn_flow.py`. */
  readonly peer: string;
  readonly usePeer: boolean;
  /** Python interpreter for the peer; null: try `python3`, then `/usr/bin/python3`. */
  readonly python: string | null;
  /** Where the PyTorch peer runs: its `--device` (cpu, or cuda on a GPU machine). */
  readonly peerDevice: PeerDevice;
  /** Thread counts the PyTorch peer runs with (one peer run each; the best counts). */
  readonly threads: readonly number[];
  /** Only compare the log-likelihood of one set of weights with the PyTorch model's (1e-6 relative). */
  readonly checkPeer: boolean;
  /** On WebGPU, run the flow as the WGSL kernels (`lib/webgpu/esn_flow_device.ts`) or as tfjs ops. */
  readonly webgpuKernels: boolean;
  readonly seed: number;
  readonly quick: boolean;
  readonly help: boolean;
}

export const DEFAULT_PEER_PATH = "../shared/peer/torch_esn_flow.py";

const DEFAULTS: BenchOptions = {
  backends: null,
  variants: VARIANTS,
  steps: 10,
  // The first ~10 steps of a fresh process run up to 2x slower (the wasm heap grows, and first touches of
  // memory are slow on this VM), so steady state needs more warm-up than the peer's own 3 steps.
  warmup: 15,
  cpuSteps: 3,
  rounds: 1,
  batch: 128,
  esnDim: 1000,
  sampleReps: 3,
  esnDims: [],
  batches: [],
  scalingOnly: false,
  scalePeer: false,
  json: false,
  plot: null,
  peer: DEFAULT_PEER_PATH,
  usePeer: true,
  python: null,
  peerDevice: "cpu",
  threads: [1, 2],
  checkPeer: false,
  webgpuKernels: true,
  seed: 0,
  quick: false,
  help: false,
};

/** The sizes of `--quick` (a smoke test of every code path in a few seconds). */
export const QUICK: Partial<BenchOptions> = {
  steps: 2,
  warmup: 1,
  cpuSteps: 2,
  batch: 8,
  esnDim: 32,
  sampleReps: 1,
};

export const BENCH_USAGE =
  `deno task bench [flags]: throughput of the esn_flow_timit model (frame_dim 40, esn_dim 1000,
4 flow layers, hidden 30, 2 hidden layers, Toeplitz, Adam 1e-4) on TIMIT-like batches, and of the PyTorch peer.

  --backends LIST    wasm,cpu,webgpu (default: every available one; webgpu only on a hardware adapter)
  --variants LIST    cached,recompute,parallel (default all): ESN states computed once, or per batch, or
                     computed once with each step split across 2 threads (train_threads 2)
  --steps N          timed training steps (default 10), after --warmup N untimed ones (default 15)
  --cpu_steps N      at most N timed steps after 1 warm-up step on the slow cpu backend (default 3)
  --rounds N         repeat everything (echoflow, then the peer) N times; report medians (default 1)
  --batch B          sequences per batch (default 128)
  --esn_dim N        reservoir size (default 1000)
  --sample_reps N    timed sampling runs of one batch of sequences (default 3)
  --esn_dims LIST    also time the training step at these reservoir sizes (e.g. 250,500,1000,2000)
  --batches LIST     also time the training step at these batch sizes (e.g. 32,64,128,256)
  --scaling_only     only the scaling runs
  --scale_peer       run the PyTorch peer at the scaling sizes too
  --plot FILE        write the scaling plot (ms per step against esn_dim and batch) as PNG
  --json             one JSON line per figure on stdout (progress stays on stderr)
  --peer PATH        the PyTorch peer script (default ${DEFAULT_PEER_PATH})
  --python EXE       Python with torch for the peer (default: python3, then /usr/bin/python3)
  --threads LIST     PyTorch thread counts, one peer run each, the best counts (default 1,2)
  --peer_device D    where the peer runs: cpu (default) or cuda (a GPU machine)
  --no_peer          do not run the peer
  --check_peer       only check identical maths: the same weights' log-likelihood in PyTorch (1e-6 rel.)
  --webgpu_kernels on|off  on WebGPU, the flow as WGSL kernels (on, default) or as tfjs ops (off)
  --seed N           seed of data, weights and reservoir (default 0)
  --quick            tiny sizes (batch 8, esn_dim 32, 2 steps): a smoke test
  --help             this text`;

/** Raised for a malformed command line; the message names the flag and the value. */
export class BenchArgError extends Error {
  override name = "BenchArgError";
}

function positiveInt(flag: string, raw: string, min = 1): number {
  const v = Number(raw);
  if (!(raw.trim() !== "" && Number.isInteger(v) && v >= min)) {
    throw new BenchArgError(`--${flag} must be an integer >= ${min}, got "${raw}"`);
  }
  return v;
}

function onOff(flag: string, raw: string): boolean {
  if (raw !== "on" && raw !== "off") throw new BenchArgError(`--${flag} must be on or off, got "${raw}"`);
  return raw === "on";
}

function oneOf<T extends string>(flag: string, raw: string, valid: readonly T[]): T {
  if (!valid.includes(raw as T)) {
    throw new BenchArgError(`--${flag} must be one of ${valid.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

function intList(flag: string, raw: string): number[] {
  return raw.split(",").filter((s) => s.trim() !== "").map((s) => positiveInt(flag, s.trim()));
}

function choiceList<T extends string>(flag: string, raw: string, valid: readonly T[]): T[] {
  const out = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const s of out) {
    if (!valid.includes(s as T)) {
      throw new BenchArgError(`--${flag}: unknown value "${s}". Valid: ${valid.join(", ")}`);
    }
  }
  if (out.length === 0) throw new BenchArgError(`--${flag} needs at least one of ${valid.join(", ")}`);
  return [...new Set(out)] as T[];
}

const BOOLEAN = new Set(["json", "no-peer", "check-peer", "quick", "help", "scaling-only", "scale-peer"]);
const VALUED = new Set([
  "backends",
  "variants",
  "steps",
  "warmup",
  "cpu-steps",
  "rounds",
  "batch",
  "esn-dim",
  "sample-reps",
  "esn-dims",
  "batches",
  "plot",
  "peer",
  "python",
  "threads",
  "peer-device",
  "webgpu-kernels",
  "seed",
]);

/** Parses the bench's command line (see {@link BENCH_USAGE}). */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const given: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new BenchArgError(`Unexpected argument "${arg}" (flags start with --)`);
    const eq = arg.indexOf("=");
    const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replaceAll("_", "-");
    if (name === "h") {
      given.help = true;
      continue;
    }
    if (BOOLEAN.has(name)) {
      if (eq >= 0) throw new BenchArgError(`--${name} takes no value, got "${arg}"`);
      given[name] = true;
    } else if (VALUED.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new BenchArgError(`--${name} needs a value`);
      given[name] = value;
    } else {
      throw new BenchArgError(
        `Unknown flag "--${name}". Valid: ${[...VALUED, ...BOOLEAN].map((f) => `--${f}`).join(", ")}`,
      );
    }
  }
  const quick = given.quick === true;
  const base = quick ? { ...DEFAULTS, ...QUICK } : DEFAULTS;
  const str = (k: string) => given[k] as string | undefined;
  const num = (k: string, fallback: number, min = 1) =>
    str(k) === undefined ? fallback : positiveInt(k, str(k)!, min);
  return {
    backends: str("backends") === undefined ? null : choiceList("backends", str("backends")!, BENCH_BACKENDS),
    variants: str("variants") === undefined
      ? base.variants
      : choiceList("variants", str("variants")!, VARIANTS),
    steps: num("steps", base.steps),
    warmup: num("warmup", base.warmup, 0),
    cpuSteps: num("cpu-steps", base.cpuSteps),
    rounds: num("rounds", base.rounds),
    batch: num("batch", base.batch),
    esnDim: num("esn-dim", base.esnDim),
    sampleReps: num("sample-reps", base.sampleReps, 0),
    esnDims: str("esn-dims") === undefined ? [] : intList("esn-dims", str("esn-dims")!),
    batches: str("batches") === undefined ? [] : intList("batches", str("batches")!),
    scalingOnly: given["scaling-only"] === true,
    scalePeer: given["scale-peer"] === true,
    json: given.json === true,
    plot: str("plot") ?? null,
    peer: str("peer") ?? base.peer,
    usePeer: given["no-peer"] !== true,
    python: str("python") ?? null,
    threads: str("threads") === undefined ? base.threads : intList("threads", str("threads")!),
    peerDevice: str("peer-device") === undefined
      ? base.peerDevice
      : oneOf("peer-device", str("peer-device")!, PEER_DEVICES),
    checkPeer: given["check-peer"] === true,
    webgpuKernels: str("webgpu-kernels") === undefined
      ? true
      : onOff("webgpu-kernels", str("webgpu-kernels")!),
    seed: num("seed", base.seed, 0),
    quick,
    help: given.help === true,
  };
}

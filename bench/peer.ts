/**
 * The PyTorch peer (`torch_esn_flow.py`, the same model in PyTorch): finding a Python with torch, running
 * the peer with the bench's sizes, and reading its JSON lines, e.g.
 *
 *   {"peer": "pytorch", "torch": "1.13.0a0", "threads": 2, "variant": "packed", "batch": 128,
 *    "frame_dim": 40, "esn_dim": 1000, "ms_per_step": 150.2, "frames_per_s": 6800.1}
 *
 * The peer times training only; `peer_driver.py` (ours) builds the peer's model and batches with the peer's
 * own code and times evaluation (`eval` mode), printing the same lines with `"phase": "eval"`, or runs
 * steps on demand for the paired comparison (`serve` mode, `paired.ts`).
 */
import type { Figure } from "./report.ts";

/** One line of the peer's output. */
export interface PeerRecord {
  /** What was timed: a training step (the peer itself) or an evaluation batch (`peer_driver.py eval`). */
  readonly phase: "train" | "eval";
  readonly torch: string;
  /** Where torch ran: "cpu" or "cuda". */
  readonly device: PeerDevice;
  readonly threads: number;
  readonly variant: string;
  readonly batch: number;
  readonly frameDim: number;
  readonly esnDim: number;
  readonly msPerStep: number;
  readonly framesPerS: number;
}

/** A Python interpreter that imports torch. */
export interface PythonInfo {
  readonly python: string;
  readonly torch: string;
}

const dec = new TextDecoder();

/**
 * Parses the peer's stdout: every line that is a JSON object with `"peer": "pytorch"` becomes a record;
 * other lines (warnings) are skipped. A record with a missing or mistyped field is an error naming it.
 */
export function parsePeerLines(text: string): PeerRecord[] {
  const out: PeerRecord[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line.startsWith("{")) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    if (o.peer !== "pytorch") continue;
    const num = (k: string): number => {
      if (typeof o[k] !== "number" || !Number.isFinite(o[k])) {
        throw new Error(
          `Peer output line ${i + 1}: field "${k}" must be a number, got ${JSON.stringify(o[k])}`,
        );
      }
      return o[k] as number;
    };
    if (typeof o.variant !== "string") {
      throw new Error(
        `Peer output line ${i + 1}: field "variant" must be a string, got ${JSON.stringify(o.variant)}`,
      );
    }
    const phase = o.phase ?? "train";
    if (phase !== "train" && phase !== "eval") {
      throw new Error(
        `Peer output line ${i + 1}: field "phase" must be "train" or "eval", got ${JSON.stringify(phase)}`,
      );
    }
    const device = o.device ?? "cpu";
    if (!PEER_DEVICES.includes(device as PeerDevice)) {
      throw new Error(
        `Peer output line ${i + 1}: field "device" must be "cpu" or "cuda", got ${JSON.stringify(device)}`,
      );
    }
    out.push({
      phase,
      torch: String(o.torch ?? "?"),
      device: device as PeerDevice,
      threads: num("threads"),
      variant: o.variant,
      batch: num("batch"),
      frameDim: num("frame_dim"),
      esnDim: num("esn_dim"),
      msPerStep: num("ms_per_step"),
      framesPerS: num("frames_per_s"),
    });
  }
  return out;
}

/**
 * The peer's records as bench figures: per variant, ms per training step and training frames/s, or ms per
 * evaluation batch and evaluation frames/s (total frames / total time, as echoflow's `_total` figures).
 */
export function peerFigures(records: readonly PeerRecord[], scan?: "esn_dim" | "batch"): Figure[] {
  return records.flatMap((r) => {
    const common = {
      bench: "pytorch" as const,
      backend: peerBackend(r.device, r.threads),
      variant: r.variant,
      esn_dim: r.esnDim,
      batch: r.batch,
      note: `torch ${r.torch}`,
      ...(scan ? { scan } : {}),
    };
    return r.phase === "train"
      ? [
        { ...common, figure: "train_ms_per_step", value: r.msPerStep, unit: "ms" },
        { ...common, figure: "train_frames_per_s", value: r.framesPerS, unit: "frames/s" },
      ]
      : [
        { ...common, figure: "eval_ms_per_batch", value: r.msPerStep, unit: "ms" },
        { ...common, figure: "eval_frames_per_s_total", value: r.framesPerS, unit: "frames/s" },
      ];
  });
}

/**
 * The environment of a peer run with `threads` threads: torch's own count (`--threads`) and the same for
 * the BLAS and OpenMP pools. Without them Debian's OpenBLAS starts one thread per CPU whatever torch is
 * told, so "1 thread" ran on both cores here (18.2 s wall, 34.7 s CPU for the peer's 3 variants) and its
 * idle threads spin between calls, slowing whatever runs beside it (echoflow's evaluation batches ran
 * ~2x slower alternating with it; README, performance section).
 */
export function peerEnv(threads: number): Record<string, string> {
  const n = String(threads);
  return { OPENBLAS_NUM_THREADS: n, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n };
}

/** Runs a command and returns its exit code and output (a timeout or a missing program: code -1). */
async function run(cmd: string, args: string[], timeoutMs: number, env: Record<string, string> = {}) {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { code: -1, stdout: "", stderr: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * The first candidate interpreter that imports torch (within 60 s each), or null with the reason of each
 * failure in `tried`.
 */
export async function findPython(
  candidates: readonly string[] = ["python3", "/usr/bin/python3"],
): Promise<{ found: PythonInfo | null; tried: string[] }> {
  const tried: string[] = [];
  for (const python of candidates) {
    const r = await run(python, ["-c", "import torch, numpy; print(torch.__version__)"], 60_000);
    if (r.code === 0) return { found: { python, torch: r.stdout.trim() }, tried };
    const why = r.stderr.trim().split("\n").pop() || `exit code ${r.code}`;
    tried.push(`${python}: ${why}`);
  }
  return { found: null, tried };
}

export interface PeerArgs {
  readonly batch: number;
  readonly steps: number;
  readonly esnDim: number;
  readonly threads: number;
  /** Where torch runs (the peer's `--device`; default cpu). */
  readonly device?: PeerDevice;
}

/** The peer's devices: torch on the CPU, or on a CUDA GPU. */
export const PEER_DEVICES = ["cpu", "cuda"] as const;
export type PeerDevice = (typeof PEER_DEVICES)[number];

/** The bench's name for a peer configuration: `torch-<device>-<threads>t`. */
export function peerBackend(device: PeerDevice, threads: number): string {
  return `torch-${device}-${threads}t`;
}

/** The peer script's arguments for the given sizes. */
export function peerArgs(a: PeerArgs): string[] {
  return [
    "--batch",
    String(a.batch),
    "--steps",
    String(a.steps),
    "--esn_dim",
    String(a.esnDim),
    "--threads",
    String(a.threads),
    "--device",
    a.device ?? "cpu",
  ];
}

/** `peer_driver.py`, beside this file. */
export const PEER_DRIVER = new URL("peer_driver.py", import.meta.url).pathname;

/**
 * Runs the peer script (training figures), or with `phase` "eval" `peer_driver.py` on it (evaluation
 * figures), and returns the records; throws with the tail of its stderr when it fails.
 */
export async function runPeer(
  python: string,
  script: string,
  a: PeerArgs,
  phase: "train" | "eval" = "train",
): Promise<PeerRecord[]> {
  const args = phase === "eval" ? [PEER_DRIVER, script, "eval", ...peerArgs(a)] : [script, ...peerArgs(a)];
  const r = await run(python, args, 30 * 60_000, peerEnv(a.threads));
  if (r.code !== 0) {
    const tail = r.stderr.trim().split("\n").slice(-5).join("\n");
    throw new Error(`PyTorch peer "${script}" failed (exit code ${r.code}):\n${tail}`);
  }
  const records = parsePeerLines(r.stdout);
  if (records.length === 0) throw new Error(`PyTorch peer "${script}" printed no result lines`);
  return records;
}

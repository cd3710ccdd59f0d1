/**
 * Compares echoflow with the golden numbers of the original code (`golden.py`), for one experiment and
 * state: used by `tests/snf_golden_test.ts` (which asserts the tolerances) and, run directly, prints the
 * measured agreement of every experiment:
 *
 *   deno run -A bench/snf_peer/compare.ts [--fixtures tests/fixtures/snf] [--only NAME,NAME]
 *
 * Errors (all relative, so one tolerance fits models whose log p ranges from -400 to -40,000 nats):
 * - `logp`: max over images of |log p_echoflow - log p_original| / |log p_original| (evaluation mode);
 * - `loss`: the same for the training objective (the value the runner minimises);
 * - `grad`: max over parameters of the error of the gradient's norm, its +-1 projection (every entry)
 *   and its stored entries, each divided by max(|gradient of that parameter|, floor x |whole gradient|);
 * - `buffers`: the same for buffers a training step changes (ConvExp's power-iteration vectors);
 * - `weights`: relative difference of the weights' sums and sums of squares from those golden.py was
 *   given (non-zero means the model here is not the one the golden numbers are for).
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../lib/backend.ts";
import {
  BATCH,
  buildState,
  type ExperimentName,
  EXPERIMENTS,
  fingerprint,
  logProbOf,
  type ModelState,
  SIDE,
  type StateName,
  STATES,
  trainingLossOf,
} from "./states.ts";

/** A tensor as `golden.py`'s `summary` writes it. */
export interface TensorSummary {
  readonly shape: number[];
  readonly norm: number;
  readonly sum: number;
  readonly proj: number;
  readonly absmax: number;
  readonly stride: number;
  /** Base64 of float32 little-endian: entries 0, stride, 2 stride, ... in flat (original) order. */
  readonly sample: string;
}

/** One state of a golden file. */
export interface GoldenState {
  readonly fingerprints: Record<string, ReturnType<typeof fingerprint>>;
  readonly logp: number[];
  readonly loss: number;
  readonly grad_total_norm: number;
  readonly grads: Record<string, TensorSummary>;
  readonly buffers_after: Record<string, TensorSummary>;
  readonly f32: { logp_max_abs_err: number; loss_abs_err: number; grad_max_rel_err: number };
}

export interface GoldenFile {
  readonly experiment: ExperimentName;
  readonly grad_floor: number;
  readonly states: Record<StateName, GoldenState>;
}

/** Measured errors of one state (see the module comment) and the parameter with the largest. */
export interface Agreement {
  readonly weights: number;
  readonly logp: number;
  readonly loss: number;
  readonly grad: number;
  readonly gradWorst: string;
  readonly buffers: number;
  /** The original's own float32 errors, relative as above (from golden.py). */
  readonly originalF32: { logp: number; loss: number; grad: number };
}

/** +-1 for entry i: bit 15 of (i * 2654435761) mod 2^32 (as golden.py's `signs`). */
function sign(i: number): number {
  return ((Math.imul(i, 2654435761) >>> 15) & 1) === 1 ? 1 : -1;
}

/** Float32 values from base64 of their little-endian bytes (the byte order of every platform Deno runs on). */
function decodeFloats(b64: string): Float32Array {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
}

/** Largest error of `values` (original layout) against `g`, relative to `scale`. */
function tensorError(values: Float32Array, g: TensorSummary, scale: number): number {
  if (values.length !== g.shape.reduce((a, b) => a * b, 1)) return Infinity;
  let sq = 0, proj = 0;
  values.forEach((v, i) => {
    sq += v * v;
    proj += sign(i) * v;
  });
  const sample = decodeFloats(g.sample);
  let worst = Math.max(Math.abs(Math.sqrt(sq) - g.norm), Math.abs(proj - g.proj));
  sample.forEach((v, k) => (worst = Math.max(worst, Math.abs(values[k * g.stride] - v))));
  return worst / scale;
}

/** The golden batch as `[BATCH, 196]` dequantized rows. */
export function readBatch(dir: URL): tf.Tensor2D {
  const b = JSON.parse(Deno.readTextFileSync(new URL("batch.json", dir)));
  const values = decodeFloats(b.dequantized_f32le);
  if (b.side !== SIDE || b.batch !== BATCH || values.length !== BATCH * SIDE * SIDE) {
    throw new Error(
      `${dir}batch.json: expected ${BATCH} images of ${SIDE} x ${SIDE}, got ${values.length} values`,
    );
  }
  return tf.tensor2d(values, [BATCH, SIDE * SIDE]);
}

/** Reads `<name>.json` of the golden folder. */
export function readGolden(dir: URL, name: ExperimentName): GoldenFile {
  return JSON.parse(Deno.readTextFileSync(new URL(`${name}.json`, dir)));
}

/** Builds experiment `name` in `state` and measures its agreement with the golden numbers. */
export function compareState(
  name: ExperimentName,
  state: StateName,
  golden: GoldenFile,
  x: tf.Tensor2D,
): Agreement {
  const g = golden.states[state];
  const s: ModelState = buildState(name, state, x);
  try {
    let weights = 0;
    for (const e of s.entries) {
      const want = g.fingerprints[e.name];
      const got = fingerprint(e.variable.dataSync() as Float32Array);
      if (!want || want.n !== got.n) {
        weights = Infinity;
        continue;
      }
      const scale = Math.sqrt(want.n * want.sumsq) + 1e-30;
      weights = Math.max(
        weights,
        Math.abs(got.sum - want.sum) / scale,
        Math.abs(got.sumsq - want.sumsq) / (want.sumsq + 1e-30),
      );
    }
    const logp = tf.tidy(() => logProbOf(s, x).dataSync());
    let logpErr = 0;
    logp.forEach((v, i) => (logpErr = Math.max(logpErr, Math.abs(v - g.logp[i]) / Math.abs(g.logp[i]))));
    const vars = s.model.parameters().map(([, v]) => v);
    const { value, grads } = tf.variableGrads(() => trainingLossOf(s, x), vars);
    const loss = value.dataSync()[0];
    value.dispose();
    let grad = 0, gradWorst = "";
    for (const e of s.entries) {
      if (e.buffer) continue;
      const want = g.grads[e.name];
      const t = grads[e.variable.name];
      const values = e.toTorch(t ? t.dataSync() as Float32Array : new Float32Array(e.variable.size));
      const err = want
        ? tensorError(values, want, Math.max(want.norm, golden.grad_floor * g.grad_total_norm))
        : Infinity;
      if (err > grad) [grad, gradWorst] = [err, e.name];
    }
    tf.dispose(grads);
    let buffers = 0;
    for (const [bname, want] of Object.entries(g.buffers_after)) {
      const e = s.entries.find((en) => en.name === bname);
      const err = e
        ? tensorError(e.toTorch(e.variable.dataSync() as Float32Array), want, want.norm)
        : Infinity;
      buffers = Math.max(buffers, err);
    }
    const minAbsLogp = Math.min(...g.logp.map(Math.abs));
    return {
      weights,
      logp: logpErr,
      loss: Math.abs(loss - g.loss) / Math.abs(g.loss),
      grad,
      gradWorst,
      buffers,
      originalF32: {
        logp: g.f32.logp_max_abs_err / minAbsLogp,
        loss: g.f32.loss_abs_err / Math.abs(g.loss),
        grad: g.f32.grad_max_rel_err,
      },
    };
  } finally {
    s.dispose();
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--fixtures");
  const dir = new URL(
    (i >= 0 ? Deno.args[i + 1] : "tests/fixtures/snf").replace(/\/?$/, "/"),
    `file://${Deno.cwd()}/`,
  );
  await selectBackend("wasm");
  const j = Deno.args.indexOf("--only");
  const only = j >= 0 ? Deno.args[j + 1].split(",") : null;
  const x = readBatch(dir);
  const e = (v: number) => v.toExponential(1);
  console.log(
    "| experiment | state | log p | loss | gradient (worst parameter) | buffers | original in float32: log p, loss, gradient |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const name of EXPERIMENTS) {
    if (only && !only.includes(name)) continue;
    const golden = readGolden(dir, name);
    for (const state of STATES) {
      const a = compareState(name, state, golden, x);
      const o = a.originalF32;
      console.log(
        `| ${name} | ${state} | ${e(a.logp)} | ${e(a.loss)} | ${e(a.grad)} (${a.gradWorst}) | ` +
          `${Object.keys(golden.states[state].buffers_after).length ? e(a.buffers) : "-"} | ` +
          `${e(o.logp)}, ${e(o.loss)}, ${e(o.grad)} |` +
          (a.weights > 1e-5 ? ` WEIGHTS DIFFER ${e(a.weights)}` : ""),
      );
    }
  }
  x.dispose();
}

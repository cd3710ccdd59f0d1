/**
 * The echo state network (ESN) that encodes the past of a sequence into a fixed-size state.
 *
 *   h_0 = 0,   h_t = a * tanh(W_res h_{t-1} + W_fb x_t) + (1 - a) * h_{t-1}
 *
 * with leaking rate `a`, a sparse reservoir `W_res` (N x N, `connPerNeuron` standard-normal entries per row
 * at distinct random columns, scaled so that its spectral radius is `spectralRadius`) and a dense input
 * ("feedback") matrix `W_fb` (N x D, standard normal, scaled so that its largest singular value is
 * `sqrt(spectralRadius)`, as the reference `torch_esn_flow.py` does). The weights are fixed at construction
 * and never trained; they are {@link Module.buffers} so checkpoints carry them.
 *
 * Jaeger, "The echo state approach to analysing and training recurrent neural networks", GMD Report 148
 * (2001); Lukoševičius, "A practical guide to applying echo state networks" (2012).
 *
 * Speed: the recurrence runs on the host over the sparse rows (N * connPerNeuron + N * D multiply-adds per
 * frame instead of N^2 + N * D), over real frames only, and was kept because it is faster than the dense
 * tfjs recurrence ({@link esnStatesDense}) on the wasm backend. Measured at N = 1000, D = 40, 10
 * connections per neuron, B = 128 sequences of 20 frames, 2 shared cores (two runs, the second under load
 * from other processes): sparse host 15,200 / 6,200 frames/s, dense tf.matMul 9,400 / 3,400 frames/s:
 *
 *   deno eval 'import {selectBackend} from "./lib/backend.ts"; import {EchoStateNetwork as E,
 *     esnStatesDense as d} from "./lib/esn.ts"; import {Rng} from "./lib/rng.ts"; import * as tf from
 *     "@tensorflow/tfjs"; await selectBackend("wasm"); const e = new E({frameDim: 40, esnDim: 1000},
 *     new Rng(0)), x = new Rng(1).normals(2560 * 40); for (const f of [() => e.encodePacked(x, new
 *     Array(128).fill(20)), () => d(e, tf.tensor3d(x, [20, 128, 40])).dataSync()]) { f(); const t =
 *     performance.now(); f(); console.log(Math.round(2560 / (performance.now() - t) * 1e3), "frames/s"); }'
 *
 * (With tfjs-wasm's transposed matMul, i.e. without pre-transposing the weights, the dense version
 * managed 800 frames/s.) Sampling, where frames are produced on the device, uses {@link step}: the same
 * sparse product as `tf.gather` + sum, no host round trip.
 */
import * as tf from "@tensorflow/tfjs";
import { type SequenceBatch, transposeHost } from "./data/sequences.ts";
import type { SequenceEncoder } from "./dynamic/encoder.ts";
import type { NamedTensors } from "./nn/module.ts";
import { Rng } from "./rng.ts";
import { type FixedRowSparse, largestSingularValue, randomSparse, spectralRadius } from "./dynamic/sparse.ts";

/** Sizes and scalings of an {@link EchoStateNetwork} (defaults: those of the original design). */
export interface EsnOptions {
  /** Frame dimension D (input of the reservoir). */
  readonly frameDim: number;
  /** Reservoir size N. */
  readonly esnDim: number;
  /** Non-zeros per reservoir row (default 10). */
  readonly connPerNeuron?: number;
  /** Spectral radius of W_res; W_fb gets largest singular value sqrt(spectralRadius) (default 0.8). */
  readonly spectralRadius?: number;
  /** Leaking rate a in (0, 1] (default 0.5). */
  readonly leakingRate?: number;
}

/**
 * The fixed ESN encoder: `h_t = a tanh(W_res h_{t-1} + W_fb x_t) + (1 - a) h_{t-1}`, `h_0 = 0` (see the
 * module doc); weights are buffers, never parameters.
 */
export class EchoStateNetwork implements SequenceEncoder {
  readonly frameDim: number;
  readonly esnDim: number;
  readonly connPerNeuron: number;
  readonly spectralRadius: number;
  readonly leakingRate: number;
  /** Non-zero values of W_res, `[N, connPerNeuron]`. */
  readonly reservoirValues: tf.Variable;
  /** Column of each non-zero, `[N, connPerNeuron]`, integers stored as float32 (exact below 2^24). */
  readonly reservoirColumns: tf.Variable;
  /** W_fb, `[N, D]`. */
  readonly feedback: tf.Variable;
  #host: { res: FixedRowSparse; fbT: Float32Array };
  #hostIds: readonly object[] = [];
  #fingerprint: string | null = null;

  /** Draws the reservoir from `rng` (same seed, same reservoir). */
  constructor(opts: EsnOptions, rng: Rng) {
    const { frameDim: d, esnDim: n } = opts;
    const conn = opts.connPerNeuron ?? 10;
    const radius = opts.spectralRadius ?? 0.8;
    const leak = opts.leakingRate ?? 0.5;
    if (!(Number.isInteger(d) && d >= 1)) {
      throw new Error(`EchoStateNetwork: frame_dim must be >= 1, got ${d}`);
    }
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`EchoStateNetwork: esn_dim must be >= 1, got ${n}`);
    if (!(radius > 0)) throw new Error(`EchoStateNetwork: spectral_radius must be > 0, got ${radius}`);
    if (!(leak > 0 && leak <= 1)) {
      throw new Error(`EchoStateNetwork: leaking_rate must be in (0, 1], got ${leak}`);
    }
    this.frameDim = d;
    this.esnDim = n;
    this.connPerNeuron = conn;
    this.spectralRadius = radius;
    this.leakingRate = leak;

    const res = randomSparse(n, conn, rng);
    const rho = spectralRadius(res, new Rng(rng.seed()));
    // A nilpotent reservoir (possible for tiny N) has radius 0: leave it unscaled rather than divide by 0.
    const sRes = rho > 0 ? radius / rho : 1;
    const values = res.values.map((v) => v * sRes);
    const fb = rng.normals(n * d);
    const sFb = Math.sqrt(radius) / largestSingularValue(fb, n, d);
    for (let i = 0; i < fb.length; i++) fb[i] *= sFb;
    // tf.variable copies its initial value: tidy frees the temporary tensors (variables survive tidy).
    this.reservoirValues = tf.tidy(() => tf.variable(tf.tensor2d(values, [n, conn]), false));
    this.reservoirColumns = tf.tidy(() =>
      tf.variable(tf.tensor2d(Float32Array.from(res.columns), [n, conn]), false)
    );
    this.feedback = tf.tidy(() => tf.variable(tf.tensor2d(fb, [n, d]), false));
    this.#host = { res: { ...res, values }, fbT: transposeHost(fb, n, d) };
    this.#hostIds = this.buffers().map(([, v]) => v.dataId);
  }

  /** No trainable parameters: the ESN is fixed. */
  parameters(): NamedTensors<tf.Variable> {
    return [];
  }

  buffers(): NamedTensors<tf.Variable> {
    return [
      ["reservoir_values", this.reservoirValues],
      ["reservoir_columns", this.reservoirColumns],
      ["feedback", this.feedback],
    ];
  }

  /**
   * Host copies of the weights (W_res in sparse form, W_fb transposed), kept from construction and re-read
   * (synchronously) when a checkpoint has assigned new values to the buffers; on a backend without
   * synchronous reads (WebGPU) call {@link syncHost} after restoring.
   */
  host(): { res: FixedRowSparse; fbT: Float32Array } {
    const ids = this.buffers().map(([, v]) => v.dataId);
    if (ids.some((id, i) => id !== this.#hostIds[i])) {
      this.#setHost(
        this.reservoirValues.dataSync(),
        this.reservoirColumns.dataSync(),
        this.feedback.dataSync(),
      );
    }
    return this.#host;
  }

  /** Re-reads the host copies of the buffers asynchronously (after a checkpoint restore). */
  async syncHost(): Promise<void> {
    const [v, c, f] = await Promise.all(this.buffers().map(([, t]) => t.data()));
    this.#setHost(v, c, f);
  }

  #setHost(values: ArrayLike<number>, columns: ArrayLike<number>, fb: ArrayLike<number>): void {
    const n = this.esnDim, conn = this.connPerNeuron;
    this.#host = {
      res: {
        rows: n,
        cols: n,
        perRow: conn,
        values: Float32Array.from(values),
        columns: Int32Array.from(columns),
      },
      fbT: transposeHost(Float32Array.from(fb), n, this.frameDim),
    };
    this.#hostIds = this.buffers().map(([, t]) => t.dataId);
    this.#fingerprint = null;
  }

  /**
   * A digest of the sizes and weights (FNV-1a over their float32 bytes): two networks with the same
   * fingerprint compute the same states, so one state cache serves both (e.g. per-class models built with
   * the same seed).
   */
  fingerprint(): string {
    const { res, fbT } = this.host();
    if (this.#fingerprint === null) {
      let h = 0x811c9dc5;
      const mix = (bytes: Uint8Array) => {
        for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
      };
      for (const a of [res.values, res.columns, fbT]) {
        mix(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      }
      this.#fingerprint = `esn:${this.frameDim}x${this.esnDim}x${this.connPerNeuron}:a${this.leakingRate}:${
        (h >>> 0).toString(16)
      }`;
    }
    return this.#fingerprint;
  }

  /** The dense W_res, `[N, N]` (tests and the dense reference). */
  denseReservoir(): tf.Tensor2D {
    const { res } = this.host();
    const w = new Float32Array(res.rows * res.cols);
    for (let r = 0; r < res.rows; r++) {
      for (let k = 0; k < res.perRow; k++) {
        w[r * res.cols + res.columns[r * res.perRow + k]] += res.values[r * res.perRow + k];
      }
    }
    return tf.tensor2d(w, [res.rows, res.cols]);
  }

  /** State dimension N (the {@link SequenceEncoder} name for {@link esnDim}). */
  get stateDim(): number {
    return this.esnDim;
  }

  /**
   * `h_{t-1}` of the batch's real frames, `[R, N]`: the batch's cached states when they come from a
   * network with this one's {@link fingerprint} (see `lib/dynamic/state_cache.ts`), else
   * {@link encodePacked} on the host, attached to the batch so that it runs once per batch.
   */
  states(batch: SequenceBatch): tf.Tensor2D {
    return this.#attach(batch).states!;
  }

  /** The reservoir is fixed: its states need no gradient. */
  readonly constantStates = true;

  /** Encodes the batch on the host unless it already carries this network's states; they stay attached. */
  #attach(batch: SequenceBatch): SequenceBatch {
    if (batch.frameDim !== this.frameDim) {
      throw new Error(
        `EchoStateNetwork: batch frame_dim ${batch.frameDim} != ESN frame_dim ${this.frameDim}`,
      );
    }
    const key = this.fingerprint();
    if (batch.stateKey !== key) {
      batch.attachStates(this.encodePacked(batch.packedHost, batch.lengths), this.esnDim, key);
    }
    return batch;
  }

  initial(n: number): tf.Tensor2D {
    return tf.zeros([n, this.esnDim]);
  }

  /**
   * One leaky update of states `h: [n, N]` with frames `x: [n, D]` in tfjs ops (used for sampling, where
   * frames are produced on the device): the sparse product gathers `connPerNeuron` entries of h per row.
   */
  step(h: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
    const n = this.esnDim, conn = this.connPerNeuron, rows = h.shape[0];
    const cols = tf.tensor1d(this.host().res.columns, "int32");
    const wh = tf.sum(tf.mul(tf.reshape(tf.gather(h, cols, 1), [rows, n, conn]), this.reservoirValues), -1);
    const pre = tf.add(wh, tf.matMul(x, tf.transpose(this.feedback)));
    return tf.add(tf.mul(this.leakingRate, tf.tanh(pre)), tf.mul(1 - this.leakingRate, h));
  }

  /**
   * One leaky update on the host: `h: [B * N]` (row-major) is replaced in place by h_t given `x: [B * D]`.
   */
  stepHost(h: Float32Array, x: Float32Array): void {
    const n = this.esnDim, d = this.frameDim;
    const batch = x.length / d;
    if (!Number.isInteger(batch) || h.length !== batch * n) {
      throw new Error(
        `EchoStateNetwork.step: h has ${h.length} values and x ${x.length}; need [B*${n}], [B*${d}]`,
      );
    }
    const { res, fbT } = this.host();
    const pre = new Float64Array(n);
    for (let b = 0; b < batch; b++) leakyUpdate(h, b * n, x, b * d, res, fbT, d, this.leakingRate, pre);
  }

  /**
   * The states that condition each frame, for sequences packed one after another:
   * `x: [R * D]` holds the frames of sequence 0, then sequence 1, ... with `lengths` frames each;
   * the result `[R * N]` holds, for frame t of each sequence, h_{t-1} (h_0 = 0 for its first frame).
   * Only real frames are touched: the cost is R * (N * connPerNeuron + N * D) multiply-adds.
   */
  encodePacked(x: Float32Array, lengths: ArrayLike<number>): Float32Array {
    const n = this.esnDim, d = this.frameDim;
    let frames = 0;
    for (let i = 0; i < lengths.length; i++) frames += lengths[i];
    if (x.length !== frames * d) {
      throw new Error(
        `EchoStateNetwork.encodePacked: x has ${x.length} values, lengths sum to ${frames} frames of ${d}`,
      );
    }
    const { res, fbT } = this.host();
    const out = new Float32Array(frames * n);
    const h = new Float32Array(n);
    const a = this.leakingRate;
    const pre = new Float64Array(n);
    for (let s = 0, off = 0; s < lengths.length; off += lengths[s], s++) {
      h.fill(0);
      for (let t = 0; t < lengths[s]; t++) {
        out.set(h, (off + t) * n);
        // The state after the last frame conditions nothing: skip it.
        if (t + 1 < lengths[s]) leakyUpdate(h, 0, x, (off + t) * d, res, fbT, d, a, pre);
      }
    }
    return out;
  }
}

/**
 * `h[ho..ho+N) <- a * tanh(W_res h + W_fb x) + (1 - a) h`, with `pre` as scratch. A free function with
 * plain locals: V8 optimises it ~2x better than the same loops in a class method (measured).
 */
function leakyUpdate(
  h: Float32Array,
  ho: number,
  x: Float32Array,
  xo: number,
  res: FixedRowSparse,
  fbT: Float32Array,
  d: number,
  a: number,
  pre: Float64Array,
): void {
  const n = res.rows, conn = res.perRow, vals = res.values, cols = res.columns;
  for (let i = 0, o = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < conn; k++, o++) s += vals[o] * h[ho + cols[o]];
    pre[i] = s;
  }
  // axpy order over W_fb^T ([D, N]): independent multiply-adds, faster in V8 than row dot products.
  for (let j = 0; j < d; j++) {
    const xj = x[xo + j];
    for (let i = 0, f = j * n; i < n; i++, f++) pre[i] += fbT[f] * xj;
  }
  for (let i = 0; i < n; i++) h[ho + i] = a * Math.tanh(pre[i]) + (1 - a) * h[ho + i];
}

/**
 * Dense reference of {@link EchoStateNetwork.encodePacked} for a zero-padded batch `x: [T, B, D]`:
 * returns h_{t-1} for every (t, b), `[T, B, N]`, computed with `tf.matMul` against the dense reservoir.
 */
export function esnStatesDense(esn: EchoStateNetwork, x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const [steps, batch] = x.shape;
    // Pre-transposed: tfjs-wasm's matMul with transposeB is ~10x slower than a plain one (measured).
    const wresT = esn.denseReservoir().transpose();
    const wfbT = esn.feedback.transpose();
    const a = esn.leakingRate;
    let h: tf.Tensor2D = tf.zeros([batch, esn.esnDim]);
    const out: tf.Tensor2D[] = [];
    const xs = tf.unstack(x) as tf.Tensor2D[];
    for (let t = 0; t < steps; t++) {
      out.push(h);
      const pre = tf.add(tf.matMul(h, wresT), tf.matMul(xs[t], wfbT));
      h = tf.add(tf.mul(a, tf.tanh(pre)), tf.mul(1 - a, h));
    }
    return tf.stack(out) as tf.Tensor3D;
  });
}

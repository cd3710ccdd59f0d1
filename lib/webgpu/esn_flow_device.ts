/**
 * The ESN-conditioned flow on WebGPU in a few WGSL kernels (`esn_flow_wgsl.ts`): `log p(x | h)` of an
 * {@link EsnFlow} in 2 launches, the loss and every parameter's gradient in 6, and a whole Adam step in 8,
 * with no read-back to the host. The flow's parameters are copied into one flat buffer at the start of each
 * call (buffer copies, no kernel), so the variables stay the truth: a restored checkpoint or an
 * assignment between steps is seen by the next one. An Adam step writes the new values into fresh tensors
 * that the variables then take (as `variable.assign` does), and updates {@link AdamSlots} in place.
 *
 * Used by `DynamicModel` on the WebGPU backend (its `deviceStep` and its log-likelihood outside a gradient
 * tape) when the frame density is a single flow on fixed ESN states; everything else takes the tfjs ops.
 * `tests/webgpu_flow_test.ts` checks every output against autodiff of the layer-by-layer composition.
 */
import * as tf from "@tensorflow/tfjs";
import type { EsnFlow } from "../dynamic/esn_flow.ts";
import { halfSplit } from "../dynamic/esn_flow_layer.ts";
import { ToeplitzLinear } from "../nn/toeplitz.ts";
import { type Command, type Copy, type Dispatch, GpuDevice } from "./device.ts";
import {
  flowKernels,
  type FlowShape,
  FrameLayout,
  grid,
  type Operand,
  type Product,
  PRODUCT_WORDS,
  productTable,
  REDUCE_GROUP,
  ROW_GROUP,
  Source,
  ThetaLayout,
  TILE,
} from "./esn_flow_wgsl.ts";

/** What an Adam step on the device updates and reads (`FlatAdam.deviceSlots` in `lib/runner/adam.ts`). */
export interface AdamSlots {
  /** First and second moments of all parameters, flat, in `parameters()` order; updated in place. */
  readonly m: tf.Tensor;
  readonly v: tf.Tensor;
  /** The running powers `beta1^t`, `beta2^t` (scalars); advanced in place. */
  readonly accBeta1: tf.Tensor;
  readonly accBeta2: tf.Tensor;
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
}

let enabled = true;

/**
 * Turns the WGSL kernels on or off (on by default): off, the flow runs as tfjs ops on WebGPU too (the
 * bench's `--webgpu_kernels off`, for the before/after dispatch counts).
 */
export function setWebGpuKernels(on: boolean): void {
  enabled = on;
}

/** Whether {@link DeviceEsnFlow.of} may give kernels (the switch above). */
export function webGpuKernelsEnabled(): boolean {
  return enabled;
}

type Pipelines = Record<keyof ReturnType<typeof flowKernels>, GPUComputePipeline>;

const devices = new WeakMap<EsnFlow, DeviceEsnFlow>();

/** Frames per unit of row capacity (the per-frame buffers grow in these steps). */
const ROW_QUANTUM = 256;

/** The flow's kernels and buffers on tfjs's WebGPU device (module doc). */
export class DeviceEsnFlow {
  readonly shape: FlowShape;
  readonly theta: ThetaLayout;
  readonly frames: FrameLayout;
  readonly #gpu: GpuDevice;
  readonly #flow: EsnFlow;
  readonly #pipelines: Pipelines;
  readonly #products: { table: GPUBuffer; count: number; workgroups: number };
  /** Flat parameters, gradients (then the full `dW_1^T` of Toeplitz layers), and Adam's 3 scalars. */
  readonly #thetaBuf: GPUBuffer;
  readonly #grads: GPUBuffer;
  readonly #fullFirst: number;
  readonly #scalars: GPUBuffer;
  readonly #uniforms: Record<"rows" | "products" | "diagonals" | "loss" | "norm" | "adam", GPUBuffer>;
  #capacity = 0;
  #rowBufs: { hc: GPUBuffer; tape: GPUBuffer; deltas: GPUBuffer } | null = null;

  /** The kernels of `flow` on the current backend, or null where there are none (not WebGPU, or off). */
  static of(flow: EsnFlow): DeviceEsnFlow | null {
    if (!enabled) return null;
    const gpu = GpuDevice.current();
    if (!gpu) return null;
    let d = devices.get(flow);
    if (!d || d.#gpu !== gpu) devices.set(flow, d = new DeviceEsnFlow(gpu, flow));
    return d;
  }

  /** Frees the device buffers of `flow`'s kernels, if it has any (its model is being disposed). */
  static release(flow: EsnFlow): void {
    const d = devices.get(flow);
    if (!d) return;
    devices.delete(flow);
    const rows = d.#rowBufs ? [d.#rowBufs.hc, d.#rowBufs.tape, d.#rowBufs.deltas] : [];
    for (
      const b of [
        d.#thetaBuf,
        d.#grads,
        d.#scalars,
        d.#products.table,
        ...Object.values(d.#uniforms),
        ...rows,
      ]
    ) {
      b.destroy();
    }
  }

  private constructor(gpu: GpuDevice, flow: EsnFlow) {
    this.#gpu = gpu;
    this.#flow = flow;
    const { frameDim: dim, contextDim, hiddenDim: width, numHiddenLayers, numFlowLayers } = flow.opts;
    this.shape = {
      dim,
      split: halfSplit(dim),
      numLayers: numFlowLayers,
      width,
      numHidden: numHiddenLayers - 1,
      contextDim,
      toeplitz: flow.layers[0].conditioner.first instanceof ToeplitzLinear,
    };
    this.theta = new ThetaLayout(this.shape);
    this.frames = new FrameLayout(this.shape);
    const sizes = flow.parameters().map(([, v]) => v.size);
    if (sizes.length !== this.theta.sizes.length || sizes.some((s, i) => s !== this.theta.sizes[i])) {
      throw new Error(
        `DeviceEsnFlow: the flow's parameters have sizes [${sizes}], the kernels' layout [${this.theta.sizes}]`,
      );
    }
    const sources = flowKernels(this.shape);
    this.#pipelines = Object.fromEntries(
      Object.entries(sources).map(([k, src]) => [k, gpu.pipeline(src)]),
    ) as Pipelines;
    const { dim: d, contextDim: n, width: l, numLayers: L } = this.shape;
    this.#fullFirst = this.theta.total;
    this.#thetaBuf = gpu.storage(4 * this.theta.total);
    this.#grads = gpu.storage(4 * (this.theta.total + (this.shape.toeplitz ? L * (d + n) * l : 0)));
    this.#scalars = gpu.storage(16);
    const { table, workgroups } = productTable(this.#gradientProducts());
    const tableBuf = gpu.storage(table.byteLength);
    gpu.write(tableBuf, table);
    this.#products = { table: tableBuf, count: table.length / PRODUCT_WORDS, workgroups };
    this.#uniforms = {
      rows: gpu.uniform(16),
      products: gpu.uniform(16),
      diagonals: gpu.uniform(16),
      loss: gpu.uniform(16),
      norm: gpu.uniform(16),
      adam: gpu.uniform(32),
    };
    gpu.write(this.#uniforms.diagonals, new Uint32Array([this.#fullFirst, 0, 0, 0]));
  }

  /**
   * Every gradient as a sum over frames (`esn_flow_wgsl.ts`, `products`): per layer and coupling the slope
   * and intercept heads on the changed part's columns and the first layer's rows of the kept part; per layer
   * the hidden layers (both couplings), the first bias and the context rows; the rescale.
   */
  #gradientProducts(): Product[] {
    const { dim: d, split, numLayers: L, width: l, numHidden: H, contextDim: n, toeplitz } = this.shape;
    const t = this.theta, f = this.frames, out: Product[] = [];
    const ones: Operand = { source: Source.Ones, at: 0 };
    const tape = (at: number): Operand => ({ source: Source.Tape, at });
    const delta = (at: number): Operand => ({ source: Source.Deltas, at });
    const parts = [{ at: 0, size: split }, { at: split, size: d - split }];
    for (let i = 0; i < L; i++) {
      const lb = i * t.layerStride, ii = L - 1 - i;
      const first = toeplitz ? this.#fullFirst + i * (d + n) * l : lb + t.first;
      const c2 = [0, 1].map((c) => {
        const changed = parts[c], kept = parts[1 - c], tb = f.tape(ii, c), eb = f.delta(i, c);
        return {
          changed,
          kept,
          tb,
          eb,
          relu: (k: number) => tb + kept.size + k * l,
          da: (k: number) => eb + 2 * changed.size + k * l,
        };
      });
      for (const { changed, kept, tb, eb, relu, da } of c2) {
        const last = tape(relu(H)), cn = changed.size;
        const head = (at: number, a: Operand, b: Operand, sign: 1 | -1, rows: number): Product => ({
          rows,
          cols: cn,
          terms: [[a, b]],
          at: lb + at + changed.at,
          rowStride: d,
          colStride: 1,
          sign,
        });
        out.push(
          head(t.slopeW, last, delta(eb + cn), 1, l),
          head(t.slopeB, ones, delta(eb + cn), 1, 1),
          head(t.interceptW, last, delta(eb), -1, l),
          head(t.interceptB, ones, delta(eb), -1, 1),
          {
            rows: kept.size,
            cols: l,
            terms: [[tape(tb), delta(da(0))]],
            at: first + kept.at * l,
            rowStride: l,
            colStride: 1,
            sign: 1,
          },
        );
      }
      for (let k = 1; k <= H; k++) {
        const w = lb + t.hidden + (k - 1) * t.hiddenStride;
        out.push(
          {
            rows: l,
            cols: l,
            terms: c2.map((c) => [tape(c.relu(k - 1)), delta(c.da(k))] as const),
            at: w,
            rowStride: l,
            colStride: 1,
            sign: 1,
          },
          {
            rows: 1,
            cols: l,
            terms: c2.map((c) => [ones, delta(c.da(k))] as const),
            at: w + l * l,
            rowStride: 0,
            colStride: 1,
            sign: 1,
          },
        );
      }
    }
    // Every layer's first bias and context rows at once (a column block of l per layer).
    const dhc = delta(f.contextDelta), block = l;
    out.push(
      {
        rows: 1,
        cols: L * l,
        terms: [[ones, dhc]],
        at: t.firstBias,
        rowStride: 0,
        colStride: 1,
        sign: 1,
        block,
        blockStride: t.layerStride,
      },
      {
        rows: n,
        cols: L * l,
        terms: [[{ source: Source.States, at: 0 }, dhc]],
        at: (toeplitz ? this.#fullFirst : t.first) + d * l,
        rowStride: l,
        colStride: 1,
        sign: 1,
        block,
        blockStride: toeplitz ? (d + n) * l : t.layerStride,
      },
    );
    out.push({
      rows: 1,
      cols: d,
      terms: [[ones, delta(f.rescaleDelta)]],
      at: t.rescale,
      rowStride: 0,
      colStride: 1,
      sign: 1,
    });
    return out;
  }

  /** Per-frame buffers for `rows` frames (grown in steps of {@link ROW_QUANTUM}). */
  #rows(rows: number): { hc: GPUBuffer; tape: GPUBuffer; deltas: GPUBuffer } {
    if (!this.#rowBufs || rows > this.#capacity) {
      const bufs = this.#rowBufs;
      if (bufs) { for (const b of [bufs.hc, bufs.tape, bufs.deltas]) b.destroy(); }
      this.#capacity = Math.ceil(rows / ROW_QUANTUM) * ROW_QUANTUM;
      const bytes = (features: number) => 4 * features * this.#capacity;
      this.#rowBufs = {
        hc: this.#gpu.storage(bytes(this.shape.numLayers * this.shape.width)),
        tape: this.#gpu.storage(bytes(this.frames.tapeFeatures)),
        deltas: this.#gpu.storage(bytes(this.frames.deltaFeatures)),
      };
    }
    return this.#rowBufs;
  }

  #check(x: tf.Tensor2D, h: tf.Tensor2D): number {
    const { dim, contextDim } = this.shape, rows = x.shape[0];
    if (x.shape[1] !== dim || h.shape[1] !== contextDim || h.shape[0] !== rows) {
      throw new Error(
        `DeviceEsnFlow: x [${x.shape}] and h [${h.shape}] must be [R, ${dim}] and [R, ${contextDim}]`,
      );
    }
    return rows;
  }

  /** Copies of every parameter into the flat buffer. */
  #gather(): Copy[] {
    let at = 0;
    return this.#flow.parameters().map(([, v]) => {
      const copy = {
        from: this.#gpu.bufferOf(v),
        fromOffset: 0,
        to: this.#thetaBuf,
        toOffset: 4 * at,
        size: 4 * v.size,
      };
      at += v.size;
      return copy;
    });
  }

  /** The projection and forward launches for `rows` frames (`train`: keep the tape, `g` per frame). */
  #forward(x: tf.Tensor2D, h: tf.Tensor2D, rows: number, logp: GPUBuffer, train: boolean, g = 0): Dispatch[] {
    const bufs = this.#rows(rows), gpu = this.#gpu, p = this.#pipelines;
    const u = new ArrayBuffer(16);
    new Uint32Array(u, 0, 3).set([rows, this.#capacity, train ? 1 : 0]);
    new Float32Array(u, 12, 1)[0] = g;
    gpu.write(this.#uniforms.rows, new Uint8Array(u));
    const cols = this.shape.numLayers * this.shape.width;
    return [
      {
        pipeline: p.project,
        buffers: [this.#thetaBuf, gpu.bufferOf(h), bufs.hc, this.#uniforms.rows],
        workgroups: [Math.ceil(rows / TILE), Math.ceil(cols / TILE)],
      },
      {
        pipeline: p.forward,
        buffers: [this.#thetaBuf, gpu.bufferOf(x), bufs.hc, bufs.tape, logp, this.#uniforms.rows],
        workgroups: [Math.ceil(rows / ROW_GROUP)],
      },
    ];
  }

  /** `log p(x | h)` per frame, `[R]` (no gradient: for evaluation and sampling scores). */
  logProb(x: tf.Tensor2D, h: tf.Tensor2D): tf.Tensor1D {
    const rows = this.#check(x, h);
    const out = this.#gpu.empty<tf.Rank.R1>([rows]);
    this.#gpu.encode([...this.#gather(), ...this.#forward(x, h, rows, out.buffer, false)]);
    return out.tensor;
  }

  /**
   * The launches of loss and gradients for a batch of `sequences` sequences: `loss = -sum(log p) /
   * sequences` into `loss`, every gradient into the flat gradient buffer.
   */
  #lossAndGradients(x: tf.Tensor2D, h: tf.Tensor2D, sequences: number, loss: GPUBuffer): Command[] {
    const rows = this.#check(x, h), gpu = this.#gpu, p = this.#pipelines;
    const logp = this.#gpu.empty<tf.Rank.R1>([rows]);
    const commands: Command[] = [
      ...this.#gather(),
      ...this.#forward(x, h, rows, logp.buffer, true, -1 / sequences),
    ];
    const bufs = this.#rows(rows);
    const lu = new ArrayBuffer(16);
    new Uint32Array(lu, 0, 1)[0] = rows;
    new Float32Array(lu, 12, 1)[0] = -1 / sequences;
    gpu.write(this.#uniforms.loss, new Uint8Array(lu));
    gpu.write(this.#uniforms.products, new Uint32Array([rows, this.#capacity, this.#products.count, 0]));
    commands.push(
      { pipeline: p.loss, buffers: [logp.buffer, loss, this.#uniforms.loss], workgroups: [1] },
      {
        pipeline: p.backward,
        buffers: [this.#thetaBuf, bufs.tape, bufs.deltas, this.#uniforms.rows],
        workgroups: [Math.ceil(rows / ROW_GROUP)],
      },
      {
        pipeline: p.products,
        buffers: [
          this.#products.table,
          bufs.tape,
          bufs.deltas,
          gpu.bufferOf(h),
          this.#grads,
          this.#uniforms.products,
        ],
        workgroups: grid(this.#products.workgroups),
      },
    );
    if (this.shape.toeplitz) {
      const { dim: d, contextDim: n, width: l, numLayers: L } = this.shape;
      commands.push({
        pipeline: p.diagonals,
        buffers: [this.#grads, this.#uniforms.diagonals],
        workgroups: [Math.ceil((L * (d + n + l - 1)) / ROW_GROUP)],
      });
    }
    // The log-likelihoods are only read by the kernels recorded above (tfjs frees the buffer after them).
    this.#afterEncode.push(logp.tensor);
    return commands;
  }

  #afterEncode: tf.Tensor[] = [];

  #encode(commands: Command[]): void {
    try {
      this.#gpu.encode(commands);
    } finally {
      tf.dispose(this.#afterEncode);
      this.#afterEncode = [];
    }
  }

  /** Fresh tensors of the parameters' shapes and the copies of `from` (flat, parameter order) into them. */
  #scatter(from: GPUBuffer): { tensors: tf.Tensor[]; copies: Copy[] } {
    let at = 0;
    const tensors: tf.Tensor[] = [], copies: Copy[] = [];
    for (const [, v] of this.#flow.parameters()) {
      const t = this.#gpu.empty(v.shape);
      tensors.push(t.tensor);
      copies.push({ from, fromOffset: 4 * at, to: t.buffer, toOffset: 0, size: 4 * v.size });
      at += v.size;
    }
    return { tensors, copies };
  }

  /**
   * The loss `-sum_frames log p(x | h) / sequences` and the gradient of every parameter of the flow, in
   * `parameters()` order (6 kernel launches, 5 without a Toeplitz first layer).
   */
  gradients(x: tf.Tensor2D, h: tf.Tensor2D, sequences: number): { loss: tf.Scalar; grads: tf.Tensor[] } {
    const loss = this.#gpu.empty<tf.Rank.R0>([]);
    const commands = this.#lossAndGradients(x, h, sequences, loss.buffer);
    const { tensors, copies } = this.#scatter(this.#grads);
    this.#encode([...commands, ...copies]);
    return { loss: loss.tensor, grads: tensors };
  }

  /**
   * One Adam step on the batch (8 launches): loss, gradients, optional clipping by the global norm (as
   * `clipByGlobalNorm`), the update of `lib/runner/adam.ts`. The variables take the new values; the
   * moments and running powers in `slots` are updated in place. Returns the loss before the update.
   */
  adamStep(
    x: tf.Tensor2D,
    h: tf.Tensor2D,
    sequences: number,
    slots: AdamSlots,
    gradClipNorm: number | null,
  ): tf.Scalar {
    const gpu = this.#gpu, p = this.#pipelines, total = this.theta.total;
    for (
      const [name, t] of Object.entries({
        m: slots.m,
        v: slots.v,
        accBeta1: slots.accBeta1,
        accBeta2: slots.accBeta2,
      })
    ) {
      if (gpu.sharers(t) !== 1) {
        throw new Error(`DeviceEsnFlow.adamStep: Adam's ${name} shares its data with another tensor`);
      }
    }
    if (slots.m.size !== total || slots.v.size !== total) {
      throw new Error(`DeviceEsnFlow.adamStep: moments of ${slots.m.size} values for ${total} parameters`);
    }
    const loss = gpu.empty<tf.Rank.R0>([]);
    const commands = this.#lossAndGradients(x, h, sequences, loss.buffer);
    const nu = new ArrayBuffer(16);
    new Uint32Array(nu, 0, 1)[0] = total;
    new Float32Array(nu, 4, 3).set([gradClipNorm ?? 0, slots.beta1, slots.beta2]);
    gpu.write(this.#uniforms.norm, new Uint8Array(nu));
    const au = new ArrayBuffer(32);
    new Uint32Array(au, 0, 1)[0] = total;
    new Float32Array(au, 4, 6).set([
      -slots.learningRate,
      slots.beta1,
      slots.beta2,
      1 - slots.beta1,
      1 - slots.beta2,
      slots.epsilon,
    ]);
    gpu.write(this.#uniforms.adam, new Uint8Array(au));
    const [m, v, acc1, acc2] = [slots.m, slots.v, slots.accBeta1, slots.accBeta2].map((t) => gpu.bufferOf(t));
    commands.push(
      {
        pipeline: p.norm,
        buffers: [this.#grads, this.#scalars, acc1, acc2, this.#uniforms.norm],
        workgroups: [1],
      },
      {
        pipeline: p.adam,
        buffers: [this.#grads, this.#scalars, this.#thetaBuf, m, v, this.#uniforms.adam],
        workgroups: grid(Math.ceil(total / REDUCE_GROUP)),
      },
    );
    const { tensors, copies } = this.#scatter(this.#thetaBuf);
    this.#encode([...commands, ...copies]);
    this.#flow.parameters().forEach(([, variable], i) => variable.assign(tensors[i]));
    tf.dispose(tensors);
    return loss.tensor;
  }
}

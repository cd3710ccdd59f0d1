/**
 * The ESN-conditioned flow on WebGPU in a few WGSL kernels (`esn_flow_wgsl.ts`): `log p(x | h)` of an
 * {@link EsnFlow} in 2 launches, the loss and every parameter's gradient in 6, and a whole Adam step in 8,
 * with no read-back to the host. The flow's parameters are copied into one flat buffer at the start of each
 * call (buffer copies, no kernel), so the variables stay the truth: a restored checkpoint or an
 * assignment between steps is seen by the next one. An Adam step writes the new parameters, moments and
 * running powers into fresh tensors that the variables then take (as `variable.assign` does): no tfjs
 * tensor is written in place.
 *
 * A batch whose per-frame buffers would pass the device's buffer limits runs in chunks of frames (5 more
 * launches per extra chunk when training, 2 when evaluating), the gradients and the loss summed over them.
 *
 * Used by `DynamicModel` on the WebGPU backend (its `deviceStep` and its log-likelihood outside a gradient
 * tape) when the frame density is a single flow on fixed ESN states; everything else takes the tfjs ops.
 * `tests/webgpu_flow_test.ts` checks every output against autodiff of the layer-by-layer composition.
 */
import * as tf from "@tensorflow/tfjs";
import type { EsnFlow } from "../dynamic/esn_flow.ts";
import { halfSplit } from "../dynamic/esn_flow_layer.ts";
import { ToeplitzLinear } from "../nn/toeplitz.ts";
import { type BufferRange, type Command, type Copy, GpuDevice } from "./device.ts";
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

/** What an Adam step on the device reads and advances (`FlatAdam.deviceSlots` in `lib/runner/adam.ts`). */
export interface AdamSlots {
  /** First and second moments of all parameters, flat, in `parameters()` order (assigned new values). */
  readonly m: tf.Variable;
  readonly v: tf.Variable;
  /** The running powers `beta1^t`, `beta2^t` (scalars; assigned `beta^(t+1)`). */
  readonly accBeta1: tf.Variable;
  readonly accBeta2: tf.Variable;
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

type Pipelines = Record<keyof ReturnType<typeof flowKernels>, GPUComputePipeline>;

const devices = new WeakMap<EsnFlow, DeviceEsnFlow>();

/**
 * Frames per unit of row capacity: the per-frame buffers grow in these steps, and chunks start at its
 * multiples (64 frames of any float32 row are a multiple of 256 bytes, WebGPU's binding offset alignment).
 */
const ROW_QUANTUM = 64;

/** The most frames per chunk whatever the buffer limits (the per-frame launches stay far below 65535 groups). */
const MAX_CHUNK_ROWS = 2 ** 20;

let chunkRowsLimit: number | null = null;

/**
 * At most `rows` frames per chunk (a positive multiple of 64), or null: as many as the device's buffer
 * limits allow. For tests of the chunked path on small batches.
 */
export function setChunkRows(rows: number | null): void {
  if (rows !== null && !(Number.isInteger(rows) && rows > 0 && rows % ROW_QUANTUM === 0)) {
    throw new Error(`setChunkRows: rows must be a positive multiple of ${ROW_QUANTUM}, got ${rows}`);
  }
  chunkRowsLimit = rows;
}

/** WebGPU's alignment of uniform binding offsets (the largest `minUniformBufferOffsetAlignment` allowed). */
const UNIFORM_SLOT = 256;

/** The chunks of `rows` frames, `chunk` frames each (the last one shorter). */
function chunksOf(rows: number, chunk: number): { at: number; rows: number }[] {
  return Array.from({ length: Math.ceil(rows / chunk) }, (_, i) => ({
    at: i * chunk,
    rows: Math.min(chunk, rows - i * chunk),
  }));
}

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
  /** Bound in place of the tape when evaluating (the forward kernel then writes none). */
  readonly #noTape: GPUBuffer;
  readonly #uniforms: Record<"diagonals" | "norm" | "adam", GPUBuffer>;
  /** Per-chunk uniforms: the per-frame kernels', the products', the loss's, one 256-byte slot each. */
  #chunkUniforms: { buffer: GPUBuffer; slots: number } | null = null;
  /** Per-frame buffers and the frames they hold (the row stride of the feature-major arrays). */
  #rowBufs: { capacity: number; hc: GPUBuffer; tape: GPUBuffer | null; deltas: GPUBuffer | null } | null =
    null;
  /** The most frames per chunk this device's buffer limits allow. */
  readonly #limitRows: number;

  /** The kernels of `flow` on the current backend, or null where there are none (not WebGPU, or off). */
  static of(flow: EsnFlow): DeviceEsnFlow | null {
    if (!enabled) return null;
    const gpu = GpuDevice.current();
    if (!gpu) return null;
    let d = devices.get(flow);
    if (!d || d.#gpu !== gpu) {
      DeviceEsnFlow.release(flow); // made for a backend since replaced
      devices.set(flow, d = new DeviceEsnFlow(gpu, flow));
    }
    return d;
  }

  /** Frees the device buffers of `flow`'s kernels, if it has any (its model is being disposed). */
  static release(flow: EsnFlow): void {
    const d = devices.get(flow);
    if (!d) return;
    devices.delete(flow);
    const own = [
      d.#thetaBuf,
      d.#grads,
      d.#scalars,
      d.#noTape,
      d.#products.table,
      ...Object.values(d.#uniforms),
    ];
    d.#freeRows();
    d.#chunkUniforms?.buffer.destroy();
    for (const b of own) b.destroy();
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
      Object.entries(sources).map(([k, src]) => [k, gpu.pipeline(src, k)]),
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
    this.#noTape = gpu.storage(16);
    this.#uniforms = { diagonals: gpu.uniform(16), norm: gpu.uniform(16), adam: gpu.uniform(32) };
    this.#limitRows = this.#maxChunkRows(gpu.device.limits);
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

  /**
   * Frames per chunk: the most whose per-frame buffers (tape, deltas, projection, and the frames' and
   * states' rows) each fit one binding and one buffer of this device, a multiple of {@link ROW_QUANTUM}.
   */
  #maxChunkRows(limits: GPUSupportedLimits): number {
    const { dim, contextDim, numLayers, width } = this.shape;
    const widest = 4 *
      Math.max(this.frames.tapeFeatures, this.frames.deltaFeatures, numLayers * width, contextDim, dim);
    const bytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    const rows = Math.floor(bytes / widest / ROW_QUANTUM) * ROW_QUANTUM;
    if (rows < ROW_QUANTUM) {
      throw new Error(
        `DeviceEsnFlow: ${ROW_QUANTUM} frames need ${
          ROW_QUANTUM * widest
        } bytes per buffer, more than this ` +
          `device allows (${bytes})`,
      );
    }
    return Math.min(rows, MAX_CHUNK_ROWS);
  }

  #freeRows(): void {
    const b = this.#rowBufs;
    for (const buf of b ? [b.hc, b.tape, b.deltas] : []) buf?.destroy();
    this.#rowBufs = null;
  }

  /** Per-frame buffers for `rows` frames (the tape and deltas only for `train`), grown as needed. */
  #rows(
    rows: number,
    train: boolean,
  ): { capacity: number; hc: GPUBuffer; tape: GPUBuffer; deltas: GPUBuffer } {
    const b = this.#rowBufs;
    if (!b || rows > b.capacity || (train && !b.tape)) {
      const capacity = Math.max(b?.capacity ?? 0, Math.ceil(rows / ROW_QUANTUM) * ROW_QUANTUM);
      const keepTape = train || Boolean(b?.tape);
      this.#freeRows();
      const bytes = (features: number) => 4 * features * capacity;
      this.#rowBufs = {
        capacity,
        hc: this.#gpu.storage(bytes(this.shape.numLayers * this.shape.width)),
        tape: keepTape ? this.#gpu.storage(bytes(this.frames.tapeFeatures)) : null,
        deltas: keepTape ? this.#gpu.storage(bytes(this.frames.deltaFeatures)) : null,
      };
    }
    const r = this.#rowBufs!;
    return { capacity: r.capacity, hc: r.hc, tape: r.tape ?? this.#noTape, deltas: r.deltas ?? this.#noTape };
  }

  /** A uniform buffer of at least `slots` 256-byte slots. */
  #slots(slots: number): GPUBuffer {
    if (!this.#chunkUniforms || this.#chunkUniforms.slots < slots) {
      this.#chunkUniforms?.buffer.destroy();
      this.#chunkUniforms = { buffer: this.#gpu.uniform(slots * UNIFORM_SLOT), slots };
    }
    return this.#chunkUniforms.buffer;
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

  /**
   * The launches over the batch's chunks: per chunk the projection and the forward pass (writing log p per
   * frame into `logp`), and, when `loss` is given (training), the loss, the backward pass and the gradient
   * products, summed over chunks; then the Toeplitz diagonal sums. `-1 / sequences` is `d loss / d log p`.
   */
  #passes(
    x: tf.Tensor2D,
    h: tf.Tensor2D,
    logp: GPUBuffer,
    loss: { buffer: GPUBuffer; sequences: number } | null,
  ): Command[] {
    const rows = this.#check(x, h), gpu = this.#gpu, p = this.#pipelines, train = loss !== null;
    const { dim, contextDim, numLayers, width } = this.shape;
    const chunk = Math.min(this.#limitRows, chunkRowsLimit ?? Infinity);
    const chunks = chunksOf(rows, chunk);
    const bufs = this.#rows(Math.min(rows, chunk), train);
    const uniforms = this.#slots(3 * chunks.length);
    const data = new ArrayBuffer(3 * chunks.length * UNIFORM_SLOT);
    const g = train ? -1 / loss.sequences : 0;
    const [xb, hb] = [gpu.bufferOf(x), gpu.bufferOf(h)];
    const slot = (k: number): BufferRange => ({ buffer: uniforms, offset: k * UNIFORM_SLOT, size: 16 });
    const range = (buffer: GPUBuffer, at: number, n: number, width: number): BufferRange => ({
      buffer,
      offset: 4 * at * width,
      size: 4 * n * width,
    });
    const commands: Command[] = [...this.#gather()];
    chunks.forEach((c, k) => {
      const [rowsU, productsU, lossU] = [3 * k, 3 * k + 1, 3 * k + 2];
      const words = (s: number) => new Uint32Array(data, s * UNIFORM_SLOT, 4);
      const floats = (s: number) => new Float32Array(data, s * UNIFORM_SLOT, 4);
      words(rowsU).set([c.rows, bufs.capacity, train ? 1 : 0]);
      floats(rowsU)[3] = g;
      words(productsU).set([c.rows, bufs.capacity, this.#products.count, k > 0 ? 1 : 0]);
      words(lossU).set([c.rows, k > 0 ? 1 : 0]);
      floats(lossU)[3] = g;
      const hChunk = range(hb, c.at, c.rows, contextDim);
      commands.push(
        {
          pipeline: p.project,
          buffers: [this.#thetaBuf, hChunk, bufs.hc, slot(rowsU)],
          workgroups: [Math.ceil(c.rows / TILE), Math.ceil((numLayers * width) / TILE)],
        },
        {
          pipeline: p.forward,
          buffers: [
            this.#thetaBuf,
            range(xb, c.at, c.rows, dim),
            bufs.hc,
            bufs.tape,
            range(logp, c.at, c.rows, 1),
            slot(rowsU),
          ],
          workgroups: [Math.ceil(c.rows / ROW_GROUP)],
        },
      );
      if (!train) return;
      commands.push(
        {
          pipeline: p.loss,
          buffers: [range(logp, c.at, c.rows, 1), loss.buffer, slot(lossU)],
          workgroups: [1],
        },
        {
          pipeline: p.backward,
          buffers: [this.#thetaBuf, bufs.tape, bufs.deltas, slot(rowsU)],
          workgroups: [Math.ceil(c.rows / ROW_GROUP)],
        },
        {
          pipeline: p.products,
          buffers: [this.#products.table, bufs.tape, bufs.deltas, hChunk, this.#grads, slot(productsU)],
          workgroups: grid(this.#products.workgroups),
        },
      );
    });
    gpu.write(uniforms, new Uint8Array(data));
    if (train && this.shape.toeplitz) {
      const { contextDim: n, width: l, numLayers: L } = this.shape;
      commands.push({
        pipeline: p.diagonals,
        buffers: [this.#grads, this.#uniforms.diagonals],
        workgroups: [Math.ceil((L * (dim + n + l - 1)) / ROW_GROUP)],
      });
    }
    return commands;
  }

  /** `log p(x | h)` per frame, `[R]` (no gradient: for evaluation and sampling scores). */
  logProb(x: tf.Tensor2D, h: tf.Tensor2D): tf.Tensor1D {
    if (this.#check(x, h) === 0) return tf.zeros([0]);
    const out = this.#gpu.empty<tf.Rank.R1>([x.shape[0]]);
    try {
      this.#gpu.encode(this.#passes(x, h, out.buffer, null));
    } catch (e) {
      out.tensor.dispose();
      throw e;
    }
    return out.tensor;
  }

  /**
   * Records the loss and gradient launches for a batch of `sequences` sequences plus `more` (made once the
   * loss and gradients are recorded) and submits them; frees the tensors made here if anything fails.
   * Returns the loss (`-sum_frames log p / sequences`) and what `more` made.
   */
  #trainingPass<T extends tf.Tensor[]>(
    x: tf.Tensor2D,
    h: tf.Tensor2D,
    sequences: number,
    more: () => { tensors: T; commands: Command[] },
  ): { loss: tf.Scalar; made: T } {
    const rows = this.#check(x, h);
    if (rows === 0) throw new Error("DeviceEsnFlow: a training batch without frames");
    const loss = this.#gpu.empty<tf.Rank.R0>([]), logp = this.#gpu.empty<tf.Rank.R1>([rows]);
    let made: { tensors: T; commands: Command[] } | null = null;
    try {
      const commands = this.#passes(x, h, logp.buffer, { buffer: loss.buffer, sequences });
      made = more();
      this.#gpu.encode([...commands, ...made.commands]);
    } catch (e) {
      tf.dispose([loss.tensor, ...(made?.tensors ?? [])]);
      throw e;
    } finally {
      logp.tensor.dispose(); // only the launches recorded above read it
    }
    return { loss: loss.tensor, made: made.tensors };
  }

  /** Fresh tensors of the parameters' shapes and the copies of `from` (flat, parameter order) into them. */
  #scatter(from: GPUBuffer): { tensors: tf.Tensor[]; commands: Copy[] } {
    let at = 0;
    const tensors: tf.Tensor[] = [], commands: Copy[] = [];
    for (const [, v] of this.#flow.parameters()) {
      const t = this.#gpu.empty(v.shape);
      tensors.push(t.tensor);
      commands.push({ from, fromOffset: 4 * at, to: t.buffer, toOffset: 0, size: 4 * v.size });
      at += v.size;
    }
    return { tensors, commands };
  }

  /**
   * The loss `-sum_frames log p(x | h) / sequences` and the gradient of every parameter of the flow, in
   * `parameters()` order (6 kernel launches, 5 without a Toeplitz first layer, 5 more per extra chunk).
   */
  gradients(x: tf.Tensor2D, h: tf.Tensor2D, sequences: number): { loss: tf.Scalar; grads: tf.Tensor[] } {
    const { loss, made } = this.#trainingPass(x, h, sequences, () => this.#scatter(this.#grads));
    return { loss, grads: made };
  }

  /**
   * One Adam step on the batch (8 launches, 5 more per extra chunk): loss, gradients, optional clipping by
   * the global norm (as `clipByGlobalNorm`; null: none), the update of `lib/runner/adam.ts`. The variables,
   * the moments and the running powers in `slots` take new tensors. Returns the loss before the update.
   */
  adamStep(
    x: tf.Tensor2D,
    h: tf.Tensor2D,
    sequences: number,
    slots: AdamSlots,
    gradClipNorm: number | null,
  ): tf.Scalar {
    const gpu = this.#gpu, p = this.#pipelines, total = this.theta.total;
    if (slots.m.size !== total || slots.v.size !== total) {
      throw new Error(`DeviceEsnFlow.adamStep: moments of ${slots.m.size} values for ${total} parameters`);
    }
    const nu = new ArrayBuffer(16);
    new Uint32Array(nu, 0, 1)[0] = total;
    new Float32Array(nu, 4, 3).set([gradClipNorm ?? -1, slots.beta1, slots.beta2]);
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
    const update = () => {
      const [m, v] = [gpu.empty([total]), gpu.empty([total])];
      const [acc1, acc2] = [gpu.empty([]), gpu.empty([])];
      const params = this.#scatter(this.#thetaBuf);
      const old = [slots.m, slots.v, slots.accBeta1, slots.accBeta2].map((t) => gpu.bufferOf(t));
      const commands: Command[] = [
        {
          pipeline: p.norm,
          buffers: [
            this.#grads,
            this.#scalars,
            old[2],
            old[3],
            acc1.buffer,
            acc2.buffer,
            this.#uniforms.norm,
          ],
          workgroups: [1],
        },
        {
          pipeline: p.adam,
          buffers: [
            this.#grads,
            this.#scalars,
            this.#thetaBuf,
            old[0],
            old[1],
            m.buffer,
            v.buffer,
            this.#uniforms.adam,
          ],
          workgroups: grid(Math.ceil(total / REDUCE_GROUP)),
        },
        ...params.commands,
      ];
      return { tensors: [m.tensor, v.tensor, acc1.tensor, acc2.tensor, ...params.tensors], commands };
    };
    const { loss, made } = this.#trainingPass(x, h, sequences, update);
    const targets = [
      slots.m,
      slots.v,
      slots.accBeta1,
      slots.accBeta2,
      ...this.#flow.parameters().map(([, v]) => v),
    ];
    targets.forEach((variable, i) => variable.assign(made[i]));
    tf.dispose(made);
    return loss;
  }
}

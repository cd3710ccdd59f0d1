/**
 * `log p(x | h)` of an {@link EsnFlow} and its gradient computed on the host by WebAssembly SIMD kernels
 * (`lib/wasm/kernels.ts`): the path `fusedFlowLogProb` takes on wasm and cpu, where tensors are readable
 * synchronously. The maths is that of `fused_flow.ts` (its module doc has the formulas), coupling by
 * coupling: a layer runs coupling 0 (changes part A = dimensions `0..split-1` given part B) and then
 * coupling 1; the conditioner of a coupling is
 *
 *   q_0 = relu(z_kept W_x + hc_i),  q_k = relu(q_{k-1} W_k + c_k),  s = tanh(q W_s + c_s),  mu = q W_mu + c_mu
 *
 * on the changed part's columns of `W_s`, `W_mu`. Weights are copied into the kernels' memory with their
 * output columns padded to a multiple of 8 and rows to a multiple of 4 (zeros, which leave every real
 * entry unchanged: a padded column's slope, intercept and rescale are 0); transposed copies serve the
 * backward products.
 *
 * Rows are processed in chunks of {@link chunkRows} (at most {@link CHUNK_ROWS}). The forward pass keeps every coupling's activations
 * (its tape) in the kernels' memory; the backward pass uses them when they still belong to its call (one
 * chunk, no other call in between) and recomputes the forward pass chunk by chunk otherwise (e.g. a
 * mixture runs all its flows forward before any backward). Either way the numbers are the same.
 *
 * Measured effect: README, performance section. `tests/fused_flow_test.ts` checks this path's values and
 * gradients against autodiff of the composed layers and against the tfjs-ops path.
 */
import * as tf from "@tensorflow/tfjs";
import { Kernels, padCols, padRows } from "../wasm/kernels.ts";
import { hostValues } from "../wasm/tensor_io.ts";

/** The most rows per chunk (the tape is about 5 kB per row at esn_flow_timit's sizes). */
export const CHUNK_ROWS = 4096;

/** The kernels' memory a chunk may use: wide conditioners get shorter chunks. */
const CHUNK_BYTES = 256 * 2 ** 20;

/** Rows per chunk for these sizes: {@link CHUNK_ROWS}, or fewer (a multiple of 4) to stay in {@link CHUNK_BYTES}. */
export function chunkRows(dims: HostFlowDims): number {
  const key = `${dims.dim},${dims.split},${dims.numLayers},${dims.width},${dims.numHidden}`;
  let rows = chunkRowsOf.get(key);
  if (rows === undefined) {
    const perRow = (new Layout(dims, 8).end - new Layout(dims, 4).end) / 4;
    rows = Math.max(4, Math.min(CHUNK_ROWS, Math.floor(CHUNK_BYTES / perRow / 4) * 4));
    chunkRowsOf.set(key, rows);
  }
  return rows;
}

/** {@link chunkRows} by sizes (computed once per sizes: it lays out two chunks to measure a row). */
const chunkRowsOf = new Map<string, number>();

const LOG_2PI = Math.log(2 * Math.PI);

/** Sizes of one flow: frame dim, the split, layers, conditioner width, hidden layers after the first. */
export interface HostFlowDims {
  readonly dim: number;
  readonly split: number;
  readonly numLayers: number;
  readonly width: number;
  readonly numHidden: number;
}

/** The op's inputs read to the host, in `fusedFlowLogProb`'s order (x, hc, frame weight, rescale, layers). */
export interface HostFlowInputs {
  readonly x: Float32Array;
  readonly hc: Float32Array;
  readonly frameWeight: Float32Array;
  readonly rescale: Float32Array;
  /** Per layer: hidden weight and bias pairs, then slope weight, slope bias, intercept weight, bias. */
  readonly layers: readonly Float32Array[][];
}

/** Byte addresses of every buffer in the kernels' memory for given sizes and chunk rows. */
class Layout {
  readonly parts: { at: number; size: number; padded: number }[];
  readonly lp: number;
  readonly rows: number;
  #next = 16;
  readonly w;
  readonly g;
  readonly work;
  readonly end: number;

  constructor(readonly dims: HostFlowDims, chunkRows: number) {
    const { dim, split, numLayers: L, width: l, numHidden: H } = dims;
    this.parts = [{ at: 0, size: split }, { at: split, size: dim - split }].map((p) => ({
      ...p,
      padded: padCols(p.size),
    }));
    const lp = this.lp = padCols(l);
    const rows = this.rows = padRows(chunkRows);
    const p = this.parts.map((q) => q.padded);
    const alloc = (floats: number) => this.#alloc(floats);
    const perLayer = <T>(f: (i: number) => T) => Array.from({ length: L }, (_, i) => f(i));
    const perCoupling = <T>(f: (c: number) => T) => [f(0), f(1)];
    const perHidden = <T>(f: (k: number) => T) => Array.from({ length: H }, (_, k) => f(k));
    this.w = {
      rescale: perCoupling((c) => alloc(p[c])),
      layers: perLayer(() => ({
        hidden: perHidden(() => ({ w: alloc(l * lp), b: alloc(lp), wT: alloc(l * lp) })),
        couplings: perCoupling((c) => ({
          wx: alloc(this.parts[1 - c].size * lp),
          wxT: alloc(l * p[1 - c]),
          ws: alloc(l * p[c]),
          bs: alloc(p[c]),
          wsT: alloc(this.parts[c].size * lp),
          wm: alloc(l * p[c]),
          bm: alloc(p[c]),
          negWmT: alloc(this.parts[c].size * lp),
        })),
      })),
    };
    const gradStart = this.#next;
    this.g = {
      start: gradStart,
      rescale: perCoupling((c) => alloc(p[c])),
      layers: perLayer(() => ({
        hidden: perHidden(() => ({ w: alloc(lp * lp), b: alloc(lp) })),
        couplings: perCoupling((c) => ({
          wx: alloc(p[1 - c] * lp),
          ws: alloc(lp * p[c]),
          bs: alloc(p[c]),
          wm: alloc(lp * p[c]),
          bm: alloc(p[c]),
        })),
      })),
      end: 0,
    };
    this.g.end = this.#next;
    const pmax = Math.max(...p);
    this.work = {
      z: perCoupling((c) => alloc(rows * p[c])),
      dz: perCoupling((c) => alloc(rows * p[c])),
      hc: alloc(rows * L * lp),
      logDet: alloc(rows),
      g: alloc(rows),
      mu: alloc(rows * pmax),
      dpre: alloc(rows * pmax),
      dq: [alloc(rows * lp), alloc(rows * lp)],
      tape: perLayer(() =>
        perCoupling((c) => ({
          zk: alloc(rows * p[1 - c]),
          q: Array.from({ length: H + 1 }, () => alloc(rows * lp)),
          s: alloc(rows * p[c]),
          d: alloc(rows * p[c]),
          e: alloc(rows * p[c]),
        }))
      ),
    };
    this.end = this.#next;
  }

  #alloc(floats: number): number {
    const at = this.#next;
    this.#next += Math.ceil(floats / 4) * 16;
    return at;
  }
}

/**
 * Writes `rows x cols` values of `src` (row stride `srcStride`, from column `srcCol`), times `sign`, at float
 * index `dst`: entry `(r, j)` goes to `dst + r * rowStep + j * colStep` (`[stride, 1]` as rows, `[1, stride]`
 * transposed).
 */
function putBlock(
  mem: Float32Array,
  dst: number,
  [rowStep, colStep]: readonly [number, number],
  src: Float32Array,
  srcStride: number,
  srcCol: number,
  rows: number,
  cols: number,
  sign = 1,
) {
  for (let r = 0; r < rows; r++) {
    const o = dst + r * rowStep, q = r * srcStride + srcCol;
    for (let j = 0; j < cols; j++) mem[o + j * colStep] = sign * src[q + j];
  }
}

/** The gradients of the op's inputs, in the inputs' order and shapes (flat). */
export interface HostFlowGrads {
  readonly x: Float32Array;
  readonly hc: Float32Array;
  readonly frameWeight: Float32Array;
  readonly rescale: Float32Array;
  readonly layers: Float32Array[][];
}

/** The host flow engine of this thread: one kernel instance; the last forward call owns its tape. */
class HostFlow {
  readonly #k = new Kernels();
  #calls = 0;
  #owner = -1;

  /** `log p(x | h)` of the `rows` frames; returns the values and the call's id for {@link backward}. */
  forward(dims: HostFlowDims, rows: number, input: HostFlowInputs): { logp: Float32Array; call: number } {
    const call = ++this.#calls;
    const lay = this.#prepare(dims, rows, input);
    const logp = new Float32Array(rows);
    const chunk = chunkRows(dims);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      this.#forwardChunk(lay, input, r0, Math.min(chunk, rows - r0), logp);
    }
    this.#owner = rows <= chunk ? call : -1;
    return { logp, call };
  }

  /**
   * Gradients given `dy = d loss / d log p` per row, for the forward call `call`; `inputs` gives that
   * call's inputs again, read only when its activations are gone and are recomputed.
   */
  backward(
    dims: HostFlowDims,
    rows: number,
    inputs: () => HostFlowInputs,
    dy: Float32Array,
    call: number,
  ): HostFlowGrads {
    const reuse = this.#owner === call;
    const input = reuse ? null : inputs();
    const lay = input ? this.#prepare(dims, rows, input) : this.#layoutFor(dims, rows);
    const f = this.#k.f32;
    f.fill(0, lay.g.start / 4, lay.g.end / 4);
    const { dim, numLayers: L, width: l } = dims;
    const out = {
      x: new Float32Array(rows * dim),
      hc: new Float32Array(rows * L * l),
    };
    const chunk = chunkRows(dims);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const n = Math.min(chunk, rows - r0);
      if (input) this.#forwardChunk(lay, input, r0, n, null);
      this.#backwardChunk(lay, dy, r0, n, out);
    }
    this.#owner = -1;
    return { ...out, ...this.#readWeightGrads(lay) };
  }

  #layout: Layout | null = null;

  #layoutFor(dims: HostFlowDims, rows: number): Layout {
    const chunk = Math.min(rows, chunkRows(dims));
    const cur = this.#layout;
    const same = cur && padRows(chunk) === cur.rows &&
      Object.entries(dims).every(([k, v]) => cur.dims[k as keyof HostFlowDims] === v);
    if (!same) {
      this.#layout = new Layout(dims, chunk);
      this.#k.reserve(this.#layout.end);
    }
    return this.#layout!;
  }

  /** The layout for these sizes with the call's weights packed (zero padding included). */
  #prepare(dims: HostFlowDims, rows: number, input: HostFlowInputs): Layout {
    const lay = this.#layoutFor(dims, rows);
    const f = this.#k.f32;
    f.fill(0, 0, lay.g.start / 4);
    const { dim, numLayers: L, width: l, numHidden: H } = dims;
    const lp = lay.lp, fwStride = L * l;
    lay.parts.forEach((part, c) =>
      putBlock(f, lay.w.rescale[c] / 4, [0, 1], input.rescale, 0, part.at, 1, part.size)
    );
    lay.w.layers.forEach((wl, i) => {
      const ws = input.layers[i];
      wl.hidden.forEach((h, k) => {
        putBlock(f, h.w / 4, [lp, 1], ws[2 * k], l, 0, l, l);
        putBlock(f, h.b / 4, [0, 1], ws[2 * k + 1], 0, 0, 1, l);
        putBlock(f, h.wT / 4, [1, lp], ws[2 * k], l, 0, l, l);
      });
      const [sw, sb, mw, mb] = ws.slice(2 * H);
      wl.couplings.forEach((wc, c) => {
        const changed = lay.parts[c], kept = lay.parts[1 - c];
        const fw = input.frameWeight.subarray(kept.at * fwStride);
        putBlock(f, wc.wx / 4, [lp, 1], fw, fwStride, i * l, kept.size, l);
        putBlock(f, wc.wxT / 4, [1, kept.padded], fw, fwStride, i * l, kept.size, l);
        putBlock(f, wc.ws / 4, [changed.padded, 1], sw, dim, changed.at, l, changed.size);
        putBlock(f, wc.bs / 4, [0, 1], sb, 0, changed.at, 1, changed.size);
        putBlock(f, wc.wsT / 4, [1, lp], sw, dim, changed.at, l, changed.size);
        putBlock(f, wc.wm / 4, [changed.padded, 1], mw, dim, changed.at, l, changed.size);
        putBlock(f, wc.bm / 4, [0, 1], mb, 0, changed.at, 1, changed.size);
        putBlock(f, wc.negWmT / 4, [1, lp], mw, dim, changed.at, l, changed.size, -1);
      });
    });
    return lay;
  }

  #forwardChunk(lay: Layout, input: HostFlowInputs, r0: number, n: number, logp: Float32Array | null) {
    const { dim, numLayers: L, width: l, numHidden: H } = lay.dims;
    const k = this.#k, f = this.#k.f32, lp = lay.lp, R = lay.rows, wk = lay.work;
    for (
      const [at, floats] of [[wk.z[0], R * lay.parts[0].padded], [wk.z[1], R * lay.parts[1].padded], [
        wk.hc,
        R * L * lp,
      ], [wk.logDet, R]]
    ) {
      f.fill(0, at / 4, at / 4 + floats);
    }
    lay.parts.forEach((part, c) =>
      putBlock(f, wk.z[c] / 4, [part.padded, 1], input.x.subarray(r0 * dim), dim, part.at, n, part.size)
    );
    for (let i = 0; i < L; i++) {
      putBlock(f, wk.hc / 4 + i * lp, [L * lp, 1], input.hc.subarray(r0 * L * l), L * l, i * l, n, l);
    }
    for (let i = L - 1; i >= 0; i--) {
      const wl = lay.w.layers[i];
      for (let c = 0; c < 2; c++) {
        const changed = lay.parts[c], kept = lay.parts[1 - c], pc = changed.padded, pk = kept.padded;
        const wc = wl.couplings[c], tp = wk.tape[i][c];
        f.copyWithin(tp.zk / 4, wk.z[1 - c] / 4, wk.z[1 - c] / 4 + R * pk);
        k.gemm(
          R,
          kept.size,
          lp,
          tp.zk,
          4 * pk,
          4,
          wc.wx,
          4 * lp,
          tp.q[0],
          4 * lp,
          wk.hc + 4 * i * lp,
          4 * L * lp,
          0,
          1,
        );
        for (let h = 0; h < H; h++) {
          const w = wl.hidden[h];
          k.gemm(R, l, lp, tp.q[h], 4 * lp, 4, w.w, 4 * lp, tp.q[h + 1], 4 * lp, 0, 0, w.b, 1);
        }
        const q = tp.q[H];
        k.gemm(R, l, pc, q, 4 * lp, 4, wc.ws, 4 * pc, tp.s, 4 * pc, 0, 0, wc.bs, 0);
        k.gemm(R, l, pc, q, 4 * lp, 4, wc.wm, 4 * pc, wk.mu, 4 * pc, 0, 0, wc.bm, 0);
        k.couplingForward(R, pc, tp.s, wk.mu, wk.z[c], lay.w.rescale[c], tp.d, tp.e, wk.logDet);
      }
    }
    if (!logp) return;
    const [a, b] = lay.parts, za = wk.z[0] / 4, zb = wk.z[1] / 4, ld = wk.logDet / 4;
    for (let r = 0; r < n; r++) {
      let sq = 0;
      for (let j = 0; j < a.size; j++) sq += f[za + r * a.padded + j] ** 2;
      for (let j = 0; j < b.size; j++) sq += f[zb + r * b.padded + j] ** 2;
      logp[r0 + r] = -0.5 * sq - 0.5 * dim * LOG_2PI - f[ld + r];
    }
  }

  #backwardChunk(
    lay: Layout,
    dy: Float32Array,
    r0: number,
    n: number,
    out: { x: Float32Array; hc: Float32Array },
  ) {
    const { dim, numLayers: L, width: l, numHidden: H } = lay.dims;
    const k = this.#k, f = this.#k.f32, lp = lay.lp, R = lay.rows, wk = lay.work;
    f.fill(0, wk.g / 4, wk.g / 4 + R);
    f.set(dy.subarray(r0, r0 + n), wk.g / 4);
    // d(-|z|^2 / 2) = -z g per row.
    lay.parts.forEach((part, c) => {
      const z = wk.z[c] / 4, dz = wk.dz[c] / 4;
      for (let r = 0; r < R; r++) {
        const g = r < n ? dy[r0 + r] : 0;
        for (let j = 0; j < part.padded; j++) f[dz + r * part.padded + j] = -g * f[z + r * part.padded + j];
      }
    });
    let [dq, dqNext] = wk.dq;
    for (let i = 0; i < L; i++) {
      const wl = lay.w.layers[i], gl = lay.g.layers[i];
      for (let c = 1; c >= 0; c--) {
        const changed = lay.parts[c], kept = lay.parts[1 - c], pc = changed.padded, pk = kept.padded;
        const wc = wl.couplings[c], gc = gl.couplings[c], tp = wk.tape[i][c], t = wk.dz[c];
        k.couplingBackward(R, pc, t, tp.e, tp.d, tp.s, lay.w.rescale[c], wk.g, wk.dpre, lay.g.rescale[c]);
        const q = tp.q[H];
        k.gemm(lp, R, pc, q, 4, 4 * lp, wk.dpre, 4 * pc, gc.ws, 4 * pc, gc.ws, 4 * pc, 0, 0);
        k.columnSum(R, pc, wk.dpre, gc.bs);
        k.gemm(lp, R, pc, q, 4, 4 * lp, t, 4 * pc, gc.wm, 4 * pc, gc.wm, 4 * pc, 0, 0);
        k.columnSum(R, pc, t, gc.bm);
        k.gemm(R, changed.size, lp, wk.dpre, 4 * pc, 4, wc.wsT, 4 * lp, dq, 4 * lp, 0, 0, 0, 0);
        k.gemm(R, changed.size, lp, t, 4 * pc, 4, wc.negWmT, 4 * lp, dq, 4 * lp, dq, 4 * lp, 0, 0);
        for (let h = H - 1; h >= 0; h--) {
          k.reluMask(R * lp, dq, tp.q[h + 1]);
          const gh = gl.hidden[h];
          k.gemm(lp, R, lp, tp.q[h], 4, 4 * lp, dq, 4 * lp, gh.w, 4 * lp, gh.w, 4 * lp, 0, 0);
          k.columnSum(R, lp, dq, gh.b);
          k.gemm(R, l, lp, dq, 4 * lp, 4, wl.hidden[h].wT, 4 * lp, dqNext, 4 * lp, 0, 0, 0, 0);
          [dq, dqNext] = [dqNext, dq];
        }
        k.reluMask(R * lp, dq, tp.q[0]);
        k.gemm(pk, R, lp, tp.zk, 4, 4 * pk, dq, 4 * lp, gc.wx, 4 * lp, gc.wx, 4 * lp, 0, 0);
        const dk = wk.dz[1 - c];
        k.gemm(R, l, pk, dq, 4 * lp, 4, wc.wxT, 4 * pk, dk, 4 * pk, dk, 4 * pk, 0, 0);
        const dqf = dq / 4, width = L * l;
        for (let r = 0; r < n; r++) {
          const o = (r0 + r) * width + i * l, s = dqf + r * lp;
          for (let j = 0; j < l; j++) out.hc[o + j] += f[s + j];
        }
      }
    }
    lay.parts.forEach((part, c) => {
      const dz = wk.dz[c] / 4;
      for (let r = 0; r < n; r++) {
        for (let j = 0; j < part.size; j++) out.x[(r0 + r) * dim + part.at + j] = f[dz + r * part.padded + j];
      }
    });
  }

  /** The weight gradients from the kernels' memory, in the op's input order and shapes. */
  #readWeightGrads(lay: Layout): Omit<HostFlowGrads, "x" | "hc"> {
    const { dim, numLayers: L, width: l } = lay.dims;
    const f = this.#k.f32, lp = lay.lp;
    const frameWeight = new Float32Array(dim * L * l), rescale = new Float32Array(dim);
    lay.parts.forEach((part, c) =>
      rescale.set(f.subarray(lay.g.rescale[c] / 4, lay.g.rescale[c] / 4 + part.size), part.at)
    );
    const layers = lay.g.layers.map((gl, i) => {
      const hidden = gl.hidden.flatMap((gh) => {
        const w = new Float32Array(l * l);
        for (let a = 0; a < l; a++) w.set(f.subarray(gh.w / 4 + a * lp, gh.w / 4 + a * lp + l), a * l);
        return [w, f.slice(gh.b / 4, gh.b / 4 + l)];
      });
      const sw = new Float32Array(l * dim), sb = new Float32Array(dim);
      const mw = new Float32Array(l * dim), mb = new Float32Array(dim);
      gl.couplings.forEach((gc, c) => {
        const changed = lay.parts[c], kept = lay.parts[1 - c], pc = changed.padded;
        for (let r = 0; r < kept.size; r++) {
          frameWeight.set(
            f.subarray(gc.wx / 4 + r * lp, gc.wx / 4 + r * lp + l),
            (kept.at + r) * L * l + i * l,
          );
        }
        for (let a = 0; a < l; a++) {
          for (let j = 0; j < changed.size; j++) {
            sw[a * dim + changed.at + j] = f[gc.ws / 4 + a * pc + j];
            mw[a * dim + changed.at + j] = -f[gc.wm / 4 + a * pc + j];
          }
        }
        for (let j = 0; j < changed.size; j++) {
          sb[changed.at + j] = f[gc.bs / 4 + j];
          mb[changed.at + j] = -f[gc.bm / 4 + j];
        }
      });
      return [...hidden, sw, sb, mw, mb];
    });
    return { frameWeight, rescale, layers };
  }
}

let engine: HostFlow | null = null;

/** This thread's host flow engine (made on first use). */
export function hostFlow(): HostFlow {
  return engine ??= new HostFlow();
}

/**
 * `log p(x | h)` per row by the host kernels, as a tfjs op with its gradient: the inputs are those of
 * `fusedFlowLogProb` (`x`, `hc`, the frame weight, the rescale, then per layer the hidden weight and bias
 * pairs and the slope and intercept weights and biases).
 */
export function hostFlowLogProb(dims: HostFlowDims, tensors: readonly tf.Tensor[]): tf.Tensor1D {
  const perLayer = 2 * dims.numHidden + 4;
  // Views of the tensors' values (`hostValues`), valid until the next tfjs op: read right away.
  const inputsOf = ([x, hc, fw, rescale, ...rest]: tf.Tensor[]): HostFlowInputs => ({
    x: hostValues(x),
    hc: hostValues(hc),
    frameWeight: hostValues(fw),
    rescale: hostValues(rescale),
    layers: Array.from(
      { length: dims.numLayers },
      (_, i) => rest.slice(i * perLayer, (i + 1) * perLayer).map(hostValues),
    ),
  });
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const ts = args as tf.Tensor[];
    const [x, hc, fw, rescale, ...rest] = ts;
    const rows = x.shape[0];
    const { logp, call } = hostFlow().forward(dims, rows, inputsOf(ts));
    // Saved, so they outlive the forward scope in case the backward pass must recompute.
    save(ts);
    return {
      value: tf.tensor1d(logp),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const g = hostFlow().backward(dims, rows, () => inputsOf(saved), hostValues(dy), call);
        return [
          tf.tensor(g.x, x.shape),
          tf.tensor(g.hc, hc.shape),
          tf.tensor(g.frameWeight, fw.shape),
          tf.tensor(g.rescale, rescale.shape),
          ...g.layers.flatMap((gs, i) => gs.map((v, j) => tf.tensor(v, rest[i * perLayer + j].shape))),
        ];
      },
    };
  });
  return f(...tensors) as tf.Tensor1D;
}

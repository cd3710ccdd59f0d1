/**
 * `a w` for a constant `a` (the ESN states, `[R, N]`) and a trainable `w` (`[N, C]`) by the host kernels'
 * product, with the gradient `dw = a^T dy` by the same kernel reading `a` transposed in place: the path
 * `constantMatMul` (`lib/dynamic/products.ts`) takes on wasm and cpu.
 *
 * Why: this is the largest product of an esn_flow_timit step (`[1059, 1000] x [1000, 120]`, forward and
 * gradient). With fused multiply-adds the kernel runs it in 5.8 ms forward and 6.4 ms for the gradient,
 * against 7.5 and 7.4 ms (with its transposes) for tfjs-wasm's XNNPACK (measured in one process,
 * alternating, medians of 7 x 5 products).
 *
 * Layout in the kernels' memory: `A [R4, N4]` (rows and columns padded to multiples of 4 with zeros),
 * `W [N, C8]` (columns to a multiple of 8), the product `[R4, C8]`, `dy` likewise and `dw [N4, C8]`. The
 * states stay loaded after the forward pass; the backward pass reloads them only when another `a` was
 * loaded in between (tensors are immutable, so the same tensor means the same values).
 */
import * as tf from "@tensorflow/tfjs";
import { Kernels, padCols, padRows } from "./kernels.ts";
import { hostValues, tensorFrom } from "./tensor_io.ts";

/** Byte addresses for one product's sizes. */
interface Layout {
  readonly rows: number;
  readonly inner: number;
  readonly cols: number;
  readonly a: number;
  readonly w: number;
  readonly out: number;
  readonly dy: number;
  readonly dw: number;
  readonly end: number;
}

function layout(rows: number, inner: number, cols: number): Layout {
  const r4 = padRows(rows), n4 = padRows(inner), c8 = padCols(cols);
  let at = 16;
  const alloc = (floats: number) => {
    const p = at;
    at += floats * 4;
    return p;
  };
  const a = alloc(r4 * n4), w = alloc(inner * c8), out = alloc(r4 * c8), dy = alloc(r4 * c8);
  const dw = alloc(n4 * c8);
  return { rows, inner, cols, a, w, out, dy, dw, end: at };
}

/** Copies `src` (`rows x cols`, packed) into `dst` (float index) with row stride `stride`, zeros around it. */
function putPadded(
  f: Float32Array,
  dst: number,
  stride: number,
  paddedRows: number,
  src: Float32Array,
  cols: number,
) {
  const rows = src.length / cols;
  if (stride === cols) f.set(src, dst);
  else {
    for (let r = 0; r < rows; r++) {
      f.set(src.subarray(r * cols, (r + 1) * cols), dst + r * stride);
      f.fill(0, dst + r * stride + cols, dst + (r + 1) * stride);
    }
  }
  f.fill(0, dst + rows * stride, dst + paddedRows * stride);
}

/** `rows x cols` of `f` from float index `at` with row stride `stride`, as a packed tensor. */
function takePacked(f: Float32Array, at: number, stride: number, rows: number, cols: number): tf.Tensor2D {
  if (stride === cols) return tensorFrom<tf.Rank.R2>(f.subarray(at, at + rows * cols), [rows, cols]);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(f.subarray(at + r * stride, at + r * stride + cols), r * cols);
  return tf.tensor2d(out, [rows, cols]);
}

class ProductEngine {
  readonly #k = new Kernels();
  #lay: Layout | null = null;
  /** The data of the `a` now loaded (a tensor's identity), or null. */
  #loaded: object | null = null;

  #layoutFor(rows: number, inner: number, cols: number): Layout {
    const l = this.#lay;
    if (!l || l.rows !== rows || l.inner !== inner || l.cols !== cols) {
      this.#lay = layout(rows, inner, cols);
      this.#k.reserve(this.#lay.end);
      this.#loaded = null;
    }
    return this.#lay!;
  }

  #load(lay: Layout, a: tf.Tensor2D): void {
    if (this.#loaded === a.dataId) return;
    putPadded(this.#k.f32, lay.a / 4, padRows(lay.inner), padRows(lay.rows), hostValues(a), lay.inner);
    this.#loaded = a.dataId;
  }

  forward(a: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
    const [rows, inner] = a.shape, cols = w.shape[1];
    const lay = this.#layoutFor(rows, inner, cols);
    const f = this.#k.f32, n4 = padRows(inner), c8 = padCols(cols);
    this.#load(lay, a);
    putPadded(f, lay.w / 4, c8, inner, hostValues(w), cols);
    this.#k.gemm(padRows(rows), inner, c8, lay.a, 4 * n4, 4, lay.w, 4 * c8, lay.out, 4 * c8, 0, 0, 0, 0);
    return takePacked(f, lay.out / 4, c8, rows, cols);
  }

  /** `a^T dy`, `[N, C]`. */
  gradient(a: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
    const [rows, inner] = a.shape, cols = dy.shape[1];
    const lay = this.#layoutFor(rows, inner, cols);
    const f = this.#k.f32, n4 = padRows(inner), c8 = padCols(cols);
    this.#load(lay, a);
    putPadded(f, lay.dy / 4, c8, padRows(rows), hostValues(dy), cols);
    this.#k.gemm(n4, padRows(rows), c8, lay.a, 4, 4 * n4, lay.dy, 4 * c8, lay.dw, 4 * c8, 0, 0, 0, 0);
    return takePacked(f, lay.dw / 4, c8, inner, cols);
  }
}

let engine: ProductEngine | null = null;

/** `a w` with the gradient for `w` only (module doc); `a` must stay alive until the backward pass. */
export function hostConstantMatMul(a: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  if (a.shape[1] !== w.shape[0]) {
    throw new Error(`hostConstantMatMul: [${a.shape}] x [${w.shape}] do not multiply`);
  }
  const e = engine ??= new ProductEngine();
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: e.forward(a, args[0] as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor) => e.gradient(a, dy as tf.Tensor2D),
  }));
  return f(w) as tf.Tensor2D;
}

/**
 * Float32 kernels in WebAssembly SIMD for the host path of the ESN flow's log-likelihood
 * (`lib/dynamic/host_flow.ts`) and the states product (`host_matmul.ts`): a blocked matrix product with
 * optional initial value, bias and ReLU, and the elementwise parts of an affine coupling, forward and
 * backward. Their source is WAT (`kernels_wat.ts`); `deno task wat` writes the assembled modules as text.
 *
 * Why: at esn_flow_timit's sizes (~1,000 rows, widths 20-40) every product is small, and tfjs-wasm spends
 * most of a training step dispatching ~800 such kernels (README, performance section). Here one call runs a whole
 * product or coupling on one memory, with nothing allocated.
 *
 * Toolchain: the WAT is assembled by `wabt` (npm, the WebAssembly Binary Toolkit compiled to JavaScript)
 * when a backend the kernels serve is selected ({@link loadKernels}): wabt parses the standard text format,
 * validates the module (with relaxed SIMD only when asked) and prints it back. Chosen over `binaryen`'s
 * builder API, measured on this machine (Deno 2.9, 3 runs each): importing `wabt@1.0.39` and
 * instantiating it takes 55-80 ms and assembling this module 2.5 ms warm (~60 ms for the first parse,
 * while wabt's own code warms up), against 580-610 ms to import `binaryen@132.0.0`; the packages are
 * 1.7 MB and 23 MB (tarballs); binaryen's typed JS API has no `f32x4.relaxed_madd` (only its raw C entry
 * point `_BinaryenSIMDTernary`); and WAT is the text any engineer in the field reads, with no builder API
 * to learn. The cost, paid once by each process on wasm or cpu (and each data-parallel worker), not on
 * WebGPU: importing this module, {@link loadKernels} and the first {@link Kernels} took 125 ms (median;
 * 108-151) against 22 ms (17-45) with the hand-made binary encoder it replaces (8 fresh processes each,
 * alternating). The kernels themselves run the same instructions: their results are bit-identical to the
 * encoder's, and a training step's and an evaluation batch's times are unchanged within the noise
 * (`bench/ab_inprocess.ts`; README, performance section).
 *
 * Layout: all matrices are row-major float32 in the module's memory; addresses and row strides are in
 * bytes. Each wrapper method of {@link Kernels} checks its kernel's preconditions and throws an Error
 * naming the kernel, the argument and its value before calling into WebAssembly: products need `m % 4 == 0`
 * and `n % 8 == 0` (the register block is 4 rows x 8 columns; callers pad with zero rows and columns,
 * which leave the real entries unchanged), elementwise kernels widths `n % 4 == 0`; every operand read or
 * written 16 bytes at a time starts and strides at multiples of 16 bytes, the rest at multiples of 4; and
 * every operand lies inside the memory.
 */
import { kernelsWat } from "./kernels_wat.ts";

/** `n` rounded up to the products' row block (4): pad a product's row count to this. */
export const padRows = (n: number): number => Math.ceil(n / 4) * 4;

/** `n` rounded up to the products' column block (8): pad a product's column count to this. */
export const padCols = (n: number): number => Math.ceil(n / 8) * 8;

/** wabt's API, once {@link loadKernels} has instantiated it. */
type Wabt = Awaited<ReturnType<typeof import("wabt")>>;
let wabt: Wabt | null = null;
let loading: Promise<void> | null = null;

/**
 * Loads wabt (its initialisation is asynchronous) and compiles the kernels' module, once per thread; `new
 * Kernels()` and the functions below need it done. `selectBackend` (`lib/backend.ts`) calls it for wasm
 * and cpu, the backends the host kernels serve, so a run on WebGPU never loads wabt. It is a function
 * rather than a top-level `await` on purpose: Deno drops the messages that reach a worker before its
 * module graph has finished evaluating, and the data-parallel workers (`lib/parallel/worker.ts`) import
 * this module.
 */
export function loadKernels(): Promise<void> {
  return loading ??= (async () => {
    const { default: init } = await import("wabt");
    wabt = await init();
    compiled = compile();
  })();
}

function toolchain(): Wabt {
  if (!wabt) throw new Error("the kernels' toolchain is not loaded: await loadKernels() first");
  return wabt;
}

/** The WebAssembly features the module uses: SIMD always, relaxed SIMD for fused multiply-adds. */
const features = (fma: boolean) => ({ simd: true, relaxed_simd: fma });

/**
 * The module's bytes, assembled and validated by wabt (with a name section, so that the WebAssembly
 * engine's messages and the listing name functions and locals). `fma`: products by fused multiply-adds
 * (`f32x4.relaxed_madd`, ~20% faster than a product and a sum at `[1060, 1000] x [1000, 120]` on this
 * machine, measured), which engines without relaxed SIMD reject; sums then round once per term instead of
 * twice, well inside float32 tolerances. Throws wabt's message (file, line, column) if the text is wrong.
 */
export function kernelModuleBytes(fma: boolean): Uint8Array {
  return assembleWat(fma ? "kernels.fma.wat" : "kernels.unfused.wat", kernelsWat(fma), fma);
}

/**
 * WAT `text` assembled and validated by wabt, with SIMD and, when `relaxed`, relaxed SIMD; throws wabt's
 * message, which names `name`, the line and the column of the first error.
 */
export function assembleWat(name: string, text: string, relaxed: boolean): Uint8Array {
  const module = toolchain().parseWat(name, text, features(relaxed));
  try {
    module.validate();
    return module.toBinary({ write_debug_names: true }).buffer;
  } finally {
    module.destroy();
  }
}

/** The module `bytes` (from {@link kernelModuleBytes}) as WAT text, as wabt prints it back from the binary. */
export function kernelModuleText(bytes: Uint8Array, fma: boolean): string {
  const module = toolchain().readWasm(bytes, { readDebugNames: true, ...features(fma) });
  try {
    module.validate();
    module.applyNames();
    return module.toText({ foldExprs: true, inlineExport: true });
  } finally {
    module.destroy();
  }
}

/** The compiled module (once per thread), with fused multiply-adds where the engine has them. */
let compiled: { module: WebAssembly.Module; fma: boolean } | null = null;

function compile(): { module: WebAssembly.Module; fma: boolean } {
  const fused = kernelModuleBytes(true) as BufferSource;
  if (WebAssembly.validate(fused)) return { module: new WebAssembly.Module(fused), fma: true };
  return { module: new WebAssembly.Module(kernelModuleBytes(false) as BufferSource), fma: false };
}

/** The module's exports: every kernel takes i32 sizes and byte addresses and returns nothing. */
interface KernelExports {
  memory: WebAssembly.Memory;
  gemm(...args: number[]): void;
  couplingForward(...args: number[]): void;
  couplingBackward(...args: number[]): void;
  reluMask(count: number, dy: number, y: number): void;
  columnSum(rows: number, n: number, x: number, out: number): void;
}

const PAGE = 65536;

/** Names of the `[rows, n]` operands of the couplings, in argument order (for the checks' messages). */
const FORWARD_MATRICES = ["s", "mu", "z", "d", "e"], BACKWARD_MATRICES = ["dz", "e", "d", "s", "dpre"];

/** Throws unless `value` is a non-negative integer multiple of `q`. */
function multiple(kernel: string, arg: string, value: number, q: number, why: string): void {
  if (!(Number.isInteger(value) && value >= 0 && value % q === 0)) {
    throw new Error(`${kernel}: ${arg} = ${value} is not a non-negative multiple of ${q} (${why})`);
  }
}

/** One instance of the kernels with its own memory, which {@link reserve} grows. */
export class Kernels {
  readonly #fn: KernelExports;
  #f32: Float32Array;

  /** Whether products use fused multiply-adds (see {@link kernelModuleBytes}). */
  readonly fma: boolean;

  /** `fma`: force the products' kind (default: fused where the engine has relaxed SIMD). */
  constructor(fma?: boolean) {
    if (!compiled) {
      throw new Error("Kernels: the kernels' module is not compiled yet: await loadKernels() first");
    }
    const module = fma === undefined || fma === compiled.fma
      ? compiled.module
      : new WebAssembly.Module(kernelModuleBytes(fma) as BufferSource);
    this.fma = fma ?? compiled.fma;
    this.#fn = new WebAssembly.Instance(module).exports as unknown as KernelExports;
    this.#f32 = new Float32Array(this.#fn.memory.buffer);
  }

  /** The kernels' memory. */
  get memory(): WebAssembly.Memory {
    return this.#fn.memory;
  }

  /** Makes the memory at least `bytes` long (its contents are kept). */
  reserve(bytes: number): void {
    const have = this.#fn.memory.buffer.byteLength;
    if (bytes > have) this.#fn.memory.grow(Math.ceil((bytes - have) / PAGE));
    if (this.#f32.buffer !== this.#fn.memory.buffer) this.#f32 = new Float32Array(this.#fn.memory.buffer);
  }

  /** The memory as float32 (index = byte address / 4); valid until the next {@link reserve}. */
  get f32(): Float32Array {
    return this.#f32;
  }

  /**
   * Throws unless the operand `arg` at byte address `at` is aligned to `align` bytes and its last byte,
   * `at + span - 1`, is inside the memory (`span`: bytes from its start to its end, 0 when it is empty).
   */
  #operand(kernel: string, arg: string, at: number, span: number, align: number): void {
    multiple(kernel, arg, at, align, align === 16 ? "read 16 bytes at a time" : "float32 address");
    const size = this.#fn.memory.buffer.byteLength;
    if (at + span > size) {
      throw new Error(
        `${kernel}: ${arg} at byte ${at} spans ${span} bytes, past the end of the kernels' memory (${size} bytes)`,
      );
    }
  }

  /**
   * `C[i, j] = act(C0[i, j] + bias[j] + sum_k A[i, k] B[k, j])` for `i < m`, `j < n`, with `A[i, k]` at
   * `a + i aRow + k aCol` (so `A^T` is a product too), `B[k, j]` at `b + k bRow + 4 j`, `C` and `C0` likewise;
   * `c0 = 0` and `bias = 0` mean none, `relu != 0` applies `max(., 0)`. `C0` may be `C` (accumulate).
   * `columnsOuter != 0` loops over column blocks outside row blocks: faster when `B` is large and `A`
   * small, as `B`'s block of 8 columns then stays in cache for all rows.
   *
   * Preconditions (checked): `m % 4 == 0`, `n % 8 == 0`; `b`, `bRow`, `c`, `cRow` (and `c0`, `c0Row`,
   * `bias` when used) multiples of 16; `a`, `aRow`, `aCol` multiples of 4; every operand inside the memory.
   */
  gemm(
    m: number,
    k: number,
    n: number,
    a: number,
    aRow: number,
    aCol: number,
    b: number,
    bRow: number,
    c: number,
    cRow: number,
    c0: number,
    c0Row: number,
    bias: number,
    relu: number,
    columnsOuter = 0,
  ): void {
    const K = "gemm";
    multiple(K, "m", m, 4, "rows in blocks of 4: pad with padRows");
    multiple(K, "n", n, 8, "columns in blocks of 8: pad with padCols");
    multiple(K, "k", k, 1, "inner size");
    multiple(K, "aRow", aRow, 4, "byte stride");
    multiple(K, "aCol", aCol, 4, "byte stride");
    multiple(K, "bRow", bRow, 16, "byte stride of rows read 16 bytes at a time");
    multiple(K, "cRow", cRow, 16, "byte stride of rows written 16 bytes at a time");
    const last = (count: number, stride: number) => count > 0 ? (count - 1) * stride : 0;
    const rowBytes = 4 * n;
    const some = m > 0 && n > 0;
    this.#operand(K, "a", a, m > 0 && k > 0 ? last(m, aRow) + last(k, aCol) + 4 : 0, 4);
    this.#operand(K, "b", b, k > 0 && n > 0 ? last(k, bRow) + rowBytes : 0, 16);
    this.#operand(K, "c", c, some ? last(m, cRow) + rowBytes : 0, 16);
    if (c0 !== 0) {
      multiple(K, "c0Row", c0Row, 16, "byte stride of rows read 16 bytes at a time");
      this.#operand(K, "c0", c0, some ? last(m, c0Row) + rowBytes : 0, 16);
    }
    if (bias !== 0) this.#operand(K, "bias", bias, rowBytes, 16);
    this.#fn.gemm(m, k, n, a, aRow, aCol, b, bRow, c, cRow, c0, c0Row, bias, relu, columnsOuter);
  }

  /**
   * Checks `[rows, n]` elementwise operands (`names[q]` at `at[q]`): `n % 4 == 0`, 16-byte aligned, inside
   * the memory.
   */
  #elementwise(kernel: string, rows: number, n: number, names: readonly string[], ...at: number[]): void {
    multiple(kernel, "rows", rows, 1, "row count");
    multiple(kernel, "n", n, 4, "four lanes at a time: pad the width");
    for (let q = 0; q < at.length; q++) this.#operand(kernel, names[q], at[q], 4 * rows * n, 16);
  }

  /**
   * On `[rows, n]` matrices, in place: `s <- tanh(s)` (s holds the pre-activation), `sm = s rescale`
   * (`rescale`: `[n]`), `e = exp(-sm)`, `d = z - mu`, `z <- d e`, `logDet[r] += sum_j sm[r, j]`.
   * Preconditions (checked): `n % 4 == 0`; matrices and `rescale` 16-byte aligned, `logDet` 4; all inside
   * the memory.
   */
  couplingForward(
    rows: number,
    n: number,
    s: number,
    mu: number,
    z: number,
    rescale: number,
    d: number,
    e: number,
    logDet: number,
  ): void {
    const K = "couplingForward";
    this.#elementwise(K, rows, n, FORWARD_MATRICES, s, mu, z, d, e);
    this.#operand(K, "rescale", rescale, 4 * n, 16);
    this.#operand(K, "logDet", logDet, 4 * rows, 4);
    this.#fn.couplingForward(rows, n, s, mu, z, rescale, d, e, logDet);
  }

  /**
   * The gradient of {@link couplingForward} and of `-sum sm` weighted by the row's upstream gradient
   * `g[r]`: `t = dz e` (stored over `dz`: the gradient of the changed part's input; `-t` is that of `mu`),
   * `dsm = -g - t d`, `drescale[j] += sum_r dsm s`, `dpre = dsm rescale (1 - s^2)` (of the pre-tanh slope).
   * Preconditions as {@link couplingForward} (`g` like `logDet`, `drescale` like `rescale`).
   */
  couplingBackward(
    rows: number,
    n: number,
    dz: number,
    e: number,
    d: number,
    s: number,
    rescale: number,
    g: number,
    dpre: number,
    drescale: number,
  ): void {
    const K = "couplingBackward";
    this.#elementwise(K, rows, n, BACKWARD_MATRICES, dz, e, d, s, dpre);
    this.#operand(K, "rescale", rescale, 4 * n, 16);
    this.#operand(K, "drescale", drescale, 4 * n, 16);
    this.#operand(K, "g", g, 4 * rows, 4);
    this.#fn.couplingBackward(rows, n, dz, e, d, s, rescale, g, dpre, drescale);
  }

  /**
   * `dy <- dy` where `y > 0`, else 0 (the ReLU's gradient given its output), on `count` floats.
   * Preconditions (checked): `count % 4 == 0`, `dy` and `y` 16-byte aligned and inside the memory.
   */
  reluMask(count: number, dy: number, y: number): void {
    const K = "reluMask";
    multiple(K, "count", count, 4, "four lanes at a time: pad the count");
    this.#operand(K, "dy", dy, 4 * count, 16);
    this.#operand(K, "y", y, 4 * count, 16);
    this.#fn.reluMask(count, dy, y);
  }

  /**
   * `out[j] += sum_r x[r, j]` on `[rows, n]` `x`. Preconditions (checked): `n % 4 == 0`, `x` and `out`
   * 16-byte aligned and inside the memory.
   */
  columnSum(rows: number, n: number, x: number, out: number): void {
    this.#elementwise("columnSum", rows, n, ["x"], x);
    this.#operand("columnSum", "out", out, 4 * n, 16);
    this.#fn.columnSum(rows, n, x, out);
  }
}

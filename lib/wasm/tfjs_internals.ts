/**
 * Every internal of tfjs-backend-wasm this project relies on, in one place. None of them is public API:
 * a tfjs upgrade may rename or change them, and `tests/tfjs_internals_test.ts` runs
 * {@link checkWasmInternals} so that such an upgrade fails there, naming what changed, instead of
 * producing wrong numbers elsewhere. Checked against tfjs-backend-wasm {@link version_wasm} (4.22.0).
 *
 * What is used, and by whom:
 * - `typedArrayFromHeap(tensorInfo)`: a Float32Array view of a tensor's bytes in the backend's heap, no copy
 *   (`heapView`, used by `tensor_io.ts` for the host kernels' inputs). The view is valid until the next
 *   tfjs op: an op may grow the heap, which detaches the old buffer (length 0) or, once freed, reuses the
 *   bytes. Callers read it right away.
 * - `readSync(dataId)`: a copy of a tensor's values, inside a kernel (`readValues`, `lib/wasm_kernels.ts`).
 * - `makeOutput(shape, dtype, undefined, values)`: a new tensor holding a copy of `values`, the result of
 *   a kernel written in JavaScript (`makeOutputTensor`, `lib/wasm_kernels.ts`).
 * - `wasm.HEAPU8`: the heap itself, only to check that a view is one (here and in the test).
 */
import * as tf from "@tensorflow/tfjs";
import { version_wasm } from "@tensorflow/tfjs-backend-wasm";

export { version_wasm };

type DType = "float32" | "int32" | "bool";

/** The shape of the wasm backend object as this project uses it (tfjs-backend-wasm 4.22.0). */
export interface WasmBackendInternals {
  typedArrayFromHeap(
    t: { shape: number[]; dtype: string; dataId: object },
  ): Float32Array | Int32Array | Uint8Array;
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(
    shape: number[],
    dtype: string,
    memoryOffset?: number,
    values?: ArrayLike<number>,
  ): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array };
}

/** `backend` (a kernel's `backend` argument, or the current one) as the wasm backend's internals. */
export function wasmInternals(backend: unknown = tf.backend()): WasmBackendInternals {
  return backend as WasmBackendInternals;
}

/**
 * A view of a float32 tensor's values in the wasm backend's heap (no copy): valid until the next tfjs op;
 * read it, never write it.
 */
export function heapView(t: tf.Tensor): Float32Array {
  return wasmInternals().typedArrayFromHeap(t) as Float32Array;
}

/** A copy of the values behind `dataId` (inside a kernel, `backend` being its argument). */
export function readValues(backend: unknown, dataId: object): ArrayLike<number> {
  return wasmInternals(backend).readSync(dataId);
}

/** A new tensor of `shape` and `dtype` holding a copy of `values` (a kernel's result). */
export function makeOutputTensor(
  backend: unknown,
  shape: number[],
  dtype: DType,
  values: Float32Array | Int32Array,
): tf.TensorInfo {
  return wasmInternals(backend).makeOutput(shape, dtype, undefined, values);
}

/**
 * Checks, on the wasm backend (selected by the caller), that every internal above still exists and does
 * what this project assumes. Returns the problems found, each naming the internal and what it did
 * instead (empty: all as assumed).
 */
export function checkWasmInternals(): string[] {
  const problems: string[] = [];
  const at = `tfjs-backend-wasm ${version_wasm}`;
  if (tf.getBackend() !== "wasm") {
    return [`checkWasmInternals needs the wasm backend, not ${tf.getBackend()}`];
  }
  const b = tf.backend() as unknown as Record<string, unknown>;
  for (const name of ["typedArrayFromHeap", "readSync", "makeOutput"]) {
    if (typeof b[name] !== "function") problems.push(`${at}: backend.${name} is no longer a function`);
  }
  const heap = (b.wasm as { HEAPU8?: unknown } | undefined)?.HEAPU8;
  if (!(heap instanceof Uint8Array)) problems.push(`${at}: backend.wasm.HEAPU8 is no longer a Uint8Array`);
  if (problems.length) return problems;

  const values = [1.5, -2, 3.25, 4, 5.5, -6];
  const t = tf.tensor2d(values, [2, 3]);
  try {
    const view = heapView(t);
    const heapBuffer = wasmInternals().wasm.HEAPU8.buffer;
    if (!(view instanceof Float32Array)) {
      problems.push(
        `${at}: typedArrayFromHeap returned ${Object.prototype.toString.call(view)}, not a Float32Array`,
      );
    } else {
      if (view.buffer !== heapBuffer) {
        problems.push(
          `${at}: typedArrayFromHeap returned a copy, not a view of the heap (wasm.HEAPU8.buffer)`,
        );
      }
      if (view.length !== values.length || values.some((v, i) => view[i] !== v)) {
        problems.push(`${at}: typedArrayFromHeap gave [${[...view]}], want [${values}]`);
      }
    }
    // A second view taken before any op leaves the first one valid (host ops read all inputs, then run).
    const other = tf.tensor1d([7, 8]);
    const otherView = heapView(other);
    if (otherView[0] !== 7 || otherView[1] !== 8 || values.some((v, i) => view[i] !== v)) {
      problems.push(`${at}: a second typedArrayFromHeap view changed the first, or is wrong`);
    }
    other.dispose();
    const read = readValues(tf.backend(), t.dataId);
    if (read.length !== values.length || values.some((v, i) => read[i] !== v)) {
      problems.push(`${at}: readSync gave [${Array.from(read)}], want [${values}]`);
    }
    const info = makeOutputTensor(tf.backend(), [3, 2], "float32", new Float32Array(values));
    const out = tf.engine().makeTensorFromTensorInfo(info);
    const got = out.dataSync();
    if (out.shape.join() !== "3,2" || out.dtype !== "float32" || values.some((v, i) => got[i] !== v)) {
      problems.push(
        `${at}: makeOutput gave ${out.dtype} [${out.shape}] [${[...got]}], want float32 [3,2] [${values}]`,
      );
    }
    out.dispose();
  } finally {
    t.dispose();
  }
  return problems;
}

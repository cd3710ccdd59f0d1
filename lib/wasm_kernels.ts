/**
 * `UnsortedSegmentSum` for the wasm backend, which tfjs-backend-wasm 4.22 lacks (cpu and webgpu have it).
 *
 * It is needed beyond `tf.unsortedSegmentSum` itself: the gradient of `tf.gather` is an unsorted segment
 * sum, so without it nothing that gathers trainable values (the Toeplitz weight built from its free
 * parameters, the packed states of a recurrent encoder) can be trained on wasm. The kernel runs in
 * JavaScript over the wasm heap: `out[s, ...] = sum_{i : ids[i] = s} x[i, ...]` (ids outside
 * `[0, numSegments)` are dropped, as in TensorFlow); the sizes it sees here are small (a weight gradient,
 * `[R, N]` states), so a native kernel would not pay off. `lib/backend.ts` imports this module, which
 * registers it once.
 */
import * as tf from "@tensorflow/tfjs";
import { makeOutputTensor, readValues } from "./wasm/tfjs_internals.ts";

if (!tf.getKernel("UnsortedSegmentSum", "wasm")) {
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const xs = readValues(backend, x.dataId), ids = readValues(backend, segmentIds.dataId);
      const rows = ids.length;
      const inner = rows === 0 ? 0 : xs.length / rows;
      const out = x.dtype === "int32"
        ? new Int32Array(numSegments * inner)
        : new Float32Array(numSegments * inner);
      for (let i = 0; i < rows; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        for (let j = 0, o = s * inner, q = i * inner; j < inner; j++) out[o + j] += xs[q + j];
      }
      return makeOutputTensor(
        backend,
        [numSegments, ...x.shape.slice(1)],
        x.dtype as "float32" | "int32",
        out,
      );
    },
  });
}

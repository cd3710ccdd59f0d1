import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { checkWasmInternals, heapView, version_wasm } from "../lib/wasm/tfjs_internals.ts";

Deno.test(`the tfjs-backend-wasm internals the host kernels use are as assumed (tfjs-backend-wasm ${version_wasm})`, async () => {
  await selectBackend("wasm");
  const problems = checkWasmInternals();
  assert.deepEqual(problems, [], `tfjs-backend-wasm changed:\n${problems.join("\n")}`);
});

Deno.test("checkWasmInternals() names a method that a tfjs upgrade removed", async () => {
  await selectBackend("wasm");
  const b = tf.backend() as unknown as Record<string, unknown>;
  assert.ok(!Object.hasOwn(b, "typedArrayFromHeap"), "the method is expected on the backend's prototype");
  b.typedArrayFromHeap = undefined; // shadows the prototype's method
  try {
    assert.deepEqual(checkWasmInternals(), [
      `tfjs-backend-wasm ${version_wasm}: backend.typedArrayFromHeap is no longer a function`,
    ]);
  } finally {
    delete b.typedArrayFromHeap;
  }
});

Deno.test("checkWasmInternals() catches a heap 'view' that is a copy", async () => {
  await selectBackend("wasm");
  const b = tf.backend() as unknown as { typedArrayFromHeap: (t: tf.TensorInfo) => Float32Array };
  const saved = b.typedArrayFromHeap;
  b.typedArrayFromHeap = (t) => saved.call(b, t).slice();
  try {
    const problems = checkWasmInternals();
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0], /typedArrayFromHeap returned a copy/);
  } finally {
    delete (b as Partial<typeof b>).typedArrayFromHeap;
  }
});

Deno.test("a heap view is detached when an op grows the heap: why views are read before the next op", async () => {
  await selectBackend("wasm");
  const t = tf.tensor1d([1, 2, 3]);
  const view = heapView(t);
  assert.deepEqual([...view], [1, 2, 3]);
  // Far more than the heap holds now: the heap grows, and its old buffer is detached.
  const heapBytes = view.buffer.byteLength;
  const big = tf.zeros([heapBytes / 4 + 1]);
  assert.equal(view.length, 0, "a view of the old heap buffer should be detached after the heap grew");
  assert.deepEqual([...heapView(t)], [1, 2, 3]);
  tf.dispose([t, big]);
});

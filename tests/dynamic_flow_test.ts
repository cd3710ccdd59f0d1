import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { SequenceBatch, SequenceDataset } from "../lib/data/sequences.ts";
import { attachStateCache, buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { EsnFlow } from "../lib/dynamic/esn_flow.ts";
import { EsnFlowLayer, halfMask } from "../lib/dynamic/esn_flow_layer.ts";
import { FlowMixture } from "../lib/dynamic/mixture.ts";
import { EsnStateCache } from "../lib/dynamic/state_cache.ts";
import { EchoStateNetwork } from "../lib/esn.ts";
import { Linear } from "../lib/nn/linear.ts";
import { ToeplitzLinear } from "../lib/nn/toeplitz.ts";
import { Rng } from "../lib/rng.ts";
import { checkBijector } from "./helpers/bijector_checks.ts";

await selectBackend("wasm");

const D = 4, N = 12, L = 8;
const small = { frameDim: D, contextDim: N, hiddenDim: L, numHiddenLayers: 2 };

function randomCase(seed: number, rows: number) {
  const r = new Rng(1000 + seed);
  return { x: tf.tensor2d(r.normals(rows * D), [rows, D]), context: tf.tensor2d(r.normals(rows * N, 0.5), [rows, N]) };
}

/** Moves the rescale away from its initial 1 so that the checks see a non-trivial value. */
function perturbRescale(v: tf.Variable, seed: number): void {
  v.assign(tf.tensor1d(Array.from({ length: D }, (_, i) => 0.6 + 0.1 * ((i + seed) % 4))));
}

Deno.test("ESN flow bijectors satisfy the generic bijector checks", async (t) => {
  const table = {
    "EsnFlowLayer (Toeplitz)": (seed: number) => {
      const b = new EsnFlowLayer({ ...small, toeplitz: true }, new Rng(seed));
      perturbRescale(b.rescale, seed);
      return { bijector: b, ...randomCase(seed, 6) };
    },
    "EsnFlowLayer (dense first layer)": (seed: number) => ({
      bijector: new EsnFlowLayer({ ...small, toeplitz: false }, new Rng(seed)),
      ...randomCase(seed, 6),
    }),
    "EsnFlow (3 layers, 1 hidden layer)": (seed: number) => {
      const b = new EsnFlow({ ...small, numHiddenLayers: 1, numFlowLayers: 3, toeplitz: true }, new Rng(seed));
      perturbRescale(b.rescale, seed);
      return { bijector: b, ...randomCase(seed, 5) };
    },
  };
  for (const [name, make] of Object.entries(table)) await checkBijector(t, name, make);
});

/**
 * `frame_logp` of the reference torch_esn_flow.py, transcribed line by line in float64 on the host from the
 * flow's weights: `for net in reversed(nets): for m in (1 - b, b): s, mu = net(m * z, h); ...`.
 */
function referenceFrameLogp(flow: EsnFlow, x: Float32Array, h: Float32Array, rows: number): Float64Array {
  const d = flow.frameDim, n = flow.contextDim;
  const b = halfMask(d), rescale = flow.rescale.dataSync();
  const linear = (layer: Linear, v: number[]) => {
    const w = layer.weight.dataSync(), bias = layer.bias!.dataSync(), out = layer.outDim;
    return Array.from({ length: out }, (_, o) => v.reduce((s, vi, i) => s + vi * w[i * out + o], bias[o]));
  };
  const first = (f: ToeplitzLinear | Linear, v: number[]) => {
    if (f instanceof Linear) return linear(f, v);
    const p = f.params.dataSync(), bias = f.bias.dataSync(), fin = f.inDim;
    return Array.from({ length: f.outDim }, (_, i) => v.reduce((s, vj, j) => s + vj * p[i - j + fin - 1], bias[i]));
  };
  const relu = (v: number[]) => v.map((e) => Math.max(e, 0));
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = Array.from(x.subarray(r * d, (r + 1) * d));
    const hr = Array.from(h.subarray(r * n, (r + 1) * n));
    let logdet = 0;
    for (const layer of [...flow.layers].reverse()) {
      const net = layer.conditioner;
      for (const m of [b.map((e) => 1 - e), b]) {
        let q = relu(first(net.first, [...z.map((zi, i) => m[i] * zi), ...hr]));
        for (const hid of net.hidden) q = relu(linear(hid, q));
        const s = linear(net.slope, q).map((e, i) => Math.tanh(e) * rescale[i]);
        const mu = linear(net.intercept, q);
        z = z.map((zi, i) => m[i] * zi + (1 - m[i]) * (zi - mu[i]) * Math.exp(-s[i]));
        logdet -= s.reduce((acc, si, i) => acc + (1 - m[i]) * si, 0);
      }
    }
    out[r] = logdet - 0.5 * z.reduce((s, zi) => s + zi * zi, 0) - 0.5 * d * Math.log(2 * Math.PI);
  }
  return out;
}

Deno.test("frame log-likelihood equals the reference frame_logp to 1e-4 relative (same weights)", async (t) => {
  for (const toeplitz of [true, false]) {
    await t.step(toeplitz ? "Toeplitz" : "dense first layer", () => {
      const mix = new FlowMixture({ ...small, numFlowLayers: 3, toeplitz, numMixtures: 1 }, new Rng(3));
      perturbRescale(mix.flows[0].rescale, 1);
      const rows = 7, { x, context } = randomCase(2, rows);
      try {
        const got = tf.tidy(() => mix.logProb(x, context).dataSync());
        const want = referenceFrameLogp(mix.flows[0], x.dataSync() as Float32Array, context.dataSync() as Float32Array, rows);
        for (let r = 0; r < rows; r++) {
          assert.ok(Math.abs(got[r] - want[r]) <= 1e-4 * Math.abs(want[r]), `row ${r}: ${got[r]} vs ${want[r]}`);
        }
      } finally {
        for (const v of [x, context]) v.dispose();
        for (const [, v] of mix.parameters()) v.dispose();
      }
    });
  }
});

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
        alone.forEach((one, i) => {
          const v = tf.tidy(() => m.logProb(one).dataSync()[0]);
          assert.ok(Math.abs(v - a[i]) <= 1e-5 * (1 + Math.abs(v)), `sequence ${i}: ${v} alone, ${a[i]} in batch`);
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
        assert.ok(Math.abs(p - sum) <= 1e-5 * (1 + Math.abs(p)));
      } finally {
        for (const x of [...batches, prefix]) x.dispose();
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
            assert.ok(g.every(Number.isFinite) && g.some((e) => e !== 0), `parameter ${name} gets no gradient`);
          }
          opt.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
        });
        m.buffers().forEach(([name, v], i) => assert.deepEqual(v.dataSync(), before[i], `buffer ${name} changed`));
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
    assert.ok(Math.abs(loss - want) <= 1e-5 * Math.abs(want));
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
      const v = tf.tidy(() => m.logProb(b).dataSync());
      assert.equal(b.states, null);
      b.dispose();
      return Array.from(v);
    });
    const { report } = EsnStateCache.attach(data, m.encoder as EchoStateNetwork, 1e9);
    assert.ok(report.every((s) => s.cached));
    const cached = [...data.eval("val", 2, null)].map((b) => {
      assert.notEqual(b.states, null);
      const v = tf.tidy(() => m.logProb(b).dataSync());
      b.dispose();
      return Array.from(v);
    });
    assert.deepEqual(cached.flat().map((v) => v.toFixed(4)), plain.flat().map((v) => v.toFixed(4)));
    // Another model with the same reservoir seed uses the cache as is; one with another seed ignores it.
    const same = model({}, 0), other = model({}, 7);
    const b = data.batch("val", [0, 1]);
    try {
      assert.equal(same.encoder.states(b), b.states);
      assert.notEqual(other.encoder.states(b), b.states);
      assert.equal(attachStateCache(same, data, { esn_cache_mb: 100 }), null);
    } finally {
      b.dispose();
      same.dispose();
      other.dispose();
    }
    // A budget that only fits the smaller splits skips train.
    const small = EsnStateCache.attach(data, m.encoder as EchoStateNetwork, 4 * 24 * data.frameCount("val") + 1);
    assert.deepEqual(small.report.map((s) => s.cached), [false, true, false]);
  } finally {
    m.dispose();
  }
});

Deno.test("a mixture of flows integrates to ~1 on a 2-D grid", () => {
  const d = 2, n = 5;
  const mix = new FlowMixture(
    { frameDim: d, contextDim: n, hiddenDim: 6, numHiddenLayers: 1, numFlowLayers: 2, toeplitz: true, numMixtures: 3, weights: "context" },
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
          assert.ok(Math.abs(got - want) < 1e-3 * (1 + Math.abs(want)), `seq ${i} t ${t}: z ${got} vs ${want}`);
        }
      }
    });
  } finally {
    m.dispose();
  }
});

/** A Python with PyTorch and the reference model beside the repository, when both are there. */
const PEER = new URL("../../shared/peer/torch_esn_flow.py", import.meta.url).pathname;
const PYTHON = (() => {
  try {
    Deno.statSync(PEER);
  } catch {
    return null;
  }
  for (const exe of [Deno.env.get("PYTHON") ?? "python3", "/usr/bin/python3"]) {
    try {
      if (new Deno.Command(exe, { args: ["-c", "import torch"], stderr: "null" }).outputSync().success) return exe;
    } catch { /* not installed */ }
  }
  return null;
})();

const PEER_SCRIPT = `
import json, sys, importlib.util, torch
spec = importlib.util.spec_from_file_location("peer", sys.argv[1]); peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
a = json.load(sys.stdin); d, n, l, k, L = a["dims"]
model = peer.DynFlow(d, n, l, k, L)
t = lambda name: torch.tensor(a["params"][name], dtype=torch.float32)
with torch.no_grad():
    model.rescale.copy_(t("flow/0/rescale"))
    for i, net in enumerate(model.nets):
        p = f"flow/0/layer/{i}/"
        net.body[0].params.copy_(t(p + "first/params")); net.body[0].bias.copy_(t(p + "first/bias"))
        for j in range(k - 1):
            net.body[2 + 2 * j].weight.copy_(t(p + f"hidden/{j}/weight").reshape(l, l).t())
            net.body[2 + 2 * j].bias.copy_(t(p + f"hidden/{j}/bias"))
        net.slope.weight.copy_(t(p + "slope/weight").reshape(l, d).t()); net.slope.bias.copy_(t(p + "slope/bias"))
        net.intercept.weight.copy_(t(p + "intercept/weight").reshape(l, d).t()); net.intercept.bias.copy_(t(p + "intercept/bias"))
    x = torch.tensor(a["x"], dtype=torch.float32).reshape(-1, d); h = torch.tensor(a["h"], dtype=torch.float32).reshape(-1, n)
    print(json.dumps(model.frame_logp(x, h).tolist()))
`;

Deno.test({
  name: "the PyTorch reference model gives the same frame log-likelihood for the same weights (1e-4 relative)",
  ignore: PYTHON === null,
  fn: async () => {
    const [d, n, l, k, layers, rows] = [6, 40, 9, 3, 4, 32];
    const mix = new FlowMixture(
      { frameDim: d, contextDim: n, hiddenDim: l, numHiddenLayers: k, numFlowLayers: layers, toeplitz: true, numMixtures: 1 },
      new Rng(21),
    );
    const esn = new EchoStateNetwork({ frameDim: d, esnDim: n }, new Rng(22));
    const r = new Rng(23);
    mix.flows[0].rescale.assign(tf.tensor1d(r.normals(d, 0.5).map((v) => 1 + v)));
    const x = r.normals(rows * d);
    const h = esn.encodePacked(x, [rows]); // realistic ESN states of one sequence
    try {
      const ours = tf.tidy(() => mix.logProb(tf.tensor2d(x, [rows, d]), tf.tensor2d(h, [rows, n])).dataSync());
      const params = Object.fromEntries(mix.parameters().map(([name, v]) => [name, Array.from(v.dataSync())]));
      const child = new Deno.Command(PYTHON!, { args: ["-c", PEER_SCRIPT, PEER], stdin: "piped", stdout: "piped" })
        .spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(
        JSON.stringify({ dims: [d, n, l, k, layers], params, x: Array.from(x), h: Array.from(h) }),
      ));
      await w.close();
      const out = await child.output();
      assert.ok(out.success, "the reference script failed");
      const theirs: number[] = JSON.parse(new TextDecoder().decode(out.stdout));
      theirs.forEach((v, i) => assert.ok(Math.abs(ours[i] - v) <= 1e-4 * Math.abs(v), `row ${i}: ${ours[i]} vs torch ${v}`));
    } finally {
      for (const [, v] of [...mix.parameters(), ...esn.buffers()]) v.dispose();
    }
  },
});

Deno.test("ToeplitzLinear: W[i, j] = p[i - j + in - 1], in + out - 1 parameters, gradients along diagonals", () => {
  const [fin, fout] = [5, 3];
  const t = new ToeplitzLinear(fin, fout, new Rng(2));
  const x = tf.tensor2d(new Rng(3).normals(4 * fin), [4, fin]);
  try {
    assert.equal(t.params.size, fin + fout - 1);
    const p = t.params.dataSync(), wt = tf.tidy(() => t.rowsT().dataSync()); // W^T: [in, out]
    for (let j = 0; j < fin; j++) for (let i = 0; i < fout; i++) assert.equal(wt[j * fout + i], p[i - j + fin - 1]);
    const block = tf.tidy(() => t.rowsT(2, 5).dataSync());
    assert.deepEqual(Array.from(block), Array.from(wt.subarray(2 * fout)));
    // d/dp of sum(x W^T): each p[k] collects the column sums of x over its diagonal.
    const g = tf.tidy(() => tf.grad((q: tf.Tensor) => {
      const saved = t.params.clone();
      t.params.assign(q as tf.Tensor1D);
      const out = t.apply(x).sum();
      t.params.assign(saved);
      return out;
    })(t.params).dataSync());
    const colSums = tf.tidy(() => x.sum(0).dataSync());
    for (let k = 0; k < fin + fout - 1; k++) {
      let want = 0;
      for (let i = 0; i < fout; i++) for (let j = 0; j < fin; j++) if (i - j + fin - 1 === k) want += colSums[j];
      assert.ok(Math.abs(g[k] - want) < 1e-4, `p[${k}]: ${g[k]} vs ${want}`);
    }
  } finally {
    x.dispose();
    for (const [, v] of t.parameters()) v.dispose();
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

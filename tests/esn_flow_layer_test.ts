import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { EsnFlow } from "../lib/dynamic/esn_flow.ts";
import { EsnFlowLayer, halfMask } from "../lib/dynamic/esn_flow_layer.ts";
import { FlowMixture } from "../lib/dynamic/mixture.ts";
import { constantMatMul, dense, matMul, relu } from "../lib/dynamic/products.ts";
import { EchoStateNetwork } from "../lib/esn.ts";
import { Linear } from "../lib/nn/linear.ts";
import { toeplitzIndexT, ToeplitzLinear, toeplitzRowsT } from "../lib/nn/toeplitz.ts";
import { Rng } from "../lib/rng.ts";
import { checkBijector } from "./helpers/bijector_checks.ts";
import { assertAllClose } from "./helpers/close.ts";

await selectBackend("wasm");

const D = 4, N = 12, L = 8;
const small = { frameDim: D, contextDim: N, hiddenDim: L, numHiddenLayers: 2 };

function randomCase(seed: number, rows: number) {
  const r = new Rng(1000 + seed);
  return {
    x: tf.tensor2d(r.normals(rows * D), [rows, D]),
    context: tf.tensor2d(r.normals(rows * N, 0.5), [rows, N]),
  };
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
      const b = new EsnFlow(
        { ...small, numHiddenLayers: 1, numFlowLayers: 3, toeplitz: true },
        new Rng(seed),
      );
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
    return Array.from(
      { length: f.outDim },
      (_, i) => v.reduce((s, vj, j) => s + vj * p[i - j + fin - 1], bias[i]),
    );
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

/**
 * Element-wise tolerance of a frame log p (a sum of 2D coupling log-scales and D squares; |log p| 3.6 to
 * 19 here) in float32 against a float64 or a float32 reference. Measured: against the float64
 * transcription below (8 cases: seeds 0..3, Toeplitz and dense) at most 2.0e-6 off, 1.4e-7 relative;
 * against PyTorch float32 9.5e-7 off, 1.1e-7 relative (1 to 2 ulps). atol 1e-6 + rtol 1e-6 leaves 7x on
 * the worst row; a transposed hidden weight misses by 0.18 (1.7e-2 relative, the PyTorch test).
 */
const FRAME_LOGP = { atol: 1e-6, rtol: 1e-6 };

Deno.test("frame log-likelihood equals the reference frame_logp row by row (same weights)", async (t) => {
  for (const toeplitz of [true, false]) {
    for (const seed of [0, 1, 2, 3]) {
      await t.step(`${toeplitz ? "Toeplitz" : "dense first layer"}, seed ${seed}`, () => {
        const mix = new FlowMixture(
          { ...small, numFlowLayers: 3, toeplitz, numMixtures: 1 },
          new Rng(3 + seed),
        );
        perturbRescale(mix.flows[0].rescale, 1 + seed);
        const rows = 7, { x, context } = randomCase(2 + 10 * seed, rows);
        try {
          const got = tf.tidy(() => mix.logProb(x, context).dataSync());
          const want = referenceFrameLogp(
            mix.flows[0],
            x.dataSync() as Float32Array,
            context.dataSync() as Float32Array,
            rows,
          );
          assertAllClose(got, want, FRAME_LOGP, "frame log p");
        } finally {
          for (const v of [x, context]) v.dispose();
          for (const [, v] of mix.parameters()) v.dispose();
        }
      });
    }
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
      if (new Deno.Command(exe, { args: ["-c", "import torch"], stderr: "null" }).outputSync().success) {
        return exe;
      }
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
  name: `the PyTorch reference model gives the same frame log-likelihood for the same weights, row by row${
    PYTHON === null ? " (ignored: no python3 with torch, or no ../shared/peer/torch_esn_flow.py)" : ""
  }`,
  ignore: PYTHON === null,
  fn: async () => {
    const [d, n, l, k, layers, rows] = [6, 40, 9, 3, 4, 32];
    const mix = new FlowMixture(
      {
        frameDim: d,
        contextDim: n,
        hiddenDim: l,
        numHiddenLayers: k,
        numFlowLayers: layers,
        toeplitz: true,
        numMixtures: 1,
      },
      new Rng(21),
    );
    const esn = new EchoStateNetwork({ frameDim: d, esnDim: n }, new Rng(22));
    const r = new Rng(23);
    mix.flows[0].rescale.assign(tf.tensor1d(r.normals(d, 0.5).map((v) => 1 + v)));
    const x = r.normals(rows * d);
    const h = esn.encodePacked(x, [rows]); // realistic ESN states of one sequence
    try {
      const ours = tf.tidy(() =>
        mix.logProb(tf.tensor2d(x, [rows, d]), tf.tensor2d(h, [rows, n])).dataSync()
      );
      const params = Object.fromEntries(
        mix.parameters().map(([name, v]) => [name, Array.from(v.dataSync())]),
      );
      const theirs = async (p: Record<string, number[]>): Promise<number[]> => {
        const child = new Deno.Command(PYTHON!, {
          args: ["-c", PEER_SCRIPT, PEER],
          stdin: "piped",
          stdout: "piped",
        })
          .spawn();
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(
          JSON.stringify({ dims: [d, n, l, k, layers], params: p, x: Array.from(x), h: Array.from(h) }),
        ));
        await w.close();
        const out = await child.output();
        assert.ok(out.success, "the reference script failed");
        return JSON.parse(new TextDecoder().decode(out.stdout));
      };
      const same = await theirs(params);
      assertAllClose(ours, same, FRAME_LOGP, "frame log p against torch");
      // The [9, 9] hidden weight of layer 1 transposed (it loads either way round) must be caught.
      const name = "flow/0/layer/1/hidden/0/weight", wt = params[name].slice();
      for (let i = 0; i < l; i++) for (let j = 0; j < l; j++) wt[i * l + j] = params[name][j * l + i];
      const altered = await theirs({ ...params, [name]: wt });
      assert.throws(
        () => assertAllClose(ours, altered, FRAME_LOGP, "transposed"),
        /transposed: entry \d+ is/,
      );
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
    for (let j = 0; j < fin; j++) {
      for (let i = 0; i < fout; i++) assert.equal(wt[j * fout + i], p[i - j + fin - 1]);
    }
    const block = tf.tidy(() => t.rowsT(2, 5).dataSync());
    assert.deepEqual(Array.from(block), Array.from(wt.subarray(2 * fout)));
    // d/dp of sum(x W^T): each p[k] collects the column sums of x over its diagonal.
    const g = tf.tidy(() =>
      tf.variableGrads(() => t.apply(x).sum(), [t.params]).grads[t.params.name].dataSync()
    );
    const colSums = tf.tidy(() => x.sum(0).dataSync());
    for (let k = 0; k < fin + fout - 1; k++) {
      let want = 0;
      for (let i = 0; i < fout; i++) {
        for (let j = 0; j < fin; j++) if (i - j + fin - 1 === k) want += colSums[j];
      }
      // Measured: 2.4e-7 off at most (6.2e-8 of 1 + |want|); 1e-6 of 1 + |want| leaves 16x.
      assert.ok(Math.abs(g[k] - want) <= 1e-6 * (1 + Math.abs(want)), `p[${k}]: ${g[k]} vs ${want}`);
    }
  } finally {
    x.dispose();
    for (const [, v] of t.parameters()) v.dispose();
  }
});

Deno.test("transpose-free products have the values and gradients of tfjs autodiff", async (t) => {
  const r = new Rng(31);
  const a = tf.tensor2d(r.normals(7 * 5), [7, 5]), w = tf.tensor2d(r.normals(5 * 3), [5, 3]);
  const b = tf.tensor1d(r.normals(3)), proj = tf.tensor2d(r.normals(7 * 3), [7, 3]);
  const loss = (y: tf.Tensor) => tf.sum(tf.mul(tf.square(y), proj));
  const same = (f: (...x: tf.Tensor[]) => tf.Tensor, g: (...x: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]) =>
    tf.tidy(() => {
      const [vf, vg] = [f(...xs), g(...xs)].map((v) => v.dataSync());
      // Measured, relative to 1 + |reference|: values 1.4e-7, gradients 3.4e-7; tolerances 7x and 9x that.
      vf.forEach((v, i) => assert.ok(Math.abs(v - vg[i]) <= 1e-6 * (1 + Math.abs(vg[i])), `value ${i}`));
      const gf = tf.grads((...x: tf.Tensor[]) => loss(f(...x)))(xs),
        gg = tf.grads((...x: tf.Tensor[]) => loss(g(...x)))(xs);
      gf.forEach((d, k) => {
        const [p, q] = [d.dataSync(), gg[k].dataSync()];
        p.forEach((v, i) =>
          assert.ok(Math.abs(v - q[i]) <= 3e-6 * (1 + Math.abs(q[i])), `input ${k} entry ${i}`)
        );
      });
    });
  try {
    await t.step(
      "matMul",
      () => same((x, y) => matMul(x as tf.Tensor2D, y as tf.Tensor2D), (x, y) => tf.matMul(x, y), [a, w]),
    );
    for (const act of ["relu", "linear"] as const) {
      await t.step(`dense ${act}`, () =>
        same(
          (x, y, z) => dense(x as tf.Tensor2D, y as tf.Tensor2D, z as tf.Tensor1D, act),
          (x, y, z) => act === "relu" ? tf.relu(tf.add(tf.matMul(x, y), z)) : tf.add(tf.matMul(x, y), z),
          [a, w, b],
        ));
    }
    for (const host of [true, false]) {
      await t.step(
        `constantMatMul (gradient for w only), ${host ? "host kernels" : "tfjs ops"}`,
        () => same((y) => constantMatMul(a, y as tf.Tensor2D, host), (y) => tf.matMul(a, y), [w]),
      );
    }
  } finally {
    for (const v of [a, w, b, proj]) v.dispose();
  }
});

Deno.test("host-built ops (Toeplitz blocks, relu) equal plain tfjs in value and gradient on wasm and cpu", async (t) => {
  // Float32 sums of a few terms: 1e-5 relative is ample and far below any indexing error.
  const close = (p: ArrayLike<number>, q: ArrayLike<number>, what: string) => {
    assert.equal(p.length, q.length, what);
    for (let i = 0; i < p.length; i++) {
      assert.ok(
        Math.abs(p[i] - q[i]) <= 1e-5 * (1 + Math.abs(q[i])),
        `${what} entry ${i}: ${p[i]} vs ${q[i]}`,
      );
    }
  };
  for (const backend of ["wasm", "cpu"]) {
    await t.step(backend, async (s) => {
      await tf.setBackend(backend);
      const [fin, fout, from, to] = [9, 4, 3, 9];
      const r = new Rng(41);
      const layers = [0, 1, 2].map((i) => new ToeplitzLinear(fin, fout, new Rng(50 + i)));
      const proj = tf.tensor2d(r.normals((to - from) * 3 * fout), [to - from, 3 * fout]);
      const x = tf.tensor2d(r.normals(6 * fout), [6, fout]), px = tf.tensor2d(r.normals(6 * fout), [6, fout]);
      try {
        await s.step("toeplitzRowsT", () => {
          const vars = layers.map((l) => l.params);
          const gather = () => {
            const idx = tf.tensor2d(toeplitzIndexT(fin, fout, from, to), [to - from, fout], "int32");
            return tf.concat(layers.map((l) => tf.gather(l.params, idx)), 1);
          };
          for (const [what, f] of [["values", tf.square], ["gradients", (y: tf.Tensor) => y]] as const) {
            tf.tidy(() => {
              const loss = (w: tf.Tensor) => tf.sum(tf.mul(f(w), proj)) as tf.Scalar;
              const ours = tf.variableGrads(() => loss(toeplitzRowsT(layers, from, to)), vars);
              const plain = tf.variableGrads(() => loss(gather()), vars);
              close(ours.value.dataSync(), plain.value.dataSync(), `${what}: loss`);
              for (const v of vars) {
                close(ours.grads[v.name].dataSync(), plain.grads[v.name].dataSync(), v.name);
              }
            });
          }
          tf.tidy(() =>
            close(
              layers[1].rowsT(from, to).dataSync(),
              gather().slice([0, fout], [-1, fout]).dataSync(),
              "rowsT",
            )
          );
        });
        await s.step("relu", () =>
          tf.tidy(() => {
            const loss = (f: (v: tf.Tensor2D) => tf.Tensor2D) => (v: tf.Tensor) =>
              tf.sum(tf.mul(f(v as tf.Tensor2D), px));
            close(relu(x).dataSync(), tf.relu(x).dataSync(), "value");
            close(tf.grad(loss(relu))(x).dataSync(), tf.grad(loss(tf.relu))(x).dataSync(), "gradient");
          }));
      } finally {
        for (const v of [proj, x, px, ...layers.flatMap((l) => l.parameters().map(([, p]) => p))]) {
          v.dispose();
        }
        await tf.setBackend("wasm");
      }
    });
  }
});

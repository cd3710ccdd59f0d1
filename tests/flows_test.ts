import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import {
  AffineCoupling,
  alternatingMask,
  type Bijector,
  couplingNet,
  Flow,
  FlowDensityModel,
  FlowSequential,
  StandardNormal,
  type Transformed,
} from "../lib/flows/mod.ts";
import { matMulFastGrad } from "../lib/nn/linear.ts";
import { MLP } from "../lib/nn/mlp.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";
import {
  assertClose,
  type BijectorCase,
  checkBijector,
  checkJacobian,
  checkRoundTrip,
  disposeCase,
} from "./helpers/bijector_checks.ts";
import { logAbsDet } from "./helpers/jacobian.ts";

await selectBackend("wasm");

function randn(rng: Rng, shape: number[]): tf.Tensor {
  return tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)), shape);
}

function coupling(rng: Rng, dim: number, odd: boolean, contextDim = 0, separate = true): AffineCoupling {
  const net = couplingNet(rng, { dim, contextDim, hidden: [8, 8], activation: "tanh", separate });
  return new AffineCoupling(alternatingMask(dim, odd), net, contextDim);
}

const TABLE: Record<string, (seed: number) => BijectorCase> = {
  "AffineCoupling on [5, 4] vectors": (seed) => {
    const rng = new Rng(seed);
    return { bijector: coupling(rng, 4, false), x: randn(new Rng(100), [5, 4]) };
  },
  "AffineCoupling with one shared network, odd mask": (seed) => {
    const rng = new Rng(seed);
    return { bijector: coupling(rng, 3, true, 0, false), x: randn(new Rng(101), [4, 3]) };
  },
  "AffineCoupling with a [4, 2] context": (seed) => {
    const rng = new Rng(seed);
    return {
      bijector: coupling(rng, 3, false, 2),
      x: randn(new Rng(102), [4, 3]),
      context: randn(new Rng(103), [4, 2]),
    };
  },
  "AffineCoupling on [3, 2, 2, 2] images": (seed) => {
    const rng = new Rng(seed);
    return { bijector: coupling(rng, 8, false), x: randn(new Rng(104), [3, 2, 2, 2]) };
  },
  "FlowSequential of 3 couplings with context": (seed) => {
    const rng = new Rng(seed);
    const layers = [0, 1, 2].map((i) => coupling(rng, 4, i % 2 === 1, 3));
    return {
      bijector: new FlowSequential(layers),
      x: randn(new Rng(105), [4, 4]),
      context: randn(new Rng(106), [4, 3]),
    };
  },
};

Deno.test("flow bijectors satisfy the generic bijector checks", async (t) => {
  for (const [name, make] of Object.entries(TABLE)) await checkBijector(t, name, make);
});

/** Wraps a bijector and corrupts its log-det or its inverse, to show the checks can fail. */
class Broken implements Bijector {
  constructor(readonly inner: Bijector, readonly what: "logDet" | "inverse") {}
  forward(x: tf.Tensor, c?: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const out = this.inner.forward(x, c);
      return { y: out.y, logDet: this.what === "logDet" ? out.logDet.add<tf.Tensor1D>(0.1) : out.logDet };
    });
  }
  inverse(z: tf.Tensor, c?: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const out = this.inner.inverse(z, c);
      return { y: this.what === "inverse" ? out.y.mul(1.01) : out.y, logDet: out.logDet };
    });
  }
  parameters() {
    return this.inner.parameters();
  }
}

Deno.test("bijector checks reject a wrong log-det and a wrong inverse", () => {
  for (const what of ["logDet", "inverse"] as const) {
    const c = TABLE["AffineCoupling on [5, 4] vectors"](0);
    const broken = { ...c, bijector: new Broken(c.bijector, what) };
    try {
      assert.throws(() => (what === "logDet" ? checkJacobian(broken) : checkRoundTrip(broken)), /expected/);
    } finally {
      disposeCase(c);
    }
  }
});

Deno.test("logAbsDet() matches known determinants, with pivoting", () => {
  assert.ok(Math.abs(logAbsDet([2, 0, 0, 0, 3, 0, 0, 0, 4], 3) - Math.log(24)) < 1e-12);
  // A zero leading pivot forces a row swap; det = -(1*1 - 0) * ... = -1 * 5.
  assert.ok(Math.abs(logAbsDet([0, 1, 0, 1, 0, 0, 0, 0, 5], 3) - Math.log(5)) < 1e-12);
  assert.ok(Math.abs(logAbsDet([4, 3, 6, 3], 2) - Math.log(6)) < 1e-12);
  assert.equal(logAbsDet([1, 2, 2, 4], 2), -Infinity);
});

Deno.test("Flow.logProb() equals base logProb plus logDet by hand", () => {
  const layer = coupling(new Rng(3), 2, false);
  const flow = new Flow(layer, new StandardNormal([2]));
  const x = tf.tensor2d([[0.3, -1.2], [1.5, 0.7]]);
  try {
    const { y, logDet } = layer.forward(x);
    const z = y.arraySync() as number[][], ld = logDet.arraySync();
    const got = flow.logProb(x).arraySync();
    const model = new FlowDensityModel(flow);
    const viaModel = model.logProb({ x, size: 2, dims: 4, dispose: () => {} }).arraySync();
    for (let i = 0; i < 2; i++) {
      const byHand = -0.5 * (z[i][0] ** 2 + z[i][1] ** 2) - Math.log(2 * Math.PI) + ld[i];
      assert.ok(Math.abs(got[i] - byHand) < 1e-5, `example ${i}: ${got[i]} vs ${byHand}`);
      assert.equal(viaModel[i], got[i]);
    }
    tf.dispose([y, logDet]);
  } finally {
    x.dispose();
    disposeModule(flow);
  }
});

Deno.test("a 2-D flow density integrates to 1 on a grid", () => {
  const rng = new Rng(4);
  const flow = new Flow(
    new FlowSequential([0, 1, 2, 3].map((i) => coupling(rng, 2, i % 2 === 1))),
    new StandardNormal([2]),
  );
  try {
    // Trapezoid rule on [-8, 8]^2; the density has Gaussian tails, so the truncated mass is negligible.
    const n = 161, lo = -8, h = 16 / (n - 1);
    const pts = new Float32Array(n * n * 2);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) [pts[2 * (i * n + j)], pts[2 * (i * n + j) + 1]] = [lo + i * h, lo + j * h];
    }
    const p = tf.tidy(() => flow.logProb(tf.tensor2d(pts, [n * n, 2])).exp()).dataSync();
    let mass = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const w = (i === 0 || i === n - 1 ? 0.5 : 1) * (j === 0 || j === n - 1 ? 0.5 : 1);
        mass += w * p[i * n + j] * h * h;
      }
    }
    assert.ok(Math.abs(mass - 1) < 0.02, `mass ${mass}`);
  } finally {
    disposeModule(flow);
  }
});

Deno.test("Flow.sample() is fixed by the seed", () => {
  const flow = new Flow(
    new FlowSequential([coupling(new Rng(5), 2, false), coupling(new Rng(6), 2, true)]),
    new StandardNormal([2]),
  );
  try {
    const [a, b, c] = [7, 7, 8].map((s) => flow.sample(20, new Rng(s)));
    assert.deepEqual(a.dataSync(), b.dataSync());
    assert.notDeepEqual(a.dataSync(), c.dataSync());
    assert.deepEqual(a.shape, [20, 2]);
    tf.dispose([a, b, c]);
  } finally {
    disposeModule(flow);
  }
});

Deno.test("matMulFastGrad() has the value and gradients of tf.matMul", () => {
  const rng = new Rng(8);
  tf.tidy(() => {
    const [x, w, dy] = [randn(rng, [3, 4]), randn(rng, [4, 5]), randn(rng, [3, 5])] as tf.Tensor2D[];
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(matMulFastGrad(a as tf.Tensor2D, b as tf.Tensor2D), dy));
    const g = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, b), dy));
    const [fa, fb] = tf.grads(f)([x, w]), [ga, gb] = tf.grads(g)([x, w]);
    assertClose(matMulFastGrad(x, w), tf.matMul(x, w), 1e-6, "value");
    assertClose(fa, ga, 1e-6, "d/dx");
    assertClose(fb, gb, 1e-6, "d/dW");
  });
});

Deno.test("MLP with zeroOutput starts at zero and keeps its activation", () => {
  const mlp = new MLP(new Rng(9), { inDim: 3, hidden: [4], outDim: 2, zeroOutput: true });
  const x = randn(new Rng(10), [5, 3]) as tf.Tensor2D;
  try {
    assert.deepEqual(Array.from(mlp.apply(x).dataSync()), new Array(10).fill(0));
    assert.deepEqual(mlp.parameters().map(([n]) => n), ["0/weight", "0/bias", "1/weight", "1/bias"]);
    assert.throws(
      () => new MLP(new Rng(0), { inDim: 1, hidden: [], outDim: 1, activation: "gelu" as "relu" }),
      /unknown activation "gelu"/,
    );
  } finally {
    x.dispose();
    disposeModule(mlp);
  }
});

Deno.test("AffineCoupling rejects a bad mask, input or context with the values received", () => {
  const net = couplingNet(new Rng(11), { dim: 2, contextDim: 1, hidden: [4] });
  assert.throws(
    () => new AffineCoupling([1, 0.5], net),
    /mask must be a non-empty array of 0\/1, got \[1,0.5\]/,
  );
  const layer = new AffineCoupling([1, 0], net, 1);
  const x = tf.zeros([3, 2]), x3 = tf.zeros([3, 3]);
  try {
    assert.throws(() => layer.forward(x), /context must have shape \[3, 1\], got none/);
    assert.throws(
      () => layer.forward(x3, tf.zeros([3, 1])),
      /x must have 2 values per example, got shape \[3,3\]/,
    );
  } finally {
    tf.dispose([x, x3]);
    disposeModule(layer);
  }
});

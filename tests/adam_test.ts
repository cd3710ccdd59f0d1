import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { adam, ADAM_EPSILON, FlatAdam, type NamedTensor } from "../lib/runner/adam.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

const SHAPES = [[3, 4], [4], [2, 2, 2]];

/** Variables with the same initial values, one set per optimizer. */
function makeVars(tag: string): tf.Variable[] {
  const rng = new Rng("adam-vars");
  return SHAPES.map((s, i) =>
    tf.variable(tf.tensor(rng.normals(s.reduce((a, b) => a * b)), s), true, `${tag}${i}`)
  );
}

/** Step `k`'s gradients for `vars` (the same values whatever the variables' names). */
function gradsFor(vars: tf.Variable[], k: number): NamedTensor[] {
  const rng = new Rng(`adam-grads:${k}`);
  return vars.map((v) => ({ name: v.name, tensor: tf.tensor(rng.normals(v.size, 1 + k), v.shape) }));
}

function step(opt: tf.Optimizer, vars: tf.Variable[], k: number): void {
  tf.tidy(() => opt.applyGradients(gradsFor(vars, k)));
}

function assertSameValues(a: tf.Tensor[], b: tf.Tensor[], what: string): void {
  a.forEach((t, i) =>
    assert.deepEqual(Array.from(t.dataSync()), Array.from(b[i].dataSync()), `${what} ${i}`)
  );
}

Deno.test("FlatAdam updates variables exactly as tf.train.adam", () => {
  const ref = makeVars("ref"), ours = makeVars("flat");
  const refOpt = tf.train.adam(0.05, 0.9, 0.999, ADAM_EPSILON), flat = adam(0.05);
  assert.equal(flat.getClassName(), "Adam", "checkpoints name the optimizer class");
  for (let k = 0; k < 6; k++) {
    step(refOpt, ref, k);
    const before = tf.memory().numTensors;
    step(flat, ours, k);
    if (k > 0) assert.equal(tf.memory().numTensors, before, `step ${k} leaks tensors`);
  }
  assertSameValues(ours, ref, "variable");
  tf.dispose([...ref, ...ours]);
  refOpt.dispose();
  flat.dispose();
});

Deno.test("FlatAdam's state round-trips through tfjs Adam's getWeights/setWeights format, both ways", async (t) => {
  for (const [from, to] of [["tfjs", "flat"], ["flat", "tfjs"]] as const) {
    await t.step(`${from} -> ${to}`, async () => {
      const make = (
        kind: string,
      ) => (kind === "flat" ? adam(0.05) : tf.train.adam(0.05, 0.9, 0.999, ADAM_EPSILON));
      const a = makeVars(`${from}a`), b = makeVars(`${from}b`);
      const optA = make(from), optB = make(to);
      for (let k = 0; k < 3; k++) step(optA, a, k);
      // Continue from A's state with B (weights renamed to B's variables), and A itself, for 2 more steps.
      b.forEach((v, i) => v.assign(a[i]));
      const saved = await optA.getWeights();
      const rename = (name: string) => name.replace(`${from}a`, `${from}b`);
      await optB.setWeights(saved.map((w) => ({ name: rename(w.name), tensor: w.tensor.clone() })));
      const got = await optB.getWeights();
      assert.deepEqual(got.map((w) => w.name), saved.map((w) => rename(w.name)));
      assertSameValues(got.map((w) => w.tensor), saved.map((w) => w.tensor), "optimizer weight");
      for (const k of [3, 4]) {
        step(optA, a, k);
        step(optB, b, k);
      }
      // setWeights recomputes b^t with pow(): the last digits may differ from the running product.
      a.forEach((v, i) => {
        const d = tf.tidy(() => tf.max(tf.abs(tf.sub(v, b[i]))).dataSync()[0]);
        assert.ok(d < 1e-6, `variable ${i} differs by ${d}`);
      });
      tf.dispose([...a, ...b]);
      optA.dispose();
      optB.dispose();
    });
  }
});

Deno.test("FlatAdam refuses a step whose variables differ from the first step's, naming them and their sizes", () => {
  const vars = makeVars("chk");
  const opt = new FlatAdam(0.1, 0.9, 0.999);
  step(opt, vars, 0);
  assert.throws(
    () => step(opt, vars.slice(1), 1),
    /sizes \[chk1: 4, chk2: 8\], the optimizer state holds \[chk0: 12, chk1: 4, chk2: 8\]/,
  );
  assert.throws(() => step(opt, [...vars].reverse(), 1), /order must not change/);
  tf.dispose(vars);
  opt.dispose();
});

Deno.test("adam() uses PyTorch's epsilon 1e-8: a first step on a gradient of 1e-8 moves by lr / 2", () => {
  // Step 1: m_hat = g, v_hat = g^2, so the step is lr g / (|g| + eps): lr / 2 at eps = |g| = 1e-8, and
  // lr / 11 at tfjs's default 1e-7.
  assert.equal(ADAM_EPSILON, 1e-8);
  const x = tf.variable(tf.scalar(1), true, "eps_probe");
  const opt = adam(0.1);
  opt.applyGradients([{ name: "eps_probe", tensor: tf.scalar(1e-8) }]);
  const moved = 1 - x.dataSync()[0];
  assert.ok(Math.abs(moved - 0.05) < 1e-6, `moved ${moved}, expected 0.05`);
  opt.dispose();
  x.dispose();
});

import assert from "node:assert/strict";
import { emissionLogProbs, gmmHmmLogProb, randomGmmHmm, sampleGmmHmm } from "../lib/data/hmm.ts";
import { Rng } from "../lib/rng.ts";

/** log p(x) by summing p(x, path) over every state path (S^T terms), in plain probabilities. */
function bruteForce(hmm: ReturnType<typeof randomGmmHmm>, x: Float32Array): number {
  const s = hmm.numStates, d = hmm.frameDim, steps = x.length / d;
  const b = Array.from({ length: steps }, (_, t) => Array.from(emissionLogProbs(hmm, x, t * d), Math.exp));
  let total = 0;
  for (let code = 0; code < s ** steps; code++) {
    const path = Array.from({ length: steps }, (_, t) => Math.floor(code / s ** t) % s);
    let p = hmm.initial[path[0]] * b[0][path[0]];
    for (let t = 1; t < steps; t++) p *= hmm.transition[path[t - 1] * s + path[t]] * b[t][path[t]];
    total += p;
  }
  return Math.log(total);
}

Deno.test("gmmHmmLogProb() equals the sum over all state paths", () => {
  const hmm = randomGmmHmm({ numStates: 3, numMix: 2, frameDim: 2, meanScale: 1 }, new Rng(1));
  const rng = new Rng(2);
  for (const len of [1, 2, 5]) {
    const { x } = sampleGmmHmm(hmm, len, rng);
    const got = gmmHmmLogProb(hmm, x), want = bruteForce(hmm, x);
    assert.ok(
      Math.abs(got - want) < 1e-9 * (1 + Math.abs(want)),
      `T=${len}: forward ${got}, brute force ${want}`,
    );
  }
});

Deno.test("a one-state HMM is its Gaussian mixture, frames independent", () => {
  const hmm = randomGmmHmm({ numStates: 1, numMix: 3, frameDim: 2 }, new Rng(3));
  const { x } = sampleGmmHmm(hmm, 4, new Rng(4));
  let sum = 0;
  for (let t = 0; t < 4; t++) sum += emissionLogProbs(hmm, x, t * 2)[0];
  assert.ok(Math.abs(gmmHmmLogProb(hmm, x) - sum) < 1e-9);
});

Deno.test("randomGmmHmm() gives stochastic parameters and positive stds; classes differ by seed", () => {
  const a = randomGmmHmm({ numStates: 4, numMix: 2, frameDim: 3, selfLoop: 0.8 }, new Rng(5));
  const sum = (v: Float64Array) => v.reduce((s, e) => s + e, 0);
  assert.ok(Math.abs(sum(a.initial) - 1) < 1e-12);
  for (let r = 0; r < 4; r++) {
    assert.ok(Math.abs(sum(a.transition.subarray(r * 4, r * 4 + 4)) - 1) < 1e-12);
    assert.ok(a.transition[r * 4 + r] >= 0.8);
    assert.ok(Math.abs(sum(a.weights.subarray(r * 2, r * 2 + 2)) - 1) < 1e-12);
  }
  assert.ok(a.stds.every((v) => v >= 0.3 && v <= 1));
  const b = randomGmmHmm({ numStates: 4, numMix: 2, frameDim: 3 }, new Rng(6));
  assert.notDeepEqual(a.means, b.means);
  assert.throws(
    () => randomGmmHmm({ numStates: 0, numMix: 1, frameDim: 1 }, new Rng(0)),
    /num_states.*got 0/,
  );
});

Deno.test("sampleGmmHmm() follows the transition matrix", () => {
  const hmm = randomGmmHmm({ numStates: 2, numMix: 1, frameDim: 1, selfLoop: 0.6 }, new Rng(7));
  const { states } = sampleGmmHmm(hmm, 20000, new Rng(8));
  const counts = [[0, 0], [0, 0]];
  for (let t = 1; t < states.length; t++) counts[states[t - 1]][states[t]]++;
  for (let r = 0; r < 2; r++) {
    const stay = counts[r][r] / (counts[r][0] + counts[r][1]);
    assert.ok(
      Math.abs(stay - hmm.transition[r * 2 + r]) < 0.03,
      `state ${r}: ${stay} vs ${hmm.transition[r * 2 + r]}`,
    );
  }
});

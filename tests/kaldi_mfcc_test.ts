import assert from "node:assert/strict";
import {
  applyCmn,
  KALDI_MFCC_DEFAULTS,
  kaldiDeltas,
  kaldiFeatures,
  kaldiMfcc,
  type KaldiMfccConfig,
} from "../lib/data/timit/kaldi_mfcc.ts";
import { Rng } from "../lib/rng.ts";

/** Golden values from tests/fixtures/kaldi/make_golden.py (torchaudio, float64); see its docstring. */
interface Golden {
  samples: number[];
  mfcc: number[][];
  deltas: number[][];
  dd_edges: number[][];
  cmn_means: number[];
}

const NO_DITHER: KaldiMfccConfig = { ...KALDI_MFCC_DEFAULTS, dither: 0 };
const SPEECH = ["speech_mama0_sa1", "speech_fgyv0_sx13"];
const FIXTURES = [...SPEECH, "chirp"];

/** Reads a fixture; its matrices are stored as one string of space-separated numbers per row. */
async function golden(name: string): Promise<Golden> {
  const raw = JSON.parse(await Deno.readTextFile(new URL(`./fixtures/kaldi/${name}.json`, import.meta.url)));
  const row = (s: string) => s.split(" ").map(Number);
  return {
    samples: raw.samples.flatMap(row),
    mfcc: raw.mfcc.map(row),
    deltas: raw.deltas.map(row),
    dd_edges: raw.dd_edges.map(row),
    cmn_means: row(raw.cmn_means),
  };
}

/** Kaldi's 39 (x, d, dd with Kaldi's clamped edges) per frame, from the golden file. */
function kaldi39(g: Golden): number[][] {
  const T = g.deltas.length;
  return g.deltas.map((row, t) => {
    const e = t < 4 ? t : t >= T - 4 ? t - (T - 8) : -1;
    return e < 0 ? row : [...row.slice(0, 26), ...g.dd_edges[e]];
  });
}

/**
 * Tolerances, from the worst errors measured on the three fixtures (float64 golden values). They are all
 * float32 rounding of the outputs (half an ulp of |c0| ~ 64..128 is 3.8e-6, the measured c0 error; the
 * float64 values before it agree with the golden ones to 5e-9, their rounding to 10 digits), so each
 * bound is about 2.5-4x the measured worst:
 *   block  measured abs  tol abs   measured abs / sd  tol / sd
 *   mfcc   3.8e-6        1e-5      4.9e-7             2e-6
 *   d      2.4e-6        6e-6      2.6e-6             1e-5
 *   dd     8.4e-7        2.5e-6    3.5e-6             1e-5    (chirp c0: its dd has a small sd)
 *   cmn    7.3e-6        2e-5      3.3e-6             1e-5
 */
const TOL = {
  mfcc: { abs: 1e-5, rel: 2e-6 },
  d: { abs: 6e-6, rel: 1e-5 },
  dd: { abs: 2.5e-6, rel: 1e-5 },
  cmn: { abs: 2e-5, rel: 1e-5 },
};

/**
 * Asserts, per coefficient c in `cols` over frames [t0, t1), the largest |got - want| against `tol.abs`
 * and against `tol.rel` times the coefficient's standard deviation over those frames.
 */
function assertClose(
  what: string,
  got: Float32Array,
  D: number,
  want: number[][],
  cols: [number, number],
  frames: [number, number],
  tol: { abs: number; rel: number },
): void {
  const [t0, t1] = frames;
  for (let c = cols[0]; c < cols[1]; c++) {
    let mean = 0, sq = 0, worst = 0, at = t0;
    for (let t = t0; t < t1; t++) mean += want[t][c] / (t1 - t0);
    for (let t = t0; t < t1; t++) {
      sq += (want[t][c] - mean) ** 2;
      const e = Math.abs(got[t * D + c] - want[t][c]);
      if (e > worst) [worst, at] = [e, t];
    }
    const sd = Math.sqrt(sq / (t1 - t0));
    const where = `${what}: coefficient ${c}, frame ${at}: got ${got[at * D + c]}, want ${want[at][c]}`;
    assert.ok(worst <= tol.abs, `${where}, error ${worst} > ${tol.abs}`);
    assert.ok(worst <= tol.rel * sd, `${where}, error ${worst} > ${tol.rel} x sd ${sd}`);
  }
}

const LABELS: Record<string, string> = {
  speech_mama0_sa1: "stand-in speech (male)",
  speech_fgyv0_sx13: "stand-in speech (female)",
  chirp: "a chirp",
};

for (const name of FIXTURES) {
  Deno.test(`kaldiMfcc() matches torchaudio.compliance.kaldi.mfcc on ${LABELS[name]}`, async () => {
    const g = await golden(name);
    const { ceps, numFrames } = kaldiMfcc(g.samples, NO_DITHER);
    assert.equal(numFrames, g.mfcc.length);
    assertClose(name, ceps, 13, g.mfcc, [0, 13], [0, numFrames], TOL.mfcc);
  });
}

Deno.test("kaldiDeltas() matches torchaudio compute_deltas: order 1 everywhere, order 2 inside", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, async () => {
      const g = await golden(name);
      const T = g.mfcc.length;
      const x = Float32Array.from(g.mfcc.flat());
      const out = kaldiDeltas(x, T, 13, 2, 2);
      assert.equal(out.length, T * 39);
      assertClose(`${name} d`, out, 39, g.deltas, [13, 26], [0, T], TOL.d);
      assertClose(`${name} dd`, out, 39, g.deltas, [26, 39], [4, T - 4], TOL.dd);
      // Kaldi's clamped edges, from compute_deltas on replicate-padded frames (make_golden.py).
      assertClose(`${name} dd edges`, out, 39, kaldi39(g), [26, 39], [0, T], TOL.dd);
    });
  }
});

Deno.test("kaldiDeltas() clamps the raw frames at the edges for every order (hand-checked)", () => {
  // x_t = t^2, T = 10. s1 = [-2,-1,0,1,2]/10, s2 = [4,4,1,-4,-10,-4,1,4,4]/100 (s1 convolved with s1).
  // Inside: d_t = 2t, dd_t = 2. Frame 0: d = (1 + 2*4)/10 = 0.9; dd = (-4*1 + 1*4 + 4*9 + 4*16)/100 = 1
  // (a delta of the delta would give (-3*0.9 + 2.2 + 2*4)/10 = 0.75). Frame 9: d = (-2*49 - 64 + 3*81)/10
  // = 8.1; dd = (4*25 + 4*36 + 49 - 4*64 - 10*81 + (-4 + 1 + 4 + 4)*81)/100 = -3.68.
  const T = 10, x = Float32Array.from({ length: T }, (_, t) => t * t);
  const out = kaldiDeltas(x, T, 1, 2, 2);
  const at = (t: number, order: number) => out[t * 3 + order];
  for (let t = 0; t < T; t++) assert.equal(at(t, 0), t * t);
  for (let t = 2; t < T - 2; t++) assert.ok(Math.abs(at(t, 1) - 2 * t) < 1e-5, `d at ${t}: ${at(t, 1)}`);
  for (let t = 4; t < T - 4; t++) assert.ok(Math.abs(at(t, 2) - 2) < 1e-5, `dd at ${t}: ${at(t, 2)}`);
  for (const [t, order, want] of [[0, 1, 0.9], [0, 2, 1], [9, 1, 8.1], [9, 2, -3.68]]) {
    assert.ok(
      Math.abs(at(t, order) - want) < 1e-5,
      `order ${order} at frame ${t}: ${at(t, order)} vs ${want}`,
    );
  }
  assert.equal(kaldiDeltas(x, T, 1, 2, 0).length, T, "order 0 is the input");
});

Deno.test("kaldiFeatures() matches Kaldi's add-deltas + apply-cmvn (means) built from torchaudio", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, async () => {
      const g = await golden(name);
      const want = kaldi39(g).map((row) => row.map((v, c) => v - g.cmn_means[c]));
      const f = kaldiFeatures(g.samples, NO_DITHER);
      assert.equal(f.frameDim, 39);
      assert.equal(f.numFrames, g.mfcc.length);
      assertClose(name, f.frames, 39, want, [0, 39], [0, f.numFrames], TOL.cmn);
    });
  }
});

Deno.test("applyCmn() subtracts each dimension's mean over the utterance", () => {
  const x = Float32Array.of(1, 10, 2, 20, 6, 60); // T = 3, D = 2: means 3 and 30
  assert.deepEqual(Array.from(applyCmn(x, 3, 2)), [-2, -20, -1, -10, 3, 30]);
  assert.throws(() => applyCmn(x, 2, 2), /x has 6 values, expected T\*D = 4/);
});

Deno.test("kaldiMfcc() counts frames as Kaldi's snip-edges: 1 + floor((N - 400) / 160)", async () => {
  for (const [n, T] of [[0, 0], [399, 0], [400, 1], [559, 1], [560, 2], [16000, 98]]) {
    assert.equal(kaldiMfcc(new Float64Array(n), NO_DITHER).numFrames, T, `${n} samples`);
    assert.equal(kaldiFeatures(new Float64Array(n), NO_DITHER).frames.length, T * 39, `${n} samples`);
  }
  const chirp = await golden("chirp");
  assert.equal(kaldiMfcc(chirp.samples, NO_DITHER).numFrames, 78); // 12800 samples
});

Deno.test("kaldiMfcc() dithers deterministically from its seed", async (t) => {
  const g = await golden(SPEECH[0]);
  const cfg: KaldiMfccConfig = { ...KALDI_MFCC_DEFAULTS, dither: 1 };
  await t.step("dither 0 is deterministic, needs no seed and equals the golden values", () => {
    const a = kaldiFeatures(g.samples, NO_DITHER).frames, b = kaldiFeatures(g.samples, NO_DITHER).frames;
    assert.deepEqual(a, b);
    assertClose("dither 0", kaldiMfcc(g.samples, NO_DITHER).ceps, 13, g.mfcc, [0, 13], [0, 98], TOL.mfcc);
  });
  await t.step("the same seed gives identical features, another seed different ones", () => {
    const a = kaldiFeatures(g.samples, cfg, "0:dither:MAMA0_SA1").frames;
    assert.deepEqual(kaldiFeatures(g.samples, cfg, "0:dither:MAMA0_SA1").frames, a);
    const b = kaldiFeatures(g.samples, cfg, "0:dither:FGYV0_SX13").frames;
    assert.notDeepEqual(b, a);
    assert.notDeepEqual(kaldiFeatures(g.samples, NO_DITHER).frames, a);
  });
  await t.step("dither * N(0, 1) is drawn afresh for every frame, sample by sample", () => {
    // Overlapping frames get independent noise (Kaldi dithers each frame's copy), so frame t equals the
    // undithered MFCC of its 400 samples plus draws t*400 .. t*400 + 399 of the seed's stream.
    const c: KaldiMfccConfig = { ...cfg, dither: 2.5 };
    const { ceps, numFrames } = kaldiMfcc(g.samples, c, "seed");
    const rng = new Rng("seed");
    for (let t = 0; t < numFrames; t++) {
      const x = Float64Array.from({ length: 400 }, (_, n) => g.samples[t * 160 + n] + 2.5 * rng.normal());
      assert.deepEqual(kaldiMfcc(x, NO_DITHER).ceps, ceps.subarray(t * 13, (t + 1) * 13), `frame ${t}`);
    }
  });
  await t.step("a dither without a seed is refused", () => {
    assert.throws(() => kaldiMfcc(g.samples, cfg), /dither = 1 needs a ditherSeed/);
  });
});

Deno.test("kaldiMfcc() floors digital silence at log(FLT_EPSILON) like Kaldi and stays finite", () => {
  const { ceps, numFrames } = kaldiMfcc(new Int16Array(2000), NO_DITHER);
  // Every log mel energy is ln 2^-23; the orthonormal DCT of a constant row is sqrt(23) times it in c0.
  const c0 = Math.sqrt(23) * Math.log(2 ** -23);
  for (let t = 0; t < numFrames; t++) {
    assert.ok(Math.abs(ceps[t * 13] - c0) < 1e-5, `c0 at frame ${t}: ${ceps[t * 13]} vs ${c0}`);
    for (let i = 1; i < 13; i++) assert.ok(Math.abs(ceps[t * 13 + i]) < 1e-5, `c${i}: ${ceps[t * 13 + i]}`);
  }
  assert.ok(kaldiFeatures(new Int16Array(2000), NO_DITHER).frames.every(Number.isFinite));
});

Deno.test("kaldiMfcc() refuses a bad config, naming the field and the value", () => {
  const cases: [Partial<Record<keyof KaldiMfccConfig, unknown>>, RegExp][] = [
    [{ numCeps: 30 }, /numCeps = 30: need an integer 1\.\.numMelBins \(23\)/],
    [{ highFreq: 9000 }, /highFreq = 9000/],
    [{ lowFreq: -1 }, /lowFreq = -1/],
    [{ dither: -1 }, /dither = -1/],
    [{ windowType: "hamming" }, /windowType = "hamming": need "povey"/],
    [{ snipEdges: false }, /snipEdges = false/],
    [{ roundToPowerOfTwo: false }, /roundToPowerOfTwo = false: need true/],
    [{ deltaOrder: 1.5 }, /deltaOrder = 1\.5/],
    [{ numMelBins: 200 }, /numMelBins = 200: need fewer bins: bin \d+ is empty/],
  ];
  for (const [patch, re] of cases) {
    const cfg = { ...NO_DITHER, ...patch } as KaldiMfccConfig;
    assert.throws(() => kaldiFeatures(new Float64Array(800), cfg), re, JSON.stringify(patch));
  }
});

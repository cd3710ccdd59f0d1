import assert from "node:assert/strict";
import {
  analyseFrames,
  DEFAULT_MFCC,
  deltas,
  frameCount,
  melFilterbank,
  mfcc,
  type MfccConfig,
} from "../lib/data/timit/mfcc.ts";
import type { Interval } from "../lib/data/timit/phn.ts";
import { phoneSegments } from "../lib/data/timit/segments.ts";

const SR = 16000;
const M = DEFAULT_MFCC.numFilters; // 26

function sine(n: number, hz: number, amp: number, phase = 0): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / SR + phase));
}

/** Centre frequency (Hz) of filter j (1-based), from HTK's mel scale written out here, not imported. */
function centreHz(j: number): number {
  const melMax = 1127 * Math.log(1 + 8000 / 700);
  const mel = (j * melMax) / (M + 1);
  return 700 * (Math.exp(mel / 1127) - 1);
}

Deno.test("frameCount() fits whole 25 ms windows every 10 ms", () => {
  assert.equal(frameCount(399, DEFAULT_MFCC), 0);
  assert.equal(frameCount(400, DEFAULT_MFCC), 1);
  assert.equal(frameCount(559, DEFAULT_MFCC), 1);
  assert.equal(frameCount(560, DEFAULT_MFCC), 2);
  assert.equal(frameCount(16000, DEFAULT_MFCC), 98); // floor((16000 - 400) / 160) + 1
});

Deno.test("a pure tone at a filter's centre gives that filter the largest mel energy", () => {
  for (const j of [3, 10, 18, 24]) {
    const a = analyseFrames(sine(4000, centreHz(j), 3000), DEFAULT_MFCC);
    for (let t = 0; t < a.numFrames; t++) {
      const row = Array.from(a.logMel.subarray(t * M, (t + 1) * M));
      assert.equal(row.indexOf(Math.max(...row)) + 1, j, `frame ${t}, tone at filter ${j}`);
    }
  }
});

Deno.test("log energy of a sine is ln(N A^2 / 2), in every layout that carries it", async (t) => {
  // 1 kHz at 16 kHz has period 16 samples: a 400-sample window holds 25 whole periods and every hop
  // (160 samples) starts on a whole period, so sum_n A^2 sin^2(.) = N A^2 / 2 exactly in every frame.
  const A = 1234;
  const want = Math.log((400 * A * A) / 2);
  const x = sine(2000, 1000, A, 0.7);
  await t.step("analyseFrames().logEnergy", () => {
    const a = analyseFrames(x);
    for (const v of a.logEnergy) assert.ok(Math.abs(v - want) < 1e-4, `${v} vs ${want}`);
  });
  await t.step("13th static with energy log_energy; 40th value with frameDim 40", () => {
    const f39 = mfcc(x, { ...DEFAULT_MFCC, energy: "log_energy" });
    const f40 = mfcc(x, { ...DEFAULT_MFCC, frameDim: 40 });
    for (let t = 0; t < f39.numFrames; t++) {
      assert.ok(Math.abs(f39.frames[t * 39 + 12] - want) < 1e-4);
      assert.ok(Math.abs(f40.frames[t * 40 + 39] - want) < 1e-4);
      // A stationary signal: every delta and delta-delta is zero.
      for (let d = 13; d < 39; d++) assert.ok(Math.abs(f39.frames[t * 39 + d]) < 1e-3);
    }
  });
  await t.step("silence hits the floors: log energy and every log mel energy are ln(1) = 0", () => {
    const a = analyseFrames(new Float64Array(800));
    assert.ok(
      a.logEnergy.every((v) => v === 0) && a.logMel.every((v) => v === 0) && a.ceps.every((v) => v === 0),
    );
  });
});

Deno.test("MFCCs of one frame match a direct O(N^2) DFT and the HTK formulas written out here", () => {
  // A fixed 400-sample frame: two tones plus deterministic pseudo-noise (a linear congruential generator).
  let s = 12345;
  const x = Float64Array.from({ length: 400 }, (_, n) => {
    s = (1103515245 * s + 12345) % 2147483648;
    return 3000 * Math.sin((2 * Math.PI * 440 * n) / SR) +
      1500 * Math.sin((2 * Math.PI * 2500 * n) / SR + 0.3) +
      200 * (s / 2147483648 - 0.5);
  });
  // HTK pre-emphasis (first sample scaled by 1 - k) and Hamming window.
  const y = x.map((v, n) =>
    (n === 0 ? (1 - 0.97) * v : v - 0.97 * x[n - 1]) * (0.54 - 0.46 * Math.cos((2 * Math.PI * n) / 399))
  );
  // Power spectrum of the frame zero-padded to 512, bins 0..256, by the definition of the DFT.
  const power = Array.from({ length: 257 }, (_, k) => {
    let re = 0, im = 0;
    for (let n = 0; n < 400; n++) {
      re += y[n] * Math.cos((2 * Math.PI * k * n) / 512);
      im -= y[n] * Math.sin((2 * Math.PI * k * n) / 512);
    }
    return re * re + im * im;
  });
  // Triangles on the mel scale: edges equally spaced in mel from 0 to mel(8000), M + 2 of them.
  const mel = (f: number) => 1127 * Math.log(1 + f / 700);
  const edges = Array.from({ length: M + 2 }, (_, i) => (i * mel(8000)) / (M + 1));
  const logMel = Array.from({ length: M }, (_, j) => {
    let e = 0;
    for (let k = 0; k <= 256; k++) {
      const m = mel((k * SR) / 512);
      const w = Math.max(
        0,
        Math.min(
          (m - edges[j]) / (edges[j + 1] - edges[j]),
          (edges[j + 2] - m) / (edges[j + 2] - edges[j + 1]),
        ),
      );
      e += w * power[k];
    }
    return Math.log(Math.max(e, 1));
  });
  const ceps = Array.from(
    { length: 13 },
    (_, i) =>
      Math.sqrt(2 / M) * logMel.reduce((acc, v, j) => acc + v * Math.cos((Math.PI * i * (j + 0.5)) / M), 0),
  );

  const a = analyseFrames(x);
  assert.equal(a.numFrames, 1);
  // Values are O(10); float32 storage keeps ~7 digits, so 1e-3 absolute is a float32-level agreement.
  for (let j = 0; j < M; j++) {
    assert.ok(Math.abs(a.logMel[j] - logMel[j]) < 1e-3, `logMel[${j}] ${a.logMel[j]} vs ${logMel[j]}`);
  }
  for (let i = 0; i < 13; i++) {
    assert.ok(Math.abs(a.ceps[i] - ceps[i]) < 1e-3, `c${i} ${a.ceps[i]} vs ${ceps[i]}`);
  }
  // c0 is sqrt(2/M) times the sum of the log mel energies (the DCT's first row is constant).
  assert.ok(Math.abs(a.ceps[0] - Math.sqrt(2 / M) * logMel.reduce((p, q) => p + q)) < 1e-3);
  // HTK layout: statics [c1..c12, c0].
  const f = mfcc(x);
  for (let i = 1; i < 13; i++) assert.ok(Math.abs(f.frames[i - 1] - ceps[i]) < 1e-3);
  assert.ok(Math.abs(f.frames[12] - ceps[0]) < 1e-3);
});

Deno.test("melFilterbank() triangles peak at 1 on their centre bins and stay within the band", () => {
  const bank = melFilterbank(DEFAULT_MFCC);
  assert.equal(bank.length, M);
  for (const row of bank) {
    assert.equal(row.length, 257);
    assert.ok(Math.max(...row) <= 1 && Math.max(...row) > 0.5);
    assert.equal(row[0], 0);
    assert.equal(row[256], 0);
  }
});

Deno.test("deltas() of a linear ramp are its slope away from the ends, HTK edge values at the ends", () => {
  const T = 10, D = 2, slope = [0.5, -3];
  const x = Float32Array.from({ length: T * D }, (_, q) => slope[q % D] * Math.floor(q / D) + 7);
  const d = deltas(x, T, D, 2);
  for (let k = 0; k < D; k++) {
    for (let t = 2; t < T - 2; t++) assert.ok(Math.abs(d[t * D + k] - slope[k]) < 1e-6);
    // Ends repeat the first/last frame: d_0 = (1*(x1-x0) + 2*(x2-x0)) / 10 = 0.5 a, d_1 = (2a + 2*3a)/10 = 0.8 a.
    assert.ok(Math.abs(d[k] - 0.5 * slope[k]) < 1e-6);
    assert.ok(Math.abs(d[D + k] - 0.8 * slope[k]) < 1e-6);
    assert.ok(Math.abs(d[(T - 1) * D + k] - 0.5 * slope[k]) < 1e-6);
  }
  // Delta-deltas vanish where the deltas are constant over the whole +-2 window (t = 4, 5).
  const dd = deltas(d, T, D, 2);
  for (const t of [4, 5]) for (let k = 0; k < D; k++) assert.ok(Math.abs(dd[t * D + k]) < 1e-6);
  assert.throws(() => deltas(x, T + 1, D, 2), /expected T\*D/);
});

Deno.test("mfcc() refuses inconsistent configs naming the field", () => {
  const bad: [Partial<MfccConfig>, RegExp][] = [
    [{ fftSize: 256 }, /fftSize = 256/],
    [{ frameDim: 41 }, /frameDim = 41/],
    [{ frameDim: 40, energy: "log_energy" }, /energy = log_energy/],
    [{ highHz: 9000 }, /highHz = 9000/],
  ];
  for (const [cfg, re] of bad) {
    assert.throws(() => mfcc(new Float64Array(800), { ...DEFAULT_MFCC, ...cfg }), re);
  }
});

Deno.test("phoneSegments() gives each phone the frames whose centres fall inside it", async (t) => {
  // win 400, hop 160: frame t has its centre at 160 t + 200 (200, 360, 520, 680, 840, ...).
  const ph = (begin: number, end: number, label: string, line = 1): Interval => ({ begin, end, label, line });
  await t.step("hand-worked example", () => {
    const segs = phoneSegments(
      [ph(0, 300, "h#"), ph(300, 700, "ao"), ph(700, 710, "t"), ph(710, 800, "q"), ph(800, 5000, "ix")],
      5,
      400,
      160,
    );
    assert.deepEqual(segs.map((s) => [s.label, s.folded, s.start, s.length]), [
      ["h#", "sil", 0, 1], // centre 200
      ["ao", "aa", 1, 3], // centres 360, 520, 680
      // t [700, 710) holds no centre; q is dropped
      ["ix", "ih", 4, 1], // centre 840; frames past numFrames = 5 are cut
    ]);
  });
  await t.step("agrees with a brute-force check of every centre", () => {
    let s = 7;
    const rnd = () => (s = (s * 48271) % 2147483647) / 2147483647;
    const bounds = [0];
    while (bounds[bounds.length - 1] < 20000) {
      bounds.push(bounds[bounds.length - 1] + 1 + Math.floor(rnd() * 600));
    }
    const phones = bounds.slice(1).map((e, i) => ph(bounds[i], e, "aa"));
    const T = frameCount(20000, DEFAULT_MFCC);
    const segs = phoneSegments(phones, T, 400, 160);
    const expected: { start: number; length: number }[] = [];
    for (const p of phones) {
      const owned: number[] = [];
      for (let f = 0; f < T; f++) if (p.begin <= 160 * f + 200 && 160 * f + 200 < p.end) owned.push(f);
      if (owned.length > 0) expected.push({ start: owned[0], length: owned.length });
    }
    assert.ok(expected.length > 20);
    assert.deepEqual(segs.map((x) => ({ start: x.start, length: x.length })), expected);
  });
});

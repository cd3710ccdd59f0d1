/**
 * The synthesiser's 61 TIMIT phones: every label has a spec and renders, and measurable acoustic properties
 * hold (formant movement, voicing, frication place, F3 lowering, nasal murmurs, closures, bursts, flaps).
 *
 * Every measurement renders with the reference male voice (tract scale 1, the specs' own frequencies) and
 * little background noise (5 in 16-bit units), so the spectra are the synthesiser's own, and averages over
 * SEEDS generators. Phones compared with each other are rendered in ONE utterance, because each utterance
 * draws its own channel tilt (up to +-0.5 of a first-order filter), which shifts spectral centroids by
 * several hundred Hz between utterances. Each threshold leaves about half of the measured gap as margin, or
 * more where the gap is orders of magnitude (measured values in comments, from when these tests were
 * written); `SYNTH_DEBUG=1` prints the measurements.
 */
import assert from "node:assert/strict";
import FFT from "fft.js";
import { PHONES_61 } from "../lib/data/timit/phones.ts";
import { renderUtterance, type Voice } from "../lib/data/timit/synth.ts";
import { PHONE_SPECS, phoneSpec, TIMIT_PHONE_SPECS } from "../lib/data/timit/synth_phones.ts";
import { Rng } from "../lib/rng.ts";

const SR = 16000;
const SEEDS = 4;
const VOICE: Voice = { f0: 120, tractScale: 1, breathiness: 0.1, rate: 1, noise: 5, shifts: {} };
const DEBUG = Deno.env.get("SYNTH_DEBUG") === "1";
const show = (what: string, v: unknown) => DEBUG && console.log(what, v);

/** A phone's test length in ms: the middle of its range (diphthongs 200 ms, so thirds hold 4 LPC frames). */
function lengthMs(label: string): number {
  const s = phoneSpec(label);
  return s.formantsEnd ? 200 : Math.max(30, (s.durationMs[0] + s.durationMs[1]) / 2);
}

const cache = new Map<string, Float64Array[]>();
/** Renders `labels` (lengths in ms from {@link lengthMs} unless in `ms`) and returns each phone's samples. */
function render(labels: readonly string[], seed: number, ms: Record<string, number> = {}): Float64Array[] {
  const key = `${labels.join(" ")}|${seed}|${JSON.stringify(ms)}`;
  if (!cache.has(key)) {
    const tokens = labels.map((label) => ({ label, samples: Math.round(ms[label] ?? lengthMs(label)) * 16 }));
    const pcm = renderUtterance(tokens, VOICE, new Rng(`synth_phones_test-${seed}`));
    let at = 0;
    cache.set(key, tokens.map((t) => Float64Array.from(pcm.subarray(at, at += t.samples))));
  }
  return cache.get(key)!;
}

/** The part of `x` between fractions `a` and `b` of its length. */
const part = (x: Float64Array, a: number, b: number) =>
  x.subarray(Math.floor(x.length * a), Math.ceil(x.length * b));
const powerDb = (x: Float64Array) => 10 * Math.log10(x.reduce((s, v) => s + v * v, 0) / x.length + 1e-9);
const mean = (xs: readonly number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
/** The mean over SEEDS of `f(seed)`. */
const overSeeds = (f: (seed: number) => number) => mean(Array.from({ length: SEEDS }, (_, s) => f(s)));

const N = 512;
const fft = new FFT(N);
const hann = Float64Array.from({ length: N }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N));

/** Power spectrum (bins k * SR / N) averaged over Hann frames of `x`, hop N/4; a short `x` is zero-padded. */
function spectrum(x: Float64Array): Float64Array {
  const acc = new Float64Array(N / 2 + 1), frame = new Float64Array(N);
  const out = fft.createComplexArray() as number[];
  let frames = 0;
  for (let s = 0; frames === 0 || s + N <= x.length; s += N / 4, frames++) {
    for (let i = 0; i < N; i++) frame[i] = (x[s + i] ?? 0) * hann[i];
    fft.realTransform(out, frame);
    for (let k = 0; k <= N / 2; k++) acc[k] += out[2 * k] ** 2 + out[2 * k + 1] ** 2;
  }
  return acc;
}
/** Energy of `p` in [lo, hi) Hz. */
function band(p: Float64Array, lo: number, hi: number): number {
  let e = 0;
  for (let k = 0; k < p.length; k++) if ((k * SR) / N >= lo && (k * SR) / N < hi) e += p[k];
  return e;
}
/** Spectral centroid of `p` within [lo, hi) Hz. */
function centroid(p: Float64Array, lo = 0, hi = SR / 2): number {
  let e = 0, m = 0;
  for (let k = 0; k < p.length; k++) {
    const f = (k * SR) / N;
    if (f >= lo && f < hi) [e, m] = [e + p[k], m + p[k] * f];
  }
  return m / e;
}
const lowFraction = (x: Float64Array) => band(spectrum(x), 0, 500) / band(spectrum(x), 0, SR / 2);

/**
 * F1 and F2 of a 25 ms frame: the first two peaks above 180 Hz of its LPC envelope (order 18, autocorrelation
 * method with Levinson-Durbin, pre-emphasis 0.9, Hamming window). fft.js has no LPC and this is 25 lines.
 */
function lpcFormants(x: Float64Array, order = 18): [number, number] {
  const n = x.length, w = new Float64Array(n), r = new Float64Array(order + 1);
  for (let i = 0; i < n; i++) {
    w[i] = (x[i] - 0.9 * (i > 0 ? x[i - 1] : 0)) * (0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (n - 1)));
  }
  for (let k = 0; k <= order; k++) for (let i = k; i < n; i++) r[k] += w[i] * w[i - k];
  let a = new Float64Array(order + 1), e = r[0] * (1 + 1e-9);
  a[0] = 1;
  for (let m = 1; m <= order; m++) {
    let acc = r[m];
    for (let j = 1; j < m; j++) acc += a[j] * r[m - j];
    const k = -acc / e, b = a.slice();
    for (let j = 1; j < m; j++) b[j] = a[j] + k * a[m - j];
    b[m] = k;
    [a, e] = [b, e * (1 - k * k)];
  }
  const env = (f: number) => {
    let re = 0, im = 0;
    for (let j = 0; j <= order; j++) {
      [re, im] = [
        re + a[j] * Math.cos((2 * Math.PI * f * j) / SR),
        im - a[j] * Math.sin((2 * Math.PI * f * j) / SR),
      ];
    }
    return -Math.log(re * re + im * im);
  };
  const peaks: number[] = [];
  for (let f = 185; f < 4000; f += 5) if (env(f) > env(f - 5) && env(f) >= env(f + 5)) peaks.push(f);
  return [peaks[0] ?? NaN, peaks[1] ?? NaN];
}
/** Median F1 and F2 over the 25 ms frames (hop 5 ms) of `x`. */
function formantsOf(x: Float64Array): [number, number] {
  const f1: number[] = [], f2: number[] = [];
  for (let t = 0; t + 400 <= x.length; t += 80) {
    const [a, b] = lpcFormants(x.subarray(t, t + 400));
    f1.push(a);
    f2.push(b);
  }
  const median = (v: number[]) => v.filter(Number.isFinite).sort((p, q) => p - q)[Math.floor(v.length / 2)];
  return [median(f1), median(f2)];
}

Deno.test("phoneSpec() knows all 61 TIMIT labels; PHONE_SPECS keeps the small stand-in's 19 in order", () => {
  assert.deepEqual(Object.keys(TIMIT_PHONE_SPECS).sort(), [...PHONES_61]);
  // The small stand-in draws per-phone formant factors over PHONE_SPECS in order: changing it changes that corpus.
  assert.deepEqual(
    Object.keys(PHONE_SPECS),
    [
      "iy",
      "ih",
      "eh",
      "ae",
      "ah",
      "aa",
      "ao",
      "uw",
      "m",
      "n",
      "s",
      "sh",
      "tcl",
      "kcl",
      "t",
      "k",
      "h#",
      "pau",
      "q",
    ],
  );
  for (const label of PHONES_61) {
    const s = phoneSpec(label);
    const [lo, hi] = s.durationMs;
    assert.ok(lo > 0 && lo <= hi, `${label}: durationMs ${s.durationMs}`);
    assert.ok(!s.formantsEnd || s.formants, `${label}: formantsEnd without formants`);
    for (const f of [s.formants, s.formantsEnd]) {
      if (f) assert.ok(f[0] < f[1] && f[1] < f[2] && f[2] < 4000, `${label}: formants ${f}`);
    }
    assert.ok(s.av >= 0 && s.ah >= 0 && s.af >= 0, `${label}: negative amplitude`);
    assert.ok(s.af === 0 || s.fric, `${label}: frication without filters`);
  }
  assert.throws(() => phoneSpec("xx"), /no phone "xx". Known: .*zh/);
});

const SILENT = new Set(["h#", "pau", "epi", "pcl", "tcl", "kcl", "bcl", "dcl", "gcl"]);

Deno.test("every label renders in h# aa X aa h#: sounding phones are heard, silences and closures are quiet", () => {
  const rows: Record<string, number> = {};
  for (const label of PHONES_61) {
    const rel = overSeeds((seed) => {
      const [, v1, x, v2] = render(["h#", "aa", label, "aa", "h#"], seed);
      const [db1, db2] = [powerDb(part(v1, 0.2, 0.8)), powerDb(part(v2, 0.2, 0.8))];
      // Both vowels sound (rms > 300; a NaN would have zeroed the rest of the utterance). Their levels differ
      // by up to 10 dB with the utterance's pitch declination, so X is measured against their mean.
      assert.ok(db1 > 50 && db2 > 50, `${label}: vowels at ${db1.toFixed(1)} and ${db2.toFixed(1)} dB`);
      return powerDb(part(x, 0.25, 0.75)) - (db1 + db2) / 2;
    });
    rows[label] = Math.round(rel);
    // Measured: closures -27 (gcl) to -34 dB, h# and pau -50, epi -20; the quietest sounding phones p -24,
    // f v dh -17, s th k -18, b -19.
    if (label === "epi") {
      // 15-40 ms long: the vowels' ringing and the 2.5 ms amplitude smoothing reach into its middle.
      assert.ok(rel < -15, `epi is ${rel.toFixed(1)} dB re the vowel`);
    } else if (SILENT.has(label)) {
      assert.ok(
        rel < -20,
        `${label} is ${rel.toFixed(1)} dB re the vowel; silences and closures are below -20`,
      );
    } else {
      assert.ok(rel > -30, `${label} is ${rel.toFixed(1)} dB re the vowel; a sounding phone is above -30`);
    }
  }
  show("level re vowel (dB)", rows);
});

/**
 * Which way a diphthong's F1 and F2 go, from the phonetics (an offglide is higher than its nucleus; ɪ is
 * front, ʊ back): F1 falls in all five; F2 rises towards ɪ (ey, ay, oy) and falls towards ʊ (aw). ey's F2
 * (+140 Hz) and ow's (-38 Hz) move too little to measure reliably and are not checked.
 */
const GLIDES: Record<string, readonly [number, number | null]> = {
  ey: [-1, null],
  ow: [-1, null],
  ay: [-1, 1],
  aw: [-1, -1],
  oy: [-1, 1],
};

Deno.test("diphthongs move F1 and F2 towards their offglide (LPC, first vs last third)", () => {
  for (const [label, directions] of Object.entries(GLIDES)) {
    const { formants: from, formantsEnd: to } = phoneSpec(label);
    assert.ok(from && to, `${label} has no formant trajectory`);
    const moves = [0, 1].map((k) =>
      overSeeds((seed) => {
        const x = render(["h#", label, "h#"], seed)[1];
        return formantsOf(part(x, 2 / 3, 1))[k] - formantsOf(part(x, 0, 1 / 3))[k];
      })
    );
    show(`${label} F1/F2 move (Hz), spec`, [moves, [to[0] - from[0], to[1] - from[1]]]);
    // The thirds' centres are 2/3 of the token apart, so a full-size movement measures 2/3 of the spec's;
    // at least a quarter of it is asked for. Measured F1: ey -54, ow -60, ay -256, aw -210, oy -70 Hz (spec
    // -79 -76 -327 -287 -82); F2: ay +448, aw -109, oy +669 Hz (spec +725 -186 +1098).
    directions.forEach((dir, k) => {
      if (dir === null) return;
      const want = to[k] - from[k];
      assert.ok(
        Math.sign(moves[k]) === dir && Math.sign(want) === dir && Math.abs(moves[k]) > 0.25 * Math.abs(want),
        `${label}: F${k + 1} moved ${moves[k].toFixed(0)} Hz, the spec ${want} Hz, expected sign ${dir}`,
      );
    });
  }
});

Deno.test("voiced fricatives have energy below 500 Hz, voiceless ones almost none", () => {
  const pairs = [["z", "s"], ["zh", "sh"], ["v", "f"], ["dh", "th"]];
  const labels = ["h#", ...pairs.flat().flatMap((p) => ["aa", p]), "aa", "h#"];
  const low = (label: string) =>
    overSeeds((seed) => lowFraction(part(render(labels, seed)[labels.indexOf(label)], 0.25, 0.75)));
  for (const [voiced, voiceless] of pairs) {
    const [a, b] = [low(voiced), low(voiceless)];
    show(`${voiced}/${voiceless} energy fraction < 500 Hz`, [a, b]);
    // Measured: z 0.34, zh 0.27, v 0.73, dh 0.74; s sh f th below 0.0003.
    assert.ok(a > 0.15 && a > 10 * b, `${voiced}: ${a.toFixed(3)}, ${voiceless}: ${b.toFixed(3)}`);
  }
});

Deno.test("fricative place: centroid s > th > sh; sh is compact (2-3.5 kHz), f diffuse", () => {
  const labels = ["h#", "aa", "s", "aa", "th", "aa", "sh", "aa", "f", "aa", "h#"];
  const at = (label: string, seed: number) =>
    spectrum(part(render(labels, seed)[labels.indexOf(label)], 0.2, 0.8));
  const c = Object.fromEntries(
    ["s", "th", "sh", "f"].map((l) => [l, overSeeds((seed) => centroid(at(l, seed)))]),
  );
  const compact = (l: string) =>
    overSeeds((seed) => band(at(l, seed), 2000, 3500) / band(at(l, seed), 0, 8000));
  show("fricative centroids (Hz)", c);
  show("sh/f fraction in 2-3.5 kHz", [compact("sh"), compact("f")]);
  // The order of the spectral means of A. Jongman, R. Wayland and S. Wong, "Acoustic characteristics of
  // English fricatives", JASA 108(3), 2000: s highest, sh lowest, the non-sibilants between; f, whose
  // spectrum is flat here as in Klatt (1980), is told from sh by its lack of a mid-frequency peak instead.
  // Measured: s 5370, th 4580, sh 3870 (f 4270) Hz; 2-3.5 kHz holds 0.36 of sh's energy, 0.20 of f's.
  assert.ok(c.s > c.th + 400, `s ${c.s.toFixed(0)} Hz, th ${c.th.toFixed(0)} Hz`);
  assert.ok(c.th > c.sh + 350, `th ${c.th.toFixed(0)} Hz, sh ${c.sh.toFixed(0)} Hz`);
  assert.ok(
    compact("sh") > 1.4 * compact("f"),
    `sh ${compact("sh").toFixed(2)}, f ${compact("f").toFixed(2)}`,
  );
});

Deno.test("er, axr and r have a low F3: energy at 1.4-1.9 kHz vs 2.3-2.8 kHz well above ih's and ax's", () => {
  const labels = ["h#", "aa", "er", "aa", "axr", "aa", "r", "aa", "ih", "aa", "ax", "aa", "h#"];
  const ratio = (label: string) =>
    overSeeds((seed) => {
      const p = spectrum(part(render(labels, seed)[labels.indexOf(label)], 0.2, 0.8));
      return 10 * Math.log10(band(p, 1400, 1900) / band(p, 2300, 2800));
    });
  const r = Object.fromEntries(["er", "axr", "r", "ih", "ax"].map((l) => [l, ratio(l)]));
  show("F3 ratio (dB)", r);
  // Measured: er 24, axr 15, r 27 dB; ih -9, ax 3 dB.
  for (const rhotic of ["er", "axr", "r"]) {
    for (const plain of ["ih", "ax"]) {
      assert.ok(
        r[rhotic] > r[plain] + 6,
        `${rhotic} ${r[rhotic].toFixed(1)} dB, ${plain} ${r[plain].toFixed(1)} dB`,
      );
    }
  }
});

Deno.test("nasal murmurs have less energy above 1 kHz than any vowel", () => {
  // nx is a 20-40 ms flap: at 60 ms its murmur outlasts the neighbouring vowels' leakage.
  const high = (label: string) =>
    overSeeds((seed) => {
      const p = spectrum(part(render(["h#", "aa", label, "aa", "h#"], seed, { nx: 60 })[2], 0.2, 0.8));
      return band(p, 1000, 8000) / band(p, 0, 8000);
    });
  const vowels = PHONES_61.filter((l) => phoneSpec(l).kind === "vowel" && l !== "ax-h");
  const leastVowel = Math.min(...vowels.map(high));
  // Measured: murmurs 0.00015-0.00022, nx 0.0010; the least vowel (uw) 0.0094.
  for (const nasal of ["m", "n", "ng", "em", "en", "eng", "nx"]) {
    show(`${nasal} fraction above 1 kHz, least vowel's`, [high(nasal), leastVowel]);
    assert.ok(
      high(nasal) < leastVowel / 3,
      `${nasal}: ${high(nasal).toFixed(4)}, least vowel ${leastVowel.toFixed(4)}`,
    );
  }
});

Deno.test("closures: voiced ones carry a voice bar (low-frequency energy), voiceless ones are silent", () => {
  const labels = ["h#", ...["bcl", "pcl", "dcl", "tcl", "gcl", "kcl"].flatMap((c) => ["aa", c]), "aa", "h#"];
  const lowDb = (label: string) =>
    overSeeds((seed) =>
      10 * Math.log10(band(spectrum(part(render(labels, seed)[labels.indexOf(label)], 0.25, 0.75)), 0, 500))
    );
  for (const [voiced, voiceless] of [["bcl", "pcl"], ["dcl", "tcl"], ["gcl", "kcl"]]) {
    const gap = lowDb(voiced) - lowDb(voiceless);
    show(`${voiced} - ${voiceless} energy below 500 Hz (dB)`, gap);
    // Measured: 25.3 (bcl), 25.9 (dcl), 23.9 (gcl) dB.
    assert.ok(gap > 12, `${voiced} is ${gap.toFixed(1)} dB above ${voiceless} below 500 Hz`);
  }
});

Deno.test("stop releases: centroid alveolar > velar > labial; voiced releases carry voicing", () => {
  const stops = [["pcl", "p"], ["tcl", "t"], ["kcl", "k"], ["bcl", "b"], ["dcl", "d"], ["gcl", "g"]];
  const labels = ["h#", ...stops.flatMap((s) => ["aa", ...s]), "aa", "h#"];
  // The first 16 ms of the release, where the burst's frication dominates.
  const onset = (label: string, seed: number) => render(labels, seed)[labels.indexOf(label)].subarray(0, 256);
  const c = (label: string) => overSeeds((seed) => centroid(spectrum(onset(label, seed)), 500));
  for (const [labial, velar, alveolar] of [["p", "k", "t"], ["b", "g", "d"]]) {
    const [cl, cv, ca] = [c(labial), c(velar), c(alveolar)];
    show(`${labial} ${velar} ${alveolar} release centroids (Hz)`, [cl, cv, ca]);
    // Measured: p 3150, k 3720, t 4470 Hz; b 2770, g 3510, d 4680 Hz.
    assert.ok(
      ca > cv + 300 && cv > cl + 250,
      `${labial} ${cl.toFixed(0)}, ${velar} ${cv.toFixed(0)}, ${alveolar} ${ca.toFixed(0)} Hz`,
    );
  }
  for (const [voiced, voiceless] of [["b", "p"], ["d", "t"], ["g", "k"]]) {
    const low = (l: string) => overSeeds((seed) => lowFraction(render(labels, seed)[labels.indexOf(l)]));
    show(`${voiced}/${voiceless} fraction < 500 Hz`, [low(voiced), low(voiceless)]);
    // Measured: b 0.84 / p 0.083, d 0.26 / t 0.0031, g 0.31 / k 0.0037.
    assert.ok(
      low(voiced) > 0.1 && low(voiced) > 5 * low(voiceless),
      `${voiced} ${low(voiced)}, ${voiceless} ${low(voiceless)}`,
    );
  }
});

Deno.test("an affricate opens with a transient that a fricative lacks; jh is voiced, ch is not", () => {
  const labels = ["h#", "aa", "tcl", "ch", "aa", "tcl", "sh", "aa", "dcl", "jh", "aa", "h#"];
  // Level of the first 6 ms over that of 20-40 ms, in dB.
  const attack = (label: string) =>
    overSeeds((seed) => {
      const x = render(labels, seed)[labels.indexOf(label)];
      return powerDb(x.subarray(0, 96)) - powerDb(x.subarray(320, 640));
    });
  show("ch / sh attack (dB)", [attack("ch"), attack("sh")]);
  // Measured: ch 5.6 dB, sh -1.6 dB; below 500 Hz jh 0.26, ch 0.00004.
  assert.ok(
    attack("ch") > attack("sh") + 3,
    `ch ${attack("ch").toFixed(1)} dB, sh ${attack("sh").toFixed(1)} dB`,
  );
  const low = (l: string) => overSeeds((seed) => lowFraction(render(labels, seed)[labels.indexOf(l)]));
  show("jh/ch fraction < 500 Hz", [low("jh"), low("ch")]);
  assert.ok(low("jh") > 0.05 && low("jh") > 10 * low("ch"), `jh ${low("jh")}, ch ${low("ch")}`);
});

Deno.test("hv is partly voiced and hh is not; flaps dip in the middle", () => {
  const labels = ["h#", "aa", "hh", "aa", "hv", "aa", "dx", "aa", "nx", "aa", "n", "aa", "h#"];
  // At 60 ms the thirds are long enough to measure; n is nx without the flap's envelope.
  const seg = (label: string, seed: number) =>
    render(labels, seed, { dx: 60, nx: 60, n: 60 })[labels.indexOf(label)];
  const low = (l: string) => overSeeds((seed) => band(spectrum(part(seg(l, seed), 0.25, 0.75)), 0, 300));
  const gap = 10 * Math.log10(low("hv") / low("hh"));
  show("hv - hh energy below 300 Hz (dB)", gap);
  // Measured: 13.4 dB; dips dx 7.1, nx 3.2, n -1.0 dB.
  assert.ok(gap > 6, `hv has ${gap.toFixed(1)} dB more energy below 300 Hz than hh`);
  // Middle third against the mean of the outer thirds, in dB.
  const dip = (label: string) =>
    overSeeds((seed) => {
      const x = seg(label, seed);
      return (powerDb(part(x, 0, 1 / 3)) + powerDb(part(x, 2 / 3, 1))) / 2 - powerDb(part(x, 1 / 3, 2 / 3));
    });
  show("dx nx n dip (dB)", [dip("dx"), dip("nx"), dip("n")]);
  for (const flap of ["dx", "nx"]) {
    assert.ok(
      dip(flap) > dip("n") + 2,
      `${flap} dips by ${dip(flap).toFixed(1)} dB, n by ${dip("n").toFixed(1)} dB`,
    );
  }
});

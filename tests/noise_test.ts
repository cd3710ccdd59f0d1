import assert from "node:assert/strict";
import FFT from "fft.js";
import { ConfigError } from "../lib/config.ts";
import { CorpusError } from "../lib/data/timit/errors.ts";
import {
  addNoise,
  noiseSeed,
  type NoiseSpec,
  openNoise,
  parseNoiseList,
  parseSnrList,
  pinkNoise,
  snrDb,
  type TalkerUtterance,
  whiteNoise,
} from "../lib/data/timit/noise.ts";
import { drawDuration, renderUtterance, type Voice } from "../lib/data/timit/synth.ts";
import { writeWav } from "../lib/data/timit/wav.ts";
import { Rng } from "../lib/rng.ts";

const SR = 16000;
const LABELS = ["h#", "s", "iy", "m", "aa", "n", "t", "uw", "k", "ae", "sh", "eh", "n", "h#"];

/** A synthetic utterance (Klatt-style formant speech with silences at both ends) of `f0` Hz. */
function speech(seed: string, f0 = 120): Int16Array {
  const rng = new Rng(seed);
  const voice: Voice = { f0, tractScale: 1, breathiness: 0.1, rate: 1, noise: 20, shifts: {} };
  return renderUtterance(
    LABELS.map((label) => ({ label, samples: drawDuration(label, voice, rng) })),
    voice,
    rng,
  );
}

/** Talker utterances whose content is a unit sinusoid at 100 (k+1) Hz for speaker k, 0.1 s long. */
function sinePool(speakers: number, uttsEach: number, loads?: Map<string, number>): TalkerUtterance[] {
  const out: TalkerUtterance[] = [];
  for (let k = 0; k < speakers; k++) {
    for (let u = 0; u < uttsEach; u++) {
      const speaker = `spk${k}`, id = `sx${u}`;
      out.push({
        speaker,
        id,
        load: () => {
          loads?.set(`${speaker}/${id}`, (loads.get(`${speaker}/${id}`) ?? 0) + 1);
          // 1600 samples hold a whole number of periods of every 100 (k+1) Hz tone, so looping is seamless.
          return Promise.resolve(
            Float64Array.from({ length: 1600 }, (_, i) => Math.sin(2 * Math.PI * 100 * (k + 1) * i / SR + u)),
          );
        },
      });
    }
  }
  return out;
}

/** Amplitude of the f Hz component of x (a whole number of periods long). */
function amplitude(x: ArrayLike<number>, f: number): number {
  let c = 0, s = 0;
  for (let i = 0; i < x.length; i++) {
    c += x[i] * Math.cos(2 * Math.PI * f * i / SR);
    s += x[i] * Math.sin(2 * Math.PI * f * i / SR);
  }
  return 2 * Math.hypot(c, s) / x.length;
}

/**
 * Slope of log10 power against log10 frequency over [lo, hi] Hz: Welch's averaged periodogram (Hann window,
 * 4096-sample segments, half overlap), least squares weighted by 1/f so each decade counts alike.
 */
function spectralSlope(x: Float64Array, lo = 50, hi = 5000): number {
  const L = 4096, fft = new FFT(L), out = new Float64Array(2 * L), frame = new Float64Array(L);
  const power = new Float64Array(L / 2 + 1);
  for (let s = 0; s + L <= x.length; s += L / 2) {
    for (let i = 0; i < L; i++) frame[i] = x[s + i] * (0.5 - 0.5 * Math.cos(2 * Math.PI * i / L));
    fft.realTransform(out, frame);
    for (let k = 0; k <= L / 2; k++) power[k] += out[2 * k] ** 2 + out[2 * k + 1] ** 2;
  }
  let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (let k = 1; k <= L / 2; k++) {
    const f = k * SR / L;
    if (f < lo || f > hi) continue;
    const w = 1 / f, lx = Math.log10(f), ly = Math.log10(power[k]);
    sw += w, sx += w * lx, sy += w * ly, sxx += w * lx * lx, sxy += w * lx * ly;
  }
  return (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "noise_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A 16-bit noise recording whose samples are all different (i * 7919 mod 60000 is a bijection). */
function distinctSamples(n: number): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => ((i * 7919) % 60000) - 30000);
}

async function assertRejectsWith(
  p: Promise<unknown>,
  type: new (...a: never[]) => Error,
  ...parts: string[]
) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
    for (const part of parts) assert.ok(e.message.includes(part), `"${e.message}" should mention "${part}"`);
    return true;
  });
}

/** The SNR written out here, independently of noise.ts: 10 log10(var(clean) / var(noisy - clean)). */
function ownSnrDb(clean: ArrayLike<number>, noisy: ArrayLike<number>): number {
  const variance = (x: number[]) => {
    const m = x.reduce((a, b) => a + b, 0) / x.length;
    return x.reduce((a, b) => a + (b - m) * (b - m), 0) / x.length;
  };
  const c = Array.from(clean), d = Array.from(noisy, (v, i) => v - c[i]);
  return 10 * Math.log10(variance(c) / variance(d));
}

Deno.test("addNoise() hits the target SNR for every kind of noise and several SNRs", async () => {
  await withTempDir(async (dir) => {
    const recording = Int16Array.from(
      whiteNoise(5 * SR, new Rng("rec")),
      (v, i) => 3000 * v + 500 * Math.sin(i / 40),
    );
    await Deno.writeFile(`${dir}/hall.wav`, writeWav(recording));
    const pool = ["a", "b", "c", "d", "e", "f", "g", "h"].map((s, k): TalkerUtterance => ({
      speaker: s,
      id: "sx1",
      load: () => Promise.resolve(speech(`talker-${s}`, 90 + 20 * k)),
    }));
    const clean = speech("target"), utt = { id: "sx9", speaker: "a" };
    let worst = 0;
    for (const spec of parseNoiseList(`white,pink,babble,${dir}/hall.wav`)) {
      const src = await openNoise(spec, { sampleRate: SR, maxLength: clean.length, babble: { pool } });
      for (const snr of [-5, 0, 10, 25]) {
        const noise = await src.noise(clean.length, new Rng(noiseSeed(1, spec, "a/sx9")), utt);
        const noisy = addNoise(clean, noise, snr, "a/sx9");
        worst = Math.max(worst, Math.abs(snrDb(clean, noisy) - snr), Math.abs(ownSnrDb(clean, noisy) - snr));
      }
    }
    // Measured: worst error 7e-8 dB (float32 rounding of the sum); 1e-5 dB leaves 150x headroom.
    assert.ok(worst < 1e-5, `worst SNR error ${worst} dB`);
  });
});

Deno.test("addNoise() uses the same excerpt at every SNR and returns float32 without wrapping", () => {
  const clean = Float64Array.from({ length: 4000 }, (_, i) => 32000 * Math.sin(i / 9));
  const noise = whiteNoise(4000, new Rng("n"));
  const at0 = addNoise(clean, noise, 0), at20 = addNoise(clean, noise, 20);
  // Samples below 2^17 in float32 are within 2^-8 of the exact sum: 11 such roundings stay under 0.05.
  for (let i = 0; i < clean.length; i++) {
    assert.ok(Math.abs((at0[i] - clean[i]) - 10 * (at20[i] - clean[i])) < 0.05, `sample ${i}`);
  }
  assert.ok(at0.some((v) => v > 32767) && at0.some((v) => v < -32768), "loud samples stay loud");
  assert.ok(at0 instanceof Float32Array);
  // The noise's own mean is removed: a DC offset in a recording does not shift the utterance.
  const offset = addNoise(clean, noise.map((v) => v + 1000), 0);
  assert.ok(Math.abs(offset.reduce((a, v, i) => a + v - clean[i], 0) / clean.length) < 1e-3);
});

Deno.test("addNoise() refuses a silent utterance naming it, and a noise of the wrong length", () => {
  assert.throws(
    () => addNoise(new Int16Array(800).fill(7), whiteNoise(800, new Rng(1)), 10, "dr1/fdac1/sx43"),
    (e: unknown) =>
      e instanceof CorpusError && e.message.includes("dr1/fdac1/sx43") && e.message.includes("silent"),
  );
  assert.throws(() => addNoise(speech("x"), whiteNoise(10, new Rng(1)), 10, "u1"), /u1.*10 samples/);
});

Deno.test("noise is bit-identical for one seed and differs with the seed or the utterance", async (t) => {
  const pool = sinePool(8, 2);
  for (const spec of parseNoiseList("white,pink,babble")) {
    await t.step(spec.name, async () => {
      const src = await openNoise(spec, { sampleRate: SR, babble: { pool } });
      const utt = { id: "sx1", speaker: "spk0" };
      const draw = (seed: number, id: string) => src.noise(3000, new Rng(noiseSeed(seed, spec, id)), utt);
      const a = await draw(1, "spk0/sx1");
      assert.deepEqual(await draw(1, "spk0/sx1"), a);
      assert.notDeepEqual(await draw(2, "spk0/sx1"), a);
      assert.notDeepEqual(await draw(1, "spk0/sx2"), a);
    });
  }
});

Deno.test("noiseSeed() differs between seeds, kinds, names and utterances, and has no SNR in it", () => {
  // x/white.wav is reported as "white" too, but is another noise.
  const specs: NoiseSpec[] = [
    ...parseNoiseList("white,pink,babble,x/hall.wav,x/car.wav"),
    ...parseNoiseList("x/white.wav"),
  ];
  const seeds = new Set<string>();
  for (const seed of [0, 1, 12]) {
    for (const spec of specs) {
      for (const id of ["a/sx1", "a/sx2", "b/sx1"]) seeds.add(noiseSeed(seed, spec, id));
    }
  }
  assert.equal(seeds.size, 3 * specs.length * 3);
  assert.equal(noiseSeed.length, 3);
});

Deno.test("white noise is flat and pink noise falls 10 dB per decade (50 Hz..5 kHz)", () => {
  // log10 power per log10 f; over 50 seeds of 16 s the slopes have sd 0.007 and stay within 0.019 of
  // 0 (white) and -1 (pink), so 0.03 is 4 sd; a pink shaped by 1/k or not at all would miss by 1.
  for (let s = 0; s < 8; s++) {
    const white = spectralSlope(whiteNoise(16 * SR, new Rng(`w${s}`)));
    const pink = spectralSlope(pinkNoise(16 * SR, new Rng(`p${s}`)));
    assert.ok(Math.abs(white) < 0.03, `white slope ${white}`);
    assert.ok(Math.abs(pink + 1) < 0.03, `pink slope ${pink}`);
  }
  const p = pinkNoise(3 * SR, new Rng("var"));
  const v = p.reduce((a, x) => a + x * x, 0) / p.length;
  assert.ok(v > 0.5 && v < 2, `pink noise has about unit variance, got ${v}`);
});

Deno.test("babble sums `talkers` other speakers, never the target's, from a small cache", async (t) => {
  const loads = new Map<string, number>();
  const pool = sinePool(9, 2, loads);
  const spec: NoiseSpec = { name: "babble", kind: "babble" };
  await t.step("six talkers by default, each at unit variance, never the target", async () => {
    const src = await openNoise(spec, { sampleRate: SR, babble: { pool, cacheSize: 18 } });
    const seen = new Set<number>();
    for (let r = 0; r < 40; r++) {
      const target = r % 9;
      const x = await src.noise(SR, new Rng(`b${r}`), { id: "sx0", speaker: `SPK${target}` });
      const present = [...Array(9).keys()].filter((k) => amplitude(x, 100 * (k + 1)) > 0.5);
      assert.equal(present.length, 6, `draw ${r}: speakers ${present}`);
      assert.ok(!present.includes(target), `draw ${r} used the target speaker ${target}`);
      for (const k of present) assert.ok(Math.abs(amplitude(x, 100 * (k + 1)) - Math.SQRT2) < 1e-9);
      present.forEach((k) => seen.add(k));
    }
    assert.equal(seen.size, 9);
    assert.deepEqual(new Set(loads.values()), new Set([1]), "each utterance loaded once with a large cache");
  });
  await t.step("`talkers` sets the count; a one-entry cache reloads", async () => {
    loads.clear();
    const src = await openNoise(spec, { sampleRate: SR, babble: { pool, talkers: 3, cacheSize: 1 } });
    const x = await src.noise(SR, new Rng("t3"), { id: "sx0", speaker: "spk4" });
    assert.equal([...Array(9).keys()].filter((k) => amplitude(x, 100 * (k + 1)) > 0.5).length, 3);
    for (let r = 0; r < 5; r++) await src.noise(SR, new Rng(`r${r}`), { id: "sx0", speaker: "spk4" });
    assert.ok([...loads.values()].reduce((a, b) => a + b) > loads.size, "some utterance reloaded");
  });
  await t.step("concurrent calls, even on one shared rng, give what sequential calls give", async () => {
    const src = await openNoise(spec, { sampleRate: SR, babble: { pool, cacheSize: 2 } });
    const utt = { id: "sx0", speaker: "spk1" };
    const par = await Promise.all([0, 1, 2, 3].map((r) => src.noise(500, new Rng(`c${r}`), utt)));
    for (let r = 0; r < 4; r++) assert.deepEqual(await src.noise(500, new Rng(`c${r}`), utt), par[r]);
    const shared = new Rng("shared"), again = new Rng("shared");
    const all = await Promise.all([0, 1, 2, 3].map(() => src.noise(500, shared, utt)));
    for (let r = 0; r < 4; r++) assert.deepEqual(await src.noise(500, again, utt), all[r]);
  });
  await t.step("too few other speakers is refused", async () => {
    const src = await openNoise(spec, { sampleRate: SR, babble: { pool: sinePool(6, 1) } });
    await assertRejectsWith(
      src.noise(100, new Rng(1), { id: "sx0", speaker: "spk2" }),
      ConfigError,
      "5 speakers",
      "6 talkers",
    );
    await assertRejectsWith(
      openNoise(spec, { sampleRate: SR, babble: { pool: sinePool(5, 3) } }),
      ConfigError,
      "5 speakers",
    );
    await assert.rejects(openNoise(spec, { sampleRate: SR }), /babble/);
  });
});

Deno.test("file noise: a random contiguous excerpt, and clear refusals naming the file", async (t) => {
  await withTempDir(async (dir) => {
    const spec = (p: string) => parseNoiseList(p)[0];
    const utt = { id: "sx1", speaker: "fdac1" };
    await t.step("16 kHz: contiguous excerpts from varied starts", async () => {
      await Deno.writeFile(`${dir}/hall.wav`, writeWav(distinctSamples(3 * SR)));
      const src = await openNoise(spec(`${dir}/hall.wav`), { sampleRate: SR, maxLength: 2 * SR });
      assert.equal(src.name, "hall");
      const file = distinctSamples(3 * SR), starts = new Set<number>();
      for (let r = 0; r < 20; r++) {
        const x = await src.noise(SR, new Rng(`f${r}`), utt);
        const s = file.indexOf(x[0]);
        assert.deepEqual(Float64Array.from(file.subarray(s, s + SR)), x);
        starts.add(s);
      }
      assert.ok(starts.size > 15, `${starts.size} distinct starts`);
      assert.deepEqual(
        await src.noise(3 * SR, new Rng(0), utt),
        Float64Array.from(file),
        "a full-length excerpt",
      );
      const firsts = new Set<number>();
      for (let r = 0; r < 20; r++) firsts.add((await src.noise(3 * SR - 1, new Rng(`e${r}`), utt))[0]);
      assert.deepEqual([...firsts].sort(), [file[0], file[1]].sort(), "both starts of a 1-shorter excerpt");
    });
    await t.step("8 kHz is refused naming both rates", async () => {
      await Deno.writeFile(`${dir}/tel.wav`, writeWav(distinctSamples(SR), 8000));
      await assertRejectsWith(
        openNoise(spec(`${dir}/tel.wav`), { sampleRate: SR }),
        CorpusError,
        "tel.wav",
        "8000 Hz",
        "16000 Hz",
      );
    });
    await t.step("a silent file is refused", async () => {
      await Deno.writeFile(`${dir}/mute.wav`, writeWav(new Int16Array(SR).fill(3)));
      await assertRejectsWith(
        openNoise(spec(`${dir}/mute.wav`), { sampleRate: SR }),
        CorpusError,
        "mute.wav",
        "silent",
      );
    });
    await t.step("an excerpt from a silent stretch is refused naming the file and the stretch", async () => {
      // 2 s of noise, then 2 s of silence: a 1-second excerpt falls wholly in the silence for some draws.
      const x = new Int16Array(4 * SR);
      x.set(distinctSamples(2 * SR));
      await Deno.writeFile(`${dir}/gap.wav`, writeWav(x));
      const src = await openNoise(spec(`${dir}/gap.wav`), { sampleRate: SR, maxLength: SR });
      let refused = 0;
      for (let r = 0; r < 40; r++) {
        try {
          const n = await src.noise(SR, new Rng(`g${r}`), utt);
          assert.ok(n.some((v) => v !== 0));
        } catch (e) {
          assert.ok(
            e instanceof CorpusError &&
              /gap\.wav: the excerpt of samples \d+\.\.\d+ .* is silent/.test(e.message),
            String(e),
          );
          refused++;
        }
      }
      assert.ok(refused > 0 && refused < 40, `${refused} of 40 excerpts refused`);
    });
    await t.step("a file shorter than an utterance is refused up front and per call", async () => {
      await Deno.writeFile(`${dir}/short.wav`, writeWav(distinctSamples(SR)));
      await assertRejectsWith(
        openNoise(spec(`${dir}/short.wav`), { sampleRate: SR, maxLength: 20000 }),
        CorpusError,
        "short.wav",
        "16000 samples (1.00 s)",
        "20000 samples (1.25 s)",
      );
      const src = await openNoise(spec(`${dir}/short.wav`), { sampleRate: SR });
      await assertRejectsWith(
        src.noise(16001, new Rng(1), utt),
        CorpusError,
        "short.wav",
        "16001 samples",
        "fdac1/sx1",
      );
    });
    await t.step("a missing file is refused naming the path", async () => {
      await assertRejectsWith(
        openNoise(spec(`${dir}/none.wav`), { sampleRate: SR }),
        CorpusError,
        `${dir}/none.wav`,
      );
    });
  });
});

Deno.test("parseSnrList() reads dB lists and refuses bad items naming them", () => {
  assert.deepEqual(parseSnrList("10,15,20,25"), [10, 15, 20, 25]);
  assert.deepEqual(parseSnrList(" -5, 0 ,2.5,1e1,10,-5"), [-5, 0, 2.5, 10]);
  for (
    const [text, item] of [["10,1O", '"1O"'], ["10,,20", '""'], ["0x10", '"0x10"'], [
      "Infinity",
      '"Infinity"',
    ]]
  ) {
    assert.throws(
      () => parseSnrList(text),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith(`--snr_db: ${item} is not a number`),
    );
  }
  assert.throws(
    () => parseSnrList(" ", "snr"),
    (e: unknown) => e instanceof ConfigError && /--snr: empty/.test(e.message),
  );
});

Deno.test("parseNoiseList() reads kinds and paths and refuses unknown words and clashing names", () => {
  assert.deepEqual(parseNoiseList("white, pink,babble,noisex/factory1.wav,car.WAV,/n/hall.sph,x.wv1"), [
    { name: "white", kind: "white" },
    { name: "pink", kind: "pink" },
    { name: "babble", kind: "babble" },
    { name: "factory1", kind: "file", path: "noisex/factory1.wav" },
    { name: "car", kind: "file", path: "car.WAV" },
    { name: "hall", kind: "file", path: "/n/hall.sph" },
    { name: "x", kind: "file", path: "x.wv1" },
  ]);
  const refuses = (text: string, ...parts: string[]) =>
    assert.throws(
      () => parseNoiseList(text),
      (e: unknown) => e instanceof ConfigError && parts.every((p) => e.message.includes(p)),
    );
  refuses("white,brown", '"brown"', "white, pink, babble");
  refuses("white,pink,white", '"white"');
  refuses("a/hall.wav,b/hall.wav", '"a/hall.wav"', '"b/hall.wav"', '"hall"');
  refuses("white,", '""');
  refuses("", "--test_noise: empty");
});

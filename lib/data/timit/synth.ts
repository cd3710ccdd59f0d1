/**
 * A deterministic source-filter (formant) speech synthesiser for the stand-in corpus.
 *
 * After D. H. Klatt, "Software for a cascade/parallel formant synthesizer", JASA 67(3), 1980: a glottal
 * impulse train shaped by a low-pass resonator (F = 0, bandwidth 100 Hz) plus aspiration noise excites a
 * cascade of digital resonators `y[n] = A x[n] + B y[n-1] + C y[n-2]`, `C = -exp(-2 pi bw T)`,
 * `B = 2 exp(-pi bw T) cos(2 pi f T)`, `A = 1 - B - C` (a nasal pole/zero pair that cancels except in
 * nasals, F1..F3 per phone, fixed F4/F5); frication is noise through parallel band-pass filters; the
 * output is differenced (lip radiation). Control tracks (formants, amplitudes) are set per phone on a
 * 1 ms grid: a diphthong's formants move linearly from its onset to its offset target across the token,
 * phones without formant targets (silence, voiceless closures, s, sh, h) take targets interpolated from
 * their neighbours, amplitudes follow a per-kind envelope ({@link envelope}), and every track is smoothed
 * forwards and backwards (zero-phase, time constant 18 ms for formants, 2.5 ms for amplitudes), which
 * gives smooth transitions and coarticulation both ways. Voicing and frication may sound at once (voiced
 * fricatives, voiced releases), and a voiced closure is weak voicing through a low F1 (a voice bar).
 * A speaker scales every frequency by a vocal-tract factor and sets the pitch.
 */
import type { Rng } from "../../rng.ts";
import { type PhoneSpec, phoneSpec } from "./synth_phones.ts";

/** A speaker's voice. */
export interface Voice {
  /** Mean fundamental frequency in Hz. */
  readonly f0: number;
  /** Multiplies every formant and frication frequency (shorter vocal tract: larger). */
  readonly tractScale: number;
  /** Aspiration noise mixed into voicing, relative to it. */
  readonly breathiness: number;
  /** Multiplies phone durations. */
  readonly rate: number;
  /** Background noise standard deviation, in 16-bit units. */
  readonly noise: number;
  /** This speaker's own per-phone formant factors (idiolect), by label. */
  readonly shifts: Readonly<Record<string, readonly [number, number, number]>>;
}

/** One phone of an utterance: its label and length in samples. */
export interface PhoneToken {
  readonly label: string;
  readonly samples: number;
}

const SR = 16000;
const BLOCK = 16;

/** Draws a phone's length in samples from its spec, the speaker's rate and a little randomness. */
export function drawDuration(label: string, voice: Voice, rng: Rng): number {
  const [lo, hi] = phoneSpec(label).durationMs;
  const ms = (lo + (hi - lo) * rng.uniform()) * voice.rate;
  return Math.max(BLOCK, Math.round((ms * SR) / 1000 / BLOCK) * BLOCK);
}

/** Zero-phase first-order smoothing of a track in place (forward then backward pass). */
function smooth(x: Float64Array, tauBlocks: number): void {
  const a = Math.exp(-1 / tauBlocks);
  for (let i = 1; i < x.length; i++) x[i] = a * x[i - 1] + (1 - a) * x[i];
  for (let i = x.length - 2; i >= 0; i--) x[i] = a * x[i + 1] + (1 - a) * x[i];
}

/** Fills NaN runs by linear interpolation between the nearest defined values (ends: nearest value). */
function fillGaps(x: Float64Array, fallback: number): void {
  let last = -1;
  for (let i = 0; i <= x.length; i++) {
    if (i < x.length && Number.isNaN(x[i])) continue;
    const lv = last >= 0 ? x[last] : i < x.length ? x[i] : fallback;
    const rv = i < x.length ? x[i] : lv;
    for (let j = last + 1; j < i; j++) x[j] = lv + ((rv - lv) * (j - last)) / (i - last);
    last = i;
  }
}

const FLAT = [1, 1, 1] as const;

/**
 * How a phone's sources move within its token: factors on its `[av, ah, af]` at `ms` into the token,
 * `frac` (0 at its first block, 1 at its last) of the way through it.
 * - burst: frication decays (time constant 8 ms) while aspiration and voicing rise into its place (the
 *   release, then the voice onset: short-lag for a voiced stop, after aspiration for a voiceless one);
 * - affricate: a release transient (frication up to 3x, decaying with 6 ms) on sustained frication;
 * - flap: voicing dips by up to 60 % mid-token (the tongue tip's brief contact);
 * - every other kind: flat.
 */
function envelope(kind: PhoneSpec["kind"], ms: number, frac: number): readonly [number, number, number] {
  switch (kind) {
    case "burst": {
      const burst = Math.exp(-ms / 8);
      return [1 - burst, 1 - burst, burst];
    }
    case "affricate":
      return [1, 1, 1 + 2 * Math.exp(-ms / 6)];
    case "flap":
      return [1 - 0.6 * Math.sin(Math.PI * frac), 1, 1];
    default:
      return FLAT;
  }
}

/** Formant `k`'s target `frac` of the way through a phone: `formants`, or on the way to `formantsEnd`. */
function target(s: PhoneSpec, k: number, frac: number): number {
  const f = s.formants as readonly number[];
  return s.formantsEnd ? f[k] + (s.formantsEnd[k] - f[k]) * frac : f[k];
}

/** The control tracks of an utterance on the 1 ms grid. */
function controlTracks(tokens: readonly PhoneToken[], voice: Voice, rng: Rng) {
  const nb = tokens.reduce((s, t) => s + t.samples / BLOCK, 0);
  const names = [
    "f1",
    "f2",
    "f3",
    "b1",
    "b2",
    "b3",
    "fz",
    "av",
    "ah",
    "af",
    "c1",
    "w1",
    "c2",
    "w2",
    "creak",
  ] as const;
  const tr = Object.fromEntries(names.map((n) => [n, new Float64Array(nb)])) as Record<
    (typeof names)[number],
    Float64Array
  >;
  let b = 0;
  for (const tok of tokens) {
    const s = phoneSpec(tok.label);
    const jit = [0, 1, 2].map((i) => (voice.shifts[tok.label]?.[i] ?? 1) * Math.exp(0.08 * rng.normal()));
    const n = tok.samples / BLOCK;
    const fricScale = voice.tractScale * Math.exp(0.04 * rng.normal());
    for (let i = 0; i < n; i++, b++) {
      const frac = n > 1 ? i / (n - 1) : 0;
      for (let k = 0; k < 3; k++) {
        tr[(["f1", "f2", "f3"] as const)[k]][b] = s.formants
          ? target(s, k, frac) * voice.tractScale * jit[k]
          : NaN;
        tr[(["b1", "b2", "b3"] as const)[k]][b] = s.bandwidths[k];
      }
      tr.fz[b] = s.nasalZero ? s.nasalZero * voice.tractScale : 270;
      const [eav, eah, eaf] = envelope(s.kind, (i * BLOCK * 1000) / SR, frac);
      tr.av[b] = s.av * eav;
      tr.ah[b] = s.ah * eah;
      tr.af[b] = s.af * eaf;
      const [[c1, w1], [c2, w2]] = s.fric ?? [[3000, 1000], [5000, 1000]];
      tr.c1[b] = Math.min(7600, c1 * fricScale);
      tr.w1[b] = w1;
      tr.c2[b] = Math.min(7700, c2 * fricScale);
      tr.w2[b] = w2;
      tr.creak[b] = s.kind === "glottal" ? 1 : 0;
    }
  }
  fillGaps(tr.f1, 500 * voice.tractScale);
  fillGaps(tr.f2, 1500 * voice.tractScale);
  fillGaps(tr.f3, 2500 * voice.tractScale);
  for (const k of ["f1", "f2", "f3", "b1", "b2", "b3", "fz", "c1", "c2", "w1", "w2"] as const) {
    smooth(tr[k], 18);
  }
  for (const k of ["av", "ah", "af", "creak"] as const) smooth(tr[k], 2.5);
  return { tr, nb };
}

/** A two-pole resonator whose coefficients can change every block. */
class Resonator {
  a = 1;
  b = 0;
  c = 0;
  y1 = 0;
  y2 = 0;
  set(f: number, bw: number): void {
    this.c = -Math.exp((-2 * Math.PI * bw) / SR);
    this.b = 2 * Math.exp((-Math.PI * bw) / SR) * Math.cos((2 * Math.PI * f) / SR);
    this.a = 1 - this.b - this.c;
  }
  step(x: number): number {
    const y = this.a * x + this.b * this.y1 + this.c * this.y2;
    this.y2 = this.y1;
    this.y1 = y;
    return y;
  }
}

/** Klatt's antiresonator: the inverse of a resonator, `y = (x - B x[n-1] - C x[n-2]) / A`. */
class AntiResonator extends Resonator {
  x1 = 0;
  x2 = 0;
  override step(x: number): number {
    const y = (x - this.b * this.x1 - this.c * this.x2) / this.a;
    this.x2 = this.x1;
    this.x1 = x;
    return y;
  }
}

/** A constant-peak-gain band-pass biquad (R. Bristow-Johnson, "Audio EQ cookbook"). */
class BandPass {
  b0 = 0;
  a1 = 0;
  a2 = 0;
  x1 = 0;
  x2 = 0;
  y1 = 0;
  y2 = 0;
  set(f: number, bw: number): void {
    // Q = f / bw; alpha = sin(w) / (2Q).
    const w = (2 * Math.PI * f) / SR, alpha = (Math.sin(w) * bw) / (2 * f);
    const a0 = 1 + alpha;
    this.b0 = alpha / a0;
    this.a1 = (-2 * Math.cos(w)) / a0;
    this.a2 = (1 - alpha) / a0;
  }
  step(x: number): number {
    const y = this.b0 * (x - this.x2) - this.a1 * this.y1 - this.a2 * this.y2;
    this.x2 = this.x1;
    this.x1 = x;
    this.y2 = this.y1;
    this.y1 = y;
    return y;
  }
}

/**
 * Renders an utterance to 16-bit samples at 16 kHz; all randomness (pitch jitter, noise, formant
 * jitter) comes from `rng`, so the same tokens, voice and generator state give the same samples.
 */
export function renderUtterance(tokens: readonly PhoneToken[], voice: Voice, rng: Rng): Int16Array {
  tokens.forEach((t, i) => {
    if (!(t.samples > 0 && t.samples % BLOCK === 0)) {
      throw new Error(
        `renderUtterance: token ${i} ("${t.label}") has ${t.samples} samples; lengths must be positive ` +
          `multiples of ${BLOCK} (1 ms), as drawDuration() gives`,
      );
    }
  });
  const total = tokens.reduce((s, t) => s + t.samples, 0);
  const { tr, nb } = controlTracks(tokens, voice, rng);
  const out = new Float64Array(total);
  const glottis = new Resonator(), np = new Resonator(), nz = new AntiResonator();
  const formants = [0, 1, 2, 3, 4].map(() => new Resonator());
  const fric1 = new BandPass(), fric2 = new BandPass();
  glottis.set(0, 100);
  np.set(270, 100);
  formants[3].set(3400 * voice.tractScale, 250);
  formants[4].set(Math.min(7000, 4300 * voice.tractScale), 300);
  let phase = 0, period = 1, prev = 0;
  const declination = 0.12 * rng.normal();
  for (let blk = 0; blk < nb; blk++) {
    nz.set(tr.fz[blk], 100);
    for (let k = 0; k < 3; k++) {
      formants[k].set(tr[(["f1", "f2", "f3"] as const)[k]][blk], tr[(["b1", "b2", "b3"] as const)[k]][blk]);
    }
    fric1.set(tr.c1[blk], tr.w1[blk]);
    fric2.set(tr.c2[blk], tr.w2[blk]);
    const f0 = voice.f0 * (1 + 0.15 * (0.5 - blk / nb) + declination * (blk / nb)) *
      (1 - 0.45 * tr.creak[blk]);
    for (let i = blk * BLOCK; i < Math.min(total, (blk + 1) * BLOCK); i++) {
      phase += f0 / SR;
      let pulse = 0;
      if (phase >= period) {
        phase -= period;
        period = 1 + 0.02 * rng.normal() + 0.3 * tr.creak[blk] * rng.uniform();
        pulse = tr.av[blk] * 400;
      }
      // The gains (pulse 400, aspiration 0.25, frication 0.13) set the levels quoted in synth_phones.ts.
      const noise = 2 * rng.uniform() - 1;
      const voicing = glottis.step(pulse);
      const src = voicing * (1 + voice.breathiness * noise) + tr.ah[blk] * noise * 0.25;
      let y = nz.step(np.step(src));
      for (const r of formants) y = r.step(y);
      const f = tr.af[blk] * (fric1.step(noise) + 0.6 * fric2.step(noise)) * 0.13;
      out[i] = y + f;
    }
  }
  // Lip radiation (a first difference), then a one-tap channel filter drawn per utterance, so recordings
  // differ in spectral tilt as real microphones and rooms make them.
  const pcm = new Int16Array(total);
  const tilt = -0.4 + rng.uniform();
  let peak = 1e-9, prevD = 0;
  for (let i = 0; i < total; i++) {
    const d = out[i] - prev;
    prev = out[i];
    out[i] = d + tilt * prevD;
    prevD = d;
    peak = Math.max(peak, Math.abs(out[i]));
  }
  const gain = (9000 * (0.6 + 0.4 * rng.uniform())) / peak;
  for (let i = 0; i < total; i++) {
    const v = out[i] * gain + voice.noise * rng.normal();
    pcm[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return pcm;
}

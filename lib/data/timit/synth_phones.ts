/**
 * The stand-in's phones: how the formant synthesiser of `synth.ts` makes each one.
 *
 * Vowel targets are the male means of G. E. Peterson and H. L. Barney, "Control methods used in a study of
 * the vowels", JASA 24(2), 1952; nasal, fricative and stop settings follow D. H. Klatt (JASA 67(3), 1980)
 * in spirit, with levels set so that, relative to a vowel, s is about -12 dB, sh and a nasal murmur
 * about -10 dB and a burst's onset about -8 dB (measured on rendered tokens).
 */

/** How a phone is made. Frequencies are for a reference adult male (tract scale 1). */
export interface PhoneSpec {
  readonly kind: "vowel" | "nasal" | "fricative" | "closure" | "burst" | "silence" | "glottal";
  /** F1..F3 targets in Hz, or `null` to take them from the neighbouring phones. */
  readonly formants: readonly [number, number, number] | null;
  readonly bandwidths: readonly [number, number, number];
  /** Nasal antiresonance in Hz (nasals only); elsewhere the zero sits on the nasal pole and cancels it. */
  readonly nasalZero?: number;
  /** Voicing amplitude. */
  readonly av: number;
  /** Aspiration amplitude (noise into the cascade). */
  readonly ah: number;
  /** Frication amplitude (noise through the parallel band-pass filters). */
  readonly af: number;
  /** Centre and bandwidth (Hz) of the two frication band-pass filters. */
  readonly fric?: readonly [readonly [number, number], readonly [number, number]];
  /** Duration range in ms (before the speaker's rate). */
  readonly durationMs: readonly [number, number];
}

const vowel = (f1: number, f2: number, f3: number): PhoneSpec => ({
  kind: "vowel",
  formants: [f1, f2, f3],
  bandwidths: [70, 100, 160],
  av: 1,
  ah: 0,
  af: 0,
  durationMs: [50, 140],
});
const quiet: PhoneSpec = {
  kind: "silence",
  formants: null,
  bandwidths: [200, 250, 300],
  av: 0,
  ah: 0,
  af: 0,
  durationMs: [80, 200],
};

/**
 * The stand-in's phones, by TIMIT label. Vowel targets: G. E. Peterson and H. L. Barney, JASA 24(2),
 * 1952 (male means); nasal, fricative and burst settings after Klatt (1980).
 */
export const PHONE_SPECS: Readonly<Record<string, PhoneSpec>> = Object.freeze({
  iy: vowel(270, 2290, 3010),
  ih: vowel(390, 1990, 2550),
  eh: vowel(530, 1840, 2480),
  ae: vowel(660, 1720, 2410),
  ah: vowel(640, 1190, 2390),
  aa: vowel(730, 1090, 2440),
  ao: vowel(570, 840, 2410),
  uw: vowel(300, 870, 2240),
  m: {
    kind: "nasal",
    formants: [260, 1100, 2150],
    bandwidths: [90, 250, 300],
    nasalZero: 1000,
    av: 0.6,
    ah: 0,
    af: 0,
    durationMs: [45, 90],
  },
  n: {
    kind: "nasal",
    formants: [260, 1650, 2600],
    bandwidths: [90, 250, 300],
    nasalZero: 1900,
    av: 0.6,
    ah: 0,
    af: 0,
    durationMs: [45, 90],
  },
  s: {
    kind: "fricative",
    formants: null,
    bandwidths: [200, 250, 300],
    av: 0,
    ah: 0,
    af: 1,
    fric: [[5300, 1800], [7000, 1400]],
    durationMs: [70, 140],
  },
  sh: {
    kind: "fricative",
    formants: null,
    bandwidths: [200, 250, 300],
    av: 0,
    ah: 0,
    af: 1.6,
    fric: [[2600, 900], [4200, 1600]],
    durationMs: [70, 140],
  },
  tcl: { ...quiet, kind: "closure", durationMs: [35, 75] },
  kcl: { ...quiet, kind: "closure", durationMs: [35, 75] },
  t: {
    kind: "burst",
    formants: [400, 1800, 2700],
    bandwidths: [200, 250, 300],
    av: 0,
    ah: 0.25,
    af: 4,
    fric: [[4200, 2500], [6200, 2000]],
    durationMs: [20, 45],
  },
  k: {
    kind: "burst",
    formants: [350, 2000, 2600],
    bandwidths: [200, 250, 300],
    av: 0,
    ah: 0.35,
    af: 6,
    fric: [[2000, 600], [3000, 900]],
    durationMs: [30, 60],
  },
  "h#": { ...quiet, durationMs: [120, 260] },
  pau: quiet,
  q: {
    kind: "glottal",
    formants: null,
    bandwidths: [120, 200, 300],
    av: 0.3,
    ah: 0,
    af: 0,
    durationMs: [25, 50],
  },
});

/** The spec of a label the synthesiser knows; throws, listing the known labels, otherwise. */
export function phoneSpec(label: string): PhoneSpec {
  const s = PHONE_SPECS[label];
  if (!s) {
    throw new Error(`The synthesiser has no phone "${label}". Known: ${Object.keys(PHONE_SPECS).join(", ")}`);
  }
  return s;
}

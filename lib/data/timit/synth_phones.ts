/**
 * The synthesiser's phones: how the formant synthesiser of `synth.ts` makes each of TIMIT's 61 labels.
 *
 * Sources of the values (frequencies for an adult male; a speaker's tract scale multiplies them):
 * - Monophthongs: the male means of G. E. Peterson and H. L. Barney, "Control methods used in a study of
 *   the vowels", JASA 24(2), 1952 (iy ih eh ae ah aa ao uh uw er).
 * - ey, ow: J. Hillenbrand, L. A. Getty, M. J. Clark and K. Wheeler, "Acoustic characteristics of American
 *   English vowels", JASA 97(5), 1995: the men's means at 20 % and 80 % of the vowel (computed from the
 *   study's published `vowdata.dat`) as onset and offset. ay, aw, oy (not in that study) move from the
 *   same men's mean of their nucleus to the steady state of the lax vowel of their offglide, offglides
 *   stopping short of iy and uw: ay and aw from hod (steady state) to hid and hood; oy from hoed (20 %), its
 *   nucleus raised towards o as is common in American English (from hawed it sounded too much like ay).
 * - Reduced vowels: ax (and the devoiced ax-h) is the neutral vowel of a uniform 17.5 cm tube,
 *   500/1500/2500 Hz (G. Fant, "Acoustic theory of speech production", 1960); ix is ih, and axr er's F1
 *   and F2, moved a third of the way towards it, as unstressed vowels undershoot their targets (B. Lindblom,
 *   "Spectrographic study of vowel reduction", JASA 35(11), 1963); axr keeps er's low F3, the mark of
 *   r-colouring, which unstressed er keeps in American English; ux, TIMIT's fronted uw, is uw with F2
 *   raised to 1500 Hz (approximate; /u/ after coronals, J. Hillenbrand, M. J. Clark and T. M. Nearey,
 *   JASA 109(2), 2001).
 * - Semivowels w y r l, and the consonant loci (F1..F3 of fricatives, stops and closures): D. H. Klatt,
 *   "Software for a cascade/parallel formant synthesizer", JASA 67(3), 1980, Table III (before front
 *   vowels). Nasal antiresonances after O. Fujimura, "Analysis of nasal consonants", JASA 34(12), 1962
 *   (m lowest, n 1.5-2 kHz, ng above 3 kHz). Source amplitudes and frication filters follow Klatt (1980)
 *   in spirit, not his numbers (this synthesiser has two frication filters, not six): levels are set so
 *   that, relative to a vowel, s is about -12 dB, sh and a nasal murmur about -10 dB and a burst's onset
 *   about -8 dB (measured on rendered tokens; `tests/synth_phones_test.ts` measures the rest).
 *
 * Stand-in phones: {@link PHONE_SPECS} (19 labels, the small corpus); the rest are in this file
 * (sonorants) and in `synth_obstruents.ts`; {@link TIMIT_PHONE_SPECS} holds all 61.
 */
import type { PhoneSpec } from "./phone_spec.ts";
import { OBSTRUENT_SPECS } from "./synth_obstruents.ts";

export type { PhoneSpec } from "./phone_spec.ts";

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
 * The small stand-in's 19 phones, by TIMIT label. Vowel targets: G. E. Peterson and H. L. Barney, JASA
 * 24(2), 1952 (male means); nasal, fricative and burst settings after Klatt (1980).
 * Keep this table as it is: the small stand-in draws each speaker's per-phone formant factors over its
 * entries with formants, in order, so a new or reordered entry would change every byte of that corpus.
 * New phones go to {@link SONORANT_SPECS} or `synth_obstruents.ts`; {@link TIMIT_PHONE_SPECS} has all 61.
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

const nasal = (formants: readonly [number, number, number], nasalZero: number): PhoneSpec => ({
  kind: "nasal",
  formants,
  bandwidths: [90, 250, 300],
  nasalZero,
  av: 0.6,
  ah: 0,
  af: 0,
  durationMs: [45, 90],
});
const semivowel = (
  formants: readonly [number, number, number],
  bandwidths: readonly [number, number, number],
): PhoneSpec => ({ kind: "semivowel", formants, bandwidths, av: 0.7, ah: 0, af: 0, durationMs: [40, 80] });
const diphthong = (
  formants: readonly [number, number, number],
  formantsEnd: readonly [number, number, number],
): PhoneSpec => ({ ...vowel(...formants), formantsEnd, durationMs: [100, 200] });
const short = (s: PhoneSpec, durationMs: readonly [number, number]): PhoneSpec => ({ ...s, durationMs });

// A murmur's F2 and F3 lie about 50 dB below its 250 Hz peak (nasal pole and F1 in cascade), under any
// background noise, for m and n as for ng: nasal place is heard in the neighbours' transitions towards
// F2 = 1100 (m), 1650 (n) and 2000 Hz (ng).
const NG = nasal([260, 2000, 2700], 3200);
const L = semivowel([310, 1050, 2880], [50, 100, 280]);

/** TIMIT's other vowels, semivowels, nasals and h: sources in this file's header. */
export const SONORANT_SPECS: Readonly<Record<string, PhoneSpec>> = Object.freeze({
  uh: vowel(440, 1020, 2240),
  er: short(vowel(490, 1350, 1690), [70, 150]),
  ax: short(vowel(500, 1500, 2500), [30, 70]),
  // Devoiced schwa: mostly aspiration through the schwa's formants.
  "ax-h": { ...vowel(500, 1500, 2500), av: 0.1, ah: 0.6, durationMs: [20, 45] },
  ix: short(vowel(427, 1827, 2533), [30, 70]),
  axr: short(vowel(493, 1400, 1690), [40, 90]),
  ux: vowel(300, 1500, 2240),
  ey: diphthong([479, 2089, 2699], [400, 2229, 2742]),
  ow: diphthong([511, 936, 2455], [435, 898, 2448]),
  ay: diphthong([756, 1309, 2535], [429, 2034, 2687]),
  aw: diphthong([756, 1309, 2535], [469, 1123, 2435]),
  oy: diphthong([511, 936, 2455], [429, 2034, 2687]),
  w: semivowel([290, 610, 2150], [50, 80, 60]),
  y: semivowel([260, 2070, 3020], [40, 250, 500]),
  r: semivowel([310, 1060, 1380], [70, 100, 120]),
  l: L,
  el: { ...L, av: 0.8, durationMs: [60, 120] },
  ng: NG,
  em: short(PHONE_SPECS.m, [60, 120]),
  en: short(PHONE_SPECS.n, [60, 120]),
  eng: short(NG, [60, 120]),
  // A nasal flap: n's murmur, briefly, with the flap's dip in voicing.
  nx: { ...PHONE_SPECS.n, kind: "flap", durationMs: [20, 40] },
  // Aspiration shaped by the neighbours' formants; hv is partly voiced.
  hh: {
    kind: "aspiration",
    formants: null,
    bandwidths: [300, 250, 300],
    av: 0,
    ah: 0.5,
    af: 0,
    durationMs: [40, 80],
  },
  hv: {
    kind: "aspiration",
    formants: null,
    bandwidths: [300, 250, 300],
    av: 0.15,
    ah: 0.4,
    af: 0,
    durationMs: [40, 80],
  },
});

/** Every one of TIMIT's 61 labels. */
export const TIMIT_PHONE_SPECS: Readonly<Record<string, PhoneSpec>> = Object.freeze({
  ...PHONE_SPECS,
  ...SONORANT_SPECS,
  ...OBSTRUENT_SPECS,
});

/** The spec of a TIMIT label (any of the 61); throws, listing the known labels, otherwise. */
export function phoneSpec(label: string): PhoneSpec {
  const s = Object.hasOwn(TIMIT_PHONE_SPECS, label) ? TIMIT_PHONE_SPECS[label] : undefined;
  if (!s) {
    throw new Error(
      `The synthesiser has no phone "${label}". Known: ${Object.keys(TIMIT_PHONE_SPECS).join(", ")}`,
    );
  }
  return s;
}

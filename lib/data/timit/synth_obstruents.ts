/**
 * TIMIT's obstruents beyond the small stand-in's (s sh t k tcl kcl): fricatives, affricates, stops, their
 * closures, the flap dx and the epenthetic silence epi, for the formant synthesiser of `synth.ts`.
 *
 * F1..F3 are the consonant loci of D. H. Klatt, "Software for a cascade/parallel formant synthesizer",
 * JASA 67(3), 1980, Table III (before front vowels); they shape the neighbours' transitions and, where the
 * phone is voiced, its own voicing. Frication filters and source amplitudes follow Klatt in spirit (two
 * band-pass filters here, not his six parallel formants):
 * - place in the frication spectrum: f v broad and weak (Klatt's flat bypass path), th dh broad and weak
 *   with a high peak, s z high, sh zh ch jh mid (2.6 kHz); bursts: p b low, t d high, k g mid and compact
 *   (t's and k's filters are the small stand-in's);
 * - voiced fricatives: voicing and frication at once, frication weaker than the voiceless one's;
 * - stops: the `burst` envelope in `synth.ts` lets frication decay while aspiration and voicing rise; a
 *   voiced stop has a weaker burst, little aspiration and voicing (short-lag VOT), a voiceless one
 *   aspiration only;
 * - closures: bcl dcl gcl are weak voicing through F1 = 200 Hz (a voice bar) at the stop's locus; pcl, as
 *   tcl and kcl, is silence. Frication filters are smoothed like formants (18 ms), so a closure already
 *   holds its release's filters and the burst starts at its place's spectrum.
 * Levels relative to a vowel are measured by `tests/synth_phones_test.ts`.
 */
import type { PhoneSpec } from "./phone_spec.ts";

type Hz3 = readonly [number, number, number];
type Bands = readonly [readonly [number, number], readonly [number, number]];

/** Frication filters (centre, bandwidth in Hz) by place. */
const LABIAL: Bands = [[1200, 2500], [4000, 5000]];
const DENTAL: Bands = [[4000, 4000], [7000, 2500]];
const ALVEOLAR: Bands = [[5300, 1800], [7000, 1400]];
const PALATAL: Bands = [[2600, 900], [4200, 1600]];
const ALVEOLAR_BURST: Bands = [[4200, 2500], [6200, 2000]];
const LABIAL_BURST: Bands = [[700, 600], [1500, 1000]];
const VELAR_BURST: Bands = [[2000, 600], [3000, 900]];

const fricative = (formants: Hz3, fric: Bands, af: number, av: number): PhoneSpec => ({
  kind: "fricative",
  formants,
  bandwidths: av > 0 ? [70, 250, 300] : [200, 250, 300],
  av,
  ah: 0,
  af,
  fric,
  durationMs: [60, 120],
});
const affricate = (formants: Hz3, af: number, av: number): PhoneSpec => ({
  ...fricative(formants, PALATAL, af, av),
  kind: "affricate",
  durationMs: [50, 100],
});
/** A stop's release: voiced ones (`av > 0`) have little aspiration and narrow bandwidths for their voicing. */
const release = (formants: Hz3, fric: Bands, af: number, ah: number, av: number): PhoneSpec => ({
  kind: "burst",
  formants,
  bandwidths: av > 0 ? [60, 150, 250] : [200, 250, 300],
  av,
  ah,
  af,
  fric,
  durationMs: av > 0 ? [10, 30] : [25, 60],
});
/** A voiced closure: a voice bar at the stop's locus, holding the release's frication filters. */
const voiceBar = (locus: Hz3, fric: Bands): PhoneSpec => ({
  kind: "closure",
  formants: [200, locus[1], locus[2]],
  bandwidths: [60, 300, 400],
  av: 0.1,
  ah: 0,
  af: 0,
  fric,
  durationMs: [35, 75],
});
const silence = (durationMs: readonly [number, number]): PhoneSpec => ({
  kind: "closure",
  formants: null,
  bandwidths: [200, 250, 300],
  av: 0,
  ah: 0,
  af: 0,
  durationMs,
});

const LABIAL_LOCUS: Hz3 = [200, 1100, 2150];
const ALVEOLAR_LOCUS: Hz3 = [200, 1600, 2600];
const VELAR_LOCUS: Hz3 = [200, 1990, 2850];

/** The obstruents, by TIMIT label. */
export const OBSTRUENT_SPECS: Readonly<Record<string, PhoneSpec>> = Object.freeze({
  z: fricative([240, 1390, 2530], ALVEOLAR, 0.7, 0.35),
  zh: fricative([250, 1840, 2750], PALATAL, 1.1, 0.35),
  f: fricative([340, 1100, 2080], LABIAL, 0.5, 0),
  th: fricative([320, 1290, 2540], DENTAL, 0.5, 0),
  v: fricative([220, 1100, 2080], LABIAL, 0.3, 0.4),
  dh: fricative([270, 1290, 2540], DENTAL, 0.25, 0.45),
  ch: affricate([350, 1800, 2820], 1.4, 0),
  jh: affricate([260, 1800, 2820], 1, 0.3),
  p: release([400, 1100, 2150], LABIAL_BURST, 2, 0.35, 0),
  b: release(LABIAL_LOCUS, LABIAL_BURST, 1.2, 0.08, 0.3),
  d: release(ALVEOLAR_LOCUS, ALVEOLAR_BURST, 2.5, 0.08, 0.3),
  g: release(VELAR_LOCUS, VELAR_BURST, 3.5, 0.1, 0.3),
  bcl: voiceBar(LABIAL_LOCUS, LABIAL_BURST),
  dcl: voiceBar(ALVEOLAR_LOCUS, ALVEOLAR_BURST),
  gcl: voiceBar(VELAR_LOCUS, VELAR_BURST),
  pcl: { ...silence([35, 75]), fric: LABIAL_BURST },
  // A flap: brief voicing at the alveolar locus that dips mid-token (the `flap` envelope), no burst.
  dx: {
    kind: "flap",
    formants: [250, 1600, 2600],
    bandwidths: [70, 100, 160],
    av: 0.6,
    ah: 0,
    af: 0,
    durationMs: [15, 35],
  },
  epi: { ...silence([15, 40]), kind: "silence" },
});

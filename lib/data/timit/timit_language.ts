/**
 * The language of the TIMIT-sized stand-in: sentences whose phones come with TIMIT's frequencies and
 * durations (`timit_stats.ts`), over all 61 TIMIT labels.
 *
 * A sentence is words of syllables; a syllable is a nucleus (a vowel, or a syllabic el, em, en, eng)
 * with consonant events around it. A consonant event is one phone, or a stop (`t`: closure `tcl` and/or
 * release `t`, each present with the probability TIMIT's counts give: a `t` event releases 75% of the
 * time), or an affricate with its closure (`tcl ch`, `dcl jh`). Each reading of a text draws its own
 * pronunciation: which closures and releases are spoken, a glottal stop `q` before some words (which then
 * begin with their vowel), a `pau` or `epi` between some words, and `h#` at both ends.
 *
 * The two SA sentences, read by every speaker, are fixed transcriptions that hold all 61 labels between
 * them, so any corpus of one speaker or more has every label; the SX and SI texts are drawn with the
 * phone rates that make each speaker's ten sentences, on average, TIMIT's per-speaker counts (labels
 * rarer in TIMIT than once per speaker, eng, em, zh and ax-h, come only from the SA sentences, so they
 * are that much more frequent here). Durations are log-normal around each label's TIMIT mean, with one
 * coefficient of variation chosen so that all phones pooled have TIMIT's mean and standard deviation.
 */
import type { Rng } from "../../rng.ts";
import type { PlannedPhone, Word } from "./mini_timit_text.ts";
import type { Voice } from "./synth.ts";
import { TIMIT_PHONE_DURATION_MS, TIMIT_PHONES, TIMIT_SPEAKERS_BY_REGION } from "./timit_stats.ts";

/** Nuclei: the vowels and the syllabic consonants. */
const NUCLEI = [
  ..."aa ae ah ao aw ax ax-h axr ay eh er ey ih ix iy ow oy uh uw ux".split(" "),
  ..."el em en eng".split(" "),
];
/** Stops and their closures; `ch` and `jh` take their closure from `t` and `d`. */
const STOPS: Readonly<Record<string, string>> = {
  b: "bcl",
  d: "dcl",
  g: "gcl",
  p: "pcl",
  t: "tcl",
  k: "kcl",
};
const AFFRICATES: Readonly<Record<string, string>> = { ch: "tcl", jh: "dcl" };
const PAUSES = ["h#", "pau", "epi", "q"];
const CLOSURES = new Set(Object.values(STOPS));
/** Every other consonant event: one phone. */
const SIMPLE = Object.keys(TIMIT_PHONES).filter((l) =>
  !NUCLEI.includes(l) && !(l in STOPS) && !(l in AFFRICATES) && !PAUSES.includes(l) && !CLOSURES.has(l)
);
const EVENTS = [...Object.keys(STOPS), ...Object.keys(AFFRICATES), ...SIMPLE];

/** Letters for a label in the `.TXT`/`.WRD` spelling of pseudo-words. */
const spell = (label: string) => label.replace(/[^a-z]/g, "");

/** TIMIT's TRAIN speakers and utterances. */
const TRAIN_SPEAKERS = Object.values(TIMIT_SPEAKERS_BY_REGION).reduce((n, r) => n + r[0] + r[1], 0);

/** The phones of the TRAIN transcriptions of one speaker, on average: TIMIT's count / speakers. */
const perSpeaker = (label: string) => TIMIT_PHONES[label][0] / TRAIN_SPEAKERS;

function pick(rng: Rng, labels: readonly string[], weights: readonly number[]): string {
  return labels[rng.categorical(weights)];
}

/** How a consonant event is spoken: probabilities of its closure and of its release (stops only). */
interface EventRates {
  readonly closure: number;
  readonly release: number;
}

/** See the module doc. Everything is fixed by the seed. */
export class TimitLanguage {
  /** The SA1 and SA2 transcriptions (labels, `h#` at both ends), and their words. */
  readonly sa: readonly { readonly phones: readonly PlannedPhone[]; readonly words: readonly Word[] }[];
  /** Expected counts of each label in one SX or SI reading. */
  readonly perReading: Readonly<Record<string, number>>;
  #nucleusWeights: number[];
  #eventWeights: number[];
  #rates: Record<string, EventRates>;
  /** Nuclei per SX/SI text, on average. */
  #syllables: number;
  /** Per reading: pauses and epentheses between words, glottal stops before words. */
  #pau: number;
  #epi: number;
  #q: number;
  /** log-normal sigma of durations, and the factor that makes a mean-rate speaker's mean TIMIT's. */
  #sigma: number;
  #rateMean: number;

  constructor(rng: Rng, speakerRateMean: number, speakerRateVar: number) {
    this.sa = TimitLanguage.#designSa(rng);
    const inSa: Record<string, number> = {};
    for (const s of this.sa) for (const p of s.phones) inSa[p.label] = (inSa[p.label] ?? 0) + 1;
    // What the 8 SX and SI readings of a speaker must add to the SA sentences, per reading.
    const want = (l: string) => Math.max(0, perSpeaker(l) - (inSa[l] ?? 0)) / 8;
    this.#nucleusWeights = NUCLEI.map(want);
    this.#syllables = this.#nucleusWeights.reduce((a, b) => a + b, 0);
    this.#rates = {};
    const events: number[] = [];
    for (const e of EVENTS) {
      if (e in STOPS) {
        const affricates = Object.entries(AFFRICATES).filter(([, c]) => c === STOPS[e]).map(([a]) => want(a));
        const closure = Math.max(0, want(STOPS[e]) - affricates.reduce((a, b) => a + b, 0));
        const n = Math.max(closure, want(e));
        this.#rates[e] = { closure: n > 0 ? closure / n : 1, release: n > 0 ? want(e) / n : 1 };
        events.push(n);
      } else events.push(want(e));
    }
    this.#eventWeights = events;
    [this.#pau, this.#epi, this.#q] = ["pau", "epi", "q"].map(want);
    this.perReading = Object.fromEntries(Object.keys(TIMIT_PHONES).map((l) => [l, l === "h#" ? 2 : want(l)]));
    // One coefficient of variation c for every label: pooled, d = m_l (r / E r) e with E e = 1, Var e = c^2,
    // so E d^2 = sum_l w_l m_l^2 (1 + Var r / (E r)^2) (1 + c^2); solve for TIMIT's pooled variance.
    const total = Object.values(TIMIT_PHONES).reduce((n, v) => n + v[0], 0);
    let m2 = 0;
    for (const [n, , ms] of Object.values(TIMIT_PHONES)) m2 += (n / total) * ms * ms;
    const { mean, std } = TIMIT_PHONE_DURATION_MS;
    const c2 = Math.max(
      0,
      (std * std + mean * mean) / (m2 * (1 + speakerRateVar / speakerRateMean ** 2)) - 1,
    );
    this.#sigma = Math.sqrt(Math.log(1 + c2));
    this.#rateMean = speakerRateMean;
  }

  /** SA1 and SA2: every nucleus and consonant event once, plus a pause, an epenthesis and a glottal stop. */
  static #designSa(rng: Rng) {
    const nuclei = rng.permutation(NUCLEI.length);
    const events = rng.permutation(EVENTS.length);
    const half = NUCLEI.length / 2;
    return [0, 1].map((s) => {
      const syl: string[][] = [];
      for (let i = 0; i < half; i++) syl.push([EVENTS[events[s * half + i]], NUCLEI[nuclei[s * half + i]]]);
      // The events left over (more events than nuclei) close the last syllables.
      for (let j = NUCLEI.length + s; j < EVENTS.length; j += 2) syl[syl.length - 1].push(EVENTS[events[j]]);
      const words: string[][] = [];
      for (let i = 0; i < syl.length; i += 2) words.push([...syl[i], ...(syl[i + 1] ?? [])]);
      // One word starting with its vowel after a glottal stop, and one pause (SA1) or epenthesis (SA2).
      words[1].push(words[2].shift()!);
      const phones: PlannedPhone[] = [{ label: "h#", word: -1 }];
      words.forEach((w, wi) => {
        if (wi === 3) phones.push({ label: s === 0 ? "pau" : "epi", word: -1 });
        if (wi === 2) phones.push({ label: "q", word: wi });
        for (const e of w) {
          for (const label of expand(e, { closure: 1, release: 1 })) phones.push({ label, word: wi });
        }
      });
      phones.push({ label: "h#", word: -1 });
      return { phones, words: words.map((w) => ({ text: w.map(spell).join(""), phones: w })) };
    });
  }

  /** An SX or SI text: words of 1 to 3 syllables, about {@link perReading}'s nuclei in all. */
  sentence(rng: Rng): Word[] {
    const syllables = Math.max(2, Math.round(this.#syllables * (0.6 + 0.8 * rng.uniform())));
    const events = this.#eventWeights.reduce((a, b) => a + b, 0) / this.#syllables;
    const words: Word[] = [];
    for (let left = syllables; left > 0;) {
      const n = Math.min(left, 1 + rng.categorical([0.5, 0.35, 0.15]));
      const phones: string[] = [];
      for (let i = 0; i < n; i++) {
        // Consonant events around the nucleus: binomial with mean `events`, the first half as onset.
        let k = 0;
        for (let j = 0; j < 4; j++) if (rng.uniform() < events / 4) k++;
        const around = Array.from({ length: k }, () => pick(rng, EVENTS, this.#eventWeights));
        phones.push(...around.slice(0, Math.ceil(k / 2)));
        phones.push(pick(rng, NUCLEI, this.#nucleusWeights));
        phones.push(...around.slice(Math.ceil(k / 2)));
      }
      words.push({ text: phones.map(spell).join(""), phones });
      left -= n;
    }
    return words;
  }

  /**
   * One reading of an SX or SI text: `h#`, the words with this reading's closures and releases, a `q`
   * before some words (which then start with their vowel), a `pau` or `epi` between some, `h#`.
   */
  plan(words: readonly Word[], rng: Rng): PlannedPhone[] {
    const out: PlannedPhone[] = [{ label: "h#", word: -1 }];
    const gaps = Math.max(1, words.length - 1);
    words.forEach((w, wi) => {
      if (wi > 0) {
        if (rng.uniform() < this.#pau / gaps) out.push({ label: "pau", word: -1 });
        else if (rng.uniform() < this.#epi / gaps) out.push({ label: "epi", word: -1 });
      }
      let first = 0;
      if (rng.uniform() < this.#q / words.length) {
        out.push({ label: "q", word: wi });
        first = w.phones.findIndex((p) => NUCLEI.includes(p));
      }
      for (const e of w.phones.slice(first)) {
        for (const label of expand(e, this.#rates[e] ?? { closure: 1, release: 1 }, rng)) {
          out.push({ label, word: wi });
        }
      }
    });
    out.push({ label: "h#", word: -1 });
    return out;
  }

  /** A phone's length in samples at 16 kHz: log-normal around its TIMIT mean (see the module doc). */
  duration(label: string, voice: Voice, rng: Rng): number {
    const mean = TIMIT_PHONES[label][2] * voice.rate / this.#rateMean;
    const ms = mean * Math.exp(this.#sigma * rng.normal() - this.#sigma ** 2 / 2);
    return Math.max(16, Math.round(ms) * 16);
  }
}

/** The labels an event is spoken as: itself, or a stop's closure and/or release, or closure + affricate. */
function expand(event: string, rates: EventRates, rng?: Rng): string[] {
  if (event in AFFRICATES) return [AFFRICATES[event], event];
  if (!(event in STOPS)) return [event];
  const u = rng ? rng.uniform() : 0;
  // Closure and release are each present with their rate, at least one of them (rates: max 1).
  const out: string[] = [];
  if (rates.closure >= 1 || u < rates.closure) out.push(STOPS[event]);
  if (rates.release >= 1 || (rng ? rng.uniform() : 0) < rates.release) out.push(event);
  return out.length ? out : [event];
}

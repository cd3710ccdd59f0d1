/**
 * The stand-in corpus's language: pseudo-words built from the synthesiser's phones, and sentences of them.
 *
 * A word is one or two syllables `(C)V(C)` with consonants n, m, s, sh, t, k and vowels iy, ih, eh, ae, ah,
 * aa, uw (rarely ao, which folds to aa). Stops are written as closure + release in `.PHN` (`tcl t`, `kcl k`),
 * as in TIMIT. Sentences are 3 to 6 words; the prompts follow TIMIT's scheme: two SA sentences read by
 * every speaker, a pool of SX sentences each read by several speakers, and SI sentences read once.
 */
import type { Rng } from "../../rng.ts";

const CONSONANTS = ["n", "m", "s", "sh", "t", "k"] as const;
const VOWELS = ["iy", "ih", "eh", "ae", "ah", "aa", "uw"] as const;
const SPELLING: Readonly<Record<string, string>> = {
  iy: "ee",
  ih: "i",
  eh: "e",
  ae: "a",
  ah: "u",
  aa: "ah",
  ao: "aw",
  uw: "oo",
  n: "n",
  m: "m",
  s: "s",
  sh: "sh",
  t: "t",
  k: "k",
};

/** A pseudo-word: its spelling and its phones (stops not yet split into closure + release). */
export interface Word {
  readonly text: string;
  readonly phones: readonly string[];
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** `n` distinct pseudo-words. */
export function makeLexicon(n: number, rng: Rng): Word[] {
  const out: Word[] = [];
  const seen = new Set<string>();
  while (out.length < n) {
    const phones: string[] = [];
    const syllables = rng.uniform() < 0.6 ? 2 : 1;
    for (let s = 0; s < syllables; s++) {
      if (rng.uniform() < 0.75 || s > 0) phones.push(pick(rng, CONSONANTS));
      phones.push(rng.uniform() < 0.06 ? "ao" : pick(rng, VOWELS));
      if (rng.uniform() < 0.35) phones.push(pick(rng, CONSONANTS));
    }
    const text = phones.map((p) => SPELLING[p]).join("");
    if (seen.has(text)) continue;
    seen.add(text);
    out.push({ text, phones });
  }
  return out;
}

/** A sentence of 3 to 6 words from the lexicon. */
export function makeSentence(lexicon: readonly Word[], rng: Rng): Word[] {
  const n = 3 + rng.int(4);
  return Array.from({ length: n }, () => pick(rng, lexicon));
}

/** The sentence as TIMIT's `.TXT` writes it: capitalised, ending with a full stop. */
export function sentenceText(words: readonly Word[]): string {
  const s = words.map((w) => w.text).join(" ");
  return s.charAt(0).toUpperCase() + s.slice(1) + ".";
}

/** One phone of an utterance plan, with the index of the word it belongs to (-1: none). */
export interface PlannedPhone {
  readonly label: string;
  readonly word: number;
}

/**
 * The phone sequence of a spoken sentence: `h#`, the words (stops as closure + release, a glottal stop
 * `q` before some vowel-initial words, a `pau` between some words), `h#`.
 */
export function planUtterance(words: readonly Word[], rng: Rng): PlannedPhone[] {
  const out: PlannedPhone[] = [{ label: "h#", word: -1 }];
  words.forEach((w, wi) => {
    if (wi > 0 && rng.uniform() < 0.12) out.push({ label: "pau", word: -1 });
    if ((VOWELS as readonly string[]).includes(w.phones[0]) && rng.uniform() < 0.3) {
      out.push({ label: "q", word: wi });
    }
    for (const p of w.phones) {
      if (p === "t" || p === "k") out.push({ label: `${p}cl`, word: wi });
      out.push({ label: p, word: wi });
    }
  });
  out.push({ label: "h#", word: -1 });
  return out;
}

/**
 * Speakers and utterances of echoflow's stand-in corpora (`mini_timit.ts`, the small one, and
 * `full_timit.ts`, TIMIT's size): a speaker's voice, and one utterance rendered to TIMIT's four files.
 */
import { Rng } from "../../rng.ts";
import { formatTranscription } from "./phn.ts";
import { type PlannedPhone, sentenceText, type Word } from "./mini_timit_text.ts";
import { writeSphere } from "./sphere.ts";
import { renderUtterance, type Voice } from "./synth.ts";
import { TIMIT_PHONE_SPECS } from "./synth_phones.ts";

/** A stand-in speaker: where it goes and how it sounds. */
export interface MiniSpeaker {
  readonly part: "TRAIN" | "TEST";
  readonly region: string;
  readonly id: string;
  readonly voice: Voice;
}

/** The phones whose formants every voice shifts a little (its idiolect), in the order they are drawn. */
const IDIOLECT = ["iy", "ih", "eh", "ae", "ah", "aa", "ao", "uw", "m", "n", "t", "k"];

/** Speaking rates are uniform on this range (mean and variance used by the full-size language). */
export const RATE_RANGE: readonly [number, number] = [0.85, 1.2];

/**
 * A speaker's voice from `rng`. `allPhones` adds idiolect shifts for every other phone with formants
 * (drawn after the small corpus's, which stay as they were).
 */
export function makeVoice(female: boolean, rng: Rng, allPhones = false): Voice {
  const shifts: Record<string, [number, number, number]> = {};
  const more = allPhones
    ? Object.keys(TIMIT_PHONE_SPECS).filter((l) => TIMIT_PHONE_SPECS[l].formants && !IDIOLECT.includes(l))
    : [];
  for (const label of [...IDIOLECT, ...more]) {
    shifts[label] = [0, 1, 2].map(() => Math.exp(0.05 * rng.normal())) as [number, number, number];
  }
  return {
    f0: female ? 180 + 60 * rng.uniform() : 95 + 45 * rng.uniform(),
    tractScale: female ? 1.08 + 0.16 * rng.uniform() : 0.88 + 0.16 * rng.uniform(),
    breathiness: (female ? 0.15 : 0.05) + 0.2 * rng.uniform(),
    rate: RATE_RANGE[0] + (RATE_RANGE[1] - RATE_RANGE[0]) * rng.uniform(),
    noise: 15 + 100 * rng.uniform(),
    shifts,
  };
}

/** One utterance's files, as bytes and text. */
export interface MiniUtterance {
  readonly name: string;
  readonly wav: Uint8Array;
  readonly phn: string;
  readonly wrd: string;
  readonly txt: string;
}

/** How a reading is made: its phones, and each phone's length in samples. */
export interface Reading {
  plan(rng: Rng): readonly PlannedPhone[];
  duration(label: string, voice: Voice, rng: Rng): number;
}

/**
 * Speaks `words` in `spk`'s voice as `reading` plans them, with a generator seeded by (seed, speaker,
 * sentence), and returns TIMIT's four files for it.
 */
export function speak(
  spk: MiniSpeaker,
  name: string,
  words: readonly Word[],
  seed: number,
  reading: Reading,
): MiniUtterance {
  const rng = new Rng(`mini_timit-${seed}-${spk.id}-${name}`);
  const plan = reading.plan(rng);
  const tokens = plan.map((p) => ({ label: p.label, samples: reading.duration(p.label, spk.voice, rng) }));
  const samples = renderUtterance(tokens, spk.voice, rng);
  const phones: { begin: number; end: number; label: string }[] = [];
  const spans = words.map(() => [Infinity, -Infinity]);
  let at = 0;
  plan.forEach((p, i) => {
    phones.push({ begin: at, end: at + tokens[i].samples, label: p.label });
    if (p.word >= 0) {
      spans[p.word][0] = Math.min(spans[p.word][0], at);
      spans[p.word][1] = at + tokens[i].samples;
    }
    at += tokens[i].samples;
  });
  const wrd = words.map((w, i) => ({ begin: spans[i][0], end: spans[i][1], label: w.text }));
  const utteranceId = `${spk.id.slice(1).toLowerCase()}_${name.toLowerCase()}`;
  return {
    name,
    wav: writeSphere(samples, { utteranceId }),
    phn: formatTranscription(phones),
    wrd: formatTranscription(wrd),
    txt: `0 ${samples.length} ${sentenceText(words)}\n`,
  };
}

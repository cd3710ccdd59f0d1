/**
 * The TIMIT-sized stand-in (`deno task data --size full`): TIMIT's speakers and sentence material with
 * the speech of echoflow's synthesiser, in TIMIT's layout (written by `mini_timit.ts`).
 *
 * - Speakers: TIMIT's 462 TRAIN and 168 TEST speakers per dialect region and sex (`timit_stats.ts`).
 *   TEST holds the 24 core-test speakers in their regions and the 50 development-set speakers (whose
 *   regions `speakers.json` does not give: they fill each region's remaining places of their sex), then
 *   made-up IDs; TRAIN IDs are made up and never a real test ID.
 * - Sentences, as TIMIT: SA1 and SA2 read by everyone; 5 SX texts a speaker, each read by 7 speakers of
 *   the same part (TRAIN and TEST texts differ); 3 SI texts a speaker, each read once. Words and phones
 *   come from {@link TimitLanguage}: all 61 labels, TIMIT's frequencies and durations.
 * - `fraction` < 1 keeps that share of every region's speakers of each part and sex (rounded), but always
 *   the core-test set and at least one development-set speaker, for the scaling measurements.
 */
import { Rng } from "../../rng.ts";
import type { Word } from "./mini_timit_text.ts";
import { CORE_TEST_BY_REGION, CORE_TEST_SPEAKERS, DEV_SPEAKERS } from "./speakers.ts";
import { makeVoice, type MiniSpeaker, RATE_RANGE, type Reading } from "./standin_speech.ts";
import { TimitLanguage } from "./timit_language.ts";
import { TIMIT_SENTENCES, TIMIT_SPEAKERS_BY_REGION } from "./timit_stats.ts";

/** One utterance to write: its name, words and how it is read. */
export interface PlannedUtterance {
  readonly name: string;
  readonly words: readonly Word[];
  readonly reading: Reading;
}

const female = (id: string) => id[0].toLowerCase() === "f";

/** The speakers of the full stand-in (see the module doc); TRAIN first, then TEST, by region. */
export function fullSpeakers(seed: number, fraction = 1): MiniSpeaker[] {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`fraction must be in (0, 1], got ${fraction}`);
  const rng = new Rng(`timit_full-speakers-${seed}`);
  const taken = new Set<string>([...CORE_TEST_SPEAKERS, ...DEV_SPEAKERS]);
  const madeUp = (isFemale: boolean) => {
    let id: string;
    do {
      id = (isFemale ? "f" : "m") +
        Array.from({ length: 3 }, () => String.fromCharCode(97 + rng.int(26))).join("") +
        rng.int(10);
    } while (taken.has(id));
    taken.add(id);
    return id;
  };
  const share = (n: number) => Math.max(1, Math.round(n * fraction));
  const dev = [...DEV_SPEAKERS].sort();
  const out: MiniSpeaker[] = [];
  const add = (part: "TRAIN" | "TEST", region: string, id: string) =>
    out.push({
      part,
      region: region.toUpperCase(),
      id: id.toUpperCase(),
      voice: makeVoice(female(id), rng, true),
    });
  for (const [region, [tm, tf]] of Object.entries(TIMIT_SPEAKERS_BY_REGION)) {
    for (let i = 0; i < share(tm); i++) add("TRAIN", region, madeUp(false));
    for (let i = 0; i < share(tf); i++) add("TRAIN", region, madeUp(true));
  }
  // The development-set speakers kept, placed where their sex has room; any left over join DR1.
  dev.splice(fraction < 1 ? Math.max(1, Math.round(dev.length * fraction)) : dev.length);
  for (const [region, [, , m, f]] of Object.entries(TIMIT_SPEAKERS_BY_REGION)) {
    for (const [isFemale, n] of [[false, m], [true, f]] as const) {
      const core = CORE_TEST_BY_REGION[region].filter((s) => female(s) === isFemale);
      const want = Math.max(core.length, share(n));
      const here = [...core];
      for (let k; here.length < want && (k = dev.findIndex((s) => female(s) === isFemale)) >= 0;) {
        here.push(dev.splice(k, 1)[0]);
      }
      while (here.length < want) here.push(madeUp(isFemale));
      for (const id of here) add("TEST", region, id);
    }
  }
  for (const id of dev) add("TEST", "dr1", id);
  return out;
}

/** Every speaker's ten utterances: SA1, SA2, five SX and three SI (see the module doc). */
export function* fullUtterances(
  seed: number,
  speakers: readonly MiniSpeaker[],
): Generator<{ spk: MiniSpeaker; list: PlannedUtterance[] }> {
  const rng = new Rng(`timit_full-text-${seed}`);
  const [lo, hi] = RATE_RANGE;
  const lang = new TimitLanguage(rng, (lo + hi) / 2, (hi - lo) ** 2 / 12);
  const duration = lang.duration.bind(lang);
  const sa = lang.sa.map((s) => ({ words: s.words, reading: { plan: () => s.phones, duration } }));
  const read = (words: Word[]): PlannedUtterance["reading"] => ({
    plan: (r) => lang.plan(words, r),
    duration,
  });
  // SX texts: TRAIN and TEST each get their own pool, every text read by `sxReaders` speakers in turn.
  const { sx: perSpeaker, si: siPerSpeaker, sxReaders } = TIMIT_SENTENCES;
  const sxOf = new Map<MiniSpeaker, number[]>();
  let nextSx = 0;
  for (const part of ["TRAIN", "TEST"] as const) {
    const who = speakers.filter((s) => s.part === part);
    const texts = Math.max(perSpeaker, Math.ceil((who.length * perSpeaker) / sxReaders));
    const order = rng.permutation(who.length);
    order.forEach((w, i) => {
      sxOf.set(who[w], Array.from({ length: perSpeaker }, (_, j) => nextSx + ((i * perSpeaker + j) % texts)));
    });
    nextSx += texts;
  }
  const sxTexts = Array.from({ length: nextSx }, () => lang.sentence(rng));
  let si = 3 + nextSx;
  for (const spk of speakers) {
    const list: PlannedUtterance[] = sa.map((s, i) => ({ name: `SA${i + 1}`, ...s }));
    for (const k of sxOf.get(spk)!) {
      list.push({ name: `SX${3 + k}`, words: sxTexts[k], reading: read(sxTexts[k]) });
    }
    for (let j = 0; j < siPerSpeaker; j++) {
      const words = lang.sentence(rng);
      list.push({ name: `SI${si++}`, words, reading: read(words) });
    }
    yield { spk, list };
  }
}

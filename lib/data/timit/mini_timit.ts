/**
 * `mini_timit`: a small synthetic corpus in exactly TIMIT's on-disk format, generated deterministically.
 *
 * `{TRAIN,TEST}/DR<n>/<SPEAKER>/{SA1,SA2,SX<n>x5,SI<n>x3}.{WAV,PHN,WRD,TXT}`, audio as NIST SPHERE with a
 * 1024-byte `NIST_1A` header, transcriptions with sample boundaries, as LDC's TIMIT. Speech comes from
 * the formant synthesiser in `synth.ts`; speakers differ in pitch, vocal-tract length (formant scale),
 * breathiness, speaking rate, noise level and per-phone idiolect. The test speakers carry the IDs of real
 * core-test and development-set speakers, so the standard split logic runs on it unchanged.
 * Every utterance has its own generator seeded by (seed, speaker, sentence), so the bytes depend only on
 * the seed. A manifest `MINI_TIMIT.json` at the root marks a complete corpus.
 *
 * Make it: `deno run --allow-read --allow-write lib/data/timit/mini_timit.ts [--out DIR] [--seed N] [--force]`
 */
import { Rng } from "../../rng.ts";
import type { Logger } from "../../runner/logger.ts";
import { formatTranscription } from "./phn.ts";
import { writeSphere } from "./sphere.ts";
import { CORE_TEST_SPEAKERS, DEV_SPEAKERS } from "./speakers.ts";
import { drawDuration, renderUtterance, type Voice } from "./synth.ts";
import { PHONE_SPECS } from "./synth_phones.ts";
import { makeLexicon, makeSentence, planUtterance, sentenceText, type Word } from "./mini_timit_text.ts";

/** Bumped whenever the generator's output changes, so stale copies are regenerated. */
export const MINI_TIMIT_VERSION = 1;

/** Where the stand-in lives by default: `data/mini_timit` in the repository. */
export const DEFAULT_MINI_TIMIT_DIR = new URL("../../../data/mini_timit", import.meta.url).pathname;

export interface MiniTimitOptions {
  readonly seed?: number;
  /** Number of TRAIN speakers (default 16). */
  readonly trainSpeakers?: number;
}

/** A stand-in speaker: where it goes and how it sounds. */
export interface MiniSpeaker {
  readonly part: "TRAIN" | "TEST";
  readonly region: string;
  readonly id: string;
  readonly voice: Voice;
}

/** Test speakers named after real core-test (first four) and development-set (last four) speakers. */
const TEST_SPEAKERS: readonly [string, string][] = [
  ["DR1", "MDAB0"],
  ["DR1", "FELC0"],
  ["DR2", "MTAS1"],
  ["DR3", "FPKT0"],
  ["DR1", "FAKS0"],
  ["DR1", "FDAC1"],
  ["DR1", "MGWT0"],
  ["DR1", "MJAR0"],
];

function makeVoice(female: boolean, rng: Rng): Voice {
  const shifts: Record<string, [number, number, number]> = {};
  for (const [label, s] of Object.entries(PHONE_SPECS)) {
    if (s.formants) {
      shifts[label] = [0, 1, 2].map(() => Math.exp(0.05 * rng.normal())) as [number, number, number];
    }
  }
  return {
    f0: female ? 180 + 60 * rng.uniform() : 95 + 45 * rng.uniform(),
    tractScale: female ? 1.08 + 0.16 * rng.uniform() : 0.88 + 0.16 * rng.uniform(),
    breathiness: (female ? 0.15 : 0.05) + 0.2 * rng.uniform(),
    rate: 0.85 + 0.35 * rng.uniform(),
    noise: 15 + 100 * rng.uniform(),
    shifts,
  };
}

/** The stand-in's speakers: `trainSpeakers` with made-up IDs (none a real test ID), then the 8 test speakers. */
export function miniSpeakers(seed: number, trainSpeakers: number): MiniSpeaker[] {
  const rng = new Rng(`mini_timit-speakers-${seed}`);
  const taken = new Set<string>([...CORE_TEST_SPEAKERS, ...DEV_SPEAKERS]);
  const out: MiniSpeaker[] = [];
  for (let i = 0; i < trainSpeakers; i++) {
    const female = i % 3 === 1;
    let id: string;
    do {
      id = (female ? "F" : "M") + Array.from({ length: 3 }, () =>
        String.fromCharCode(65 + rng.int(26))).join("") +
        "0";
    } while (taken.has(id.toLowerCase()));
    taken.add(id.toLowerCase());
    out.push({ part: "TRAIN", region: `DR${1 + (i % 8)}`, id, voice: makeVoice(female, rng) });
  }
  for (const [region, id] of TEST_SPEAKERS) {
    out.push({ part: "TEST", region, id, voice: makeVoice(id.startsWith("F"), rng) });
  }
  return out;
}

/** One utterance's files, as bytes and text. */
export interface MiniUtterance {
  readonly name: string;
  readonly wav: Uint8Array;
  readonly phn: string;
  readonly wrd: string;
  readonly txt: string;
}

/** Speaks `words` in `spk`'s voice and returns TIMIT's four files for it. */
export function speak(spk: MiniSpeaker, name: string, words: readonly Word[], seed: number): MiniUtterance {
  const rng = new Rng(`mini_timit-${seed}-${spk.id}-${name}`);
  const plan = planUtterance(words, rng);
  const tokens = plan.map((p) => ({ label: p.label, samples: drawDuration(p.label, spk.voice, rng) }));
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

/** The prompts: 2 SA sentences for all, a pool of SX sentences (5 per speaker), SI sentences (3 per speaker). */
function* utterancesOf(seed: number, speakers: readonly MiniSpeaker[]) {
  const rng = new Rng(`mini_timit-text-${seed}`);
  const lexicon = makeLexicon(48, rng);
  const sa = [makeSentence(lexicon, rng), makeSentence(lexicon, rng)];
  const sx = Array.from({ length: 24 }, () => makeSentence(lexicon, rng));
  let si = 453;
  for (const spk of speakers) {
    const mine = rng.permutation(sx.length).subarray(0, 5);
    const list: [string, Word[]][] = [["SA1", sa[0]], ["SA2", sa[1]]];
    for (const k of mine) list.push([`SX${3 + k}`, sx[k]]);
    for (let j = 0; j < 3; j++) list.push([`SI${si++}`, makeSentence(lexicon, rng)]);
    yield { spk, list };
  }
}

/** Writes the corpus under `dir` (which must not exist) and returns the number of utterances. */
export async function writeMiniTimit(dir: string, opts: MiniTimitOptions = {}): Promise<number> {
  const seed = opts.seed ?? 0;
  const speakers = miniSpeakers(seed, opts.trainSpeakers ?? 16);
  let n = 0;
  const enc = new TextEncoder();
  for (const { spk, list } of utterancesOf(seed, speakers)) {
    const sdir = `${dir}/${spk.part}/${spk.region}/${spk.id}`;
    await Deno.mkdir(sdir, { recursive: true });
    for (const [name, words] of list) {
      const u = speak(spk, name, words, seed);
      await Deno.writeFile(`${sdir}/${name}.WAV`, u.wav);
      await Deno.writeFile(`${sdir}/${name}.PHN`, enc.encode(u.phn));
      await Deno.writeFile(`${sdir}/${name}.WRD`, enc.encode(u.wrd));
      await Deno.writeFile(`${sdir}/${name}.TXT`, enc.encode(u.txt));
      n++;
    }
  }
  const manifest = {
    corpus: "mini_timit: a synthetic stand-in for TIMIT made by echoflow (not speech data; not TIMIT)",
    version: MINI_TIMIT_VERSION,
    seed,
    trainSpeakers: opts.trainSpeakers ?? 16,
    utterances: n,
  };
  await Deno.writeTextFile(`${dir}/MINI_TIMIT.json`, JSON.stringify(manifest, null, 2) + "\n");
  return n;
}

/**
 * Makes sure the stand-in exists at `dir`: reuses a complete copy made by the same generator version and
 * options, otherwise generates it into a temporary directory and renames it into place. Refuses to replace
 * a directory that is not a stand-in made by echoflow.
 */
export async function ensureMiniTimit(
  dir: string = DEFAULT_MINI_TIMIT_DIR,
  opts: MiniTimitOptions & { log?: Logger; force?: boolean } = {},
): Promise<{ generated: boolean; utterances: number; seconds: number }> {
  const want = { version: MINI_TIMIT_VERSION, seed: opts.seed ?? 0, trainSpeakers: opts.trainSpeakers ?? 16 };
  const manifest = await Deno.readTextFile(`${dir}/MINI_TIMIT.json`).then(JSON.parse).catch(() => null);
  const exists = await Deno.stat(dir).then(() => true).catch(() => false);
  if (manifest && !opts.force && Object.entries(want).every(([k, v]) => manifest[k] === v)) {
    return { generated: false, utterances: manifest.utterances, seconds: 0 };
  }
  if (exists && !manifest) {
    throw new Error(
      `Cannot generate mini_timit in "${dir}": it exists and has no MINI_TIMIT.json (not made by echoflow)`,
    );
  }
  const t0 = performance.now();
  opts.log?.info(`Generating the stand-in corpus mini_timit in ${dir} (seed ${want.seed}) ...`);
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const n = await writeMiniTimit(tmp, opts);
  if (exists) await Deno.remove(dir, { recursive: true });
  await Deno.rename(tmp, dir);
  const seconds = (performance.now() - t0) / 1000;
  opts.log?.info(`Generated mini_timit: ${n} utterances in ${seconds.toFixed(1)} s`);
  return { generated: true, utterances: n, seconds };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dir = flag("out") ?? DEFAULT_MINI_TIMIT_DIR;
  const seed = Number(flag("seed") ?? 0);
  if (!Number.isInteger(seed)) throw new Error(`--seed expects an integer, got "${flag("seed")}"`);
  const { Logger } = await import("../../runner/logger.ts");
  const r = await ensureMiniTimit(dir, { seed, force: args.includes("--force"), log: new Logger() });
  if (!r.generated) {
    console.error(
      `mini_timit is already up to date in ${dir} (${r.utterances} utterances); --force remakes it`,
    );
  }
}

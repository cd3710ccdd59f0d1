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
 * Two sizes: `small` (the default: 16 TRAIN and 8 TEST speakers, 14 phone classes from a small pseudo-word
 * language) and `full` (TIMIT's 630 speakers and sentence material, all 61 labels with TIMIT's phone
 * frequencies and durations: `full_timit.ts`), optionally a `fraction` of its speakers.
 *
 * Make it: `deno task data [--size small|full] [--fraction F] [--out DIR] [--seed N] [--force]`
 */
import { Rng } from "../../rng.ts";
import type { Logger } from "../../runner/logger.ts";
import { Progress } from "../../runner/logger.ts";
import { dirname } from "../../runner/run_dir.ts";
import { removeStaleTemporaries } from "../../runner/run_lock.ts";
import { CORE_TEST_SPEAKERS, DEV_SPEAKERS } from "./speakers.ts";
import { drawDuration } from "./synth.ts";
import { makeLexicon, makeSentence, planUtterance, type Word } from "./mini_timit_text.ts";
import { fullSpeakers, fullUtterances, type PlannedUtterance } from "./full_timit.ts";
import { makeVoice, type MiniSpeaker, speak } from "./standin_speech.ts";

/** Bumped whenever the generator's output changes, so stale copies are regenerated. */
export const MINI_TIMIT_VERSION = 1;
/** The same, for what only the full size generates (its language, speakers and phones). */
export const FULL_TIMIT_VERSION = 1;

/** Where the stand-in lives by default: `data/mini_timit` in the repository. */
export const DEFAULT_MINI_TIMIT_DIR = new URL("../../../data/mini_timit", import.meta.url).pathname;

/** The stand-in's sizes (see the module doc). */
export const STANDIN_SIZES = ["small", "full"] as const;
export type StandInSize = (typeof STANDIN_SIZES)[number];

/** Where the full-size stand-in lives by default: `data/timit_full` (`data/timit_full_<fraction>`). */
export function defaultStandInDir(size: StandInSize, fraction = 1): string {
  if (size === "small") return DEFAULT_MINI_TIMIT_DIR;
  return new URL(`../../../data/timit_full${fraction < 1 ? `_${fraction}` : ""}`, import.meta.url).pathname;
}

export interface MiniTimitOptions {
  readonly seed?: number;
  /** `small` (default) or `full`. */
  readonly size?: StandInSize;
  /** Number of TRAIN speakers of the small size (default 16). */
  readonly trainSpeakers?: number;
  /** Share of the full size's speakers (default 1). */
  readonly fraction?: number;
  /** A progress bar while writing. */
  readonly log?: Logger;
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

/** The small size's readings: its pseudo-word language, as `mini_timit_text.ts` plans it. */
const SMALL_READING = (words: readonly Word[]) => ({
  plan: (rng: Rng) => planUtterance(words, rng),
  duration: drawDuration,
});

/** The prompts: 2 SA sentences for all, a pool of SX sentences (5 per speaker), SI sentences (3 per speaker). */
function* utterancesOf(
  seed: number,
  speakers: readonly MiniSpeaker[],
): Generator<{ spk: MiniSpeaker; list: PlannedUtterance[] }> {
  const rng = new Rng(`mini_timit-text-${seed}`);
  const lexicon = makeLexicon(48, rng);
  const sa = [makeSentence(lexicon, rng), makeSentence(lexicon, rng)];
  const sx = Array.from({ length: 24 }, () => makeSentence(lexicon, rng));
  let si = 453;
  for (const spk of speakers) {
    const mine = rng.permutation(sx.length).subarray(0, 5);
    const texts: [string, Word[]][] = [["SA1", sa[0]], ["SA2", sa[1]]];
    for (const k of mine) texts.push([`SX${3 + k}`, sx[k]]);
    for (let j = 0; j < 3; j++) texts.push([`SI${si++}`, makeSentence(lexicon, rng)]);
    yield { spk, list: texts.map(([name, words]) => ({ name, words, reading: SMALL_READING(words) })) };
  }
}

/** Writes the corpus under `dir` (which must not exist) and returns the number of utterances. */
export async function writeMiniTimit(dir: string, opts: MiniTimitOptions = {}): Promise<number> {
  const seed = opts.seed ?? 0;
  const full = opts.size === "full";
  const speakers = full
    ? fullSpeakers(seed, opts.fraction ?? 1)
    : miniSpeakers(seed, opts.trainSpeakers ?? 16);
  let n = 0;
  const enc = new TextEncoder();
  const bar = opts.log
    ? new Progress(opts.log, `${opts.size ?? "small"} stand-in`, 10 * speakers.length)
    : null;
  for (const { spk, list } of (full ? fullUtterances : utterancesOf)(seed, speakers)) {
    const sdir = `${dir}/${spk.part}/${spk.region}/${spk.id}`;
    await Deno.mkdir(sdir, { recursive: true });
    for (const { name, words, reading } of list) {
      const u = speak(spk, name, words, seed, reading);
      bar?.tick();
      await Deno.writeFile(`${sdir}/${name}.WAV`, u.wav);
      await Deno.writeFile(`${sdir}/${name}.PHN`, enc.encode(u.phn));
      await Deno.writeFile(`${sdir}/${name}.WRD`, enc.encode(u.wrd));
      await Deno.writeFile(`${sdir}/${name}.TXT`, enc.encode(u.txt));
      n++;
    }
  }
  bar?.done();
  const manifest = {
    corpus: "mini_timit: a synthetic stand-in for TIMIT made by echoflow (not speech data; not TIMIT)",
    ...manifestKey(opts),
    utterances: n,
  };
  await Deno.writeTextFile(`${dir}/MINI_TIMIT.json`, JSON.stringify(manifest, null, 2) + "\n");
  return n;
}

/** What a manifest records of the options (the small size's manifest keeps its original fields). */
function manifestKey(opts: MiniTimitOptions): Record<string, unknown> {
  const base = { version: MINI_TIMIT_VERSION, seed: opts.seed ?? 0 };
  return opts.size === "full"
    ? { ...base, size: "full", fraction: opts.fraction ?? 1, fullVersion: FULL_TIMIT_VERSION }
    : { ...base, trainSpeakers: opts.trainSpeakers ?? 16 };
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
  const want = manifestKey(opts);
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
  opts.log?.info(`Generating the ${opts.size ?? "small"} stand-in corpus in ${dir} (seed ${want.seed}) ...`);
  // A generation killed earlier leaves its temporary directory beside this one (hundreds of MB at full size).
  for (const f of removeStaleTemporaries(dirname(dir))) {
    opts.log?.warn(`removed ${dirname(dir)}/${f}, left by a generation that died`);
  }
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const n = await writeMiniTimit(tmp, opts);
  if (exists) await Deno.remove(dir, { recursive: true });
  await Deno.rename(tmp, dir);
  const seconds = (performance.now() - t0) / 1000;
  opts.log?.info(`Generated the stand-in: ${n} utterances in ${seconds.toFixed(1)} s`);
  return { generated: true, utterances: n, seconds };
}

/** `deno task data [--size small|full] [--fraction F] [--out DIR] [--seed N] [--force]`: exit 2 on bad flags. */
async function main(argv: string[]): Promise<number> {
  const { parseArgs } = await import("node:util");
  const { Logger } = await import("../../runner/logger.ts");
  let v: Record<string, string | boolean | undefined>;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        size: { type: "string", default: "small" },
        fraction: { type: "string", default: "1" },
        out: { type: "string" },
        seed: { type: "string", default: "0" },
        force: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  const size = v.size as StandInSize, fraction = Number(v.fraction), seed = Number(v.seed);
  const bad = !STANDIN_SIZES.includes(size)
    ? `--size must be ${STANDIN_SIZES.join(" or ")}, got "${v.size}"`
    : !(fraction > 0 && fraction <= 1)
    ? `--fraction must be in (0, 1], got "${v.fraction}"`
    : size === "small" && fraction !== 1
    ? "--fraction applies to --size full"
    : !Number.isInteger(seed)
    ? `--seed expects an integer, got "${v.seed}"`
    : null;
  if (bad) {
    console.error(`error: ${bad}`);
    return 2;
  }
  const dir = (v.out as string | undefined) ?? defaultStandInDir(size, fraction);
  const r = await ensureMiniTimit(dir, {
    seed,
    size,
    fraction,
    force: v.force as boolean,
    log: new Logger(),
  });
  if (!r.generated) {
    console.error(
      `the ${size} stand-in is already up to date in ${dir} (${r.utterances} utterances); --force remakes it`,
    );
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

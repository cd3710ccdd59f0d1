/**
 * The noisy test sets of a TIMIT classifier run (`--test_noise`, `--snr_db`): for each noise and SNR, an
 * {@link AudioTransform} that adds that noise to every test utterance at that SNR (`lib/data/timit/noise.ts`)
 * before its features are computed, so noisy features are cached like clean ones and normalised with the
 * clean training statistics.
 *
 * {@link openNoises} opens the sources and checks noise files (sample rate, silence, long enough for the
 * longest test utterance) as soon as the corpus is scanned, before any features or training, so a bad file
 * fails the run at once; {@link noiseConditions} makes the test sets of each noise and SNR.
 */
import { Rng } from "../rng.ts";
import type { Logger } from "../runner/logger.ts";
import { loadAudio, type Utterance } from "../data/timit/corpus.ts";
import { type AudioTransform, SAMPLE_RATE, utteranceKey } from "../data/timit/features.ts";
import { addNoise, noiseSeed, type NoiseSource, type NoiseSpec, openNoise } from "../data/timit/noise.ts";
import type { SegmentClasses } from "./segment_classes.ts";
import type { TestCondition } from "./stages.ts";

/** Bumped whenever the noise a source draws changes, so cached noisy features are made again. */
export const NOISE_VERSION = 1;

/** An opened noise: its `--test_noise` item, its source, and what makes its audio (for cache keys). */
export interface OpenedNoise {
  readonly spec: NoiseSpec;
  readonly source: NoiseSource;
  readonly key: Readonly<Record<string, unknown>>;
}

export interface OpenNoiseOptions {
  /** Talkers summed into babble. */
  readonly talkers: number;
  /** The test utterances: the longest one is what a noise file must cover. */
  readonly testUtterances: readonly Utterance[];
  /**
   * Whose speech babble is made of: every utterance under TEST/ but the SA sentences (which every speaker
   * reads, so babble would repeat the target's words); never the target's speaker.
   */
  readonly talkerUtterances: readonly Utterance[];
}

/** The number of samples of the test utterance with the largest audio file (headers are fixed-size). */
async function longestUtterance(utts: readonly Utterance[]): Promise<number> {
  let best: Utterance | null = null, size = -1;
  for (const u of utts) {
    const s = (await Deno.stat(u.audioPath)).size;
    if (s > size) [best, size] = [u, s];
  }
  return best ? (await loadAudio(best.audioPath)).samples.length : 0;
}

/** SHA-256 (hex) of the paths, sizes and times of `files`. */
async function filesDigest(files: readonly string[]): Promise<string> {
  const rows = [];
  for (const f of files) {
    const st = await Deno.stat(f);
    rows.push([f, st.size, st.mtime?.getTime() ?? null]);
  }
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(rows)));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Opens every noise (see the module doc); throws naming a bad file before anything else is done. */
export async function openNoises(noises: readonly NoiseSpec[], o: OpenNoiseOptions): Promise<OpenedNoise[]> {
  if (noises.length === 0) return [];
  const maxLength = noises.some((n) => n.kind === "file") ? await longestUtterance(o.testUtterances) : 0;
  const talkers = o.talkerUtterances.filter((u) => !u.id.startsWith("sa"));
  const pool = talkers.map((u) => ({
    id: utteranceKey(u),
    speaker: u.speaker,
    load: async () => (await loadAudio(u.audioPath)).samples,
  }));
  const out: OpenedNoise[] = [];
  for (const spec of noises) {
    const source = await openNoise(spec, {
      sampleRate: SAMPLE_RATE,
      ...(maxLength > 0 && { maxLength }),
      babble: { pool, talkers: o.talkers },
    });
    const file = spec.path ? await Deno.stat(spec.path) : null;
    out.push({
      spec,
      source,
      key: {
        noise: spec.name,
        kind: spec.kind,
        version: NOISE_VERSION,
        ...(spec.kind === "babble" &&
          { talkers: o.talkers, pool: await filesDigest(talkers.map((u) => u.audioPath)) }),
        ...(file && { path: await Deno.realPath(spec.path!), size: file.size, mtime: file.mtime?.getTime() }),
      },
    });
  }
  return out;
}

/** Adds `noise` at `snrDb` to each utterance, every excerpt seeded by (`seed`, noise, utterance). */
export function noiseTransform(noise: OpenedNoise, snrDb: number, seed: number): AudioTransform {
  return {
    label: `${noise.spec.name}_${snrDb}dB`,
    key: { ...noise.key, snr_db: snrDb, seed },
    async apply(samples: Int16Array, u: Utterance) {
      const id = utteranceKey(u);
      const rng = new Rng(noiseSeed(seed, noise.spec, id));
      return addNoise(
        samples,
        await noise.source.noise(samples.length, rng, { id, speaker: u.speaker }),
        snrDb,
        u.audioPath,
      );
    },
  };
}

/** One {@link TestCondition} per noise and SNR (noise-major); each test set is made when it is its turn. */
export function noiseConditions(
  noises: readonly OpenedNoise[],
  snrs: readonly number[],
  o: {
    readonly seed: number;
    readonly changedTest: (transform: AudioTransform) => Promise<SegmentClasses>;
    readonly log?: Logger;
  },
): TestCondition[] {
  return noises.flatMap((noise) =>
    snrs.map((snrDb) => {
      const transform = noiseTransform(noise, snrDb, o.seed);
      return {
        noise: noise.spec.name,
        snrDb,
        key: transform.key,
        seg: () => {
          o.log?.info(`test set with ${noise.spec.name} noise at ${snrDb} dB SNR`);
          return o.changedTest(transform);
        },
      };
    })
  );
}

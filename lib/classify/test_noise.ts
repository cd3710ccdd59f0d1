/**
 * The noisy test sets of a TIMIT classifier run (`--test_noise`, `--snr_db`): for each noise and SNR, an
 * {@link AudioTransform} that adds that noise to every test utterance at that SNR (`lib/data/timit/noise.ts`)
 * before its features are computed, so noisy features are cached like clean ones and normalised with the
 * clean training statistics.
 *
 * Noise sources are opened, and noise files checked (sample rate, silence, long enough for the longest
 * test utterance), when the conditions are made: before any training, so a bad file fails the run at once.
 */
import { Rng } from "../rng.ts";
import type { Logger } from "../runner/logger.ts";
import { readAudio, type Utterance } from "../data/timit/corpus.ts";
import { type AudioTransform, SAMPLE_RATE, utteranceKey } from "../data/timit/features.ts";
import { addNoise, noiseSeed, type NoiseSource, type NoiseSpec, openNoise } from "../data/timit/noise.ts";
import type { SegmentClasses } from "./segment_classes.ts";
import type { TestCondition } from "./stages.ts";

export interface NoiseConditionOptions {
  /** Seeds every excerpt (with the noise and the utterance; not the SNR: see `noiseSeed`). */
  readonly seed: number;
  /** Talkers summed into babble. */
  readonly talkers: number;
  /** The test utterances: the longest one is what a noise file must cover. */
  readonly testUtterances: readonly Utterance[];
  /** Whose speech babble is made of (e.g. every utterance under TEST/; never the target's speaker). */
  readonly talkerUtterances: readonly Utterance[];
  /** The classes with their test split replaced by the changed audio. */
  readonly changedTest: (transform: AudioTransform) => Promise<SegmentClasses>;
  readonly log?: Logger;
}

const loadSamples = async (u: Utterance) => readAudio(await Deno.readFile(u.audioPath), u.audioPath).samples;

/** The number of samples of the test utterance with the largest audio file (headers are fixed-size). */
async function longestUtterance(utts: readonly Utterance[]): Promise<number> {
  let best: Utterance | null = null, size = -1;
  for (const u of utts) {
    const s = (await Deno.stat(u.audioPath)).size;
    if (s > size) [best, size] = [u, s];
  }
  return best ? (await loadSamples(best)).length : 0;
}

/** Adds `source` at `snrDb` to each utterance; what it does is its cache key. */
export async function noiseTransform(
  spec: NoiseSpec,
  source: NoiseSource,
  snrDb: number,
  o: Pick<NoiseConditionOptions, "seed" | "talkers">,
): Promise<AudioTransform> {
  const file = spec.path ? await Deno.stat(spec.path) : null;
  return {
    label: `${spec.name}_${snrDb}dB`,
    key: {
      noise: spec.name,
      kind: spec.kind,
      snr_db: snrDb,
      seed: o.seed,
      ...(spec.kind === "babble" && { talkers: o.talkers }),
      ...(file && { path: await Deno.realPath(spec.path!), size: file.size, mtime: file.mtime?.getTime() }),
    },
    async apply(samples: Int16Array, u: Utterance) {
      const id = utteranceKey(u);
      const noise = await source.noise(samples.length, new Rng(noiseSeed(o.seed, spec, id)), {
        id,
        speaker: u.speaker,
      });
      return addNoise(samples, noise, snrDb, u.audioPath);
    },
  };
}

/** One {@link TestCondition} per noise and SNR (noise-major), with every noise source opened and checked. */
export async function noiseConditions(
  noises: readonly NoiseSpec[],
  snrs: readonly number[],
  o: NoiseConditionOptions,
): Promise<TestCondition[]> {
  if (noises.length === 0) return [];
  const maxLength = noises.some((n) => n.kind === "file") ? await longestUtterance(o.testUtterances) : 0;
  const pool = o.talkerUtterances.map((u) => ({
    id: utteranceKey(u),
    speaker: u.speaker,
    load: () => loadSamples(u),
  }));
  const out: TestCondition[] = [];
  for (const spec of noises) {
    const source = await openNoise(spec, {
      sampleRate: SAMPLE_RATE,
      ...(maxLength > 0 && { maxLength }),
      babble: { pool, talkers: o.talkers },
    });
    for (const snrDb of snrs) {
      out.push({
        noise: spec.name,
        snrDb,
        seg: async () => {
          o.log?.info(`test set with ${spec.name} noise at ${snrDb} dB SNR`);
          return o.changedTest(await noiseTransform(spec, source, snrDb, o));
        },
      });
    }
  }
  return out;
}

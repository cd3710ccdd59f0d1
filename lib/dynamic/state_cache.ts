/**
 * Echo-state-network states computed once per data set.
 *
 * The ESN has no trainable parameters, so the state `h_{t-1}` that conditions frame t of a training
 * sequence is the same at every epoch. {@link EsnStateCache.build} encodes every sequence of the chosen
 * splits once (host-side sparse recurrence, see {@link EchoStateNetwork.encodePacked}) and keeps, per
 * sequence, its `length * N` float32 states; a {@link SequenceDataset} with the cache attached hands them
 * out with each batch, and the model uses them instead of re-running the ESN (a split whose states would
 * exceed the memory budget is left out, and its batches are encoded on the fly).
 *
 * Memory: 4 * N bytes per frame (4 kB at N = 1000: about 4.4 GB for the whole TIMIT training set, a
 * fraction of that for the frames of one phone class).
 */
import type { SequenceDataset, SplitName, StateProvider } from "../data/sequences.ts";
import type { EchoStateNetwork } from "../esn.ts";

/** What was cached for one split. */
export interface CacheReport {
  readonly split: SplitName;
  readonly sequences: number;
  readonly frames: number;
  readonly bytes: number;
  /** False when the split did not fit in the remaining budget. */
  readonly cached: boolean;
  readonly seconds: number;
}

/** Per-sequence ESN states of the splits of one data set, keyed by the ESN's fingerprint. */
export class EsnStateCache implements StateProvider {
  readonly dim: number;
  readonly key: string;
  #splits = new Map<SplitName, readonly Float32Array[]>();
  #bytes = 0;

  private constructor(esn: EchoStateNetwork) {
    this.dim = esn.esnDim;
    this.key = esn.fingerprint();
  }

  /**
   * Encodes the splits of `data` in order while they fit in `maxBytes` altogether (a split that does not
   * fit is skipped, a later smaller one may still be cached), and attaches the cache to `data`.
   */
  static attach(
    data: SequenceDataset,
    esn: EchoStateNetwork,
    maxBytes: number,
    splits: readonly SplitName[] = ["train", "val", "test"],
  ): { cache: EsnStateCache; report: CacheReport[] } {
    if (data.frameDim !== esn.frameDim) {
      throw new Error(`EsnStateCache: data frame_dim ${data.frameDim} != ESN frame_dim ${esn.frameDim}`);
    }
    const cache = new EsnStateCache(esn);
    const report: CacheReport[] = [];
    for (const split of splits) {
      const seqs = data.splits[split];
      const frames = data.frameCount(split);
      const bytes = 4 * frames * esn.esnDim;
      const t0 = performance.now();
      const fits = cache.#bytes + bytes <= maxBytes;
      if (fits) {
        cache.#splits.set(split, encodeAll(esn, seqs));
        cache.#bytes += bytes;
      }
      const seconds = (performance.now() - t0) / 1000;
      report.push({ split, sequences: seqs.length, frames, bytes, cached: fits, seconds });
    }
    data.useStates(cache);
    return { cache, report };
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  states(split: SplitName): readonly Float32Array[] | null {
    return this.#splits.get(split) ?? null;
  }
}

/** States of each sequence, encoded in chunks of about 64k frames (views into one array per chunk). */
function encodeAll(esn: EchoStateNetwork, seqs: readonly Float32Array[]): Float32Array[] {
  const d = esn.frameDim, n = esn.esnDim;
  const out: Float32Array[] = [];
  for (let i = 0; i < seqs.length;) {
    const lengths: number[] = [];
    const parts: Float32Array[] = [];
    let frames = 0;
    while (i < seqs.length && (frames === 0 || frames + seqs[i].length / d <= 65536)) {
      lengths.push(seqs[i].length / d);
      parts.push(seqs[i]);
      frames += seqs[i].length / d;
      i++;
    }
    const x = new Float32Array(frames * d);
    for (let k = 0, o = 0; k < parts.length; o += parts[k].length, k++) x.set(parts[k], o);
    const states = esn.encodePacked(x, lengths);
    for (let k = 0, f = 0; k < lengths.length; f += lengths[k], k++) {
      out.push(states.subarray(f * n, (f + lengths[k]) * n));
    }
  }
  return out;
}

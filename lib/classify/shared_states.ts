/**
 * Echo-state-network states shared by all per-class models of an experiment.
 *
 * The ESN is fixed and every class model is built with the same `esnSeed` (see `lib/dynamic/build.ts`), so
 * all class models (and the `gmm_esn` baseline with the same ESN keys) have the same reservoir, and the
 * state `h_{t-1}` of a frame is the same under every one of them. The pool computes the states of each
 * segment of a split once, on first request, and hands them to every model with that reservoir: training
 * class k encodes only class k's segments, and the evaluation, which scores every test segment under
 * every class model (K times), encodes the test split once instead of K times.
 *
 * Sharing is checked, not assumed: a model's network joins a pool entry only if its reservoir, input
 * weights and leaking rate equal the entry's exactly (not only their 32-bit fingerprint); otherwise it
 * gets an entry of its own. A `SequenceDataset` takes the states through its `StateProvider` interface,
 * labelled with the network's fingerprint, which the model checks before using them.
 *
 * Memory: 4 * N bytes per frame, within `maxBytes` over the whole pool; a request that does not fit is
 * refused (null: those batches are encoded on the fly) with a warning each time. Per-class training holds
 * one class's states at a time (`stages.ts` releases them after the class), so the budget needs the
 * largest class's frames, not the whole training set's: at TIMIT's size and esn_dim 1000, 1.8 GB for `sil`
 * against 4.4 GB for the training split alone (README, "The original protocol at full size, measured").
 */
import type { SplitName, StateProvider } from "../data/sequences.ts";
import type { EchoStateNetwork } from "../esn.ts";
import type { Logger } from "../runner/logger.ts";

/** Segment indices into the pool's splits. */
export type SplitIds = Partial<Record<SplitName, ArrayLike<number>>>;

interface Entry {
  readonly esn: EchoStateNetwork;
  readonly states: Map<SplitName, (Float32Array | undefined)[]>;
}

const equal = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** Whether two networks compute the same states (same sizes, leaking rate and weights, bit for bit). */
export function sameReservoir(a: EchoStateNetwork, b: EchoStateNetwork): boolean {
  if (a === b) return true;
  if (a.esnDim !== b.esnDim || a.frameDim !== b.frameDim || a.leakingRate !== b.leakingRate) return false;
  const ha = a.host(), hb = b.host();
  return ha.res.perRow === hb.res.perRow && equal(ha.res.values, hb.res.values) &&
    equal(ha.res.columns, hb.res.columns) && equal(ha.fbT, hb.fbT);
}

export class EsnStatePool {
  #entries: Entry[] = [];
  #bytes = 0;
  /** Frames encoded (each at most once per reservoir). */
  encodedFrames = 0;
  /** Frames handed out from the pool (counting every model that received them). */
  servedFrames = 0;

  /** `splits`: every segment of each split, `length * frameDim` values each. */
  constructor(
    readonly splits: Partial<Record<SplitName, readonly Float32Array[]>>,
    readonly maxBytes: number,
    readonly log?: Logger,
  ) {}

  /** Bytes of states held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of distinct reservoirs seen. */
  get reservoirs(): number {
    return this.#entries.length;
  }

  #entry(esn: EchoStateNetwork): Entry {
    let e = this.#entries.find((x) => sameReservoir(x.esn, esn));
    if (!e) this.#entries.push(e = { esn, states: new Map() });
    return e;
  }

  /**
   * States `h_0 .. h_{len-1}` of segments `ids` of `split` under `esn`'s reservoir, encoding those not yet
   * held; null when they do not fit the memory budget.
   */
  states(esn: EchoStateNetwork, split: SplitName, ids: ArrayLike<number>): Float32Array[] | null {
    const seqs = this.splits[split];
    if (!seqs) throw new Error(`EsnStatePool: no segments were given for split "${split}"`);
    const e = this.#entry(esn);
    let held = e.states.get(split);
    if (!held) e.states.set(split, held = new Array(seqs.length));
    const d = esn.frameDim, n = esn.esnDim;
    const missing: number[] = [], seen = new Set<number>();
    let frames = 0;
    for (let k = 0; k < ids.length; k++) {
      const i = ids[k];
      if (!(i >= 0 && i < seqs.length)) throw new Error(`EsnStatePool: ${split} has no segment ${i}`);
      if (!held[i] && !seen.has(i)) {
        seen.add(i);
        missing.push(i);
        frames += seqs[i].length / d;
      }
    }
    if (this.#bytes + 4 * frames * n > this.maxBytes) {
      const mb = (b: number) => (b / 2 ** 20).toFixed(1);
      this.log?.warn(
        `ESN STATES RECOMPUTED AT EVERY BATCH (several times slower): the ${frames} ${split} frames asked ` +
          `for need ${mb(4 * frames * n)} MiB, ${mb(this.#bytes)} of the ${mb(this.maxBytes)} MiB of ` +
          `esn_cache_mb are in use; raise esn_cache_mb`,
      );
      return null;
    }
    if (missing.length) {
      const x = new Float32Array(frames * d), lengths: number[] = [];
      let o = 0;
      for (const i of missing) {
        x.set(seqs[i], o);
        o += seqs[i].length;
        lengths.push(seqs[i].length / d);
      }
      const all = e.esn.encodePacked(x, lengths);
      for (let k = 0, f = 0; k < missing.length; f += lengths[k], k++) {
        held[missing[k]] = all.subarray(f * n, (f + lengths[k]) * n);
      }
      this.#bytes += all.byteLength;
      this.encodedFrames += frames;
    }
    const out = Array.from(ids, (i) => held[i]!);
    for (const s of out) this.servedFrames += s.length / n;
    return out;
  }

  /**
   * A provider for a dataset whose split `s` holds the segments `ids[s]` of the pool's split `s`, in that
   * order, for a model whose network is `esn`. States are fetched on first use of each split.
   */
  provider(esn: EchoStateNetwork, ids: SplitIds): StateProvider {
    const memo = new Map<SplitName, readonly Float32Array[] | null>();
    return {
      key: esn.fingerprint(),
      dim: esn.esnDim,
      states: (split) => {
        if (!memo.has(split)) {
          const want = ids[split];
          memo.set(split, want === undefined ? null : this.states(esn, split, want));
        }
        return memo.get(split)!;
      },
    };
  }

  /** Drops the held states of `split` (every reservoir), e.g. training states once a class is trained. */
  release(split: SplitName, ids?: ArrayLike<number>): void {
    for (const e of this.#entries) {
      const held = e.states.get(split);
      if (!held) continue;
      const drop = ids ? Array.from(ids) : held.map((_, i) => i);
      for (const i of drop) {
        if (held[i]) {
          // Chunks are views of one encodePacked array; count each view's share.
          this.#bytes -= held[i]!.byteLength;
          held[i] = undefined;
        }
      }
    }
  }
}

/**
 * Seeded, serialisable random numbers.
 *
 * All randomness in echoflow (data shuffling, noise, weight initialisation seeds, sampling) is drawn from
 * an {@link Rng}, so a run is reproducible from its seed, and a checkpoint stores the generator's state so
 * that a resumed run continues the same stream as an uninterrupted one. Backed by `seedrandom`'s
 * xor4096 generator (Brent's xorgens, period 2^4096 - 1).
 */
// @ts-types="npm:@types/seedrandom@3.0.8"
import seedrandom from "seedrandom";

/** Opaque, JSON-serialisable generator state. */
export type RngState = { readonly xor4096: unknown; readonly spare: number | null };

export class Rng {
  #gen: seedrandom.StatefulPRNG<seedrandom.State.Xor4096>;
  #spare: number | null = null;

  constructor(seed: number | string, state?: RngState) {
    if (state) {
      this.#gen = seedrandom.xor4096("", { state: state.xor4096 as seedrandom.State.Xor4096 });
      this.#spare = state.spare;
    } else {
      this.#gen = seedrandom.xor4096(String(seed), { state: true });
    }
  }

  /** Restores a generator from {@link Rng.state}. */
  static fromState(state: RngState): Rng {
    return new Rng(0, state);
  }

  /** The full state; `Rng.fromState(r.state())` continues exactly where `r` is. */
  state(): RngState {
    return { xor4096: structuredClone(this.#gen.state()), spare: this.#spare };
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.#gen.double();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A 31-bit seed for TensorFlow.js initialisers and random ops. */
  seed(): number {
    return this.int(2 ** 31 - 1);
  }

  /** Standard normal (Marsaglia polar method). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    let u: number, v: number, s: number;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.#spare = v * m;
    return u * m;
  }

  /** `n` standard normals as a Float32Array. */
  normals(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** Index drawn from unnormalised non-negative weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    let u = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    return weights.length - 1;
  }
}

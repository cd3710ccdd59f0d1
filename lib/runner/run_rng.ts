/**
 * The run's random number generator, restorable in place.
 *
 * Data and model builders may keep a reference to `ctx.rng`; on `--resume` the runner must move that
 * same object to the checkpoint's state, so a resumed run draws exactly what an uninterrupted one
 * would. {@link Rng} has no setter, so this subclass delegates every draw to an inner generator it can
 * swap. All derived draws (`int`, `seed`, `normals`, `permutation`, `categorical`) go through the
 * overridden `uniform` and `normal`.
 */
import { Rng, type RngState } from "../rng.ts";

/** An {@link Rng} whose state can be replaced in place with {@link ResumableRng.restore}. */
export class ResumableRng extends Rng {
  #inner: Rng;

  constructor(seed: number | string) {
    super(seed);
    this.#inner = new Rng(seed);
  }

  /** Moves this generator to `state` (from {@link Rng.state}). */
  restore(state: RngState): void {
    this.#inner = Rng.fromState(state);
  }

  override state(): RngState {
    return this.#inner.state();
  }

  override uniform(): number {
    return this.#inner.uniform();
  }

  override normal(): number {
    return this.#inner.normal();
  }
}

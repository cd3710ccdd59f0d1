/**
 * Element-wise closeness: `|actual_i - expected_i| <= atol + rtol * |expected_i|` for every entry i, the
 * form of numpy's `allclose`. A whole tensor's largest entry never scales the tolerance, so a small wrong
 * entry next to large ones fails.
 */
import { AssertionError } from "node:assert";

/** Absolute and relative tolerance of {@link assertAllClose}. */
export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/** The largest element-wise errors of `actual` against `expected` (lengths must agree). */
export function worstErrors(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  if (actual.length !== expected.length) {
    throw new AssertionError({ message: `${actual.length} values against ${expected.length}` });
  }
  let abs = 0, rel = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    abs = Math.max(abs, e);
    if (expected[i] !== 0) rel = Math.max(rel, e / Math.abs(expected[i]));
  }
  return { abs, rel };
}

/**
 * Asserts `|actual_i - expected_i| <= atol + rtol * |expected_i|` for every i (NaN fails), naming the entry
 * furthest outside its tolerance.
 */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({ message: `${what}: ${actual.length} values against ${expected.length}` });
  }
  let worst = -1, worstRatio = 1;
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (diff === 0) continue;
    const ratio = diff / (tol.atol + tol.rtol * Math.abs(expected[i]));
    if (!(ratio <= worstRatio)) [worst, worstRatio] = [i, ratio];
  }
  if (worst >= 0) {
    const [a, b] = [actual[worst], expected[worst]];
    throw new AssertionError({
      message: `${what}: entry ${worst} is ${a}, expected ${b}: |difference| ${Math.abs(a - b)} > ` +
        `atol ${tol.atol} + rtol ${tol.rtol} x ${Math.abs(b)}`,
    });
  }
}

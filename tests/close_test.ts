import assert from "node:assert/strict";
import { assertAllClose, worstErrors } from "./helpers/close.ts";

Deno.test("assertAllClose() checks every entry against atol + rtol |expected|", () => {
  const tol = { atol: 2e-5, rtol: 2e-4 };
  assertAllClose([200.01, 0.01, -3], [200, 0.01, -3], tol, "within");
  assertAllClose([1, 2], [1, 2], { atol: 0, rtol: 0 }, "equal, zero tolerance");
  // A small entry 5% off next to a large one: the largest |difference| over the largest |entry| (2.5e-6,
  // what the old max-normalised helpers measured) would pass; element-wise it is 25x outside.
  assert.throws(
    () => assertAllClose([200, 0.0105], [200, 0.01], tol, "small entry"),
    /small entry: entry 1 is 0\.0105, expected 0\.01: \|difference\| 0\.000(499|500)\d* > atol 0\.00002 \+ rtol 0\.0002 x 0\.01/,
  );
  assert.throws(() => assertAllClose([NaN], [1], tol, "nan"), /nan: entry 0 is NaN/);
  assert.throws(() => assertAllClose([1], [1, 2], tol, "lengths"), /lengths: 1 values against 2/);
});

Deno.test("worstErrors() gives the largest absolute and relative error", () => {
  assert.deepEqual(worstErrors([1, -2.5, 0.5], [1, -2, 0]), { abs: 0.5, rel: 0.25 });
});

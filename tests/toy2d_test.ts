import assert from "node:assert/strict";
import { sampleToy, TOY_NAMES } from "../lib/data/toy2d.ts";
import { Rng } from "../lib/rng.ts";

Deno.test("sampleToy() returns n finite 2-D points for every density", async (t) => {
  for (const name of TOY_NAMES) {
    await t.step(name, () => {
      const xy = sampleToy(name, 501, new Rng(0));
      assert.ok(xy instanceof Float32Array);
      assert.equal(xy.length, 1002);
      assert.ok(xy.every(Number.isFinite));
      // Not degenerate: both coordinates spread out.
      for (const c of [0, 1]) {
        const v = xy.filter((_, i) => i % 2 === c);
        assert.ok(Math.max(...v) - Math.min(...v) > 0.5, `${name} coordinate ${c} has no spread`);
      }
    });
  }
});

Deno.test("sampleToy() is fixed by the seed", () => {
  for (const name of TOY_NAMES) {
    assert.deepEqual(sampleToy(name, 64, new Rng(3)), sampleToy(name, 64, new Rng(3)), name);
    assert.notDeepEqual(sampleToy(name, 64, new Rng(3)), sampleToy(name, 64, new Rng(4)), name);
  }
});

Deno.test("sampleToy() rejects an unknown name, listing the valid ones", () => {
  assert.throws(
    () => sampleToy("moon", 10, new Rng(0)),
    /Unknown toy density "moon". Valid: moons, 8gaussians/,
  );
  assert.throws(() => sampleToy("moons", 0, new Rng(0)), /n must be a positive integer, got 0/);
});

Deno.test("moons without noise lie on the two unit half-circles of make_moons", () => {
  const xy = sampleToy("moons", 200, new Rng(1), { noise: 0 });
  let upper = 0;
  for (let i = 0; i < 200; i++) {
    const [x, y] = [xy[2 * i], xy[2 * i + 1]];
    // Outer moon: centre (0, 0), y >= 0. Inner moon: centre (1, 0.5), y <= 0.5.
    const outer = Math.abs(Math.hypot(x, y) - 1) < 1e-5 && y >= -1e-6;
    const inner = Math.abs(Math.hypot(x - 1, y - 0.5) - 1) < 1e-5 && y <= 0.5 + 1e-6;
    assert.ok(outer || inner, `point (${x}, ${y}) is on neither moon`);
    if (outer && !inner) upper++;
  }
  assert.ok(upper >= 95 && upper <= 100, `${upper} points only on the outer moon`);
});

Deno.test("moons noise has the requested standard deviation", () => {
  const n = 4000, clean = sampleToy("moons", n, new Rng(2), { noise: 0 });
  const noisy = sampleToy("moons", n, new Rng(2), { noise: 0.05 });
  // Same seed: same shuffle, then noise is added; the difference is the noise itself.
  let ss = 0;
  for (let i = 0; i < 2 * n; i++) ss += (noisy[i] - clean[i]) ** 2;
  const std = Math.sqrt(ss / (2 * n));
  assert.ok(Math.abs(std - 0.05) < 0.003, `noise std ${std}`);
});

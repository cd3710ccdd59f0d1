/**
 * Seeded 2-D toy densities, by name, as in the flow literature: `moons` follows scikit-learn's
 * `make_moons`, `circles` its `make_circles`; the others follow FFJORD's `toy_data.py` (Grathwohl et al.
 * 2019), scales included. All randomness comes from the given {@link Rng}, so a seed fixes the points.
 */
import type { Rng } from "../rng.ts";

export const TOY_NAMES = [
  "moons",
  "8gaussians",
  "checkerboard",
  "rings",
  "2spirals",
  "circles",
  "pinwheel",
] as const;
export type ToyName = (typeof TOY_NAMES)[number];

export interface ToyOptions {
  /**
   * Std of the Gaussian noise added to each coordinate. Defaults: moons 0.05, circles 0.08 (scaled by 3
   * with the points), rings 0.08, 2spirals 0.1, 8gaussians 0.5
   * (cluster std before the /sqrt 2 scale), pinwheel 0.3 (radial std); checkerboard has no noise.
   */
  readonly noise?: number;
}

const DEFAULT_NOISE: Record<ToyName, number> = {
  moons: 0.05,
  "8gaussians": 0.5,
  checkerboard: 0,
  rings: 0.08,
  "2spirals": 0.1,
  circles: 0.08,
  pinwheel: 0.3,
};

/** `n` evenly spaced values from `a` to `b` (`endpoint`: include `b`, as numpy's linspace). */
function linspace(a: number, b: number, n: number, endpoint = true): number[] {
  const step = n <= 1 ? 0 : (b - a) / (endpoint ? n - 1 : n);
  return Array.from({ length: n }, (_, i) => a + i * step);
}

/** Shuffles the points (pairs) of `xy` in place with `rng`. */
function shufflePoints(xy: Float32Array, rng: Rng): Float32Array {
  const perm = rng.permutation(xy.length / 2);
  const src = xy.slice();
  for (let i = 0; i < perm.length; i++) [xy[2 * i], xy[2 * i + 1]] = [src[2 * perm[i]], src[2 * perm[i] + 1]];
  return xy;
}

function addNoise(xy: Float32Array, std: number, rng: Rng): Float32Array {
  if (std > 0) { for (let i = 0; i < xy.length; i++) xy[i] += std * rng.normal(); }
  return xy;
}

function fromPoints(pts: ReadonlyArray<readonly [number, number]>): Float32Array {
  const xy = new Float32Array(pts.length * 2);
  pts.forEach(([x, y], i) => [xy[2 * i], xy[2 * i + 1]] = [x, y]);
  return xy;
}

function moons(n: number, noise: number, rng: Rng): Float32Array {
  const nOut = Math.floor(n / 2), nIn = n - nOut;
  const outer = linspace(0, Math.PI, nOut).map((t) => [Math.cos(t), Math.sin(t)] as const);
  const inner = linspace(0, Math.PI, nIn).map((t) => [1 - Math.cos(t), 1 - Math.sin(t) - 0.5] as const);
  return addNoise(shufflePoints(fromPoints([...outer, ...inner]), rng), noise, rng);
}

function circles(n: number, noise: number, rng: Rng): Float32Array {
  const nOut = Math.floor(n / 2), nIn = n - nOut;
  const ring = (m: number, r: number) =>
    linspace(0, 2 * Math.PI, m, false).map((t) => [3 * r * Math.cos(t), 3 * r * Math.sin(t)] as const);
  return addNoise(shufflePoints(fromPoints([...ring(nOut, 1), ...ring(nIn, 0.5)]), rng), noise * 3, rng);
}

function rings(n: number, noise: number, rng: Rng): Float32Array {
  const m = Math.floor(n / 4), sizes = [m, m, m, n - 3 * m], radii = [1, 0.75, 0.5, 0.25];
  const pts = sizes.flatMap((s, k) =>
    linspace(0, 2 * Math.PI, s, false).map((t) =>
      [3 * radii[k] * Math.cos(t), 3 * radii[k] * Math.sin(t)] as const
    )
  );
  return addNoise(shufflePoints(fromPoints(pts), rng), noise, rng);
}

function eightGaussians(n: number, noise: number, rng: Rng): Float32Array {
  const r = 1 / Math.SQRT2;
  const centers = [[1, 0], [-1, 0], [0, 1], [0, -1], [r, r], [r, -r], [-r, r], [-r, -r]];
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const [cx, cy] = centers[rng.int(8)];
    xy[2 * i] = (noise * rng.normal() + 4 * cx) / 1.414;
    xy[2 * i + 1] = (noise * rng.normal() + 4 * cy) / 1.414;
  }
  return xy;
}

function checkerboard(n: number, rng: Rng): Float32Array {
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const x1 = rng.uniform() * 4 - 2;
    const x2 = rng.uniform() - rng.int(2) * 2 + (((Math.floor(x1) % 2) + 2) % 2);
    [xy[2 * i], xy[2 * i + 1]] = [2 * x1, 2 * x2];
  }
  return xy;
}

function twoSpirals(n: number, noise: number, rng: Rng): Float32Array {
  const half = Math.floor(n / 2);
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const t = (Math.sqrt(rng.uniform()) * 540 * 2 * Math.PI) / 360;
    const sign = i < half ? 1 : -1;
    xy[2 * i] = (sign * (-Math.cos(t) * t + rng.uniform() * 0.5)) / 3 + noise * rng.normal();
    xy[2 * i + 1] = (sign * (Math.sin(t) * t + rng.uniform() * 0.5)) / 3 + noise * rng.normal();
  }
  return shufflePoints(xy, rng);
}

function pinwheel(n: number, noise: number, rng: Rng): Float32Array {
  const classes = 5, rate = 0.25, tangential = 0.1;
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor((i * classes) / n);
    const f0 = noise * rng.normal() + 1, f1 = tangential * rng.normal();
    const a = (2 * Math.PI * k) / classes + rate * Math.exp(f0);
    // numpy's einsum("ti,tij->tj") with rotation [[cos, -sin], [sin, cos]]: row vector times the matrix.
    xy[2 * i] = 2 * (f0 * Math.cos(a) + f1 * Math.sin(a));
    xy[2 * i + 1] = 2 * (-f0 * Math.sin(a) + f1 * Math.cos(a));
  }
  return shufflePoints(xy, rng);
}

/**
 * `n` points of the named toy density as a row-major Float32Array `[n * 2]` (x0, y0, x1, y1, ...).
 * Throws for an unknown name, listing the valid ones.
 */
export function sampleToy(name: string, n: number, rng: Rng, opts: ToyOptions = {}): Float32Array {
  if (!(TOY_NAMES as readonly string[]).includes(name)) {
    throw new Error(`Unknown toy density "${name}". Valid: ${TOY_NAMES.join(", ")}`);
  }
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`sampleToy: n must be a positive integer, got ${n}`);
  const toy = name as ToyName;
  const noise = opts.noise ?? DEFAULT_NOISE[toy];
  if (!(noise >= 0)) throw new Error(`sampleToy: noise must be >= 0, got ${noise}`);
  switch (toy) {
    case "moons":
      return moons(n, noise, rng);
    case "8gaussians":
      return eightGaussians(n, noise, rng);
    case "checkerboard":
      return checkerboard(n, rng);
    case "rings":
      return rings(n, noise, rng);
    case "2spirals":
      return twoSpirals(n, noise, rng);
    case "circles":
      return circles(n, noise, rng);
    case "pinwheel":
      return pinwheel(n, noise, rng);
  }
}

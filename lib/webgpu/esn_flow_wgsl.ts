/**
 * WGSL sources of the ESN-conditioned flow's kernels (`esn_flow_device.ts` runs them): the maths of
 * `lib/dynamic/fused_flow.ts` (its module doc has the formulas), as few kernels as the data dependencies
 * allow. A frame is kept as its two parts (A = dimensions `0..split-1`, B = the rest); layer i runs coupling
 * 0 (changes A given B) then coupling 1; the data-to-latent map runs layer L-1 first.
 *
 * - `project`: `hc = h W_1h + c_1` of all layers, a tiled product (32 x 32 outputs per workgroup of 8 x 8
 *   invocations).
 * - `forward`: one invocation per frame runs every coupling and writes `log p(x | h)`; while training it
 *   also writes the tape the backward pass needs (each coupling's kept input, ReLU outputs, tanh slope and
 *   `z - mu`, and the latent).
 * - `backward`: one invocation per frame walks the couplings in reverse with `g = d loss / d log p` and
 *   writes every per-frame delta (`t = dz' exp(-sm)`, the pre-tanh delta, each layer's pre-ReLU delta, the
 *   context delta, the rescale terms and `dx`).
 * - `products`: every weight gradient is a sum over frames of an outer product (or, for a bias, of a delta):
 *   one launch computes all of them, 32 x 32 outputs per workgroup, from a table of products. With
 *   `accumulate` set it adds to the gradients (a batch longer than the device's buffers, in chunks).
 * - `diagonals`: the Toeplitz first layers' parameter gradients, sums of `dW_1^T` along its diagonals.
 * - `loss`, `norm`, `adam`: the batch loss, the global gradient norm with Adam's bias corrections, and the
 *   Adam update of all parameters in one flat buffer (as `lib/runner/adam.ts`), which writes the moments
 *   and running powers into new buffers (they belong to tfjs tensors, which are never written in place).
 *
 * Per-frame arrays on the device are feature-major (`[feature][rowStride]`), so consecutive invocations
 * (frames) touch consecutive addresses. Sizes are constants of the source, generated per model; the number
 * of frames is a uniform.
 */

/** Sizes of one ESN-conditioned flow. */
export interface FlowShape {
  /** Frame dimension D. */
  readonly dim: number;
  /** The layer mask's ones: dimensions `0..split-1` (floor(D / 2)). */
  readonly split: number;
  /** Flow layers L. */
  readonly numLayers: number;
  /** Conditioner width l. */
  readonly width: number;
  /** Hidden `l -> l` layers after the first. */
  readonly numHidden: number;
  /** Context (ESN state) dimension N. */
  readonly contextDim: number;
  /** Toeplitz first layer (`p[i - j + D + N - 1]`) rather than a dense `[D + N, l]` weight. */
  readonly toeplitz: boolean;
}

/**
 * Where each parameter sits in the flat parameter buffer: the order of `EsnFlow.parameters()` (layer 0's
 * first layer, its bias, hidden weight and bias pairs, slope weight and bias, intercept weight and bias,
 * then layer 1, ..., then the shared rescale). Offsets inside a layer are relative to its start.
 */
export class ThetaLayout {
  readonly first = 0;
  readonly firstSize: number;
  readonly firstBias: number;
  readonly hidden: number;
  readonly hiddenStride: number;
  readonly slopeW: number;
  readonly slopeB: number;
  readonly interceptW: number;
  readonly interceptB: number;
  readonly layerStride: number;
  readonly rescale: number;
  readonly total: number;
  /** The size of every parameter tensor in order. */
  readonly sizes: readonly number[];

  constructor(readonly shape: FlowShape) {
    const { dim: d, width: l, numHidden: h, contextDim: n, numLayers: L } = shape;
    this.firstSize = shape.toeplitz ? d + n + l - 1 : (d + n) * l;
    this.firstBias = this.firstSize;
    this.hidden = this.firstBias + l;
    this.hiddenStride = l * l + l;
    this.slopeW = this.hidden + h * this.hiddenStride;
    this.slopeB = this.slopeW + l * d;
    this.interceptW = this.slopeB + d;
    this.interceptB = this.interceptW + l * d;
    this.layerStride = this.interceptB + d;
    this.rescale = L * this.layerStride;
    this.total = this.rescale + d;
    const layer = [
      this.firstSize,
      l,
      ...Array.from({ length: h }, () => [l * l, l]).flat(),
      l * d,
      d,
      l * d,
      d,
    ];
    this.sizes = [...Array.from({ length: L }, () => layer).flat(), d];
  }
}

/** Feature offsets of the per-frame arrays (tape and deltas), in units of rows (module doc). */
export class FrameLayout {
  /** Tape features per coupling c (kept input, ReLU outputs, slope, z - mu). */
  readonly tapeCoupling: readonly [number, number];
  readonly tapeLayer: number;
  /** The latent z (D features) after the last coupling. */
  readonly latent: number;
  readonly tapeFeatures: number;
  /** Delta features per coupling c (t, pre-tanh delta, pre-ReLU deltas). */
  readonly deltaCoupling: readonly [number, number];
  readonly deltaLayer: number;
  /** Context deltas `d hc` of every layer (L * l features). */
  readonly contextDelta: number;
  /** Per-frame rescale gradient terms (D features). */
  readonly rescaleDelta: number;
  /** `d loss / d x` (D features). */
  readonly dx: number;
  readonly deltaFeatures: number;

  constructor(readonly shape: FlowShape) {
    const { dim: d, split: a, width: l, numHidden: h, numLayers: L } = shape;
    const b = d - a, q = (h + 1) * l;
    this.tapeCoupling = [b + q + 2 * a, a + q + 2 * b];
    this.tapeLayer = this.tapeCoupling[0] + this.tapeCoupling[1];
    this.latent = L * this.tapeLayer;
    this.tapeFeatures = this.latent + d;
    this.deltaCoupling = [2 * a + q, 2 * b + q];
    this.deltaLayer = this.deltaCoupling[0] + this.deltaCoupling[1];
    this.contextDelta = L * this.deltaLayer;
    this.rescaleDelta = this.contextDelta + L * l;
    this.dx = this.rescaleDelta + d;
    this.deltaFeatures = this.dx + d;
  }

  /** Tape offset of coupling c of the `ii`-th layer in data-to-latent order (layer L-1-ii). */
  tape(ii: number, c: number): number {
    return ii * this.tapeLayer + c * this.tapeCoupling[0];
  }

  /** Delta offset of coupling c of layer i. */
  delta(i: number, c: number): number {
    return i * this.deltaLayer + c * this.deltaCoupling[0];
  }
}

/** Where a product reads a per-frame operand: the tape, the deltas (feature-major), `h` (row-major), or 1. */
export const enum Source {
  Tape = 0,
  Deltas = 1,
  States = 2,
  Ones = 3,
}

/** One operand column range: `source` features `at..`. */
export interface Operand {
  readonly source: Source;
  readonly at: number;
}

/**
 * `out[a * rowStride + (b % block) * colStride + floor(b / block) * blockStride] = sign * sum_terms
 * sum_frames A[r, a] B[r, b]` for `a < rows`, `b < cols`, with `out` the gradient buffer at `at` (a
 * weight's gradient, or a bias's with A = 1). Column blocks let one product fill the same part of every
 * layer (`block` = l columns per layer, `blockStride` between layers); by default one block.
 */
export interface Product {
  readonly rows: number;
  readonly cols: number;
  readonly terms: readonly (readonly [Operand, Operand])[];
  readonly at: number;
  readonly rowStride: number;
  readonly colStride: number;
  readonly sign: 1 | -1;
  readonly block?: number;
  readonly blockStride?: number;
}

/** Words per product in the table the `products` kernel reads (19 used). */
export const PRODUCT_WORDS = 20;
/** Outputs per workgroup side in the tiled kernels (8 x 8 invocations of 4 x 4 outputs each). */
export const TILE = 32;
/** Invocations per workgroup of the tiled kernels. */
export const TILED_GROUP = 64;
/** Summed-over entries per shared-memory step of the tiled kernels (two 64 x 32 tiles: 16 KiB). */
export const CHUNK = 64;
/** Invocations per workgroup of the per-frame kernels. */
export const ROW_GROUP = 64;
/** Invocations of the single-workgroup reductions. */
export const REDUCE_GROUP = 256;
/** The most workgroups along one dispatch dimension (WebGPU's default limit). */
export const MAX_GROUPS = 65535;

/**
 * The products table the `products` kernel reads, `PRODUCT_WORDS` u32 per product: first workgroup, rows,
 * cols, column tiles, terms, output offset, row and column strides, sign (f32 bits), then per term the left
 * operand's source and feature and the right one's (two terms), the column block and the block stride. Also
 * the number of workgroups it launches.
 */
export function productTable(
  products: readonly Product[],
): { table: Uint32Array<ArrayBuffer>; workgroups: number } {
  const table = new Uint32Array(Math.max(1, products.length) * PRODUCT_WORDS);
  const f32 = new Float32Array(1), bits = new Uint32Array(f32.buffer);
  let start = 0;
  products.forEach((p, k) => {
    if (p.terms.length < 1 || p.terms.length > 2) {
      throw new Error(`productTable: a product has 1 or 2 terms, got ${p.terms.length}`);
    }
    const tilesB = Math.ceil(p.cols / TILE), tiles = Math.ceil(p.rows / TILE) * tilesB;
    f32[0] = p.sign;
    const terms = p.terms.flatMap(([a, b]) => [a.source, a.at, b.source, b.at]);
    while (terms.length < 8) terms.push(0);
    table.set(
      [start, p.rows, p.cols, tilesB, p.terms.length, p.at, p.rowStride, p.colStride, bits[0], ...terms],
      k * PRODUCT_WORDS,
    );
    table.set([p.block ?? p.cols, p.blockStride ?? 0], k * PRODUCT_WORDS + 17);
    start += tiles;
  });
  return { table, workgroups: start };
}

/** Workgroups `[x, y]` for `count` along x, folded into y past {@link MAX_GROUPS}. */
export function grid(count: number): [number, number] {
  return count <= MAX_GROUPS ? [Math.max(1, count), 1] : [MAX_GROUPS, Math.ceil(count / MAX_GROUPS)];
}

/** The constants every kernel shares. */
function constants(s: FlowShape, t: ThetaLayout, f: FrameLayout): string {
  const { dim: d, split: a, width: l, numHidden: h, contextDim: n, numLayers: L } = s;
  const c = (name: string, v: number) => `const ${name}: u32 = ${v}u;`;
  return [
    c("D", d),
    c("SPLIT", a),
    c("P1", d - a),
    c("PMAX", Math.max(a, d - a)),
    c("L", L),
    c("LW", l),
    c("H", h),
    c("N", n),
    c("INDIM", d + n),
    c("LL", L * l),
    c("LAYER", t.layerStride),
    c("O_FIRST", t.first),
    c("O_FIRST_B", t.firstBias),
    c("O_HID", t.hidden),
    c("HID_STRIDE", t.hiddenStride),
    c("O_SW", t.slopeW),
    c("O_SB", t.slopeB),
    c("O_MW", t.interceptW),
    c("O_MB", t.interceptB),
    c("O_RS", t.rescale),
    c("T0", f.tapeCoupling[0]),
    c("TL", f.tapeLayer),
    c("ZF", f.latent),
    c("E0", f.deltaCoupling[0]),
    c("EL", f.deltaLayer),
    c("DHC", f.contextDelta),
    c("DRS", f.rescaleDelta),
    c("DX", f.dx),
    `const HALF_D_LOG2PI: f32 = ${(0.5 * d * Math.log(2 * Math.PI)).toPrecision(9)};`,
  ].join("\n");
}

/** `W_1^T[j, u]` of the layer whose parameters start at `lb`, Toeplitz or dense. */
function firstWeight(s: FlowShape): string {
  const index = s.toeplitz ? "lb + O_FIRST + u + INDIM - 1u - j" : "lb + O_FIRST + j * LW + u";
  return `fn w1t(lb: u32, j: u32, u: u32) -> f32 { return theta[${index}]; }`;
}

/** tanh without overflow for large |x| (`exp(2x)` is inf there on some drivers; tfjs-webgpu does the same). */
const TANH =
  `fn tanh_(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }`;

/**
 * The part a coupling changes (`at`, `size`) and the one it keeps: coupling 0 changes A = `0..SPLIT-1`,
 * coupling 1 changes B.
 */
const PARTS = `
fn changedAt(c: u32) -> u32 { return select(0u, SPLIT, c == 1u); }
fn changedSize(c: u32) -> u32 { return select(SPLIT, P1, c == 1u); }
fn keptAt(c: u32) -> u32 { return select(SPLIT, 0u, c == 1u); }
fn keptSize(c: u32) -> u32 { return select(P1, SPLIT, c == 1u); }`;

/**
 * The tiled products' shared tiles (`[CHUNK][TILE]`, the summed-over index first) and their inner step:
 * invocation t accumulates the 4 x 4 outputs at rows `(t / 8) * 4 ..` and columns `(t % 8) * 4 ..`.
 */
const TILED = `
var<workgroup> tileA: array<array<f32, ${TILE}>, ${CHUNK}>;
var<workgroup> tileB: array<array<f32, ${TILE}>, ${CHUNK}>;
fn accumulate(acc: ptr<function, array<vec4<f32>, 4>>, t: u32) {
  let ra = (t / 8u) * 4u;
  let cb = (t % 8u) * 4u;
  for (var k = 0u; k < ${CHUNK}u; k++) {
    let b = vec4<f32>(tileB[k][cb], tileB[k][cb + 1u], tileB[k][cb + 2u], tileB[k][cb + 3u]);
    (*acc)[0] += tileA[k][ra] * b;
    (*acc)[1] += tileA[k][ra + 1u] * b;
    (*acc)[2] += tileA[k][ra + 2u] * b;
    (*acc)[3] += tileA[k][ra + 3u] * b;
  }
}`;

const ROW_PARAMS = `
struct Rows { rows: u32, rowStride: u32, train: u32, g: f32 }
`;

/**
 * The binding declarations of a kernel, in the order its launches pass the buffers: storage arrays named
 * as given (`f32` unless `[name, type]`; a trailing `!` makes one writable), then the uniform `u`.
 */
function bindings(storage: readonly (string | readonly [string, string])[], uniform: string): string {
  const decls = storage.map((entry, i) => {
    const [raw, type] = typeof entry === "string" ? [entry, "array<f32>"] : entry;
    const access = raw.endsWith("!") ? "read_write" : "read";
    return `@group(0) @binding(${i}) var<storage, ${access}> ${raw.replace("!", "")}: ${type};`;
  });
  return [...decls, `@group(0) @binding(${storage.length}) var<uniform> u: ${uniform};`].join("\n");
}

/** All kernel sources of one flow shape. */
export function flowKernels(shape: FlowShape): {
  project: string;
  forward: string;
  backward: string;
  products: string;
  diagonals: string;
  loss: string;
  norm: string;
  adam: string;
} {
  const theta = new ThetaLayout(shape), frames = new FrameLayout(shape);
  const head = [constants(shape, theta, frames), TANH, PARTS, ROW_PARAMS].join("\n");
  const w1t = firstWeight(shape);
  // The per-frame kernels' entry: invocation r handles frame r (rs: the feature-major arrays' row stride).
  const perFrame = `${w1t}
@compute @workgroup_size(${ROW_GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= u.rows) { return; }
  let rs = u.rowStride;`;

  const project = `${head}
${bindings(["theta", "h", "hc!"], "Rows")}
${w1t}
${TILED}
// hc[col][r] = c_1 + sum_n h[r, n] W_1^T[D + n, col % LW] of layer col / LW (feature-major).
@compute @workgroup_size(${TILED_GROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r0 = wg.x * ${TILE}u;
  let c0 = wg.y * ${TILE}u;
  var acc: array<vec4<f32>, 4>;
  for (var n0 = 0u; n0 < N; n0 += ${CHUNK}u) {
    for (var i = 0u; i < ${(TILE * CHUNK) / TILED_GROUP}u; i++) {
      let idx = t + ${TILED_GROUP}u * i;
      // Consecutive invocations: consecutive n of a row of h, consecutive columns of W.
      let r = r0 + idx / ${CHUNK}u;
      let n = n0 + idx % ${CHUNK}u;
      tileA[idx % ${CHUNK}u][idx / ${CHUNK}u] = select(0.0, h[r * N + n], r < u.rows && n < N);
      let col = c0 + idx % ${TILE}u;
      let nw = n0 + idx / ${TILE}u;
      tileB[idx / ${TILE}u][idx % ${TILE}u] =
        select(0.0, w1t((col / LW) * LAYER, D + nw, col % LW), col < LL && nw < N);
    }
    workgroupBarrier();
    accumulate(&acc, t);
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + (t / 8u) * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = c0 + (t % 8u) * 4u + j;
      if (r < u.rows && col < LL) {
        hc[col * u.rowStride + r] = acc[i][j] + theta[(col / LW) * LAYER + O_FIRST_B + col % LW];
      }
    }
  }
}`;

  const forward = `${head}
${bindings(["theta", "x", "hc", "tape!", "logp!"], "Rows")}
${perFrame}
  let train = u.train == 1u;
  var z: array<f32, D>;
  var q: array<f32, LW>;
  var q2: array<f32, LW>;
  for (var j = 0u; j < D; j++) { z[j] = x[r * D + j]; }
  var smSum = 0.0;
  for (var ii = 0u; ii < L; ii++) {
    let i = L - 1u - ii;
    let lb = i * LAYER;
    for (var c = 0u; c < 2u; c++) {
      let ca = changedAt(c); let cn = changedSize(c); let ka = keptAt(c); let kn = keptSize(c);
      let tb = ii * TL + c * T0;
      for (var o = 0u; o < LW; o++) {
        var acc = hc[(i * LW + o) * rs + r];
        for (var j = 0u; j < kn; j++) { acc += z[ka + j] * w1t(lb, ka + j, o); }
        q[o] = max(acc, 0.0);
      }
      if (train) {
        for (var j = 0u; j < kn; j++) { tape[(tb + j) * rs + r] = z[ka + j]; }
        for (var o = 0u; o < LW; o++) { tape[(tb + kn + o) * rs + r] = q[o]; }
      }
      for (var k = 0u; k < H; k++) {
        let wo = lb + O_HID + k * HID_STRIDE;
        for (var o = 0u; o < LW; o++) {
          var acc = theta[wo + LW * LW + o];
          for (var v = 0u; v < LW; v++) { acc += q[v] * theta[wo + v * LW + o]; }
          q2[o] = max(acc, 0.0);
        }
        for (var o = 0u; o < LW; o++) { q[o] = q2[o]; }
        if (train) {
          for (var o = 0u; o < LW; o++) { tape[(tb + kn + (k + 1u) * LW + o) * rs + r] = q[o]; }
        }
      }
      let sb = tb + kn + (H + 1u) * LW;
      for (var j = 0u; j < cn; j++) {
        let col = ca + j;
        var s = theta[lb + O_SB + col];
        var mu = theta[lb + O_MB + col];
        for (var v = 0u; v < LW; v++) {
          s += q[v] * theta[lb + O_SW + v * D + col];
          mu += q[v] * theta[lb + O_MW + v * D + col];
        }
        s = tanh_(s);
        let sm = s * theta[O_RS + col];
        let d = z[col] - mu;
        z[col] = d * exp(-sm);
        smSum += sm;
        if (train) {
          tape[(sb + j) * rs + r] = s;
          tape[(sb + cn + j) * rs + r] = d;
        }
      }
    }
  }
  var sq = 0.0;
  for (var j = 0u; j < D; j++) {
    sq += z[j] * z[j];
    if (train) { tape[(ZF + j) * rs + r] = z[j]; }
  }
  logp[r] = -0.5 * sq - HALF_D_LOG2PI - smSum;
}`;

  const backward = `${head}
${bindings(["theta", "tape", "deltas!"], "Rows")}
${perFrame}
  let g = u.g;
  var dz: array<f32, D>;
  var drs: array<f32, D>;
  var dq: array<f32, LW>;
  var da: array<f32, LW>;
  var dhc: array<f32, LW>;
  var tc: array<f32, PMAX>;
  var dp: array<f32, PMAX>;
  for (var j = 0u; j < D; j++) { dz[j] = -g * tape[(ZF + j) * rs + r]; drs[j] = 0.0; }
  for (var i = 0u; i < L; i++) {
    let ii = L - 1u - i;
    let lb = i * LAYER;
    for (var o = 0u; o < LW; o++) { dhc[o] = 0.0; }
    for (var cc = 0u; cc < 2u; cc++) {
      let c = 1u - cc;
      let ca = changedAt(c); let cn = changedSize(c); let ka = keptAt(c); let kn = keptSize(c);
      let tb = ii * TL + c * T0;
      let eb = i * EL + c * E0;
      let sb = tb + kn + (H + 1u) * LW;
      for (var j = 0u; j < cn; j++) {
        let col = ca + j;
        let s = tape[(sb + j) * rs + r];
        let d = tape[(sb + cn + j) * rs + r];
        let scale = theta[O_RS + col];
        let t = dz[col] * exp(-s * scale);
        let dsm = -g - t * d;
        drs[col] += dsm * s;
        let dpre = dsm * scale * (1.0 - s * s);
        tc[j] = t;
        dp[j] = dpre;
        deltas[(eb + j) * rs + r] = t;
        deltas[(eb + cn + j) * rs + r] = dpre;
        dz[col] = t;
      }
      for (var o = 0u; o < LW; o++) {
        var acc = 0.0;
        for (var j = 0u; j < cn; j++) {
          acc += dp[j] * theta[lb + O_SW + o * D + ca + j] - tc[j] * theta[lb + O_MW + o * D + ca + j];
        }
        dq[o] = acc;
      }
      for (var kk = 0u; kk < H; kk++) {
        let k = H - kk;
        for (var o = 0u; o < LW; o++) {
          da[o] = select(0.0, dq[o], tape[(tb + kn + k * LW + o) * rs + r] > 0.0);
          deltas[(eb + 2u * cn + k * LW + o) * rs + r] = da[o];
        }
        let wo = lb + O_HID + (k - 1u) * HID_STRIDE;
        for (var v = 0u; v < LW; v++) {
          var acc = 0.0;
          for (var o = 0u; o < LW; o++) { acc += da[o] * theta[wo + v * LW + o]; }
          dq[v] = acc;
        }
      }
      for (var o = 0u; o < LW; o++) {
        da[o] = select(0.0, dq[o], tape[(tb + kn + o) * rs + r] > 0.0);
        deltas[(eb + 2u * cn + o) * rs + r] = da[o];
        dhc[o] += da[o];
      }
      for (var j = 0u; j < kn; j++) {
        var acc = dz[ka + j];
        for (var o = 0u; o < LW; o++) { acc += da[o] * w1t(lb, ka + j, o); }
        dz[ka + j] = acc;
      }
    }
    for (var o = 0u; o < LW; o++) { deltas[(DHC + i * LW + o) * rs + r] = dhc[o]; }
  }
  for (var j = 0u; j < D; j++) {
    deltas[(DRS + j) * rs + r] = drs[j];
    deltas[(DX + j) * rs + r] = dz[j];
  }
}`;

  const products = `${head}
struct Prod { rows: u32, rowStride: u32, count: u32, accumulate: u32 }
${bindings([["table", "array<u32>"], "tape", "deltas", "h", "grads!"], "Prod")}
${TILED}
// Operand (source, feature at + f) at frame r: 0 when f >= size or r >= rows.
fn operand(source: u32, at: u32, f: u32, size: u32, r: u32) -> f32 {
  if (f >= size || r >= u.rows) { return 0.0; }
  switch (source) {
    case 0u: { return tape[(at + f) * u.rowStride + r]; }
    case 1u: { return deltas[(at + f) * u.rowStride + r]; }
    case 2u: { return h[r * N + at + f]; }
    default: { return 1.0; }
  }
}
@compute @workgroup_size(${TILED_GROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let w = wg.x + wg.y * ${MAX_GROUPS}u;
  var p = 0u;
  for (var k = 1u; k < u.count; k++) { if (table[k * ${PRODUCT_WORDS}u] <= w) { p = k; } }
  let e = p * ${PRODUCT_WORDS}u;
  let nA = table[e + 1u];
  let nB = table[e + 2u];
  let tilesB = table[e + 3u];
  if (w >= table[e] + ((nA + ${TILE - 1}u) / ${TILE}u) * tilesB) { return; }
  let a0 = ((w - table[e]) / tilesB) * ${TILE}u;
  let b0 = ((w - table[e]) % tilesB) * ${TILE}u;
  var acc: array<vec4<f32>, 4>;
  for (var term = 0u; term < table[e + 4u]; term++) {
    let asrc = table[e + 9u + 4u * term];
    let aat = table[e + 10u + 4u * term];
    let bsrc = table[e + 11u + 4u * term];
    let bat = table[e + 12u + 4u * term];
    for (var r0 = 0u; r0 < u.rows; r0 += ${CHUNK}u) {
      for (var i = 0u; i < ${(TILE * CHUNK) / TILED_GROUP}u; i++) {
        let idx = t + ${TILED_GROUP}u * i;
        // Consecutive invocations: consecutive frames of a feature-major operand, consecutive features of h.
        if (asrc == 2u) {
          tileA[idx / ${TILE}u][idx % ${TILE}u] = operand(asrc, aat, a0 + idx % ${TILE}u, nA, r0 + idx / ${TILE}u);
        } else {
          tileA[idx % ${CHUNK}u][idx / ${CHUNK}u] = operand(asrc, aat, a0 + idx / ${CHUNK}u, nA, r0 + idx % ${CHUNK}u);
        }
        tileB[idx % ${CHUNK}u][idx / ${CHUNK}u] = operand(bsrc, bat, b0 + idx / ${CHUNK}u, nB, r0 + idx % ${CHUNK}u);
      }
      workgroupBarrier();
      accumulate(&acc, t);
      workgroupBarrier();
    }
  }
  let sign = bitcast<f32>(table[e + 8u]);
  let block = table[e + 17u];
  for (var i = 0u; i < 4u; i++) {
    let a = a0 + (t / 8u) * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let b = b0 + (t % 8u) * 4u + j;
      if (a < nA && b < nB) {
        let at = table[e + 5u] + a * table[e + 6u] + (b % block) * table[e + 7u] + (b / block) * table[e + 18u];
        grads[at] = select(0.0, grads[at], u.accumulate == 1u) + sign * acc[i][j];
      }
    }
  }
}`;

  const diagonals = `${head}
${bindings(["grads!"], "vec4<u32>")}
// dp_i[k] = sum over W_1^T[j, o] with o - j + INDIM - 1 = k, from the full dW_1^T at u.x (layer i at
// u.x + i * INDIM * LW).
@compute @workgroup_size(${ROW_GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let np = INDIM + LW - 1u;
  if (gid.x >= L * np) { return; }
  let i = gid.x / np;
  let k = gid.x % np;
  let full = u.x + i * INDIM * LW;
  var acc = 0.0;
  for (var o = 0u; o < LW; o++) {
    let j = i32(o) + i32(INDIM) - 1 - i32(k);
    if (j >= 0 && j < i32(INDIM)) { acc += grads[full + u32(j) * LW + o]; }
  }
  grads[i * LAYER + O_FIRST + k] = acc;
}`;

  const reduceHead = `var<workgroup> part: array<f32, ${REDUCE_GROUP}>;
fn reduce(lid: u32) {
  for (var s = ${REDUCE_GROUP / 2}u; s > 0u; s = s / 2u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
}`;

  const loss = `${head}
struct Loss { rows: u32, accumulate: u32, pad: u32, scale: f32 }
${bindings(["logp", "out!"], "Loss")}
${reduceHead}
// out[0] = scale * sum_r logp[r] (scale = -1 / sequences: the runner's loss), or out[0] plus that (a later
// chunk of the batch).
@compute @workgroup_size(${REDUCE_GROUP})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var r = lid.x; r < u.rows; r += ${REDUCE_GROUP}u) { acc += logp[r]; }
  part[lid.x] = acc;
  workgroupBarrier();
  reduce(lid.x);
  if (lid.x == 0u) { out[0] = select(0.0, out[0], u.accumulate == 1u) + u.scale * part[0]; }
}`;

  const norm = `${head}
struct Norm { size: u32, clip: f32, beta1: f32, beta2: f32 }
${bindings(["grads", "scalars!", "acc1", "acc2", "nextAcc1!", "nextAcc2!"], "Norm")}
${reduceHead}
// scalars = [clip scale (clip < 0: none), 1 - beta1^t, 1 - beta2^t]; nextAcc = beta^(t+1) (Adam's running
// powers).
@compute @workgroup_size(${REDUCE_GROUP})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var k = lid.x; k < u.size; k += ${REDUCE_GROUP}u) { acc += grads[k] * grads[k]; }
  part[lid.x] = acc;
  workgroupBarrier();
  reduce(lid.x);
  if (lid.x == 0u) {
    scalars[0] = select(1.0, min(1.0, u.clip / (sqrt(part[0]) + 1e-6)), u.clip >= 0.0);
    scalars[1] = 1.0 - acc1[0];
    scalars[2] = 1.0 - acc2[0];
    nextAcc1[0] = acc1[0] * u.beta1;
    nextAcc2[0] = acc2[0] * u.beta2;
  }
}`;

  const adam = `${head}
struct Adam { size: u32, negLr: f32, beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32, eps: f32, pad: f32 }
${bindings(["grads", "scalars", "theta!", "m", "v", "nextM!", "nextV!"], "Adam")}
// The update of lib/runner/adam.ts, operation for operation.
@compute @workgroup_size(${REDUCE_GROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x + gid.y * ${MAX_GROUPS}u * ${REDUCE_GROUP}u;
  if (k >= u.size) { return; }
  let g = grads[k] * scalars[0];
  let mk = m[k] * u.beta1 + g * u.oneMinusBeta1;
  let vk = v[k] * u.beta2 + (g * g) * u.oneMinusBeta2;
  nextM[k] = mk;
  nextV[k] = vk;
  let mHat = mk / scalars[1];
  let vHat = vk / scalars[2];
  theta[k] = (mHat / (sqrt(vHat) + u.eps)) * u.negLr + theta[k];
}`;

  return { project, forward, backward, products, diagonals, loss, norm, adam };
}

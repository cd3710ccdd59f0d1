/**
 * `log p(x | h)` of an {@link EsnFlow} as one op with a hand-written gradient.
 *
 * The same maths as composing the layers (`EsnFlow.forwardProjected` plus the standard-normal term). With
 * the frame kept as its two parts, A = dimensions 0..split-1 (the mask's ones) and B = the rest, every
 * layer (L-1 first) runs coupling 0, which changes A given B, then coupling 1, which changes B given A:
 *
 *   q_1 = relu(z_kept W_x[kept rows] + hc_i),  q_k = relu(q_{k-1} W_k + c_k),
 *   s = tanh(q W_s[:, changed] + c_s[changed]),  mu = q W_mu[:, changed] + c_mu[changed],
 *   sm = s * rescale[changed],  z_changed <- (z_changed - mu) * exp(-sm),
 *   log p = -|z|^2 / 2 - D log(2 pi) / 2 - sum(sm),
 *
 * which is the masked form `z <- m z + (1 - m)(z - mu) exp(-s)` without computing the masked-out half.
 * Given `g = d loss / d log p` per row, the backward pass walks the couplings in reverse with
 * `t = dz' exp(-sm)`: `dz_changed = t`, `dmu = -t`, `dsm = -g - t (z - mu)`, `d(pre-tanh) = dsm rescale
 * (1 - s^2)`, the ReLU network's backward by explicitly transposed products (tfjs-wasm runs transposed-
 * operand matMuls on a slow path, see `products.ts`), and `dz_kept += dq_1 W_x^T`.
 *
 * Why: autodiff of the composed layers ran ~1,600 small kernels per esn_flow_timit training step on wasm
 * (tape bookkeeping, one saved-tensor clone per op input, gradient sums, a custom-op scope per product);
 * this op runs ~13 kernels per coupling forward and ~35 backward, on half-width tensors where the masked
 * form used full ones (README, performance section, for the measured effect). `tests/fused_flow_test.ts`
 * checks values and every gradient against autodiff of the composed layers.
 */
import * as tf from "@tensorflow/tfjs";
import { hostKernelsApply } from "../wasm/tensor_io.ts";
import { hostFlowLogProb } from "./host_flow.ts";

const LOG_2PI = Math.log(2 * Math.PI);

/** A dense layer's weight `[in, out]` and bias `[out]`. */
export type DenseWeights = readonly [tf.Tensor2D, tf.Tensor1D];

/** The conditioner weights of one flow layer, apart from its first layer (passed for all layers at once). */
export interface LayerWeights {
  /** Hidden layers 2..K (`[l, l]`, `[l]`). */
  readonly hidden: readonly DenseWeights[];
  readonly slope: DenseWeights;
  readonly intercept: DenseWeights;
}

/** The inputs of {@link fusedFlowLogProb}. */
export interface FusedFlowInputs {
  /** Frames `[R, D]`. */
  readonly x: tf.Tensor2D;
  /** `h W_h + c_1` of all layers side by side, `[R, L * l]` (layer i in columns `i*l..(i+1)*l`). */
  readonly hc: tf.Tensor2D;
  /** The frame rows `W_x` of all layers' first layers side by side, `[D, L * l]`. */
  readonly frameWeight: tf.Tensor2D;
  /** The slope rescale shared by all layers, `[D]`. */
  readonly rescale: tf.Tensor1D;
  /** Layer i's other weights (layer 0 is applied last in the data-to-latent direction). */
  readonly layers: readonly LayerWeights[];
  /**
   * The layer mask `b` is 1 on dimensions `0..split-1` (`halfMask`: split = floor(D / 2)): the first
   * coupling of a layer transforms them given the rest, the second the rest given them.
   */
  readonly split: number;
}

/** A block of frame dimensions `at..at+size-1`. */
interface Part {
  readonly at: number;
  readonly size: number;
}

/** What coupling c of a layer multiplies: the kept part's rows of `W_x`, the changed part's outputs. */
interface CouplingWeights {
  readonly wx: tf.Tensor2D;
  readonly slope: DenseWeights;
  readonly intercept: DenseWeights;
}

function layerTensors(w: LayerWeights): tf.Tensor[] {
  return [...w.hidden.flat(), ...w.slope, ...w.intercept];
}

/** Sum of `a` and `b`, `b` alone when `a` is null (gradient accumulators). */
function acc<T extends tf.Tensor>(a: T | null, b: T): T {
  return a ? tf.add(a, b) : b;
}

/** Columns `part` of `w: [rows, D]` and entries `part` of `b: [D]`. */
function columns([w, b]: DenseWeights, part: Part): DenseWeights {
  return [
    tf.slice(w, [0, part.at], [w.shape[0], part.size]),
    tf.slice(b, [part.at], [part.size]),
  ];
}

/** Where {@link fusedFlowLogProb} computes: WebAssembly kernels on the host, or tfjs ops on the backend. */
export type FusedFlowPath = "host" | "tfjs";

/** The path for the current backend: the host kernels where tensors read synchronously (wasm, cpu). */
export function defaultFusedFlowPath(): FusedFlowPath {
  return hostKernelsApply() ? "host" : "tfjs";
}

/**
 * `log p(x | h)` per row, `[R]`, of the flow given by `inputs` (module doc). The frame is kept as its two
 * parts (the mask's ones and zeros), so a coupling computes slopes and intercepts for the part it changes
 * only: the same numbers as the masked form, without the masked half of the work. `path` "host" runs
 * `host_flow.ts` (the same maths in WebAssembly SIMD kernels, one call per product), "tfjs" tfjs ops.
 */
export function fusedFlowLogProb(inputs: FusedFlowInputs, path = defaultFusedFlowPath()): tf.Tensor1D {
  const { split, layers } = inputs;
  const numLayers = layers.length, numHidden = layers[0]?.hidden.length ?? 0;
  const [rows, dim] = inputs.x.shape;
  const width = inputs.hc.shape[1] / numLayers;
  if (!(numLayers >= 1 && Number.isInteger(width) && Number.isInteger(split) && split >= 1 && split < dim)) {
    throw new Error(
      `fusedFlowLogProb: ${numLayers} layers, context projection [${inputs.hc.shape}] and split ${split} ` +
        `do not fit frames [${inputs.x.shape}]`,
    );
  }
  if (path === "host") {
    return hostFlowLogProb(
      { dim, split, numLayers, width, numHidden },
      [inputs.x, inputs.hc, inputs.frameWeight, inputs.rescale, ...layers.flatMap(layerTensors)],
    );
  }
  // parts[c] is what coupling c changes (data-to-latent order); it keeps parts[1 - c].
  const parts: Part[] = [{ at: 0, size: split }, { at: split, size: dim - split }];
  const perLayer = 2 * numHidden + 4, perCoupling = numHidden + 5;

  /** Layer i's hidden weights and the weights of its two couplings, from the op's inputs. */
  function layerWeights(fw: tf.Tensor, ws: tf.Tensor[], i: number) {
    const own = ws.slice(i * perLayer, (i + 1) * perLayer) as tf.Tensor2D[];
    const hidden = Array.from({ length: numHidden }, (_, k) => own[2 * k]);
    const hiddenBias = Array.from(
      { length: numHidden },
      (_, k) => own[2 * k + 1] as tf.Tensor as tf.Tensor1D,
    );
    const slope: DenseWeights = [own[perLayer - 4], own[perLayer - 3] as tf.Tensor as tf.Tensor1D];
    const intercept: DenseWeights = [own[perLayer - 2], own[perLayer - 1] as tf.Tensor as tf.Tensor1D];
    const couplings = parts.map((changed, c): CouplingWeights => {
      const kept = parts[1 - c];
      return {
        wx: tf.slice(fw, [kept.at, i * width], [kept.size, width]) as tf.Tensor2D,
        slope: columns(slope, changed),
        intercept: columns(intercept, changed),
      };
    });
    return { hidden, hiddenBias, couplings };
  }

  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, hc, fw, rescale, ...rest] = args as tf.Tensor[];
    const rs = parts.map((p) => tf.slice(rescale, [p.at], [p.size]));
    const z = parts.map((p) => tf.slice(x, [0, p.at], [rows, p.size]) as tf.Tensor2D);
    const smSum: (tf.Tensor | null)[] = [null, null];
    const kept: tf.Tensor[] = [];
    for (let i = numLayers - 1; i >= 0; i--) {
      const hci = tf.slice(hc, [0, i * width], [rows, width]);
      const { hidden, hiddenBias, couplings } = layerWeights(fw, rest, i);
      for (let c = 0; c < 2; c++) {
        const w = couplings[c], zk = z[1 - c];
        let q = tf.relu(tf.add(tf.matMul(zk, w.wx), hci)) as tf.Tensor2D;
        const qs = [q];
        hidden.forEach((wk, k) => {
          q = tf.fused.matMul({ a: q, b: wk, bias: hiddenBias[k], activation: "relu" }) as tf.Tensor2D;
          qs.push(q);
        });
        const s = tf.tanh(tf.fused.matMul({ a: q, b: w.slope[0], bias: w.slope[1] }));
        const mu = tf.fused.matMul({ a: q, b: w.intercept[0], bias: w.intercept[1] });
        const sm = tf.mul(s, rs[c]);
        const e = tf.exp(tf.neg(sm));
        const d = tf.sub(z[c], mu);
        z[c] = tf.mul(d, e) as tf.Tensor2D;
        smSum[c] = acc(smSum[c], sm);
        kept.push(zk, ...qs, s, d, e);
      }
    }
    // Inputs are saved too: tensors made in the forward scope (the Toeplitz blocks) are freed before backprop.
    save([...kept, ...z, fw, ...rest, rescale]);
    const terms = tf.sub(tf.mul(tf.square(tf.concat(z, 1)), -0.5), tf.concat(smSum as tf.Tensor[], 1));
    const value = tf.sub(tf.sum(terms, -1), 0.5 * dim * LOG_2PI);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved, kept.length) };
  });

  function backward(dy: tf.Tensor, saved: tf.Tensor[], numKept: number): tf.Tensor[] {
    const [zA, zB, fw] = saved.slice(numKept, numKept + 3);
    const ws = saved.slice(numKept + 3, -1), rescale = saved[saved.length - 1];
    const rs = parts.map((p) => tf.slice(rescale, [p.at], [p.size]));
    const ng = tf.reshape(tf.neg(dy), [rows, 1]);
    const dz = [tf.mul(zA, ng), tf.mul(zB, ng)];
    const drs: (tf.Tensor | null)[] = [null, null];
    const dhc: tf.Tensor[] = [], dfw: tf.Tensor[] = [], dLayers: tf.Tensor[] = [];
    let at = numKept;
    for (let i = 0; i < numLayers; i++) {
      const { hidden, couplings } = layerWeights(fw, ws, i);
      const hiddenT = hidden.map((w) => tf.transpose(w));
      const dHidden: (tf.Tensor | null)[] = new Array(2 * numHidden).fill(null);
      let dhci: tf.Tensor | null = null;
      const dwx: tf.Tensor[] = [], dSlope: tf.Tensor[][] = [], dIntercept: tf.Tensor[][] = [];
      for (let c = 1; c >= 0; c--) {
        at -= perCoupling;
        const [zk, ...more] = saved.slice(at, at + perCoupling);
        const qs = more.slice(0, numHidden + 1) as tf.Tensor2D[];
        const [s, d, e] = more.slice(numHidden + 1);
        const w = couplings[c];
        // z' = (z - mu) e with e = exp(-sm): dz = t, dmu = -t, dsm = -t (z - mu) - g (log-det term).
        const t = tf.mul(dz[c], e) as tf.Tensor2D;
        const dsm = tf.sub(ng, tf.mul(t, d));
        drs[c] = acc(drs[c], tf.sum(tf.mul(dsm, s), 0));
        const dpre = tf.mul(tf.mul(dsm, rs[c]), tf.sub(1, tf.square(s))) as tf.Tensor2D;
        const qT = tf.transpose(qs[numHidden]);
        dSlope[c] = [tf.matMul(qT, dpre), tf.sum(dpre, 0)];
        dIntercept[c] = [tf.matMul(qT, t), tf.sum(t, 0)]; // of -mu: negated once per layer below
        let dq = tf.sub(
          tf.matMul(dpre, tf.transpose(w.slope[0])),
          tf.matMul(t, tf.transpose(w.intercept[0])),
        ) as tf.Tensor2D;
        for (let k = numHidden - 1; k >= 0; k--) {
          const da = tf.mul(dq, tf.step(qs[k + 1])) as tf.Tensor2D;
          dHidden[2 * k] = acc(dHidden[2 * k], tf.matMul(tf.transpose(qs[k]), da));
          dHidden[2 * k + 1] = acc(dHidden[2 * k + 1], tf.sum(da, 0));
          dq = tf.matMul(da, hiddenT[k]);
        }
        const da1 = tf.mul(dq, tf.step(qs[0])) as tf.Tensor2D;
        dwx[c] = tf.matMul(tf.transpose(zk as tf.Tensor2D), da1);
        dhci = acc(dhci, da1);
        dz[1 - c] = tf.add(dz[1 - c], tf.matMul(da1, tf.transpose(w.wx)));
        dz[c] = t;
      }
      dhc.push(dhci!);
      // Coupling 1 keeps the first part (rows 0..split-1 of W_x), coupling 0 the second.
      dfw.push(tf.concat([dwx[1], dwx[0]], 0));
      dLayers.push(
        ...(dHidden as tf.Tensor[]),
        tf.concat([dSlope[0][0], dSlope[1][0]], 1),
        tf.concat([dSlope[0][1], dSlope[1][1]]),
        tf.neg(tf.concat([dIntercept[0][0], dIntercept[1][0]], 1)),
        tf.neg(tf.concat([dIntercept[0][1], dIntercept[1][1]])),
      );
    }
    return [
      tf.concat(dz, 1),
      tf.concat(dhc, 1),
      tf.concat(dfw, 1),
      tf.concat(drs as tf.Tensor[]),
      ...dLayers,
    ];
  }

  return f(
    inputs.x,
    inputs.hc,
    inputs.frameWeight,
    inputs.rescale,
    ...layers.flatMap(layerTensors),
  ) as tf.Tensor1D;
}

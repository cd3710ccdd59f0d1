/**
 * `log p(x | h)` of an {@link EsnFlow} as one op with a hand-written gradient.
 *
 * The same maths as composing the layers (`EsnFlow.forwardProjected` plus the standard-normal term), for
 * every coupling in data-to-latent order (layers L-1..0, masks m = 1 - b then m = b):
 *
 *   zm = m z,  q_1 = relu(zm W_x + hc_i),  q_k = relu(q_{k-1} W_k + c_k),
 *   s = tanh(q W_s + c_s),  mu = q W_mu + c_mu,  sm = s * rescale * (1 - m),
 *   z <- zm + (z - mu) * exp(-sm) * (1 - m),     log p = -|z|^2 / 2 - D log(2 pi) / 2 - sum(sm),
 *
 * and, given `g = d loss / d log p` per row, the backward pass walks the couplings in reverse with
 * `t = dz' exp(-sm)(1 - m)`:  dmu = -t,  dsm = -g - t (z - mu),  d(s) = dsm rescale (1 - m),
 * d(pre-tanh) = d(s)(1 - s^2), the ReLU network's backward by transposed products (tfjs-wasm runs
 * transposed-operand matMuls on a slow path, see `products.ts`), and `dz = (dz' + dzm) m + t`.
 *
 * Why: autodiff of the composed layers ran ~1,600 small kernels per esn_flow_timit training step on wasm
 * (tape bookkeeping, one saved-tensor clone per op input, gradient sums, a custom-op scope per product),
 * and a small kernel costs 20-50 us whatever its size. This op runs the forward in ~17 kernels and the
 * backward in ~40 per coupling. `tests/fused_flow_test.ts` checks values and every gradient against
 * autodiff of the composed layers.
 */
import * as tf from "@tensorflow/tfjs";

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
  /** The layer mask `b` (1 on the dimensions the first coupling of a layer transforms), length D. */
  readonly mask: Float32Array;
}

function layerTensors(w: LayerWeights): tf.Tensor[] {
  return [...w.hidden.flat(), ...w.slope, ...w.intercept];
}

/** Sum of `a` and `b`, `b` alone when `a` is null (gradient accumulators). */
function acc<T extends tf.Tensor>(a: T | null, b: T): T {
  return a ? tf.add(a, b) : b;
}

/** `log p(x | h)` per row, `[R]`, of the flow given by `inputs` (module doc). */
export function fusedFlowLogProb(inputs: FusedFlowInputs): tf.Tensor1D {
  const { mask, layers } = inputs;
  const numLayers = layers.length, numHidden = layers[0]?.hidden.length ?? 0;
  const [rows, dim] = inputs.x.shape;
  const width = inputs.hc.shape[1] / numLayers;
  if (!(numLayers >= 1 && Number.isInteger(width) && mask.length === dim)) {
    throw new Error(
      `fusedFlowLogProb: ${numLayers} layers, context projection [${inputs.hc.shape}] and mask of ` +
        `${mask.length} do not fit frames [${inputs.x.shape}]`,
    );
  }
  const perLayer = 2 * numHidden + 4;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, hc, fw, rescale, ...rest] = args as tf.Tensor[];
    const w = (i: number, j: number) => rest[i * perLayer + j] as tf.Tensor2D;
    // Data-to-latent coupling order within a layer: keep m = 1 - b (transform b), then keep m = b.
    const b = tf.tensor1d(mask), nb = tf.sub(1, b);
    const keep = [nb, b], change = [b, nb];
    const rn = change.map((c) => tf.mul(rescale, c));
    const kept: tf.Tensor[] = [];
    let z = x as tf.Tensor2D;
    let smSum: tf.Tensor | null = null;
    for (let i = numLayers - 1; i >= 0; i--) {
      const hci = tf.slice(hc, [0, i * width], [rows, width]);
      const wx = tf.slice(fw, [0, i * width], [dim, width]) as tf.Tensor2D;
      for (let c = 0; c < 2; c++) {
        const zm = tf.mul(z, keep[c]) as tf.Tensor2D;
        let q = tf.relu(tf.add(tf.matMul(zm, wx), hci)) as tf.Tensor2D;
        const qs = [q];
        for (let k = 0; k < numHidden; k++) {
          q = tf.fused.matMul({
            a: q,
            b: w(i, 2 * k),
            bias: w(i, 2 * k + 1),
            activation: "relu",
          }) as tf.Tensor2D;
          qs.push(q);
        }
        const s = tf.tanh(tf.fused.matMul({ a: q, b: w(i, perLayer - 4), bias: w(i, perLayer - 3) }));
        const mu = tf.fused.matMul({ a: q, b: w(i, perLayer - 2), bias: w(i, perLayer - 1) });
        const sm = tf.mul(s, rn[c]);
        const en = tf.mul(tf.exp(tf.neg(sm)), change[c]);
        const d = tf.sub(z, mu);
        z = tf.add(zm, tf.mul(d, en));
        smSum = acc(smSum, sm);
        kept.push(zm, ...qs, s, d, en);
      }
    }
    // Inputs are saved too: tensors made in the forward scope (the Toeplitz blocks) are freed before backprop.
    save([...kept, z, fw, ...rest, b, nb, ...rn]);
    const value = tf.sub(tf.sum(tf.sub(tf.mul(tf.square(z), -0.5), smSum!), -1), 0.5 * dim * LOG_2PI);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved) };

    function backward(dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] {
      const perCoupling = numHidden + 5;
      const [sz, sfw] = saved.slice(kept.length, kept.length + 2);
      const sw = saved.slice(kept.length + 2, kept.length + 2 + rest.length);
      const w = (i: number, j: number) => sw[i * perLayer + j] as tf.Tensor2D;
      const [sb, snb, rn0, rn1] = saved.slice(-4);
      const skeep = [snb, sb], schange = [sb, snb], srn = [rn0, rn1];
      const ng = tf.reshape(tf.neg(dy), [rows, 1]);
      let dz = tf.mul(sz, ng) as tf.Tensor2D;
      const drs: (tf.Tensor | null)[] = [null, null];
      const dhc: tf.Tensor[] = [], dfw: tf.Tensor[] = [], dLayers: tf.Tensor[] = [];
      let at = kept.length;
      for (let i = 0; i < numLayers; i++) {
        const wxT = tf.transpose(tf.slice(sfw, [0, i * width], [dim, width]));
        const hiddenT = Array.from({ length: numHidden }, (_, k) => tf.transpose(w(i, 2 * k)));
        const slopeT = tf.transpose(w(i, perLayer - 4)), interceptT = tf.transpose(w(i, perLayer - 2));
        let dwx: tf.Tensor | null = null, dhci: tf.Tensor | null = null;
        const dHidden: (tf.Tensor | null)[] = new Array(2 * numHidden).fill(null);
        let dws: tf.Tensor | null = null, dcs: tf.Tensor | null = null;
        let dwmuNeg: tf.Tensor | null = null, dcmuNeg: tf.Tensor | null = null;
        for (let c = 1; c >= 0; c--) {
          at -= perCoupling;
          const [zm, ...qsRest] = saved.slice(at, at + perCoupling);
          const qs = qsRest.slice(0, numHidden + 1);
          const [s, d, en] = qsRest.slice(numHidden + 1);
          const t = tf.mul(dz, en);
          const dsm = tf.sub(ng, tf.mul(t, d));
          drs[c] = acc(drs[c], tf.sum(tf.mul(dsm, s), 0));
          const dpre = tf.mul(tf.mul(dsm, srn[c]), tf.sub(1, tf.square(s)));
          const qT = tf.transpose(qs[numHidden]);
          dws = acc(dws, tf.matMul(qT as tf.Tensor2D, dpre as tf.Tensor2D));
          dcs = acc(dcs, tf.sum(dpre, 0));
          dwmuNeg = acc(dwmuNeg, tf.matMul(qT as tf.Tensor2D, t as tf.Tensor2D));
          dcmuNeg = acc(dcmuNeg, tf.sum(t, 0));
          let dq = tf.sub(tf.matMul(dpre as tf.Tensor2D, slopeT), tf.matMul(t as tf.Tensor2D, interceptT));
          for (let k = numHidden - 1; k >= 0; k--) {
            const da = tf.mul(dq, tf.step(qs[k + 1])) as tf.Tensor2D;
            dHidden[2 * k] = acc(dHidden[2 * k], tf.matMul(tf.transpose(qs[k]) as tf.Tensor2D, da));
            dHidden[2 * k + 1] = acc(dHidden[2 * k + 1], tf.sum(da, 0));
            dq = tf.matMul(da, hiddenT[k]);
          }
          const da1 = tf.mul(dq, tf.step(qs[0])) as tf.Tensor2D;
          dwx = acc(dwx, tf.matMul(tf.transpose(zm) as tf.Tensor2D, da1));
          dhci = acc(dhci, da1);
          dz = tf.add(tf.mul(tf.add(dz, tf.matMul(da1, wxT)), skeep[c]), t) as tf.Tensor2D;
        }
        dhc.push(dhci!);
        dfw.push(dwx!);
        dLayers.push(...(dHidden as tf.Tensor[]), dws!, dcs!, tf.neg(dwmuNeg!), tf.neg(dcmuNeg!));
      }
      const drescale = tf.add(tf.mul(drs[0]!, schange[0]), tf.mul(drs[1]!, schange[1]));
      return [dz, tf.concat(dhc, 1), tf.concat(dfw, 1), drescale, ...dLayers];
    }
  });
  return f(
    inputs.x,
    inputs.hc,
    inputs.frameWeight,
    inputs.rescale,
    ...layers.flatMap(layerTensors),
  ) as tf.Tensor1D;
}

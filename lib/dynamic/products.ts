/**
 * Matrix products with hand-written gradients that avoid transposed products.
 *
 * tfjs-backend-wasm 4.22 runs `matMul` with `transposeA` or `transposeB` ~15x slower than a plain one
 * (measured at [974, 1000]^T x [974, 120]: 137-190 ms against 8.6 ms for the pre-transposed product), and
 * autodiff of `y = a b` computes exactly those: `da = dy b^T`, `db = a^T dy`. These versions transpose
 * explicitly and otherwise compute the same values.
 */
import * as tf from "@tensorflow/tfjs";
import { matMulFastGrad } from "../nn/linear.ts";
import { hostConstantMatMul } from "../wasm/host_matmul.ts";
import { hostKernelsApply } from "../wasm/tensor_io.ts";

type Grads = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** `tf.customGrad` with the inputs as an array and the save function apart. */
function custom(f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: Grads }) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return f(args as tf.Tensor[], save);
  });
}

/**
 * `a w` for a constant `a` (no gradient; the ESN states, which the batch owns and keeps alive through the
 * backward pass). On wasm and cpu the host kernels compute it and `dw = a^T dy` (`lib/wasm/host_matmul.ts`);
 * elsewhere `dw = transpose(transpose(dy) a)`: the large `a` is the product's right operand as stored, and
 * only the small `dy` and the result are transposed (esn_flow_timit on wasm, `[1059, 1000]` states: 9.8 ms
 * against 11.6 ms for transposing `a`, measured in one process, 6 x 5 products each).
 */
export function constantMatMul(a: tf.Tensor2D, w: tf.Tensor2D, host = hostKernelsApply()): tf.Tensor2D {
  if (host) return hostConstantMatMul(a, w);
  const f = custom(([wv]) => ({
    value: tf.matMul(a, wv as tf.Tensor2D),
    gradFunc: (dy) => tf.transpose(tf.matMul(tf.transpose(dy as tf.Tensor2D), a)),
  }));
  return f(w) as tf.Tensor2D;
}

/** `a b` with gradients `dy transpose(b)` and `transpose(a) dy` (explicit transposes; `lib/nn/linear.ts`). */
export const matMul: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D = matMulFastGrad;

/**
 * `max(x, 0)` with the gradient `dy * step(y)` of its output `y`: the same values as `tf.relu`, whose
 * gradient casts a boolean mask to float (one more `[R, l]` kernel per call, ~11 ms per esn_flow_timit
 * training step on wasm, profiled).
 */
export function relu(x: tf.Tensor2D): tf.Tensor2D {
  const f = custom(([xv], save) => {
    const y = tf.relu(xv);
    save([y]);
    return { value: y, gradFunc: (dy, [sy]) => tf.mul(dy, tf.step(sy)) };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * `act(x w + b)` for `act` in {relu, linear} in one fused forward op, with gradients
 * `dz = dy * act'(.)`, `dx = dz transpose(w)`, `dw = transpose(x) dz`, `db = sum_rows dz`.
 */
export function dense(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
  activation: "relu" | "linear",
): tf.Tensor2D {
  const f = custom(([xv, wv, bv], save) => {
    const y = tf.fused.matMul({ a: xv as tf.Tensor2D, b: wv as tf.Tensor2D, bias: bv, activation });
    save([xv, wv, y]);
    return {
      value: y,
      gradFunc: (dy, [sx, sw, sy]) => {
        const dz = activation === "relu" ? tf.mul(dy, tf.step(sy)) : dy;
        return [
          tf.matMul(dz as tf.Tensor2D, tf.transpose(sw as tf.Tensor2D)),
          tf.matMul(tf.transpose(sx as tf.Tensor2D), dz as tf.Tensor2D),
          tf.sum(dz, 0),
        ];
      },
    };
  });
  return f(x, w, b) as tf.Tensor2D;
}

/**
 * Adam (Kingma & Ba, "Adam: A method for stochastic optimization", ICLR 2015) over one flat buffer.
 *
 * The same update, element for element, as `tf.train.adam` (tfjs 4.22 `AdamOptimizer`):
 *
 *   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
 *   theta <- theta - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps),
 *
 * but the moments of all variables live in two flat variables, and the gradients are concatenated once
 * per step, so a step runs ~15 kernels plus a reshape and an add per variable instead of 14 kernels per
 * variable (462 for the 33 variables of the esn_flow_timit model, ~2.5-6 ms per step on wasm).
 *
 * `getWeights()`/`setWeights()` speak tfjs Adam's format (the iteration count, then `<variable>/m` for
 * every variable, then `<variable>/v`, in the order of the first step) and the class name is `Adam`, so
 * checkpoints written with either load into the other. As there, the moments belong to the variables by
 * position: a step must update the same variables in the same order as the first one (the runner's
 * `trainStep` does, for a fixed model).
 */
import * as tf from "@tensorflow/tfjs";
import type { AdamSlots } from "../webgpu/esn_flow_device.ts";

/** tfjs Adam's running powers `b1^t`, `b2^t` (private fields there; the checkpoint saves them by name). */
interface AccBetas {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/** A tensor with a name (tfjs's `NamedTensor`, which its public index does not export). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

interface Layout {
  readonly names: readonly string[];
  readonly shapes: readonly number[][];
  readonly sizes: readonly number[];
}

function layoutOf(list: readonly NamedTensor[], name = (n: string) => n): Layout {
  return {
    names: list.map((e) => name(e.name)),
    shapes: list.map((e) => e.tensor.shape),
    sizes: list.map((e) => e.tensor.size),
  };
}

function namedList(grads: tf.NamedTensorMap | NamedTensor[]): NamedTensor[] {
  return Array.isArray(grads) ? grads : Object.keys(grads).map((name) => ({ name, tensor: grads[name] }));
}

/** Adam with flat moment buffers (module doc). */
export class FlatAdam extends tf.AdamOptimizer {
  #layout: Layout | null = null;
  #m: tf.Variable | null = null;
  #v: tf.Variable | null = null;

  #betas(): AccBetas {
    return this as unknown as AccBetas;
  }

  /**
   * The moments belong to the variables by position, as in tfjs Adam (a resumed run's variables have other
   * auto-generated names than those in the checkpoint): every step must give as many variables, of the
   * same sizes, in the same order, as the first step or the restored state.
   */
  #checkLayout(list: readonly NamedTensor[]): Layout {
    const layout = this.#layout;
    if (!layout) return this.#layout = layoutOf(list);
    const { sizes } = layoutOf(list);
    if (sizes.length !== layout.sizes.length || sizes.some((s, i) => s !== layout.sizes[i])) {
      const show = (l: Layout) => l.names.map((n, i) => `${n}: ${l.sizes[i]}`).join(", ");
      throw new Error(
        `FlatAdam: this step updates variables of sizes [${show(layoutOf(list))}], the optimizer state ` +
          `holds [${show(layout)}]; the variables and their order must not change between steps`,
      );
    }
    return layout;
  }

  /** The flat moments of `layout`'s variables, zeros on the first step. */
  #moments(layout: Layout): { m: tf.Variable; v: tf.Variable } {
    const total = layout.sizes.reduce((a, b) => a + b, 0);
    this.#m ??= tf.tidy(() => tf.variable(tf.zeros([total]), false));
    this.#v ??= tf.tidy(() => tf.variable(tf.zeros([total]), false));
    return { m: this.#m, v: this.#v };
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list = namedList(variableGradients);
    const acc = this.#betas();
    if (list.length === 0) {
      // As tfjs Adam: a step without gradients still counts (iterations and the running beta powers).
      tf.tidy(() => {
        acc.accBeta1.assign(tf.mul(acc.accBeta1, this.beta1));
        acc.accBeta2.assign(tf.mul(acc.accBeta2, this.beta2));
      });
      this.incrementIterations();
      return;
    }
    const layout = this.#checkLayout(list);
    const { m: m0, v: v0 } = this.#moments(layout);
    tf.tidy(() => {
      const g = list.length === 1
        ? tf.reshape(list[0].tensor, [-1])
        : tf.concat(list.map((e) => tf.reshape(e.tensor, [-1])));
      const oneMinusAccBeta1 = tf.sub(1, acc.accBeta1), oneMinusAccBeta2 = tf.sub(1, acc.accBeta2);
      const m = tf.add(tf.mul(m0, this.beta1), tf.mul(g, 1 - this.beta1));
      const v = tf.add(tf.mul(v0, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
      m0.assign(m);
      v0.assign(v);
      const mHat = tf.div(m, oneMinusAccBeta1), vHat = tf.div(v, oneMinusAccBeta2);
      const step = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)), -this.learningRate);
      const parts = list.length === 1 ? [step] : tf.split(step, layout.sizes as number[]);
      const registered = tf.engine().registeredVariables;
      list.forEach(({ name }, i) => {
        const value = registered[name];
        value.assign(tf.add(tf.reshape(parts[i], value.shape), value));
      });
      acc.accBeta1.assign(tf.mul(acc.accBeta1, this.beta1));
      acc.accBeta2.assign(tf.mul(acc.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }

  /**
   * The state an Adam step computed elsewhere reads and updates (the WebGPU kernels of
   * `lib/webgpu/esn_flow_device.ts`): the flat moments (made on the first step, checked against the layout as
   * {@link applyGradients} does), the running powers and the hyperparameters. The caller records the
   * update, then calls {@link countStep}.
   */
  deviceSlots(variables: readonly tf.Variable[]): AdamSlots {
    const list = variables.map((v) => ({ name: v.name, tensor: v as tf.Tensor }));
    const { m, v } = this.#moments(this.#checkLayout(list));
    const acc = this.#betas();
    return {
      m,
      v,
      accBeta1: acc.accBeta1,
      accBeta2: acc.accBeta2,
      learningRate: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
    };
  }

  /** Counts a step recorded with {@link deviceSlots} (the iteration count that checkpoints save). */
  countStep(): void {
    this.incrementIterations();
  }

  /** The iteration count, then `<variable>/m` of every variable, then `<variable>/v` (fresh tensors). */
  override async getWeights(): Promise<NamedTensor[]> {
    const iterations = await this.saveIterations();
    const layout = this.#layout, m = this.#m, v = this.#v;
    if (!layout || !m || !v) return [iterations];
    const shaped = (flat: tf.Variable, suffix: string) =>
      tf.tidy(() => tf.split(flat, layout.sizes as number[]).map((t, i) => tf.reshape(t, layout.shapes[i])))
        .map((t, i) => ({ name: `${layout.names[i]}/${suffix}`, tensor: t }));
    return [iterations, ...shaped(m, "m"), ...shaped(v, "v")];
  }

  /** Restores what {@link getWeights} (or tfjs Adam's `getWeights`) returned; copies the tensors. */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    // Checked before anything changes, so a refused state leaves the optimizer as it was.
    const slots = weightValues.slice(1);
    const n = slots.length / 2;
    const ms = slots.slice(0, n), vs = slots.slice(n);
    const bad = !Number.isInteger(n) ||
      ms.some((w, i) =>
        !w.name.endsWith("/m") || vs[i].name !== `${w.name.slice(0, -2)}/v` ||
        vs[i].tensor.size !== w.tensor.size
      );
    if (bad) {
      throw new Error(
        `FlatAdam.setWeights: expected the iteration count, <variable>/m for every variable, then ` +
          `<variable>/v of the same size, got [${
            slots.map((w) => `${w.name}: ${w.tensor.size}`).join(", ")
          }]`,
      );
    }
    await this.extractIterations(weightValues);
    const acc = this.#betas();
    tf.tidy(() => {
      acc.accBeta1.assign(tf.pow(this.beta1, this.iterations_ + 1));
      acc.accBeta2.assign(tf.pow(this.beta2, this.iterations_ + 1));
    });
    tf.dispose([this.#m, this.#v].filter((t): t is tf.Variable => t !== null));
    this.#layout = n === 0 ? null : layoutOf(ms, (name) => name.slice(0, -2));
    const flat = (ws: NamedTensor[]) =>
      tf.tidy(() => tf.variable(tf.concat(ws.map((w) => tf.reshape(w.tensor, [-1]))), false));
    this.#m = n === 0 ? null : flat(ms);
    this.#v = n === 0 ? null : flat(vs);
  }

  override dispose(): void {
    const acc = this.#betas();
    tf.dispose([
      acc.accBeta1,
      acc.accBeta2,
      ...[this.#m, this.#v].filter((t): t is tf.Variable => t !== null),
    ]);
  }
}

/**
 * PyTorch's Adam epsilon, which the original code of both reference repositories uses (DynamicFlows and
 * SelfNormalizingFlows build `torch.optim.Adam` with its defaults). tfjs's default is the backend's
 * epsilon, 1e-7 on wasm and WebGPU; side by side with the original SNF code on the same data and weights it
 * was one of the two differences in the training loop (issue 16), so echoflow uses PyTorch's.
 */
export const ADAM_EPSILON = 1e-8;

/** {@link FlatAdam} with PyTorch's defaults (b1 0.9, b2 0.999, eps {@link ADAM_EPSILON}). */
export function adam(
  learningRate: number,
  beta1 = 0.9,
  beta2 = 0.999,
  epsilon = ADAM_EPSILON,
): FlatAdam {
  return new FlatAdam(learningRate, beta1, beta2, epsilon);
}

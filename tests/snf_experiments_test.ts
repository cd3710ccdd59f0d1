/**
 * Smoke runs of the Self-Normalizing Flows experiments on tiny settings: each trains one epoch through
 * the real runner and must report a finite exact test NLL and bits/dim and write its pictures.
 */
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { Experiment } from "../lib/runner/experiment.ts";
import { Logger } from "../lib/runner/logger.ts";
import { getExperiment } from "../experiments/registry.ts";

/** A PNG file: its signature and more than a header. */
const isPng = async (path: string) => {
  const b = await Deno.readFile(path);
  return b.length > 1000 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
};

await selectBackend("wasm");

const silent = () => new Logger({ err: () => {}, out: () => {}, tty: false });
const TINY = {
  epochs: 1,
  batch_size: 10,
  warmup_epochs: 0,
  max_eval_ex: 10,
  n_samples: 10,
  log_interval: 0,
  seed: 1,
};

async function smoke(name: string, overrides: Record<string, string | number | boolean | null>) {
  const spec = getExperiment(name);
  assert.ok(spec, `experiment "${name}" is not registered`);
  const dir = await Deno.makeTempDir();
  try {
    const cfg = resolveConfig(spec.config, { ...TINY, ...overrides });
    const summary = await new Experiment(spec, cfg, { runDir: dir, resume: null, log: silent() }).run();
    assert.ok(Number.isFinite(summary.test_nll), `${name}: test_nll ${summary.test_nll}`);
    const files = [...Deno.readDirSync(`${dir}/samples`)].map((e) => e.name);
    assert.ok(files.some((f) => f.endsWith(".png")), `${name}: no picture in ${files}`);
    assert.ok(await isPng(`${dir}/curves.png`), `${name}: no curves.png`);
    return { summary, files };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("MNIST experiments train an epoch on 20 quick-profile digits and report nats and bits/dim", async (t) => {
  const mnist = { profile: "quick", max_train: 20 };
  for (
    const [name, extra] of [
      ["selfnorm_fc_mnist", { plot_recon: true, sample_true_inv: true }],
      ["exact_fc_mnist", {}],
      ["selfnorm_cnn_mnist", { num_layers: 2, activation: "SLR" }],
      ["exact_cnn_mnist", { num_layers: 2, activation: "LLR" }],
      ["emerging_cnn_mnist", { num_layers: 2, activation: "SLR" }],
      ["exponential_cnn_mnist", { num_layers: 2, activation: "SLR" }],
      ["conv1x1_glow_mnist", {}],
      ["selfnorm_glow_mnist", {}],
    ] as const
  ) {
    await t.step(name, async () => {
      const { summary, files } = await smoke(name, { ...mnist, ...extra });
      const bpd = summary.test_bpd as number;
      // 14 x 14 digits: nats per image = bits/dim * 196 * ln 2.
      assert.ok(
        Math.abs(bpd * 196 * Math.LN2 - (summary.test_nll as number)) < 1e-6 * (summary.test_nll as number),
      );
      if (name === "selfnorm_fc_mnist") {
        assert.ok(
          files.includes("samples_trueinv_epoch1.png") && files.includes("recon_epoch1.png"),
          `${files}`,
        );
      }
    });
  }
});

Deno.test("toydensity trains a small SNF stack and writes its density picture", async () => {
  const { files } = await smoke("toydensity", {
    num_layers: 3,
    n_train: 100,
    n_val: 20,
    n_test: 20,
    grid_size: 10,
  });
  assert.deepEqual(files, ["density_epoch1.png"]);
});

Deno.test("snf_timescaling times every layer, gradient and size and writes table, CSV and plot", async () => {
  const spec = getExperiment("snf_timescaling")!;
  const dir = await Deno.makeTempDir();
  try {
    const cfg = resolveConfig(spec.config, { sizes: "3,4", steps: 2, warmup_steps: 1, batch_size: 5 });
    const out = await spec.run!(cfg, { runDir: dir, resume: null, log: silent() });
    assert.equal(out.rows, 8); // {fc, conv} x {SNF, exact} x 2 sizes
    const csv = Deno.readTextFileSync(`${dir}/timescaling.csv`).trim().split("\n");
    assert.equal(csv.length, 9);
    assert.match(csv[1], /^fc,SNF,3,9,/);
    assert.ok(await isPng(`${dir}/curves.png`));
    assert.match(Deno.readTextFileSync(`${dir}/timescaling.md`), /\| conv \| exact \| 4 \| 16 \|/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { esnFlowSynthetic } from "../experiments/esn_flow_synthetic.ts";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { Logger } from "../lib/runner/logger.ts";

await selectBackend("wasm");

const tiny = {
  esn_dim: 16,
  hidden_layer_dim: 6,
  n_classes: 2,
  n_train: 24,
  n_val: 8,
  n_test: 10,
  max_length: 10,
  epochs: 2,
  eval_epochs: 1,
  batch_size: 8,
  n_samples: 2,
};

Deno.test("esn_flow_synthetic trains one model per class and reports NLL and accuracy next to the truth", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "esn_flow_synthetic_" });
  const lines: string[] = [];
  const log = new Logger({ quiet: true, json: true, out: (s) => lines.push(s), tty: false });
  try {
    const cfg = resolveConfig(esnFlowSynthetic.config, tiny);
    const r = await esnFlowSynthetic.run!(cfg, { runDir, resume: null, log });
    for (
      const k of ["test_nll_per_frame", "true_nll_per_frame", "gap_per_frame", "accuracy", "true_accuracy"]
    ) {
      assert.ok(Number.isFinite(r[k]), `${k} = ${r[k]}`);
    }
    assert.equal(r.n_test, 20);
    assert.ok(
      (r.true_accuracy as number) >= 0.5 && (r.accuracy as number) >= 0 && (r.accuracy as number) <= 1,
    );
    const gap = (r.test_nll_per_frame as number) - (r.true_nll_per_frame as number);
    assert.ok(Math.abs(gap - (r.gap_per_frame as number)) < 1e-9);
    for (const k of [0, 1]) {
      const s = JSON.parse(await Deno.readTextFile(`${runDir}/class_${k}/summary.json`));
      assert.equal(s.epochs, 2);
      assert.ok(Number.isFinite(s.samples_true_nll_per_frame));
    }
    assert.equal(lines.map((l) => JSON.parse(l)).filter((m) => m.kind === "class").length, 2);
    // Resuming a finished run skips training and gives the same result.
    const again = await esnFlowSynthetic.run!(cfg, { runDir, resume: runDir, log });
    assert.equal(again.test_nll_per_frame, r.test_nll_per_frame);
    assert.equal(again.accuracy, r.accuracy);
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("esn_flow_synthetic rejects inconsistent lengths, naming the keys", async () => {
  const cfg = resolveConfig(esnFlowSynthetic.config, { ...tiny, min_length: 12 });
  const log = new Logger({ quiet: true });
  await assert.rejects(
    () => esnFlowSynthetic.run!(cfg, { runDir: "/nonexistent", resume: null, log }),
    /max_length \(10\) must be >= min_length \(12\)/,
  );
});
